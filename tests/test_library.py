"""The library: incremental sync, removing documents, collections (index, CLI and page)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import rag.library
import rag.pipeline
from rag.cli import app
from rag.errors import IndexMissingError, InputError
from rag.index import live_generation_name, load_index, read_manifest
from rag.library import remove_documents
from rag.pipeline import build_pipeline, index_paths
from rag.settings import Settings
from tests.fakes import FakeEncoder, FakeLLM

NEWS = "Ferry strike in Calais\n\nFerry workers in Calais went on strike for 48 hours on Tuesday.\n"


@pytest.fixture(params=["faiss", "milvus"])
def settings(request, tmp_path, corpus):
    """The library behaves the same on either index backend: FAISS files, or Milvus (Lite)."""
    return Settings(index_dir=tmp_path / "index", corpus=[corpus], model="", embedder="fake",
                    store=request.param, milvus_uri=str(tmp_path / "milvus.db"))


def generations(settings) -> str:
    """The live generation's name: a sync that writes nothing leaves it as it was."""
    return live_generation_name(settings.index_location)


def sources(settings) -> set[str]:
    return set(read_manifest(settings.index_location)["files"])


@pytest.fixture
def parsed(monkeypatch) -> list[str]:
    """The sources a sync parses (reads and chunks) again."""
    calls: list[str] = []
    real = rag.library.parse_document

    def counting(source, data):
        calls.append(source)
        return real(source, data)

    monkeypatch.setattr(rag.library, "parse_document", counting)
    return calls


# --- incremental sync -----------------------------------------------------------------------

@pytest.fixture
def news(tmp_path) -> Path:
    """A second folder, with one article, to add to the library."""
    folder = tmp_path / "news"
    folder.mkdir()
    (folder / "ferry.txt").write_text(NEWS)
    return folder


def test_unchanged_resync_embeds_nothing_parses_nothing_and_writes_nothing(settings, encoder, parsed):
    index_paths(settings, encoder)
    before = generations(settings)
    encoder.encoded.clear()
    parsed.clear()
    report, _ = index_paths(settings, encoder)
    assert (report.files, report.embedded, report.written) == (3, 0, False)
    assert encoder.encoded == [] and parsed == []
    assert generations(settings) == before


def test_touched_but_unchanged_file_is_hashed_once_and_never_chunked(settings, encoder, corpus, parsed,
                                                                    monkeypatch):
    index_paths(settings, encoder)
    os.utime(corpus / "bakery.txt", ns=(1, 1))  # a new mtime, the same bytes
    parsed.clear()
    encoder.encoded.clear()
    report, _ = index_paths(settings, encoder)
    assert parsed == [] and encoder.encoded == []
    assert report.written and report.changed == 0  # only its new mtime is recorded
    reads: list[str] = []
    real = rag.library.read_file
    monkeypatch.setattr(rag.library, "read_file", lambda path: reads.append(path.name) or real(path))
    before = generations(settings)
    report, _ = index_paths(settings, encoder)
    assert reads == [] and not report.written and generations(settings) == before


def test_changed_file_is_the_only_one_parsed_and_embedded(settings, encoder, corpus, parsed):
    index_paths(settings, encoder)
    (corpus / "bakery.txt").write_text("A bakery opens in Nice\n\nShe sells bread and cakes.\n")
    encoder.encoded.clear()
    parsed.clear()
    report, _ = index_paths(settings, encoder)
    assert parsed == ["bakery.txt"]
    assert report.embedded == 1 and (report.added, report.changed, report.removed) == (0, 1, 0)
    assert encoder.encoded == ["A bakery opens in Nice\nA bakery opens in Nice She sells bread and cakes."]


def test_new_and_deleted_files_are_picked_up_by_a_plain_resync(settings, encoder, corpus):
    index_paths(settings, encoder)
    (corpus / "bakery.txt").unlink()
    (corpus / "ferry.txt").write_text(NEWS)
    report, _ = index_paths(settings, encoder)
    assert (report.added, report.removed) == (1, 1)
    assert sources(settings) == {"drones.txt", "sub/loan.md", "ferry.txt"}
    index = load_index(settings.index_location, encoder.name, encoder.dim)
    assert {c.source for c in index.chunks} == {"drones.txt", "sub/loan.md", "ferry.txt"}


