"""Embeddings from an OpenAI-compatible server (RAG_EMBED_URL): llama.cpp's Python server with
the bundled GGUF in embedding mode, as a subprocess on a free loopback port, with a key."""

from __future__ import annotations

import sys

import numpy as np
from pydantic import SecretStr
import pytest

from embeddings.remote_encoder import RemoteEncoder
from rag.errors import IndexMismatchError, ModelError, StoreUnavailableError
from rag.index import embedding_text, read_manifest
from rag.pipeline import build_pipeline, index_paths, load_encoder
from rag.settings import Settings
from tests.conftest import free_port, running, server_env, smollm2_path
from tests.fakes import FakeEncoder, FakeLLM

KEY = "embed-test-key"


@pytest.fixture(scope="module")
def embed_server(tmp_path_factory):
    """(argv, URL) of llama.cpp's server embedding with the bundled model, running."""
    pytest.importorskip("llama_cpp.server.app", reason="needs pip install 'llama-cpp-python[server]'")
    home = tmp_path_factory.mktemp("embed-server")
    port = free_port()
    argv = [sys.executable, "-m", "llama_cpp.server", "--model", smollm2_path(), "--host", "127.0.0.1",
            "--port", str(port), "--n_ctx", "512", "--n_threads", "2", "--embedding", "true",
            "--api_key", KEY]
    with running(argv, f"http://127.0.0.1:{port}/docs", home / "server.log", server_env(home), timeout=120):
        yield argv, f"http://127.0.0.1:{port}/v1", home


@pytest.fixture
def settings(embed_server, tmp_path, corpus) -> Settings:
    # One text per request: llama-cpp-python's server gets the later texts of a batch wrong
    # with a model that does not pool (cosine 0.04 with the same text sent alone, measured).
    return Settings(index_dir=tmp_path / "index", corpus=[corpus], model="", embed_url=embed_server[1],
                    embed_api_key=KEY, embed_batch=1, store="milvus",
                    milvus_uri=str(tmp_path / "milvus.db"))


@pytest.mark.models
def test_the_server_embeds_like_a_local_model_normalised_and_repeatable(embed_server):
    encoder = RemoteEncoder(embed_server[1], api_key=KEY, batch_size=1)
    assert encoder.name.endswith("SmolLM2-135M-Instruct.Q4_1.gguf") and encoder.dim == 576
    texts = ["Russia launched 35 drones.", "A bakery opens in Lyon.", "Russia launched 35 drones."]
    vectors = encoder.encode(texts)
    assert vectors.shape == (3, 576) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors[0], vectors[2], atol=1e-5)
    assert not np.allclose(vectors[0], vectors[1], atol=1e-2)


@pytest.mark.models
def test_a_library_indexed_through_the_server_records_its_model_and_refuses_another(settings):
    report, _ = index_paths(settings, load_encoder(settings))
    assert report.embedded == report.chunks == 4
    assert read_manifest(settings.index_location)["embedder"].endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    pipeline = build_pipeline(settings, llm=FakeLLM())
    for row, chunk in enumerate(pipeline.index.chunks):  # a passage's own text finds it: cosine 1
        query = pipeline.encoder.encode([embedding_text(chunk)])
        scores, rows = pipeline.index.vectors.search(query, 1)
        assert rows[0][0] == row and scores[0][0] == pytest.approx(1.0, abs=1e-3)
    assert pipeline.retriever.search("How many Shahed drones did Russia launch?", 4)
    with pytest.raises(IndexMismatchError, match="run `rag index`"):
        build_pipeline(settings.model_copy(update={"embed_url": ""}), encoder=FakeEncoder(), llm=FakeLLM())


@pytest.mark.models
def test_a_wrong_key_or_no_server_is_a_model_error_naming_the_setting(settings):
    with pytest.raises(ModelError, match="RAG_EMBED_URL"):
        load_encoder(settings.model_copy(update={"embed_api_key": SecretStr("wrong")}))
    gone = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(ModelError, match=f"{gone}.*RAG_EMBED_URL"):
        load_encoder(settings.model_copy(update={"embed_url": gone}))


@pytest.mark.models
def test_the_server_gone_mid_sync_fails_the_sync_whole_and_the_library_answers(settings, corpus,
                                                                               embed_server):
    encoder = load_encoder(settings)
    index_paths(settings, encoder)
    before = read_manifest(settings.index_location)
    (corpus / "ferry.txt").write_text("Ferry strike\n\nFerry workers in Calais struck for 48 hours.\n")
    dead = RemoteEncoder(embed_server[1], api_key=KEY, batch_size=1)
    dead.url = f"http://127.0.0.1:{free_port()}/v1"  # the server went away after it was reached
    with pytest.raises(StoreUnavailableError, match="Nothing was changed"):
        index_paths(settings, dead)
    assert read_manifest(settings.index_location) == before
    pipeline = build_pipeline(settings, encoder=encoder, llm=FakeLLM())
    assert {c.source for c in pipeline.index.chunks} == {"bakery.txt", "drones.txt", "sub/loan.md"}
    assert pipeline.health() == (True, "collection 'default': 3 documents, 4 passages")
    pipeline.encoder = dead  # the server gone: a load balancer hears so
    assert pipeline.health() == (False, "the embedding model cannot be reached")
    pipeline.encoder = encoder
    assert pipeline.retriever.search("Shahed drones launched", 1)
