"""Prompt fitting: passages are trimmed to the context, never overflow it."""

import re

import pytest

from rag.cite import parse_claims, unsupported_facts
from rag.errors import ContextOverflowError
from rag.generate import without_verdict
from rag.prompt import EXAMPLES, SYSTEM_PROMPT, TEMPLATE_OVERHEAD, build_prompt, select_excerpts
from rag.schema import Chunk, Hit


def count(text: str) -> int:
    return len(text.split())


def hits(n: int, words: int) -> list[Hit]:
    return [Hit(Chunk(f"c{i}", f"s{i}.txt", f"Title {i}", 0, 1, " ".join(["word"] * words)), 1.0)
            for i in range(n)]


def prompt_tokens(prompt) -> int:
    return sum(count(m["content"]) for m in prompt.messages) + len(prompt.messages) * TEMPLATE_OVERHEAD


def test_all_passages_numbered_in_rank_order_when_they_fit():
    prompt = build_prompt("What?", hits(3, 10), n_ctx=2048, max_tokens=100, count_tokens=count)
    assert prompt.shown == (1, 2, 3)
    user = prompt.messages[-1]["content"]
    assert "[1] (Title 0)" in user and "[3] (Title 2)" in user and user.endswith("Question: What?")
    assert prompt.messages[0]["content"] == SYSTEM_PROMPT


@pytest.mark.parametrize("n_ctx,max_tokens", [(512, 128), (600, 200), (1024, 880)])
def test_long_passages_are_trimmed_to_leave_room_for_the_answer(n_ctx, max_tokens):
    prompt = build_prompt("What happened?", hits(10, 150), n_ctx, max_tokens, count)
    assert prompt_tokens(prompt) <= n_ctx - max_tokens
    assert 1 <= len(prompt.shown) < 10


def test_question_longer_than_the_context_is_a_clear_error():
    with pytest.raises(ContextOverflowError, match="shorten it"):
        build_prompt("why " * 600, hits(2, 10), n_ctx=512, max_tokens=128, count_tokens=count)


def sentence_hit(source: str, *sentences: str) -> Hit:
    text, spans, pos = " ".join(sentences), [], 0
    for s in sentences:
        spans.append((pos, pos + len(s), pos, pos + len(s)))
        pos += len(s) + 1
    return Hit(Chunk(source, source, f"About {source}", 0, len(text), text, tuple(spans)), 1.0)


def test_the_model_sees_the_best_sentences_in_text_order_under_their_passage_numbers():
    hits = [sentence_hit("a", "A one here.", "A two here.", "A three here.", "A four here."),
            sentence_hit("b", "B one here.", "B two here."),
            sentence_hit("c", "C one here.")]
    ranked = [(1, 3, 0.9), (3, 0, 0.8), (1, 0, 0.7), (1, 1, 0.6), (2, 0, 0.5)]
    # Each sentence costs 4 words here, each new passage its 4-word header too.
    excerpts = select_excerpts(hits, ranked, budget=8 + 8 + 4, count_tokens=count)
    assert excerpts == {1: "A one here. … A four here.", 3: "C one here."}
    prompt = build_prompt("What?", hits, 2048, 100, count, excerpts)
    assert prompt.shown == (1, 3)
    user = prompt.messages[-1]["content"]
    assert "[1] (About a) A one here. … A four here.\n[3] (About c) C one here." in user
    assert "B one" not in user


def test_the_best_sentence_is_shown_even_when_it_alone_exceeds_the_budget():
    hits = [sentence_hit("a", "A long sentence " * 20, "A short one.")]
    excerpts = select_excerpts(hits, [(1, 0, 0.9), (1, 1, 0.5)], budget=10, count_tokens=count)
    assert excerpts[1].startswith("A long sentence") and "A short" not in excerpts[1]


def test_worked_examples_come_first_and_stay_the_same_for_every_question():
    first = build_prompt("What?", hits(2, 10), 2048, 100, count)
    second = build_prompt("Why not?", hits(3, 20), 2048, 100, count)
    fixed = first.messages[:-1]
    assert len(fixed) == 1 + 2 * len(EXAMPLES) and second.messages[:-1] == fixed  # one cached prefix
    assert [m["role"] for m in fixed[1:3]] == ["user", "assistant"]
    replies = [m["content"] for m in fixed if m["role"] == "assistant"]
    assert {r.split(".")[0] for r in replies} == {"YES", "NO"}  # both verdicts are shown


def test_each_worked_answer_cites_passages_that_state_its_numbers_and_names():
    # The model copies the examples' form: a YES answer cites the passage each fact comes from
    # (one of them two facts from two passages), a NO answer cites nothing. Read as the app
    # reads a reply: its verdict word dropped, its statements and their [n] markers parsed.
    cited_sets = []
    for passages, question, reply in EXAMPLES:
        given = dict(re.findall(r"^\[(\d+)\] (.*)$", passages, re.M))
        statements = [part for claim in parse_claims(without_verdict(reply)) for part in claim.parts or (claim,)]
        cited = {n for s in statements for n in s.cited}
        if reply.startswith("NO"):
            assert not cited
            continue
        assert cited
        for statement in statements:
            for n in statement.cited:
                assert str(n) in given, (statement, given)
                assert not unsupported_facts(statement.text, given[str(n)], question), (statement, given)
        cited_sets.append(cited)
    assert any(len(cited) == 2 for cited in cited_sets)


def test_a_small_context_drops_the_examples_rather_than_the_passages():
    prompt = build_prompt("What happened?", hits(3, 40), n_ctx=512, max_tokens=128, count_tokens=count)
    assert [m["role"] for m in prompt.messages] == ["system", "user"]
    assert prompt.shown and prompt_tokens(prompt) <= 512 - 128
