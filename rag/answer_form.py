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

from rag.text import (NUMBER_NAMES, QUESTION_FRAME, STOPWORDS, content_terms, names, numbers, question_terms,
                      split_sentences, stem, words)

# Citation markers like [2], which are references, not numbers of the answer.
MARKER = re.compile(r"\[\s*(\d+(?:\s*[,;-]\s*\d+)*)\s*\]")

# "What will the drug cost?", "What did the new roof cost?": cost as a verb asks for money.
_WHAT_WILL_COST = r"\bwhat (?:will|would|does|do|did|could|should|might) (?:\w+ ){1,4}cost\b"
_EXPECTS_NUMBER = re.compile(
    r"\bhow (?:many|much|large|big|long|far|old|often|high|tall|soon|fast|deep|wide|warm|hot|cold)\b|"
    r"\bwhat (?:(?:is|was|are|were) the )?(?:\w+ )?(?:share|percentage|proportion|number|amount|size|sum|rate|price|cost|"
    rf"temperature|speed|distance|age|figure|toll|value)\b|{_WHAT_WILL_COST}", re.IGNORECASE)
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
_ASKS_WHERE = re.compile(r"^\W*where\b", re.IGNORECASE)
_ASKS_WHY = re.compile(r"^\W*why\b|\bwhat (?:was|is|were|are) the (?:reason|cause)\b", re.IGNORECASE)
# Words that give a reason: "because of data protection rules", "as it does not have enough facilities".
_REASON = re.compile(r"\b(?:because|due to|owing to|as a result|thanks to|in order to|so that|reasons?|caused by|"
                     r"which is why|that is why|blamed|as it|as they|since it|since they)\b", re.IGNORECASE)
# For a person's name, names of places and bodies do not count.
_ASKS_PERSON = re.compile(r"^\W*(?:who|whom|whose)\b", re.IGNORECASE)
# A capitalised word after "in", "from", "near" ... names a place: "a facility in northern Sweden".
_PLACE = re.compile(r"\b(?i:in|at|from|near|outside|across|along|throughout|around|towards?|"
                    r"(?:village|town|city|county|region|province|canton|district) of)\s+(?:the\s+)?"
                    r"(?:(?i:(?:north|south)(?:-?(?:east|west))?(?:ern)?|east(?:ern)?|west(?:ern)?|central)\s+)?"
                    r"([A-Z][\w'’-]*)")
# The last word of a name that makes it a place or a body, not a person: "St. Anne's Regional
# Medical Center", "Halvorsen & Brant Engineering", "Ashcombe Borough Council".
_INSTITUTIONS = frozenset("""
center centre hospital clinic school college university academy council committee commission authority
agency department ministry office court trust foundation association society institute street road avenue
lane square park bridge station airport harbour harbor church cathedral hall house museum library theatre
theater cinema stadium arena plant factory company corporation corp inc ltd llc plc group bank fund
engineering energy homes mobility water news times post press herald river valley lake island county
district province region city town village bay coast
""".split())
# Of those, the ones a firm's name does not end with: "Riverton Borough Council" builds nothing
# as a company would.
_FIRMS = frozenset("""
company corporation corp inc ltd llc plc group bank fund engineering energy homes mobility water
news times post press herald plant factory trust
""".split())
# The first word of a name that makes it a place: "the River Aske", "Lake Vattern".
_PLACE_HEADS = frozenset({"river", "lake", "mount", "cape", "port", "fort"})
_ASKS_FIRM = re.compile(r"\b(?:which|what) (?:\w+ )?(?:company|firm|supplier|manufacturer|business|"
                        r"contractor|builder|developer|housebuilder|operator)\b", re.IGNORECASE)
# A run of capitalised words ("Dr Maria Lopez of Riverton Hospital" is two runs).
_CAPITALISED = re.compile(r"[A-Z][\w'’.-]*(?:\s+(?:&\s+)?[A-Z][\w'’.-]*)*")
_CURRENCY_CODES = frozenset({"chf", "usd", "eur", "gbp", "sek", "nok", "dkk", "rub", "uah", "jpy", "cny"})
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
_NUMBER_WORDS = re.compile(rf"\b(?:{NUMBER_NAMES}|dozens?|hundreds?|thousands?|millions?|billions?|half|twice|"
                           r"double)\b", re.IGNORECASE)


