"""Answer form: what a question asks for, and whether an answer is of that kind."""

import pytest

from rag.answer_form import (answers_question, counted_thing, has_expected_answer, mentions, named_role,
                             priced_thing, question_parts, role_of_another, role_rank, speaks_of_asked_thing)


@pytest.mark.parametrize("question,answer,expected", [
    ("How many civilians were killed in the attack?", "Russia launched 35 drones; 30 were shot down.", False),
    ("How many civilians were killed in the attack?", "Two civilians were killed.", True),
    ("How many Iskander launchers did Russia hand over?", "Belarus deployed S-400 and Iskander missiles [1].", False),
    ("How many Iskander launchers did Russia hand over?", "Russia handed over four Iskander launchers [1].", True),
    ("In what year did he first become president?", "It comes days after the president spoke [1].", False),
    ("In what year did he first become president?", "He first became president in 1994 [1].", True),
    ("What interest rate was charged on the $1.5 billion loan?", "Moscow granted a loan of $1.5 billion [1].", False),
    ("What interest rate was charged on the $1.5 billion loan?", "The $1.5 billion loan carries 3.5% interest [1].", True),
    ("Why did the soldiers arrive in Belarus?", "They came to form a joint task force [1].", True),
    ("What water temperature was recorded in August?", "About 8 percent of the seagrass died [1].", False),
    ("What water temperature was recorded in August?", "The water reached 27 degrees [1].", True),
    ("What share of consumers lost heat?", "About 3% of consumers were left without heat [1].", True),
    ("What share of consumers lost heat?", "The strike hit 2 power plants [1].", False),
    ("How much did the renovation cost?", "The renovation took 26 months [1].", False),
    ("How much does the BK-180 cost in shops?", "The BK-170 kettles sold at $49.99 [1].", False),
    ("How much does the BK-180 cost in shops?", "The BK-180 sells for $59.99 [1].", True),
    ("When will the bridge be repaired?", "The bridge was damaged by a blast [1].", False),
    ("When will the bridge be repaired?", "It will not be repaired until July [1].", True),
    ("How were the soldiers greeted when they arrived?", "Women handed out bread and salt [1].", True),
    ("What did Armenia's prime minister say at the summit?", "Armenia sent its heads of state [1].", False),
    ("What did Armenia's prime minister say at the summit?", "Armenia's prime minister said it failed [1].", True),
    ("How did Peskov respond to her claim that he would pay?", "Peskov said it was fundamentally wrong [1].", True),
    ("Which architect at Dunmore & Salk led the team?", "Architects from Dunmore & Salk fixed the roof [1].", False),
    ("Which architect at Dunmore & Salk led the team?", "Dunmore & Salk finished on Monday, 2 May [1].", False),
    ("Which architect at Dunmore & Salk led the team?", "The team was led by the architect Ines Varga [1].", True),
    ("On what date was the election held?", "He won the disputed 2020 election [1].", False),
    ("On what date was the election held?", "She won the Aug. 9 election [1].", True),
    ("On what date was the election held?", "The vote was held on 9 August 2020 [1].", True),
    ("What is the name of Velomara Mobility's chief executive?",
     "The scheme is run by Velomara Mobility under a contract with Lindenport City Council [1].", False),
    ("What is the name of Velomara Mobility's chief executive?",
     "Velomara Mobility's chief executive, Ines Varga, opened it [1].", True),
    ("Who is the author of the article?", "By Jane Roe, Kyiv [1].", True),
    ("How many passengers travelled on opening day?", "Passenger trains returned on Monday, 3 March 2025 [1].", False),
    ("How many passengers travelled on opening day?", "On 3 March, 4,100 passengers travelled [1].", True),
    ("How long did the strike last?", "The strike lasted from 3 March to 9 March [1].", True),
    ("What is the name of the astronaut due to fly in 2023?",
     "Putin spoke on Monday. He confirmed the flight of an astronaut in 2023 [1].", False),
    ("What is the name of the astronaut due to fly in 2023?",
     "Putin spoke on Monday. He said the astronaut Marina Vasilevskaya will fly in 2023 [1].", True),
    ("How many Shahed drones were intercepted?",
     "Russia launched a wave of Shahed drones [1]. Air defences intercepted 30 of them [1].", True),
    ("How many passengers travelled on opening day?",
     "About 1,200 trees were felled [2]. Passenger trains returned on 3 March at 6:12 a.m. [1].", False),
    ("Which architect designed the Regent?", "It was designed in 1928 by a Bristol practice, and the trust "
     "has been unable to establish which architect drew the plans [1].", False),
    ("What was the total price tag for the plant?", "The plant opened on 11 March 2024 [1].", False),
    ("What was the total price tag for the plant?", "The plant cost 18.6 million euros [1].", True),
    # A figure asked per period must be given for that period.
    ("How much does an annual pass cost?", "A monthly pass costs 19 euros [1].", False),
    ("How much does an annual pass cost?", "An annual pass costs 190 euros [1].", True),
    ("How many tonnes will the plant burn over a full year?", "It burns 1,800 tonnes a month [1].", False),
    ("How many tonnes will the plant burn over a full year?", "It burns 20,000 tonnes a year [1].", True),
    ("How many visitors does the museum get each year?", "It had 120,000 visitors in 2024 [1].", True),
    # A span of time is no size.
    ("How large were the meadows in 2024?", "The meadows more than doubled over the past ten years [1].", False),
    ("How large were the meadows in 2024?", "The meadows covered 640 hectares in 2024 [1].", True),
    ("How old is the mayor?", "The mayor, 55 years old, spoke [1].", True),
    # A place or a currency is no one's name.
    ("What is the name of the plant's chief engineer?",
     "The chief engineer, who ran a plant in northern Sweden, spoke [1].", False),
    ("What is the name of the plant's chief engineer?",
     "The chief engineer, Lars Berg, who ran a plant in northern Sweden, spoke [1].", True),
    ("Who first reported the disease?", "Members collected CHF 12,500 for the village of Grisach [1].", False),
    ("Which town hosts the plant?", "The plant was built in Kestrand [1].", True),
    ("What is the name of the firefighter who was hurt?",
     "One firefighter was taken to St. Anne's Regional Medical Center [1].", False),
    ("What is the name of the firefighter who was hurt?",
     "Firefighter Dana Ruiz was taken to St. Anne's Regional Medical Center [1].", True),
    ("Who treated the firefighter?", "He was seen by Dr Maria Lopez of Riverton Hospital [1].", True),
    # A sentence saying the fact is not given answers nothing, whatever else the answer holds.
    ("How much will the insurance pay?", "The bakery was built in 1921 for $40,000. "
     "The family declined to say how much their insurance would cover [1].", False),
    ("How much did the renovation cost?", "The renovation cost £18.4 million, though the council "
     "did not say how it would be paid for [1].", True),
    ("Which company will build the plant?", "Arden Hale designed the plant. "
     "The firm that will build the plant has not yet been chosen [1].", False),
    ("Which film has been picked as the first screening?",
     "The Regal will reopen in October, with a first screening that is being chosen by a public vote [1].", False),
    ("Which film has been picked as the first screening?",
     "The Regal will reopen in October with a screening of Casablanca [1].", True),
])
def test_an_answer_must_hold_what_the_question_asks_for(question, answer, expected):
    assert answers_question(question, answer) is expected


