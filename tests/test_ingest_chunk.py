"""Loading articles and cutting them into passages with exact offsets."""

import time

import pytest

from rag.chunk import chunk_document
from rag.errors import InputError, NoDocumentsError
from rag.ingest import load_documents, parse_document
from rag.tables import MAX_CAPTION_LINES, MAX_GROWTH, table_rows
from rag.text import normalize, split_sentences


def test_loads_txt_and_md_recursively_with_relative_sources(corpus):
    docs, skipped = load_documents([corpus])
    assert sorted(d.source for d in docs) == ["bakery.txt", "drones.txt", "sub/loan.md"]
    assert not skipped
    loan = next(d for d in docs if d.source == "sub/loan.md")
    assert loan.title == "Loan for Minsk"


def test_boilerplate_line_is_dropped_but_article_sentences_are_kept(corpus):
    docs, _ = load_documents([corpus / "drones.txt"])
    kept = " ".join(docs[0].text[s:e] for s, e in docs[0].spans)
    assert "Also Read" not in kept
    assert "Air defences intercepted 30 of them." in kept
    assert "3% of consumers" in kept


def test_bad_files_are_skipped_and_the_rest_indexed(tmp_path, corpus):
    (corpus / "latin1.txt").write_bytes("Caf\xe9 cr\xe8me".encode("latin-1"))
    (corpus / "empty.md").write_text("", encoding="utf-8")
    (corpus / "blank.txt").write_text("  \n\n ", encoding="utf-8")
    (corpus / "image.txt").write_bytes(b"\x89PNG\x00\x00\x01")
    docs, skipped = load_documents([corpus])
    assert len(docs) == 3
    reasons = {s.path.rsplit("/", 1)[-1]: s.reason for s in skipped}
    assert "UTF-8" in reasons["latin1.txt"]
    assert reasons["empty.md"] == "has no text"
    assert "binary" in reasons["image.txt"]