# Money as news writes it: "$1.5 million", "12 euros", "CHF 180".
_MONEY_SIGNS = "[$£€¥₽₴]"
_MONEY_WORDS = r"dollars?|euros?|pounds?|cents?|pence|r[o]?ubles?|hryvnias?|yuan|yen|francs?|chf|kron(?:a|e|or|er)|rupees?"

# A number answers "what temperature" only with degrees, "what share" only as a
# share, "what interest rate" only as a share or per something, "how much did it cost"
# only as money.
_UNITS = (
    (re.compile(r"\btemperatures?\b|\bhow (?:warm|hot|cold)\b", re.IGNORECASE),
     re.compile(r"°|\bdegrees?\b|\bcelsius\b|\bfahrenheit\b|\d\s?[CF]\b")),
    (re.compile(r"\bwhat (?:\w+ )?(?:percentage|share|proportion|fraction)\b|\bper ?cent(?:age)?\b",
                re.IGNORECASE),
     re.compile(r"%|\bper ?cent\b|\b(?:half|third|quarter|fifth|tenth|majority|minority)\b", re.IGNORECASE)),
    (re.compile(r"\b(?:what|which|at what) (?:\w+ )?rate\b", re.IGNORECASE),
     re.compile(r"%|\bper ?cent\b|\bper\b|\bpercentage points?\b|\bbasis points?\b|\ba (?:year|month|week|day|hour)\b",
                re.IGNORECASE)),
    (re.compile(r"\bhow much (?:money\b|.*\b(?:cost|costs|pay|paid|spend|spent|charge|charged|earn|"
                rf"worth)\b)|{_WHAT_WILL_COST}|"
                r"\bwhat (?:(?:is|was|are|were) the )?(?:\w+ )?(?:price|cost|fee|salary|fine|value)\b"
                r"(?!\s+(?:rise|increase|change|hike|cut|"
                r"fall|drop|growth))", re.IGNORECASE),
     re.compile(rf"{_MONEY_SIGNS}|\b(?:{_MONEY_WORDS})\b", re.IGNORECASE)),
)


# A calendar date or a clock time: "3 March 2025", "March 3, 2025", "March 2025", "3 March", "6:12".
_DATE = re.compile(rf"\b(?:(?:{_DAY_OF_MONTH})(?:,?\s+\d{{4}})?|{_MONTH}\s+\d{{4}}|"
                   r"\d{1,2}:\d\d(?:\s*[ap]\.?m\b\.?)?|\d{1,2}\.\d\d\s*[ap]\.?m\b\.?)(?!\d)", re.IGNORECASE)


# Money, a share, a measure or a year: "$1.5 million", "CHF 180", "7.8 percent", "47-kilometre",
# "since 2019".
_MEASURED = re.compile(
    rf"{_MONEY_SIGNS}\s?\d[\d,.]*(?:\s*(?:million|billion|bn|m|k)\b)?|"
    r"\b(?:chf|usd|eur|gbp|sek|nok|dkk)\s?\d[\d,.]*(?:\s*(?:million|billion)\b)?|"
    rf"\b\d[\d,.]*(?:\s*(?:million|billion))?(?:\s*%|[\s-]*(?:per ?cent|{_MONEY_WORDS}|km|kilomet(?:re|er)s?|"
    r"met(?:re|er)s?|miles?|kg|kilos?|kilograms?|grams?|tonnes?|tons?|litres?|liters?|degrees?|hectares?|"
    r"acres?|mph|feet|foot|inch(?:es)?|centimet(?:re|er)s?|cm|mm)\b)|"
    r"\b(?:in|since|by|until|till|from|before|after|during)\s+(?:1[5-9]|20)\d\d\b", re.IGNORECASE)  # "since 2019"
_DURATION = re.compile(r"\bhow (?:long|soon|often|old)\b|\bhow many (?:\w+ )?(?:days|weeks|months|years|hours)\b|"
                       r"\bwhat age\b", re.IGNORECASE)
# A span of time: "over the past ten years", "a five-year plan", "for 18 months". It measures
# time, not the size or number asked for, unless the question asks how long.
_SPAN = re.compile(rf"\b(?:\d[\d,.]*|a|{NUMBER_NAMES}|a hundred)(?:[\s-]+and[\s-]+a[\s-]+half)?[\s-]+"
                   r"(?:years?|months?|weeks?|days?|hours?|minutes?|decades?)\b(?:\s+old\b)?", re.IGNORECASE)
