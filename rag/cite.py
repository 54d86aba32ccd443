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
from collections.abc import Callable
from dataclasses import dataclass


from embeddings.encoder import Encoder
from rag.answer_form import (MARKER, asks_for_name, focus_terms, has_expected_answer, mentions, named_role,
                              names_of_others, places_and_bodies, role_of_another, role_rank)
from rag.schema import Citation, Hit
from rag.text import (NUMBER_NAMES, content_terms, known_forms, names, numbers, question_terms, split_sentences,
                      stem, words)

_REFUSAL = re.compile(
    r"\b(i don'?t know|i do not know|(?:do|does) not (?:contain|mention|say|provide)|"
    r"no (?:information|mention)|not (?:mentioned|stated|specified)|cannot (?:answer|determine))\b",
    re.IGNORECASE)

# A sentence counts as supported when every number and name in it occurs in the
# passage, most of its content words occur in one passage sentence, and it is
# close to that sentence in embedding space. Embedding similarity alone is not
# enough: "Russia used Belarus to attack its neighbours" is close to "Russia
# used Belarus as a launching pad" and says something else.
MIN_OVERLAP = 0.5
MIN_COMBINED = 0.6
# Words a model uses to talk about the passages rather than about the world.
_META = frozenset({"passag", "document", "text", "articl", "mention", "answer", "state",
                   "provid", "inform", "also", "accord"})


@dataclass(frozen=True)
class Claim:
    """One sentence of the model's answer, without its markers."""

    text: str
    cited: tuple[int, ...]  # passage numbers the model wrote after it


@dataclass(frozen=True)
class Support:
    """The best evidence for a claim: passage number, sentence index and score."""

    n: int
    sentence: int
    score: float


def parse_claims(answer: str) -> list[Claim]:
    """Split an answer into sentences and the [n] markers each carries."""
    claims = []
    for s, e in split_sentences(answer):
        sentence = answer[s:e]
        cited: list[int] = []
        for m in MARKER.finditer(sentence):
            for part in re.split(r"\s*[,;]\s*", m.group(1)):
                lo, _, hi = part.partition("-")
                lo_i, hi_i = int(lo), int(hi or lo)
                cited.extend(range(lo_i, min(hi_i, lo_i + 10) + 1))
        text = MARKER.sub("", sentence)
        text = re.sub(r"\s+([.,;:!?])", r"\1", re.sub(r"\s{2,}", " ", text)).strip()
        if words(text):
            claims.append(Claim(text, tuple(dict.fromkeys(cited))))
    return claims


def says_unknown(answer: str) -> bool:
    """True when the model's answer says it does not know."""
    return bool(_REFUSAL.search(answer))


def lexical_overlap(claim: str, evidence: str, given: set[str] = frozenset()) -> float:
    """Share of the claim's content words that the evidence also has.

    Words in `given` (the question's) are left out when the claim has others: a
    sentence that restates the question is judged on what it adds to it.
    """
    terms = set(content_terms(claim)) - _META
    terms = (terms - given) or terms
    if not terms:
        return 0.0
    return len(terms & set(content_terms(evidence))) / len(terms)


def unsupported_facts(claim: str, evidence: str, question: str) -> set[str]:
    """Numbers and names in claim that neither the evidence nor the question contains."""
    known = numbers(evidence) | numbers(question)
    known_words = known_forms(evidence + " " + question)
    missing = {n for n in numbers(claim) if n not in known}
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


def speaks_of_question_names(claim: str, question: str, hit: Hit, first: int, last: int,
                             article: str = "") -> bool:
    """True when claim names something the question names, or passage sentences
    first..last do, with the sentence before them and the article's title (what "it",
    "he" or "the company" in them may refer to), or `article`: text of the same article.
    A claim that names others in full counts the article only when a name is what was
    asked: "Greenfold Catering ... won a contract worth £14.2 million" does not value
    Brightplate's contract, though the article names Brightplate elsewhere.

    "Anand Raveley." or "Its chief executive is Anand Raveley." answering "What is the
    name of Velomara Mobility's chief executive?" says "Velomara Mobility's chief
    executive is Anand Raveley": a passage sentence holding the name is support only if
    it speaks of Velomara too, not of another firm's chief.
    """
    asked = {stem(n) for n in names(question)}
    if not asked or asked & known_forms(claim):
        return True
    if not asks_for_name(question) and names_of_others(claim, question):
        article = ""
    spans = hit.chunk.sentence_spans()
    start = spans[max(0, first - 1)][2]
    return bool(asked & known_forms(f"{hit.chunk.title} {hit.chunk.text[start:spans[last][3]]} {article}"))


