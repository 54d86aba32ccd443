"""Table rows read with their column names.

A table's row (plain text, markdown, a web page's or a Word file's), read alone, is a list of
values: "Interim service £119 £129 1.5 hours" says nothing of which price is the diesel one,
and its header row may sit in another passage. So each row is read as its cells under their
column names, "Interim service — Petrol: £119; Diesel: £129; Approx. time: 1.5 hours", and that
is the row's sentence wherever the app reads text: the embedding, BM25, the answer's excerpts,
the check, and the citation's quote a user sees (rag.chunk). Its offsets still point at the row
in the file. (A PDF's text has its spacing folded, rag.formats, so its tables stay flat.)

What is a table (a document's layout, not a question's wording):
- A line's cells: a line with a '|' is split on it (markdown, and the web page and Word tables
  rag.formats writes); a line with a tab on tabs; any other on runs of two or more spaces.
- A table is a run of adjacent lines (no blank line between) of one kind (aligned by spaces, or
  split on '|' or tabs), with at least 2 cells each if piped and 3 otherwise, since two columns
  are as often a list of "label   value" lines with no header. A rule line (|---|, -----  -----,
  ────) is passed over.
- Its header is the first line, of the run's first MAX_CAPTION_LINES + 1, that a later line fits
  under (so a long run that is no table costs little): as many cells, and, aligned by
  spaces, each cell after the first within ALIGN_SLACK characters of its column's start or end
  (so a caption above it, or prose typed with two spaces after each full stop, is no header).
  If that line has a figure in a cell after the first, a cell with more digits than letters
  ("£420", "9:00"; a year, "2024", "2023/24", "2024/25 (£m)", apart), it is a row, and the whole table is left
  as it is; so "Trip 1", "1 day" and "Under 2s" can name columns. So can a band or a period
  with more digits than letters ("2-10 kg", "5-15", "Q3 2026", "2027-28 rate"): a cell with a
  letter or a range names its column when no cell under it is of its shape (runs of letters
  and of digits alike), where "10.5 kg" over "12.0 kg" is a row.
- A header may leave the corner above the rows' labels blank ("          | 2023/24 | 2024/25",
  or column names indented past the labels when aligned by spaces): read with an empty first
  cell when a later line then fits under it, piped lines only when the line opens with its pipe.
- A later line that fits under the header is labelled; any other line is left as it is.
- The labels a document gains are at most MAX_GROWTH times its own length: beyond that, rows are
  left as they are, so a hostile file (a header of thousands of long cells over a million rows)
  cannot grow into gigabytes of text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from rag.text import strip_span

# The labels a document gains, at most, as a multiple of its length (see table_rows).
MAX_GROWTH = 4
ALIGN_SLACK = 2  # characters a cell may sit off its column's start or end and still be in it
MAX_CAPTION_LINES = 2  # lines above a header that may belong to its run (a caption, a note)
_ALIGNED = re.compile(r"\s{2,}")
_LETTERS = re.compile(r"[^\W\d_]+")
_DIGITS = re.compile(r"\d+")
_BAND = re.compile(r"\d\s*[-–]\s*\d")  # "5-15", "2027–28"
_YEAR = re.compile(r"(?:19|20)\d\d(?:\s*[/–-]\s*\d{2,4})?(?:\s*\([^()]*\))?")  # "2024/25 (£m)"
_RULE_MARKS = frozenset("-=_─━═—–")  # a rule line: these, pipes, colons, plus signs and spaces


@dataclass(frozen=True)
class _Line:
    """One line of a table: its span in the text, its cells, and each cell's (start, end)
    column in the line (None for a piped or tabbed line, whose cells need no alignment)."""

    start: int
    end: int
    cells: list[str]
    columns: list[tuple[int, int]] | None
    opens_with_pipe: bool = False  # a piped line whose first character is '|'

    def fits(self, head: _Line) -> bool:
        """Whether this line is a row under head: as many cells, each (after the first) in the
        header's column, when the two are aligned by spaces."""
        if len(self.cells) != len(head.cells):
            return False
        if self.columns is None or head.columns is None:
            return True
        return all(abs(a[0] - b[0]) <= ALIGN_SLACK or abs(a[1] - b[1]) <= ALIGN_SLACK
                   for a, b in zip(self.columns[1:], head.columns[1:]))


def _cornered(head: _Line, row: _Line) -> _Line | None:
    """head read with a blank first cell, the corner above the rows' labels, when row then fits
    under it: a piped head must open with its pipe, an aligned one must start past the label."""
    if len(head.cells) + 1 != len(row.cells):
        return None
    if head.columns is None:  # piped (a run's lines are all of one kind)
        if not head.opens_with_pipe:
            return None
        cornered = _Line(head.start, head.end, ["", *head.cells], None)
    else:
        if head.columns[0][0] < row.columns[0][1]:
            return None  # a cell over the labels: no blank corner
        cornered = _Line(head.start, head.end, ["", *head.cells], [(0, 0), *head.columns])
    return cornered if row.fits(cornered) else None


