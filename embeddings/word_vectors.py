"""Vectors of single words from the sentence encoder, for comparing words by meaning.

"soldiers" and "troops" are 0.89 apart in cosine with all-MiniLM-L6-v2: close enough to
stand for each other where plain string matching sees two different words.
"""

from __future__ import annotations

import numpy as np

from embeddings.encoder import Encoder


class WordVectors:
    """Embedding vectors of single words, kept once computed (a corpus has a bounded
    vocabulary, and the same passages come back for related questions)."""

    MAX_WORDS = 50_000

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder
        self._cache: dict[str, np.ndarray] = {}

    def _vectors(self, batch: list[str]) -> np.ndarray:
        if len(self._cache) + len(batch) > self.MAX_WORDS:
            self._cache.clear()
        missing = [w for w in dict.fromkeys(batch) if w not in self._cache]
        if missing:
            self._cache.update(zip(missing, self.encoder.encode(missing)))
        return np.stack([self._cache[w] for w in batch])

    def alike(self, word: str, vocabulary: list[str], threshold: float) -> list[str]:
        """The words of vocabulary whose cosine similarity to word is at least threshold."""
        if not vocabulary:
            return []
        sims = self._vectors(vocabulary) @ self._vectors([word])[0]
        return [w for w, sim in zip(vocabulary, sims) if sim >= threshold]
