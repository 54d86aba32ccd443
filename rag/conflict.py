"""Sources that disagree: when another document gives a different value for what was asked,
the answer says so and cites both, instead of silently picking one.

After an answer is checked, each other retrieved document (up to MAX_RIVALS, best ranked
first; copies of a cited file do not count) is asked the same question on its own: the
standard prompt showing only that document's sentences nearest the question. When the
model's verdict says they answer too (a reply that begins with neither YES nor NO, as a
server's may, is no verdict), the first answer states a number or name (rag.cite's grounding
check) that the other document's passages do not hold, and the other answer states one that
its own passages hold but the sentences the first answer rests on do not, the two disagree, and
the answer says so, quoting the sentence each rests on, provided the model, asked again about
the other document's sentence alone (rag.judge.check_answer), reads it as answering the
question (not a value for a neighbouring one: the balance's due date for the course's end).
Numbers written in words count as their digits ("six minutes" is 6). An answer that states no
number or name ("bright yellow") is compared the same way on its words beyond the question,
with another answer that states none either. A value inside a range the other answer gives
("about 18 weeks" against "between 16 and 20 weeks", "four of us" against "up to five") is no
disagreement.

So the model reads, and no rule looks at how the question is worded: the facts compared are
the ones the two answers state, against the passages they came from. A document whose answer
adds a detail the first passage lacks, but not the other way round, is not a disagreement.
The trade-off: a short extra prompt (the fixed instruction is already in llama.cpp's cache)
for an answer when another document's passages lack one of its facts; most such documents
are about something else, and the model's first token (NO) ends that check. Measured on
tests/data/contradictions: README.md, "Sources that disagree".
"""

from __future__ import annotations

import logging

from rag.cite import MARKER, citation_for, says_unknown, unsupported_facts
from rag.generate import ChatModel, Verdict
from rag.judge import check_answer
from rag.prompt import build_prompt, select_excerpts
from rag.ranking import Ranked
from rag.schema import Citation, Hit
from rag.text import STOPWORDS, known_forms, names, number_value, numbers, ranges, stem, with_digits, words

PREFIX = 5  # "Belarusian" is in a passage that says "Belarus": a name's first letters suffice (chosen on tune.jsonl, not swept)

log = logging.getLogger(__name__)

# "may": on documents that overlap without contradicting, about half the notes are false alarms
# (README, "Sources that disagree"); the note quotes both sentences, for the reader to judge.
DISAGREE = "The sources may disagree"
MAX_RIVALS = 2  # other documents asked, at most: each costs a short prompt
# Least P(YES) for another document's own answer (a short excerpt alone reads less certain),
# and for the sentence its value rests on, judged again (rag.judge): the second does most of
# the work, telling the value for a neighbouring question from a contradiction. Chosen together
# on every read set (contradictions tune, test to test10; false alarms fa_tune to fa_test3 and
# dev) as the most named contradictions less false alarms, then tested blind on test11 and
# fa_test4 (README, Sources that disagree). Before: 0.6 and no second reading.
RIVAL_THRESHOLD = 0.3
RIVAL_CHECK_THRESHOLD = 0.6
RIVAL_TOKENS = 24  # a short answer: a few words
MAX_VALUE_WORDS = 3  # a value that is neither number nor name, "bright orange": a few words, not a sentence
RIVAL_PASSAGE_TOKENS = 160  # another document's sentences nearest the question, at most (about 1.5 s to read)
SHORT_ANSWER = "After YES, give only the short answer, in a few words."


def rival_documents(citations: list[Citation], hits: list[Hit]) -> list[list[int]]:
    """The retrieved documents other than the cited ones (or their copies), each as the
    numbers of its retrieved passages, the document of the best ranked passage first."""
    taken = {c.source for c in citations} | {s for c in citations for s in hits[c.n - 1].also}
    documents: dict[str, list[int]] = {}
    for n, hit in enumerate(hits, start=1):
        if hit.chunk.source not in taken:
            documents.setdefault(hit.chunk.source, []).append(n)
    return list(documents.values())[:MAX_RIVALS]


