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


# --- the page ------------------------------------------------------------------------------

@pytest.fixture
def page(settings, encoder, llm, tmp_path):
    from ui.app import ChatPage

    settings = settings.model_copy(update={"data_dir": tmp_path / "data"})
    return ChatPage(build_pipeline(settings, encoder=encoder, llm=llm))


def asked(page, llm, question: str, reply: str, turns: list) -> list:
    """The tab's turns after one more answered question, as the page's answer event leaves them."""
    from ui.render import Turn

    llm.queue.append(reply)
    answer = page.pipeline.ask(question)
    return [*turns, Turn(question, query=answer.query, hits=answer.hits, answer=answer)]


def test_the_page_saves_each_answer_and_reopens_the_thread_as_it_was(page, llm):
    turns = asked(page, llm, "How many drones did Russia launch?", "Russia launched 35 Shahed drones [1].", [])
    thread_id, choices, status = page.save_turn(turns, None)
    turns = asked(page, llm, "Where did the leaders meet?", "The leaders met in Sochi [1].", turns)
    assert page.save_turn(turns, thread_id)[0] == thread_id  # the same thread
    assert choices["choices"] == [("How many drones did Russia launch? · default", thread_id)]
    reopened, chat, sources, opened, note, box = page.open_thread(thread_id)
    assert [t.answer for t in reopened] == [t.answer for t in turns] and opened == thread_id
    assert "35 Shahed drones" in sources and "Sochi" in chat[-1]["content"]
    assert note == "" and box["interactive"]


def test_two_tabs_keep_two_threads(page, llm):
    first = page.save_turn(asked(page, llm, "How many drones?", "Russia launched 35 Shahed drones [1].", []), None)[0]
    second = page.save_turn(asked(page, llm, "Who opened the bakery?", "Marie Dubois opened it [1].", []), None)[0]
    assert first != second
    assert [t.question for t in page.threads.get(second).turns] == ["Who opened the bakery?"]


def test_a_reopened_thread_marks_a_cited_file_that_changed(page, llm, settings, corpus, encoder):
    from rag.pipeline import index_paths

    turns = asked(page, llm, "How many drones did Russia launch?", "Russia launched 35 Shahed drones [1].", [])
    thread_id = page.save_turn(turns, None)[0]
    (corpus / "drones.txt").write_text("Drone attack\n\nRussia launched 40 Shahed drones.\n")
    index_paths(settings, encoder)
    reopened, _, sources, _, note, _ = page.open_thread(thread_id)
    assert "drones.txt (changed since)" in note
    assert "35 Shahed drones" in sources  # what was cited, as it was


def test_a_broken_history_never_costs_the_answer(page, llm):
    page.threads.path.parent.mkdir(parents=True, exist_ok=True)
    page.threads.path.write_bytes(b"garbage" * 100)
    turns = asked(page, llm, "How many drones did Russia launch?", "Russia launched 35 Shahed drones [1].", [])
    thread_id, choices, status = page.save_turn(turns, None)
    assert "not saved" in status and "unavailable" in status
    choices, notice = page.history()
    assert "unavailable" in notice and choices["choices"] == []
    assert turns[-1].answer is not None and "35 Shahed drones" in turns[-1].answer.text


def test_the_page_exports_the_open_thread_as_markdown(page, llm):
    from pathlib import Path

    turns = asked(page, llm, "How many drones did Russia launch?", "Russia launched 35 Shahed drones [1].", [])
    thread_id = page.save_turn(turns, None)[0]
    shown, status = page.export_thread(thread_id)
    path = shown["value"]
    assert shown["visible"]
    text = Path(path).read_text(encoding="utf-8")
    assert Path(path).name == "How-many-drones-did-Russia-launch.md" and status == ""
    assert turns[0].answer.text in text and turns[0].answer.citations[0].quote in text
    assert "open a conversation" in page.export_thread(None)[1]


def test_a_thread_whose_collection_is_gone_opens_read_only(page, llm):
    turns = asked(page, llm, "How many drones did Russia launch?", "Russia launched 35 Shahed drones [1].", [])
    thread_id = page.threads.create(turns[0].question, "deleted-news")
    page.threads.add_turn(thread_id, turns[0].question, turns[0].query, turns[0].answer, {})
    reopened, _, _, _, note, box = page.open_thread(thread_id)
    assert reopened[0].answer == turns[0].answer
    assert "no longer exists" in note and not box["interactive"]


def test_saving_into_a_thread_deleted_elsewhere_says_so_and_blames_no_file(store, answer):
    drones = answer("How many drones did Russia launch?", "Russia launched 35 Shahed drones [1].")
    thread_id = store.create(drones.question, "default")
    store.delete(thread_id)
    with pytest.raises(InputError, match="was deleted"):
        store.add_turn(thread_id, drones.question, drones.query, drones, {})


def test_saves_at_once_into_one_thread_all_land_in_order(store, answer):
    from concurrent.futures import ThreadPoolExecutor

    drones = answer("How many drones did Russia launch?", "Russia launched 35 Shahed drones [1].")
    thread_id = store.create(drones.question, "default")
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: store.add_turn(thread_id, f"q{i}", "q", drones, {}), range(60)))
    assert store.get(thread_id).summary.turns == 60


def test_search_takes_percent_and_underscore_as_they_are(store):
    store.create("plain title", "default")
    snake = store.create("file_name question", "default")
    assert [t.id for t in store.list("_")] == [snake] and store.list("%") == []


def test_a_thread_of_another_collection_opens_read_only_so_nothing_mixes(page, llm):
    turns = asked(page, llm, "How many drones did Russia launch?", "Russia launched 35 Shahed drones [1].", [])
    page.save_turn(turns, None)
    page.switch_collection("news")  # the server now searches another collection
    thread_id = page.threads.list()[0].id
    _, _, _, _, note, box = page.open_thread(thread_id)
    assert "asked collection &#x27;default&#x27;" in note and not box["interactive"]