def gives_role(question: str, text: str, aliases: frozenset[str] = frozenset()) -> bool:
    """Whether text speaks of the role the question asks for (or its alias), at its rank ("the
    deputy mayor"), and not only as another body's ("chairman of the Danish Dairy Farmers' Union")."""
    role, rank = named_role(question), role_rank(question)
    return (any(mentions(r, text) for r in (role or "", *aliases)) and (not rank or mentions(rank, text))
            and not role_of_another(question, text))


def names_near_role(question: str, text: str, aliases: frozenset[str] = frozenset()) -> set[str]:
    """The names in text that stand next to a mention of the role asked for ("Kremlin spokesman
    Dmitry Peskov", "Lars Berg, the plant's chief engineer"), not elsewhere in the sentence:
    in "HSE inspector Marcus Tindall said staff had warned a site supervisor" no supervisor
    is named."""
    roles = (named_role(question) or "", *aliases)
    tokens = words(text)
    candidates = names(text) - {w.lower() for w in words(question)} - places_and_bodies(text)
    near = set()
    for i, w in enumerate(tokens):
        if any(mentions(r, w) for r in roles):
            near |= {t.lower() for t in tokens[max(0, i - 4):i + 7]} & candidates
    return near


def names_the_holder(question: str, text: str, hits: list[Hit], source: str,
                     aliases: frozenset[str] = frozenset()) -> bool:
    """Whether a retrieved sentence gives the role asked for to someone text names: of the same
    article (source), or of another one when it names them in full ("Ukrainian joint forces
    Cmdr. Serhiy Nayev" for "Lieutenant General Serhiy Nayev")."""
    named = names(text) - {w.lower() for w in words(question)}
    for h in hits:
        needed = 1 if h.chunk.source == source else 2
        for *_, a, b in h.chunk.sentence_spans():
            sentence = h.chunk.text[a:b]
            near = names_near_role(question, sentence, aliases)
            if len(named & near) >= needed and gives_role(question, sentence, aliases):
                return True
    return False


def holds_the_role(question: str, quote: str, hits: list[Hit], source: str,
                   aliases: frozenset[str] = frozenset()) -> bool:
    """For "the name of the plant's chief engineer": whether the quote names someone next to a
    mention of that role, or someone whom a retrieved sentence gives that role ("Peskov said
    ..." with "Kremlin spokesman Dmitry Peskov" elsewhere). The contractor named in the
    sentence after "the plant's chief engineer" is no engineer."""
    if not named_role(question):
        return True
    return ((gives_role(question, quote, aliases) and bool(names_near_role(question, quote, aliases)))
            or names_the_holder(question, quote, hits, source, aliases))