def test_what_is_counted_may_be_named_in_the_sentence_before():
    question = "How many Shahed drones were intercepted?"
    answer = "Air defences intercepted 30 of them [1]."
    assert not answers_question(question, answer)
    assert answers_question(question, answer, context="Russia launched 35 Shahed drones. " + answer)


@pytest.mark.parametrize("question,thing", [
    ("How many Ural military trucks did Moscow transfer?", "trucks"),
    ("How many of the Shahed drones were shot down?", "drones"),
    ("How many people were killed?", "people"),
    ("How many passengers travelled on the first day?", "passengers"),
    ("How large was the loan?", None),
    ("How many of the bakery's employees were hurt?", "employees"),
])
def test_the_thing_a_how_many_question_counts(question, thing):
    assert counted_thing(question) == thing


def test_an_answer_about_another_year_than_the_one_asked_is_not_an_answer():
    question = "What share of its water did the company lose to leaks in 2020?"
    answer = "The company currently loses about 21 percent of the water it treats [1]."
    assert not answers_question(question, answer, context=answer + " It must reach 15 percent by 2031.")
    assert answers_question(question, answer, context="In 2020 it lost 24 percent. " + answer)


@pytest.mark.parametrize("question,role", [
    ("What is the name of Velomara Mobility's chief executive?", "executive"),
    ("What is the name of the Belarusian astronaut scheduled to fly in 2023?", "astronaut"),
    ("Who is the mayor of Lindenport?", "mayor"),
    ("Who is Stephen Lendman?", None),  # a person, not a role: any answer about him may do
    ("What was the name of the company that bought it?", None),  # "company" is the answer's kind
    ("Who is the author of the article?", None),  # a byline does not say "author"
    ("Which architect at Dunmore & Salk led the team?", "architect"),
    ("Which company is buying the site?", None),
    ("Which interest rate applies?", None),  # not a question for a name
    ("Which town near the nuclear plant was hit?", None),  # a town is the answer's kind
    ("What are the names of the two dentists on the coach?", "dentists"),
    ("Which official formally ruled that the coins were treasure?", None),  # any title will do
])
def test_the_role_a_name_question_asks_about(question, role):
    assert named_role(question) == role


