"""Build the chat prompt: a compact fixed instruction, then numbered passages.

The instruction comes first and never changes, so llama.cpp's KV cache reuses
it across questions. On a laptop CPU the first answer token waits for every
prompt token to be evaluated (about 280 tokens/s for the bundled model on two
cores), so the model is shown excerpts rather than whole passages: the
sentences that best answer the question, up to a token budget, under their
passage's number and title. The answer is then verified against the whole
passages, so nothing is lost for citations. Passages are added in rank order
until the context budget (context size minus the answer's max tokens) is
spent; the last one that does not fit whole is cut at a word boundary rather
than overflowing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rag.errors import ContextOverflowError
from rag.schema import Hit

# The reply's first word is the model's verdict on whether the passages answer (its
# probability is read from the first token's logits, see rag.generate.Verdict).
SYSTEM_PROMPT = (
    "You answer questions using only the numbered passages. Begin your reply with YES if the "
    "passages state the answer to the question, or NO if they do not. After YES, give the answer "
    "in one or two short sentences, citing passage numbers like [1]."
)
# Tokens the chat template adds around each message (role markers, separators).
TEMPLATE_OVERHEAD = 24


@dataclass(frozen=True)
class Prompt:
    """The messages for the model and which passages they show."""

    messages: list[dict[str, str]]
    shown: tuple[int, ...]  # numbers of the passages in the prompt (hits[n - 1])


def select_excerpts(hits: list[Hit], ranked: list[tuple[int, int, float]], budget: int,
                    count_tokens: Callable[[str], int]) -> dict[int, str]:
    """Passage number -> its best-answering sentences, in text order, within budget tokens.

    `ranked` is (passage number, sentence index, score), best first (rag.ranking.rank_sentences).
    Sentences are taken in rank order while they fit; the first always is. Sentences
    of one passage that are not next to each other are joined by an ellipsis.
    """
    chosen: dict[int, list[int]] = {}
    used = 0
    for n, i, _ in ranked:
        hit = hits[n - 1]
        _, _, ts, te = hit.chunk.sentence_spans()[i]
        cost = count_tokens(hit.chunk.text[ts:te]) + 1
        if n not in chosen:
            cost += count_tokens(format_passage(n, hit, ""))
        if chosen and used + cost > budget:
            break
        chosen.setdefault(n, []).append(i)
        used += cost
    excerpts = {}
    for n, picked in chosen.items():
        chunk, parts, last = hits[n - 1].chunk, [], None
        for i in sorted(picked):
            _, _, ts, te = chunk.sentence_spans()[i]
            if last is not None and i != last + 1:
                parts.append("…")
            parts.append(chunk.text[ts:te])
            last = i
        excerpts[n] = " ".join(parts)
    return excerpts


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
                 count_tokens: Callable[[str], int], excerpts: dict[int, str] | None = None) -> Prompt:
    """Messages that fit in n_ctx with room for max_tokens of answer.

    With `excerpts` (see select_excerpts), passage n shows excerpts[n] and passages
    without one are left out, keeping their numbers; otherwise each shows its whole text.
    """
    fixed = (count_tokens(SYSTEM_PROMPT) + count_tokens(f"Question: {question}\nPassages:\n")
             + 2 * TEMPLATE_OVERHEAD)
    budget = n_ctx - max_tokens - fixed
    if budget < 32:
        raise ContextOverflowError(
            f"The question is too long for the model's {n_ctx}-token context "
            f"(about {fixed - 2 * TEMPLATE_OVERHEAD} tokens with the instructions): shorten it.")
    shown: list[int] = []
    lines: list[str] = []
    for n, hit in enumerate(hits, start=1):
        text = hit.chunk.text if excerpts is None else excerpts.get(n)
        if not text:
            continue
        line = format_passage(n, hit, text)
        cost = count_tokens(line) + 1
        if cost > budget:
            head = count_tokens(format_passage(n, hit, ""))
            text = _cut_to_budget(text, budget - head - 1, count_tokens)
            if len(text.split()) < 8:
                break  # a passage cut to a few words only adds noise
            line, cost = format_passage(n, hit, text), budget
        shown.append(n)
        lines.append(line)
        budget -= cost
        if budget <= 0:
            break
    user = "Passages:\n" + "\n".join(lines) + f"\n\nQuestion: {question}"
    messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]
    return Prompt(messages, tuple(shown))
