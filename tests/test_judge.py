"""The check's trained probe: how it is stored, bound to its model file, refused when damaged,
and used by the pipeline in place of the LLM's own P(YES)."""

import json
from pathlib import Path

import numpy as np
import pytest

from rag.errors import ModelError
from rag.generate import Verdict
from rag.judge import JUDGES, CheckProbe, load_probe, probe_for, write_probe
from rag.prompt import CHECK_PROMPT
from tests.fakes import FakeLLM

VOCAB = 50


def probe(weight: float = 2.0, bias: float = -1.0) -> CheckProbe:
    """A probe reading two tokens: token 3 for, token 7 against."""
    return CheckProbe(np.array([3, 7]), np.array([weight, -weight]), bias)


class ProbedLLM(FakeLLM):
    """A fake in-process model: a verified file of its own sha256, and a first step whose
    log-probabilities make token 3 likely when the checked text holds `answering`."""

    sha256 = "ab" * 32
    n_vocab = VOCAB
    answering = "35 Shahed drones"

    def first_step(self, messages):
        self.checks.append(messages)
        logprobs = np.full(VOCAB, -10.0)
        logprobs[3 if self.answering in messages[-1]["content"] else 7] = -0.1
        return Verdict(self.p_cited), logprobs


def test_a_probe_written_and_read_back_scores_the_same(tmp_path):
    config = tmp_path / "check_probe.json"
    write_probe(config, probe(), {"model_sha256": "ab" * 32, "n_vocab": VOCAB})
    logprobs = np.linspace(-5, -1, VOCAB)
    z = 2.0 * logprobs[3] - 2.0 * logprobs[7] - 1.0
    assert load_probe(config, VOCAB).score(logprobs) == pytest.approx(1 / (1 + np.exp(-z)), rel=1e-5)


def test_a_probe_whose_weights_changed_since_its_config_refuses_to_load(tmp_path):
    config = tmp_path / "check_probe.json"
    write_probe(config, probe(), {"model_sha256": "ab" * 32, "n_vocab": VOCAB})
    write_probe(tmp_path / "other.json", probe(weight=5.0), {"model_sha256": "cd" * 32, "n_vocab": VOCAB})
    (tmp_path / "other.npz").replace(config.with_suffix(".npz"))
    with pytest.raises(ModelError, match="does not match the sha256.*train.train_check_probe"):
        load_probe(config, VOCAB)


def test_a_probe_built_for_another_vocabulary_refuses_to_load(tmp_path):
    config = tmp_path / "check_probe.json"
    write_probe(config, probe(), {"model_sha256": "ab" * 32, "n_vocab": VOCAB})
    with pytest.raises(ModelError, match="vocabulary of 50, not 40"):
        load_probe(config, 40)


def test_the_probe_applies_only_to_the_model_file_it_was_built_for(tmp_path):
    write_probe(tmp_path / "check_probe.json", probe(), {"model_sha256": ProbedLLM.sha256, "n_vocab": VOCAB})
    assert probe_for(ProbedLLM(), tmp_path) is not None
    other = ProbedLLM()
    other.sha256 = "cd" * 32
    assert probe_for(other, tmp_path) is None  # another file: the LLM's own P(YES)
    assert probe_for(FakeLLM(), tmp_path) is None  # a server, or a GGUF given by path: no sha256


def test_an_unreadable_judge_config_says_how_to_restore_it(tmp_path):
    (tmp_path / "check_probe.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError, match="git checkout rag/judges"):
        probe_for(ProbedLLM(), tmp_path)


def test_the_shipped_probe_is_bound_to_the_standard_model_and_loads():
    from rag.models import STANDARD, spec

    [config] = JUDGES.glob("*.json")
    meta = json.loads(config.read_text(encoding="utf-8"))
    assert meta["model_sha256"] == spec(STANDARD).sha256
    loaded = load_probe(config, meta["n_vocab"])
    assert len(loaded.tokens) == meta["tokens"] and np.isfinite(loaded.weights).all()
    assert Path(config.with_suffix(".npz")).stat().st_size < 100_000


@pytest.mark.parametrize("answering,refused", [("35 Shahed drones", False), ("no such words", True)])
def test_the_pipeline_checks_an_answer_with_the_probe_when_its_model_has_one(
        settings, encoder, monkeypatch, tmp_path, answering, refused):
    import rag.judge

    monkeypatch.setattr(rag.judge, "JUDGES", tmp_path / "judges")
    rag.judge._probe_for.cache_clear()
    write_probe(rag.judge.JUDGES / "check_probe.json", CheckProbe(np.array([3, 7]), np.array([4.0, -4.0]), 0.0),
                {"model_sha256": ProbedLLM.sha256, "n_vocab": VOCAB, "threshold": 0.62})
    llm = ProbedLLM()
    llm.answering = answering
    llm.p_yes, llm.p_cited = 0.9, 0.99  # the LLM's own P(YES) would pass every answer
    llm.queue.append("YES. Russia launched 35 Shahed drones overnight [1].")
    from rag.pipeline import build_pipeline

    answer = build_pipeline(settings, encoder, llm).ask("How many drones did Russia launch?")
    rag.judge._probe_for.cache_clear()
    [check] = llm.checks
    assert check[0]["content"] == CHECK_PROMPT and "35 Shahed drones overnight." in check[-1]["content"]
    assert answer.refused is refused
    assert answer.p_cited == pytest.approx(1 / (1 + np.exp(-4.0 * 9.9)) if not refused else 1 / (1 + np.exp(4.0 * 9.9)))


def test_the_check_is_held_to_the_setting_where_given_else_to_its_own_threshold(tmp_path):
    from rag.judge import P_YES_THRESHOLD, check_threshold

    config = tmp_path / "check_probe.json"
    write_probe(config, probe(), {"model_sha256": "ab" * 32, "n_vocab": VOCAB, "threshold": 0.62})
    loaded = load_probe(config, VOCAB)
    assert check_threshold(None, loaded) == 0.62
    assert check_threshold(None, None) == P_YES_THRESHOLD == 0.55
    assert check_threshold(0.0, loaded) == 0.0  # RAG_CHECK_THRESHOLD=0: checked, never refused
