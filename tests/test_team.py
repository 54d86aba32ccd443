"""A team's setup, each piece a real process on loopback: one Milvus (Milvus Lite's server),
one model server for the LLM and one for embeddings (llama.cpp's, with the bundled GGUF),
and two `rag serve` replicas with their own data folders and nothing on disk in common."""

from __future__ import annotations

import sys

import httpx
import pytest

from tests.conftest import free_port, running, server_env, smollm2_path
from tests.test_auth import outputs
from tests.test_milvus import milvus_server

QUESTION = "How many drones did Russia launch at Ukraine?"


def llama_server(port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "llama_cpp.server", "--model", smollm2_path(), "--host", "127.0.0.1",
            "--port", str(port), "--n_threads", "1", *extra]


def ask(url: str) -> dict:
    reply = httpx.post(f"{url}v1/ask", json={"question": QUESTION}, timeout=120, trust_env=False)
    assert reply.status_code == 200, reply.text
    return reply.json()


def upload(url: str, document) -> None:
    """Add a document through the page's own upload and add_documents event."""
    with httpx.Client(base_url=url, trust_env=False, timeout=120) as page:
        [uploaded] = page.post("/gradio_api/upload",
                               files={"files": (document.name, document.read_bytes())}).json()
        status = outputs(page, "add_documents", [{"path": uploaded, "meta": {"_type": "gradio.FileData"}}])[1]
        assert f"Added {document.name}" in status, status


def sources(url: str, question: str) -> set[str]:
    """The sources of the passages a replica retrieves for question."""
    reply = httpx.post(f"{url}v1/ask", json={"question": question}, timeout=120, trust_env=False)
    assert reply.status_code == 200, reply.text
    return {p["source"] for p in reply.json()["passages"]}


@pytest.mark.models
def test_two_replicas_on_one_milvus_and_one_model_server_answer_alike_and_share_uploads(tmp_path):
    pytest.importorskip("llama_cpp.server.app", reason="needs pip install 'llama-cpp-python[server]'")
    milvus_port, llm_port, embed_port = free_port(), free_port(), free_port()
    milvus = milvus_server(tmp_path / "milvus.db", milvus_port, tmp_path / "milvus.log")
    team = {"RAG_STORE": "milvus", "RAG_MILVUS_URI": f"http://127.0.0.1:{milvus_port}",
            "RAG_LLM_URL": f"http://127.0.0.1:{llm_port}/v1",
            "RAG_EMBED_URL": f"http://127.0.0.1:{embed_port}/v1", "RAG_EMBED_BATCH": "1",
            "RAG_THREADS": "1"}
    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{p}/" for p in ports]
    homes = [tmp_path / "a", tmp_path / "b"]
    try:
        # llama.cpp's server reuses its KV cache for the longest common prefix, and a prompt it
        # holds whole has its last token alone read again, which gives logits that differ in the
        # last bits from one read in a batch (its README says so of cache_prompt): the second
        # replica's identical prompt got a different answer from SmolLM2. Batches of one token
        # make the server's answers independent of what it was asked before, so what is compared
        # is what the replicas send.
        with running(llama_server(llm_port, "--n_ctx", "2048", "--n_batch", "1", "--n_ubatch", "1"),
                     f"http://127.0.0.1:{llm_port}/docs",
                     tmp_path / "llm.log", server_env(tmp_path)), \
             running(llama_server(embed_port, "--n_ctx", "512", "--embedding", "true"),
                     f"http://127.0.0.1:{embed_port}/docs", tmp_path / "embed.log", server_env(tmp_path)), \
             running([sys.executable, "-m", "rag", "serve", "--port", str(ports[0])], urls[0],
                     tmp_path / "a.log", server_env(homes[0], **team)), \
             running([sys.executable, "-m", "rag", "serve", "--port", str(ports[1])], urls[1],
                     tmp_path / "b.log", server_env(homes[1], **team)):
            for url in urls:
                health = httpx.get(f"{url}healthz", trust_env=False).json()
                assert health["ready"] is True and "5 documents" in health["why"], health
            first, second = ask(urls[0]), ask(urls[1])
            assert first["answer"] == second["answer"] and first["citations"] == second["citations"]
            assert first["model"] == second["model"]

            # A document uploaded through the page of one replica ...
            note = tmp_path / "harwick.txt"
            note.write_text("Harwick bridge\n\nThe Harwick bridge over the Tamsin river opened in 1887.\n")
            upload(urls[0], note)
            # ... is found through the other, which has no copy of it on its disk;
            assert not list(homes[1].rglob("harwick.txt"))
            assert "harwick.txt" in sources(urls[1], "When did the Harwick bridge open?")
            # and an upload through the other keeps it.
            other = tmp_path / "tamsin.txt"
            other.write_text("Tamsin ferry\n\nThe Tamsin ferry stopped running in 1921.\n")
            upload(urls[1], other)
            assert "harwick.txt" in sources(urls[0], "When did the Harwick bridge open?")
            assert "tamsin.txt" in sources(urls[0], "When did the Tamsin ferry stop running?")
    finally:
        milvus.terminate()
        milvus.wait(timeout=30)
