"""The trained judge: whether the passages answer, read from the LLM's state as it begins its reply.

The standard LLM is asked to begin its reply with YES or NO (rag.prompt). Its own P(YES) tells
answerable questions from on-topic unanswerable ones only so well: it says YES to the family
price when only the adult price is given. A logistic probe, trained on the judge data's
labelled questions (train/README.md), reads the same first step more fully: the log-softmax of
4,096 fixed tokens' logits, a linear image of the model's last hidden state. It costs about
1 ms. Built by `python -m train.train_probe`, for one model file: it applies only when the
loaded file is that one, verified by its sha256 (rag.models), and only with
RAG_TRAINED_JUDGE=1 (off by default: on the unread question sets it refuses more unanswerable
questions than P(YES), and more answerable ones too; README).

Its score is a logistic probability shifted in log-odds so that its chosen threshold reads as
the app's answer threshold, the same as for the model's own P(YES)
(rag.settings.answer_threshold).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.errors import ModelError

JUDGES = Path(__file__).resolve().parent / "judges"
FORMAT = 1
REBUILD = "restore it with `git checkout rag/judges`, or rebuild it with `python -m train.train_probe`"


@dataclass(frozen=True)
class VerdictProbe:
    """Weights over the log-softmax of some tokens' logits at the reply's first step."""

    tokens: np.ndarray  # token ids, int64
    weights: np.ndarray  # float64, one per token
    bias: float
    name: str = ""

    def scores(self, features: np.ndarray) -> np.ndarray:
        """The judge's scores for rows of features (first_step_features)."""
        z = np.asarray(features, dtype=np.float64) @ self.weights + self.bias
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0)))

    def p_answers(self, logits: np.ndarray) -> float:
        """The judge's score that the passages answer, from the first step's logits."""
        return float(self.scores(first_step_features(logits, self.tokens)))


def log_odds(p: float) -> float:
    """The log-odds of a probability, kept finite at 0 and 1."""
    p = min(max(p, 1e-6), 1 - 1e-6)
    return float(np.log(p / (1 - p)))


def mean_log_odds(p: float, q: float) -> float:
    """Two probabilities averaged in log-odds: how the app weighs its two readings of an answer
    (the verdict's P(YES) and the check's, rag.pipeline.check_answer)."""
    z = (log_odds(p) + log_odds(q)) / 2
    return float(1.0 / (1.0 + np.exp(-z)))


def first_step_features(logits: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """What a probe reads from one step's logits: the log-softmax of the given tokens (max plus
    log-sum-exp: 1 ms over Qwen's 151,936 logits, where np.logaddexp.reduce takes 4)."""
    logits = np.asarray(logits, dtype=np.float64)
    top = logits.max()
    return logits[tokens] - (top + np.log(np.exp(logits - top).sum()))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_probe(config: Path, n_vocab: int) -> VerdictProbe:
    """The probe a judge config names, checked against what the config records."""
    try:
        meta = json.loads(config.read_text(encoding="utf-8"))
        weights = config.with_name(meta["weights"])
        if meta.get("format") != FORMAT or _sha256(weights) != meta["weights_sha256"]:
            raise ValueError(f"{weights.name} does not match the sha256 or format {config.name} records")
        with np.load(weights) as data:
            tokens, w, bias = data["tokens"].astype(np.int64), data["weights"].astype(np.float64), data["bias"]
        if tokens.shape != w.shape or tokens.ndim != 1 or not (0 <= tokens.min() and tokens.max() < n_vocab):
            raise ValueError(f"its {len(tokens)} tokens do not fit the model's vocabulary of {n_vocab}")
        if meta.get("n_vocab") != n_vocab:
            raise ValueError(f"it was built for a vocabulary of {meta.get('n_vocab')}, not {n_vocab}")
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"The judge {config} cannot be used ({exc}): {REBUILD}.") from exc
    return VerdictProbe(tokens, w, float(bias), config.stem)


def write_probe(config: Path, tokens: np.ndarray, weights: np.ndarray, bias: float, meta: dict) -> None:
    """Write a probe's weights beside its config (config.npz), and the config recording them."""
    config.parent.mkdir(parents=True, exist_ok=True)
    weights_file = config.with_suffix(".npz")
    np.savez(weights_file, tokens=np.asarray(tokens, dtype=np.int32), weights=np.asarray(weights, dtype=np.float32),
             bias=np.float32(bias))
    meta = {"format": FORMAT, **meta, "weights": weights_file.name, "weights_sha256": _sha256(weights_file)}
    config.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")


def probe_for(model_sha256: str | None, n_vocab: int, folder: Path = JUDGES) -> VerdictProbe | None:
    """The trained judge built for the model file of this sha256, if there is one."""
    if not model_sha256:
        return None
    for config in sorted(folder.glob("*.json")):
        try:
            meta = json.loads(config.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"The judge {config} cannot be read ({exc}): {REBUILD}.") from exc
        if isinstance(meta, dict) and meta.get("model_sha256") == model_sha256:
            return load_probe(config, n_vocab)
    return None