def test_identical_content_under_two_names_is_embedded_once(settings, encoder, corpus):
    shutil.copyfile(corpus / "drones.txt", corpus / "drones_copy.txt")
    report, _ = index_paths(settings, encoder)
    index = load_index(settings.index_location, encoder.name, encoder.dim)
    copies = [c for c in index.chunks if c.source in ("drones.txt", "drones_copy.txt")]
    assert len(copies) == 2 * index.files["drones.txt"].chunks  # both files are searchable
    assert report.embedded == len(encoder.encoded) == len(set(encoder.encoded)) == report.chunks - len(copies) // 2


def test_indexing_a_new_folder_adds_it_to_the_library(settings, encoder, news):
    index_paths(settings, encoder)
    encoder.encoded.clear()
    report, _ = index_paths(settings, encoder, [news])
    assert sources(settings) == {"bakery.txt", "drones.txt", "sub/loan.md", "ferry.txt"}
    assert report.embedded == 1  # the old folder's passages were reused
    index_paths(settings, encoder, [news], replace=True)
    assert sources(settings) == {"ferry.txt"}


def test_a_folder_deleted_on_disk_drops_out_with_a_note(settings, encoder, news):
    index_paths(settings, encoder)
    index_paths(settings, encoder, [news])
    shutil.rmtree(news)
    report, skipped = index_paths(settings, encoder)
    assert "ferry.txt" not in sources(settings) and report.removed == 1
    assert any(s.path == str(news) and "no longer exists" in s.reason for s in skipped)


def test_a_damaged_index_is_rebuilt_from_the_same_folders(settings, encoder, news):
    if settings.store == "milvus":
        pytest.skip("damages a FAISS file; tests/test_milvus.py damages the Milvus manifest")
    index_paths(settings, encoder)
    index_paths(settings, encoder, [news])
    next(settings.index_dir.glob("gen-*/vectors.faiss")).write_bytes(b"garbage")
    report, _ = index_paths(settings, encoder)
    assert sources(settings) == {"bakery.txt", "drones.txt", "sub/loan.md", "ferry.txt"}
    assert report.embedded == report.chunks
    assert len(load_index(settings.index_location, encoder.name, encoder.dim).chunks) == report.chunks


def test_an_upload_reads_only_itself_and_keeps_what_this_disk_lacks(settings, encoder, news, tmp_path):
    index_paths(settings, encoder)
    index_paths(settings, encoder, [news])
    remove_documents(settings, [str(news / "ferry.txt")])  # excluded, then gone from this disk
    shutil.rmtree(news)  # what another replica's disk holds, not this one
    upload = tmp_path / "uploads"  # the same path on every replica
    upload.mkdir()
    (upload / "a.txt").write_text("Rain in Oslo\n\nIt rained in Oslo for nine days in a row.\n")
    index_paths(settings, encoder, [upload, upload / "a.txt"], only_given=True)  # replica A
    (upload / "a.txt").unlink()  # replica B's disk has its own uploads folder
    (upload / "b.txt").write_text("Snow in Bergen\n\nIt snowed in Bergen on Friday.\n")
    report, _ = index_paths(settings, encoder, [upload, upload / "b.txt"], only_given=True)
    assert report.added == 1 and report.removed == 0
    assert sources(settings) == {"bakery.txt", "drones.txt", "sub/loan.md", "a.txt", "b.txt"}
    assert read_manifest(settings.index_location)["excluded"] == [str((news / "ferry.txt").resolve())]
    report, _ = index_paths(settings, encoder)  # a full sync on this disk drops what it lacks
    assert report.removed == 1 and "a.txt" not in sources(settings)


def test_named_collection_with_nothing_to_index_says_how(settings, encoder):
    with pytest.raises(InputError, match="rag index --collection news"):
        index_paths(settings.for_collection("news"), encoder)


# --- removing documents ---------------------------------------------------------------------

def test_removed_file_stays_out_of_resyncs_until_named_again(settings, encoder, corpus):
    index_paths(settings, encoder)
    [gone] = remove_documents(settings, ["sub/loan.md"])
    assert gone.source == "sub/loan.md" and "sub/loan.md" not in sources(settings)
    index_paths(settings, encoder)
    assert "sub/loan.md" not in sources(settings)
    report, _ = index_paths(settings, encoder, [corpus / "sub" / "loan.md"])
    assert "sub/loan.md" in sources(settings) and report.added == 1
    assert read_manifest(settings.index_location)["roots"] == [str(corpus.resolve())]  # no extra root


