"""The metrics of shared/eval/README.md, as rag eval computes them."""

from rag.evaluate import fabricated, satisfies
from rag.schema import Answer, Chunk, Hit

PASSAGE = "Russia launched 35 Iranian-made Shahed drones at Putin’s order, the armed forces said."


def answer(text: str) -> Answer:
    hit = Hit(Chunk("c1", "a.txt", "Drones", 0, len(PASSAGE), PASSAGE), 1.0)
    return Answer(question="How many drones did Russia launch?", text=text, refused=False,
                  citations=(), hits=(hit,))


def test_a_number_or_name_from_no_passage_is_fabricated():
    assert fabricated(answer("Russia launched 45 drones [1]."))
    assert fabricated(answer("General Petrov launched 35 drones [1]."))


def test_names_written_differently_in_the_passage_are_not_fabricated():
    # "Iranian" occurs inside "Iranian-made"; "Putin's" is "Putin’s" with another apostrophe.
    assert not fabricated(answer("The drones were Iranian, sent on Putin's order; 35 were launched [1]."))


def test_an_answer_is_correct_when_every_group_has_an_alternative():
    assert satisfies("It was 62 percent and 25%.", [["62%", "62 percent"], ["25%"]])
    assert not satisfies("It was 62 percent.", [["62%", "62 percent"], ["25%"]])


def test_a_threshold_sweep_refuses_exactly_the_answers_whose_verdict_is_below_it():
    from train.sweep_threshold import metrics

    def result(answer, verdict, refused=False, source="a.txt"):
        return {"answer": answer, "verdict": verdict, "refused": refused,
                "citations": [{"source": f"docs/{source}"}] if not refused else []}

    good = {"answerable": True, "answers": [["35"]], "sources": ["a.txt"]}
    none = {"answerable": False, "answers": [], "sources": []}
    pairs = [(good, result("35 drones [1].", 0.9)), (good, result("35 drones [1].", 0.7)),
             (none, result("40 drones [1].", 0.75)), (none, result("", None, refused=True))]
    assert metrics(pairs, 0.5) == {"answer_correct": 1.0, "cited_gold_source": 1.0,
                                   "refusal_on_unanswerable": 0.5, "false_refusal": 0.0}
    assert metrics(pairs, 0.8) == {"answer_correct": 0.5, "cited_gold_source": 0.5,
                                   "refusal_on_unanswerable": 1.0, "false_refusal": 0.5}


def test_a_sweep_chooses_the_most_refusals_within_its_false_refusal_limit_on_the_score_asked():
    from train.sweep_threshold import SCORES, auc, most_refusals

    good = {"answerable": True, "answers": [["35"]], "sources": ["a.txt"]}
    none = {"answerable": False, "answers": [], "sources": []}

    def result(verdict, p_yes):
        return {"answer": "35 drones [1].", "verdict": verdict, "p_yes": p_yes, "refused": False,
                "citations": [{"source": "a.txt"}]}

    # Twenty answerable questions: refusing the lowest one (0.05) is allowed, a second is not.
    pairs = [(good, result(0.5 + i / 100, 0.9)) for i in range(20)]
    pairs += [(none, result(0.3, 0.95)), (none, result(0.505, 0.95)), (none, result(0.6, 0.95))]
    cut = most_refusals(pairs, SCORES["verdict"])
    assert 0.505 < cut < 0.51  # refuses 0.3, 0.505 and the answerable 0.5; not 0.51
    assert most_refusals(pairs, SCORES["p_yes"]) == 0.0  # every P(YES) of the unanswerable is above the answerable
    assert auc(pairs, SCORES["p_yes"]) == 0.0 and 0.5 < auc(pairs, SCORES["verdict"]) < 1.0


def test_a_sweep_may_choose_the_most_questions_handled_within_an_answer_correct_drop_in_each_group():
    from train.sweep_threshold import SCORES, handled, most_handled

    good = {"answerable": True, "answers": [["35"]], "sources": ["a.txt"]}
    none = {"answerable": False, "answers": [], "sources": []}

    def result(verdict):
        return {"answer": "35 drones [1].", "verdict": verdict, "p_yes": verdict, "refused": False,
                "citations": [{"source": "a.txt"}]}

    # Papers: ten right answers (0.70 to 0.79) and three unanswerable questions (0.60, 0.65, 0.72).
    papers = [(good, result(0.70 + i / 100)) for i in range(10)] + [(none, result(v)) for v in (0.60, 0.65, 0.72)]
    assert handled(papers, 0.5, SCORES["verdict"]) == 10 and handled(papers, 0.73, SCORES["verdict"]) == 10
    # Refusing 0.60 and 0.65 costs nothing; refusing 0.72 as well costs three right answers (drop 0.3).
    assert most_handled([papers], SCORES["verdict"], 0.5, max_drop=0.3) == 0.66
    assert most_handled([papers], SCORES["verdict"], 0.5, max_drop=0.03) == 0.66
    # News with a right answer scoring 0.64: its own answer_correct may not fall, so the cut stays at
    # or below 0.64, where only 0.60 is refused: the least of the thresholds that handle as many.
    news = [(good, result(0.64)), (good, result(0.9))]
    assert most_handled([papers, news], SCORES["verdict"], 0.5, max_drop=0.03) == 0.61


