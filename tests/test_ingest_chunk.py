"""Loading articles and cutting them into passages with exact offsets."""

import pytest

from rag.chunk import chunk_document
from rag.errors import InputError, NoDocumentsError
from rag.ingest import load_documents, parse_document
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