# "How long did the talks last?" wants a stretch of time: "about two and a half hours", "since
# 2019", "from 3 March to 9 March"; "the two would hold talks" counts no time.
_HOW_LONG = re.compile(r"\bhow long\b", re.IGNORECASE)
_SINCE = re.compile(rf"\b(?:since|until|till)\s+(?:(?:early|late|mid)[\s-]+)?(?:\d|{_MONTH}|last\b|the\s+\d)",
                    re.IGNORECASE)

# A figure asked for per period ("an annual pass", "over a full year", "per month") must be
# given for that period: "a monthly pass costs 19 euros" does not price the annual one.
_PERIODS = (
    (re.compile(r"\b(?:annual(?:ly)?|yearly|per annum|(?:a|per|each|every|one|full|whole|a full|a whole) year)\b",
                re.IGNORECASE),
     re.compile(r"\b(?:annual(?:ly)?|yearly|years?|annum|12 months|twelve months)\b", re.IGNORECASE)),
    (re.compile(r"\b(?:monthly|(?:a|per|each|every) month)\b", re.IGNORECASE),
     re.compile(r"\bmonth(?:s|ly)?\b", re.IGNORECASE)),
    (re.compile(r"\b(?:weekly|(?:a|per|each|every) week)\b", re.IGNORECASE),
     re.compile(r"\bweek(?:s|ly)?\b", re.IGNORECASE)),
    (re.compile(r"\b(?:daily|nightly|(?:a|per|each|every) (?:day|night))\b", re.IGNORECASE),
     re.compile(r"\b(?:days?|daily|nights?|nightly)\b", re.IGNORECASE)),
)


def gives_period(question: str, sentence: str) -> bool:
    """False when the question asks for a figure per year (month, week, day) and the sentence
    gives it for no such period. A figure for a calendar year ("120,000 visitors in 2024") is
    a yearly one, unless the sentence says it is per month or week or day."""
    for n, (asks, given) in enumerate(_PERIODS):
        if asks.search(question) and not given.search(sentence):
            other = any(a.search(sentence) for a, _ in _PERIODS[1:])
            if n > 0 or not _YEAR.search(sentence) or other:
                return False
    return True


_COUNT_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "a": 1, "an": 1}
_UNIT = r"(day|week|month|year|night)s?\b"
# "In its first month", "in the first six weeks": the stretch of time a figure is asked for.
_FIRST_STRETCH = re.compile(rf"\b(?:first|opening)\s+(?:(\w+)\s+)?{_UNIT}", re.IGNORECASE)
_STRETCH = re.compile(rf"\b(\d+|{'|'.join(_COUNT_WORDS)})[\s-]+{_UNIT}", re.IGNORECASE)


def _how_many(word: str | None) -> int | None:
    if word is None or word.lower() in ("full", "whole", "entire"):  # "its first full year"
        return 1
    return int(word) if word.isdigit() else _COUNT_WORDS.get(word.lower())


def gives_stretch(question: str, sentence: str) -> bool:
    """False when the question asks for a figure over a first stretch of time ("in its first
    month") and the sentence gives one over another stretch ("ran for six months and recorded
    31,000 rides")."""
    asked = _FIRST_STRETCH.search(question)
    if not asked:
        return True
    length, unit = _how_many(asked.group(1)), asked.group(2).lower()
    firsts = {(_how_many(m.group(1)), m.group(2).lower()) for m in _FIRST_STRETCH.finditer(sentence)}
    if firsts:  # "in the first full year" does not give the first month
        return (length, unit) in firsts
    return not any(m.group(2).lower() == unit and _how_many(m.group(1)) != length
                   for m in _STRETCH.finditer(sentence))


# "The previous fiscal year", "this year", "next season": a period named from now.
_RELATIVE = re.compile(r"\b(previous|last|prior|this|current|next|coming)\s+(?:(?:fiscal|financial|calendar|"
                       r"school|academic|tax)\s+)?(year|month|week|season|quarter|term)\b", re.IGNORECASE)
_WHEN = {"previous": -1, "last": -1, "prior": -1, "this": 0, "current": 0, "next": 1, "coming": 1}


def gives_relative_period(question: str, sentence: str) -> bool:
    """False when the question asks about one period named from now ("the previous fiscal
    year") and the sentence speaks only of another ("this fiscal year")."""
    asked = {(_WHEN[m.group(1).lower()], m.group(2).lower()) for m in _RELATIVE.finditer(question)}
    given = {(_WHEN[m.group(1).lower()], m.group(2).lower()) for m in _RELATIVE.finditer(sentence)}
    units = {u for _, u in asked}
    return not asked or bool(asked & given) or not any(u in units for _, u in given)


