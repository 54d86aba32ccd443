"""Prompt fitting: passages are trimmed to the context, never overflow it."""

import pytest

from rag.errors import ContextOverflowError
from rag.prompt import SYSTEM_PROMPT, TEMPLATE_OVERHEAD, build_prompt
from rag.schema import Chunk, Hit


def count(text: str) -> int:
    return len(text.split())


def hits(n: int, words: int) -> list[Hit]:
    return [Hit(Chunk(f"c{i}", f"s{i}.txt", f"Title {i}", 0, 1, " ".join(["word"] * words)), 1.0)
            for i in range(n)]


def prompt_tokens(prompt) -> int:
    return sum(count(m["content"]) for m in prompt.messages) + 2 * TEMPLATE_OVERHEAD


def test_all_passages_numbered_in_rank_order_when_they_fit():
    prompt = build_prompt("What?", hits(3, 10), n_ctx=2048, max_tokens=100, count_tokens=count)
    assert [h.chunk.chunk_id for h in prompt.hits] == ["c0", "c1", "c2"]
    user = prompt.messages[1]["content"]
    assert "[1] (Title 0)" in user and "[3] (Title 2)" in user and user.endswith("Question: What?")
    assert prompt.messages[0]["content"] == SYSTEM_PROMPT


@pytest.mark.parametrize("n_ctx,max_tokens", [(512, 128), (600, 200), (1024, 900)])
def test_long_passages_are_trimmed_to_leave_room_for_the_answer(n_ctx, max_tokens):
    prompt = build_prompt("What happened?", hits(10, 150), n_ctx, max_tokens, count)
    assert prompt_tokens(prompt) <= n_ctx - max_tokens
    assert 1 <= len(prompt.hits) < 10


def test_question_longer_than_the_context_is_a_clear_error():
    with pytest.raises(ContextOverflowError, match="shorten it"):
        build_prompt("why " * 600, hits(2, 10), n_ctx=512, max_tokens=128, count_tokens=count)
