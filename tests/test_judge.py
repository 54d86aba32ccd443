"""The trained judge's files (rag.judge): found for the model they were built for, checked
against their record, and refused with what to do when they do not match it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rag.errors import ModelError
from rag.judge import JUDGES, load_probe, probe_for, write_probe

SHA = "ab" * 32


@pytest.fixture
def folder(tmp_path):
    write_probe(tmp_path / "tiny.json", np.array([1, 3]), np.array([0.5, -2.0]), 0.25,
                {"model": "tiny", "model_sha256": SHA, "n_vocab": 5})
    return tmp_path


def test_the_judge_is_found_for_its_model_file_only(folder):
    assert probe_for(SHA, 5, folder).name == "tiny"
    assert probe_for("cd" * 32, 5, folder) is None
    assert probe_for(None, 5, folder) is None  # a file that was never verified gets no trained judge


def test_the_score_is_a_logistic_of_the_chosen_tokens_log_softmax(folder):
    logits = np.array([0.0, 1.0, 2.0, -1.0, 0.5])
    log_softmax = logits - np.log(np.exp(logits).sum())
    z = 0.5 * log_softmax[1] - 2.0 * log_softmax[3] + 0.25
    assert probe_for(SHA, 5, folder).p_answers(logits) == pytest.approx(1 / (1 + np.exp(-z)), rel=1e-6)


def test_altered_weights_are_refused_with_what_to_do(folder):
    weights = folder / "tiny.npz"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(ModelError, match=r"does not match the sha256.*git checkout rag/judges"):
        probe_for(SHA, 5, folder)


def test_a_judge_built_for_another_vocabulary_is_refused(folder):
    with pytest.raises(ModelError, match="vocabulary"):
        probe_for(SHA, 4, folder)


def test_an_unreadable_config_is_refused_with_what_to_do(folder):
    (folder / "tiny.json").write_text("{", encoding="utf-8")
    with pytest.raises(ModelError, match="train.train_probe"):
        probe_for(SHA, 5, folder)


def test_the_shipped_judge_matches_its_record_and_is_small():
    configs = sorted(JUDGES.glob("*.json"))
    assert configs, "rag/judges holds the standard model's trained judge"
    for config in configs:
        meta = json.loads(config.read_text(encoding="utf-8"))
        probe = load_probe(config, meta["n_vocab"])
        assert len(probe.tokens) == len(probe.weights) == 4096
        assert config.with_name(meta["weights"]).stat().st_size < 50 * 2**20
        assert meta["tune"]["all"]["false_refusal"] <= 0.05  # the threshold's rule, on the tune split