def test_a_role_is_matched_as_a_word_not_as_a_stem():
    # "Engineering" stems like "engineer", but a firm's name is not the engineer's.
    assert mentions("engineer", "The chief engineers met.")
    assert not mentions("engineer", "The main contractor was Halvorsen & Brant Engineering.")


def test_the_documents_word_for_the_thing_counted_may_stand_in_for_it():
    question = "How many troops had Russia lost?"
    answer = "On Monday, Russian forces lost 27,700 soldiers [1]."
    assert not answers_question(question, answer)
    assert answers_question(question, answer, aliases=frozenset({"soldiers"}))
    # The alias binds like the word: the number must stand with it.
    assert not answers_question(question, "The soldiers came home on Monday, 3 March [1].",
                                aliases=frozenset({"soldiers"}))


@pytest.mark.parametrize("question,answer,expected", [
    # Money, a share or a measure counts nothing but itself.
    ("How many rides did CycleLink record?", "A single ride costs 1.50 euros, and a pass 19 euros [1].", False),
    ("How many rides did CycleLink record?", "Riders took 12,400 rides, paying 3 euros each [1].", True),
    ("How many passengers travelled on the line?", "The 47-kilometre line was closed to passengers since 2019 [1].",
     False),
    ("How many kilometres long is the line?", "The line is 47 kilometres long [1].", True),
    ("How many euros does a ride cost?", "A single ride costs 1.50 euros [1].", True),
])
def test_money_shares_and_measures_do_not_count_things(question, answer, expected):
    assert answers_question(question, answer) is expected


@pytest.mark.parametrize("question,thing", [
    ("How much did the new digital projector at the Regent cost?", "projector"),
    ("How much insurance coverage do the Wojciks have on the building?", "coverage"),
    ("What was the total cost of the restoration?", "restoration"),
    ("How much is the loan worth?", "loan"),
    ("How much does the team expect the whole Houston trip to cost?", "trip"),
    ("How large is the heritage grant the museum applied for?", "grant"),
    ("How large was the state loan Moscow promised Minsk?", "loan"),
    ("How much money did the association collect?", None),  # any sum of money
    ("How much did the council pay for the land?", None),
    ("How much has the price risen?", None),
])
def test_the_thing_a_how_much_question_measures(question, thing):
    assert priced_thing(question) == thing


def test_an_amount_must_be_the_amount_of_the_thing_asked():
    question = "How much did the new digital projector cost?"
    assert not answers_question(question, "The restoration has cost £3.4 million in total [1].")
    assert answers_question(question, "The projector alone cost £85,000 [1].")


