"""An embedding model behind an OpenAI-compatible server: POST /v1/embeddings (vLLM, Hugging
Face TEI, Ollama, llama.cpp's server). Texts in, L2-normalised float32 vectors out, as the
local encoder gives, so the indexes and the citation checker cannot tell them apart.

Indexing millions of passages then runs where the GPUs are. The index records the model's
name and vector size, and refuses another (rag.index), as with a local model.
"""

from __future__ import annotations

import numpy as np

BATCH = 64  # texts per request: servers cap a request's inputs (TEI: 32-512, vLLM: larger)


class EmbeddingServerError(ConnectionError):
    """The embeddings server could not be reached, or answered with an error; names the URL."""


def pooled(embedding: list) -> np.ndarray:
    """One vector for a text: a server gives one, or one per token for a model without pooling
    (llama.cpp's server with a chat model), which are averaged, as sentence-transformers pools."""
    vector = np.asarray(embedding, dtype=np.float32)
    return vector.mean(axis=0) if vector.ndim == 2 else vector


class RemoteEncoder:
    """Vectors from an OpenAI-compatible /v1/embeddings server."""

    def __init__(self, url: str, model: str = "", api_key: str = "", timeout: float = 120.0,
                 batch_size: int = BATCH) -> None:
        import httpx

        if not url.startswith(("http://", "https://")):
            raise ValueError(f"RAG_EMBED_URL must be an http:// or https:// URL such as "
                             f"http://127.0.0.1:8080/v1, not {url!r}")
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
                                  headers=headers)
        self.batch_size = batch_size
        self.name = model or self._served_model()
        self.dim = int(self._request(["dimension"]).shape[1])

    def _served_model(self) -> str:
        """The one model the server lists; ValueError when it lists none or several."""
        served = [m.get("id", "") for m in self._get("/models").get("data", [])]
        if len(served) != 1:
            raise ValueError(f"The embeddings server at {self.url} serves {', '.join(served) or 'no model'}: "
                             "set RAG_EMBED_MODEL to the model to use.")
        return served[0]

    def _get(self, path: str) -> dict:
        import httpx

        try:
            response = self._http.get(self.url + path)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise EmbeddingServerError(f"The embeddings server at {self.url} failed ({path}): {exc}") from exc

    def _request(self, texts: list[str]) -> np.ndarray:
        import httpx

        try:
            response = self._http.post(self.url + "/embeddings", json={"model": self.name, "input": texts})
            response.raise_for_status()
            rows = sorted(response.json()["data"], key=lambda row: row["index"])
            vectors = np.stack([pooled(row["embedding"]) for row in rows]) if rows else np.zeros((0, 0))
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise EmbeddingServerError(f"The embeddings server at {self.url} failed (/embeddings): "
                                       f"{' '.join(str(exc).split())[:300]}") from exc
        if vectors.ndim != 2 or len(vectors) != len(texts):
            raise EmbeddingServerError(f"The embeddings server at {self.url} returned {len(vectors)} "
                                       f"vectors for {len(texts)} texts")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Normalised float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [self._request(texts[i:i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]
        vectors = np.concatenate(parts)
        if vectors.shape[1] != self.dim:
            raise EmbeddingServerError(f"The embeddings server at {self.url} changed its vector size "
                                       f"from {self.dim} to {vectors.shape[1]}")
        return np.ascontiguousarray(vectors)