def test_removing_by_file_path_and_removing_a_folder(settings, encoder, corpus, news):
    index_paths(settings, encoder)
    index_paths(settings, encoder, [news])
    remove_documents(settings, [str(corpus / "bakery.txt")])
    remove_documents(settings, [str(news)])  # an indexed folder: it leaves the library
    manifest = read_manifest(settings.index_location)
    assert set(manifest["files"]) == {"drones.txt", "sub/loan.md"}
    assert manifest["roots"] == [str(corpus.resolve())]
    assert manifest["excluded"] == [str((corpus / "bakery.txt").resolve())]
    index_paths(settings, encoder, [news])  # indexing the folder again brings all of it back
    assert "ferry.txt" in sources(settings)


def test_removing_what_is_not_indexed_is_refused(settings, encoder, corpus):
    index_paths(settings, encoder)
    with pytest.raises(InputError, match="rag docs list"):
        remove_documents(settings, ["nope.txt"])


# --- collections ----------------------------------------------------------------------------

def test_collections_are_independent(settings, encoder, news):
    index_paths(settings, encoder)
    other = settings.for_collection("news")
    index_paths(other, encoder, [news])
    assert sources(settings) == {"bakery.txt", "drones.txt", "sub/loan.md"}
    assert sources(other) == {"ferry.txt"}
    assert other.index_dir == settings.data_dir / "collections" / "news" / "index"
    remove_documents(other, ["ferry.txt"])
    assert sources(settings) == {"bakery.txt", "drones.txt", "sub/loan.md"}
    names = [c.name for c in rag.library.list_collections(settings)]
    assert names == ["default", "news"]


@pytest.mark.parametrize("name", ["a b", "../up", "", "x" * 65, "naïve"])
def test_bad_collection_names_are_refused(name):
    with pytest.raises(ValueError, match="letters, digits"):
        Settings(collection=name)
    with pytest.raises(ValueError, match="letters, digits"):
        Settings().for_collection(name)


def test_asking_a_collection_that_does_not_exist_says_how_to_create_it(settings, encoder, llm):
    with pytest.raises(IndexMissingError, match="rag index --collection work"):
        build_pipeline(settings.for_collection("work"), encoder=encoder, llm=llm)


# --- the CLI --------------------------------------------------------------------------------