def test_what_an_amount_is_of_may_be_named_in_the_sentence_before():
    question = "How much did the renovation cost?"
    answer = "The project cost £18.4 million [1]."
    assert not answers_question(question, answer)
    assert answers_question(question, answer, context="The library reopened after a renovation. " + answer)


def test_what_is_counted_or_priced_must_be_spoken_of():
    assert not speaks_of_asked_thing("How many colonies were destroyed?", "12 apiaries were affected.")
    assert speaks_of_asked_thing("How many colonies were destroyed?", "41 colonies were burned.")
    assert speaks_of_asked_thing("How many troops were lost?", "27,700 soldiers [1].", aliases=frozenset({"soldiers"}))
    assert not speaks_of_asked_thing("How much did the projector cost?", "The restoration cost £3.4 million.")
    # A role's holder may be named without the role; other checks see to roles.
    assert speaks_of_asked_thing("Which commander warned of it?", "Lieutenant General Serhiy Nayev warned.")
    assert speaks_of_asked_thing("Why did the cinema close?", "A storm tore its roof away.")


@pytest.mark.parametrize("question,role,rank", [
    ("What is the name of the deputy mayor?", "mayor", "deputy"),
    ("What is the name of the acting head teacher?", "teacher", "acting"),
    ("Who is the mayor of Lindenport?", "mayor", None),
])
def test_the_rank_of_the_role_asked_for(question, role, rank):
    assert (named_role(question), role_rank(question)) == (role, rank)
    # The mayor is not the deputy mayor.
    assert speaks_of_asked_thing(question, "Mayor Denise Okafor spoke.") is (rank is None)


@pytest.mark.parametrize("question,answer,expected", [
    ("How many people died in the crash?", "Twelve people were injured in the crash [1].", False),
    ("How many people died in the crash?", "Two people were killed and 12 injured [1].", True),
    ("How many people were injured?", "Two people were killed [1].", False),
    ("How many people were hurt?", "Eleven people were taken to hospital with injuries [1].", True),
])
def test_deaths_and_injuries_are_counted_apart(question, answer, expected):
    assert answers_question(question, answer) is expected


@pytest.mark.parametrize("question,answer,expected", [
    ("How many rides were recorded in its first month?", "A pilot ran for six months and recorded 31,000 rides [1].",
     False),
    ("How many rides were recorded in its first month?", "In its first month riders took 12,000 rides [1].", True),
    ("How many visitors came in the first two weeks?", "In two weeks 5,000 visitors came [1].", True),
    ("How many visitors came in the first two weeks?", "In three weeks 5,000 visitors came [1].", False),
    # A first stretch of another length is not the one asked; "full" changes nothing.
    ("How many rides were recorded in its first month?", "It expects 1.2 million rides in the first full year [1].",
     False),
    ("How many visitors came in its first year?", "It drew 80,000 visitors in its first full year [1].", True),
])
def test_a_figure_for_a_first_stretch_of_time_must_be_for_that_stretch(question, answer, expected):
    assert answers_question(question, answer) is expected


@pytest.mark.parametrize("question,answer,expected", [
    # A period named from now must be the one asked.
    ("How much aid did the US give in the previous fiscal year?", "It has given $300 million in aid this fiscal year [1].",
     False),
    ("How much aid did the US give in the current fiscal year?", "It has given $300 million in aid this fiscal year [1].",
     True),
    # A rate is a share, or so much per something.
    ("What interest rate will Belarus pay on the loan?", "Moscow will grant a loan of $1.5 billion [1].", False),
    ("What interest rate will Belarus pay on the loan?", "The loan carries 3.5% interest [1].", True),
    # A council or a river is no company.
    ("Which company will build the flood barrier?", "Riverton Borough Council voted to build a barrier along the "
     "River Aske [1].", False),
    ("Which company will build the flood barrier?", "The contract went to Grayling Civil Engineering [1].", True),
    # "What will it cost" asks for money, for the period named.
    ("What will the drug cost the NHS per patient each month?", "The trial cost about $140 million [1].", False),
    ("What will the drug cost the NHS per patient each month?", "It will cost the NHS £900 a month per patient [1].",
     True),
])
def test_periods_rates_and_firms(question, answer, expected):
    assert answers_question(question, answer) is expected


