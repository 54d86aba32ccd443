"""The pipeline with fakes: checked answers, quotes as fallback, evidence-based refusal."""

import pytest

from rag.pipeline import Final, Retrieved, Token, build_pipeline, choose_quotes, quote_answer
from tests.fakes import hit


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


def test_when_nothing_survives_the_best_sentence_is_quoted(settings, encoder, llm):
    llm.queue.append("About 90 drones were launched by General Petrov [2].")
    answer = pipeline(settings, encoder, llm).ask("How large was the state loan Moscow promised Minsk?")
    assert not answer.refused
    assert answer.text.startswith("The documents say: “")
    assert "$1.5 billion" in answer.text and "Petrov" not in answer.text
    assert answer.citations[0].source == "sub/loan.md"


def test_model_saying_it_does_not_know_is_overruled_by_strong_evidence(settings, encoder, llm):
    llm.queue.append("I don't know.")
    answer = pipeline(settings, encoder, llm).ask("How many croissants does Marie Dubois sell every morning?")
    assert not answer.refused and "400 croissants" in answer.text


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
    assert set(data) == {"question", "answer", "refused", "citations", "passages", "timings_ms", "model"}
    assert set(data["citations"][0]) == {"n", "source", "chunk_id", "start", "end", "quote"}
    assert set(data["passages"][0]) == {"n", "source", "chunk_id", "score", "start", "end", "text"}
    assert [p["n"] for p in data["passages"]] == [1, 2]
    assert set(data["timings_ms"]) == {"retrieve", "first_token", "total"}
    assert data["model"] == {"llm": "fake-llm", "embedder": "fake-encoder"}


def test_a_follow_up_query_replaces_the_question_for_retrieval(settings, encoder, llm):
    llm.queue.append("Air defences intercepted 30 of them [1].")
    answer = pipeline(settings, encoder, llm).ask(
        "and how many were intercepted?", query="How many Shahed drones were intercepted?")
    assert answer.question == "and how many were intercepted?"
    assert answer.hits[0].chunk.source == "drones.txt" and "30" in answer.text


def test_true_but_pointless_model_answer_gets_the_answering_sentence_quoted(settings, encoder, llm):
    llm.queue.append("Moscow promised to grant Minsk a state loan [1].")
    answer = pipeline(settings, encoder, llm).ask("How large was the state loan Moscow promised Minsk?")
    assert answer.text.startswith("Moscow promised to grant Minsk a state loan [")
    assert "“Moscow promised to grant Minsk a state loan of $1.5 billion.”" in answer.text


def test_warm_up_sends_the_fixed_instruction_prefix_to_the_model(settings, encoder, llm):
    p = pipeline(settings, encoder, llm)
    p.warm_up()
    [messages] = llm.prompts
    assert messages[0]["content"].startswith("You answer questions using only the numbered passages")
    assert messages[1]["content"].startswith("Passages:")


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


def test_two_close_answering_sentences_from_two_passages_are_both_quoted():
    hits = [hit("club.txt", "Ashcombe Rovers will leave Mill Lane for Fenby Cross in 2026.",
                "The club was founded in 1901."),
            hit("sale.txt", "The Mill Lane site will be sold to the housebuilder Corrigan Homes."),
            hit("other.txt", "Rovers fans met on Monday.")]
    question = "Which company is buying the Mill Lane site from Ashcombe Rovers?"
    idf = {}
    # The ranking cannot tell the lead sentence from the answering one: quote both.
    ok, picked = choose_quotes(question, hits, [(1, 0, 0.63), (2, 0, 0.60), (3, 0, 0.2)], idf)
    assert ok and [(n, i) for n, i, _, _ in picked] == [(1, 0), (2, 0)]
    text, citations = quote_answer(hits, [(n, a, b) for n, _, a, b in picked])
    assert text == ("The documents say: “Ashcombe Rovers will leave Mill Lane for Fenby Cross in 2026.” [1] … "
                    "“The Mill Lane site will be sold to the housebuilder Corrigan Homes.” [2]")
    assert [c.source for c in citations] == ["club.txt", "sale.txt"]
    # A runner-up next to the best sentence joins it in one quote.
    pair = [hit("pair.txt", "Corrigan Homes will pay cash.", "Varga Builders will pay later.")]
    ok, picked = choose_quotes("Which company is buying the site?", pair, [(1, 1, 0.6), (1, 0, 0.59)], idf)
    assert ok and picked == [(1, 1, 0, 1)]
    # A clear winner is quoted alone.
    ok, picked = choose_quotes(question, hits, [(1, 0, 0.80), (2, 0, 0.60)], idf)
    assert [(n, i) for n, i, _, _ in picked] == [(1, 0)]


