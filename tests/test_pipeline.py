"""The pipeline with fakes: the model's verdict, checked answers, quotes as fallback."""

import pytest

from rag.pipeline import Final, Retrieved, Token, build_pipeline
from rag.prompt import CHECK_PROMPT


def pipeline(settings, encoder, llm):
    return build_pipeline(settings, encoder=encoder, llm=llm)


def test_supported_answer_is_cited_with_the_exact_span(settings, encoder, llm):
    llm.queue.append("Russia launched 35 Shahed drones [3].")
    answer = pipeline(settings, encoder, llm).ask("How many Shahed drones did Russia launch?")
    assert not answer.refused
    assert answer.text.startswith("Russia launched 35 Shahed drones [")
    [c] = answer.citations
    assert c.source == "drones.txt"
    assert c.quote == "The armed forces said that Russia launched 35 Shahed drones overnight."
    text = (settings.corpus[0] / "drones.txt").read_text()
    assert text[c.start:c.end] == c.quote
    assert answer.hits[c.n - 1].chunk.chunk_id == c.chunk_id


def test_unsupported_sentence_is_dropped_and_supported_one_kept(settings, encoder, llm):
    llm.queue.append("Russia launched 35 Shahed drones [1]. President Zelensky called it terror [1].")
    answer = pipeline(settings, encoder, llm).ask("How many Shahed drones did Russia launch?")
    assert "35" in answer.text and "Zelensky" not in answer.text


TWO_FACTS = "How many drones did Russia launch, and how large was the loan to Minsk?"


def test_a_sentence_joining_facts_of_two_passages_is_kept_statement_by_statement(settings, encoder, llm):
    # No one passage sentence holds both facts, so the sentence as a whole rests on none.
    llm.queue.append("Russia launched 35 Shahed drones [1], and Moscow promised Minsk a loan of $1.5 billion [2].")
    answer = pipeline(settings, encoder, llm).ask(TWO_FACTS)
    assert "35 Shahed drones" in answer.text and "$1.5 billion" in answer.text
    assert not answer.text.startswith("The documents say")
    assert {c.source for c in answer.citations} == {"drones.txt", "sub/loan.md"}


def test_a_joined_statement_without_support_is_dropped_and_the_other_kept(settings, encoder, llm):
    llm.queue.append("Russia launched 35 Shahed drones [1], and General Petrov promised a loan of $9 billion [2].")
    answer = pipeline(settings, encoder, llm).ask(TWO_FACTS)
    assert "35 Shahed drones" in answer.text and "Petrov" not in answer.text and "$9" not in answer.text
    assert answer.text.startswith("Russia launched 35 Shahed drones [")  # the model's statement, not a quote


def test_when_nothing_survives_the_best_sentence_is_quoted(settings, encoder, llm):
    llm.queue.append("About 90 drones were launched by General Petrov [2].")
    answer = pipeline(settings, encoder, llm).ask("How large was the state loan Moscow promised Minsk?")
    assert not answer.refused
    assert answer.text.startswith("The documents say: “")
    assert "$1.5 billion" in answer.text and "Petrov" not in answer.text
    assert answer.citations[0].source == "sub/loan.md"


# With P(YES) 0.9 at the verdict, P(YES) 0.4 asked again averages to 0.71 in log-odds, above 0.62:
# enough for the model's own answer, not for a quote, which the check alone must pass.
@pytest.mark.parametrize("own_words,refused", [(True, False), (False, True)])
def test_a_quote_is_held_to_the_check_alone(settings, encoder, llm, own_words, refused):
    from rag.judge import mean_log_odds

    assert mean_log_odds(0.9, 0.4) > settings.check_threshold > 0.4
    llm.p_yes, llm.p_cited = 0.9, 0.4
    llm.queue.append("Moscow promised Minsk a state loan of $1.5 billion [1]." if own_words
                     else "About 90 drones were launched by General Petrov [2].")
    answer = pipeline(settings, encoder, llm).ask("How large was the state loan Moscow promised Minsk?")
    assert answer.p_cited == 0.4 and len(llm.checks) == 1
    assert answer.refused is refused
    assert answer.text.startswith("The documents do not answer" if refused else "Moscow promised Minsk")


def test_a_model_that_read_the_answering_sentences_and_says_it_does_not_know_refuses(settings, encoder, llm):
    llm.queue.append("I don't know.")
    answer = pipeline(settings, encoder, llm).ask("How many croissants does Marie Dubois sell every morning?")
    assert answer.refused and not answer.citations and len(llm.prompts) == 1


def test_unrelated_question_is_refused_without_asking_the_model(settings, encoder, llm):
    answer = pipeline(settings, encoder, llm).ask("Who won the 2022 FIFA World Cup?")
    assert answer.refused and not answer.citations
    assert answer.text.startswith("The documents do not answer this question.")
    assert "closest passages" in answer.text and answer.hits  # still shows what was searched
    assert llm.prompts == []


