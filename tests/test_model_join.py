"""Chunked models: joined once, verified by size and sha256, never half-written (rag.models)."""

from __future__ import annotations

import hashlib
import logging

import pytest

import rag.models
from rag.errors import ModelError
from rag.models import ModelSpec, is_verified, join_model, model_status, resolve_model

CHUNKS = [b"GGUF" + b"a" * 3000, b"b" * 5000, b"c" * 123]


@pytest.fixture
def chunked(tmp_path, monkeypatch) -> ModelSpec:
    """A model shipped as three chunk packages on sys.path, as the real ones are on PyPI."""
    site = tmp_path / "site"
    for n, data in enumerate(CHUNKS, start=1):
        folder = site / f"fakechunk_part{n}" / "data"
        folder.mkdir(parents=True)
        (folder.parent / "__init__.py").write_text("raise RuntimeError('never imported')\n")
        (folder / f"part{n:02d}.bin").write_bytes(data)
    monkeypatch.syspath_prepend(str(site))
    whole = b"".join(CHUNKS)
    return ModelSpec(name="fake-1b", title="Fake 1B", licence="MIT", origin="test", file_name="fake.gguf",
                     size=len(whole), sha256=hashlib.sha256(whole).hexdigest(), package="fakechunk_part{n}",
                     parts=3, distribution="fakechunk-part{n}", version="1.0")


def chunk_file(model: ModelSpec, n: int):
    return rag.models.package_folder(model.package.format(n=n)) / "data" / f"part{n:02d}.bin"


def test_chunks_are_joined_in_order_and_verified_once(chunked, tmp_path):
    seen = []
    path = join_model(chunked, tmp_path / "models", lambda done, total: seen.append((done, total)))
    assert path.read_bytes() == b"".join(CHUNKS)
    assert seen[-1] == (chunked.size, chunked.size)  # the progress bar reaches the end
    assert is_verified(chunked, path)
    assert model_status(chunked, tmp_path / "models").state == "verified"
    # A second start trusts the receipt and reads no chunk: a missing chunk no longer matters.
    chunk_file(chunked, 2).unlink()
    assert join_model(chunked, tmp_path / "models") == path


def test_an_altered_chunk_is_refused_and_nothing_is_left_behind(chunked, tmp_path):
    chunk_file(chunked, 2).write_bytes(b"x" * 5000)  # same size, other bytes
    with pytest.raises(ModelError, match="do not join into the verified file.*pip install"):
        join_model(chunked, tmp_path / "models")
    assert list((tmp_path / "models").iterdir()) == []


def test_a_partial_chunk_says_what_to_reinstall(chunked, tmp_path):
    chunk_file(chunked, 3).write_bytes(b"c" * 10)
    with pytest.raises(ModelError, match="partial or altered; run pip install --force-reinstall"):
        join_model(chunked, tmp_path / "models")
    assert not (tmp_path / "models" / "fake.gguf").exists()


def test_a_missing_chunk_names_it(chunked, tmp_path):
    chunk_file(chunked, 2).unlink()
    with pytest.raises(ModelError, match="missing chunk 2 of 3: run pip install"):
        join_model(chunked, tmp_path / "models")
    assert model_status(chunked, tmp_path / "models").state == "not installed"


def test_a_crash_mid_join_leaves_no_half_joined_file(chunked, tmp_path):
    def interrupt(done, total):
        if done > 4000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        join_model(chunked, tmp_path / "models", interrupt)
    assert list((tmp_path / "models").iterdir()) == []
    assert join_model(chunked, tmp_path / "models").read_bytes() == b"".join(CHUNKS)


def test_a_changed_joined_file_is_joined_again(chunked, tmp_path):
    path = join_model(chunked, tmp_path / "models")
    path.write_bytes(b"GGUF tampered")
    assert not is_verified(chunked, path)
    assert join_model(chunked, tmp_path / "models").read_bytes() == b"".join(CHUNKS)


def test_the_standard_model_falls_back_to_the_bundled_one_with_a_warning(chunked, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(rag.models, "CATALOGUE", (chunked, *rag.models.CATALOGUE))
    monkeypatch.setattr(rag.models, "STANDARD", chunked.name)
    chunk_file(chunked, 1).write_bytes(b"GGUF" + b"z" * 3000)
    with caplog.at_level(logging.WARNING, logger="rag.models"):
        path = resolve_model("", tmp_path / "models")
    assert path.endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert "do not join into the verified file" in caplog.text and "Using the bundled" in caplog.text
    # Asked for by name, the same model is an error, not a silent swap.
    with pytest.raises(ModelError, match="pip install"):
        resolve_model(chunked.name, tmp_path / "models")


def test_a_path_is_passed_through_to_the_loader(tmp_path):
    assert resolve_model(str(tmp_path / "my.gguf"), tmp_path / "models") == str(tmp_path / "my.gguf")
