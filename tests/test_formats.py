"""Web pages, PDFs and Word files: article text only, titles, page numbers, bad files skipped."""

from __future__ import annotations

import io
from pathlib import Path

import docx
import pytest
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from rag import formats
from rag.chunk import chunk_document
from rag.cite import citation_for
from rag.cli import print_answer
from rag.ingest import load_documents, parse_document
from rag.pipeline import build_pipeline
from rag.schema import Answer, Hit
from rag.settings import Settings
from rag.text import normalize
from ui.render import passage_html

NEWS = Path(__file__).parent / "data" / "formats" / "news.html"

REPORT_PAGES = [
    ["Harbour Trust annual report",
     "The trust met eleven times this year and approved a new budget for the",
     "western quay. Membership rose to 412 households, the highest since the trust",
     "was founded.",
     "Finances",
     "Income from mooring fees paid for the dredging of the inner basin and for two",
     "new pontoons."],
    ["Lighthouse",
     "The Point Aron lighthouse was rebuilt in 1998 by local stonemasons after the",
     "storm of the previous winter. Its lamp can be seen from 22 nautical miles and",
     "was converted to solar power in 2019.",
     "Volunteers guide visitors through the tower every Sunday in sum-",
     "mer."],
    [],  # a blank last page, as scanners and word processors leave them
]


