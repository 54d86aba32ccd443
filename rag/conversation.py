"""Follow-up questions made standalone, by rule, before retrieval.

A follow-up like "and how many were intercepted?" names nothing to search
for: its topic is in the previous question. Asking the LLM to rewrite it would
cost seconds on a CPU, so a question that looks like a follow-up (it opens
with a connective, leans on a pronoun, or has too few words to search with)
gets the key phrases of the previous question appended in parentheses:
"How many were intercepted? (Shahed drones, Russia, launch)", at most six
phrases of four words, 160 characters in all, whatever came before. The trade-off:
a pronoun is not resolved, only given context, and a short standalone
question is widened with old terms too; retrieval ranks by all terms, and the
question's own words come first, so that costs little.
"""

from __future__ import annotations

import re

from rag.text import STOPWORDS, content_terms, stem, words

_CONNECTIVE = re.compile(r"^(?:and|but|also|so|then|or|plus)\b[\s,]*", re.IGNORECASE)
_OPENER = re.compile(r"^(?:and|but|also|so|then|or|plus|what about|how about)\b", re.IGNORECASE)
_REFERRING = frozenset("he him his she her hers it its they them their theirs these those".split())
_QUESTION_WORDS = frozenset("how what which who whom whose when where why many much".split())
_PHRASE_BREAK = re.compile(r"[^\w\s'’-]+")
MAX_PHRASES = 6
MAX_PHRASE_WORDS = 4
MAX_CARRIED_CHARS = 160  # what a follow-up carries over, however long the earlier question was


def is_follow_up(question: str) -> bool:
    """True when the question leans on an earlier one for its topic."""
    tokens = [w.lower() for w in words(question)]
    if not tokens:
        return False
    if _OPENER.match(question.strip()) or _REFERRING.intersection(tokens):
        return True
    # One searchable word or none, and no name after the first word: too little to search with.
    named = any(w[0].isupper() for w in words(question)[1:])
    return len(content_terms(question)) <= 1 and not named


def key_phrases(text: str) -> list[str]:
    """Runs of consecutive content words ("Shahed drones", "Russia"), in order."""
    phrases: list[str] = []
    for segment in _PHRASE_BREAK.split(text):
        run: list[str] = []
        for w in words(segment) + [""]:  # the empty word closes the last run
            if w and w.lower() not in STOPWORDS and w.lower() not in _QUESTION_WORDS:
                run.append(w)
            elif run:
                phrases.append(" ".join(run))
                run = []
    return phrases


def standalone_query(question: str, history: list[str]) -> str:
    """The question, with the previous question's key phrases appended if it is a follow-up.

    `history` holds the earlier questions, oldest first (their standalone forms,
    so a chain of follow-ups keeps its topic).
    """
    question = " ".join(question.split())
    if not history or not is_follow_up(question):
        return question
    own = {stem(w) for w in words(question)}
    added: list[str] = []
    for phrase in key_phrases(history[-1]):
        kept = " ".join([w for w in phrase.split() if stem(w) not in own][:MAX_PHRASE_WORDS])
        if len(added) == MAX_PHRASES:
            break
        if kept and kept not in added and len(", ".join([*added, kept])) <= MAX_CARRIED_CHARS:
            added.append(kept)
    if not added:
        return question
    core = _CONNECTIVE.sub("", question).strip() or question
    core = core[0].upper() + core[1:]
    if core[-1] not in "?.!":
        core += "?"
    return f"{core} ({', '.join(added)})"


def standalone_history(questions: list[str]) -> list[str]:
    """The standalone forms of a conversation's questions, oldest first, each follow-up
    made standalone from the ones before (the `history` standalone_query takes)."""
    history: list[str] = []
    for question in questions:
        if question.strip():
            history.append(standalone_query(question, history))
    return history
