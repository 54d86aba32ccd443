"""The Milvus backend on the real engine: Milvus Lite in this process (a .db path), and Milvus
Lite's gRPC server in another process (http://127.0.0.1:PORT), which is how replicas share a
store. tests/test_library.py runs the whole library suite (sync, removal, collections, the
page) on both backends; these tests cover what only Milvus has."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from embeddings.milvus_store import MilvusStore, collection_base, library_name
from rag.errors import IndexCorruptError, IndexMismatchError, StoreRefusedError, StoreUnavailableError
from rag.index import live_generation_name, load_index, read_library, read_manifest
from rag.index_milvus import PREFIX, open_store
from rag.library import remove_documents
from rag.pipeline import build_pipeline, index_paths
from rag.settings import Settings
from tests.conftest import REPO, free_port
from tests.fakes import FakeEncoder, FakeLLM

DRONES = "How many Shahed drones did Russia launch?"


@pytest.fixture
def settings(tmp_path, corpus) -> Settings:
    return Settings(index_dir=tmp_path / "index", corpus=[corpus], model="", embedder="fake",
                    store="milvus", milvus_uri=str(tmp_path / "milvus.db"))


@pytest.fixture
def news(tmp_path) -> Path:
    folder = tmp_path / "news"
    folder.mkdir()
    (folder / "ferry.txt").write_text("Ferry strike in Calais\n\nFerry workers in Calais went on "
                                      "strike for 48 hours on Tuesday.\n")
    return folder


def live_rows(settings) -> list[dict]:
    """Every passage row in the store, live or not."""
    meta = open_store(settings.index_location)
    store = meta.on(json.loads(meta.get_values(["CURRENT"])["CURRENT"])["passages"])
    return store._client.query(store.passages, filter="id >= 0", output_fields=["id", "source", "gen"])


def test_search_finds_the_same_passages_as_faiss(settings, encoder, tmp_path):
    index_paths(settings, encoder)
    faiss = settings.model_copy(update={"store": "faiss"})
    index_paths(faiss, encoder)
    on_milvus = build_pipeline(settings, encoder=encoder, llm=FakeLLM()).retriever
    on_faiss = build_pipeline(faiss, encoder=encoder, llm=FakeLLM()).retriever
    for question in (DRONES, "Who opened a bakery in Lyon?", "state loan to Minsk", "heat"):
        a, b = on_milvus.search(question, 3), on_faiss.search(question, 3)
        assert [h.chunk.chunk_id for h in a] == [h.chunk.chunk_id for h in b], question
        # Milvus' BM25 statistics differ from bm25s' in the last digits.
        assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=0.01), question


def test_a_sync_writes_only_what_changed_and_deletes_what_it_replaced(settings, encoder, corpus):
    index_paths(settings, encoder)
    before = {r["id"]: r["source"] for r in live_rows(settings)}
    (corpus / "bakery.txt").write_text("A bakery opens in Nice\n\nShe sells bread and cakes.\n")
    (corpus / "sub" / "loan.md").unlink()
    report, _ = index_paths(settings, encoder)
    assert (report.changed, report.removed, report.embedded) == (1, 1, 1)
    after = {r["id"]: r["source"] for r in live_rows(settings)}
    kept = {i for i, s in before.items() if s == "drones.txt"}
    assert kept <= after.keys()  # the unchanged file's rows were not written again
    assert sorted(after.values()) == sorted(c.source for c in
                                            load_index(settings.index_location, None, None).chunks)
    assert "sub/loan.md" not in after.values() and live_generation_name(settings.index_location) == "v2"


def test_a_server_moving_to_a_new_version_reads_only_the_changed_passages(settings, encoder, corpus,
                                                                          monkeypatch):
    index_paths(settings, encoder)
    pipeline = build_pipeline(settings, encoder=encoder, llm=FakeLLM())
    read, real = [], MilvusStore.rows
    monkeypatch.setattr(MilvusStore, "rows",
                        lambda self, gen, fields, ranges: read.extend(ranges) or real(self, gen, fields, ranges))
    (corpus / "bakery.txt").write_text("A bakery opens in Nice\n\nShe sells bread and cakes.\n")
    index_paths(settings, encoder)
    read.clear()
    pipeline.follow_index()
    [(start, end)] = read  # the one new batch: the changed file's passage
    assert end - start == 1
    fresh = load_index(settings.index_location, encoder.name, encoder.dim)  # read whole
    assert pipeline.index.chunks == fresh.chunks
    assert pipeline.index.vectors.ids.tolist() == fresh.vectors.ids.tolist()


def test_a_sync_that_dies_before_its_switch_changes_nothing_readers_see(settings, encoder, corpus,
                                                                        monkeypatch):
    index_paths(settings, encoder)
    pipeline = build_pipeline(settings, encoder=encoder, llm=FakeLLM())
    (corpus / "drones.txt").write_text("Drones\n\nNobody launched any drones at all that night.\n")
    store = open_store(settings.index_location)
    real = store.put_values

    def crash_at_switch(values):
        if "CURRENT" in values:
            raise KeyboardInterrupt  # Ctrl-C after the new rows and manifest are written
        real(values)

    monkeypatch.setattr(store, "put_values", crash_at_switch)
    with pytest.raises(KeyboardInterrupt):
        index_paths(settings, encoder)
    assert any(r["gen"] == 2 for r in live_rows(settings))  # the new rows are there, unswitched
    hits = pipeline.retriever.search(DRONES, 5)
    assert "35 Shahed drones" in hits[0].chunk.text
    assert not any("Nobody launched" in h.chunk.text for h in hits)
    assert "Nobody launched" not in " ".join(c.text for c in load_index(settings.index_location,
                                                                           None, None).chunks)
    monkeypatch.setattr(store, "put_values", real)
    dead = {r["id"] for r in live_rows(settings) if r["gen"] == 2}
    index_paths(settings, encoder)  # the next sync goes on; the dead one's rows stay unvouched
    pipeline.follow_index()
    assert "Nobody launched" in pipeline.retriever.search(DRONES, 1)[0].chunk.text
    assert not dead & set(pipeline.index.vectors.ids.tolist())
    (corpus / "bakery.txt").write_text("A bakery opens in Nice\n\nShe sells bread and cakes.\n")
    index_paths(settings, encoder)  # once older than the live version, they are swept
    pipeline.follow_index()
    assert len(live_rows(settings)) == len(pipeline.index.chunks) and not dead & {r["id"] for r in live_rows(settings)}


def test_a_sync_overtaken_by_another_machine_is_built_again_on_top_of_it(settings, encoder, corpus,
                                                                       tmp_path, monkeypatch):
    index_paths(settings, encoder)
    news = tmp_path / "news"
    news.mkdir()
    (news / "ferry.txt").write_text("Ferry strike\n\nFerry workers in Calais struck for 48 hours.\n")
    elsewhere = settings.model_copy(update={"index_dir": tmp_path / "other-machine"})  # its own lock
    store = open_store(settings.index_location)
    real = store.put_values
    overtaken = []

    def another_machine_switches_first(values):
        real(values)
        if not overtaken and any(k.startswith("manifest-") for k in values):
            overtaken.append(True)
            index_paths(elsewhere, encoder, [news])  # finishes between our manifest and our switch

    monkeypatch.setattr(store, "put_values", another_machine_switches_first)
    (corpus / "bakery.txt").write_text("A bakery opens in Nice\n\nShe sells bread and cakes.\n")
    index_paths(settings, encoder)
    assert overtaken and live_generation_name(settings.index_location) == "v3"
    files = read_manifest(settings.index_location)["files"]
    assert "ferry.txt" in files  # the other machine's change was kept ...
    assert files["bakery.txt"]["title"] == "A bakery opens in Nice"  # ... and ours made on top
    assert len(live_rows(settings)) == len(load_index(settings.index_location, None, None).chunks)


def test_an_index_of_another_embedding_model_is_refused_with_what_to_run(settings, encoder):
    index_paths(settings, encoder)

    class Other(FakeEncoder):
        name = "another-model"

    with pytest.raises(IndexMismatchError, match="fake-encoder.*run `rag index`"):
        build_pipeline(settings, encoder=Other(), llm=FakeLLM())
    report, _ = index_paths(settings, Other())  # re-indexing with the new model replaces it
    assert report.embedded == report.chunks
    assert build_pipeline(settings, encoder=Other(), llm=FakeLLM()).index.embedder == "another-model"


def test_a_damaged_manifest_is_refused_then_rebuilt_from_the_same_folders(settings, encoder):
    index_paths(settings, encoder)
    store = open_store(settings.index_location)
    [key] = store.keys("manifest-")
    store.put_values({key: "{not json"})
    with pytest.raises(IndexCorruptError, match="run `rag index` to rebuild it"):
        build_pipeline(settings, encoder=encoder, llm=FakeLLM())
    report, _ = index_paths(settings, encoder)  # the roots survive in their own row
    assert report.files == 3
    assert build_pipeline(settings, encoder=encoder, llm=FakeLLM()).retriever.search(DRONES, 1)


def test_a_store_of_another_layout_is_refused_then_rebuilt(settings, encoder):
    index_paths(settings, encoder)
    store = open_store(settings.index_location)
    current = json.loads(store.get_values(["CURRENT"])["CURRENT"])
    store.put_values({"CURRENT": json.dumps({**current, "format": 0})})  # as an older app wrote it
    with pytest.raises(IndexMismatchError, match="store format 0.*rag index --collection default"):
        build_pipeline(settings, encoder=encoder, llm=FakeLLM())
    report, _ = index_paths(settings, encoder)
    assert report.embedded == report.chunks == 4  # rebuilt whole, in the current layout
    assert build_pipeline(settings, encoder=encoder, llm=FakeLLM()).index.generation == "v2"
    assert len(live_rows(settings)) == 4


def test_a_rebuild_for_another_vector_size_leaves_the_library_answering_until_it_is_done(
        settings, encoder, news, monkeypatch):
    index_paths(settings, encoder)
    index_paths(settings, encoder, [news])
    old_passages = json.loads(open_store(settings.index_location).get_values(["CURRENT"])["CURRENT"])["passages"]

    class Wider(FakeEncoder):
        name, dim = "wider-model", 128

    real = MilvusStore.insert

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C while the rebuilt library is being written

    monkeypatch.setattr(MilvusStore, "insert", interrupted)
    with pytest.raises(KeyboardInterrupt):
        index_paths(settings, Wider())
    pipeline = build_pipeline(settings, encoder=encoder, llm=FakeLLM())  # the old library answers
    assert pipeline.retriever.search("Calais ferry strike", 1)[0].chunk.source == "ferry.txt"
    assert len(read_library(settings.index_location)[0]) == 2  # and its folders are known
    monkeypatch.setattr(MilvusStore, "insert", real)
    report, _ = index_paths(settings, Wider())
    assert report.files == 4 and report.embedded == report.chunks
    rebuilt = build_pipeline(settings, encoder=Wider(), llm=FakeLLM())
    assert rebuilt.index.dim == 128 and rebuilt.retriever.search("Calais ferry strike", 1)
    assert not open_store(settings.index_location).on(old_passages).has_passages()  # dropped after


def test_collection_names_map_to_distinct_milvus_names():
    names = ["a-b", "a_b", "a__b", "a_db", "A-1", "x" * 64]
    bases = [collection_base(PREFIX, n) for n in names]
    assert len(set(bases)) == len(names)
    assert [library_name(PREFIX, b) for b in bases] == names


def test_an_unreachable_milvus_is_named_and_says_what_to_check(settings, encoder, tmp_path):
    uri = f"http://127.0.0.1:{free_port()}"
    gone = settings.model_copy(update={"milvus_uri": uri})
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match=f"{uri}.*RAG_MILVUS_URI"):
        build_pipeline(gone, encoder=encoder, llm=FakeLLM())
    assert time.monotonic() - started < 15


def test_a_bad_milvus_uri_is_refused_with_the_forms_it_takes():
    with pytest.raises(ValueError, match=r"ending in \.db.*http://host:19530"):
        Settings(store="milvus", milvus_uri="/data/milvus")


# --- two processes on one Milvus server ---------------------------------------------------

def wait_for_server(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    """Until the server answers a call (it accepts connections a moment before it serves)."""
    from pymilvus import MilvusClient

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "milvus-lite server exited"
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                try:
                    MilvusClient(uri=f"http://127.0.0.1:{port}", timeout=2).list_collections()
                    return
                except Exception:
                    pass
        time.sleep(0.3)
    pytest.fail("milvus-lite server did not start")


def milvus_server(data: Path, port: int, log: Path) -> subprocess.Popen:
    """Milvus Lite's gRPC server, as `milvus-lite server` starts it, on loopback."""
    proc = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(data),
                             "--host", "127.0.0.1", "--port", str(port)],
                            stdout=open(log, "a"), stderr=subprocess.STDOUT)
    wait_for_server(port, proc)
    return proc


