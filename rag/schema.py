"""The domain's data: frozen dataclasses passed one way through the pipeline."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Document:
    """One article: its text as read from disk, and where it came from."""

    source: str  # path relative to the corpus root, with forward slashes
    title: str
    text: str  # the decoded file (txt/md) or its extracted text; all offsets point into this string
    content_hash: str  # of the file's bytes
    spans: tuple[tuple[int, int], ...]  # article text spans (boilerplate excluded)
    pages: tuple[int, ...] = ()  # PDF only: the offset in text where each page starts

    def page_at(self, offset: int) -> int | None:
        """The page (1 = first) holding text[offset], or None for a file without pages."""
        return max(1, bisect_right(self.pages, offset)) if self.pages else None


@dataclass(frozen=True)
class Chunk:
    """A passage of a few sentences of one document."""

    chunk_id: str
    source: str
    title: str
    start: int  # offsets into Document.text
    end: int
    text: str  # the chunk's sentences, each normalised (a table row: under its column names,
    #            rag.tables), joined by one space
    # Per sentence: (start, end) in Document.text and (start, end) in `text`.
    sentences: tuple[tuple[int, int, int, int], ...] = ()
    page: int | None = None  # PDF only: the page of every sentence (passages never cross a page)

    def sentence_spans(self) -> list[tuple[int, int, int, int]]:
        """(file_start, file_end, text_start, text_end) of each sentence."""
        return list(self.sentences) or [(self.start, self.end, 0, len(self.text))]

    def sentence(self, i: int) -> str:
        """Sentence i as the passage reads it."""
        _, _, start, end = self.sentence_spans()[i]
        return self.text[start:end]


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its fused score and the scores it came from."""

    chunk: Chunk
    score: float
    dense: float = 0.0  # cosine similarity to the question
    lexical: float = 0.0  # BM25 score (0 when the lexical index missed it)
    also: tuple[str, ...] = ()  # other files holding the same passage (rag.retrieve)


@dataclass(frozen=True)
class Citation:
    """A numbered reference from the answer to a passage and the supporting span."""

    n: int
    source: str
    chunk_id: str
    start: int  # offsets of the quoted span in Document.text (for txt/md: the file)
    end: int
    quote: str  # the sentence as the chunk reads it: a table row under its column names
    page: int | None = None  # PDF only: the page the quote is on
    also: tuple[str, ...] = ()  # other files holding the same passage


@dataclass(frozen=True)
class Answer:
    """The result of one question."""

    question: str
    text: str
    refused: bool
    citations: tuple[Citation, ...]
    hits: tuple[Hit, ...]
    timings_ms: dict[str, float] = field(default_factory=dict)
    model: dict[str, str] = field(default_factory=dict)
    query: str = ""  # the standalone query used for retrieval
    verdict: float | None = None  # the model's P(YES) that the passages answer; None: not asked
    p_cited: float | None = None  # P(YES) asked again, shown only the cited sentences; None: not asked

    @property
    def p_yes(self) -> float | None:
        """The verdict under its older name, kept in the JSON for the clients that read it."""
        return self.verdict

    def to_json(self) -> dict:
        """The `rag ask --json` object."""
        return {
            "question": self.question,
            "answer": self.text,
            "refused": self.refused,
            "citations": [
                {"n": c.n, "source": c.source, "chunk_id": c.chunk_id,
                 "start": c.start, "end": c.end, "quote": c.quote,
                 **({"page": c.page} if c.page is not None else {}),
                 **({"also_in": list(c.also)} if c.also else {})}
                for c in self.citations
            ],
            "passages": [
                {"n": i, "source": h.chunk.source, "chunk_id": h.chunk.chunk_id,
                 "score": round(h.score, 6), "start": h.chunk.start, "end": h.chunk.end,
                 "text": h.chunk.text, **({"page": h.chunk.page} if h.chunk.page is not None else {})}
                for i, h in enumerate(self.hits, start=1)
            ],
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
            "model": dict(self.model),
            "verdict": None if self.verdict is None else round(self.verdict, 4),
            "p_yes": None if self.p_yes is None else round(self.p_yes, 4),
            "p_cited": None if self.p_cited is None else round(self.p_cited, 4),
        }
