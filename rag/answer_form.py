"""What kind of answer a question asks for, and whether an answer is of that kind.

A tiny model, and a quote of the best matching sentence, can be on topic and
still not answer: "how many civilians were killed" answered with "35 drones
were launched". These checks look at the form of question and answer only: a
number for "how many", a year for "which year", a time for "when", a name for
"who", the right unit ("what temperature" needs degrees), the thing counted
or the speaker asked about. Whether the answer is true is rag.cite's business.
"""

from __future__ import annotations

import re

from rag.text import QUESTION_FRAME, STOPWORDS, content_terms, names, numbers, split_sentences, stem, words

# Citation markers like [2], which are references, not numbers of the answer.
MARKER = re.compile(r"\[\s*(\d+(?:\s*[,;-]\s*\d+)*)\s*\]")

_EXPECTS_NUMBER = re.compile(
    r"\bhow (?:many|much|large|big|long|far|old|often|high|tall|soon|fast|deep|wide)\b|"
    r"\bwhat (?:(?:is|was|are|were) the )?(?:\w+ )?(?:share|percentage|proportion|number|amount|size|sum|rate|price|cost|"
    r"temperature|speed|distance|age|figure|toll)\b", re.IGNORECASE)
_EXPECTS_YEAR = re.compile(r"\b(?:what|which) year\b", re.IGNORECASE)
# "When ...?" asks for a time; "How were they greeted when they arrived?" does not.
_EXPECTS_TIME = re.compile(r"^\W*(?:since |until |till |by )?when\b|\bwhat (?:date|day|month|time)\b|"
                           r"\bin which month\b", re.IGNORECASE)
_EXPECTS_NAME = re.compile(r"^\s*(?:who|whom|whose)\b|\bwhat (?:is|was|are|were) (?:the |its |their |his |her )?names?\b|\b(?:where|which|what) (?:\w+ )?"
                           r"(?:city|town|country|countries|place|company|firm|supplier|manufacturer|"
                           r"brand|person|people|newspaper|journal|agency|organi[sz]ation|commander|"
                           r"ministers?|official|spokes(?:man|woman|person)|architect|engineer|author|"
                           r"writer|director|founder|chief|head|leader|mayor|governor|astronaut|name)\b|"
                           r"^\s*where\b", re.IGNORECASE)
# "On what date" wants a day: "9 August", "Aug. 9", "Monday", "2025-03-14"; a year alone is not one.
_EXPECTS_DAY = re.compile(r"\b(?:what|which) (?:date|day)\b", re.IGNORECASE)
_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|march|mar|april|apr|may|june|jun|july|jul|aug(?:ust)?|"
          r"sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
# A day of a month: "9 August", "9th of August", "Aug. 9".
_DAY_OF_MONTH = rf"\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?"
_DAY_WORDS = re.compile(rf"\b(?:{_DAY_OF_MONTH}|"
                        r"(?:mon|tues|wednes|thurs|fri|satur|sun)day|\d{4}-\d\d-\d\d|\d{1,2}/\d{1,2}/\d{2,4}|"
                        r"yesterday|today|tomorrow)\b", re.IGNORECASE)
_TIME_WORDS = re.compile(r"\b(?:\d{4}|jan(?:uary)?|feb(?:ruary)?|march|april|may|june|july|aug(?:ust)?|"
                         r"sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|monday|tuesday|"
                         r"wednesday|thursday|friday|saturday|sunday|weeks?|months?|days?|years?)\b",
                         re.IGNORECASE)
_CALENDAR = frozenset({"january", "february", "march", "april", "may", "june", "july", "august",
                       "september", "october", "november", "december", "monday", "tuesday",
                       "wednesday", "thursday", "friday", "saturday", "sunday"})
_YEAR = re.compile(r"\b(?:1[5-9]|20)\d\d\b")
_NUMBER_WORDS = re.compile(r"\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
                           r"dozens?|hundreds?|thousands?|millions?|billions?|half|twice|double)\b",
                           re.IGNORECASE)


# A number answers "what temperature" only with degrees, "what share" only as a
# share, "how much did it cost" only as money.
_UNITS = (
    (re.compile(r"\btemperatures?\b", re.IGNORECASE),
     re.compile(r"°|\bdegrees?\b|\bcelsius\b|\bfahrenheit\b", re.IGNORECASE)),
    (re.compile(r"\bwhat (?:\w+ )?(?:percentage|share|proportion|fraction)\b|\bper ?cent(?:age)?\b",
                re.IGNORECASE),
     re.compile(r"%|\bper ?cent\b|\b(?:half|third|quarter|fifth|tenth|majority|minority)\b", re.IGNORECASE)),
    (re.compile(r"\bhow much (?:money\b|.*\b(?:cost|costs|pay|paid|spend|spent|charge|charged|earn|"
                r"worth)\b)|\bwhat (?:(?:is|was|are|were) the )?(?:\w+ )?(?:price|cost|fee|salary|fine)\b"
                r"(?!\s+(?:rise|increase|change|hike|cut|"
                r"fall|drop|growth))", re.IGNORECASE),
     re.compile(r"[$£€¥₽₴]|\b(?:dollars?|euros?|pounds?|cents?|pence|r[o]?ubles?|hryvnias?|yuan|yen|francs?|chf|kron(?:a|e|or|er)|rupees?)\b",
                re.IGNORECASE)),
)


