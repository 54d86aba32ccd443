"""Load articles from files and folders into Documents.

A .txt or .md Document keeps the decoded file text untouched; a web page, PDF
or Word file is first turned into plain text by rag/formats.py, and that text
is what the Document keeps. Either way cleaning does not rewrite the text but
marks which line spans are article text. Boilerplate is detected only by
line patterns that no article sentence matches ("Also Read : ...",
"CLICK HERE TO READ MORE ..."), so cleaning can never drop a real sentence.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from rag import formats
from rag.errors import InputError, NoDocumentsError
from rag.schema import Document
from rag.text import normalize, strip_span

log = logging.getLogger(__name__)

EXTRACTORS = {".html": formats.extract_html, ".htm": formats.extract_html,
              ".pdf": formats.extract_pdf, ".docx": formats.extract_docx}
SUPPORTED_SUFFIXES = (".txt", ".md", *EXTRACTORS)
SUPPORTED_NAMES = ", ".join(SUPPORTED_SUFFIXES[:-1]) + " or " + SUPPORTED_SUFFIXES[-1]  # for messages
MAX_FILE_BYTES = 20_000_000

_BOILERPLATE = re.compile(
    r"""^\s*(?:
        also\s+read\s*:.*
      | read\s+(?:more|also)\s*:.*
      | related\s*(?:articles?|stories|reading)?\s*:.*
      | click\s+here\b.*
      | (?:stay\s+informed\b.*)?subscribe\s+now\.?
      | advertisement
      | share\s+(?:this|on)\b.{0,40}
      | theme\s*:
      | \.
    )\s*$""",
    re.IGNORECASE | re.VERBOSE,
)


@dataclass(frozen=True)
class Skipped:
    """A file that was not loaded, and why."""

    path: str
    reason: str


def content_hash(data: bytes) -> str:
    """A short, stable hash of file content."""
    return hashlib.sha256(data).hexdigest()[:32]


def article_spans(text: str) -> tuple[tuple[int, int], ...]:
    """Offsets of the non-empty, non-boilerplate lines of text."""
    spans = []
    pos = 0
    for line in text.splitlines(keepends=True):
        start, end = strip_span(text, pos, pos + len(line))
        pos += len(line)
        if end > start and not _BOILERPLATE.match(text[start:end]):
            spans.append((start, end))
    return tuple(spans)


def parse_document(source: str, data: bytes) -> Document:
    """Decode (or extract) and clean one file's bytes; raises ValueError when unusable."""
    extract = EXTRACTORS.get(PurePosixPath(source).suffix.lower())
    if extract is not None:
        extracted = extract(data)
        text, title, pages = extracted.text, normalize(extracted.title), extracted.pages
    else:
        if b"\x00" in data[:4096]:
            raise ValueError("looks like a binary file")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValueError("is not UTF-8 text; save it as UTF-8") from exc
        title, pages = "", ()
    spans = article_spans(text)
    if not spans:
        raise ValueError("has no text")
    if not title:
        title = normalize(text[spans[0][0]:spans[0][1]])
    if source.lower().endswith(".md"):
        title = title.lstrip("#").strip()  # a markdown heading's marks are not its title
    if len(title) > 120:
        title = title[:117].rsplit(" ", 1)[0] + "…"
    if not title.replace("…", ""):
        title = source
    return Document(source=source, title=title, text=text,
                    content_hash=content_hash(data), spans=spans, pages=pages)


def find_files(paths: Iterable[Path]) -> list[tuple[Path, Path]]:
    """(root, file) pairs for every supported file under the given paths."""
    found: list[tuple[Path, Path]] = []
    for path in paths:
        path = Path(path).expanduser()
        if not path.exists():
            raise InputError(f"{path} does not exist: give a file or folder of {SUPPORTED_NAMES} articles.")
        if path.is_file():
            found.append((path.parent, path))
            continue
        for file in sorted(path.rglob("*")):
            hidden = any(part.startswith(".") for part in file.relative_to(path).parts)
            if file.is_file() and not hidden and file.suffix.lower() in SUPPORTED_SUFFIXES:
                found.append((path, file))
    return found


def read_file(file: Path) -> bytes:
    """A supported file's bytes; ValueError (a reason to skip it) when it cannot be indexed."""
    if file.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise ValueError(f"has an unsupported type; use {SUPPORTED_NAMES}")
    if file.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"is larger than {MAX_FILE_BYTES // 1_000_000} MB")
    return file.read_bytes()


def load_documents(paths: Iterable[Path]) -> tuple[list[Document], list[Skipped]]:
    """Read every supported file under paths; unreadable files are skipped, not fatal."""
    paths = list(paths)
    docs: list[Document] = []
    skipped: list[Skipped] = []
    seen: set[str] = set()
    for root, file in find_files(paths):
        source = file.relative_to(root).as_posix()
        if source in seen:
            skipped.append(Skipped(str(file), f"another file is already indexed as {source}"))
            continue
        try:
            docs.append(parse_document(source, read_file(file)))
            seen.add(source)
        except (OSError, ValueError) as exc:
            skipped.append(Skipped(str(file), str(exc)))
    for s in skipped:
        log.warning("skipped %s: %s", s.path, s.reason)
    if not docs:
        raise no_documents(paths, skipped)
    return docs, skipped


def no_documents(paths: list[Path], skipped: list[Skipped]) -> NoDocumentsError:
    """The error for paths that gave no readable document."""
    where = ", ".join(str(p) for p in paths)
    detail = f" ({len(skipped)} skipped: {skipped[0].path} {skipped[0].reason})" if skipped else ""
    return NoDocumentsError(f"No readable {SUPPORTED_NAMES} files in {where}{detail}: "
                            "add articles and index again.")
