"""HTML for the chat page: answers with linked citation markers, passage cards, the file list.

Pure functions from the pipeline's data to strings, so they are unit-tested
without a browser. Everything that comes from a document or from the model is
passed through html.escape before it is placed in markup: the page shows
text, it never runs it. Anchors are per turn (`rag-src-<turn>-<n>`) so a
marker in an older answer still points at that answer's passage.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape

from markdown_it import MarkdownIt

from rag.index import IndexedFile
from rag.library import size_text
from rag.schema import Answer, Hit

# [1], [2, 3] as the pipeline writes them (brackets and digits survive html.escape).
MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


@dataclass(frozen=True)
class Turn:
    """One question and what the page knows of its answer so far."""

    question: str
    query: str = ""  # the standalone query used for retrieval
    hits: tuple[Hit, ...] = ()
    draft: str = ""  # the model's raw text, streamed before it is checked
    answer: Answer | None = None
    error: str = ""
    stopped: bool = False
    pages: tuple[tuple[int, str, bool], ...] = ()  # cited PDF passages: (n, page image as a
    # data: URI, whether the cited words were found on it and highlighted)

    @property
    def pending(self) -> bool:
        """True while the answer is still being produced."""
        return self.answer is None and not self.error and not self.stopped


def anchor_id(turn: int, n: int) -> str:
    """The element id of passage n of a turn's answer."""
    return f"rag-src-{turn}-{n}"


# Markdown's emphasis, code spans and line breaks, and nothing else: no raw HTML (a model's or
# a document's tags are shown as text), no images (the browser would fetch them: a planted
# beacon), no links (a "[1](http://…)" would pass for a citation), and no headings, lists or
# code blocks, which plain answers starting "1998." or "# 5" would turn into.
_MARKDOWN = MarkdownIt("zero", {"html": False, "breaks": True}).enable(["emphasis", "backticks", "newline"])


def link_markers(text: str, turn: int, linked: set[int]) -> str:
    """Text rendered as safe Markdown, whose [n] markers link to passage n of the turn (only n
    in linked)."""
    def link(m: re.Match) -> str:
        numbers = [int(x) for x in re.split(r"\s*,\s*", m.group(1))]
        if not any(n in linked for n in numbers):
            return m.group(0)
        parts = [f'<a class="rag-cite" href="#{anchor_id(turn, n)}">{n}</a>' if n in linked
                 else str(n) for n in numbers]
        return "[" + ", ".join(parts) + "]"
    return MARKER.sub(link, _MARKDOWN.render(text).strip())


def answer_html(answer: Answer, turn: int) -> str:
    """The checked answer, its citation markers linked to the passages."""
    if answer.refused:
        body = link_markers(answer.text, turn, set(range(1, len(answer.hits) + 1)))
        return f'<div class="rag-answer rag-refused">{body}</div>'
    body = link_markers(answer.text, turn, {c.n for c in answer.citations})
    return f'<div class="rag-answer">{body}</div>'


def working_html(message: str) -> str:
    """An animated 'still working' line shown before the first token."""
    return f'<div class="rag-working"><span class="rag-dots"></span> {escape(message)}</div>'


def draft_html(text: str, stopped: bool = False) -> str:
    """The model's unchecked draft, while it streams or after Stop."""
    if stopped:
        note = "Stopped. This draft was not checked against the sources."
        return (f'<div class="rag-draft rag-stopped">{escape(text)}'
                f'<div class="rag-note">{note}</div></div>')
    return f'<div class="rag-draft">{escape(text)}</div>'


def error_html(message: str) -> str:
    """A failure, said plainly."""
    return f'<div class="rag-error" role="alert">{escape(message)}</div>'


def notice_html(message: str) -> str:
    """A success message (it may name user files, so it is escaped too)."""
    return f'<div class="rag-notice">{escape(message)}</div>'


def assistant_html(turn: Turn, index: int) -> str:
    """What the assistant's bubble shows for a turn, at whatever stage it is."""
    if turn.error:
        return error_html(turn.error)
    if turn.answer is not None:
        return answer_html(turn.answer, index)
    if turn.stopped:
        return draft_html(turn.draft or "(no text yet)", stopped=True)
    if turn.draft:
        return draft_html(turn.draft)
    if turn.hits:
        return working_html(f"Found {len(turn.hits)} passages; writing the answer…")
    return working_html("Searching the documents…")


def chat_messages(turns: Iterable[Turn]) -> list[dict[str, str]]:
    """The Chatbot's messages: each question, then its answer as HTML."""
    messages = []
    for i, turn in enumerate(turns):
        messages.append({"role": "user", "content": escape(turn.question)})
        messages.append({"role": "assistant", "content": assistant_html(turn, i)})
    return messages


def highlight(text: str, quotes: Sequence[str] = ()) -> str:
    """Escaped text with the first occurrence of each quote marked."""
    found = sorted({(at, at + len(q)) for q in quotes if q and (at := text.find(q)) >= 0},
                   key=lambda span: (span[0], -span[1]))
    out, pos = [], 0
    for start, end in found:
        if start >= pos:  # of overlapping quotes, the one starting first (the longest) is marked
            out += [escape(text[pos:start]), f"<mark>{escape(text[start:end])}</mark>"]
            pos = end
    return "".join(out) + escape(text[pos:])