def test_missing_path_and_empty_folder_say_what_to_do(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_documents([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.pdf").write_bytes(b"%PDF")
    with pytest.raises(NoDocumentsError, match="No readable .txt, .md, .html, .htm, .pdf or .docx files"):
        load_documents([tmp_path / "empty"])


def test_sentence_splitter_respects_abbreviations():
    text = "Ukrainian joint forces Cmdr. Serhiy Nayev spoke. U.S. officials agreed! Did they?"
    spans = [text[s:e] for s, e in split_sentences(text)]
    assert spans == ["Ukrainian joint forces Cmdr. Serhiy Nayev spoke.", "U.S. officials agreed!",
                     "Did they?"]


def test_chunk_offsets_point_at_the_original_text(corpus):
    docs, _ = load_documents([corpus])
    for doc in docs:
        for chunk in chunk_document(doc, max_words=12, overlap=1):
            assert normalize(doc.text[chunk.start:chunk.end]).startswith(chunk.text[:20])
            for fs, fe, ts, te in chunk.sentence_spans():
                assert normalize(doc.text[fs:fe]) == chunk.text[ts:te]


def test_chunks_overlap_by_one_sentence_and_respect_the_size():
    sentences = [f"Sentence number {i} has exactly seven words." for i in range(10)]
    doc = parse_document("a.txt", ("Title\n" + " ".join(sentences)).encode())
    chunks = chunk_document(doc, max_words=15, overlap=1)
    assert all(len(c.text.split()) <= 15 for c in chunks)
    def sentences(chunk):
        return [chunk.text[ts:te] for _, _, ts, te in chunk.sentence_spans()]

    body = chunks[1:]  # the first chunk holds the title line
    for prev, nxt in zip(body, body[1:]):
        assert sentences(prev)[-1] == sentences(nxt)[0]  # one shared sentence
    assert sentences(body[-1])[-1] == "Sentence number 9 has exactly seven words."


def test_run_on_text_without_punctuation_is_cut_into_bounded_chunks():
    doc = parse_document("wall.txt", ("Title\n" + "word " * 1000).encode())
    chunks = chunk_document(doc, max_words=80, overlap=1)
    assert len(chunks) >= 12 and all(len(c.text.split()) <= 80 for c in chunks)


def test_chunk_ids_are_stable_and_follow_content(corpus):
    docs, _ = load_documents([corpus])
    first = [c.chunk_id for d in docs for c in chunk_document(d)]
    docs2, _ = load_documents([corpus])
    assert first == [c.chunk_id for d in docs2 for c in chunk_document(d)]
    (corpus / "bakery.txt").write_text("A bakery opens in Nice\n\nDifferent text now.\n")
    docs3, _ = load_documents([corpus])
    third = [c.chunk_id for d in docs3 for c in chunk_document(d)]
    assert len(set(first) & set(third)) == len(third) - 1  # only the changed file's chunk differs


SERVICE_MENU = """Brackenford Motor Works: service menu

Service            Petrol    Diesel    Approx. time
-------            ------    ------    ------------
Interim service    £119      £129      1.5 hours
Full service       £219      £239      3 hours

An interim service is recommended every 6,000 miles.

| Item | Price | Notes |
|------|------:|-------|
| Courtesy car | £15 per day | |
| Wheel alignment | £55 | Both axles |
"""


def test_table_rows_are_read_under_their_column_names():
    rows = table_rows(SERVICE_MENU)
    assert sorted(rows.values()) == [
        "Courtesy car — Price: £15 per day",
        "Full service — Petrol: £219; Diesel: £239; Approx. time: 3 hours",
        "Interim service — Petrol: £119; Diesel: £129; Approx. time: 1.5 hours",
        "Wheel alignment — Price: £55; Notes: Both axles",
    ]
    for (start, end), text in rows.items():  # keys are the rows' lines in the file
        assert SERVICE_MENU[start:end].strip("| ").split()[0] == text.split()[0]
        assert SERVICE_MENU[start - 1] == "\n" and SERVICE_MENU[end] == "\n"


@pytest.mark.parametrize("text", [
    "Year    Sales    Profit\n",  # a header alone is no table
    "Monday     9:00    17:00\nTuesday    9:00    17:00\n",  # no header: the first line is figures
    "Service manager    Dilys Farrant\nHead chef          Tom Price\n",  # two aligned columns: a list
    "Route    Stops    Time\n\nExpress    4    35 min\n",  # a blank line ends the table
    "Plan    Price    Term\nBasic    £5\n",  # a row missing a cell is not guessed at
    # prose typed with two spaces after each full stop: its "cells" are not in columns
    "Parking is free.  Doors close at ten.  The cafe sells tea.\nBring a coat.  Dogs are welcome.  "
    "Toilets are by the gate.\n",
    "Name\tRole\nAnn Reid\tChair\n",  # two tabbed columns: a list as often as a table
])
def test_lines_that_are_not_a_labelled_table_row_are_left_as_they_are(text):
    assert table_rows(text) == {}


def test_a_table_row_is_one_sentence_read_with_its_header_even_in_a_later_passage():
    doc = parse_document("menu.txt", SERVICE_MENU.encode())
    chunks = chunk_document(doc, max_words=16, overlap=0)
    row = "Full service — Petrol: £219; Diesel: £239; Approx. time: 3 hours"
    chunk = next(c for c in chunks if row in c.text)
    assert "Service Petrol Diesel" not in chunk.text  # the header is in an earlier passage
    fs, fe, ts, te = next(s for s in chunk.sentence_spans() if chunk.text[s[2]:s[3]] == row)
    assert doc.text[fs:fe] == "Full service       £219      £239      3 hours"  # the row in the file
    assert all(len(c.text.split()) <= 16 for c in chunks)  # sizes count the words as read


def test_a_hostile_table_cannot_grow_the_text_beyond_a_bound():
    header = "Name  " + "  ".join(f"Column {'x' * 40} {chr(65 + i % 26)}{chr(65 + i // 26)}" for i in range(200))
    rows = "\n".join("  ".join(["r"] * 201) for _ in range(2000))
    text = f"{header}\n{rows}\n"
    read = table_rows(text)
    assert 0 < len(read) < 2000  # the first rows are labelled, then the labels stop
    assert sum(len(v) - (e - s) for (s, e), v in read.items()) <= MAX_GROWTH * len(text)


def test_a_column_may_be_named_with_a_number_but_a_header_of_figures_is_a_row():
    timetable = "Stop          Trip 1    Trip 2\nQuarry Lane   07:10     08:05\n"
    assert list(table_rows(timetable).values()) == ["Quarry Lane — Trip 1: 07:10; Trip 2: 08:05"]
    hire = "Item       1 day    Under 2s    2023/24\nLadder     £12      £5          £40\n"
    assert list(table_rows(hire).values()) == ["Ladder — 1 day: £12; Under 2s: £5; 2023/24: £40"]
    assert table_rows("Family    £420    (two adults)\nSingle    £210    (one adult)\n") == {}
    budget = "Service area | 2024/25 (£m) | 2025/26 (£m)\nLibraries | 6.4 | 5.9\n"  # a year with its unit
    assert list(table_rows(budget).values()) == ["Libraries — 2024/25 (£m): 6.4; 2025/26 (£m): 5.9"]
    # figures, not years: a row, its cells of one kind with the row below
    assert table_rows("Item | 4200 (kg) | 3100 (kg)\nCrate | 950 (kg) | 700 (kg)\n") == {}
    assert table_rows("Crate    10.5 kg    2.25 m\nBox      12.0 kg    1.75 m\n") == {}


def test_a_column_may_be_named_with_a_band_or_a_period_over_figures():
    rates = ("Service          Up to 2 kg   2-10 kg   10-20 kg\n"
             "Economy          £4.20        £6.90     £11.40\n"
             "Next Day         £7.95        £11.50    £17.60\n")
    assert table_rows(rates)[(rates.index("Next"), rates.index("£17.60") + 6)] == (
        "Next Day — Up to 2 kg: £7.95; 2-10 kg: £11.50; 10-20 kg: £17.60")
    sales = "Channel | Q3 2026 | Q2 2026 | Change\nOnline | £731,800 | £602,400 | +21.5%\n"
    assert list(table_rows(sales).values()) == ["Online — Q3 2026: £731,800; Q2 2026: £602,400; Change: +21.5%"]


def test_a_header_over_a_blank_corner_names_the_columns():
    piped = ("The table below shows the last two scheme years.\n\n"
             "                        | 2023/24     | 2024/25\n"
             "Your contributions      | £2,010.00   | £2,145.00\n"
             "Employer contributions  | £2,814.00   | £3,003.00\n")
    assert sorted(table_rows(piped).values()) == [
        "Employer contributions — 2023/24: £2,814.00; 2024/25: £3,003.00",
        "Your contributions — 2023/24: £2,010.00; 2024/25: £2,145.00"]
    aligned = ("Match statistics\n\n"
               "                    Halbrook    Saltmere\n"
               "    Possession      57%         43%\n"
               "    Shots           16          9\n")
    assert sorted(table_rows(aligned).values()) == [
        "Possession — Halbrook: 57%; Saltmere: 43%", "Shots — Halbrook: 16; Saltmere: 9"]
    # a line over the labels is no blank corner, and an indented two-column list stays a list
    over_labels = "      Opening hours    Sunday\n    Monday    9:00    17:00\n    Friday    9:00    16:00\n"
    assert table_rows(over_labels) == {}
    assert table_rows("    Tea        £2\n    Coffee     £3\n") == {}
    assert table_rows("Note | see below\nTea | £2 | hot\n") == {}  # a piped line not opening with '|'


def test_captions_rules_tabs_and_header_marks_around_a_table():
    text = ("Workshop prices  (labour only)  from April\n"  # a caption: no row sits under it
            "Service      **Labour:**   Parts\n"
            "───────      ──────────    ─────\n"
            "Brakes       £55           £80\n"
            "Prices include VAT.  Parts are extra.  Ask us.\n"  # a note below, out of the columns
            "\n"
            "Item\tAdult\tChild\n"
            "Swim\t\t£2\n")
    assert sorted(table_rows(text).values()) == ["Brakes — Labour: £55; Parts: £80", "Swim — Child: £2"]


def test_a_long_rule_line_is_read_in_linear_time():
    started = time.perf_counter()
    table_rows("-" * 1_000_000 + "x\n")
    assert time.perf_counter() - started < 5.0  # a backtracking pattern took about an hour


def test_a_header_is_looked_for_in_the_first_lines_of_a_run_only():
    table = "Service    Petrol    Diesel\nInterim    £119      £129\n"
    captions = "".join(f"Caption {'x' * 9 * i}  above  it\n" for i in range(1, MAX_CAPTION_LINES + 2))
    assert list(table_rows("Prices  (labour only)  from April\n" + table).values()) == [
        "Interim — Petrol: £119; Diesel: £129"]
    assert table_rows(captions + table) == {}  # a header below more caption lines than that is not sought


WRAPPED_GUIDE = """\
LIBRARY GUIDE FOR STUDENTS 2026-27

Your student ID card is also your library card. Full-time students are
issued with a green card. It must be shown to enter the building and to
borrow any item. A lost card is replaced by Student Services for a fee of
five pounds, within two working days of the request.

BORROWING

Item type        Loan period   Max items
---------------  ------------  ---------
Standard book    3 weeks       10
Laptop           4 hours       1

- Standard books can be renewed three times online, unless another student
  has reserved them.
- Laptops cannot be renewed.
"""


def _sentences(text, max_words=80):
    doc = parse_document("guide.txt", text.encode())
    out = []
    for chunk in chunk_document(doc, max_words=max_words, overlap=0):
        for fs, fe, ts, te in chunk.sentence_spans():
            assert normalize(doc.text[fs:fe]) == chunk.text[ts:te] or "—" in chunk.text[ts:te]
            out.append(chunk.text[ts:te])
    return out


def test_a_paragraph_wrapped_at_a_fixed_width_is_read_in_whole_sentences():
    sentences = _sentences(WRAPPED_GUIDE)
    assert "Full-time students are issued with a green card." in sentences
    assert ("A lost card is replaced by Student Services for a fee of five pounds, within two "
            "working days of the request.") in sentences
    assert "issued with a green card." not in sentences
    # headings, table rows and list items keep their own lines
    assert "LIBRARY GUIDE FOR STUDENTS 2026-27" in sentences and "BORROWING" in sentences
    assert "Laptop — Loan period: 4 hours; Max items: 1" in sentences
    assert ("- Standard books can be renewed three times online, unless another student has "
            "reserved them.") in sentences
    assert "- Laptops cannot be renewed." in sentences


def test_a_file_of_one_line_per_item_is_not_run_together():
    text = ("Bootcamp itinerary\n"
            "Start: Monday 8 September 2025 (arrive at 9am for a welcome breakfast; teaching at 9:30)\n"
            "Finish: Friday 28 November 2025\n"
            "Appearance: clear pale green liquid\n"
            "pH (concentrate): 1.2\n"
            "Roof: south-west facing main roof, pitch 35 degrees, concrete interlocking tiles\n"
            "Monitoring: smartphone app with live generation and battery data\n")
    sentences = _sentences(text)
    assert "Finish: Friday 28 November 2025" in sentences
    assert "pH (concentrate): 1.2" in sentences
    assert "Monitoring: smartphone app with live generation and battery data" in sentences
