"""The small interface both index backends give the retriever: dense search by vector and
lexical search by terms, over rows numbered 0..n-1. FAISS and bm25s (vector_index.py,
lexical_index.py) hold the rows in this process; Milvus (milvus_store.MilvusPassages) holds
them in a server that many processes share. The domain code (rag.retrieve) sees only this."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class DenseSearch(Protocol):
    """Nearest rows by inner product of normalised vectors (= cosine)."""

    dim: int

    def __len__(self) -> int: ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows) of the k nearest rows for each query; -1 pads missing rows."""
        ...

    def vectors_at(self, rows: list[int]) -> np.ndarray:
        """The stored vectors of the given rows."""
        ...


class LexicalSearch(Protocol):
    """BM25 over each row's terms (the caller's tokens)."""

    def top(self, terms: list[str], depth: int) -> list[tuple[int, float]]:
        """(row, score) of the depth best rows that hold a term, best first."""
        ...

    def document_frequency(self, token: str) -> int:
        """How many rows hold the token."""
        ...