@pytest.mark.parametrize("text,expected", [
    ("Lars Thomsen, chairman of the Danish Dairy Farmers' Union, said members were worried.", True),
    ("Halden Foods chairman Erik Lund said the plant would close.", False),
    ("Erik Lund, chairman of Halden Foods, said so.", False),
])
def test_the_role_of_another_body_is_not_the_role_asked(text, expected):
    assert role_of_another("Who is the chairman of Halden Foods' board of directors?", text) is expected


def test_an_amount_said_to_be_another_things_is_not_the_one_asked():
    question = "How large is the loan the council is giving the club?"
    assert priced_thing(question) == "loan"
    assert not answers_question(question, "The club received a grant of 1.1 million pounds, and the rest "
                                "will be covered by a loan from the council [1].")
    assert answers_question(question, "The council will lend the club a loan of 2 million pounds [1].")
    assert answers_question(question, "The loan, worth 2 million pounds, was agreed in 2024 [1].")


def test_a_title_before_a_name_stands_for_the_role():
    assert mentions("commander", "Ukrainian joint forces Cmdr. Serhiy Nayev said.")
    assert mentions("governor", "Gov. Ann Lee signed it.")


@pytest.mark.parametrize("question,parts", [
    ("Which night do they practise on now, and which night are they thinking of switching to?",
     ["Which night do they practise on now?", "which night are they thinking of switching to?"]),
    # A part that does not stand alone takes the first part's words after its question word.
    ("Who started the Fenwatch wildlife rescue, and in what year?",
     ["Who started the Fenwatch wildlife rescue?", "in what year started the Fenwatch wildlife rescue?"]),
    ("How many Shahed drones did Russia launch, and how many did Ukraine shoot down?",
     ["How many Shahed drones did Russia launch?", "how many did Ukraine shoot down Shahed drones did Russia launch?"]),
    ("What did Peskov and Putin say about the loan?", ["What did Peskov and Putin say about the loan?"]),
    ("The loan was announced in Sochi. Who announced it, and when?",
     ["The loan was announced in Sochi. Who announced it, and when?"]),
])
def test_question_parts(question, parts):
    assert question_parts(question) == parts


@pytest.mark.parametrize("question,answer,expected", [
    ("How long will it be before the coach is reviewed?", "It will be reviewed after eighteen months.", True),
    ("How many complaints has the council had?", "The council has had twenty-seven complaints.", True),
    ("How many complaints has the council had?", "The bells have rung for twenty-seven years.", False),
    # A reason is what "why" asks for; a sentence may give one without "because", so none is ruled out.
    ("Why will the phones not be sold?", "They will be wiped because of data protection rules.", True),
    ("Why did the schools merge?", "Falling birth rates had left both schools with empty places.", None),
    # "How long" asks for a stretch of time (or a length), not any number.
    ("How long did the talks last?", "They met for about two and a half hours.", True),
    ("How long did the talks last?", "The two would hold talks with their ministers.", False),
    ("How long has the pool been shut?", "It has been shut since 2021.", True),
    ("How long is the new cycle path?", "The path is 4.2 kilometres long.", True),
    ("How warm will the water be kept?", "The water will be heated to 24C.", True),
    ("How warm will the water be kept?", "The pool is one of two in the county.", False),
    # "Where" asks for a place something is in, at, near ...
    ("Where did Putin meet Lukashenko?", "On Monday, Putin met Lukashenko in Sochi.", True),
    ("Where did Putin meet Lukashenko?", "The two have met many times since Russia invaded Ukraine.", False),
])
def test_numbers_in_words_reasons_and_places(question, answer, expected):
    assert has_expected_answer(question, answer) is expected
