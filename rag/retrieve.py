"""Find the passages for a question: dense (FAISS) and lexical (BM25), fused.

Dense search finds paraphrases; BM25 finds the names, numbers and rare words
an embedding blurs. The default fusion is a convex combination of the cosine
similarity and the BM25 score scaled by the query's best BM25 score, over the
union of both candidate lists. Measured with `rag eval --retrieval MODE` on the
dev set plus the project's own 46 answerable questions (k=5): dense 0.92,
lexical 0.98, reciprocal-rank fusion 0.97, this fusion 1.00 (flat for weights
0.3-0.6). RRF loses here because a passage that only BM25 ranks first gets a
single vote, while weaker passages that both lists hold beat it.

Copies of a file (the same passage in several files) count once: the best one is
the hit and names the others' files, so 300 copies cannot crowd everything else
out of the top k.
"""

from __future__ import annotations

import numpy as np

from embeddings.encoder import Encoder
from rag.index import Index
from rag.schema import Chunk, Hit
from rag.text import content_terms, words

RRF_K = 60
LEXICAL_WEIGHT = 0.4
MODES = ("hybrid", "rrf", "dense", "lexical")
MAX_DEPTH = 64  # copies may push the search 64 times deeper than usual, no further


def rrf(rankings: list[list[int]], k: int = RRF_K) -> dict[int, float]:
    """Reciprocal-rank fusion: row id -> sum over rankings of 1 / (k + rank)."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, row in enumerate(ranking):
            fused[row] = fused.get(row, 0.0) + 1.0 / (k + rank + 1)
    return fused


def convex(dense: dict[int, float], lexical: dict[int, float],
           weight: float = LEXICAL_WEIGHT) -> dict[int, float]:
    """weight * BM25 / best BM25 + (1 - weight) * cosine, for every candidate row."""
    top = max(lexical.values(), default=0.0) or 1.0
    return {row: weight * lexical.get(row, 0.0) / top + (1 - weight) * cos
            for row, cos in dense.items()}


class Retriever:
    """Searches one loaded index with one encoder."""

    def __init__(self, index: Index, encoder: Encoder, mode: str = "hybrid") -> None:
        if mode not in MODES:
            raise ValueError(f"retrieval mode must be one of {', '.join(MODES)}")
        self.index = index
        self.encoder = encoder
        self.mode = mode

    def search(self, query: str, k: int) -> list[Hit]:
        """The k best passages for query, best first; passages with the same words as a
        better one (a copy of a file) are not hits of their own but name their files in
        the better one's `also`. Searches deeper while copies crowd out the top k."""
        n = len(self.index.chunks)
        if n == 0:
            return []
        qvec = self.encoder.encode([query])[0]
        terms = content_terms(query)
        depth = first = min(n, max(4 * k, 30))
        keys: dict[str, tuple[str, ...]] = {}
        while True:
            ranked, cosine, lexical = self._ranked(qvec, terms, depth)
            groups = same_words_groups([self.index.chunks[row] for row, _ in ranked], k, keys)
            if len(groups) >= k or depth == n or depth >= MAX_DEPTH * first:
                break  # fewer than k different passages, when copies are everywhere
            depth = min(n, depth * 4, MAX_DEPTH * first)
        hits = []
        for best, copies in groups:
            row, score = ranked[best]
            also = tuple(dict.fromkeys(self.index.chunks[ranked[c][0]].source for c in copies))
            hits.append(Hit(chunk=self.index.chunks[row], score=float(score), dense=float(cosine[row]),
                            lexical=lexical.get(row, 0.0), also=also))
        return hits

    def _ranked(self, qvec: np.ndarray, terms: list[str], depth: int
                ) -> tuple[list[tuple[int, float]], dict[int, float], dict[int, float]]:
        """The depth best rows of each list, fused by the mode, best first; and the cosines
        of the candidates and the BM25 scores of the lexical list."""
        _, rows = self.index.vectors.search(qvec[None, :], depth)
        dense_rank = [int(r) for r in rows[0] if r >= 0]
        lexical = dict(self.index.lexical.top(terms, depth))
        lexical_rank = list(lexical)
        candidates = list(dict.fromkeys(dense_rank + lexical_rank))
        cosine = dict(zip(candidates, (self.index.vectors.vectors_at(candidates) @ qvec).tolist()))
        if self.mode == "dense":
            scores = {r: cosine[r] for r in dense_rank}
        elif self.mode == "lexical":
            scores = lexical
        elif self.mode == "rrf":
            scores = rrf([dense_rank, lexical_rank])
        else:
            scores = convex(cosine, lexical)
        return sorted(scores.items(), key=lambda item: (-item[1], item[0])), cosine, lexical


def same_words_groups(chunks: list[Chunk], k: int,
                      keys: dict[str, tuple[str, ...]] | None = None) -> list[tuple[int, list[int]]]:
    """The first k groups of chunks (given best first) with the same words: (the best one's
    position, the positions of its copies in other files). Same words means the same words in
    the same order, whatever the case, line breaks and punctuation, so a copy that was
    re-wrapped or re-cased is one, and a copy that changes any word ("not", a number, a name)
    is not: it may disagree. keys caches each chunk's words across calls."""
    keys = {} if keys is None else keys
    groups: dict[tuple[str, ...], tuple[int, list[int]]] = {}
    for position, chunk in enumerate(chunks):
        key = keys.get(chunk.chunk_id)
        if key is None:
            key = keys[chunk.chunk_id] = tuple(w.lower() for w in words(chunk.text))
        if key in groups:
            first, copies = groups[key]
            if chunk.source != chunks[first].source:
                copies.append(position)
        elif len(groups) < k:
            groups[key] = (position, [])
    return list(groups.values())
