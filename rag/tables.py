"""Table rows read with their column names.

A plain-text, markdown or Word table's row, read alone, is a list of values: "Interim service
£119 £129 1.5 hours" says nothing of which price is the diesel one, and its header row may sit in
another passage. So each row is read as its cells under their column names, "Interim service —
Petrol: £119; Diesel: £129; Approx. time: 1.5 hours", and that is the row's sentence wherever the
app reads text: the embedding, BM25, the answer's excerpts and the check (rag.chunk). Its
offsets still point at the row in the file.

What is a table (a document's layout, not a question's wording):
- A line's cells: a line with a '|' inside is split on it (a markdown, web page or Word table,
  see rag.formats); any other line on a tab or on a run of two or more spaces.
- A table is a run of adjacent lines (no blank line between) with at least 2 cells each if
  piped, 3 if aligned by spaces, since two columns aligned by spaces are as often a list of
  "label   value" lines with no header. A rule line (|---|, -----  -----) is passed over.
- Its first line is the header only if no cell after the first is a figure, a cell with more
  digits than letters ("£420", "9:00"; a year, "2024", "2023/24", apart), so "Trip 1", "1 day"
  and "Under 2s" can name columns: a first line of figures is a row, and the table is left as
  it is.
- A later line with as many cells as the header is labelled; any other line is left as it is.
- The labels a document gains are at most MAX_GROWTH times its own length: beyond that, rows are
  left as they are, so a hostile file (a header of thousands of long cells over a million rows)
  cannot grow into gigabytes of text.
"""

from __future__ import annotations

import re

_ALIGNED = re.compile(r"\t|\s{2,}")
_RULE = re.compile(r"^[\s|:+=_-]*[-=][\s|:+=_-]*$")  # a rule under a header: |---|:--:|, ----  ----
MAX_GROWTH = 4
_YEAR = re.compile(r"(?:19|20)\d\d(?:\s*[/–-]\s*\d{2,4})?")


def cells(line: str) -> tuple[list[str], bool]:
    """A line's cells, and whether they were piped (rather than aligned by spaces)."""
    inner = line.strip()
    if "|" in inner.strip("|"):
        return [c.strip() for c in inner.strip("|").split("|")], True
    return [c for c in _ALIGNED.split(inner) if c], False


def _is_figure(cell: str) -> bool:
    digits = sum(ch.isdigit() for ch in cell)
    return digits > sum(ch.isalpha() for ch in cell) and not _YEAR.fullmatch(cell)


def _is_header(head: list[str]) -> bool:
    return not any(_is_figure(c) for c in head[1:])


def labelled(head: list[str], row: list[str]) -> str:
    """A row as its first cell, then each other cell under its column's name."""
    pairs = "; ".join(f"{h}: {v}" if h else v for h, v in zip(head[1:], row[1:]) if v)
    return f"{row[0]} — {pairs}" if row[0] else pairs


def table_rows(text: str) -> dict[tuple[int, int], str]:
    """(start, end) of each labelled table row in text (the line without its outer whitespace)
    -> the row read with its column names."""
    found: dict[tuple[int, int], str] = {}
    run: list[tuple[int, int, list[str]]] = []  # the current table's lines: start, end, cells
    piped_run = False
    room = MAX_GROWTH * len(text)  # characters the labels may still add

    def close() -> None:
        nonlocal room
        if len(run) >= 2 and _is_header(run[0][2]):
            head = run[0][2]
            for start, end, row in run[1:]:
                if len(row) == len(head):
                    read = labelled(head, row)
                    room -= max(0, len(read) - (end - start))
                    if room < 0:
                        break
                    found[(start, end)] = read
        run.clear()

    pos = 0
    for line in text.splitlines(keepends=True):
        start, end = pos, pos + len(line.rstrip("\r\n"))
        pos += len(line)
        body = text[start:end]
        if not body.strip():
            close()
            continue
        if _RULE.match(body):
            continue
        row, piped = cells(body)
        if len(row) < (2 if piped else 3) or (run and piped != piped_run):
            close()
            if len(row) < (2 if piped else 3):
                continue
        if not run:
            piped_run = piped
        stripped = len(body) - len(body.lstrip())
        run.append((start + stripped, start + len(body.rstrip()), row))
    close()
    return found
