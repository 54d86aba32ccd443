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
    assert [(n, found) for n, _, found in images] == [(answer.citations[0].n, True)]
    html = sources_html([Turn(answer.question, hits=answer.hits, answer=answer, pages=images)])
    assert '<img src="data:image/jpeg;base64,' in html and "Page 2 of report.pdf" in html
    (corpus / "report.pdf").unlink()  # gone from disk: the passage still shows, without the page
    assert page.cited_pages(answer) == ()


@pytest.mark.parametrize("change", ["rotated 90", "rotated 180", "cropped"])
def test_the_highlight_lands_on_the_words_of_a_rotated_or_cropped_page(tmp_path, change):
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import RectangleObject

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(REPORT_PAGES))))
    page = writer.pages[1]
    if change.startswith("rotated"):
        page.rotate(int(change.split()[1]))
    else:
        page.cropbox = RectangleObject([50, 500, 560, 760])
    path = tmp_path / "changed.pdf"
    with open(path, "wb") as out:
        writer.write(out)
    shown = render_cited_page(path, 2, ["The Point Aron lighthouse was rebuilt in 1998"])
    image = Image.open(io.BytesIO(shown.jpeg)).convert("RGB")
    # Ink under the translucent yellow turns dark olive; ink beside it stays grey, and yellow
    # over paper stays bright: olive pixels mean the highlight lies on the words.
    olive = sum(1 for r, g, b in image.getdata() if 70 < r < 170 and 50 < g < 150 and b < 60 and r - b > 50)
    assert shown.highlighted and yellow_pixels(shown.jpeg) > 300 and olive > 50
