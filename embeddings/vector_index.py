"""FAISS adapter: exact inner-product search over normalised vectors.

The FAISS row position is the chunk id's position in the chunk store, so the
index holds nothing but vectors. Exact search (IndexFlatIP) is the right
choice up to a few hundred thousand vectors on a laptop; it needs no training
and returns true nearest neighbours.
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np


class VectorIndex:
    """Vectors in FAISS, searched by inner product (= cosine for normalised vectors)."""

    def __init__(self, dim: int, index: faiss.Index | None = None) -> None:
        self.dim = dim
        self._index = index if index is not None else faiss.IndexFlatIP(dim)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, vectors: np.ndarray) -> None:
        """Append vectors; their row numbers continue from the current size."""
        vectors = self._check(vectors)
        if len(vectors):
            self._index.add(vectors)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, row ids) of the k nearest rows for each query; -1 pads missing rows."""
        queries = self._check(queries)
        k = max(1, min(k, len(self))) if len(self) else 1
        if not len(self):
            return (np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64))
        return self._index.search(queries, k)

    def vectors(self) -> np.ndarray:
        """All stored vectors, in row order."""
        if not len(self):
            return np.zeros((0, self.dim), np.float32)
        return self._index.reconstruct_n(0, len(self))

    def vectors_at(self, ids: list[int]) -> np.ndarray:
        """The stored vectors of the given rows."""
        if not ids:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([self._index.reconstruct(int(i)) for i in ids])

    def save(self, path: Path) -> None:
        """Write the index to one file."""
        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path, dim: int) -> "VectorIndex":
        """Read an index written by save(); raises ValueError when it is not one of dim."""
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise ValueError(f"{path} is not a readable FAISS index") from exc
        if index.d != dim:
            raise ValueError(f"{path} holds {index.d}-dimensional vectors, expected {dim}")
        return cls(dim, index)

    def _check(self, vectors: np.ndarray) -> np.ndarray:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f"expected vectors of dimension {self.dim}, got shape {vectors.shape}")
        return vectors