# A calendar date or a clock time: "3 March 2025", "March 3, 2025", "March 2025", "3 March", "6:12".
_DATE = re.compile(rf"\b(?:(?:{_DAY_OF_MONTH})(?:,?\s+\d{{4}})?|{_MONTH}\s+\d{{4}}|"
                   r"\d{1,2}:\d\d(?:\s*[ap]\.?m\b\.?)?|\d{1,2}\.\d\d\s*[ap]\.?m\b\.?)(?!\d)", re.IGNORECASE)


_DURATION = re.compile(r"\bhow (?:long|soon|often)\b|\bhow many (?:\w+ )?(?:days|weeks|months|years|hours)\b",
                       re.IGNORECASE)


def quantities(text: str) -> set[str]:
    """Numbers written as quantities ('1,084', '$1.5', '62%'), not codes like 'S-400' or 'AU24'."""
    return {n for n in numbers(text) if n[0].isdigit()}


def has_expected_answer(question: str, sentence: str) -> bool | None:
    """Whether sentence holds the kind of thing question asks for; None when unknown.

    A number for "how many / how long / what rate", a year for "which year", a date
    or time word for "when", a name the question does not already hold for "who".
    """
    sentence = MARKER.sub("", sentence)
    if _EXPECTS_YEAR.search(question):
        return bool(set(_YEAR.findall(sentence)) - set(_YEAR.findall(question)))
    if _EXPECTS_NUMBER.search(question):
        scale = {w.lower() for w in _NUMBER_WORDS.findall(sentence)}
        if any(asks.search(question) and not unit.search(sentence) for asks, unit in _UNITS):
            return False
        # A date or a clock time counts nothing, unless the question asks how long.
        counted = sentence if _DURATION.search(question) else _DATE.sub(" ", sentence)
        return bool(quantities(counted) - numbers(question)) or bool(
            scale - {w.lower() for w in _NUMBER_WORDS.findall(question)})
    if _EXPECTS_DAY.search(question):
        return bool(_DAY_WORDS.search(sentence))
    if _EXPECTS_TIME.search(question):
        return bool(_TIME_WORDS.search(sentence))
    if _EXPECTS_NAME.search(question):
        return bool(names(sentence) - {w.lower() for w in words(question)} - _CALENDAR)
    return None


_HOW_MANY = re.compile(r"\bhow many\s+(?:of\s+(?:the|these|those|its|their)\s+)?(.*)", re.IGNORECASE)
_PHRASE_END = frozenset({"did", "do", "does", "had", "have", "has", "were", "was", "is", "are", "will",
                         "would", "could", "can", "should", "might", "in", "on", "at", "to", "for",
                         "from", "by", "with", "of", "that", "who", "which"})


_IRREGULAR_PLURALS = frozenset({"people", "children", "men", "women", "police", "personnel", "staff",
                                "cattle", "sheep", "fish", "deer", "crew", "aircraft"})


def counted_thing(question: str) -> str | None:
    """What a "how many" question counts: 'How many Ural military trucks did ...' -> 'trucks'."""
    m = _HOW_MANY.search(question)
    if not m:
        return None
    phrase = []
    for w in words(m.group(1)):
        if w.lower() in _PHRASE_END:
            break
        phrase.append(w)
    plural = [w for w in phrase if len(w) > 3 and w.lower().endswith("s")]
    irregular = [w for w in phrase if w.lower() in _IRREGULAR_PLURALS]
    return (plural or irregular or phrase or [None])[0]


_ROLE = re.compile(r"\bname of (?:the |an? )?(.*)|^\W*who (?:is|was|are|were) (?:the |an? )(.*)", re.IGNORECASE)


# Words that end a role's noun phrase: "the astronaut due to fly", "the official set to attend".
_POSTMODIFIERS = frozenset({"due", "set", "likely", "able", "about", "whose", "when", "where"})
_WHICH = re.compile(r"^\W*which (.*)", re.IGNORECASE)


# A byline ("By Jane Roe") names the author without the word "author".
_BYLINE_ROLES = frozenset({"author", "authors", "writer", "writers", "reporter", "reporters", "journalist"})


