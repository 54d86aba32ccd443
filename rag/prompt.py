"""Build the chat prompt: a compact fixed instruction, then numbered passages.

The instruction comes first and never changes, so llama.cpp's KV cache reuses
it across questions. Passages are added in rank order until the context
budget (context size minus the answer's max tokens) is spent; the last one
that does not fit whole is cut at a word boundary rather than overflowing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rag.errors import ContextOverflowError
from rag.schema import Hit

SYSTEM_PROMPT = (
    "You answer questions using only the numbered passages. "
    "Reply in one or two short sentences. After each fact, cite its passage number in "
    "brackets, like [1]. If the passages do not contain the answer, reply exactly: "
    "I don't know."
)
# Tokens the chat template adds around each message (role markers, separators).
TEMPLATE_OVERHEAD = 24


@dataclass(frozen=True)
class Prompt:
    """The messages for the model and the passages they number, in order."""

    messages: list[dict[str, str]]
    hits: tuple[Hit, ...]  # hits[i] is passage [i + 1] in the prompt
    texts: tuple[str, ...]  # the passage text as shown to the model (possibly cut)


def format_passage(n: int, hit: Hit, text: str) -> str:
    """One numbered passage as the model sees it."""
    return f"[{n}] ({hit.chunk.title}) {text}"


def _cut_to_budget(text: str, budget: int, count_tokens: Callable[[str], int]) -> str:
    """The longest prefix of text, cut between words, that fits in budget tokens."""
    words = text.split()
    lo, hi = 0, len(words)
    while lo < hi:  # binary search on the number of words kept
        mid = (lo + hi + 1) // 2
        if count_tokens(" ".join(words[:mid])) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return " ".join(words[:lo]) + (" …" if 0 < lo < len(words) else "")


def build_prompt(question: str, hits: list[Hit], n_ctx: int, max_tokens: int,
                 count_tokens: Callable[[str], int]) -> Prompt:
    """Messages that fit in n_ctx with room for max_tokens of answer."""
    fixed = (count_tokens(SYSTEM_PROMPT) + count_tokens(f"Question: {question}\nPassages:\n")
             + 2 * TEMPLATE_OVERHEAD)
    budget = n_ctx - max_tokens - fixed
    if budget < 32:
        raise ContextOverflowError(
            f"The question is too long for the model's {n_ctx}-token context "
            f"(about {fixed - 2 * TEMPLATE_OVERHEAD} tokens with the instructions): shorten it.")
    shown: list[Hit] = []
    texts: list[str] = []
    lines: list[str] = []
    for hit in hits:
        n = len(shown) + 1
        line = format_passage(n, hit, hit.chunk.text)
        cost = count_tokens(line) + 1
        if cost > budget:
            head = count_tokens(format_passage(n, hit, ""))
            cut = _cut_to_budget(hit.chunk.text, budget - head - 1, count_tokens)
            if len(cut.split()) < 8:
                break  # a passage cut to a few words only adds noise
            line, cost = format_passage(n, hit, cut), budget
            shown.append(hit)
            texts.append(cut)
            lines.append(line)
            break
        shown.append(hit)
        texts.append(hit.chunk.text)
        lines.append(line)
        budget -= cost
    user = "Passages:\n" + "\n".join(lines) + f"\n\nQuestion: {question}"
    messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]
    return Prompt(messages, tuple(shown), tuple(texts))
