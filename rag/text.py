"""Text primitives shared by ingest, chunking and citation checking.

Everything here works on offsets into the original string, so that a passage
or a quoted span can always be traced back to the exact characters on disk.
"""

from __future__ import annotations

import functools
import re
import unicodedata

_WS = re.compile(r"\s+")
# Numbers written in words, one to ninety-nine ("eighteen months", "twenty-seven complaints").
NUMBER_NAMES = (r"(?:(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:-(?:one|two|three|four|five|six|"
                r"seven|eight|nine))?|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|"
                r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)")
_NUMBER_WORD = re.compile(rf"\b{NUMBER_NAMES}\b", re.IGNORECASE)
_UNITS = {w: i for i, w in enumerate("one two three four five six seven eight nine ten eleven twelve thirteen "
                                     "fourteen fifteen sixteen seventeen eighteen nineteen".split(), start=1)}
_TENS = {w: 10 * i for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), start=2)}
# A sentence ends at . ! ? … (optionally followed by closing quotes/brackets),
# then whitespace, then something that can start a sentence.
_BOUNDARY = re.compile(r"""[.!?…]+["'”’»)\]]*\s+(?=["'“‘«(\[]?[A-Z0-9À-Þ])""")
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "gen", "col", "lt", "sgt", "capt",
    "cmdr", "gov", "sen", "rep", "pres", "vs", "etc", "no", "inc", "ltd", "co", "corp",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    "u.s", "u.k", "u.n", "e.g", "i.e", "a.m", "p.m", "fig", "approx", "dept", "est",
}
_WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ0-9]+(?:[.,'’-][A-Za-zÀ-ÖØ-öø-ÿ0-9]+)*")
STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before
being below between both but by can could did do does doing down during each few for from
further had has have having he her here hers herself him himself his how i if in into is it
its itself just me more most my myself no nor not now of off on once only or other our ours
ourselves out over own said same say says she should so some such than that the their theirs
them themselves then there these they this those through to too under until up very was we
were what when where which while who whom why will with would you your yours yourself
yourselves according did does many much kind happen happened tell describe according
instead toward towards within without upon onto across along among amid around behind beside
besides beyond despite inside though although unless whether yet via per else ever even
still already might must shall get gets got go goes went gone going
""".split())


def normalize(text: str) -> str:
    """Unicode NFKC and whitespace folded to single spaces."""
    return _WS.sub(" ", unicodedata.normalize("NFKC", text)).strip()


def strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink [start, end) so that it neither starts nor ends with whitespace."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans of text[start:end], as offsets into text."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    cursor = start
    for m in _BOUNDARY.finditer(text, start, end):
        word = text[max(start, m.start() - 12):m.start() + 1].split()
        last = word[-1].lower().rstrip(".") if word else ""
        # "Cmdr. Nayev", "U.S. officials", "J. Smith": not a sentence end.
        if last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha() and text[m.start()] == "."):
            continue
        s, e = strip_span(text, cursor, m.end())
        if e > s:
            spans.append((s, e))
        cursor = m.end()
    s, e = strip_span(text, cursor, end)
    if e > s:
        spans.append((s, e))
    return spans


def words(text: str) -> list[str]:
    """The words of text, in order, as written."""
    return _WORD.findall(text)


@functools.cache
def _stemmer():  # -> Stemmer.Stemmer (imported lazily)
    import Stemmer

    return Stemmer.Stemmer("english")


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Snowball (Porter 2) stem of a lower-cased word: 'missiles' and 'missile' match."""
    w = word.lower().replace("’", "'")
    if w.endswith("'s"):
        w = w[:-2]
    return _stemmer().stemWord(w)


def content_terms(text: str) -> list[str]:
    """Stemmed words that carry meaning (no stopwords), in order."""
    return [stem(w) for w in words(text) if w.lower() not in STOPWORDS]


# A clock time, "7:45", "07.45 am", "17:00" or "5pm": written with a colon or a point, with or
# without a leading zero, on a 12- or 24-hour clock (a decimal such as 1.80 or 0.75 reads the
# same either way, and "£9.00" is 9).
_CLOCK = re.compile(r"(?<![\d.,:])0?(\d{1,2})(?:[:.](\d{2})(?![\d.,:]?\d)(?:\s?([ap])\.?m\b\.?)?|\s?([ap])\.?m\b\.?)",
                    re.IGNORECASE)
# A unit or scale written onto a number: "£1.2m" is the "£1.2 million" of another text.
_SUFFIX = re.compile(r"(?<=\d)(?:m|bn|k|km|kg|mm|cm|ml|mph|kw|kwh|gb|mb)\b", re.IGNORECASE)


def _clock(match: re.Match) -> str:
    hour, minutes = int(match.group(1)), match.group(2)
    if (match.group(3) or match.group(4) or "").lower() == "p" and hour < 12:
        hour += 12
    return f"{hour}" if minutes in (None, "00") else f"{hour}.{minutes}"


def number_value(number: str) -> float | None:
    """A number as numbers() writes it, as a value ("1200" -> 1200.0); None for a code ("4B")."""
    try:
        return float(number)
    except ValueError:
        return None


def numbers(text: str) -> set[str]:
    """Numbers written in text, normalised: '1,000' -> '1000', '£1.2m' -> '1.2', and the clock
    times '7:45am', '07.45 am' and '7.45' -> '7.45', '5pm' and '17:00' -> '17'."""
    text = _SUFFIX.sub("", _CLOCK.sub(_clock, text))
    return {w.replace(",", "") for w in words(text) if any(ch.isdigit() for ch in w)}


# A range a text gives for a value: "between 16 and 20", "16–20", "£10 to £15", "up to 5". Its
# ends are numbers as numbers() writes them; a clock time ("9am to 5pm", "10:00-12:00") or a
# code ("25-0417") is no range: a time inside opening hours is not consistent with them. A unit
# or scale written onto a number is dropped first, as numbers() drops it ("£1.2m to £1.5m").
_END = r"[£$€]?(?<![\d.,:])(\d[\d,]*(?:\.\d+)?)%?(?![\d,:]|\.\d|\s?[ap]\.?m\b)"
_TWO_ENDS = re.compile(rf"\bbetween\s+{_END}\s+and\s+{_END}|{_END}\s*(?:-|–|—|\bto\b)\s*(?!0\d){_END}",
                       re.IGNORECASE)
_AT_MOST = re.compile(rf"\b(?:up to|at most|no more than|not more than|a maximum of|as many as)\s+{_END}",
                      re.IGNORECASE)


def ranges(text: str) -> list[tuple[float, float, set[str]]]:
    """The ranges text gives ("between 16 and 20", "up to 5"; numbers in words count), each as
    its least and greatest value and its ends as numbers() writes them ("16-20" written as one
    word is one of them)."""
    text, found = _SUFFIX.sub("", with_digits(text)), []
    for match in _TWO_ENDS.finditer(text):
        ends = [e.replace(",", "") for e in match.groups() if e]
        if float(ends[0]) < float(ends[1]):
            found.append((float(ends[0]), float(ends[1]), {*ends, "-".join(ends)}))  # "16-20" is one word
    for match in _AT_MOST.finditer(text):
        end = match.group(1).replace(",", "")
        found.append((0.0, float(end), {end}))
    return found


def with_digits(text: str) -> str:
    """Numbers written in words as digits ("three months" -> "3 months", "twenty-one" -> "21"),
    so "six minutes" and "6 minutes" state one value. A lone "one" stays a word: it is as
    often a pronoun ("one of the")."""
    def value(match: re.Match) -> str:
        word = match.group().lower()
        if word == "one":
            return match.group()
        tens, _, unit = word.partition("-")
        return str(_TENS[tens] + _UNITS.get(unit, 0)) if tens in _TENS else str(_UNITS[word])
    return _NUMBER_WORD.sub(value, text)


def known_forms(text: str) -> set[str]:
    """Every word of text as names() would report it, and its stem: lower-cased, with the
    parts of hyphenated words ("Iranian-made" knows "iranian")."""
    forms = {p.lower() for w in words(text) for p in (w, *w.split("-")) if p}
    return forms | {stem(f) for f in forms}


def names(text: str) -> set[str]:
    """Capitalised words that are not the first word of a sentence."""
    found: set[str] = set()
    for s, e in split_sentences(text):
        for w in words(text[s:e])[1:]:
            # "mid-December", "pro-Kremlin": a name can sit inside a hyphenated word;
            # "BK-180", "S-400": a code with digits is a name as a whole.
            if "-" in w and w[0].isupper() and any(ch.isdigit() for ch in w):
                found.add(w.lower())
                continue
            for part in w.split("-") if "-" in w else (w,):
                if part and part[0].isupper() and part.lower() not in STOPWORDS:
                    found.add(part.lower())
    return found