def test_a_close_runner_up_is_quoted_after_a_model_sentence_resting_on_the_best_one(settings, encoder, llm):
    hits = [hit("club.txt", "Ashcombe Rovers will leave Mill Lane for Fenby Cross in 2026.",
                "The club was founded in 1901."),
            hit("sale.txt", "The Mill Lane site will be sold to the housebuilder Corrigan Homes."),
            hit("other.txt", "Rovers fans met on Monday.")]
    question = "Which company is buying the Mill Lane site from Ashcombe Rovers?"
    p = pipeline(settings, encoder, llm)
    ranked = [(1, 0, 0.63), (2, 0, 0.60), (3, 0, 0.2)]
    raw = "Ashcombe Rovers will leave Mill Lane for Fenby Cross in 2026 [1]."
    text, citations, refused = p._finish(question, raw, hits, ranked, {}, p.index, encoder)
    # The model's sentence rests on the best ranked one; the runner-up answers as well.
    assert not refused
    assert text == ("Ashcombe Rovers will leave Mill Lane for Fenby Cross in 2026 [1]. The documents say: "
                    "“The Mill Lane site will be sold to the housebuilder Corrigan Homes.” [2]")
    assert [c.source for c in citations] == ["club.txt", "sale.txt"]


def test_a_close_runner_up_without_what_was_asked_is_not_quoted():
    hits = [hit("a.txt", "The loan was agreed in Sochi."), hit("b.txt", "Talks went on for hours.")]
    ok, picked = choose_quotes("How large was the loan?", hits, [(1, 0, 0.6), (2, 0, 0.59)], {})
    assert not ok and [(n, i) for n, i, _, _ in picked] == [(1, 0)]  # no number: judged as no answer


def test_a_quote_is_judged_without_its_introduction():
    # After "The documents say: “" the quote's first word would pass for a name.
    hits = [hit("roof.txt", "Architects from the firm Dunmore & Salk replaced the roof.")]
    ok, _ = choose_quotes("Which architect at Dunmore & Salk led the team?", hits, [(1, 0, 0.5)], {})
    assert not ok


def test_a_quote_about_another_company_is_no_answer():
    hits = [hit("water.txt", "Orrin Valley Water will raise its bills.",
                "Its chief executive, Anand Raveley, said the drought showed the limits."),
            hit("bikes.txt", "The scheme is run by Velomara Mobility.", "Its chief executive, Ines Varga, rides daily.")]
    question = "What is the name of Velomara Mobility's chief executive?"
    ok, picked = choose_quotes(question, hits, [(1, 1, 0.6), (2, 1, 0.55)], {})
    assert ok and [(n, i) for n, i, _, _ in picked] == [(2, 1)]  # the sentence before names Velomara
    ok, _ = choose_quotes(question, hits[:1], [(1, 1, 0.6)], {})
    assert not ok


def test_a_quote_may_speak_of_what_the_question_names_in_words_its_article_explains():
    question = "Who started the Fenwatch wildlife rescue?"
    founder = hit("rescue.txt", "The centre's founder, Gwen Aldous, started it in her garden.")
    same = [hit("rescue.txt", "Fenwatch Wildlife Rescue admitted 3,870 animals."), founder]
    ok, _ = choose_quotes(question, same, [(2, 0, 0.6)], {})
    assert ok  # "the centre" is Fenwatch: the article says so a paragraph before
    other = [hit("news.txt", "Fenwatch Wildlife Rescue admitted 3,870 animals."), founder]
    ok, _ = choose_quotes(question, other, [(2, 0, 0.6)], {})
    assert not ok  # another article's Fenwatch says nothing of this centre


