"""Find the passages for a question: dense (FAISS) and lexical (BM25), fused.

Dense search finds paraphrases; BM25 finds the names, numbers and rare words
an embedding blurs. Reciprocal-rank fusion combines the two rankings without
having to calibrate their scores against each other.
"""

from __future__ import annotations

import numpy as np

from embeddings.encoder import Encoder
from rag.index import Index
from rag.schema import Hit
from rag.text import content_terms

RRF_K = 60
MODES = ("hybrid", "dense", "lexical")


def rrf(rankings: list[list[int]], k: int = RRF_K) -> dict[int, float]:
    """Reciprocal-rank fusion: row id -> sum over rankings of 1 / (k + rank)."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, row in enumerate(ranking):
            fused[row] = fused.get(row, 0.0) + 1.0 / (k + rank + 1)
    return fused


class Retriever:
    """Searches one loaded index with one encoder."""

    def __init__(self, index: Index, encoder: Encoder, mode: str = "hybrid") -> None:
        if mode not in MODES:
            raise ValueError(f"retrieval mode must be one of {MODES}")
        self.index = index
        self.encoder = encoder
        self.mode = mode

    def search(self, query: str, k: int) -> list[Hit]:
        """The k best passages for query, best first."""
        n = len(self.index.chunks)
        if n == 0:
            return []
        depth = min(n, max(4 * k, 30))
        qvec = self.encoder.encode([query])[0]
        lexical = self.index.lexical.scores(content_terms(query))
        rankings = []
        if self.mode in ("hybrid", "dense"):
            _, rows = self.index.vectors.search(qvec[None, :], depth)
            rankings.append([int(r) for r in rows[0] if r >= 0])
        if self.mode in ("hybrid", "lexical"):
            top = np.argsort(-lexical, kind="stable")[:depth]
            rankings.append([int(r) for r in top if lexical[r] > 0])
        fused = sorted(rrf(rankings).items(), key=lambda item: (-item[1], item[0]))[:k]
        rows = [row for row, _ in fused]
        dense = self.index.vectors.vectors_at(rows) @ qvec if rows else []
        return [Hit(chunk=self.index.chunks[row], score=float(score), dense=float(d),
                    lexical=float(lexical[row]))
                for (row, score), d in zip(fused, dense)]
