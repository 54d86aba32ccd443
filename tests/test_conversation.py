"""Follow-up questions are rewritten into standalone queries before retrieval."""

from __future__ import annotations

import pytest

from rag.conversation import is_follow_up, key_phrases, standalone_query

DRONES = "How many Shahed drones did Russia launch, according to Ukraine's armed forces?"


def test_follow_up_gets_the_topic_of_the_previous_question():
    query = standalone_query("and how many were intercepted?", [DRONES])
    assert query.startswith("How many were intercepted?")
    assert "Shahed drones" in query and "Russia" in query


def test_standalone_question_is_left_alone():
    question = "How large was the state loan that Moscow promised to grant Minsk?"
    assert standalone_query(question, [DRONES]) == question
    assert standalone_query("Who is Lukashenko?", [DRONES]) == "Who is Lukashenko?"


def test_first_question_is_left_alone_even_if_it_looks_like_a_follow_up():
    assert standalone_query("and what happened then?", []) == "and what happened then?"


@pytest.mark.parametrize("question", ["When did he arrive?", "What about Kazakhstan?",
                                      "Why?", "But where were they launched from?"])
def test_pronouns_openers_and_short_questions_count_as_follow_ups(question):
    assert is_follow_up(question)
    assert "Shahed drones" in standalone_query(question, [DRONES])


def test_words_already_in_the_question_are_not_repeated():
    query = standalone_query("and how many drones were intercepted?", [DRONES])
    assert query.count("drones") == 1


def test_a_chain_of_follow_ups_keeps_its_topic():
    second = standalone_query("and how many were intercepted?", [DRONES])
    third = standalone_query("and when?", [DRONES, second])
    assert "Shahed drones" in third and "intercepted" in third


def test_key_phrases_keep_names_together_and_drop_question_words():
    assert key_phrases(DRONES) == ["Shahed drones", "Russia launch", "Ukraine's armed forces"]


@pytest.mark.models
def test_rewritten_follow_up_retrieves_the_interception_passage(tmp_path):
    from rag.index import load_index
    from rag.pipeline import index_paths, load_encoder
    from rag.retrieve import Retriever
    from rag.settings import Settings

    settings = Settings(index_dir=tmp_path / "index")
    encoder = load_encoder(settings)
    index_paths(settings, encoder)
    retriever = Retriever(load_index(settings.index_dir, encoder.name, encoder.dim), encoder)
    query = standalone_query("and how many were intercepted?", ["How many drones did Russia launch?"])
    hits = retriever.search(query, 3)
    assert "intercept 30" in hits[0].chunk.text


def test_a_follow_up_to_a_very_long_question_carries_over_little_and_is_answered(settings, encoder, llm):
    from rag.conversation import standalone_history
    from rag.pipeline import build_pipeline

    long_first = " ".join(f"Shahed{i} drones launched Russia{i} overnight" for i in range(100))[:3990]
    history = standalone_history([long_first] * 49)
    query = standalone_query("and how many were intercepted?", history)
    assert query.startswith("How many were intercepted? (") and len(query) < 250
    answer = build_pipeline(settings, encoder=encoder, llm=llm).ask(
        "and how many were intercepted?", query=query + " word" * 2000)  # however long: clipped
    assert answer.question == "and how many were intercepted?"
