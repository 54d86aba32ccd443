"""Hybrid retrieval: names and numbers find their passage; fusion is reciprocal-rank."""

import pytest

from rag.index import load_index
from rag.pipeline import index_paths
from rag.retrieve import Retriever, convex, rrf


def test_rrf_rewards_agreement_between_rankings():
    fused = rrf([[1, 2, 3], [3, 1, 4]])
    assert max(fused, key=fused.get) == 1
    assert fused[3] > fused[2] and fused[4] < fused[2]


def test_rare_name_finds_its_passage_in_every_mode(settings, encoder):
    index_paths(settings, encoder)
    index = load_index(settings.index_dir, encoder.name, encoder.dim)
    for mode in ("hybrid", "rrf", "dense", "lexical"):
        hits = Retriever(index, encoder, mode).search("Where did Marie Dubois open her bakery?", 2)
        assert hits[0].chunk.source == "bakery.txt", mode
    hits = Retriever(index, encoder).search("How many Shahed drones were launched?", 3)
    assert hits[0].chunk.source == "drones.txt"
    assert hits[0].lexical > 0 and 0 < hits[0].dense <= 1.0001


def test_convex_fusion_lets_a_strong_lexical_match_win():
    dense = {1: 0.50, 2: 0.55, 3: 0.52}
    lexical = {1: 9.0, 3: 1.0}  # row 1 holds the question's rare name
    fused = convex(dense, lexical, weight=0.4)
    assert max(fused, key=fused.get) == 1
    assert fused[2] == (1 - 0.4) * 0.55  # no lexical match: cosine alone


def test_document_frequency_counts_the_chunks_holding_a_term(settings, encoder):
    index_paths(settings, encoder)
    index = load_index(settings.index_dir, encoder.name, encoder.dim)
    from rag.index import lexical_terms

    for term in ("drone", "loan", "croissant", "nowhere"):
        expected = sum(term in lexical_terms(c) for c in index.chunks)
        assert index.lexical.document_frequency(term) == expected


def test_copies_of_a_file_count_once_and_the_hit_names_them(settings, encoder, corpus, tmp_path):
    """300 copies of one article must not crowd the others out of the top k."""
    from rag.pipeline import index_paths

    copies = tmp_path / "copies"
    copies.mkdir()
    text = (corpus / "drones.txt").read_text()
    for i in range(300):  # re-wrapped and re-cased copies hold the same words
        (copies / f"copy{i:03d}.txt").write_text(text.replace(". ", ".\n") if i % 2 else text.upper())
    index_paths(settings, encoder)
    index_paths(settings, encoder, [copies])
    index = load_index(settings.index_dir, encoder.name, encoder.dim)
    hits = Retriever(index, encoder).search("How many drones did Russia launch? Minsk loan, bakery", 4)
    drones = next(h for h in hits if "35 shahed" in h.chunk.text.lower())
    assert len(drones.also) == 300 and {"copy299.txt", "drones.txt"} - {drones.chunk.source} <= set(drones.also)
    assert {h.chunk.source for h in hits} >= {"sub/loan.md", "bakery.txt"}


@pytest.mark.parametrize("old, new", [("35", "9,999"), ("Russia launched", "Russia did not launch")])
def test_a_copy_that_changes_a_word_stays_a_hit_of_its_own(settings, encoder, corpus, old, new):
    """A value changed, or a "not" added: it may disagree, so it must be seen."""
    from rag.pipeline import index_paths

    (corpus / "changed.txt").write_text((corpus / "drones.txt").read_text().replace(old, new))
    index_paths(settings, encoder)
    index = load_index(settings.index_dir, encoder.name, encoder.dim)
    hits = Retriever(index, encoder).search("How many drones did Russia launch?", 2)
    assert {h.chunk.source for h in hits} == {"drones.txt", "changed.txt"}
    assert all(not h.also for h in hits)