def test_a_sweep_of_the_check_applies_the_verdicts_threshold_first():
    from train.sweep_threshold import SCORES, metrics, most_refusals

    good = {"answerable": True, "answers": [["35"]], "sources": ["a.txt"]}
    none = {"answerable": False, "answers": [], "sources": []}

    def result(verdict, p_cited, refused=False):
        return {"answer": "35 drones [1].", "verdict": verdict, "p_yes": verdict, "p_cited": p_cited,
                "refused": refused, "citations": [{"source": "a.txt"}]}

    pairs = [(good, result(0.9, 0.8)), (good, result(0.9, 0.6)), (none, result(0.9, 0.2)),
             (none, result(0.4, 0.9)),  # the verdict says NO: refused whatever the check
             (none, result(0.9, None, refused=True))]  # refused before the check was asked
    at = metrics(pairs, 0.5, SCORES["p_cited"], verdict_at=0.5)
    assert at["refusal_on_unanswerable"] == 1.0 and at["false_refusal"] == 0.0
    assert metrics(pairs, 0.5, SCORES["p_cited"])["refusal_on_unanswerable"] == 2 / 3  # no verdict threshold
    assert metrics(pairs, 0.7, SCORES["p_cited"], verdict_at=0.5)["false_refusal"] == 0.5
    # Two answerable questions: no false refusal is allowed, so the cut stays below 0.6.
    assert 0.2 < most_refusals(pairs, SCORES["p_cited"], verdict_at=0.5) < 0.6
    # As the app thresholds it: the two readings averaged in log-odds (0.9 and 0.2 give 0.6).
    assert abs(SCORES["checked"](pairs[2][1]) - 0.6) < 1e-9 and SCORES["checked"](pairs[4][1]) is None
    assert metrics(pairs, 0.65, SCORES["checked"], verdict_at=0.5)["false_refusal"] == 0.0
    assert metrics(pairs, 0.65, SCORES["checked"], verdict_at=0.5)["refusal_on_unanswerable"] == 1.0
    # A quote is held to the check alone, as the app holds it (rag.judge.checked_score).
    quote = dict(result(0.9, 0.2), answer="The documents say: “35 drones.” [1]")
    assert SCORES["checked"](quote) == 0.2


def test_the_check_asked_again_about_a_recorded_answer_gives_the_recorded_score_or_the_changed_checks(
        settings, encoder, llm):
    from rag.index import load_index
    from rag.pipeline import build_pipeline
    from train.rescore_check import rescore

    llm.p_cited = 0.7
    llm.queue.append("Russia launched 35 Shahed drones [1].")
    answer = build_pipeline(settings, encoder=encoder, llm=llm).ask("How many Shahed drones did Russia launch?")
    refused = {"id": "q2", "question": "Who won?", "answer": "The documents do not answer.", "citations": [],
               "p_cited": None}
    run = [{"id": "q1", **answer.to_json()}, refused]
    chunks = {c.chunk_id: c for c in load_index(settings.index_location, None, None).chunks}
    again, same = rescore(run, llm, chunks)
    assert same == 1 and again[0]["p_cited"] == 0.7 and again[1] == refused  # as recorded
    llm.p_cited_for["35 Shahed drones overnight"] = 0.2  # the check changed
    changed, same = rescore(run, llm, chunks)
    assert same == 0 and changed[0]["p_cited"] == 0.2 and changed[0]["answer"] == answer.text
    assert ("(Drone attack on the capital) The armed forces said that Russia launched 35 Shahed drones "
            "overnight.") in llm.checks[-1][-1]["content"]  # shown as the run's check was


def test_the_other_documents_side_of_a_disagreement_note_is_no_citation_the_check_was_asked_about():
    from train.rescore_check import checked_citations

    mine = {"n": 1, "source": "a.txt", "chunk_id": "a#0", "start": 0, "end": 26, "quote": "Russia launched 35 drones."}
    theirs = {"n": 2, "source": "b.txt", "chunk_id": "b#0", "start": 0, "end": 26, "quote": "Russia launched 52 drones."}
    result = {"answer": "Russia launched 35 drones [1]. The sources may disagree: “Russia launched 35 "
                        "drones.” [1], but “Russia launched 52 drones.” [2].", "citations": [mine, theirs]}
    assert checked_citations(result) == [mine]
    assert checked_citations({"answer": "Russia launched 35 drones [1].", "citations": [mine]}) == [mine]


def test_clapnqs_test_split_is_written_as_a_question_set_whose_answerable_questions_name_their_passage(tmp_path):
    from rag.evaluate import load_questions
    from train.clapnq_set import write_set

    assert write_set("test", tmp_path) == 116
    questions = load_questions(tmp_path / "questions.jsonl")
    assert sum(q["answerable"] for q in questions) == 47
    for q in questions:
        assert q["sources"] == ([f"{q['id']}.txt"] if q["answerable"] else []) and q["answers"] == []
        assert (tmp_path / "docs" / f"{q['id']}.txt").read_text(encoding="utf-8").split("\n")[1] == ""  # title, blank