def test_a_quote_naming_others_must_name_what_the_question_names_itself():
    question = "What was the total value of Brightplate's school meals contract?"
    other = hit("meals.txt", "Greenfold Catering, a firm based in Ashby Marsh, won a contract worth £14.2 million.")
    before = hit("meals.txt", "Brightplate is pulling out of its contract two years early.")
    ok, _ = choose_quotes(question, [before, other], [(2, 0, 0.6)], {})
    assert not ok  # the contract is Greenfold's, though the article names Brightplate
    plain = hit("meals.txt", "The contract had been worth £9 million a year.")
    ok, _ = choose_quotes(question, [before, plain], [(2, 0, 0.6)], {})
    assert ok  # the article's contract: Brightplate's, a paragraph before


def test_a_quote_for_a_role_must_speak_of_the_role():
    hits = [hit("plant.txt", "The main contractor was Halvorsen & Brant Engineering.",
                "The plant's chief engineer once ran a plant in Sweden.")]
    question = "What is the name of the chief engineer at the plant?"
    ok, _ = choose_quotes(question, hits, [(1, 0, 0.6), (1, 1, 0.55)], {})
    assert not ok  # a firm's name, and an engineer with no name
    named = [hit("plant.txt", "The main contractor was Halvorsen & Brant Engineering.",
                 "The plant's chief engineer, Lars Berg, once ran a plant in Sweden.")]
    ok, picked = choose_quotes(question, named, [(1, 0, 0.6), (1, 1, 0.55)], {})
    text, _ = quote_answer(named, [(n, a, b) for n, _, a, b in picked])
    assert ok and "Lars Berg" in text


def test_a_quote_may_name_the_holder_of_a_role_given_elsewhere_in_the_article():
    question = "Which spokesman dismissed the claim?"
    hits = [hit("k.txt", "In reply, Peskov said her remark was wrong.", "It was Monday.", "Each spokesman spoke."),
            hit("k.txt", "Separately, Kremlin spokesman Dmitry Peskov affirmed the result.")]
    ok, _ = choose_quotes(question, hits, [(1, 0, 0.6)], {})
    assert ok
    # Orlov is a spokesman; Peskov is not said to be one.
    hits = [hit("k.txt", "In reply, Peskov said her remark was wrong.", "It was Monday.", "Each spokesman spoke."),
            hit("k.txt", "A spokesman for the army, Ivan Orlov, spoke too.")]
    ok, _ = choose_quotes(question, hits, [(1, 0, 0.6)], {})
    assert not ok


def test_a_quote_must_speak_of_the_thing_counted_not_only_its_article():
    hits = [hit("bees.txt", "The restrictions affect 612 colonies.", "Inspectors came on Monday.",
                "The valley last saw an outbreak in 2019, when 12 apiaries were affected.")]
    question = "How many colonies were destroyed in the 2019 outbreak?"
    ok, _ = choose_quotes(question, hits, [(1, 2, 0.6)], {})
    assert not ok  # the article counts colonies, but not in 2019
    near = [hit("bees.txt", "Inspectors came on Monday.", "The 2019 outbreak reached many colonies.",
                "In the end 41 of them were destroyed.")]
    ok, _ = choose_quotes(question, near, [(1, 2, 0.6)], {})
    assert ok  # "them" are the colonies of the sentence before


def test_the_models_restatement_of_the_question_is_no_evidence(settings, encoder, llm):
    # The passage counts croissants; the model's sentence says ovens. Every word it adds
    # (the number) is in the passage, but the passage does not count ovens.
    llm.queue.append("Marie Dubois's bakery has 400 ovens [1].")
    answer = pipeline(settings, encoder, llm).ask("How many ovens does Marie Dubois's bakery have?")
    assert answer.refused
    llm.queue.append("Marie Dubois sells about 400 croissants every morning [1].")
    answer = pipeline(settings, encoder, llm).ask("How many croissants does Marie Dubois sell every morning?")
    assert not answer.refused and "400 croissants" in answer.text