SYNC = textwrap.dedent("""
    import sys
    from pathlib import Path
    from rag.pipeline import index_paths
    from rag.settings import Settings
    from tests.fakes import FakeEncoder
    settings = Settings(index_dir=Path(sys.argv[1]), model="", embedder="fake", store="milvus",
                        milvus_uri=sys.argv[2])
    report, _ = index_paths(settings, FakeEncoder(), [Path(p) for p in sys.argv[3:]])
    print(report.added, report.chunks)
""")


def test_two_processes_share_one_store_and_survive_its_restart(tmp_path, corpus, encoder):
    port, data, log = free_port(), tmp_path / "server.db", tmp_path / "milvus.log"
    uri = f"http://127.0.0.1:{port}"
    server = milvus_server(data, port, log)
    try:
        # Another process (a replica, or `rag index` on another machine) writes the library ...
        done = subprocess.run([sys.executable, "-c", SYNC, str(tmp_path / "a"), uri, str(corpus)],
                              cwd=REPO, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and done.stdout.split() == ["3", "4"], done.stderr
        # ... and this one answers from it, with its own lock folder and nothing on disk.
        settings = Settings(index_dir=tmp_path / "b", model="", embedder="fake", store="milvus",
                            milvus_uri=uri)
        pipeline = build_pipeline(settings, encoder=encoder, llm=FakeLLM())
        assert "35 Shahed drones" in pipeline.retriever.search(DRONES, 1)[0].chunk.text
        news = tmp_path / "news"
        news.mkdir()
        (news / "ferry.txt").write_text("Ferry strike in Calais\n\nFerry workers in Calais went on "
                                        "strike for 48 hours on Tuesday.\n")
        done = subprocess.run([sys.executable, "-c", SYNC, str(tmp_path / "a"), uri, str(news)],
                              cwd=REPO, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        pipeline.follow_index()  # what each answer does first
        assert pipeline.retriever.search("Calais ferry strike", 1)[0].chunk.source == "ferry.txt"
        server.terminate()
        server.wait(timeout=30)
        with pytest.raises(StoreUnavailableError, match=f"{uri}.*answered again once it is back"):
            pipeline.ask(DRONES)
        server = milvus_server(data, port, log)  # back, on the same data
        pipeline.llm.queue.append("Russia launched 35 Shahed drones [1].")
        answer = pipeline.ask(DRONES)
        assert answer.citations and answer.citations[0].source == "drones.txt"
        assert read_manifest(settings.index_location)["files"].keys() == \
            {"bakery.txt", "drones.txt", "sub/loan.md", "ferry.txt"}
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_milvus_lite_file_open_in_another_process_says_how_to_share_it(tmp_path, corpus):
    path = tmp_path / "held.db"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom pymilvus import MilvusClient\n"
                               f"MilvusClient({str(path)!r}); print('open', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        settings = Settings(index_dir=tmp_path / "index", corpus=[corpus], model="", embedder="fake",
                            store="milvus", milvus_uri=str(path))
        with pytest.raises(StoreUnavailableError, match="milvus-lite server --data-dir"):
            index_paths(settings, FakeEncoder())
    finally:
        holder.kill()
        holder.wait()


def test_manifest_rows_are_json_for_any_library_size(settings, encoder, tmp_path):
    many = tmp_path / "many"
    many.mkdir()
    for i in range(400):  # a manifest of ~200 KB: several rows of at most 60,000 characters
        (many / f"note-{i:03d}-{'x' * 150}.txt").write_text(f"Note {i}\n\nThe code of note {i} is {i * 7}.\n")
    index_paths(settings, encoder, [many], replace=True)
    store = open_store(settings.index_location)
    current = json.loads(store.get_values(["CURRENT"])["CURRENT"])
    assert current["parts"] > 1
    assert len(read_manifest(settings.index_location)["files"]) == 400
    assert "is 2093" in build_pipeline(settings, encoder=encoder, llm=FakeLLM()).retriever.search(
        "code of note 299", 1)[0].chunk.text
    remove_documents(settings, [str(p) for p in sorted(many.iterdir())[:300]])  # ~60 KB of exclusions
    roots, excluded = read_library(settings.index_location)
    assert roots == [str(many.resolve())] and len(excluded) == 300
    assert len(read_manifest(settings.index_location)["files"]) == 100


def test_a_passage_longer_than_milvus_stores_names_its_file_and_changes_nothing(settings, encoder,
                                                                              corpus):
    index_paths(settings, encoder)
    before = read_manifest(settings.index_location)
    (corpus / "wall.txt").write_text("Wall\n\n" + "墙" * 23_000 + "\n")  # one 'word': 69 KB in UTF-8
    with pytest.raises(StoreRefusedError, match="wall.txt has a passage of 69,"):
        index_paths(settings, encoder)
    assert read_manifest(settings.index_location) == before


def test_healthz_says_ready_or_not_and_why_without_the_key(tmp_path, corpus, encoder, llm):
    from pydantic import SecretStr

    from tests.test_auth import start

    port, data, log = free_port(), tmp_path / "server.db", tmp_path / "milvus.log"
    uri = f"http://127.0.0.1:{port}"
    server = milvus_server(data, port, log)
    settings = Settings(index_dir=tmp_path / "index", corpus=[corpus], model="", embedder="fake",
                        store="milvus", milvus_uri=uri, api_key=SecretStr("k" * 24))
    try:
        with start(settings, encoder, llm) as page:
            ready = page.http.get("/healthz")
            assert ready.status_code == 200 and ready.json()["ready"] is True
            assert "3 documents" in ready.json()["why"] and ready.json()["generation"] == "v1"
            assert page.http.get("/v1/models").status_code == 401  # the key still guards the rest
            server.terminate()
            server.wait(timeout=30)
            down = page.http.get("/healthz")
            assert down.status_code == 503 and down.json() == {
                "ready": False, "why": "the index store cannot be reached", "generation": "v1"}
            assert str(port) not in down.text and str(tmp_path) not in down.text  # no URI, no path
            server = milvus_server(data, port, log)
            assert page.http.get("/healthz").status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