def answer_from(llm: ChatModel, question: str, hits: list[Hit], excerpts: dict[int, str]) -> str | None:
    """The model's short answer from one document's excerpts alone, or None when its verdict
    is that they do not answer."""
    prompt = build_prompt(question, hits, llm.n_ctx, RIVAL_TOKENS, llm.count_tokens, excerpts)
    *fixed, user = prompt.messages  # the same instruction and examples as the answer's: reused
    messages = [*fixed, {**user, "content": f"{user['content']}\n{SHORT_ANSWER}"}]
    stream = llm.stream_answer(messages, RIVAL_TOKENS, 0.0)
    reply = ""
    try:
        for piece in stream:
            if isinstance(piece, Verdict):
                log.info("passages %s alone: P(YES) %.3f", sorted(excerpts), piece.p_yes)
                if not piece.said or piece.p_yes < RIVAL_THRESHOLD:
                    return None  # no answer, or a reply that is no verdict (a server's "The excerpt…")
                continue
            reply += piece
    finally:
        stream.close()
    reply = MARKER.sub("", reply).strip()
    return None if not reply or says_unknown(reply) else reply


def as_fragment(reply: str, passage: str) -> str:
    """A short answer read as the fragment it is: "Astana." is no sentence, and rag.text.names
    skips a sentence's first word, so a first word its passage writes as a name mid-sentence
    is put where it counts as one (a first word such as "Approximately" stays skipped)."""
    first = words(reply)[:1]
    return f"It is {reply}" if first and first[0].lower() in names(passage) else reply


def _known(passage: str, question: str) -> tuple[set[str], set[str]]:
    """The word forms of passage and question, and their first PREFIX letters."""
    known = known_forms(f"{passage} {question}")
    return known, {form[:PREFIX] for form in known if len(form) >= PREFIX}


def facts_missing(text: str, passage: str, question: str) -> set[str]:
    """The numbers and names of text that neither passage nor question holds (rag.cite),
    numbers written in words read as digits, names matched on their first letters."""
    text, passage, question = with_digits(text), with_digits(passage), with_digits(question)
    missing = unsupported_facts(text, passage, question)
    if not missing:
        return missing
    _, prefixes = _known(passage, question)
    counted = numbers(text)
    return {f for f in missing if f in counted or f[:PREFIX] not in prefixes}


def words_missing(text: str, passage: str, question: str) -> set[str]:
    """The words of text (no stopwords, no numbers) that neither passage nor question holds, by
    stem or first letters: how a value that is neither a number nor a name (a colour, a
    material, "display refrigerator") is compared."""
    known, prefixes = _known(passage, question)
    lowered = (w.lower() for w in words(text))
    return {w for w in lowered if w not in STOPWORDS and not any(ch.isdigit() for ch in w)
            and w not in known and stem(w) not in known and w[:PREFIX] not in prefixes}


def states_fact(text: str, question: str) -> bool:
    """Whether text states a number or a name beyond the question's (numbers in words count)."""
    return bool(unsupported_facts(with_digits(text), "", question))


def missing_in(text: str, passage: str, question: str, descriptive: bool) -> set[str]:
    """What of text passage and question lack: its numbers and names, or its words where the
    answer states neither (descriptive)."""
    return words_missing(text, passage, question) if descriptive else facts_missing(text, passage, question)


def inside_range(points: set[str], ends: set[str], ranged: str, pointed: str) -> bool:
    """Whether one answer (ranged) gives a range, "between 16 and 20 weeks" or "up to five",
    whose ends are all its facts the other side lacks (ends), and the other answer's (pointed)
    differing facts (points) are numbers inside it: "about 18 weeks" is consistent with
    16 to 20, and "four of us" with up to five. A point that is itself the end of a range the
    other answer gives ("up to 45" against "up to 60") still differs."""
    values = [number_value(p) for p in points]
    if not ends or not values or None in values or any(points & e for *_, e in ranges(pointed)):
        return False
    return any(ends <= range_ends and all(low <= v <= high for v in values)
               for low, high, range_ends in ranges(ranged))


def sentence_with(hits: list[Hit], passages: list[int], facts: set[str]) -> tuple[int, int] | None:
    """The passage and sentence, of the given passages, that hold the most of facts (the
    first, of equals)."""
    best, held = None, 0
    for n in passages:
        chunk = hits[n - 1].chunk
        for i, (_, _, start, end) in enumerate(chunk.sentence_spans()):
            sentence = with_digits(chunk.text[start:end])
            forms = numbers(sentence) | known_forms(sentence)  # known_forms holds each word's stem
            count = sum(1 for f in facts if f in forms or stem(f) in forms)
            if count > held:
                best, held = (n, i), count
    return best