def test_events_stream_in_order_and_the_json_has_the_documented_shape(settings, encoder, llm):
    llm.queue.append("The leaders met in Sochi [1].")
    events = list(pipeline(settings, encoder, llm).ask_stream("Where did the leaders meet on Monday?", k=2))
    assert isinstance(events[0], Retrieved) and isinstance(events[-1], Final)
    assert "".join(e.text for e in events if isinstance(e, Token)) == "The leaders met in Sochi [1]."
    data = events[-1].answer.to_json()
    assert set(data) == {"question", "answer", "refused", "citations", "passages", "timings_ms", "model", "verdict",
                         "p_yes", "p_cited"}
    assert set(data["citations"][0]) == {"n", "source", "chunk_id", "start", "end", "quote"}
    assert set(data["passages"][0]) == {"n", "source", "chunk_id", "score", "start", "end", "text"}
    assert [p["n"] for p in data["passages"]] == [1, 2]
    assert set(data["timings_ms"]) == {"retrieve", "judge", "verdict", "first_token", "check", "disagreement",
                                       "total"}
    assert data["model"] == {"llm": "fake-llm", "embedder": "fake-encoder"}
    assert data["verdict"] == 1.0  # the fake's reply has no YES or NO: it answers, P(YES) 1
    assert data["p_yes"] == 1.0  # no trained judge: the verdict is P(YES)


def test_a_follow_up_query_replaces_the_question_for_retrieval(settings, encoder, llm):
    llm.queue.append("Air defences intercepted 30 of them [1].")
    answer = pipeline(settings, encoder, llm).ask(
        "and how many were intercepted?", query="How many Shahed drones were intercepted?")
    assert answer.question == "and how many were intercepted?"
    assert answer.hits[0].chunk.source == "drones.txt" and "30" in answer.text


def test_a_model_answer_that_only_restates_the_question_gets_the_answering_sentence_quoted(
        settings, encoder, llm):
    llm.queue.append("Moscow promised Minsk a state loan [1].")
    answer = pipeline(settings, encoder, llm).ask("How large was the state loan Moscow promised Minsk?")
    assert answer.text == "The documents say: “Moscow promised to grant Minsk a state loan of $1.5 billion.” [1]"


def test_a_quote_is_never_a_line_that_only_names_what_was_asked(settings, encoder, llm):
    (settings.corpus[0] / "garden.txt").write_text(
        "Care sheet: olive trees\n\nFenwick Lane Garden Centre, plant doctor desk.\n\n"
        "Our plant doctor can be reached on 01632 960 274.\n", encoding="utf-8")
    question = "What number reaches the plant doctor desk at Fenwick Lane Garden Centre?"
    p = pipeline(settings, encoder, llm)
    hits = p.retriever.search(question, settings.k)
    nearest = p.shown(question, hits, p.retriever, encoder, 100).sentences[0]
    assert "Garden Centre, plant doctor desk" in hits[nearest.n - 1].chunk.text  # ranked first: all asked words
    llm.queue.append("You can reach the plant doctor desk at Fenwick Lane Garden Centre [1].")
    answer = p.ask(question)
    assert answer.text.startswith("The documents say: “Our plant doctor can be reached on 01632 960 274.”")


def test_warm_up_sends_the_fixed_instruction_prefix_to_the_model(settings, encoder, llm):
    p = pipeline(settings, encoder, llm)
    p.warm_up()
    [messages] = llm.prompts
    assert messages[0]["content"].startswith("You answer questions using only the numbered passages")
    assert messages[-1]["content"].startswith("Passages:")


@pytest.mark.parametrize("preamble", ["The passage mentions that ", "The answer is: ", "According to the documents, "])
def test_talk_about_the_passages_is_trimmed_from_kept_sentences(settings, encoder, llm, preamble):
    llm.queue.append(f"{preamble}Russia launched 35 Shahed drones [1].")
    answer = pipeline(settings, encoder, llm).ask("How many Shahed drones did Russia launch?")
    assert answer.text.startswith("Russia launched 35 Shahed drones [")


def test_a_refusal_names_each_closest_document_once(settings, encoder, llm):
    answer = pipeline(settings, encoder, llm).ask("Who won the 2022 FIFA World Cup?")
    named = answer.text.split("closest passages found were in: ")[1]
    sources = [part.rsplit("(", 1)[1].rstrip(").") for part in named.split("; ")]
    assert len(sources) == len(set(sources)) >= 2