class Verifier:
    """Matches claims to passage sentences; holds the encoder for similarity."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder

    def supports(self, claims: list[Claim], hits: list[Hit], question: str) -> list[Support | None]:
        """For each claim, its best supporting passage sentence, or None."""
        if not claims or not hits:
            return [None] * len(claims)
        units = [(n, i, hit.chunk.text[ts:te])
                 for n, hit in enumerate(hits, start=1)
                 for i, (_, _, ts, te) in enumerate(hit.chunk.sentence_spans())]
        vecs = self.encoder.encode([c.text for c in claims] + [u[2] for u in units])
        given = set(content_terms(question))
        cosine = vecs[: len(claims)] @ vecs[len(claims):].T
        results: list[Support | None] = []
        for ci, claim in enumerate(claims):
            best: Support | None = None
            for ui, (n, i, text) in enumerate(units):
                if (unsupported_facts(claim.text, hits[n - 1].chunk.text, question)
                        or drops_qualifier(claim.text, text) or misbinds_numbers(claim.text, text)
                        or not speaks_of_question_names(claim.text, question, hits[n - 1], i, i)):
                    continue
                overlap = lexical_overlap(claim.text, text, given)
                cos = float(cosine[ci, ui])
                score = 0.5 * overlap + 0.5 * cos
                if overlap < MIN_OVERLAP or score < MIN_COMBINED:
                    continue
                # The model's own citation wins ties: it read that passage.
                score += 0.02 if n in claim.cited else 0.0
                if best is None or score > best.score:
                    best = Support(n, i, score)
            results.append(best)
        return results


def citation_for(n: int, hit: Hit, sentence: int, last: int | None = None) -> Citation:
    """A citation of passage n pointing at its sentences `sentence`..`last` (inclusive).

    A passage never crosses a PDF page break, so its page is the quote's page.
    """
    spans = hit.chunk.sentence_spans()
    fs, _, ts, _ = spans[sentence]
    _, fe, _, te = spans[sentence if last is None else last]
    return Citation(n=n, source=hit.chunk.source, chunk_id=hit.chunk.chunk_id,
                    start=fs, end=fe, quote=hit.chunk.text[ts:te], page=hit.chunk.page)


MAX_QUOTE_WORDS = 55


def is_heading(sentence: str, title: str) -> bool:
    """True for the article's title line or a markdown heading: labels, not answers."""
    return sentence == title or sentence.startswith("#") or sentence.lstrip("# ") == title


def quote_span(question: str, hit: Hit, sentence: int, idf: dict[str, float]) -> tuple[int, int]:
    """The sentence, joined by a neighbour when that neighbour holds question terms it lacks.

    News writing spreads one fact over two sentences ("...after a renovation."
    "The project cost £18.4 million."); quoting both keeps the answer whole.
    """
    spans = hit.chunk.sentence_spans()
    texts = [hit.chunk.text[ts:te] for _, _, ts, te in spans]
    q_terms = question_terms(question)
    total = sum(idf.get(t, 1.0) for t in q_terms) or 1.0
    have = set(content_terms(texts[sentence]))
    best, gain = (sentence, sentence), 0.0
    for j in (sentence - 1, sentence + 1):
        if not 0 <= j < len(texts) or is_heading(texts[j], hit.chunk.title):
            continue
        if len(texts[j].split()) + len(texts[sentence].split()) > MAX_QUOTE_WORDS:
            continue
        added = sum(idf.get(t, 1.0) for t in (q_terms & set(content_terms(texts[j]))) - have) / total
        if added > gain:
            best, gain = (min(j, sentence), max(j, sentence)), added
    return best if gain >= 0.2 else (sentence, sentence)


def key_terms(sentence: str, question: str,
              idf: Callable[[set[str]], dict[str, float]], n: int = 4) -> set[str]:
    """The n rarest words a sentence adds to the question: where its answer lies."""
    novel = set(content_terms(sentence)) - question_terms(question)
    weights = idf(novel)
    return set(sorted(novel, key=lambda t: (-weights[t], t))[:n])


# What "it" or "the scheme" in a sentence stands for is often named in the sentence before
# ("The lido closed in 2019." "Its repair cost £3.1 million."), so the question's terms there
# count at this weight. Of the project's 280 answerable questions that pass the evidence check,
# the answering sentence ranked first for 219 without it, 227 at 0.5 and 226 at 0.7; of the 49
# of the unread sets holdout10 and holdout11, for 37 without it and 38 at 0.5.
PREVIOUS_WEIGHT = 0.5

_ASKS_AUTHOR = re.compile(r"\bwho (?:wrote|authored|reported|is the (?:author|writer|reporter))\b|"
                          r"\b(?:author|writer) of\b|\bwritten by\b", re.IGNORECASE)
_BYLINE = re.compile(r"^\W*(?:articles?\s+|written\s+|reporting\s+|text\s+)?by\b|\bauthor\s*:",
                     re.IGNORECASE)