# Deaths and injuries are counted apart: "12 people were injured" does not say how many died.
_DEATHS = re.compile(r"\b(?:kill(?:ed|s|ing)?|died|dies|dead|deaths?|fatal(?:ities|ly)?|lives|"
                     r"(?:death )?toll)\b", re.IGNORECASE)
_INJURIES = re.compile(r"\b(?:injur(?:ed|y|ies|ing)|wounded|wounds?|hurt|hospitali[sz]ed)\b", re.IGNORECASE)


def counts_other_harm(question: str, sentence: str) -> bool:
    """True when the question counts deaths and the sentence only injuries, or the reverse."""
    return any(asks.search(question) and not asks.search(sentence) and other.search(sentence)
               for asks, other in ((_DEATHS, _INJURIES), (_INJURIES, _DEATHS)))


def quantities(text: str) -> set[str]:
    """Numbers written as quantities ('1,084', '$1.5', '62%'), not codes like 'S-400' or 'AU24'."""
    return {n for n in numbers(text) if n[0].isdigit()}


def names_of_others(text: str, question: str) -> set[str]:
    """The full names in text (two capitalised words or more: "Greenfold Catering", "Laura
    Penhaligon") that share no word with the question. A single word ("Ukraine" for "Kyiv") is
    more often a place the question names in other words."""
    asked = {w.lower() for w in words(question)}
    found = set()
    for m in _CAPITALISED.finditer(text):
        run = [w for w in m.group().split() if w != "&"]
        while run and run[0].lower() in STOPWORDS:
            run = run[1:]
        if len(run) >= 2 and not any(p.lower() in asked for w in run for p in words(w)):
            found.add(" ".join(run))
    return found


def asks_for_name(question: str) -> bool:
    """Whether the question asks for a name: who, which company, what is it called ..."""
    return bool(_EXPECTS_NAME.search(question))


def has_expected_answer(question: str, sentence: str) -> bool | None:
    """Whether sentence holds the kind of thing question asks for; None when unknown.

    A number for "how many / how long / what rate", a year for "which year", a date
    or time word for "when", a name the question does not already hold for "who".
    """
    sentence = MARKER.sub("", sentence)
    if _EXPECTS_YEAR.search(question):
        return bool(set(_YEAR.findall(sentence)) - set(_YEAR.findall(question)))
    if _EXPECTS_NUMBER.search(question):
        if any(asks.search(question) and not unit.search(sentence) for asks, unit in _UNITS):
            return False
        if (not gives_period(question, sentence) or not gives_stretch(question, sentence)
                or not gives_relative_period(question, sentence) or counts_other_harm(question, sentence)):
            return False
        if _HOW_LONG.search(question):  # or how long a thing is: "the path is 4.2 kilometres long"
            return bool(_SPAN.search(sentence) or _SINCE.search(sentence) or _MEASURED.search(sentence)
                        or len(_DATE.findall(sentence)) + len(_YEAR.findall(sentence)) >= 2)
        # A date, a clock time or a span of time counts nothing, unless the question asks how long;
        # nor does money, a share or a measure ("1.50 euros per ride") count the rides asked for.
        counted = sentence if _DURATION.search(question) else _SPAN.sub(" ", _DATE.sub(" ", sentence))
        thing = counted_thing(question)
        if thing and not _DURATION.search(question) and not _MEASURED.search(f"2 {thing}"):
            counted = _MEASURED.sub(" ", counted)
        scale = {w.lower() for w in _NUMBER_WORDS.findall(counted)}
        return bool(quantities(counted) - numbers(question)) or bool(
            scale - {w.lower() for w in _NUMBER_WORDS.findall(question)})
    if _EXPECTS_DAY.search(question):
        return bool(_DAY_WORDS.search(sentence))
    if _EXPECTS_TIME.search(question):
        return bool(_TIME_WORDS.search(sentence))
    if _ASKS_WHERE.search(question):  # a place it is in, at, near ...: "met ... in Sochi"
        asked = {w.lower() for w in words(question)}
        return any(m.group(1).lower() not in asked for m in _PLACE.finditer(sentence))
    if _EXPECTS_NAME.search(question):
        found = names(sentence) - {w.lower() for w in words(question)} - _CALENDAR
        if _ASKS_PERSON.search(question) or _ROLE.search(question):
            found -= places_and_bodies(sentence)
        elif _ASKS_FIRM.search(question):
            # "Riverton Borough Council voted to build a barrier along the River Aske": no firm.
            found -= places_and_bodies(sentence, _INSTITUTIONS - _FIRMS)
        return bool(found)
    if _ASKS_WHY.search(question) and _REASON.search(sentence):
        return True  # a reason may be given without these words ("falling birth rates had left...")
    return None


