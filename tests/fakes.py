"""Deterministic fakes: an encoder hashing words into buckets, an LLM replaying answers."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import numpy as np

from rag.generate import Verdict, stream_after_verdict
from rag.prompt import CHECK_PROMPT
from rag.schema import Chunk, Hit
from rag.text import content_terms


class FakeEncoder:
    """Bag-of-stemmed-words vectors: texts sharing words are similar, repeatably."""

    name = "fake-encoder"
    dim = 64

    def __init__(self) -> None:
        self.encoded: list[str] = []

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        self.encoded.extend(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for term in content_terms(text):
                bucket = int(hashlib.md5(term.encode()).hexdigest(), 16) % self.dim
                out[row, bucket] += 1.0
            norm = np.linalg.norm(out[row])
            if norm:
                out[row] /= norm
        return out


class FakeLLM:
    """Replays queued answers word by word; counts one token per word. Asked for a verdict
    first, it says YES unless the queued answer begins with NO, or `p_yes` is set; asked again
    about an answer, its P(YES) is `p_cited`, or `p_cited_for[key]` for a text holding key."""

    name = "fake-llm"

    def __init__(self, n_ctx: int = 2048) -> None:
        self.n_ctx = n_ctx
        self.queue: list[str] = []
        self.prompts: list[list[dict]] = []
        self.checks: list[list[dict]] = []
        self.p_cited_for: dict[str, float] = {}

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    p_yes: float | None = None

    def stream_chat(self, messages, max_tokens: int, temperature: float) -> Iterator[str]:
        self.prompts.append(messages)
        answer = self.queue.pop(0) if self.queue else "I don't know."
        for i, word in enumerate(answer.split(" ")):
            yield word if i == 0 else " " + word

    p_cited: float = 1.0  # its P(YES) when asked again about an answer (a one-token verdict)

    def stream_answer(self, messages, max_tokens: int, temperature: float) -> Iterator[Verdict | str]:
        if messages[0]["content"] == CHECK_PROMPT:  # asked again about an answer (rag.judge.check_answer)
            self.checks.append(messages)
            text = messages[-1]["content"]
            yield Verdict(next((p for key, p in self.p_cited_for.items() if key in text), self.p_cited))
            return
        for item in stream_after_verdict(self.stream_chat(messages, max_tokens, temperature)):
            if isinstance(item, Verdict) and self.p_yes is not None:
                item = Verdict(self.p_yes)
            yield item


def hit(source: str, *sentences: str) -> Hit:
    """A retrieved passage of the given sentences, its file named `source` (also its title)."""
    text, spans, pos = " ".join(sentences), [], 0
    for s in sentences:
        spans.append((100 + pos, 100 + pos + len(s), pos, pos + len(s)))
        pos += len(s) + 1
    chunk = Chunk(chunk_id=source, source=source, title=source, start=100, end=100 + len(text),
                  text=text, sentences=tuple(spans))
    return Hit(chunk=chunk, score=1.0, dense=0.5)
