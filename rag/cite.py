"""Check an answer against its passages, sentence by sentence, and cite it.

A small model cites the wrong passage, cites nothing, or states things no
passage says. So the model's markers are only a hint: each answer sentence is
matched against every sentence of every passage it was shown, by overlap of
content words plus embedding similarity, with a hard rule that every number
and name in the sentence must occur in the supporting passage (or the
question). Sentences that pass are cited with their best supporting passage
and the exact supporting sentence; sentences that fail are dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from embeddings.encoder import Encoder
from rag.schema import Citation, Hit
from rag.text import (NUMBER_NAMES, STOPWORDS, known_forms, names, numbers,
                      split_sentences, stem, words)

MARKER = re.compile(r"\[\s*(\d+(?:\s*[,;-]\s*\d+)*)\s*\]")  # [1], [1, 2], [1-3]

_REFUSAL = re.compile(
    r"\b(i don'?t know|i do not know|(?:do|does) not (?:contain|mention|say|provide)|"
    r"no (?:information|mention)|not (?:mentioned|stated|specified)|cannot (?:answer|determine))\b",
    re.IGNORECASE)

# A sentence counts as supported when every number and name in it occurs in the
# passage, most of its content words occur in one passage sentence, and it is
# close to that sentence in embedding space. Embedding similarity alone is not
# enough: "Russia used Belarus to attack its neighbours" is close to "Russia
# used Belarus as a launching pad" and says something else.
# How an answer that quotes passage sentences begins (rag.pipeline.quote_answer), where none of
# the model's own sentences survived: is_quote tells such an answer from the text alone, as
# train.sweep_threshold must from a recorded run.
QUOTE_INTRO = "The documents say: "
MIN_OVERLAP = 0.5
MIN_COMBINED = 0.6
# Words a model uses to talk about the passages rather than about the world.
_META = frozenset({"passag", "document", "text", "articl", "mention", "answer", "state",
                   "provid", "inform", "also", "accord"})


# Where one sentence of an answer joins two statements: "X is 50%, and Y runs 6 hours"; "X; Y".
_CLAUSE_BREAK = re.compile(r"\s*(?:;\s*(?:and\s+|but\s+)?|,\s*(?:and|but|while|whereas)\s+)", re.IGNORECASE)


@dataclass(frozen=True)
class Claim:
    """One sentence of the model's answer, without its markers."""

    text: str
    cited: tuple[int, ...]  # passage numbers the model wrote after it
    # Its statements, where it joins two or more: each is checked on its own when the
    # whole sentence finds no single passage sentence that supports it.
    parts: tuple[Claim, ...] = ()


@dataclass(frozen=True)
class Support:
    """The best evidence for a claim: passage number, sentence index and score; last, the
    index of the sentence after it when the claim rests on the two together."""

    n: int
    sentence: int
    score: float
    last: int | None = None


def _claim(sentence: str, cited: tuple[int, ...] = ()) -> Claim | None:
    """A sentence (or a statement within one) without its markers; None if it has no words."""
    markers: list[int] = []
    for m in MARKER.finditer(sentence):
        for part in re.split(r"\s*[,;]\s*", m.group(1)):
            lo, _, hi = part.partition("-")
            lo_i, hi_i = int(lo), int(hi or lo)
            markers.extend(range(lo_i, min(hi_i, lo_i + 10) + 1))
    text = MARKER.sub("", sentence)
    text = re.sub(r"\s+([.,;:!?])", r"\1", re.sub(r"\s{2,}", " ", text)).strip()
    return Claim(text[0].upper() + text[1:], tuple(dict.fromkeys(markers)) or cited) if words(text) else None


def parse_claims(answer: str) -> list[Claim]:
    """Split an answer into sentences and the [n] markers each carries, and each sentence
    into the statements it joins (a statement without markers takes its sentence's)."""
    claims = []
    for s, e in split_sentences(answer):
        claim = _claim(answer[s:e])
        if claim is None:
            continue
        pieces = _CLAUSE_BREAK.split(answer[s:e])
        parts = () if len(pieces) < 2 else tuple(
            p for p in (_claim(piece.strip(" ,"), claim.cited) for piece in pieces) if p is not None)
        claims.append(Claim(claim.text, claim.cited, parts if len(parts) > 1 else ()))
    return claims


