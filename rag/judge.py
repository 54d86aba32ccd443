"""The judge asked again, about an answer: whether the sentences it cites state what was asked.

The model's own verdict (its first word, YES or NO, weighed as P(YES); rag.generate) is read
over excerpts of several passages before it has written anything, and says YES to the family
price when only the adult price is given. So once an answer is written and verified, the same
model is asked a second, short question: shown only the question and the sentences the answer
rests on, each under its document's title, with an instruction and worked examples of its own
(rag.prompt.CHECK_PROMPT), does the text state the exact thing asked for? Its P(YES) is
averaged with the verdict's in log-odds, or stands alone for a quote (checked_score; README,
The judge).

The check reads a table's neighbouring cell as the answer at times (the 6-day price for a 7-day
hire). So a value the question names must also be one the cited documents give
(unstated_values), as every number of the answer must be one its sources give (rag.cite).
"""

from __future__ import annotations

import math

from rag.cite import is_quote
from rag.generate import ChatModel, Verdict
from rag.prompt import check_messages
from rag.schema import Citation, Hit
from rag.text import number_value, numbers, ranges, with_digits


def check_answer(llm: ChatModel, question: str, hits: list[Hit], citations: list[Citation]) -> float:
    """The LLM's P(YES) that the cited sentences, shown alone under their documents' titles,
    state what the question asks for. An answer resting on a near miss (the adult price cited
    for a child's) reads as one there."""
    cited = [(hits[c.n - 1].chunk.title, c.quote) for c in citations]
    stream = llm.stream_answer(check_messages(question, cited), 1, 0.0)
    try:
        verdict = next(p for p in stream if isinstance(p, Verdict))
    finally:
        stream.close()
    return verdict.p_yes


def log_odds(p: float) -> float:
    """The log-odds of a probability, kept finite at 0 and 1."""
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def mean_log_odds(p: float, q: float) -> float:
    """Two probabilities averaged in log-odds: how the app weighs its two readings of an answer
    (the verdict's P(YES) and the check's)."""
    return 1.0 / (1.0 + math.exp(-(log_odds(p) + log_odds(q)) / 2))


def checked_score(p_yes: float, p_cited: float, answer: str) -> float:
    """What a checked answer is held to (against RAG_CHECK_THRESHOLD). The model's own answer:
    the verdict and the check averaged in log-odds, since each ranks answers better with the
    other beside it. A quote, given when none of the model's sentences survived: the check
    alone, since the verdict judged excerpts the model could not answer from (README, The judge)."""
    return p_cited if is_quote(answer) else mean_log_odds(p_yes, p_cited)


def _written_values(text: str) -> set[str]:
    """The numbers of text as rag.text.numbers writes them, and each part of a hyphenated one
    ("45-minute" gives 45)."""
    return {part for value in numbers(text) for part in (value, *value.split("-"))
            if any(ch.isdigit() for ch in part)}


def _values(text: str) -> set[str]:
    """_written_values, numbers in words read as digits."""
    return _written_values(with_digits(text))


def unstated_values(question: str, hits: list[Hit], citations: list[Citation]) -> set[str]:
    """The numbers the question names in digits that the cited documents do not give: no retrieved
    passage of theirs, nor their titles, holds one as a number or inside a range it gives
    ("10-15 miles", "up to 5"). An answer resting on them is about another value (the
    6-day price, asked for 7 days; last year's figure, asked for the year before)."""
    cited = {c.source for c in citations}
    # each title once, though several of a document's passages were retrieved
    texts = list(dict.fromkeys(t for h in hits if h.chunk.source in cited for t in (h.chunk.title, h.chunk.text)))
    given = {v.casefold() for v in set().union(*map(_values, texts))}  # "m3" is the "M3" of "VOXA M3"
    spans = [(low, high) for text in texts for low, high, _ in ranges(text)]

    def within(value: str) -> bool:
        number = number_value(value)  # None for a code such as "4B"
        return number is not None and any(low <= number <= high for low, high in spans)

    # Only numbers written as digits: a number in words is a count of what is asked as often
    # as a value ("at what two times", "the two doses"), and as a value it never caught an
    # unanswerable question of the read sets (docs/trust.md item 26).
    asked = {part for part in _written_values(question) if "-" not in part}
    return {v for v in asked if v.casefold() not in given and not within(v)}
