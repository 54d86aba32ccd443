"""Saved conversations: every question and its checked answer, kept in SQLite.

One file, DATA_DIR/threads.sqlite3 (SQLite comes with Python; no server). A thread has a
title (its first question, which the user may change), the collection it asked and its
turns. A turn keeps the question, its standalone query, the whole Answer (text,
citations with their spans, the passages) and, for each cited file, the content hash the
index had then, so a reopened thread shows what was cited even after the documents change,
and can say which files have changed or gone since.

Each turn is written in one transaction once its answer is checked, so a crash loses at most
the answer being written. A damaged or locked file raises ThreadsUnavailable, which the page
shows as "history unavailable" while it goes on answering.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from rag.errors import InputError, RagError
from rag.schema import Answer, Chunk, Citation, Hit

TITLE_CHARS = 80

SCHEMA = """
CREATE TABLE IF NOT EXISTS threads (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, collection TEXT NOT NULL,
    created REAL NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS turns (
    thread_id TEXT NOT NULL REFERENCES threads(id) ON DELETE CASCADE, position INTEGER NOT NULL,
    question TEXT NOT NULL, query TEXT NOT NULL, answer TEXT NOT NULL, files TEXT NOT NULL,
    created REAL NOT NULL, PRIMARY KEY (thread_id, position));
"""


class ThreadsUnavailable(RagError):
    """The threads file cannot be read or written (damaged, locked, not writable)."""


@dataclass(frozen=True)
class ThreadSummary:
    """A thread as the sidebar lists it."""

    id: str
    title: str
    collection: str
    updated: float
    turns: int


@dataclass(frozen=True)
class SavedTurn:
    """One question of a thread, its answer as checked then, and the cited files' hashes then."""

    question: str
    query: str
    answer: Answer
    files: dict[str, str]  # cited source -> content hash when it was cited


@dataclass(frozen=True)
class Thread:
    """A whole saved thread."""

    summary: ThreadSummary
    turns: tuple[SavedTurn, ...]


def threads_path(data_dir: Path) -> Path:
    """Where the threads of a data folder are kept."""
    return Path(data_dir) / "threads.sqlite3"


def answer_to_dict(answer: Answer) -> dict:
    """An Answer as plain JSON-able data (every field, so it can be rebuilt exactly)."""
    return asdict(answer)


def answer_from_dict(data: dict) -> Answer:
    """The Answer answer_to_dict made."""
    def chunk(c: dict) -> Chunk:
        return Chunk(**{**c, "sentences": tuple(tuple(s) for s in c.get("sentences", ()))})
    hits = tuple(Hit(**{**h, "chunk": chunk(h["chunk"]), "also": tuple(h.get("also", ()))})
                 for h in data["hits"])
    citations = tuple(Citation(**{**c, "also": tuple(c.get("also", ()))}) for c in data["citations"])
    return Answer(**{**data, "citations": citations, "hits": hits})


class ThreadStore:
    """The threads of one data folder (one SQLite file), safe to use from several threads
    and processes: each call opens its own connection."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._ready = False  # the schema exists (made once, again if the file was moved away)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        try:
            fresh = not self._ready or not self.path.exists()
            if fresh:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(sqlite3.connect(self.path, timeout=5)) as db:
                db.execute("PRAGMA foreign_keys = ON")
                if fresh:
                    db.executescript(SCHEMA)
                    self._ready = True
                with db:  # one transaction: all of it is written, or none
                    yield db
        except (sqlite3.Error, OSError) as exc:
            raise ThreadsUnavailable(
                f"The conversation history in {self.path} is unavailable ({exc}): answers still "
                "work; move the file away to start a new history.") from exc

    def create(self, title: str, collection: str) -> str:
        """A new, empty thread; its id."""
        thread_id = uuid.uuid4().hex[:12]
        now = time.time()
        with self._db() as db:
            db.execute("INSERT INTO threads VALUES (?, ?, ?, ?, ?)",
                       (thread_id, clean_title(title), collection, now, now))
        return thread_id

    def add_turn(self, thread_id: str, question: str, query: str, answer: Answer,
                 files: dict[str, str]) -> None:
        """Append a checked answer to a thread."""
        answer_json, files_json = json.dumps(answer_to_dict(answer)), json.dumps(files)
        with self._db() as db:
            if not db.execute("UPDATE threads SET updated = ? WHERE id = ?",
                              (time.time(), thread_id)).rowcount:
                raise InputError("This conversation was deleted (in another tab?): start a new one.")
            # The position is taken in the same statement: two saves at once cannot both take it.
            db.execute("INSERT INTO turns SELECT ?, COALESCE(MAX(position) + 1, 0), ?, ?, ?, ?, ? "
                       "FROM turns WHERE thread_id = ?",
                       (thread_id, question, query, answer_json, files_json, time.time(), thread_id))

    def list(self, search: str = "") -> list[ThreadSummary]:
        """The threads, newest first; with search, those whose title or questions hold it."""
        escaped = search.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        with self._db() as db:
            rows = db.execute(
                "SELECT t.id, t.title, t.collection, t.updated, COUNT(u.position) FROM threads t "
                "LEFT JOIN turns u ON u.thread_id = t.id GROUP BY t.id "
                "HAVING t.title LIKE ?1 ESCAPE '\\' OR SUM(u.question LIKE ?1 ESCAPE '\\') > 0 OR ?1 = '%%' "
                "ORDER BY t.updated DESC", (pattern,)).fetchall()
        return [ThreadSummary(*row) for row in rows]

    def get(self, thread_id: str) -> Thread:
        """A whole thread; InputError when there is none by that id."""
        with self._db() as db:
            row = db.execute("SELECT id, title, collection, updated FROM threads WHERE id = ?",
                             (thread_id,)).fetchone()
            if row is None:
                raise InputError(f"There is no thread {thread_id}: `rag threads list` shows them.")
            turns = db.execute("SELECT question, query, answer, files FROM turns WHERE thread_id = ? "
                               "ORDER BY position", (thread_id,)).fetchall()
        saved = tuple(SavedTurn(q, query, answer_from_dict(json.loads(a)), json.loads(f))
                      for q, query, a, f in turns)
        return Thread(ThreadSummary(*row, len(saved)), saved)

    def rename(self, thread_id: str, title: str) -> None:
        """Give a thread another title."""
        with self._db() as db:
            if not db.execute("UPDATE threads SET title = ? WHERE id = ?",
                              (clean_title(title), thread_id)).rowcount:
                raise InputError(f"There is no thread {thread_id}: `rag threads list` shows them.")

    def delete(self, thread_id: str) -> None:
        """Delete a thread and its turns."""
        with self._db() as db:
            db.execute("DELETE FROM threads WHERE id = ?", (thread_id,))


def clean_title(text: str) -> str:
    """A one-line title of at most TITLE_CHARS characters."""
    title = " ".join((text or "").split()) or "Untitled"
    return title if len(title) <= TITLE_CHARS else title[:TITLE_CHARS - 1].rstrip() + "…"


def export_markdown(thread: Thread, current: dict[str, str] | None = None) -> str:
    """A thread as Markdown: each question, its answer with its [n] markers, and under it the
    quoted spans with file, page and position. With `current` (source -> content hash now),
    a citation whose file has changed or gone since is marked."""
    lines = [f"# {thread.summary.title}", "",
             f"Collection: {thread.summary.collection} · {len(thread.turns)} questions", ""]
    for number, turn in enumerate(thread.turns, start=1):
        lines += [f"## {number}. {turn.question}", "", turn.answer.text, ""]
        for c in turn.answer.citations:
            where = f"page {c.page}, " if c.page is not None else ""
            note = citation_state(c.source, turn.files, current)
            quote = " ".join(c.quote.split())
            lines.append(f"- [{c.n}] {c.source} ({where}characters {c.start}–{c.end}){note}: “{quote}”")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def citation_state(source: str, then: dict[str, str], current: dict[str, str] | None) -> str:
    """"", " (changed since)" or " (no longer indexed)" for a cited file."""
    if current is None or source not in then:
        return ""
    if source not in current:
        return " (no longer indexed)"
    return " (changed since)" if current[source] != then[source] else ""