def named_role(question: str) -> str | None:
    """Who a name question asks for: 'the name of Velomara's chief executive' -> 'executive',
    'Which architect at Dunmore & Salk led the team?' -> 'architect'."""
    m = _ROLE.search(question)
    which = _WHICH.search(question) if _EXPECTS_NAME.search(question) else None
    if not m and not which:
        return None
    phrase = []
    for w in words((m.group(1) or m.group(2)) if m else which.group(1)):
        if w.lower() in _PHRASE_END | _POSTMODIFIERS or w.lower().endswith(("ed", "ing")):
            break
        phrase.append(w)
    head = phrase[-1].lower() if phrase else ""
    return head if len(head) > 2 and head not in STOPWORDS | QUESTION_FRAME | _BYLINE_ROLES else None


def asked_about(question: str) -> str | None:
    """The thing a question counts ("how many civilians") or the role it asks to name."""
    return counted_thing(question) or named_role(question)


_SPEAKER = re.compile(r"\b(?:what|how) (?:did|does|do|has|have|had|will|would) (.+?) (?:say|said|tell|"
                      r"call|describe|claim|announce|write|warn|mean|promise|predict)\b", re.IGNORECASE)


def focus_terms(question: str) -> set[str]:
    """Terms an answer must speak of: a code the question names ("the BK-180": the
    BK-170's price is no answer), the thing counted ("how many civilians") or the
    speaker ("what did Armenia's prime minister say"). Not the thing measured: "3.5%
    interest" answers "what interest rate" without the word "rate"."""
    codes = {stem(n) for n in names(question) if any(ch.isdigit() for ch in n)}
    thing = asked_about(question)
    if thing:
        return codes | {stem(thing)}
    m = _SPEAKER.search(question)
    # A speaker is a short name ("Peskov", "Armenia's prime minister"), not a clause
    # ("Peskov respond to Tikhanovskaya's" in "how did Peskov respond to her claim").
    speaker = words(m.group(1)) if m else []
    if not speaker or len(speaker) > 4 or any(w.lower() in STOPWORDS - {"the"} for w in speaker):
        return codes
    return codes | set(content_terms(m.group(1)))


def answers_question(question: str, answer: str, context: str = "") -> bool:
    """False when an answer cannot be what the question asks for.

    It must hold the kind of thing asked (see has_expected_answer), and it or its
    context (the passages it cites: "intercepted 30 of them" counts the drones of
    the sentence before) must speak of the question's focus (see focus_terms):
    "35 drones were launched" does not say how many civilians were killed. The
    numbers the question is pinned to ("in 2020", "the $1.5 billion loan") must be
    there too, or the answer is about another year or another thing. Where the answer
    itself speaks of the thing counted or the role named, the number or name must sit
    with it (see bound_to_focus). A check of form, not of truth; truth is the
    verifier's (rag.cite).
    """
    if has_expected_answer(question, answer) is False or not bound_to_focus(question, answer):
        return False
    said = MARKER.sub("", f"{answer} {context}")
    return focus_terms(question) <= set(content_terms(said)) and numbers(question) <= numbers(said)


# A sentence saying the thing asked is not known or not given: "the trust has been unable to
# establish which architect drew the plans", "the beekeeper, who asked not to be named".
_UNDISCLOSED = re.compile(r"\b(?:not|never) (?:been |be )?(?:named|identified|disclosed|revealed|made public|known)\b|"
                          r"\bunable to (?:establish|determine|identify|confirm|say)\b|"
                          r"\b(?:declined|refused) to (?:name|identify|disclose|reveal|say)\b|"
                          r"\b(?:would|did|could) not (?:name|identify|disclose|reveal|say)\b|"
                          r"\b(?:unknown|undisclosed|unnamed)\b", re.IGNORECASE)


def bound_to_focus(question: str, answer: str) -> bool:
    """False when the answer's sentences about the question's focus lack what was asked.

    "He confirmed plans for the flight of a Belarusian astronaut in 2023" holds no
    astronaut's name, though the sentence before names Putin; "passenger trains
    returned on 3 March" counts no passengers, though another sentence counts 1,200
    trees. The sentence about the focus, or the one after it ("Russia launched a
    wave of drones. Air defences intercepted 30 of them."), must hold the answer, and
    must not say that it is not known. An answer that never names the focus is left to
    the context check.
    """
    thing = asked_about(question)
    if not thing:
        return True
    text = MARKER.sub("", answer)
    sentences = [text[s:e] for s, e in split_sentences(text)]
    about = [i for i, sentence in enumerate(sentences) if stem(thing) in content_terms(sentence)]
    if any(_UNDISCLOSED.search(sentences[i]) for i in about):
        return False  # the documents say they do not know
    return not about or any(has_expected_answer(question, " ".join(sentences[i:i + 2])) is not False
                            for i in about)
