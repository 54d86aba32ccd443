"""Decide from the retrieved evidence whether the documents can answer a question.

The model's "I don't know" is not enough: a tiny model says it when the answer
is in front of it, and guesses when it is not. So the decision rests on the
evidence itself: how well the best passage covers the question's key terms,
weighted by rarity (a term the corpus never uses, like "population" in a
corpus without it, weighs most), how close it is in embedding space, and
whether the names the question asks about occur in any passage at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rag.index import Index
from rag.schema import Hit
from rag.text import content_terms, names, stem

# Calibrated on the dev questions and the project's own extra questions
# (tests/data/extra_questions.jsonl); see `rag eval`.
MIN_COVERAGE = 0.5
MIN_DENSE = 0.45
STRONG_COVERAGE = 0.8


@dataclass(frozen=True)
class Evidence:
    """How well the retrieved passages match the question."""

    coverage: float  # best passage's IDF-weighted share of question terms
    dense: float  # best passage's cosine similarity
    missing_names: tuple[str, ...]  # question names found in no passage
    answerable: bool


def idf_weights(terms: set[str], index: Index) -> dict[str, float]:
    """BM25-style inverse document frequency of each term in the index."""
    n = max(1, len(index.chunks))
    return {t: math.log(1 + (n - df + 0.5) / (df + 0.5))
            for t in terms for df in [index.lexical.document_frequency(t)]}


def coverage(q_terms: set[str], text: str, idf: dict[str, float]) -> float:
    """IDF-weighted share of q_terms that text contains."""
    total = sum(idf.values()) or 1.0
    return sum(idf[t] for t in q_terms & set(content_terms(text))) / total


def assess(question: str, hits: list[Hit], index: Index) -> tuple[Evidence, dict[str, float]]:
    """The evidence verdict for question, and the IDF weights of its terms."""
    q_terms = set(content_terms(question))
    idf = idf_weights(q_terms, index)
    if not hits or not q_terms:
        return Evidence(0.0, 0.0, (), False), idf
    best_cov = max(coverage(q_terms, f"{h.chunk.title} {h.chunk.text}", idf) for h in hits)
    best_dense = max(h.dense for h in hits)
    seen = {stem(t) for h in hits for t in content_terms(f"{h.chunk.title} {h.chunk.text}")}
    missing = tuple(sorted(n for n in names(question) if stem(n) not in seen))
    answerable = (not missing and (best_cov >= MIN_COVERAGE or best_dense >= MIN_DENSE)) or (
        best_cov >= STRONG_COVERAGE)
    return Evidence(best_cov, best_dense, missing, answerable), idf