_HOW_MANY = re.compile(r"\bhow many\s+(?:of\s+(?:the|these|those|its|their)\s+)?(.*)", re.IGNORECASE)
_PHRASE_END = frozenset({"did", "do", "does", "had", "have", "has", "were", "was", "is", "are", "will",
                         "would", "could", "can", "should", "might", "in", "on", "at", "to", "for",
                         "from", "by", "with", "of", "that", "who", "which", "near", "outside", "across",
                         "along", "around", "behind", "beside", "between", "inside", "opposite"})


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
    plural = [w for w in phrase if len(w) > 3 and w.lower().endswith("s") and not w.lower().endswith(("'s", "’s"))]
    irregular = [w for w in phrase if w.lower() in _IRREGULAR_PLURALS]
    return (plural or irregular or phrase or [None])[0]


_ROLE = re.compile(rf"\bnames? of (?:the |an? )?(?:(?:{NUMBER_NAMES}|\d+) )?(.*)|"
                   r"^\W*who (?:is|was|are|were) (?:the |an? )(.*)", re.IGNORECASE)


# Words that end a role's noun phrase: "the astronaut due to fly", "the official set to attend".
_POSTMODIFIERS = frozenset({"due", "set", "likely", "able", "about", "whose", "when", "where"})
_WHICH = re.compile(r"^\W*which (.*)", re.IGNORECASE)


# A byline ("By Jane Roe") names the author without the word "author".
_BYLINE_ROLES = frozenset({"author", "authors", "writer", "writers", "reporter", "reporters", "journalist"})
# Words that name no particular office: "which official ruled" asks who ruled, whatever the title
# ("the senior coroner, Andrew Whitlock").
_ANYONE = frozenset({"official", "officials", "person", "people", "man", "woman", "men", "women", "individual",
                     "individuals", "one"})
# Adverbs end a role's noun phrase ("the official formally ruled"); these nouns end in -ly too.
_LY_NOUNS = frozenset({"family", "families", "assembly", "supply", "ally", "allies", "italy", "july"})


def named_role(question: str) -> str | None:
    """Who a name question asks for: 'the name of Velomara's chief executive' -> 'executive',
    'Which architect at Dunmore & Salk led the team?' -> 'architect'."""
    phrase = _role_phrase(question)
    head = phrase[-1].lower() if phrase else ""
    return head if len(head) > 2 and head not in STOPWORDS | QUESTION_FRAME | _BYLINE_ROLES | _ANYONE else None


# Words that make a role another one: the deputy mayor is not the mayor.
_RANKS = frozenset({"deputy", "vice", "assistant", "acting", "interim", "former", "associate"})


def _role_phrase(question: str) -> list[str]:
    """The words naming the role a name question asks for: 'the deputy mayor'."""
    m = _ROLE.search(question)
    which = _WHICH.search(question) if _EXPECTS_NAME.search(question) else None
    if not m and not which:
        return []
    phrase = []
    for w in words((m.group(1) or m.group(2)) if m else which.group(1)):
        if w.lower() not in _RANKS and (w.lower() in _PHRASE_END | _POSTMODIFIERS
                                        or w.lower().endswith(("ed", "ing"))
                                        or (w.lower().endswith("ly") and w.lower() not in _LY_NOUNS)):
            break  # "the astronaut due to fly", "the firm hired to build it"; not "the acting head"
        phrase.append(w)
    return phrase


def role_rank(question: str) -> str | None:
    """The rank of the role a name question asks for: 'Who is the deputy mayor?' -> 'deputy'."""
    if not named_role(question):
        return None
    before = [part.lower() for w in _role_phrase(question)[:-1] for part in w.split("-")]
    return next((w for w in before if w in _RANKS), None)


def role_of_another(question: str, text: str) -> bool:
    """True when text gives the role asked for only as the role of a body the question does not
    name: "Lars Thomsen, chairman of the Danish Dairy Farmers' Union" is not the chairman of
    Halden Foods' board."""
    role, asked = named_role(question), names(question)
    if not role or not asked:
        return False
    mention = re.compile(rf"\b(?i:{re.escape(_singular(role))}s?)\b(?:\s+(?i:of|at)\s+(?:the\s+)?"
                         r"([A-Z][\w'’.-]*(?:\s+(?:&\s+)?[A-Z][\w'’.-]*)*))?")
    bodies = [m.group(1) for m in mention.finditer(text)]
    return bool(bodies) and all(b and not {w.lower() for w in words(b)} & asked for b in bodies)