def make_pdf(pages: list[list[str]], title: str | None = None, password: str | None = None) -> bytes:
    """A text PDF: one Helvetica line per string, pages in order (pypdf writes it)."""
    writer = PdfWriter()
    font = DictionaryObject({NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
                             NameObject("/BaseFont"): NameObject("/Helvetica")})
    for lines in pages:
        page = writer.add_blank_page(612, 792)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})})
        shown = "".join(f"({line}) Tj T* " for line in lines)
        stream = DecodedStreamObject()
        stream.set_data(f"BT /F1 11 Tf 14 TL 72 720 Td {shown}ET".encode("latin-1"))
        page.replace_contents(stream)
    if title:
        writer.add_metadata({"/Title": title})
    if password:
        writer.encrypt(password, algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_docx(path: Path, title: str = "") -> Path:
    """A Word file with a heading, paragraphs, a table, and a page header and footer."""
    document = docx.Document()
    document.core_properties.title = title
    section = document.sections[0]
    section.header.paragraphs[0].text = "INTERNAL DRAFT header line"
    section.footer.paragraphs[0].text = "Page footer with the print date"
    document.add_heading("Sailing club newsletter", level=1)
    document.add_paragraph("The Calloway sailing club was founded in 1962 by four friends. "
                           "Today it has 240 members.")
    document.add_paragraph("")
    document.add_paragraph("Membership costs 80 euros a year and includes\nboat storage.")
    table = document.add_table(rows=2, cols=2)
    for row, (boat, count) in enumerate([("Dinghies", "18"), ("Keelboats", "12")]):
        table.cell(row, 0).text, table.cell(row, 1).text = boat, count
    document.save(path)
    return path


def test_html_keeps_the_article_and_its_title_and_drops_page_furniture():
    doc = parse_document("news/ferry.html", NEWS.read_bytes())
    assert doc.title == "Harbour ferry returns after storm repairs"
    assert "The Calloway harbour ferry resumed service on Monday" in doc.text
    assert "Engineers replaced two propellers and a damaged section of the keel." in doc.text
    assert "“We are glad to be back,” she said." in doc.text
    for noise in ("Sport", "Weather", "tracking", "dataLayer", "font-family", "JSON-LD", "cookies",
                  "Most read", "Mayor resigns", "Related stories", "Storm closes coastal road",
                  "newsletter", "All rights reserved", "Privacy policy", "Malaga"):
        assert noise not in doc.text, noise
    # One paragraph per line, so a sentence never runs into the next paragraph's.
    assert "The repairs cost £240,000 and were paid for by the county council. Engineers replaced two " \
           "propellers and a damaged section of the keel.\n" in doc.text


def test_htm_page_without_a_title_tag_takes_its_h1():
    page = ("<html><body><nav><a href='/'>Home</a></nav><h1>Bridge reopens in Lyon</h1>"
            "<p>The Pont Morand reopened to cyclists on Friday after a year of work on its deck.</p>"
            "<footer>Contact us</footer></body></html>")
    doc = parse_document("bridge.htm", page.encode())
    assert doc.title == "Bridge reopens in Lyon"
    assert "The Pont Morand reopened to cyclists on Friday" in doc.text
    assert "Home" not in doc.text and "Contact us" not in doc.text


def test_pdf_lines_become_paragraphs_and_pages_are_recorded():
    doc = parse_document("report.pdf", make_pdf(REPORT_PAGES, title="Harbour Trust report 2023"))
    assert doc.title == "Harbour Trust report 2023"
    lines = doc.text.splitlines()
    assert "Membership rose to 412 households, the highest since the trust was founded." in lines[1]
    assert "Finances" in lines  # a short line (a heading) is a paragraph of its own
    assert "Volunteers guide visitors through the tower every Sunday in summer." in lines
    assert len(doc.pages) == 3 and doc.pages[0] == 0
    assert doc.text[doc.pages[1]:].startswith("Lighthouse\n")
    assert doc.page_at(doc.text.index("412 households")) == 1
    assert doc.page_at(doc.text.index("rebuilt in 1998")) == 2
    assert parse_document("a.txt", b"Title\nText.").page_at(3) is None


def test_pdf_with_a_word_processor_title_is_titled_by_its_first_line():
    doc = parse_document("report.pdf", make_pdf(REPORT_PAGES, title="Microsoft Word - report.docx"))
    assert doc.title == "Harbour Trust annual report"


def test_pdf_chunks_and_citations_carry_the_page_of_the_quote():
    doc = parse_document("report.pdf", make_pdf(REPORT_PAGES))
    chunks = chunk_document(doc, max_words=40, overlap=1)
    assert {c.page for c in chunks} == {1, 2}
    for chunk in chunks:  # a passage never crosses a page, so its page is every sentence's page
        assert all(doc.page_at(fs) == chunk.page for fs, _, _, _ in chunk.sentence_spans())
        for fs, fe, ts, te in chunk.sentence_spans():
            assert normalize(doc.text[fs:fe]) == chunk.text[ts:te]
    chunk = next(c for c in chunks if "rebuilt in 1998" in c.text)
    sentence = next(i for i, (_, _, ts, te) in enumerate(chunk.sentence_spans())
                    if "rebuilt in 1998" in chunk.text[ts:te])
    citation = citation_for(1, Hit(chunk, 1.0), sentence)
    assert citation.page == 2 and "rebuilt in 1998" in citation.quote
    assert doc.text[citation.start:citation.end].startswith("The Point Aron lighthouse")
    txt = chunk_document(parse_document("a.txt", b"Title\nThe lighthouse was rebuilt in 1998."))
    assert citation_for(1, Hit(txt[0], 1.0), 0).page is None


def test_pdf_that_only_restricts_editing_opens_without_a_password():
    writer = PdfWriter(clone_from=io.BytesIO(make_pdf(REPORT_PAGES)))
    writer.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    doc = parse_document("restricted.pdf", out.getvalue())
    assert "rebuilt in 1998" in doc.text and len(doc.pages) == 3


def test_docx_paragraphs_and_table_rows_without_header_or_footer(tmp_path):
    path = make_docx(tmp_path / "club.docx", title="Club newsletter, spring issue")
    doc = parse_document("club.docx", path.read_bytes())
    assert doc.title == "Club newsletter, spring issue"
    assert doc.text.splitlines() == [
        "Sailing club newsletter",
        "The Calloway sailing club was founded in 1962 by four friends. Today it has 240 members.",
        "Membership costs 80 euros a year and includes boat storage.",
        "| Dinghies | 18 |",
        "| Keelboats | 12 |",
    ]
    untitled = make_docx(tmp_path / "untitled.docx")
    assert parse_document("untitled.docx", untitled.read_bytes()).title == "Sailing club newsletter"


def test_unreadable_files_of_each_type_are_skipped_with_a_reason_and_the_rest_indexed(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "good.txt").write_text("Ferry news\n\nThe ferry runs again.\n", encoding="utf-8")
    (folder / "good.pdf").write_bytes(make_pdf(REPORT_PAGES))
    (folder / "corrupt.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage")
    (folder / "truncated.pdf").write_bytes(make_pdf(REPORT_PAGES)[:300])
    (folder / "locked.pdf").write_bytes(make_pdf(REPORT_PAGES, password="s3cret"))
    (folder / "scan.pdf").write_bytes(make_pdf([[], []]))  # pages without a text layer
    (folder / "notzip.docx").write_bytes(b"This is plain text saved with the wrong name.")
    (folder / "empty.html").write_bytes(b"<html><head><style>p{}</style></head><body><nav>Home</nav></body></html>")
    docs, skipped = load_documents([folder])
    assert sorted(d.source for d in docs) == ["good.pdf", "good.txt"]
    reasons = {Path(s.path).name: s.reason for s in skipped}
    assert set(reasons) == {"corrupt.pdf", "truncated.pdf", "locked.pdf", "scan.pdf", "notzip.docx", "empty.html"}
    assert reasons["corrupt.pdf"].startswith("is not a readable PDF") and "save it again" in reasons["corrupt.pdf"]
    assert reasons["truncated.pdf"].startswith("is not a readable PDF")
    assert "password" in reasons["locked.pdf"] and "without one" in reasons["locked.pdf"]
    assert "OCR" in reasons["scan.pdf"]
    assert reasons["notzip.docx"].startswith("is not a readable .docx") and "save it again" in reasons["notzip.docx"]
    assert reasons["empty.html"] == "has no article text"


def test_docx_that_unpacks_to_too_much_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(formats, "MAX_UNZIPPED_BYTES", 10_000)  # stands in for a zip bomb
    path = make_docx(tmp_path / "big.docx")
    with pytest.raises(ValueError, match="unpacks to more than"):
        parse_document("big.docx", path.read_bytes())


def test_answer_json_cli_and_passage_card_show_the_page(capsys):
    doc = parse_document("report.pdf", make_pdf(REPORT_PAGES))
    chunk = next(c for c in chunk_document(doc) if "rebuilt in 1998" in c.text)
    hit = Hit(chunk, 1.0)
    answer = Answer("When was it rebuilt?", "It was rebuilt in 1998 [1].", False,
                    (citation_for(1, hit, 1),), (hit,))
    data = answer.to_json()
    assert data["citations"][0]["page"] == 2 and data["passages"][0]["page"] == 2
    print_answer(answer)
    assert "[1] report.pdf (page 2, chars " in capsys.readouterr().out
    assert '<span class="rag-page">page 2</span>' in passage_html(hit, 1, 0)
    txt = Hit(chunk_document(parse_document("a.txt", b"Title\nText here."))[0], 1.0)
    assert "page" not in Answer("q", "a", False, (citation_for(1, txt, 0),), (txt,)).to_json()["citations"][0]
    assert "rag-page" not in passage_html(txt, 1, 0)


@pytest.fixture
def mixed_folder(tmp_path) -> Path:
    """One article in each format."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "ferry.html").write_bytes(NEWS.read_bytes())
    (folder / "harbour_report.pdf").write_bytes(make_pdf(REPORT_PAGES, title="Harbour Trust report"))
    make_docx(folder / "club.docx")
    (folder / "bakery.txt").write_text("A bakery opens in Lyon\n\nChef Marie Dubois opened her bakery "
                                       "in 2019. She sells about 400 croissants every morning.\n")
    return folder


def test_a_folder_of_every_format_is_indexed_and_a_pdf_fact_is_cited_with_its_page(
        tmp_path, mixed_folder, encoder, llm):
    settings = Settings(index_dir=tmp_path / "index", corpus=[mixed_folder], model="", embedder="fake")
    pipeline = build_pipeline(settings, encoder=encoder, llm=llm)
    assert set(pipeline.index.files) == {"ferry.html", "harbour_report.pdf", "club.docx", "bakery.txt"}
    llm.queue.append("The Point Aron lighthouse was rebuilt in 1998 [1].")
    answer = pipeline.ask("When was the Point Aron lighthouse rebuilt?")
    assert not answer.refused and "1998" in answer.text
    [c] = answer.citations
    assert (c.source, c.page) == ("harbour_report.pdf", 2)
    assert "rebuilt in 1998" in c.quote
    assert answer.to_json()["citations"][0]["page"] == 2


def test_a_web_page_table_row_is_read_under_its_column_names():
    page = (b"<html><head><title>Prices</title></head><body><article><h1>Prices</h1>"
            b"<p>Our service prices for 2026 are listed below and include VAT at the standard rate.</p>"
            b"<table><tr><th>Service</th><th>Petrol</th><th>Diesel</th></tr>"
            b"<tr><td>Interim service</td><td>119</td><td>129</td></tr>"
            b"<tr><td>Full service</td><td>219</td><td>239</td></tr></table>"
            b"<p>Hybrid vehicles are serviced by arrangement; please call before booking.</p>"
            b"</article></body></html>")
    doc = parse_document("prices.html", page)
    text = " ".join(c.text for c in chunk_document(doc))
    assert "Interim service — Petrol: 119; Diesel: 129" in text
    assert "Full service — Petrol: 219; Diesel: 239" in text


def test_a_word_table_with_an_empty_corner_is_read_under_its_column_names(tmp_path):
    document = docx.Document()
    document.add_paragraph("Brackenford Motor Works: service menu, prices including VAT.")
    table = document.add_table(rows=3, cols=3)
    for r, row in enumerate([("", "Petrol", "Diesel"), ("Interim service", "£119", "£129"),
                             ("Full service", "£219", "")]):
        for c, text in enumerate(row):
            table.cell(r, c).text = text
    document.save(tmp_path / "menu.docx")
    doc = parse_document("menu.docx", (tmp_path / "menu.docx").read_bytes())
    text = " ".join(c.text for c in chunk_document(doc))
    assert "Interim service — Petrol: £119; Diesel: £129" in text
    assert "Full service — Petrol: £219" in text  # an empty last cell is left out, not shifted
