"""Saved threads (rag/threads.py): kept as they were, listed, searched, exported, and a damaged
file never costs an answer."""

from __future__ import annotations

import pytest

from rag.errors import InputError
from rag.pipeline import build_pipeline
from rag.threads import ThreadStore, ThreadsUnavailable, export_markdown, threads_path


@pytest.fixture
def store(tmp_path) -> ThreadStore:
    return ThreadStore(threads_path(tmp_path / "data"))


@pytest.fixture
def answer(settings, encoder, llm):
    pipeline = build_pipeline(settings, encoder=encoder, llm=llm)

    def ask(question: str, reply: str):
        llm.queue.append(reply)
        return pipeline.ask(question)
    return ask


def test_a_thread_comes_back_exactly_as_it_was_answered(store, answer):
    first = answer("How many drones did Russia launch?", "Russia launched 35 Shahed drones [1].")
    second = answer("Where did the leaders meet?", "The leaders met in Sochi [1].")
    thread_id = store.create(first.question, "default")
    store.add_turn(thread_id, first.question, first.query, first, {"drones.txt": "h1"})
    store.add_turn(thread_id, second.question, second.query, second, {"sub/loan.md": "h2"})
    thread = store.get(thread_id)
    assert [t.answer for t in thread.turns] == [first, second]  # citations, spans, passages and all
    assert thread.summary.title == "How many drones did Russia launch?" and thread.summary.turns == 2
    assert thread.turns[0].files == {"drones.txt": "h1"}


def test_threads_are_listed_newest_first_searched_renamed_and_deleted(store, answer):
    drones = answer("How many drones did Russia launch?", "Russia launched 35 Shahed drones [1].")
    bakery = answer("Who opened the bakery?", "Marie Dubois opened it [1].")
    old = store.create(drones.question, "default")
    store.add_turn(old, drones.question, drones.query, drones, {})
    new = store.create(bakery.question, "news")
    store.add_turn(new, bakery.question, bakery.query, bakery, {})
    assert [t.id for t in store.list()] == [new, old]
    assert [t.id for t in store.list("drones")] == [old]
    store.rename(old, "  Drone   attack\nnumbers ")
    assert store.get(old).summary.title == "Drone attack numbers"
    assert [t.id for t in store.list("attack")] == [old]
    store.delete(old)
    assert [t.id for t in store.list()] == [new]
    with pytest.raises(InputError, match="no thread"):
        store.get(old)


def test_export_holds_each_answer_its_markers_and_the_quoted_spans(store, answer):
    drones = answer("How many drones did Russia launch?", "Russia launched 35 Shahed drones [1].")
    thread_id = store.create(drones.question, "default")
    store.add_turn(thread_id, drones.question, drones.query, drones, {"drones.txt": "h1"})
    text = export_markdown(store.get(thread_id), {"drones.txt": "h2"})
    citation = drones.citations[0]
    assert "## 1. How many drones did Russia launch?" in text
    assert drones.text in text and "[1]" in drones.text
    assert (f"- [1] drones.txt (characters {citation.start}–{citation.end}) (changed since): "
            f"“{citation.quote}”") in text


def test_a_damaged_threads_file_says_history_is_unavailable(tmp_path):
    path = threads_path(tmp_path)
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ThreadsUnavailable, match="history .* is unavailable"):
        ThreadStore(path).list()


def test_a_turn_that_fails_to_save_leaves_the_thread_as_it_was(store, answer, monkeypatch):
    drones = answer("How many drones did Russia launch?", "Russia launched 35 Shahed drones [1].")
    thread_id = store.create(drones.question, "default")
    store.add_turn(thread_id, drones.question, drones.query, drones, {})
    import rag.threads

    monkeypatch.setattr(rag.threads, "answer_to_dict", lambda a: {"not": {"json", "able"}})
    with pytest.raises(TypeError):
        store.add_turn(thread_id, "again?", "again?", drones, {})
    assert store.get(thread_id).summary.turns == 1


def test_the_cli_lists_and_exports_threads(run, answer, tmp_path, monkeypatch):
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    store = ThreadStore(threads_path(tmp_path / "data"))
    assert "No saved threads yet" in run("threads", "list").output
    drones = answer("How many drones did Russia launch?", "Russia launched 35 Shahed drones [1].")
    thread_id = store.create(drones.question, "gone")
    store.add_turn(thread_id, drones.question, drones.query, drones, {"drones.txt": "h1"})
    listed = run("threads", "list")
    assert thread_id in listed.output and "How many drones did Russia launch?" in listed.output
    exported = run("threads", "export", thread_id, "-o", str(tmp_path / "t.md"))
    assert exported.exit_code == 0
    text = (tmp_path / "t.md").read_text(encoding="utf-8")
    assert drones.citations[0].quote in text and "(no longer indexed)" in text


def test_the_cli_on_a_missing_thread_or_a_damaged_file(run, tmp_path, monkeypatch):
    from tests.conftest import assert_user_error

    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    assert_user_error(run("threads", "export", "nope"), "no thread nope")
    threads_path(tmp_path / "data").write_bytes(b"garbage" * 100)
    assert_user_error(run("threads", "list"), "history", "unavailable")
