"""The page's markup: escaped text, linked citation markers, highlighted spans."""

from __future__ import annotations

import re

from rag.index import IndexedFile
from rag.schema import Answer, Chunk, Citation, Hit
from ui.render import (Turn, anchor_id, answer_html, chat_messages, documents_html, error_html,
                       highlight, link_markers, notice_html, passage_html, sources_html)

EVIL = '<script>alert(1)</script><img src=x onerror="alert(2)">'


def hit(text: str, source: str = "a/news.txt", title: str = "Putin in Minsk") -> Hit:
    return Hit(Chunk(chunk_id=f"{source}#0", source=source, title=title, start=0, end=len(text),
                     text=text), score=0.5)


def cite(n: int, h: Hit, quote: str) -> Citation:
    return Citation(n=n, source=h.chunk.source, chunk_id=h.chunk.chunk_id, start=0, end=0, quote=quote)


def no_live_markup(html: str) -> None:
    assert "<script" not in html and "<img" not in html and "onerror=\"" not in html


def test_markers_link_to_their_passage_and_unknown_numbers_stay_text():
    html = link_markers("Sochi [1]. Minsk [1, 3]. Kyiv [7].", turn=2, linked={1, 3})
    assert html.count(f'href="#{anchor_id(2, 1)}"') == 2
    assert f'href="#{anchor_id(2, 3)}"' in html
    assert "Kyiv [7]." in html  # no passage 7 cited: no link to nowhere


