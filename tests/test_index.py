"""The on-disk index: round trip, reuse of vectors, refusal of mismatches, atomic writes."""

import json

import pytest

from embeddings.lexical_index import LexicalIndex
from rag.errors import IndexCorruptError, IndexMismatchError, IndexMissingError
from rag.index import CHUNKS_VERSION, load_index, read_manifest
from rag.pipeline import index_paths


def test_round_trip_keeps_chunks_vectors_and_manifest(settings, encoder):
    report, skipped = index_paths(settings, encoder)
    assert (report.files, report.embedded) == (3, report.chunks) and not skipped
    index = load_index(settings.index_dir, encoder.name, encoder.dim)
    assert len(index.chunks) == len(index.vectors) == report.chunks
    manifest = read_manifest(settings.index_dir)
    assert manifest["format"] == 1 and manifest["embedder"] == "fake-encoder" and manifest["dim"] == 64
    assert manifest["chunking"] == {"max_words": 80, "overlap": 1, "version": CHUNKS_VERSION}
    assert set(manifest["files"]) == {"bakery.txt", "drones.txt", "sub/loan.md"}
    assert all(len(f["content_hash"]) == 32 for f in manifest["files"].values())


def test_reindexing_embeds_only_changed_files(settings, encoder, corpus):
    index_paths(settings, encoder)
    (corpus / "bakery.txt").write_text("A bakery opens in Nice\n\nShe sells bread.\n")
    encoder.encoded.clear()
    report, _ = index_paths(settings, encoder)
    assert report.embedded == 1
    assert encoder.encoded == ["A bakery opens in Nice\nA bakery opens in Nice She sells bread."]


def test_index_from_another_embedding_model_is_refused(settings, encoder):
    index_paths(settings, encoder)
    with pytest.raises(IndexMismatchError, match="re-index"):
        load_index(settings.index_dir, "all-mpnet-base-v2", 768)


def test_missing_and_corrupt_indexes_say_to_rebuild(settings, encoder):
    with pytest.raises(IndexMissingError, match="rag index"):
        load_index(settings.index_dir, encoder.name, encoder.dim)
    gen = index_paths(settings, encoder) and next(settings.index_dir.glob("gen-*"))
    (gen / "vectors.faiss").write_bytes(b"garbage")
    with pytest.raises(IndexCorruptError, match="rag index"):
        load_index(settings.index_dir, encoder.name, encoder.dim)


def test_crash_while_writing_leaves_the_previous_index_intact(settings, encoder, corpus, monkeypatch):
    index_paths(settings, encoder)
    before = [c.chunk_id for c in load_index(settings.index_dir, encoder.name, encoder.dim).chunks]
    (corpus / "new.txt").write_text("Another article\n\nSomething new happened today.\n")

    def interrupted(self, folder):
        raise KeyboardInterrupt  # Ctrl-C in the middle of the write

    monkeypatch.setattr(LexicalIndex, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        index_paths(settings, encoder)
    monkeypatch.undo()
    after = load_index(settings.index_dir, encoder.name, encoder.dim)
    assert [c.chunk_id for c in after.chunks] == before
    assert not list(settings.index_dir.glob(".tmp-*"))  # no half-written generation left behind


def test_format_version_is_checked(settings, encoder):
    index_paths(settings, encoder)
    gen = next(settings.index_dir.glob("gen-*"))
    manifest = json.loads((gen / "manifest.json").read_text())
    manifest["format"] = 99
    (gen / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="format 99"):
        load_index(settings.index_dir, encoder.name, encoder.dim)
