"""Which retrieved sentences the model is shown: every passage sentence ranked by its
embedding similarity to the question.

The ranking chooses what the model reads, and what its answer may rest on; whether those
sentences answer the question is the model's verdict (rag.generate.Verdict), not the
ranking's. Only a question whose best sentence is far from it in meaning is refused here,
before the model is asked: MIN_SIMILARITY refuses 0.3% of the answerable questions of the
judge data's train and tune splits (written documents) and 1.1% (CLAPnq), see train/README.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from embeddings.encoder import Encoder
from rag.schema import Hit

MIN_SIMILARITY = 0.25


@dataclass(frozen=True)
class Ranked:
    """One passage sentence: passage n (1-based), sentence index, cosine to the question."""

    n: int
    sentence: int
    score: float


def is_heading(sentence: str, title: str) -> bool:
    """True for the article's title line or a markdown heading: labels, not answers."""
    return sentence == title or sentence.startswith("#") or sentence.lstrip("# ") == title


def rank_sentences(question: str, hits: list[Hit], encoder: Encoder) -> list[Ranked]:
    """Every sentence of the passages, most similar to the question first. A sentence that
    neighbouring passages share is ranked once, in the better passage."""
    units, seen = [], set()
    for n, hit in enumerate(hits, start=1):
        for i, (start, _, ts, te) in enumerate(hit.chunk.sentence_spans()):
            text = hit.chunk.text[ts:te]
            if (hit.chunk.source, start) in seen or is_heading(text, hit.chunk.title):
                continue
            seen.add((hit.chunk.source, start))
            units.append((n, i, text))
    if not units:
        return []
    vectors = encoder.encode([question] + [text for *_, text in units])
    ranked = [Ranked(n, i, float(c)) for (n, i, _), c in zip(units, vectors[1:] @ vectors[0])]
    return sorted(ranked, key=lambda r: (-r.score, r.n, r.sentence))
