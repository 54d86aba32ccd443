"""Sources that disagree (rag.conflict): the answer says so and cites both, with the fakes."""

from __future__ import annotations

import pytest

from rag.conflict import DISAGREE
from rag.pipeline import build_pipeline, index_paths

PLANTED = ("Overnight strike on the capital\n\n"
           "Officials in Kyiv counted 52 Shahed drones launched by Russia during the night. "
           "Most of them were shot down over the city.\n")


@pytest.fixture
def ask(settings, encoder, llm, corpus):
    (corpus / "planted.txt").write_text(PLANTED)
    index_paths(settings, encoder)
    pipeline = build_pipeline(settings, encoder=encoder, llm=llm)

    def answer(*replies: str):
        llm.queue.extend(replies)  # the answer, then the other document's own answer
        return pipeline.ask("How many Shahed drones did Russia launch?")
    return answer


def cited(answer) -> set[str]:
    return {c.source for c in answer.citations}


def test_another_document_with_another_value_is_named_and_both_are_cited(ask):
    answer = ask("Russia launched 35 Shahed drones [1].", "YES 52 Shahed drones.")
    assert DISAGREE in answer.text
    assert {"drones.txt", "planted.txt"} <= cited(answer)
    assert "“The armed forces said that Russia launched 35 Shahed drones overnight.”" in answer.text
    assert "52 Shahed drones launched by Russia during the night" in answer.text


def test_another_document_that_agrees_is_no_disagreement(ask):
    answer = ask("Russia launched 35 Shahed drones [1].", "YES 35 Shahed drones.")
    assert DISAGREE not in answer.text and cited(answer) == {"drones.txt"}


def test_another_document_that_does_not_answer_is_no_disagreement(ask):
    answer = ask("Russia launched 35 Shahed drones [1].", "NO")
    assert DISAGREE not in answer.text


def test_an_answer_the_other_document_does_not_hold_is_no_disagreement(ask):
    """Its answer must rest on its own passage: a value the model made up is not a source."""
    answer = ask("Russia launched 35 Shahed drones [1].", "YES 70 Shahed drones.")
    assert DISAGREE not in answer.text


def test_another_document_whose_answer_says_it_does_not_know_is_no_disagreement(ask):
    """A model server that does not begin with YES or NO counts as YES; its words still count."""
    answer = ask("Russia launched 35 Shahed drones [1].",
                 "The excerpt does not give a number; it only cites Officials in Kyiv.")
    assert DISAGREE not in answer.text


def test_a_failing_model_during_the_comparison_keeps_the_checked_answer(ask, llm, monkeypatch):
    from rag.errors import ModelError

    calls = []
    real = llm.stream_answer

    def second_call_fails(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise ModelError("Cannot reach the LLM server: start it.")
        return real(*args, **kwargs)
    monkeypatch.setattr(llm, "stream_answer", second_call_fails)
    answer = ask("Russia launched 35 Shahed drones [1].")
    assert "35 Shahed drones" in answer.text and not answer.refused and len(calls) == 2


def test_a_short_answer_that_is_a_name_is_a_fact_to_compare():
    """"Astana." is a fragment: its first word is a name where its passage writes it as one
    mid-sentence; a first word the passage does not write as a name stays no fact."""
    from rag.conflict import as_fragment
    from rag.text import names

    passage = "The summit opened on Monday in Astana, the capital. Approximately 40 leaders came."
    assert names(as_fragment("Astana.", passage)) == {"astana"}
    assert names(as_fragment("Approximately 40 leaders.", passage)) == set()
    assert names("Astana.") == set()  # what the comparison read before