def places_and_bodies(text: str, bodies: frozenset[str] = _INSTITUTIONS) -> set[str]:
    """Words of text's names that name no person: "ran a similar facility in northern Sweden",
    "collected CHF 12,500", "St. Anne's Regional Medical Center", "on Monday". bodies: the
    last words that make a name a body's (for a firm asked, firms' endings are left out)."""
    return {m.lower() for m in _PLACE.findall(text)} | _CURRENCY_CODES | institution_words(text, bodies) | _CALENDAR


def institution_words(text: str, kinds: frozenset[str] = _INSTITUTIONS) -> set[str]:
    """The words of names in text that end like a place or a body (see _INSTITUTIONS), or
    begin like a place ("River Aske")."""
    found = set()
    for m in _CAPITALISED.finditer(text):
        parts = [p.lower() for w in words(m.group()) for p in w.split("-") if p]
        if parts and (_singular(parts[-1]) in kinds or parts[0] in _PLACE_HEADS):
            found |= set(parts)
    return found


def _singular(word: str) -> str:
    w = word.lower().replace("’", "'").removesuffix("'s")
    return w[:-1] if w.endswith("s") and not w.endswith("ss") else w


def mentions(thing: str, text: str) -> bool:
    """Whether text uses the word thing (singular or plural), alone, in a hyphenated word
    ("vice-president") or as a title ("Cmdr." for commander). Stricter than comparing stems:
    "Halvorsen & Brant Engineering" is not an engineer, though both stem to "engin"."""
    seen = {_singular(p) for w in words(text) for p in {w, *w.split("-")}}
    return _singular(thing) in seen | {_TITLES[w] for w in seen if w in _TITLES}


# Titles as news writes them before a name: "Cmdr. Serhiy Nayev", "Gov. Ann Lee".
_TITLES = {"cmdr": "commander", "gen": "general", "lt": "lieutenant", "col": "colonel", "sgt": "sergeant",
           "capt": "captain", "gov": "governor", "sen": "senator", "rep": "representative", "pres": "president",
           "supt": "superintendent", "insp": "inspector", "det": "detective", "prof": "professor", "dr": "doctor",
           "cllr": "councillor", "amb": "ambassador"}


# "How much did the new digital projector cost", "how much insurance coverage do they have",
# "what was the cost of the recall", "how large is the grant": the thing whose amount is asked.
_PRICED = re.compile(
    r"\bhow much (?:(?:did|does|do|will|would|could|is|was|are|were|has|have|had) (.+?) (?:cost|costs|be worth|"
    r"worth)\b|(?!(?:did|does|do|will|would|could|is|was|are|were|has|have|had|money|time|more|less|of)\b)"
    r"(\w+(?: \w+)?) (?:did|does|do|will|would|could|is|was|are|were|has|have|had)\b)|"
    r"\bwhat (?:is|was|will be|were|would be) the (?:\w+ )?(?:cost|price|value|size) of (.+)|"
    r"\bhow (?:large|big) (?:is|was|are|were|will be|would be) (?:the |a |an |its |their )?(.+)", re.IGNORECASE)
_DETERMINERS = frozenset({"the", "a", "an", "its", "their", "his", "her", "this", "that", "these", "those"})
_GENERIC_AMOUNTS = frozenset({"money", "cash", "funding", "amount", "sum", "total"})


def _starts_clause(tokens: list[str]) -> bool:
    """Whether tokens start with a name that a verb follows: "Moscow promised Minsk",
    "Ashcombe Borough Council is giving"; not "CycleLink pass"."""
    rest = [w for w in tokens if not w[0].isupper()]
    return bool(rest) and (rest[0].lower() in _PHRASE_END or rest[0].lower().endswith("ed"))