def is_quote(answer: str) -> bool:
    """Whether an answer is a quote of passage sentences, not the model's own words."""
    return answer.startswith(QUOTE_INTRO)


def says_unknown(answer: str) -> bool:
    """True when the model's answer says it does not know."""
    return bool(_REFUSAL.search(answer))


_ORDINALS = {w: f"{i}{'st' if i == 1 else 'nd' if i == 2 else 'rd' if i == 3 else 'th'}" for i, w in enumerate(
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth".split(), start=1)}


def _terms(text: str) -> set[str]:
    """The content words of text, a hyphenated word as its parts ("45-minute" is 45 and
    minute, as "45 minutes" is), an ordinal in words as in digits ("first" is "1st")."""
    found = set()
    for word in words(text):
        for part in word.split("-") if "-" in word else (word,):
            part = _ORDINALS.get(part.lower(), part)
            if part and part.lower() not in STOPWORDS:
                found.add(stem(part))
    return found


def lexical_overlap(claim: str, evidence: str, given: set[str] = frozenset()) -> float:
    """Share of the claim's content words that the evidence also has, however a number or a
    hyphenated word is written (_terms).

    Words in `given` (the question's) are left out when the claim has others: a
    sentence that restates the question is judged on what it adds to it.
    """
    terms = _terms(claim) - _META
    terms = (terms - given) or terms
    if not terms:
        return 0.0
    return len(terms & _terms(evidence)) / len(terms)


def unsupported_facts(claim: str, evidence: str, question: str) -> set[str]:
    """Numbers and names in claim that neither the evidence nor the question contains. A code's
    case is no part of its value: "s7" is the "S7" of "Pulse S7"."""
    known = {n.casefold() for n in numbers(evidence) | numbers(question)}
    # "a 45-minute induction" gives 45 (a range such as "16-20" stays one value)
    known |= {part for value in known if "-" in value for part in value.split("-")
              if part.isdigit() and any(ch.isalpha() for ch in value)}
    known_words = known_forms(evidence + " " + question)
    missing = {n for n in numbers(claim) if n.casefold() not in known}
    missing |= {n for n in names(claim) if stem(n) not in known_words}
    return missing


_QUALIFIED = re.compile(
    rf"\b(\d[\d,.]*|{NUMBER_NAMES})[\s-]+(?:and[\s-]+an?[\s-]+(half|quarter)|of\s+(?:the\s+)?(\d[\d,.]*))\b",
    re.IGNORECASE)


def drops_qualifier(claim: str, evidence: str) -> bool:
    """True when claim repeats a number of evidence without what qualifies it there.

    "destroyed 60 of the 76 missiles" is not "destroyed 60 missiles", and "about two
    and a half hours" is not "about two hours": the number alone would pass every
    other check.
    """
    claim_words = {w.lower().replace(",", "") for w in words(claim)}
    for m in _QUALIFIED.finditer(evidence):
        number = m.group(1).lower().replace(",", "")
        qualifier = (m.group(2) or m.group(3)).lower().replace(",", "")
        if number in claim_words and qualifier not in claim_words:
            return True
    return False


def _number_positions(text: str) -> list[tuple[int, str]]:
    return [(i, w.replace(",", "")) for i, w in enumerate(words(text)) if w[0].isdigit()]


def _neighbour(positions: list[tuple[int, str]], i: int, after: bool) -> str | None:
    """The number nearest to position i on one side."""
    side = [(abs(j - i), v) for j, v in positions if (j > i if after else j < i)]
    return min(side)[1] if side else None


def misbinds_numbers(claim: str, evidence: str) -> bool:
    """True when claim pairs two numbers of evidence that evidence keeps apart.

    "The meadows covered 312 hectares in 2014 and 640 hectares in 2024" does not say
    "in 2024 the meadows covered 312 hectares": in the claim 2024 comes right before
    312; in the evidence nothing does. Each number's nearest neighbour in the claim,
    on the side it sits, must be its neighbour on that side in the evidence too.
    """
    said, source = _number_positions(claim), _number_positions(evidence)
    known = {v for _, v in source}
    for i, value in said:
        for after in (False, True):
            partner = _neighbour(said, i, after)
            if value not in known or partner not in known:
                continue
            if all(_neighbour(source, j, after) != partner for j, v in source if v == value):
                return True
    return False


class Verifier:
    """Matches claims to passage sentences; holds the encoder for similarity."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder

    def supports(self, claims: list[Claim], hits: list[Hit], question: str,
                 allowed: set[tuple[int, int]] | None = None) -> list[Support | None]:
        """For each claim, its best supporting passage sentence, or None. allowed: the
        (passage, sentence) pairs it may rest on (those the model was shown), where a sentence
        two overlapping passages share was shown in one of them only.

        A claim no single sentence supports may rest on two neighbouring sentences read
        together ("25 days of holiday a year, from 1 April" where the holiday year is told in
        the sentence after), both shown, and is cited with both."""
        units = [(n, i, hit.chunk.text[ts:te])
                 for n, hit in enumerate(hits, start=1)
                 for i, (_, _, ts, te) in enumerate(hit.chunk.sentence_spans())
                 if allowed is None or (n, i) in allowed]
        if not claims or not units:
            return [None] * len(claims)
        given = _terms(question)
        # Every number and name of a claim must be in the passage it rests on: checked once a
        # passage, not once a sentence (a pair can rest only where its claim is grounded).
        passages = sorted({n for n, _, _ in units})
        grounded = [{n for n in passages if not unsupported_facts(claim.text, hits[n - 1].chunk.text, question)}
                    for claim in claims]
        vecs = self.encoder.encode([c.text for c in claims] + [u[2] for u in units])
        cosine = vecs[: len(claims)] @ vecs[len(claims):].T
        results = [self._best(claim, units, cosine[ci], grounded[ci], given)
                   for ci, claim in enumerate(claims)]
        alone = [ci for ci, support in enumerate(results) if support is None and grounded[ci]]
        pairs = [(n, i, f"{text} {after}") for (n, i, text), (m, j, after) in zip(units, units[1:])
                 if m == n and j == i + 1 and any(n in grounded[ci] for ci in alone)]
        if pairs:  # embedded only when needed: most answers rest on single sentences
            vecs = self.encoder.encode([claims[ci].text for ci in alone] + [p[2] for p in pairs])
            cosine = vecs[: len(alone)] @ vecs[len(alone):].T
            for row, ci in enumerate(alone):
                pair = self._best(claims[ci], pairs, cosine[row], grounded[ci], given)
                results[ci] = pair and replace(pair, last=pair.sentence + 1)
        return results

    @staticmethod
    def _best(claim: Claim, units: list[tuple[int, int, str]], cosine, grounded: set[int],
              given: set[str]) -> Support | None:
        """The unit (passage n, first sentence i, its text) that best supports claim, or None;
        grounded: the passages holding every number and name of the claim."""
        best: Support | None = None
        for (n, i, text), cos in zip(units, cosine):
            if n not in grounded or drops_qualifier(claim.text, text) or misbinds_numbers(claim.text, text):
                continue
            overlap = lexical_overlap(claim.text, text, given)
            score = 0.5 * overlap + 0.5 * float(cos)
            if overlap < MIN_OVERLAP or score < MIN_COMBINED:
                continue
            # The model's own citation wins ties: it read that passage.
            score += 0.02 if n in claim.cited else 0.0
            if best is None or score > best.score:
                best = Support(n, i, score)
        return best


def citation_for(n: int, hit: Hit, sentence: int, last: int | None = None) -> Citation:
    """A citation of passage n pointing at its sentences `sentence`..`last` (inclusive).

    A passage never crosses a PDF page break, so its page is the quote's page.
    """
    spans = hit.chunk.sentence_spans()
    fs, _, ts, _ = spans[sentence]
    _, fe, _, te = spans[sentence if last is None else last]
    return Citation(n=n, source=hit.chunk.source, chunk_id=hit.chunk.chunk_id,
                    start=fs, end=fe, quote=hit.chunk.text[ts:te], page=hit.chunk.page, also=hit.also)
