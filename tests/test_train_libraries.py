"""The judge's training prompts (train.libraries): each question asked of its split's texts
indexed as one library, its prompt built by the app's own Pipeline.shown, and labelled by
whether that prompt shows the answer."""

from __future__ import annotations

from rag.pipeline import Shown
from train.judge_data import Question
from train.libraries import Libraries, shows_answer

DRONES = ("Drone attack", ("Russia launched 35 Shahed drones overnight.", "Air defences intercepted 30 of them."))
BAKERY = ("A bakery in Lyon", ("Chef Marie Dubois opened her bakery in 2019.", "She sells 400 croissants a day."))


def question(id_: str, text: str, doc, labels, split: str = "train") -> Question:
    title, sentences = doc
    return Question(id_, text, title, sentences, labels, "written", split)


def test_each_question_is_asked_of_the_whole_library_through_the_apps_prompt(tmp_path, settings, encoder, llm):
    drones = question("q1", "How many Shahed drones were intercepted?", DRONES, (0, 1))
    bakery = question("q2", "What does the Lyon bakery charge for a croissant?", BAKERY, (0, 0))
    held_out = question("q3", "Who opened the bakery?", BAKERY, (1, 0), split="test")
    libraries = Libraries(tmp_path / "libraries", [drones, bakery, held_out], settings, encoder, llm)

    shown = libraries.shown(drones)
    assert shown.prompt is not None
    assert "intercepted 30" in shown.prompt.messages[-1]["content"]  # the app's prompt, with the excerpt
    assert shows_answer(drones, shown)
    assert not shows_answer(bakery, libraries.shown(bakery))  # nothing labelled: never shown the answer
    assert shows_answer(held_out, libraries.shown(held_out))
    # One library per split: the train split's holds both texts, the test split's only its own.
    assert {f.name.split("-")[0] for f in (tmp_path / "libraries/texts/train-written").iterdir()} == {"drone", "a"}
    assert len(list((tmp_path / "libraries/texts/test-written").iterdir())) == 1


def test_an_answer_left_out_of_the_excerpts_is_not_shown():
    drones = question("q1", "How many drones were intercepted?", DRONES, (0, 1))
    only_launch = Shown({1: "Russia launched 35 Shahed drones  overnight."}, [], None, [])
    with_answer = Shown({1: "Russia launched 35 Shahed drones overnight.", 2: "Air defences\nintercepted 30 of them."},
                        [], None, [])
    assert not shows_answer(drones, only_launch)
    assert shows_answer(drones, with_answer)  # whitespace aside
