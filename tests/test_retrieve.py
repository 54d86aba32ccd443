"""Hybrid retrieval: names and numbers find their passage; fusion is reciprocal-rank."""

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
