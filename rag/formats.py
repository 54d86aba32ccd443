"""Plain text out of web pages, PDFs and Word files: one adapter per format.

Each function takes a file's bytes and returns an `Extracted`: the text as one
paragraph per line (so sentences split well and every offset is simple), a
title if the format names one, and for PDFs the offset where each page starts.
The extracted text, not the file, becomes Document.text.

Trade-offs, said out loud:
- HTML goes through trafilatura, which finds the main content of a page (it
  drops scripts, styles, cookie banners, bylines, adverts and "related
  stories" boxes) far better than deleting a fixed list of tags. Navigation,
  asides, forms and the page's own header and footer are pruned before it
  looks, because on a short page its fallbacks keep them. Its precision mode
  is used: on the pages measured it lost no article text that the balanced
  mode kept, dropped adverts, and did not cut link-dense paragraphs into
  one line per link as the balanced mode did on a short page. Neither mode
  is perfect: on a page without article markup both dropped a bulleted list.
- PDF text comes from pypdf, line by line. Wrapped lines are joined back into
  paragraphs: a line clearly shorter than the page's full lines ends a
  paragraph (or is a heading), and a word hyphenated across a line break is
  mended, which also mends the rare "well-" + "known" into "wellknown".
  Page numbers are the page's position in the file (1 = first page), not the
  printed page labels.
- Library exceptions on a malformed file are many and undocumented (pypdf
  alone raises many types), so each adapter turns any of them into a
  ValueError whose message says what is wrong and what to do; ingest then
  skips that file and indexes the rest.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from dataclasses import dataclass

log = logging.getLogger(__name__)

MAX_UNZIPPED_BYTES = 200_000_000  # a .docx larger than this unpacked is a zip bomb, not prose
_JUNK_PDF_TITLE = re.compile(r"^(untitled|microsoft word\b.*|.*\.(docx?|pdf|odt|rtf|txt|tex))$", re.IGNORECASE)
_TABLE_RULE = re.compile(r"^[\s|:+-]*$")  # a markdown table's |---|---| line
# Page furniture; a header or footer inside the article holds its headline or notes.
_HTML_FURNITURE = ["//nav", "//aside", "//form", "//header[not(ancestor::article or ancestor::main)]",
                   "//footer[not(ancestor::article or ancestor::main)]"]


@dataclass(frozen=True)
class Extracted:
    """A file's text, one paragraph per line, its title, and page start offsets (PDF only)."""

    text: str
    title: str = ""
    pages: tuple[int, ...] = ()


def _fold(line: str) -> str:
    """A line with runs of whitespace folded to one space."""
    return " ".join(line.split())


def extract_html(data: bytes) -> Extracted:
    """The article text and title of a web page; raises ValueError when it has none."""
    import trafilatura

    try:
        doc = trafilatura.bare_extraction(data, with_metadata=True, include_comments=False,
                                          include_tables=True, include_images=False,
                                          include_links=False, favor_precision=True,
                                          prune_xpath=_HTML_FURNITURE)
    except Exception as exc:  # lxml and trafilatura raise many types on broken markup
        raise ValueError(f"is not a readable web page ({exc}); save the page again as HTML") from exc
    text = (doc.text or "") if doc is not None else ""
    lines = [_fold(line) for line in text.splitlines()]
    lines = [line for line in lines if line and not _TABLE_RULE.match(line)]
    if not lines:
        raise ValueError("has no article text")
    return Extracted("\n".join(lines) + "\n", _fold(doc.title or ""))


def page_paragraphs(text: str) -> list[str]:
    """A PDF page's lines joined into paragraphs, one per item."""
    lines = [_fold(line) for line in text.splitlines()]
    widths = sorted(len(line) for line in lines if line)
    if not widths:
        return []
    full = widths[min(len(widths) - 1, int(0.9 * len(widths)))]  # a full-width line of this page
    paragraphs: list[str] = []
    current = ""
    for line in lines:
        if not line:
            paragraphs.append(current)
            current = ""
            continue
        if current.endswith("-") and current[-2:-1].isalpha() and line[0].islower():
            current = current[:-1] + line  # "exam-" + "ple": one word broken across lines
        else:
            current = f"{current} {line}" if current else line
        if len(line) < 0.7 * full:  # a short line ends its paragraph, or is a heading
            paragraphs.append(current)
            current = ""
    paragraphs.append(current)
    return [p for p in paragraphs if p]


def extract_pdf(data: bytes) -> Extracted:
    """The text of a PDF with the offset where each page starts; raises ValueError when unreadable."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        locked = reader.is_encrypted and not reader.decrypt("")  # "" opens owner-only protection
        pages = [] if locked else list(reader.pages)
        meta_title = "" if locked or reader.metadata is None else str(reader.metadata.title or "")
    except Exception as exc:  # pypdf raises many exception types on damaged files
        raise ValueError(f"is not a readable PDF ({exc}); export or save it again as PDF") from exc
    if locked:
        raise ValueError("is protected by a password; save a copy without one and index that")
    parts: list[str] = []
    starts: list[int] = []
    offset = 0
    for number, page in enumerate(pages, start=1):
        try:
            raw = page.extract_text() or ""
        except Exception as exc:  # noqa: BLE001 -- one damaged page should not lose the others
            log.warning("PDF page %d could not be read (%s); it is left out", number, exc)
            raw = ""
        page_text = "".join(p + "\n" for p in page_paragraphs(raw))
        starts.append(offset)
        parts.append(page_text)
        offset += len(page_text)
    text = "".join(parts)
    if not text.strip():
        raise ValueError("has no text to extract (a scanned image?); run OCR on it and index the result")
    title = _fold(meta_title)
    return Extracted(text, "" if _JUNK_PDF_TITLE.match(title) else title, tuple(starts))


def extract_docx(data: bytes) -> Extracted:
    """The paragraphs (and table rows) of a Word file and its title; raises ValueError when unreadable."""
    import docx
    from docx.table import Table

    fix = "open it in Word or LibreOffice and save it again as .docx"
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            if sum(info.file_size for info in package.infolist()) > MAX_UNZIPPED_BYTES:
                raise ValueError(f"unpacks to more than {MAX_UNZIPPED_BYTES // 1_000_000} MB")
        document = docx.Document(io.BytesIO(data))
        lines: list[str] = []
        heading = ""
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                for row in block.rows:
                    cells = list({c._tc: c for c in row.cells}.values())  # merged cells repeat
                    # outer pipes too, so an empty first or last cell keeps its place (rag.tables)
                    lines.append(_fold("| " + " | ".join(c.text for c in cells) + " |"))
                continue
            line = _fold(block.text)
            style = block.style.name if block.style is not None else ""
            if line and not heading and style.startswith(("Title", "Heading")):
                heading = line
            lines.append(line)
        title = _fold(document.core_properties.title or "")
    except Exception as exc:  # zipfile, lxml and python-docx raise many types on damaged files
        raise ValueError(f"is not a readable .docx file ({exc}); {fix}") from exc
    lines = [line for line in lines if line.strip(" |")]
    if not lines:
        raise ValueError("has no text")
    return Extracted("\n".join(lines) + "\n", title or heading)
