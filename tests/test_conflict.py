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


def test_another_documents_sentence_read_as_a_near_miss_when_asked_again_is_no_disagreement(ask, llm):
    """The sentence the other value rests on is judged again, shown alone (rag.judge.check_answer):
    the value for a neighbouring question reads as a near miss there, as an answer's does."""
    llm.p_cited_for = {"52 Shahed drones": 0.05}  # under RIVAL_CHECK_THRESHOLD
    answer = ask("Russia launched 35 Shahed drones [1].", "YES 52 Shahed drones.")
    assert DISAGREE not in answer.text and cited(answer) == {"drones.txt"}
    assert len(llm.checks) == 2 and "52 Shahed drones" in llm.checks[1][-1]["content"]  # the answer's, then its


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

    def third_call_fails(*args, **kwargs):  # the answer, the check of it, then the comparison
        calls.append(1)
        if len(calls) > 2:
            raise ModelError("Cannot reach the LLM server: start it.")
        return real(*args, **kwargs)
    monkeypatch.setattr(llm, "stream_answer", third_call_fails)
    answer = ask("Russia launched 35 Shahed drones [1].")
    assert "35 Shahed drones" in answer.text and not answer.refused and len(calls) == 3


def test_a_short_answer_that_is_a_name_is_a_fact_to_compare():
    """"Astana." is a fragment: its first word is a name where its passage writes it as one
    mid-sentence; a first word the passage does not write as a name stays no fact."""
    from rag.conflict import as_fragment
    from rag.text import names

    passage = "The summit opened on Monday in Astana, the capital. Approximately 40 leaders came."
    assert names(as_fragment("Astana.", passage)) == {"astana"}
    assert names(as_fragment("Approximately 40 leaders.", passage)) == set()
    assert names("Astana.") == set()  # what the comparison read before


def compare(llm, reply: str, cited, *others, question: str = "How many Shahed drones did Russia launch?",
            answer: str = "Russia launched 35 Shahed drones [1]."):
    """rag.conflict.disagreement over hits (the cited one first), the other document's reply
    queued, every sentence ranked in the hits' order."""
    from rag.cite import citation_for
    from rag.conflict import disagreement
    from rag.ranking import Ranked

    hits = [cited, *others]
    ranked = [Ranked(n, i, 0.5) for n, h in enumerate(hits, start=1) for i in range(len(h.chunk.sentences))]
    llm.queue.append(reply)
    return disagreement(llm, question, answer, [citation_for(1, cited, 0)], ranked, hits)


def test_a_number_written_in_words_is_compared_as_its_digits(llm):
    from tests.fakes import hit

    cited = hit("drones.txt", "Russia launched 35 Shahed drones overnight.")
    other = hit("planted.txt", "The mayor spoke on Monday.", "Officials counted fifty-two Shahed drones.")
    found = compare(llm, "YES fifty-two drones.", cited, other)
    assert found is not None
    assert found[0].source == "drones.txt" and found[1].source == "planted.txt"
    assert "fifty-two" in found[1].quote
    assert compare(llm, "YES thirty-five drones.", cited,
                   hit("same.txt", "Officials counted thirty-five Shahed drones.")) is None


def test_another_documents_value_in_a_passage_the_answer_was_not_shown_is_read(llm):
    """The other document is read from all its retrieved passages, not from what the answer's
    prompt had room for."""
    from tests.fakes import hit

    cited = hit("drones.txt", "Russia launched 35 Shahed drones overnight.")
    first = hit("planted.txt", "The mayor spoke on Monday.")
    unrelated = hit("bakery.txt", "A bakery opens in Lyon.")
    second = hit("planted.txt", "Officials counted 52 Shahed drones.")
    found = compare(llm, "YES 52 drones.", cited, first, unrelated, second)
    assert "Officials counted 52 Shahed drones." in llm.prompts[-1][-1]["content"]
    assert found is not None and found[1].n == 4 and "52" in found[1].quote


def test_a_value_the_cited_passage_holds_elsewhere_still_differs(llm):
    """The other document's value is compared with the sentence the answer rests on: the
    cited passage's 52 targets of last week are not its 52 drones."""
    from tests.fakes import hit

    cited = hit("drones.txt", "Russia launched 35 Shahed drones overnight.", "Last week 52 targets were hit.")
    other = hit("planted.txt", "Officials counted 52 Shahed drones.")
    found = compare(llm, "YES 52 drones.", cited, other)
    assert found is not None and found[1].source == "planted.txt" and "52" in found[1].quote


