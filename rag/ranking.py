"""Which retrieved sentences the model is shown: every passage sentence ranked, half by the
share of the question's words it holds (rarer words weigh more, as in BM25; its title's words
count for it, and the sentence before it at half weight, where "it" or "the scheme" is
named) and half by its embedding similarity to the question, as passages are retrieved.

The ranking chooses what the model reads, and what its answer may rest on; whether those
sentences answer the question is the model's verdict (rag.generate.Verdict), not the
ranking's. Only a question whose best sentence is far from it in meaning is refused here,
before the model is asked: MIN_SIMILARITY refuses 0.3% of the answerable questions of the
judge data's train and tune splits (written documents) and 1.1% (CLAPnq), see train/README.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from embeddings.encoder import Encoder
from rag.schema import Hit
from rag.text import content_terms

MIN_SIMILARITY = 0.25
PREVIOUS_WEIGHT = 0.5


@dataclass(frozen=True)
class Ranked:
    """One passage sentence: passage n (1-based), sentence index, cosine to the question."""

    n: int
    sentence: int
    score: float


def is_heading(sentence: str, title: str) -> bool:
    """True for the article's title line or a markdown heading: labels, not answers."""
    return sentence == title or sentence.startswith("#") or sentence.lstrip("# ") == title


def idf(document_frequency: Callable[[str], int], documents: int) -> Callable[[str], float]:
    """BM25's inverse document frequency of a term, over the index's passages."""
    def weight(term: str) -> float:
        df = document_frequency(term)
        return math.log(1 + (documents - df + 0.5) / (df + 0.5))
    return weight


def rank_sentences(question: str, hits: list[Hit], encoder: Encoder,
                   weight: Callable[[str], float] = lambda term: 1.0) -> list[Ranked]:
    """Every sentence of the passages, best first, with its embedding similarity to the
    question as its score (the gate reads it). A sentence that neighbouring passages share is
    ranked once, in the better passage. weight: a term's rarity (see idf)."""
    weights = {t: weight(t) for t in set(content_terms(question))}  # looked up once a question
    asked = set(weights)
    total = sum(weights.values()) or 1.0
    units, seen = [], set()
    for n, hit in enumerate(hits, start=1):
        title = set(content_terms(hit.chunk.title))
        previous: set[str] = set()
        for i, (start, _, ts, te) in enumerate(hit.chunk.sentence_spans()):
            text = hit.chunk.text[ts:te]
            terms = set(content_terms(text))
            if (hit.chunk.source, start) not in seen and not is_heading(text, hit.chunk.title):
                held = sum(weights[t] for t in asked & (terms | title))
                held += PREVIOUS_WEIGHT * sum(weights[t] for t in asked & (previous - terms - title))
                units.append((n, i, text, held / total))
            seen.add((hit.chunk.source, start))
            previous = terms
    if not units:
        return []
    vectors = encoder.encode([question] + [text for _, _, text, _ in units])
    cosine = vectors[1:] @ vectors[0]
    order = sorted(range(len(units)), key=lambda u: (-(units[u][3] + float(cosine[u])), u))
    return [Ranked(units[u][0], units[u][1], float(cosine[u])) for u in order]