def priced_thing(question: str) -> str | None:
    """What a "how much" question measures: 'How much did the new digital projector at
    the Regent cost?' -> 'projector'; None for money in general ("how much money")."""
    m = _PRICED.search(question)
    if not m:
        return None
    phrase: list[str] = []
    group = next(i for i, g in enumerate(m.groups()) if g)
    tokens = words(m.group(group + 1))
    for i, w in enumerate(tokens):
        if not phrase and w.lower() in _DETERMINERS:
            continue
        if w.lower() in _PHRASE_END:
            break
        # "How large is the state loan Moscow promised", "the grant the museum applied for": a
        # clause follows. (Not so in "how much does the team expect the whole trip to cost".)
        if group >= 2 and (w.lower() in _DETERMINERS or w.lower().endswith(("ed", "ing"))
                           or (phrase and w[0].isupper() and _starts_clause(tokens[i:]))):
            break
        phrase.append(w)
    head = phrase[-1].lower() if phrase else ""
    if len(head) <= 2 or head in STOPWORDS | QUESTION_FRAME | _GENERIC_AMOUNTS or head[0].isdigit():
        return None
    return phrase[-1]


def asked(question: str) -> tuple[str | None, str | None]:
    """What a question asks about and how: ("count", "civilians") for "how many civilians",
    ("role", "mayor") for "who is the mayor", ("amount", "projector") for "how much did the
    projector cost"; (None, None) for none of these."""
    for kind, find in (("count", counted_thing), ("role", named_role), ("amount", priced_thing)):
        word = find(question)
        if word:
            return kind, word
    return None, None


def asked_about(question: str) -> str | None:
    """The thing a question counts, prices or the role it asks to name (see asked)."""
    return asked(question)[1]


def speaks_of_asked_thing(question: str, text: str, aliases: frozenset[str] = frozenset()) -> bool:
    """Whether text speaks of what the question counts or prices (or its alias); True when
    it asks for neither. "12 apiaries were affected" does not speak of colonies. Of a role,
    only its rank is asked here ("the deputy mayor"): holds_the_role sees to the rest."""
    rank = role_rank(question)
    if rank:  # "Mayor Denise Okafor" names no deputy mayor
        return mentions(rank, text)
    kind, thing = asked(question)
    return kind not in ("count", "amount") or any(mentions(word, text) for word in (thing, *aliases))


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


def answers_question(question: str, answer: str, context: str = "",
                     aliases: frozenset[str] = frozenset()) -> bool:
    """False when an answer cannot be what the question asks for.

    It must hold the kind of thing asked (see has_expected_answer), and it or its
    context (the passages it cites: "intercepted 30 of them" counts the drones of
    the sentence before) must speak of the question's focus (see focus_terms):
    "35 drones were launched" does not say how many civilians were killed. The
    numbers the question is pinned to ("in 2020", "the $1.5 billion loan") must be
    there too, or the answer is about another year or another thing. Where the answer
    itself speaks of the thing counted or the role named, the number or name must sit
    with it (see bound_to_focus). A check of form, not of truth; truth is the
    verifier's (rag.cite). aliases are words the documents use for the thing asked about
    ("soldiers" for "troops").
    """
    if has_expected_answer(question, answer) is False or not bound_to_focus(question, answer, aliases):
        return False
    said = MARKER.sub("", f"{answer} {context}")
    terms = set(content_terms(said))
    thing = asked_about(question)
    if thing and any(stem(a) in terms for a in aliases):
        terms.add(stem(thing))
    return focus_terms(question) <= terms and numbers(question) <= numbers(said)


# A sentence saying the thing asked is not known or not given: "the trust has been unable to
# establish which architect drew the plans", "the beekeeper, who asked not to be named".
_SAY = r"(?:name|identify|disclose|reveal|say|give|provide|confirm|comment|specify|release|share)"
_UNDISCLOSED = re.compile(r"\b(?:not|never) (?:yet )?(?:been |be )?(?:named|identified|disclosed|revealed|made public|"
                          r"known|released|specified|announced|chosen|selected|appointed|decided|determined)\b|"
                          r"\byet to (?:be )?(?:named|identified|disclosed|revealed|announced|chosen|selected|"
                          r"appointed|decided|determined|name|identify|disclose|reveal|announce|choose|select|"
                          r"appoint|decide|determine)\b|"
                          r"\bunable to (?:establish|determine|identify|confirm|say)\b|"
                          # "a first screening that is being chosen by a public vote": not chosen yet
                          r"\b(?:is|are|still) (?:being|to be) (?:chosen|selected|decided|determined|finali[sz]ed)\b|"
                          r"\bwill be (?:chosen|selected|decided|determined) (?:by|later|at|in|through|after)\b|"
                          rf"\b(?:declined|refused) to {_SAY}\b|\b(?:would|did|could|will) not {_SAY}\b|"
                          r"\b(?:unknown|undisclosed|unnamed)\b", re.IGNORECASE)