@pytest.fixture(params=["faiss", "milvus"])
def run(request, monkeypatch, tmp_path, corpus):
    """`rag ...` with the fake encoder, on either backend; loads of the encoder are counted."""
    monkeypatch.setenv("RAG_STORE", request.param)
    monkeypatch.setenv("RAG_MILVUS_URI", str(tmp_path / "milvus.db"))
    loads = []

    def load(settings):
        loads.append(settings.collection)
        return FakeEncoder()

    monkeypatch.setattr(rag.pipeline, "load_encoder", load)
    monkeypatch.setenv("RAG_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("RAG_CORPUS", f'["{corpus}"]')
    # A folder named like the fake model, so the index knows its name without loading it.
    monkeypatch.setenv("RAG_EMBEDDER", str(tmp_path / FakeEncoder.name))
    runner = CliRunner()

    def invoke(*args):
        result = runner.invoke(app, list(args), catch_exceptions=False)
        result.loads = list(loads)
        loads.clear()
        return result
    return invoke


def test_resync_of_an_unchanged_folder_never_loads_the_model(run, corpus):
    first = run("index")
    assert first.exit_code == 0 and first.loads == ["default"] and "3 added" in first.output
    again = run("index")
    assert again.exit_code == 0 and again.loads == [], again.output
    assert "nothing changed" in again.output and "0 embedded" in again.output


def test_docs_list_and_remove(run, corpus):
    assert run("index").exit_code == 0
    listed = run("docs", "list")
    assert listed.exit_code == 0
    assert "3 documents in collection 'default'" in listed.output
    assert "sub/loan.md" in listed.output and "Loan for Minsk" in listed.output
    removed = run("docs", "remove", "sub/loan.md")
    assert removed.exit_code == 0 and "Removed sub/loan.md" in removed.output
    assert removed.loads == []  # removing needs no model
    listed = run("docs", "list")
    assert "2 documents" in listed.output and "Removed, kept out of syncs:" in listed.output
    assert str((corpus / "sub" / "loan.md").resolve()) in listed.output
    assert "sub/loan.md" not in run("index").output
    assert "2 documents" in run("docs", "list").output


def test_index_dir_is_refused_where_the_index_lives_in_milvus(run, tmp_path, news):
    result = run("index", "--index-dir", str(tmp_path / "elsewhere"), str(news))
    if os.environ["RAG_STORE"] == "milvus":  # it would sync the shared collection instead
        assert result.exit_code == 2 and "use --collection NAME" in result.output
    else:
        assert result.exit_code == 0 and (tmp_path / "elsewhere" / "CURRENT").exists()


def test_docs_remove_of_a_file_not_indexed_is_a_user_error(run, corpus, tmp_path):
    assert run("index").exit_code == 0
    result = run("docs", "remove", str(tmp_path / "elsewhere.txt"))
    assert result.exit_code == 2
    assert result.output.startswith("error:") and "is not in the index" in result.output


def test_collection_flag_and_collections_listing(run, corpus, news):
    assert run("index").exit_code == 0
    result = run("index", "--collection", "news", str(news))
    assert result.exit_code == 0 and "Indexed 1 files" in result.output
    assert "ferry.txt" in run("docs", "list", "-c", "news").output
    assert "ferry.txt" not in run("docs", "list").output
    listing = run("collections").output
    assert "default" in listing and "3 documents" in listing and "news" in listing and "1 documents" in listing
    bad = run("index", "--collection", "no/such", str(news))
    assert bad.exit_code == 2 and "letters, digits, - and _" in bad.output
    empty = run("index", "--collection", "work")
    assert empty.exit_code == 2 and "rag index --collection work" in empty.output


def test_ask_in_a_collection(run, monkeypatch, news):
    monkeypatch.setattr(rag.pipeline, "load_chat_model", lambda settings: FakeLLM())
    assert run("index", "-c", "news", str(news)).exit_code == 0
    result = run("ask", "How long did the Calais ferry workers strike?", "--json", "--collection", "news")
    assert result.exit_code == 0 and '"source": "ferry.txt"' in result.output
    missing = run("ask", "Anything?", "--collection", "work")
    assert missing.exit_code == 2 and "no collection 'work'" in missing.output.lower()


# --- the page -------------------------------------------------------------------------------

@pytest.fixture
def page(settings, encoder, llm):
    from ui.app import ChatPage

    settings = settings.model_copy(update={"data_dir": settings.index_dir.parent / "data"})
    return ChatPage(build_pipeline(settings, encoder=encoder, llm=llm))


def no_progress(*args, **kwargs) -> None:
    return None


def test_page_removes_a_document_and_searches_without_it(page):
    docs, status, choices = page.remove_document("bakery.txt")
    assert "Removed bakery.txt" in status and "bakery.txt" not in docs
    assert choices["choices"] == ["drones.txt", "sub/loan.md"] and choices["value"] is None
    assert "bakery.txt" not in page.pipeline.index.files
    hits = page.pipeline.retriever.search("croissants Marie Dubois bakery", 5)
    assert all(h.chunk.source != "bakery.txt" for h in hits)
    _, status, _ = page.remove_document(None)
    assert "Pick a document" in status


def test_page_removing_an_upload_deletes_its_copy_and_it_can_come_back(page, tmp_path):
    from ui.app import upload_folder

    (tmp_path / "ferry.txt").write_text(NEWS)
    docs, status, _, choices = page.add_documents([str(tmp_path / "ferry.txt")], no_progress)
    assert "Added ferry.txt" in status and "ferry.txt" in docs
    copy = upload_folder(page.settings) / "ferry.txt"
    assert copy.exists()
    page.remove_document("ferry.txt")
    assert not copy.exists() and "ferry.txt" not in page.pipeline.index.files
    _, status, _, _ = page.add_documents([str(tmp_path / "ferry.txt")], no_progress)
    assert "ferry.txt" in page.pipeline.index.files


def test_page_switches_collection_and_uploads_go_there(page, tmp_path):
    docs, status, _, picker = page.switch_collection("work")
    assert "empty" in status and picker["value"] == "work"
    assert page.pipeline.index.files == {}
    (tmp_path / "ferry.txt").write_text(NEWS)
    page.add_documents([str(tmp_path / "ferry.txt")], no_progress)
    assert set(page.pipeline.index.files) == {"ferry.txt"}
    assert "collections/work" in str(page.settings.index_dir)
    _, status, _, _ = page.switch_collection("default")
    assert "Now searching collection &#x27;default&#x27; (3 documents)" in status  # escaped
    assert "ferry.txt" not in page.pipeline.index.files
    _, status, _, _ = page.switch_collection("bad name")
    assert "not valid" in status and page.settings.collection == "default"