def passage_html(hit: Hit, n: int, turn: int, quotes: Sequence[str] = (),
                 page_image: tuple[str, bool] = ("", False)) -> str:
    """A passage card: number, article title, file name (and page), text with the cited spans
    marked, and for a cited PDF passage its page as an image with the cited words highlighted."""
    chunk = hit.chunk
    page = f' <span class="rag-page">page {chunk.page}</span>' if chunk.page is not None else ""
    also = (f'<footer class="rag-also">Also in: {escape(", ".join(hit.also))}</footer>'
            if hit.also else "")
    return (f'<article class="rag-passage" id="{anchor_id(turn, n)}">'
            f'<header><span class="rag-n">[{n}]</span> '
            f'<span class="rag-title">{escape(chunk.title)}</span> '
            f'<span class="rag-file">{escape(chunk.source)}</span>{page}</header>'
            f'<p>{highlight(chunk.text, quotes)}</p>{also}{page_figure(chunk, page_image)}</article>')


def page_figure(chunk, page_image: tuple[str, bool]) -> str:
    """A cited PDF page, rendered (ui.pdf), in a card that opens to show it."""
    image, found = page_image
    if not image.startswith("data:image/jpeg;base64,"):
        return ""
    said = "the cited words highlighted" if found else "the cited words could not be found on it"
    alt = escape(f"Page {chunk.page} of {chunk.source}, {said}")
    note = "" if found else " (the cited words could not be found on it)"
    return (f'<details class="rag-pdf-page" open><summary>Page {chunk.page} as printed{note}</summary>'
            f'<img src="{escape(image)}" alt="{alt}" loading="lazy"></details>')


def turn_sources_html(turn: Turn, index: int) -> str:
    """One turn's section of the sources panel: query, cited passages, the others."""
    head = f'<div class="rag-q">{escape(turn.question)}</div>'
    if turn.query and turn.query != turn.question:
        head += f'<div class="rag-query">Searched for: <q>{escape(turn.query)}</q></div>'
    answer = turn.answer
    if answer is not None:
        head += timing_html(answer)
    hits = answer.hits if answer is not None else turn.hits
    numbered = list(enumerate(hits, start=1))
    if answer is None or answer.refused:
        label = "Passages searched" if answer is not None else "Passages retrieved"
        if not hits:
            return f'<section class="rag-turn">{head}<p class="rag-none">No passages.</p></section>'
        cards = "".join(passage_html(h, n, index) for n, h in numbered)
        return f'<section class="rag-turn">{head}<h4>{label}</h4>{cards}</section>'
    quotes: dict[int, list[str]] = {}
    for c in answer.citations:
        quotes.setdefault(c.n, []).append(c.quote)
    pages = {n: (image, found) for n, image, found in turn.pages}
    cited = "".join(passage_html(h, n, index, quotes[n], pages.get(n, ("", False)))
                    for n, h in numbered if n in quotes)
    others = [passage_html(h, n, index) for n, h in numbered if n not in quotes]
    body = f"<h4>Cited passages</h4>{cited}" if cited else ""
    if others:
        body += (f'<details class="rag-others"><summary>Other passages considered '
                 f'({len(others)})</summary>{"".join(others)}</details>')
    return f'<section class="rag-turn">{head}{body}</section>'


def timing_html(answer: Answer) -> str:
    """How long the answer took, as the pipeline measured it."""
    t = answer.timings_ms
    if "total" not in t:
        return ""
    shown = "first_token" in t and not answer.refused  # a refusal never asked the model
    first = f"first token {t['first_token'] / 1000:.1f} s · " if shown else ""
    return f'<div class="rag-timing">{first}answered in {t["total"] / 1000:.1f} s</div>'


def sources_html(turns: list[Turn]) -> str:
    """The sources panel: every turn's passages, newest first."""
    if not turns:
        return '<div class="rag-empty">Cited passages appear here after you ask a question.</div>'
    sections = [turn_sources_html(t, i) for i, t in reversed(list(enumerate(turns)))]
    return '<div class="rag-sources">' + "".join(sections) + "</div>"


def documents_html(files: Iterable[IndexedFile], collection: str = "") -> str:
    """The indexed files as a table: file name, title, passages (and pages), size."""
    files = sorted(files, key=lambda f: f.source)
    rows = "".join(f"<tr><td>{escape(f.source)}</td><td>{escape(f.title)}</td>"
                   f'<td class="rag-num">{f.chunks}{f" ({f.pages} pages)" if f.pages else ""}</td>'
                   f'<td class="rag-num">{size_text(f.size)}</td></tr>'
                   for f in files)
    where = f" in collection “{escape(collection)}”" if collection else ""
    if not rows:
        return f'<div class="rag-empty">No documents indexed{where}.</div>'
    return (f'<table class="rag-docs"><caption>{len(files)} documents{where}</caption>'
            '<thead><tr><th>File</th><th>Title</th><th>Passages</th><th>Size</th></tr></thead>'
            f'<tbody>{rows}</tbody></table>')
