"""FAISS adapter: inner-product search over normalised vectors, exact or approximate by size.

The FAISS row position is the chunk id's position in the chunk store, so the
index holds nothing but vectors. Exact search (IndexFlatIP) needs no training
and returns true nearest neighbours, but its cost grows with the number of
vectors: one query reads every vector. Above EXACT_MAX vectors, build() makes
an inverted-file index (IndexIVFFlat) instead: k-means cells, of which each
query scans only `nprobe`. It keeps the full vectors (so stored vectors and
scores are exact; only the candidate set is approximate) and a direct map so
rows can still be read back. `rag bench` measures the latency of both and the
IVF recall against exact search; the thresholds below are those measurements
turned into defaults. The index type and nprobe are saved in the FAISS file.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path

import faiss
import numpy as np

# Measured on 2 cores (384-d): one exact query scans 100k vectors in ~6 ms, so exact
# search stays cheap up to ~200k; at 1M it takes ~150 ms, while IVF with these
# settings takes ~7 ms at recall@10 ~0.97 against exact (`rag bench` reports both).
EXACT_MAX = 200_000
CELLS_PER_SQRT = 1  # nlist = sqrt(n): ~1000 cells of ~1000 vectors at 1M
TRAIN_PER_CELL = 64  # k-means sample per cell: enough for stable cells, quick to train (~10 s at 1M)
NPROBE = 64  # cells scanned per query: 32 gave recall ~0.93-0.98, 64 gives ~0.965-0.99


class VectorIndex:
    """Vectors in FAISS, searched by inner product (= cosine for normalised vectors)."""

    def __init__(self, dim: int, index: faiss.Index | None = None) -> None:
        self.dim = dim
        self._index = index if index is not None else faiss.IndexFlatIP(dim)

    @classmethod
    def build(cls, dim: int, vectors: np.ndarray, exact_max: int = EXACT_MAX,
              nprobe: int = NPROBE, seed: int = 0) -> "VectorIndex":
        """An index holding vectors: exact up to exact_max rows, IVF above."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if len(vectors) <= exact_max:
            index = cls(dim)
            index.add(vectors)
            return index
        nlist = max(1, int(CELLS_PER_SQRT * math.sqrt(len(vectors))))
        ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        ivf.cp.seed = seed
        rng = np.random.default_rng(seed)
        sample = rng.choice(len(vectors), min(len(vectors), TRAIN_PER_CELL * nlist), replace=False)
        index = cls(dim, ivf)
        ivf.train(index._check(vectors[np.sort(sample)]))
        ivf.add(index._check(vectors))
        ivf.make_direct_map()  # reconstruct(row) for vectors_at()
        ivf.nprobe = min(nprobe, nlist)
        return index

    @property
    def kind(self) -> str:
        """'exact' or 'ivf', for reports."""
        return "ivf" if isinstance(self._index, faiss.IndexIVF) else "exact"

    def describe(self) -> dict:
        """The index type and its search parameters, for reports."""
        if self.kind == "ivf":
            return {"index": "ivf", "nlist": int(self._index.nlist), "nprobe": int(self._index.nprobe)}
        return {"index": "exact"}

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
        if len(queries) == 1:
            # One query is faster on one thread: FAISS's threads would contend with the
            # encoder's (separate OpenMP runtimes); measured 100k exact: 6 ms vs 14 ms.
            with _faiss_threads(1):
                return self._index.search(queries, k)
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
        return self._index.reconstruct_batch(np.asarray(ids, dtype=np.int64))

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


@contextlib.contextmanager
def _faiss_threads(n: int) -> Iterator[None]:
    """Run FAISS with n OpenMP threads in this thread, then restore the previous count."""
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)
