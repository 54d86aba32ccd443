"""Split Documents into overlapping passages of whole sentences.

Trade-off: small passages (about 80 words) make retrieval precise and keep the
prompt short enough for a small model to read several of them; one sentence of
overlap keeps a fact that straddles two passages findable in either. Passages
never cross a dropped boilerplate line, so a passage's offsets always cover
only article text, nor a PDF page break, so one page number is right for every
sentence a passage holds (at the price of a short passage at a page's end).
A table row read under its column names (rag.tables) is one sentence, and a
passage's size counts the words as read; a row longer than a passage stays
flat.

A plain-text file wrapped at a fixed width (emails, notices, Markdown) breaks
its sentences across lines, and a line is no sentence: "Full-time students
are" / "issued with a green card." cut apart would show the judge a card's
colour without whose card it is. So a line runs on into the next where it was
wrapped, as text reflow tools tell it: the next line's first word would not
have fitted on it within the document's width (the 90th percentile of its
line lengths, at most 120 characters: a file of long lines was not wrapped),
in a file where most such breaks fall mid-sentence, before a word in lower
case (elsewhere a long line above another is a paragraph, item or label of
its own: "Start: Monday 8 September" above "Finish: Friday"). Lines laid out
in columns (a pipe, a tab, a gap of spaces), table rows, headings, rules and
list items are never run together.
"""

from __future__ import annotations

import hashlib
import re

from rag.schema import Chunk, Document
from rag.tables import table_rows
from rag.text import normalize, split_sentences

_NON_WS_RUN = re.compile(r"\S+")
MAX_WRAP_WIDTH = 120  # wider lines were not wrapped at a fixed width
MIN_WRAPPED_LINES = 2  # one long line above another is no sign of wrapping
# Lines that are laid out, not wrapped: a pipe, a tab or a gap of spaces inside (not the
# two spaces after a full stop), a rule, a heading mark or a code fence.
_LAYOUT = re.compile(r"[|\t]|[^\s.!?] {2,}\S|[.!?] {3,}\S|^\s*([-=_*~+]{3,}|#|```)")
# A line that starts a new item: a list mark, a quote, a numbered or lettered item.
_ITEM = re.compile(r"\s*([-*+•·–—>]|\d{1,3}[.)]\s|[a-zA-Z][.)]\s|\(\w{1,3}\)\s)")


def _sections(doc: Document) -> list[list[tuple[int, int]]]:
    """Runs of article lines on one page with nothing but whitespace between them."""
    sections: list[list[tuple[int, int]]] = []
    prev_end = None
    for start, end in doc.spans:
        if (prev_end is None or doc.text[prev_end:start].strip()
                or doc.page_at(start) != doc.page_at(prev_end - 1)):
            sections.append([])
        sections[-1].append((start, end))
        prev_end = end
    return sections


def _split_long(text: str, start: int, end: int, max_words: int) -> list[tuple[int, int]]:
    """Cut a run-on 'sentence' into windows of max_words words."""
    tokens = list(_NON_WS_RUN.finditer(text, start, end))
    if len(tokens) <= max_words:
        return [(start, end)]
    return [(tokens[i].start(), tokens[min(i + max_words, len(tokens)) - 1].end())
            for i in range(0, len(tokens), max_words)]


def sentence_spans(doc: Document, max_words: int, rows: dict[tuple[int, int], str]
                   ) -> list[list[tuple[int, int]]]:
    """Sentence spans of each section of doc, none longer than max_words words as read: a
    table row whose labelled reading is at most max_words words (a key of rows) is one
    sentence."""
    out = []
    wrapped = _wrapped_lines(doc, rows)
    for section in _sections(doc):
        spans = []
        for start, end in _unwrapped(section, wrapped):
            if (start, end) in rows:
                spans.append((start, end))
                continue
            for s, e in split_sentences(doc.text, start, end):
                spans.extend(_split_long(doc.text, s, e, max_words))
        out.append(spans)
    return out


def _wrapped_lines(doc: Document, rows: dict[tuple[int, int], str]) -> set[int]:
    """Where doc's lines carry on the line above, wrapped at a fixed width: their starts.

    A line is wrapped where the next line's first word would not have fitted on it within the
    document's width (the 90th percentile of its prose lines' lengths). A document is taken
    for wrapped when most such breaks fall before a word in lower case, mid-sentence;
    otherwise its long lines are one paragraph, item or label each, and none is joined.
    """
    prose = [(s, e) for s, e in doc.spans if (s, e) not in rows and not _LAYOUT.search(doc.text[s:e])]
    widths = sorted(e - s for s, e in prose)
    width = widths[int(0.9 * (len(widths) - 1))] if widths else 0
    if not width or width > MAX_WRAP_WIDTH:
        return set()
    breaks = []
    for (s, e), (ns, ne) in zip(prose, prose[1:]):
        nxt = doc.text[ns:ne]
        if (doc.text.count("\n", e, ns) == 1 and not _ITEM.match(nxt)
                and e - s + 1 + len(nxt.split(None, 1)[0]) > width):
            breaks.append((ns, nxt[0].islower()))
    if len(breaks) < MIN_WRAPPED_LINES or 2 * sum(lower for _, lower in breaks) < len(breaks):
        return set()
    return {start for start, _ in breaks}


def _unwrapped(section: list[tuple[int, int]], wrapped: set[int]) -> list[tuple[int, int]]:
    """A section's lines with wrapped paragraphs run together: each a (start, end) span."""
    runs: list[tuple[int, int]] = []
    for start, end in section:
        if runs and start in wrapped:
            runs[-1] = (runs[-1][0], end)
        else:
            runs.append((start, end))
    return runs


def chunk_id(doc: Document, start: int, end: int) -> str:
    """A stable id from the document's content and the passage's position in it."""
    return hashlib.sha256(f"{doc.content_hash}:{start}:{end}".encode()).hexdigest()[:16]


def chunk_document(doc: Document, max_words: int = 80, overlap: int = 1) -> list[Chunk]:
    """Passages of whole sentences, up to max_words each, overlapping by `overlap` sentences."""
    chunks: list[Chunk] = []
    # A row read under its column names is one sentence, unless that makes it too long.
    rows = {span: row for span, row in table_rows(doc.text).items() if len(row.split()) <= max_words}
    for sentences in sentence_spans(doc, max_words, rows):
        read = [normalize(rows.get((s, e)) or doc.text[s:e]) for s, e in sentences]
        counts = [len(part.split()) for part in read]
        i = 0
        while i < len(sentences):
            j, total = i, 0
            while j < len(sentences) and (j == i or total + counts[j] <= max_words):
                total += counts[j]
                j += 1
            start, end = sentences[i][0], sentences[j - 1][1]
            parts, spans, pos = [], [], 0
            for (s, e), part in zip(sentences[i:j], read[i:j]):
                spans.append((s, e, pos, pos + len(part)))
                parts.append(part)
                pos += len(part) + 1
            chunks.append(Chunk(chunk_id=chunk_id(doc, start, end), source=doc.source,
                                title=doc.title, start=start, end=end, text=" ".join(parts),
                                sentences=tuple(spans), page=doc.page_at(start)))
            if j >= len(sentences):
                break
            # Overlap only when the carried sentences leave room for a new one;
            # otherwise the next passage would be a subset of this one.
            back = max(i + 1, j - overlap)
            i = back if sum(counts[back:j + 1]) <= max_words else j
    return chunks