def rank_sentences(question: str, hits: list[Hit], encoder: Encoder | None,
                   idf: dict[str, float]) -> list[tuple[int, int, float]]:
    """(passage number, sentence index, score) of passage sentences, best answer first.

    Score: half IDF-weighted coverage of the question's terms (by the sentence
    and its article's title, and at PREVIOUS_WEIGHT by the sentence before), half
    embedding similarity, plus a bonus when the sentence holds the kind of thing
    asked for (a number for "how many", a date for "when", a name for "who"). Titles and
    sentences that only restate the question are not answers.

    Without an encoder, a sentence's similarity is its passage's: a ranking that
    costs no model call (embedding 15 sentences takes about 140 ms on two cores,
    which would delay the first answer token by as much).
    """
    q_terms = question_terms(question)
    focus = focus_terms(question)
    asks_author = bool(_ASKS_AUTHOR.search(question))
    units, seen = [], set()
    for n, hit in enumerate(hits, start=1):
        spans = hit.chunk.sentence_spans()
        texts = [hit.chunk.text[ts:te] for _, _, ts, te in spans]
        terms = [set(content_terms(t)) for t in texts]
        for i, (fs, *_) in enumerate(spans):
            # Neighbouring passages share a sentence: rank it once, in the better passage.
            if (hit.chunk.source, fs) not in seen and not is_heading(texts[i], hit.chunk.title):
                units.append((n, i, texts[i], terms[i], terms[i - 1] if i else set()))
            seen.add((hit.chunk.source, fs))
    if not units:
        return []
    if encoder is None:
        cos = [hits[n - 1].dense for n, *_ in units]
    else:
        vecs = encoder.encode([question] + [u[2] for u in units])
        cos = vecs[1:] @ vecs[0]
    total = sum(idf.get(t, 1.0) for t in q_terms) or 1.0
    titles = {n: set(content_terms(hit.chunk.title)) for n, hit in enumerate(hits, start=1)}
    ranked = []
    for (n, i, text, terms, before), c in zip(units, cos):
        if not terms - q_terms:
            continue
        # Every sentence of an article is about its title's subject, so the title's terms
        # count for each of them: a lead sentence that restates the title gains nothing by
        # it ("...will leave its Mill Lane ground" is no answer to "which company is buying
        # the Mill Lane site"). At half weight for the sentences that do not restate it, the
        # answering sentence ranked first for 160 of the project's 203 answerable questions,
        # at full weight 168 (within the first three: 192 both).
        covered = sum(idf.get(t, 1.0) for t in q_terms & (terms | titles[n])) / total
        covered += PREVIOUS_WEIGHT * sum(idf.get(t, 1.0) for t in q_terms & (before - terms - titles[n])) / total
        expected = has_expected_answer(question, text)
        bonus = 0.0 if expected is None else (0.1 if expected else -0.1)
        if focus & terms:
            bonus += 0.1  # it speaks of the thing counted, the role or the speaker asked about
        if asks_author and _BYLINE.search(text):
            bonus += 0.3  # a byline answers "who wrote it" whatever the question's other words
        ranked.append((n, i, 0.5 * covered + 0.5 * float(c) + bonus))
    return sorted(ranked, key=lambda r: -r[2])


# Half a passage's rank comes from its best sentence ("The centre's founder, Gwen Aldous, who
# started the rescue in her back garden in 2004" for "who started the rescue, and in what
# year") and half from retrieval, whose score blurs a passage's sentences together. Measured on
# the project's 203 answerable questions (dev and tests/data, k=5): evidence recall 199 without
# reranking, 203 for weights 0.4 and 0.5 over twice k candidates, 202 at 0.3 and 0.6.
RERANK_WEIGHT = 0.4


def rerank(question: str, candidates: list[Hit], idf: dict[str, float], k: int) -> list[Hit]:
    """The k best of candidates, ranked by retrieval score (scaled by the best) and by their
    best sentence's score in rank_sentences without an encoder (no model call)."""
    if not candidates:
        return []
    best: dict[int, float] = {}
    for n, _, score in rank_sentences(question, candidates, None, idf):  # best first
        best.setdefault(n, score)
    top = max(h.score for h in candidates) or 1.0
    combined = [((1 - RERANK_WEIGHT) * h.score / top + RERANK_WEIGHT * best.get(n, 0.0), n)
                for n, h in enumerate(candidates, start=1)]
    return [candidates[n - 1] for _, n in sorted(combined, key=lambda c: (-c[0], c[1]))[:k]]