def bound_to_focus(question: str, answer: str, aliases: frozenset[str] = frozenset()) -> bool:
    """False when the answer's sentences about the question's focus lack what was asked.

    "He confirmed plans for the flight of a Belarusian astronaut in 2023" holds no
    astronaut's name, though the sentence before names Putin; "passenger trains
    returned on 3 March" counts no passengers, though another sentence counts 1,200
    trees. The sentence about the focus, or the one after it ("Russia launched a
    wave of drones. Air defences intercepted 30 of them."), must hold the answer, and
    must not say that it is not known. An answer that never names the focus is left to
    the context check.
    """
    kind, thing = asked(question)
    text = MARKER.sub("", answer)
    sentences = [text[s:e] for s, e in split_sentences(text)]
    if not thing:
        # "The family declined to say how much the insurance would pay" answers no
        # "how much did the insurance pay", though another sentence may hold a figure.
        terms = question_terms(question)
        return not any(_UNDISCLOSED.search(sentence) and terms & set(content_terms(sentence))
                       and not has_expected_answer(question, sentence) for sentence in sentences)
    about = [i for i, sentence in enumerate(sentences)
             if any(mentions(word, sentence) for word in (thing, *aliases))]
    # The documents say they do not know. A sentence that gives an amount may say that
    # something else is not known ("the renovation cost £18.4 million, though the council
    # did not say how it would be paid for"); one about a count or a role is taken at its word.
    priced = kind == "amount"
    if any(_UNDISCLOSED.search(sentences[i]) and not (priced and has_expected_answer(question, sentences[i]))
           for i in about):
        return False
    return not about or any(has_expected_answer(question, " ".join(sentences[i:i + 2])) is not False
                            and (not priced or amount_may_be_of(sentences[i], (thing, *aliases)))
                            for i in about)


_AMOUNT = re.compile(rf"(?:{_MONEY_SIGNS}\s?)?\d[\d,.]*")
# "a grant of 1.1 million pounds", "a target of more than £60,000": whose amount it is.
_OWNER = re.compile(r"\b([A-Za-z]+)\s+of\s+(?:(?:about|around|nearly|almost|roughly|some|just|over|under|"
                    r"more than|less than|up to)\s+)?(?:(?:chf|usd|eur|gbp)\s?)?$", re.IGNORECASE)
_ANY_OWNER = frozenset({"total", "sum", "amount", "cost", "costs", "price", "value", "figure", "average", "maximum"})


def amount_may_be_of(sentence: str, things: tuple[str, ...]) -> bool:
    """False when every amount in the sentence is said to be another thing's: "a grant of
    1.1 million pounds ... and the rest will be covered by a loan" gives no loan's size."""
    owners = []
    for m in _AMOUNT.finditer(sentence):
        if _YEAR.fullmatch(m.group()):
            continue  # "in 2024"
        owner = _OWNER.search(sentence[:m.start()])
        owners.append(owner.group(1).lower() if owner else None)
    return not owners or any(o is None or o in _ANY_OWNER or any(mentions(t, o) for t in things) for o in owners)


_WH = r"(?:what|which|who|whom|whose|when|where|why|how)"
# ", and how many did Ukraine shoot down?", " and in what year?": a second question asked in one.
_WH_PREPOSITION = r"(?:(?:in|on|at|for|from|by|to|until|since) )?"
_SECOND_QUESTION = re.compile(rf",?\s+and\s+(?={_WH_PREPOSITION}{_WH}\b)", re.IGNORECASE)
_LEADING_WH = re.compile(rf"^\W*{_WH_PREPOSITION}{_WH}(?: (?:many|much|long|big|large|far|old|often|soon))?\b\s*",
                         re.IGNORECASE)


def question_parts(question: str) -> list[str]:
    """The questions asked in one: "Which night do they practise on now, and which night
    might they switch to?" asks two. A part that does not stand alone ("and in what year?",
    "and how many did Ukraine shoot down?", which does not say what it counts) takes the
    first part's words after its question word: "in what year ... started the Fenwatch
    rescue". One part (the question itself) when it asks one thing."""
    question = question.strip()
    if not _LEADING_WH.match(question):
        return [question]
    first, *rest = [p.strip(" ,?") for p in _SECOND_QUESTION.split(question)]
    if not rest or not first:
        return [question]
    body = _LEADING_WH.sub("", first)
    alone = [len(question_terms(p)) >= 2 and not (_HOW_MANY.match(p) and not counted_thing(p)) for p in rest]
    return [f"{first}?"] + [f"{p}?" if ok else f"{p} {body}?" for p, ok in zip(rest, alone)]