def disagreement(llm: ChatModel, question: str, answer: str, citations: list[Citation],
                 ranked: list[Ranked], hits: list[Hit]) -> tuple[Citation, Citation] | None:
    """The cited sentence and another document's sentence that answer the question differently."""
    if not citations:
        return None
    cited = list(dict.fromkeys(c.n for c in citations))  # each passage once (two sentences may be cited)
    cited_text = " ".join(hits[n - 1].chunk.text for n in cited)
    quotes = " ".join(c.quote for c in citations)  # the sentences the answer rests on
    stated = as_fragment(MARKER.sub("", answer), cited_text)
    # An answer that states no number or name (a colour, a material) is compared on its
    # words, and then only with another answer that states none either: "half an hour" and
    # "30 minutes" are one value in other words.
    descriptive = not states_fact(stated, question)
    for document in rival_documents(citations, hits):
        passage = " ".join(hits[n - 1].chunk.text for n in document)
        lacking = missing_in(stated, passage, question, descriptive)
        if not lacking or (descriptive and len(lacking) > MAX_VALUE_WORDS):
            log.info("passages %s hold every %s of the answer", document, "word" if descriptive else "fact")
            continue  # nothing to disagree on
        # What the document shows: its own sentences nearest the question, not the answer's
        # excerpt of it, where it may have had room for one sentence only.
        excerpts = select_excerpts(hits, [(r.n, r.sentence, r.score) for r in ranked if r.n in document],
                                   RIVAL_PASSAGE_TOKENS, llm.count_tokens)
        other = answer_from(llm, question, hits, excerpts) if excerpts else None
        if other is None:
            continue
        # Its facts that the sentences the answer rests on lack (the cited passages may hold
        # the same number elsewhere, for something else), and that its own passages hold (a
        # value the model made up is no source's).
        fragment = as_fragment(other, passage)
        if descriptive and states_fact(fragment, question):
            continue  # a number or a name against words: no comparison of like with like
        differs = (missing_in(fragment, quotes, question, descriptive)
                   - missing_in(fragment, passage, question, descriptive))
        log.info("passages %s answer %r; their own facts the cited sentences lack: %s", document, other, differs)
        if inside_range(differs, lacking, stated, fragment) or inside_range(lacking, differs, fragment, stated):
            log.info("passages %s give a value inside the other's range", document)
            continue
        theirs = sentence_with(hits, document, differs)
        if theirs is None:
            continue
        their = citation_for(theirs[0], hits[theirs[0] - 1], theirs[1])
        # The judge asked again (rag.judge), about the sentence the other value rests on: the
        # value for a neighbouring question (the balance's due date asked when the course ends)
        # reads as a near miss there, as it does for an answer.
        p_theirs = check_answer(llm, question, hits, [their])
        log.info("passages %s: %s asked again about its sentence: P(YES) %.3f", document, their.source, p_theirs)
        if p_theirs < RIVAL_CHECK_THRESHOLD:
            continue
        ours = sentence_with(hits, cited, lacking)
        mine = citations[0] if ours is None else citation_for(ours[0], hits[ours[0] - 1], ours[1])
        return mine, their
    return None


def quoted(citation: Citation) -> str:
    """A cited sentence as a quote with its marker."""
    return "“" + citation.quote.strip("“”\"") + f"” [{citation.n}]"


def note_disagreement(llm: ChatModel, question: str, text: str, citations: list[Citation],
                      ranked: list[Ranked], hits: list[Hit]) -> tuple[str, list[Citation]]:
    """The answer, with a note quoting both sides when another document disagrees. ranked:
    every sentence of the hits, nearest the question first (rag.ranking.rank_sentences)."""
    found = disagreement(llm, question, text, citations, ranked, hits)
    if found is None:
        return text, citations
    mine, theirs = found
    note = f"{DISAGREE}: {quoted(mine)}, but {quoted(theirs)}."
    quoted_now = [mine] if mine not in citations else []  # another sentence of a cited passage
    return f"{text} {note}", sorted([*citations, *quoted_now, theirs], key=lambda c: c.n)