def test_the_sentence_holding_a_fact_is_found_by_its_stem():
    from rag.conflict import sentence_with
    from tests.fakes import hit

    clinic = hit("clinic.txt", "Parking is free.", "The clinics run every Friday morning.")
    assert sentence_with([clinic], [1], {"fridays"}) == (1, 1)


def test_a_value_that_is_neither_number_nor_name_is_compared_on_its_words(llm):
    """A colour: the answer's words beyond the question that the other document lacks, against
    the other answer's words that the cited sentence lacks."""
    from tests.fakes import hit

    ask = {"question": "What colour is the SmileRoute dental coach?",
           "answer": "The SmileRoute dental coach is painted bright yellow [1]."}
    cited = hit("coach.txt", "The SmileRoute dental coach is painted bright yellow.")
    found = compare(llm, "YES Bright orange.", cited,
                    hit("planted.txt", "The SmileRoute coach, painted bright orange, visits schools."), **ask)
    assert found is not None and found[1].source == "planted.txt" and "orange" in found[1].quote
    assert compare(llm, "YES Bright yellow.", cited,
                   hit("same.txt", "The SmileRoute coach is bright yellow and visits schools."), **ask) is None


def test_words_against_a_number_are_no_disagreement(llm):
    """"half an hour" and "30 minutes" are one value in other words: a descriptive answer is
    compared only with another answer that states no number or name either."""
    from tests.fakes import hit

    found = compare(llm, "YES 30 minutes.", hit("manual.txt", "The kettle keeps water warm for half an hour."),
                    hit("faq.txt", "Keep-warm lasts 30 minutes after the boil."),
                    question="How long does the kettle keep water warm?",
                    answer="The kettle keeps water warm for half an hour [1].")
    assert found is None


CLOSURE = "How long will the library be closed?"
SHARING = "How many people can share a budget?"


@pytest.mark.parametrize("question, answer, cited, reply, other, differs", [
    (CLOSURE, "It will be closed for between 16 and 20 weeks [1].", "It will be closed for between 16 and 20 weeks.",
     "YES About 18 weeks.", "The library expects to be closed for about 18 weeks.", False),
    (CLOSURE, "It will be closed for 18 weeks [1].", "The library will close for 18 weeks.",
     "YES Between 16 and 20 weeks.", "Closure: between 16 and 20 weeks.", False),
    (CLOSURE, "It will be closed for between 16 and 20 weeks [1].", "It will be closed for between 16 and 20 weeks.",
     "YES About 26 weeks.", "The library expects to be closed for about 26 weeks.", True),
    (SHARING, "Up to five people can share a budget [1].", "A budget can be shared by up to five people.",
     "YES Four people.", "Four of us shared one budget without trouble.", False),
    (SHARING, "Up to five people can share a budget [1].", "A budget can be shared by up to five people.",
     "YES Up to 4 people.", "A budget can be shared by up to 4 people.", True),
])
def test_a_value_inside_the_other_answers_range_is_no_disagreement(llm, question, answer, cited, reply, other,
                                                                    differs):
    """"about 18 weeks" is consistent with "between 16 and 20 weeks", and "four of us" with
    "up to five", either way round; another range, or a value outside it, still differs."""
    from tests.fakes import hit

    found = compare(llm, reply, hit("first.txt", cited), hit("other.txt", other), question=question, answer=answer)
    assert (found is not None) == differs
    assert found is None or found[1].quote == other


def test_a_range_is_read_with_its_ends_as_numbers_writes_them():
    from rag.text import ranges

    assert ranges("closed for between 16 and 20 weeks") == [(16.0, 20.0, {"16", "20", "16-20"})]
    assert ranges("16–20 weeks, up to five people") == [(16.0, 20.0, {"16", "20", "16-20"}), (0.0, 5.0, {"5"})]
    assert ranges("between 1,000 and 2,500 visitors")[0][:2] == (1000.0, 2500.0)
    # A clock time, a date or a phone number is no range of values.
    assert ranges("open 9am to 5pm, 10:00-12:00 on Sundays; from 3 May to 27 September; 01632 25-0417") == []
