"""Fault injection: two writers at once, a crash at each step of a sync, a damaged file of
each kind in the index, bad paths of each kind. Each case asserts what the user sees: one
line, exit code 2, nothing lost."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import rag.index
import rag.library
import rag.pipeline
from embeddings.lexical_index import LexicalIndex
from embeddings.vector_index import VectorIndex
from rag.index import load_index, read_manifest
from rag.pipeline import build_pipeline, index_paths
from tests.conftest import REPO, assert_user_error
from tests.fakes import FakeEncoder, FakeLLM

HARWICK = "Harwick mill reopens\n\nThe Harwick wool mill reopened on Friday with 120 workers.\n"

# A `rag` command whose encoder takes SECONDS per batch: a long sync holding the write lock.
SLOW_CLI = """
import sys, time
import rag.pipeline
from tests.fakes import FakeEncoder

class SlowEncoder(FakeEncoder):
    def encode(self, texts, progress=False):
        time.sleep(float(sys.argv[1]))
        return super().encode(texts, progress)

rag.pipeline.load_encoder = lambda settings: SlowEncoder()
from rag.cli import app
app(sys.argv[2:], prog_name="rag")
"""


def sources(index_dir: Path) -> set[str]:
    return set(read_manifest(index_dir)["files"])


@pytest.fixture
def fake_embedder(monkeypatch, tmp_path) -> str:
    """RAG_EMBEDDER named like the fake model, so every writer agrees on the model's name."""
    folder = tmp_path / FakeEncoder.name
    folder.mkdir()
    monkeypatch.setenv("RAG_EMBEDDER", str(folder))
    return str(folder)