def test_a_quote_for_a_deputy_must_name_a_deputy():
    question = "What is the name of Millbrook's deputy mayor?"
    hits = [hit("m.txt", "Millbrook's Mayor Denise Okafor backed the plan.")]
    ok, _ = choose_quotes(question, hits, [(1, 0, 0.6)], {})
    assert not ok
    hits = [hit("m.txt", "Millbrook's deputy mayor, Raymond Pruitt, backed the plan.")]
    ok, _ = choose_quotes(question, hits, [(1, 0, 0.6)], {})
    assert ok


@pytest.mark.parametrize("name,article,model_answer,question", [
    # The passage names a supervisor and, elsewhere, Marie Dubois; the model pairs them.
    ("site.txt", "Site accident\n\nMarie Dubois fell from the scaffold on Monday. "
     "Two workers had warned the site supervisor about missing boards the week before.\n",
     "The site supervisor who was warned about missing boards is Marie Dubois [1].",
     "What is the name of the site supervisor warned about missing boards?"),
    # The passage's amount is the grant's; the model gives it as the loan's.
    ("club.txt", "New stadium\n\nThe club has received a grant of 1.1 million pounds from the Grounds Trust, "
     "and the remaining amount will be covered by a loan from the borough council.\n",
     "The loan from the borough council is 1.1 million pounds [1].",
     "How big is the loan the borough council is giving the club?"),
])
def test_a_model_sentence_whose_passage_does_not_give_what_was_asked_is_refused(
        settings, encoder, llm, name, article, model_answer, question):
    (settings.corpus[0] / name).write_text(article, encoding="utf-8")
    llm.queue.append(model_answer)
    assert pipeline(settings, encoder, llm).ask(question).refused


def test_a_question_asking_two_things_gets_both_answered(settings, encoder, llm):
    (settings.corpus[0] / "bells.txt").write_text(
        "Bell ringers and the new estate\n\n"
        "The St Anne's ringers practise on Tuesday evenings now, as they have for eighty years. "
        "The vicar has offered the church hall for a meeting. "
        "Their captain may move practice to Wednesday.\n", encoding="utf-8")
    question = "Which evening do the St Anne's ringers practise on now, and which evening might they move practice to?"
    llm.queue.append("The St Anne's ringers practise on Tuesday evenings [1].")
    answer = pipeline(settings, encoder, llm).ask(question)
    assert not answer.refused
    assert answer.text.startswith("The St Anne's ringers practise on Tuesday evenings [")
    assert answer.text.endswith("“Their captain may move practice to Wednesday.” [1]")
    assert {c.source for c in answer.citations} == {"bells.txt"}
    # Asked one at a time, the model's answer stands alone.
    llm.queue.append("The St Anne's ringers practise on Tuesday evenings [1].")
    answer = pipeline(settings, encoder, llm).ask("Which evening do the St Anne's ringers practise on now?")
    assert "Wednesday" not in answer.text


def test_a_part_nothing_answers_adds_nothing(settings, encoder, llm):
    llm.queue.append("Chef Marie Dubois opened her bakery in 2019 [1].")
    answer = pipeline(settings, encoder, llm).ask(
        "When did Marie Dubois open her bakery, and what did the Lyon council pay for its new roof?")
    assert answer.text == "Chef Marie Dubois opened her bakery in 2019 [1]."


def test_each_passage_sentence_is_embedded_once_per_question(settings, encoder, llm):
    ask = pipeline(settings, encoder, llm).ask
    encoder.encoded.clear()
    llm.queue.append("Russia launched 35 Shahed drones [1].")
    ask("How many Shahed drones did Russia launch, and how many did air defences intercept?")
    # Ranked for the question and for each of its two parts, and checked against the answer.
    assert encoder.encoded.count("Air defences intercepted 30 of them.") == 1