def _header(run: list[_Line]) -> tuple[int, _Line] | None:
    """The header and where it is: the first line that a later one fits under, as it is or with
    a blank corner (a caption above it is not), looked for in the first few lines only, so a long
    run that is no table costs little."""
    for i, line in enumerate(run[:MAX_CAPTION_LINES + 1]):
        if any(row.fits(line) for row in run[i + 1:]):
            return i, line
        if cornered := next((c for row in run[i + 1:] if (c := _cornered(line, row))), None):
            return i, cornered
    return None


def _is_rule(body: str) -> bool:
    """A rule under a header (|---|:--:|, ----  ----, ────): marks, and no letter or digit."""
    return any(ch in _RULE_MARKS for ch in body) and not any(ch.isalnum() for ch in body)


def _split(body: str) -> tuple[list[str], list[tuple[int, int]] | None, int]:
    """A line's cells, their columns when aligned by spaces, and the fewest cells a table's
    line of that kind has: 2 piped, 3 otherwise, since two columns aligned by spaces or tabs
    are as often a list of "label   value" lines with no header."""
    if "|" in body:  # a markdown, web page or Word row (rag.formats writes its outer pipes)
        inner = body.strip()
        inner = inner[1:] if inner.startswith("|") else inner
        inner = inner[:-1] if inner.endswith("|") else inner
        return [c.strip() for c in inner.split("|")], None, 2
    if "\t" in body:
        return [c.strip() for c in body.strip().split("\t")], None, 3
    columns, pos = [], 0
    for gap in [*_ALIGNED.finditer(body), None]:
        end = len(body) if gap is None else gap.start()
        if body[pos:end].strip():
            columns.append((pos, end))
        pos = pos if gap is None else gap.end()
    return [body[a:b].strip() for a, b in columns], columns, 3


def _tables(text: str) -> Iterator[list[_Line]]:
    """Runs of adjacent lines of cells of one kind (see _split), rule lines passed over. An
    aligned line of one cell too few, indented, opens the run below it: it may be a header
    over a blank corner (two columns named over the rows' labels)."""
    run: list[_Line] = []
    indented: _Line | None = None  # the line above, if it may head a run from a blank corner
    pos = 0
    for raw in text.splitlines(keepends=True):
        start, body = pos, raw.rstrip("\r\n")
        pos += len(raw)
        if body.strip() and _is_rule(body):
            continue
        cells, columns, fewest = _split(body) if body.strip() else ([], None, 1)
        span = start, start + len(body)
        if len(cells) < fewest:
            if len(run) >= 2:
                yield run
            run = []
            cornerable = columns and len(cells) == fewest - 1 and columns[0][0] > 0
            indented = _Line(*strip_span(text, *span), cells, columns) if cornerable else None
            continue
        line = _Line(*strip_span(text, *span), cells, columns, body.lstrip().startswith("|"))
        if run and (columns is None) != (run[0].columns is None):
            if len(run) >= 2:
                yield run
            run = []
        if not run and indented is not None and columns is not None:
            run.append(indented)
        indented = None
        run.append(line)
    if len(run) >= 2:
        yield run


def _is_figure(cell: str) -> bool:
    digits = sum(ch.isdigit() for ch in cell)
    return digits > sum(ch.isalpha() for ch in cell) and not _YEAR.fullmatch(cell)


def _shape(cell: str) -> str:
    """A cell's kind of content: each run of letters read as 'a', of digits as '9'."""
    return _DIGITS.sub("9", _LETTERS.sub("a", cell.strip()))


def _is_row(head: _Line, body: list[_Line]) -> bool:
    """Whether a table's first line is a row of figures, not its header: a cell after the first
    is a figure, unless it has letters or is a range and no cell under it is of its shape (a
    band or a period, "2-10 kg", "5-15" or "Q3 2026", over prices, where "10.5 kg" over
    "12.0 kg" is a row)."""
    for i, cell in enumerate(head.cells[1:], start=1):
        if _is_figure(cell) and not ((_LETTERS.search(cell) or _BAND.search(cell))
                                     and all(_shape(row.cells[i]) != _shape(cell) for row in body)):
            return True
    return False


def _label(cell: str) -> str:
    """A header cell as a label: without markdown emphasis or a trailing colon."""
    return cell.strip("*_ ").rstrip(":").strip()


def labelled(head: list[str], row: list[str]) -> str:
    """A row as its first cell, then each other cell under its column's name."""
    pairs = "; ".join(f"{_label(h)}: {v}" if _label(h) else v for h, v in zip(head[1:], row[1:]) if v)
    return f"{row[0]} — {pairs}" if row[0] and pairs else row[0] or pairs


def table_rows(text: str) -> dict[tuple[int, int], str]:
    """(start, end) of each labelled table row in text (the line without its outer whitespace)
    -> the row read with its column names. The labels added stop at MAX_GROWTH times the
    text's length, so a hostile file cannot grow into gigabytes."""
    found: dict[tuple[int, int], str] = {}
    room = MAX_GROWTH * len(text)  # characters the labels may still add
    for run in _tables(text):
        header = _header(run)
        if header is None:
            continue
        at, head = header
        body = [row for row in run[at + 1:] if row.fits(head) and any(row.cells)]
        if _is_row(head, body):
            continue  # a first line of figures is a row: the table is left as it is
        for row in body:
            read = labelled(head.cells, row.cells)
            room -= max(0, len(read) - (row.end - row.start))
            if room < 0:
                return found
            found[(row.start, row.end)] = read
    return found