def start_slow_writer(index_dir: Path, *args: str, seconds: float = 2.0) -> subprocess.Popen:
    """`rag index ARGS` in another process, returned once it holds the write lock."""
    proc = subprocess.Popen([sys.executable, "-c", SLOW_CLI, str(seconds), "index", *args],
                            cwd=REPO, env={**os.environ, "RAG_INDEX_DIR": str(index_dir)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    writer = index_dir / rag.index.WRITER
    while not (writer.is_file() and writer.read_text().strip() == str(proc.pid)):
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the slow writer never took the lock:\n{proc.communicate()[0]}")
        time.sleep(0.05)
    return proc


# --- two writers --------------------------------------------------------------------------

def test_cli_sync_waits_for_a_running_cli_sync_and_both_changes_stay(run, fake_embedder, corpus,
                                                                      tmp_path):
    index_dir = tmp_path / "index"
    first = start_slow_writer(index_dir, str(corpus))
    (tmp_path / "harwick.txt").write_text(HARWICK)
    second = run("index", str(tmp_path / "harwick.txt"))
    assert first.wait(60) == 0, first.stdout.read()
    assert second.exit_code == 0, second.output
    assert f"Waiting for another sync of {index_dir} to finish (pid {first.pid}" in second.output
    assert sources(index_dir) == {"bakery.txt", "drones.txt", "sub/loan.md", "harwick.txt"}
    listed = run("docs", "list", "--json")
    assert "harwick.txt" in listed.output and "drones.txt" in listed.output


def test_page_upload_during_a_cli_sync_stays_indexed(fake_embedder, settings, encoder, llm, corpus,
                                                     tmp_path):
    """The issue's reproduction: a CLI sync runs, the page confirms an upload meanwhile; the
    CLI finishing must not drop it, and the CLI and the server agree on what is indexed."""
    from ui.app import ChatPage

    settings = settings.model_copy(update={"embedder": fake_embedder})
    index_paths(settings, encoder)
    page = ChatPage(build_pipeline(settings, encoder=encoder, llm=llm))
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "ferry.txt").write_text("Ferry strike\n\nFerry workers struck for 48 hours.\n")
    cli = start_slow_writer(settings.index_dir, str(tmp_path / "more"))
    (tmp_path / "harwick.txt").write_text(HARWICK)
    said: list[str] = []
    _, status, _, _ = page.add_documents([str(tmp_path / "harwick.txt")],
                                         lambda *a, desc="", **k: said.append(desc))
    assert cli.wait(60) == 0, cli.stdout.read()
    assert "Added harwick.txt" in status
    assert any(f"pid {cli.pid}" in s for s in said)  # the page said what it waited for
    on_disk = sources(settings.index_dir)
    assert {"harwick.txt", "ferry.txt", "drones.txt"} <= on_disk
    answer = page.pipeline.ask("When did the Harwick wool mill reopen?")
    assert answer.hits[0].chunk.source == "harwick.txt"
    assert set(page.pipeline.index.files) == on_disk


def test_a_server_answers_from_a_generation_another_process_wrote(settings, encoder, llm, tmp_path):
    pipeline = build_pipeline(settings, encoder=encoder, llm=llm)
    (tmp_path / "harwick.txt").write_text(HARWICK)
    index_paths(settings, encoder, [tmp_path / "harwick.txt"])  # as `rag index` would, elsewhere
    answer = pipeline.ask("When did the Harwick wool mill reopen?")
    assert answer.hits[0].chunk.source == "harwick.txt"


def test_a_server_keeps_answering_when_a_newer_generation_is_unreadable(settings, encoder, llm,
                                                                        tmp_path):
    pipeline = build_pipeline(settings, encoder=encoder, llm=llm)
    (tmp_path / "harwick.txt").write_text(HARWICK)
    index_paths(settings, encoder, [tmp_path / "harwick.txt"])
    next(settings.index_dir.glob("gen-*/chunks.jsonl")).write_text("{broken")
    answer = pipeline.ask("How many drones did Russia launch?")
    assert answer.hits[0].chunk.source == "drones.txt"


# --- a crash at each step of a sync ---------------------------------------------------------

class Crash(Exception):
    pass


def crash(*args, **kwargs):
    raise Crash("the machine died here")


STEPS = {
    "reading a file": (rag.library, "read_file"),
    "embedding": (FakeEncoder, "encode"),
    "writing the passages": (rag.index.json, "dumps"),
    "writing the vectors": (VectorIndex, "save"),
    "writing the lexical index": (LexicalIndex, "save"),
    "flushing to disk": (rag.index, "_fsync_tree"),
    "moving the generation into place": (rag.index.os, "rename"),
    "swapping the pointer": (rag.index, "_write_atomically"),
}


@pytest.mark.parametrize("step", STEPS)
def test_a_crash_at_any_step_of_a_sync_leaves_the_previous_index(step, settings, encoder, corpus,
                                                                 monkeypatch):
    index_paths(settings, encoder)
    before = load_index(settings.index_dir, encoder.name, encoder.dim)
    (corpus / "harwick.txt").write_text(HARWICK)
    (corpus / "drones.txt").write_text("Drone attack\n\nRussia launched 40 drones.\n")
    with monkeypatch.context() as patch:
        patch.setattr(*STEPS[step], crash)
        with pytest.raises(Crash):
            index_paths(settings, encoder)
    after = load_index(settings.index_dir, encoder.name, encoder.dim)
    assert after.files == before.files and [c.text for c in after.chunks] == [c.text for c in before.chunks]
    assert not list(settings.index_dir.glob(".tmp-*"))
    report, _ = index_paths(settings, encoder)  # the next sync does the work
    assert report.added == 1 and report.changed == 1
    assert "harwick.txt" in sources(settings.index_dir)


def test_a_sync_killed_mid_write_is_cleaned_up_by_the_next(settings, encoder, corpus):
    index_paths(settings, encoder)
    live = (settings.index_dir / "CURRENT").read_text().strip()
    (settings.index_dir / ".tmp-gen-000002-99999").mkdir()  # kill -9 while writing
    (settings.index_dir / "gen-000002").mkdir()  # kill -9 between the rename and the swap
    assert load_index(settings.index_dir, encoder.name, encoder.dim).generation == live
    (corpus / "harwick.txt").write_text(HARWICK)
    index_paths(settings, encoder)
    left = sorted(p.name for p in settings.index_dir.iterdir() if p.name.startswith(("gen-", ".tmp-")))
    assert left == ["gen-000003"] and "harwick.txt" in sources(settings.index_dir)


# --- a damaged file of each kind in the index ------------------------------------------------

def damage_current(index_dir: Path) -> None:
    (index_dir / "CURRENT").write_text("gen-nonsense\n")


def truncate(name: str):
    def damage(index_dir: Path) -> None:
        target = next(index_dir.glob(f"gen-*/{name}"))
        if target.is_dir():
            for part in target.iterdir():
                part.write_bytes(part.read_bytes()[: len(part.read_bytes()) // 2])
        else:
            target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    return damage


DAMAGE = {"CURRENT": damage_current, "manifest.json": truncate("manifest.json"),
          "chunks.jsonl": truncate("chunks.jsonl"), "vectors.faiss": truncate("vectors.faiss"),
          "lexical": truncate("lexical")}


@pytest.mark.parametrize("kind", DAMAGE)
@pytest.mark.parametrize("collection", ["default", "news"])
def test_a_damaged_index_file_says_rebuild_and_a_sync_rebuilds_the_same_library(
        kind, collection, run, fake_embedder, corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(rag.pipeline, "load_chat_model", lambda settings: FakeLLM())
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    chosen = ["--collection", collection]
    assert run("index", str(corpus), *chosen).exit_code == 0
    index_dir = tmp_path / "index" if collection == "default" else \
        tmp_path / "data" / "collections" / collection / "index"
    DAMAGE[kind](index_dir)
    assert_user_error(run("ask", "How many drones?", *chosen, "--model", "smollm2-135m"), "rag index")
    rebuilt = run("index", *chosen)  # a plain sync: the folders indexed are not lost with the file
    assert rebuilt.exit_code == 0 and "Indexed 3 files" in rebuilt.output, rebuilt.output
    assert sources(index_dir) == {"bakery.txt", "drones.txt", "sub/loan.md"}
    again = run("ask", "How many drones?", *chosen, "--model", "smollm2-135m")
    assert again.exit_code == 0, again.output


# --- bad paths of each kind ------------------------------------------------------------------

def test_a_symlink_loop(run, tmp_path):
    (tmp_path / "loop").mkdir()
    os.symlink("b.txt", tmp_path / "loop" / "a.txt")
    os.symlink("a.txt", tmp_path / "loop" / "b.txt")
    assert_user_error(run("index", "-c", "loop", str(tmp_path / "loop" / "a.txt")), "a.txt", "loop of links")


def test_a_dangling_symlink(run, tmp_path):
    os.symlink(tmp_path / "gone.txt", tmp_path / "link.txt")
    assert_user_error(run("index", str(tmp_path / "link.txt")), "link.txt", "link to nothing")


def test_an_index_dir_that_is_a_file_fails_before_any_indexing(run, tmp_path, monkeypatch):
    (tmp_path / "idxfile").write_text("hi")
    monkeypatch.setattr(rag.pipeline, "load_encoder", crash)  # nothing may be embedded first
    assert_user_error(run("ask", "--index-dir", str(tmp_path / "idxfile"), "How many drones?",
                          "--model", "smollm2-135m"), "idxfile is a file, not a folder")


def test_a_data_dir_that_is_a_file(run, corpus, tmp_path, monkeypatch):
    (tmp_path / "datafile").write_text("hi")
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "datafile"))
    assert_user_error(run("index", "-c", "news", str(corpus)), "datafile is a file, not a folder")


def test_a_fifo_among_the_documents_is_passed_over(run, corpus):
    os.mkfifo(corpus / "pipe.txt")  # reading it would block forever
    result = run("index", str(corpus))
    assert result.exit_code == 0 and "Indexed 3 files" in result.output


def test_a_fifo_given_by_name(run, tmp_path):
    os.mkfifo(tmp_path / "pipe.txt")
    assert_user_error(run("index", str(tmp_path / "pipe.txt")), "pipe.txt", "not a regular file or folder")


def test_a_model_path_that_is_a_folder(run, tmp_path):
    assert_user_error(run("ask", "How many drones?", "--model", str(tmp_path)), "is a folder")


@pytest.mark.parametrize("content", ["", "not json\n", "[1, 2]\n", b"\xff\xfe\x00"])
def test_a_bad_question_file(run, tmp_path, content):
    questions = tmp_path / "q.jsonl"
    (questions.write_bytes if isinstance(content, bytes) else questions.write_text)(content)
    result = run("eval", str(questions), "--model", "smollm2-135m")
    assert_user_error(result, "q.jsonl")


def test_a_question_file_that_is_a_folder_or_missing(run, tmp_path):
    assert_user_error(run("eval", str(tmp_path), "--model", "smollm2-135m"), str(tmp_path))
    assert_user_error(run("eval", str(tmp_path / "none.jsonl"), "--model", "smollm2-135m"), "none.jsonl")


def test_collection_names_that_are_paths(run, corpus):
    for name in ("../escape", "a/b", "", "x" * 65):
        assert_user_error(run("index", "-c", name, str(corpus)), "collection")


def test_bad_collection_name_from_the_environment(run, monkeypatch):
    monkeypatch.setenv("RAG_COLLECTION", "../../etc")
    assert_user_error(run("docs", "list"), "collection")


def test_each_skipped_file_is_reported_once_without_library_noise(run, corpus):
    (corpus / "bad.txt").write_bytes(b"\xff\xfe\xfa broken")
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<<>>\n%%EOF")
    result = run("index", str(corpus))
    assert result.exit_code == 0, result.output
    assert result.output.count("bad.txt") == 1 and result.output.count("broken.pdf") == 1
    assert "pypdf" not in result.output and "WARNING" not in result.output


# --- the server under load and abuse ---------------------------------------------------------

@pytest.fixture
def api_url(settings, encoder):
    """The API served by uvicorn on a free loopback port, as `rag serve` serves it."""
    import threading

    import uvicorn

    from tests.conftest import free_port
    from tests.test_api import mounted

    class Answering(FakeLLM):
        def stream_chat(self, messages, max_tokens, temperature):
            yield from ["Russia", " launched", " 35", " Shahed", " drones", " [1]."]

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(mounted(build_pipeline(settings, encoder=encoder, llm=Answering()),
                                                   settings), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    thread.join(10)


def test_a_hundred_concurrent_questions_are_all_answered(api_url):
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    def ask(i: int) -> httpx.Response:
        # Each question differs, by letters: a number the documents never give would be refused.
        tag = "abcdefghij"[i // 10] + "abcdefghij"[i % 10]
        return httpx.post(f"{api_url}/ask", json={"question": f"How many drones did Russia launch? ({tag})"},
                          timeout=120)

    with ThreadPoolExecutor(100) as pool:
        responses = list(pool.map(ask, range(100)))
    assert [r.status_code for r in responses] == [200] * 100
    assert all("35 Shahed drones" in r.json()["answer"] for r in responses)


@pytest.mark.parametrize("route", ["/ask", "/chat/completions"])
def test_a_5_mb_request_is_refused_with_a_message(api_url, route):
    import httpx

    body = b'{"question": "' + b"x" * 5_000_000 + b'"}'
    declared = httpx.post(f"{api_url}{route}", content=body, timeout=60,
                          headers={"Content-Type": "application/json"})

    def chunks():
        for start in range(0, len(body), 65536):
            yield body[start:start + 65536]
    chunked = httpx.post(f"{api_url}{route}", content=chunks(), timeout=60,
                         headers={"Content-Type": "application/json"})
    for response in (declared, chunked):
        assert response.status_code == 413
        assert "larger than 2 MB" in response.json()["error"]["message"]
    assert httpx.post(f"{api_url}/ask", json={"question": "How many drones?"}, timeout=60).status_code == 200


def test_the_page_lists_documents_another_process_indexed(settings, encoder, llm, tmp_path):
    from ui.app import ChatPage

    page = ChatPage(build_pipeline(settings, encoder=encoder, llm=llm))
    (tmp_path / "harwick.txt").write_text(HARWICK)
    index_paths(settings, encoder, [tmp_path / "harwick.txt"])  # as `rag index` would, elsewhere
    assert "harwick.txt" in page.documents()


def test_a_reader_whose_generation_is_replaced_mid_read_loads_the_new_one(settings, encoder, tmp_path,
                                                                         monkeypatch):
    index_paths(settings, encoder)
    real = rag.index._load_generation
    (tmp_path / "harwick.txt").write_text(HARWICK)

    def sync_first(*args):
        monkeypatch.setattr(rag.index, "_load_generation", real)
        index_paths(settings, encoder, [tmp_path / "harwick.txt"])  # swaps in, and removes the old
        return real(*args)

    monkeypatch.setattr(rag.index, "_load_generation", sync_first)
    index = load_index(settings.index_dir, encoder.name, encoder.dim)
    assert "harwick.txt" in index.files and len(index.chunks) == len(index.vectors)
