"""Word vectors: close words are found, and no word is embedded twice."""

from embeddings.word_vectors import WordVectors
from tests.fakes import FakeEncoder


def test_alike_finds_the_same_word_and_embeds_each_word_once():
    encoder = FakeEncoder()
    vectors = WordVectors(encoder)
    vocabulary = ["drones", "missiles", "soldiers"]
    assert vectors.alike("soldier", vocabulary, 0.9) == ["soldiers"]  # one stem: one bucket
    assert vectors.alike("drone", vocabulary, 0.9) == ["drones"]
    assert sorted(encoder.encoded) == ["drone", "drones", "missiles", "soldier", "soldiers"]
