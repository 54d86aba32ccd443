"""BM25 adapter (bm25s): token lists in, scores by row id out.

Tokenisation is the caller's job, so the same stemming and stopwords serve
indexing, querying and citation checking. bm25s precomputes a sparse matrix
of per-term scores, so a query costs a sum over its terms' postings.
"""

from __future__ import annotations

from pathlib import Path

import logging

import bm25s
import numpy as np

logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every build at DEBUG


class LexicalIndex:
    """A BM25 index over pre-tokenised documents, rows numbered from 0."""

    def __init__(self, retriever: bm25s.BM25 | None, size: int) -> None:
        self._bm25 = retriever
        self.size = size

    @classmethod
    def build(cls, docs: list[list[str]]) -> "LexicalIndex":
        """Index token lists; row i is docs[i]."""
        if not any(docs):
            return cls(None, len(docs))
        # bm25s drops empty documents from its vocabulary but keeps their rows.
        retriever = bm25s.BM25(k1=1.2, b=0.75)
        retriever.index([d or ["\x00"] for d in docs], show_progress=False)
        return cls(retriever, len(docs))

    def scores(self, query: list[str]) -> np.ndarray:
        """BM25 score of every row for the query tokens (unknown tokens score nothing)."""
        if self._bm25 is None:
            return np.zeros(self.size, dtype=np.float32)
        vocab = self._bm25.vocab_dict
        known = [t for t in query if t in vocab]
        if not known:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)

    def top(self, terms: list[str], depth: int) -> list[tuple[int, float]]:
        """(row, BM25 score) of the depth best rows that hold a query token, best first (ties
        by row, so the order is deterministic)."""
        scores = self.scores(terms)
        n = len(scores)
        best = np.argpartition(-scores, depth - 1)[:depth] if depth < n else np.arange(n)
        best = best[np.lexsort((best, -scores[best]))]
        return [(int(r), float(scores[r])) for r in best if scores[r] > 0]

    def document_frequency(self, token: str) -> int:
        """How many rows contain token."""
        if self._bm25 is None or token not in self._bm25.vocab_dict:
            return 0
        # bm25s keeps one column of precomputed scores per token (CSC layout), so
        # the column's length is the token's document frequency: no scoring pass.
        indptr = self._bm25.scores["indptr"]
        column = self._bm25.vocab_dict[token]
        return int(indptr[column + 1] - indptr[column])

    def save(self, folder: Path) -> None:
        """Write the index into folder."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "size").write_text(str(self.size), encoding="utf-8")
        if self._bm25 is not None:
            self._bm25.save(str(folder))

    @classmethod
    def load(cls, folder: Path) -> "LexicalIndex":
        """Read an index written by save()."""
        size = int((folder / "size").read_text(encoding="utf-8"))
        if not (folder / "params.index.json").exists():
            return cls(None, size)
        return cls(bm25s.BM25.load(str(folder)), size)
