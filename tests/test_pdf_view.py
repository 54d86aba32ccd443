"""A cited PDF page rendered with the cited words highlighted (ui/pdf.py)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.test_formats import REPORT_PAGES, make_pdf
from ui.pdf import quote_span, render_cited_page


def yellow_pixels(jpeg: bytes) -> int:
    image = Image.open(io.BytesIO(jpeg)).convert("RGB")
    return sum(1 for r, g, b in image.getdata() if r > 200 and g > 170 and b < 140)


@pytest.fixture
def report(tmp_path):
    path = tmp_path / "report.pdf"
    path.write_bytes(make_pdf(REPORT_PAGES))
    return path


def test_the_cited_words_are_highlighted_on_their_page(report):
    quote = "The Point Aron lighthouse was rebuilt in 1998"
    shown = render_cited_page(report, 2, [quote])
    assert shown.highlighted and yellow_pixels(shown.jpeg) > 500
    assert shown.data_uri().startswith("data:image/jpeg;base64,")
    other = render_cited_page(report, 1, [quote])  # not on page 1: the page, and no highlight
    assert not other.highlighted and yellow_pixels(other.jpeg) == 0


def test_a_quote_is_found_across_other_spacing_and_line_breaks():
    text = "Its lamp: The Point  Aron light-\nhouse was"
    assert quote_span(text, "the point Aron light- house") == (text.index("The"), text.index(" was"))
    assert quote_span("nothing here", "The Point Aron") is None


def test_a_page_that_is_not_there_or_a_file_that_is_no_pdf(report, tmp_path):
    with pytest.raises(ValueError, match="no page 9"):
        render_cited_page(report, 9, ["anything"])
    (tmp_path / "fake.pdf").write_text("not a pdf")
    with pytest.raises(ValueError, match="cannot be rendered"):
        render_cited_page(tmp_path / "fake.pdf", 1, ["anything"])


def test_the_sources_panel_shows_a_cited_pdf_page_with_its_highlight(settings, encoder, llm, corpus, tmp_path):
    from rag.pipeline import build_pipeline
    from ui.app import ChatPage
    from ui.render import Turn, sources_html

    (corpus / "report.pdf").write_bytes(make_pdf(REPORT_PAGES))
    page = ChatPage(build_pipeline(settings, encoder=encoder, llm=llm))
    llm.queue.append("The Point Aron lighthouse was rebuilt in 1998 by local stonemasons [1].")
    answer = page.pipeline.ask("When was the Point Aron lighthouse rebuilt?")
    assert answer.citations[0].source == "report.pdf" and answer.citations[0].page == 2
    images = page.cited_pages(answer)
    assert [n for n, _ in images] == [answer.citations[0].n]
    html = sources_html([Turn(answer.question, hits=answer.hits, answer=answer, pages=images)])
    assert '<img src="data:image/jpeg;base64,' in html and "Page 2 of report.pdf" in html
    (corpus / "report.pdf").unlink()  # gone from disk: the passage still shows, without the page
    assert page.cited_pages(answer) == ()