def test_answer_text_from_the_model_is_shown_as_characters():
    h = hit("Putin met Lukashenko in Sochi.")
    answer = Answer(question="q", text=f"{EVIL} Sochi [1].", refused=False,
                    citations=(cite(1, h, "Putin met Lukashenko in Sochi."),), hits=(h,))
    html = answer_html(answer, turn=0)
    no_live_markup(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<a class="rag-cite" href="#rag-src-0-1">1</a>' in html


def test_refused_answer_is_marked_and_links_to_the_passages_searched():
    hits = (hit("One."), hit("Two.", source="b.txt"))
    answer = Answer(question="q", text="The documents do not answer this question. "
                    "The closest passages found were in: [1] A (a); [2] B (b).",
                    refused=True, citations=(), hits=hits)
    html = answer_html(answer, turn=1)
    assert "rag-refused" in html and "do not answer" in html
    assert 'href="#rag-src-1-2"' in html
    sources = sources_html([Turn("q", query="q", hits=hits, answer=answer)])
    assert "Passages searched" in sources and 'id="rag-src-0-2"' in sources


def test_highlight_marks_exactly_the_quote_and_escapes_around_it():
    text = "AT&T said <b>no</b>. The loan was $1.5 billion. Then more."
    html = highlight(text, ["The loan was $1.5 billion."])
    assert html == ("AT&amp;T said &lt;b&gt;no&lt;/b&gt;. <mark>The loan was $1.5 billion.</mark>"
                    " Then more.")


def test_highlight_marks_two_quotes_of_one_passage():
    text = "One. Two is here. Three. Four is there."
    assert highlight(text, ["Four is there.", "Two is here.", "Two is"]) == (
        "One. <mark>Two is here.</mark> Three. <mark>Four is there.</mark>")


def test_highlight_escapes_a_quote_containing_markup():
    html = highlight(f"Before. {EVIL} After.", [EVIL])
    no_live_markup(html)
    assert re.search(r"<mark>&lt;script&gt;.*&lt;img .*&gt;</mark> After\.", html)


def test_highlight_without_a_match_shows_the_plain_escaped_text():
    assert highlight("a < b", ["not there"]) == "a &lt; b"
    assert highlight("a < b", [""]) == "a &lt; b"


def test_passage_card_names_title_and_file_and_is_the_link_target():
    h = hit("Text <i>x</i>.", source="seeds/004_news.txt", title=f"Title {EVIL}")
    html = passage_html(h, 3, turn=5, quotes=["Text <i>x</i>."])
    no_live_markup(html)
    assert f'id="{anchor_id(5, 3)}"' in html
    assert "seeds/004_news.txt" in html and "Title &lt;script&gt;" in html
    assert "<mark>Text &lt;i&gt;x&lt;/i&gt;.</mark>" in html


def test_sources_show_cited_passages_open_and_the_others_collapsed():
    cited, other = hit("Launched 35 drones.", source="d.txt"), hit("Unrelated.", source="u.txt")
    answer = Answer(question="and how many?", text="35 [2].", refused=False,
                    citations=(cite(2, cited, "Launched 35 drones."),), hits=(other, cited),
                    query="How many? (drones)", timings_ms={"first_token": 1234.0, "total": 2500.0})
    html = sources_html([Turn("and how many?", query=answer.query, answer=answer)])
    opened, _, collapsed = html.partition("<details")
    assert 'id="rag-src-0-2"' in opened and "<mark>Launched 35 drones.</mark>" in opened
    assert 'id="rag-src-0-1"' in collapsed and "Other passages considered (1)" in collapsed
    assert "Searched for: <q>How many? (drones)</q>" in html
    assert "first token 1.2 s · answered in 2.5 s" in html


def test_sources_list_the_newest_turn_first():
    html = sources_html([Turn("first question", hits=(hit("a"),)), Turn("second question")])
    assert html.index("second question") < html.index("first question")


def test_chat_messages_follow_each_stage_of_an_answer():
    h = hit("x")
    stages = {
        "searching": Turn("q"),
        "writing": Turn("q", hits=(h,)),
        "draft": Turn("q", hits=(h,), draft="Draft <b>"),
        "stopped": Turn("q", hits=(h,), draft="Half", stopped=True),
        "error": Turn("q", error="Model file x does not exist: pass --model."),
    }
    shown = {name: chat_messages([t])[1]["content"] for name, t in stages.items()}
    assert "Searching the documents" in shown["searching"]
    assert "Found 1 passages" in shown["writing"]
    assert "Draft &lt;b&gt;" in shown["draft"] and "rag-draft" in shown["draft"]
    assert "Half" in shown["stopped"] and "not checked" in shown["stopped"]
    assert "does not exist" in shown["error"] and "rag-error" in shown["error"]


def test_user_question_is_escaped():
    messages = chat_messages([Turn(EVIL)])
    assert messages[0] == {"role": "user", "content": "&lt;script&gt;alert(1)&lt;/script&gt;"
                           "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;"}


def test_documents_table_lists_files_with_chunk_counts_escaped():
    html = documents_html([IndexedFile("b.md", EVIL, "h2", 4), IndexedFile("a.txt", "A", "h1", 12)])
    no_live_markup(html)
    assert html.index("a.txt") < html.index("b.md")
    assert '<td class="rag-num">12</td>' in html and '<td class="rag-num">4</td>' in html


def test_status_messages_naming_user_files_are_escaped():
    no_live_markup(notice_html(f"Added {EVIL}.txt: searchable now."))
    no_live_markup(error_html(f"{EVIL}.txt was not added: it looks like a binary file."))


def test_answers_are_rendered_as_markdown_with_live_markers_and_no_raw_html_links_or_images():
    h = hit("Putin met Lukashenko in Sochi.")
    text = ("They met in **Sochi** [1], a *first* point, `code`.\n1998. The year [1].\n# 5 drones\n"
            "<img src=x onerror=alert(1)> ![beacon](http://evil.example/p.png) "
            "[site](javascript:alert(1)) [1](http://evil.example) <http://evil.example>")
    answer = Answer(question="q", text=text, refused=False,
                    citations=(cite(1, h, "Putin met Lukashenko in Sochi."),), hits=(h,))
    html = answer_html(answer, turn=0)
    assert "<strong>Sochi</strong>" in html and "<em>first</em>" in html and "<code>code</code>" in html
    assert html.count('<a class="rag-cite" href="#rag-src-0-1">1</a>') == 3  # a link can't pass for one
    assert "1998. The year" in html and "# 5 drones" in html  # plain text stays plain
    assert "<ol" not in html and "<h1" not in html and "<br" in html
    no_live_markup(html)  # no <img>: the beacon stays text, never fetched
    assert 'href="javascript' not in html and 'href="http' not in html