def test_the_model_is_asked_for_its_verdict_first_and_the_word_is_not_shown(settings, encoder, llm):
    llm.queue.append("YES. Chef Marie Dubois opened her bakery in 2019 [1].")
    events = list(pipeline(settings, encoder, llm).ask_stream("When did Marie Dubois open her bakery?"))
    assert "Begin your reply with YES" in llm.prompts[0][0]["content"]
    assert "".join(e.text for e in events if isinstance(e, Token)).strip().startswith("Chef Marie Dubois")
    assert events[-1].answer.text == "Chef Marie Dubois opened her bakery in 2019 [1]."


def test_a_no_verdict_refuses_and_stops_the_model(settings, encoder, llm):
    llm.queue.append("NO. The passages say she sells 400 croissants, not what they cost.")
    events = list(pipeline(settings, encoder, llm).ask_stream("How much does a croissant cost at Marie Dubois's bakery?"))
    answer = events[-1].answer
    assert answer.refused and not answer.citations and answer.text.startswith("The documents do not answer")
    assert not any(isinstance(e, Token) for e in events)  # nothing of the model's reply was shown


@pytest.mark.parametrize("p_yes,refused", [(0.49, True), (0.51, False)])
def test_the_verdict_is_read_as_a_probability_against_the_threshold(settings, encoder, llm, p_yes, refused):
    llm.p_yes = p_yes
    llm.queue.append("YES. She sells about 400 croissants every morning [1].")
    answer = pipeline(settings, encoder, llm).ask("How many croissants does Marie Dubois sell?")
    assert answer.refused is refused


# With P(YES) 0.9 at the verdict, the two readings average to 0.62 in log-odds at P(YES) 0.228 asked again.
@pytest.mark.parametrize("p_cited,refused", [(0.22, True), (0.24, False)])
def test_the_judge_asked_again_about_the_answer_refuses_below_its_threshold(settings, encoder, llm, p_cited,
                                                                           refused):
    from rag.judge import mean_log_odds

    assert settings.check_threshold == 0.62 and mean_log_odds(0.9, 0.22) < 0.62 < mean_log_odds(0.9, 0.24)
    llm.p_yes, llm.p_cited = 0.9, p_cited
    llm.queue.append("Russia launched 35 Shahed drones [1].")
    answer = pipeline(settings, encoder, llm).ask("How many Shahed drones did Russia launch?")
    assert answer.refused is refused and answer.p_cited == p_cited
    assert answer.text.startswith("The documents do not answer") is refused
    # It is shown the question and only the sentence the answer cites, under its document's title.
    [check] = llm.checks
    shown = check[-1]["content"]
    assert "How many Shahed drones did Russia launch?" in shown
    assert ("(Drone attack on the capital) The armed forces said that Russia launched 35 Shahed drones "
            "overnight.") in shown
    assert "intercepted" not in shown  # the passage's other sentences are left out
    assert check[0]["content"] == CHECK_PROMPT


def test_two_facts_from_one_passage_cite_both_sentences_and_the_check_reads_both(settings, encoder, llm):
    llm.queue.append("Russia launched 35 Shahed drones [1]. Air defences intercepted 30 of them [1].")
    answer = pipeline(settings, encoder, llm).ask("How many drones did Russia launch, and how many were intercepted?")
    assert not answer.refused
    assert [(c.n, c.quote) for c in answer.citations] == [
        (1, "The armed forces said that Russia launched 35 Shahed drones overnight."),
        (1, "Air defences intercepted 30 of them.")]
    [check] = llm.checks
    assert "35 Shahed drones overnight." in check[-1]["content"]
    assert "intercepted 30 of them." in check[-1]["content"]


def test_an_answer_whose_check_cannot_run_stands_as_verified(settings, encoder, llm, monkeypatch):
    from rag.errors import ModelError

    real = llm.stream_answer

    def check_fails(messages, max_tokens, temperature):
        if messages[0]["content"] == CHECK_PROMPT:
            raise ModelError("Cannot reach the LLM server: start it.")
        return real(messages, max_tokens, temperature)
    monkeypatch.setattr(llm, "stream_answer", check_fails)
    llm.queue.append("Russia launched 35 Shahed drones [1].")
    answer = pipeline(settings, encoder, llm).ask("How many Shahed drones did Russia launch?")
    assert not answer.refused and "35 Shahed drones" in answer.text and answer.p_cited is None


# The Minsk loan's document gives $1.5 billion and no year; the drones' gives 35 and 30.
@pytest.mark.parametrize("question,refused", [
    ("How large was the state loan Moscow promised Minsk in 2021?", True),  # a year it never gives
    ("How large was the state loan Moscow promised Minsk?", False),
    ("Was the state loan Moscow promised Minsk $1.5 billion?", False),  # a value it gives
])
def test_a_question_naming_a_value_the_cited_document_never_gives_is_refused_unchecked(
        settings, encoder, llm, question, refused):
    llm.queue.append("Moscow promised Minsk a state loan of $1.5 billion [1].")
    answer = pipeline(settings, encoder, llm).ask(question)
    assert answer.refused is refused
    assert (llm.checks == []) is refused  # refused before the check is asked
    assert answer.text.startswith("The documents do not answer") is refused


def _hits(*texts):
    from rag.schema import Chunk, Hit

    return [Hit(chunk=Chunk(chunk_id=str(i), source=f"{i}.txt", title="Ski hire 2026/27", text=t, start=0,
                            end=len(t)), score=1.0) for i, t in enumerate(texts)]


@pytest.mark.parametrize("question,unstated", [
    ("adult ski pack for 7 days", {"7"}),  # the table stops at 6 days
    ("adult ski pack for 6 days", set()),
    ("adult ski pack for six days", set()),
    ("adult ski pack for seven days", set()),  # in words, a count as often as a value: the check's
    ("on Saturday, at what two times does the wheel turn?", set()),
    ("a 45-minute lesson", {"45"}),  # a hyphenated number's part is a number
    ("delivery to an address 12 miles away", set()),  # inside a range the document gives
    ("prices in 2026", set()),  # the title gives it
    ("prices in 2024/25", {"2024", "25"}),
    ("boots for Flat 4B", {"4B"}),  # a code is a value too
    ("what does a 35 kg parcel cost?", set()),  # the other cited document gives it
])
def test_a_value_the_question_names_is_looked_for_in_the_cited_documents(question, unstated):
    from rag.judge import unstated_values
    from rag.schema import Citation

    hits = _hits("Adult ski pack — 1 day: €38; 2 days: €72; 6 days: €189",
                 "Delivery within 10-15 miles: £5. Parcels over 35 kg are not carried.",
                 "A 45-minute lesson costs £20. Trip 7 leaves at 9:00.")  # not cited
    cited = [Citation(n=n, source=hits[n - 1].chunk.source, chunk_id=str(n - 1), start=0, end=1, quote="x")
             for n in (1, 2)]
    assert unstated_values(question, hits, cited) == unstated


def test_a_code_the_question_names_in_another_case_is_the_documents_code():
    from rag.judge import unstated_values
    from rag.schema import Citation

    hits = _hits("VOXA M3 quick start. Bed temperature for PETG: 75 °C.")
    cited = [Citation(n=1, source=hits[0].chunk.source, chunk_id="0", start=0, end=1, quote="x")]
    assert unstated_values("voxa m3 bed temperature petg", hits, cited) == set()
    assert unstated_values("voxa m4 bed temperature petg", hits, cited) == {"m4"}


def test_a_refused_answer_is_not_checked_again(settings, encoder, llm):
    llm.queue.append("I don't know.")
    answer = pipeline(settings, encoder, llm).ask("How many croissants does Marie Dubois sell every morning?")
    assert answer.refused and llm.checks == [] and answer.p_cited is None


def test_a_question_far_from_every_sentence_is_refused_before_the_model(settings, encoder, llm):
    answer = pipeline(settings, encoder, llm).ask("Who won the 2022 FIFA World Cup?")
    assert answer.refused and llm.prompts == [] and answer.verdict is None and answer.p_yes is None


def test_a_model_sentence_resting_on_a_sentence_it_was_not_shown_is_dropped(settings, encoder, llm):
    llm.queue.append("Chef Marie Dubois opened her bakery in 2019 [1]. The mayor said about 3% of "
                     "consumers were left without heat [2].")
    short = settings.model_copy(update={"passage_tokens": 32})
    answer = pipeline(short, encoder, llm).ask("When did Marie Dubois open her bakery?")
    assert "consumers" not in llm.prompts[0][-1]["content"]
    assert answer.text == "Chef Marie Dubois opened her bakery in 2019 [1]."


def test_the_model_is_shown_the_sentences_closest_to_the_question_within_its_budget(settings, encoder, llm):
    llm.queue.append("The leaders met in Sochi [1].")
    short = settings.model_copy(update={"passage_tokens": 32})
    pipeline(short, encoder, llm).ask("Where did the leaders meet on Monday?")
    user = llm.prompts[0][-1]["content"]
    assert "The leaders met in Sochi on Monday." in user and "consumers" not in user


def test_a_sentence_resting_on_two_neighbouring_sentences_cites_both():
    from rag.cite import Support
    from rag.pipeline import compose
    from tests.test_cite import CONTRACT, HOLIDAY

    text, [citation] = compose([HOLIDAY], [Support(1, 0, 0.8, 1)], [CONTRACT])
    assert text == "Employees are entitled to 25 working days a year, from 1 April to 31 March [1]."
    assert citation.quote == ("The Employee is entitled to 25 working days of paid holiday in each holiday year. "
                              "The holiday year runs from 1 April to 31 March.")
