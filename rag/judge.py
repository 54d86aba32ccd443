"""The judge asked again, about an answer: whether the sentences it cites state what was asked.

The model's own verdict (its first word, YES or NO, weighed as P(YES); rag.generate) is read
over excerpts of several passages before it has written anything, and says YES to the family
price when only the adult price is given. So once an answer is written and verified, the same
model is asked a second, short question: shown only the question and the sentences the answer
rests on, each under its document's title, with an instruction and worked examples of its own
(rag.prompt.CHECK_PROMPT), does the text state the exact thing asked for? With the standard
model, a trained probe (CheckProbe, rag/judges/, built by train/train_check_probe.py) reads
the answer from the model's whole state at that step; with any other model, its P(YES) is
read. That is averaged with the verdict's in log-odds, or stands alone for a quote
(checked_score), and held to the check's own threshold (check_threshold; README, The judge).

The check reads a table's neighbouring cell as the answer at times (the 6-day price for a 7-day
hire). So a value the question names must also be one the cited documents give
(unstated_values), as every number of the answer must be one its sources give (rag.cite).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.cite import is_quote
from rag.errors import ModelError
from rag.generate import ChatModel, Verdict
from rag.prompt import check_messages
from rag.schema import Citation, Hit
from rag.text import number_value, numbers, ranges, with_digits


JUDGES = Path(__file__).resolve().parent / "judges"
# What checked_score must reach with the LLM's own P(YES) as the check (a server, or a GGUF
# given by path): chosen on the read sets of docs/trust.md, candidate 2; a probe records its own.
P_YES_THRESHOLD = 0.55
FORMAT = 1
REBUILD = "restore it with `git checkout rag/judges`, or rebuild it with `python -m train.train_check_probe`"


@dataclass(frozen=True)
class CheckProbe:
    """A trained reading of the check's first step: a logistic regression over the
    log-probabilities of some fixed tokens there (a linear image of the model's last hidden
    state, weighed in directions other than YES against NO). Built for one model file."""

    tokens: np.ndarray  # token ids
    weights: np.ndarray  # one per token
    bias: float
    threshold: float = P_YES_THRESHOLD  # what checked_score is held to with it (its config's)

    def score(self, logprobs: np.ndarray) -> float:
        """Its probability that the text answers, from the first step's log-softmax."""
        z = float(logprobs[self.tokens] @ self.weights) + self.bias
        return 1.0 / (1.0 + math.exp(-min(max(z, -50.0), 50.0)))


def check_messages_for(question: str, hits: list[Hit], citations: list[Citation]) -> list[dict[str, str]]:
    """The check's prompt for an answer: the question and the sentences it cites, each under
    its document's title."""
    return check_messages(question, [(hits[c.n - 1].chunk.title, c.quote) for c in citations])


def check_answer(llm: ChatModel, question: str, hits: list[Hit], citations: list[Citation],
                 probe: CheckProbe | None = None) -> float:
    """The judge's probability that the cited sentences, shown alone under their documents'
    titles, state what the question asks for: the LLM's P(YES), or with a probe (an in-process
    model only), the probe's reading of the same step. An answer resting on a near miss (the
    adult price cited for a child's) reads as one there."""
    messages = check_messages_for(question, hits, citations)
    if probe is not None:
        return probe.score(llm.first_step(messages)[1])
    stream = llm.stream_answer(messages, 1, 0.0)
    try:
        verdict = next(p for p in stream if isinstance(p, Verdict))
    finally:
        stream.close()
    return verdict.p_yes


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_probe(config: Path, n_vocab: int) -> CheckProbe:
    """The probe a judge config names, checked against what the config records."""
    try:
        meta = json.loads(config.read_text(encoding="utf-8"))
        weights = config.with_name(meta["weights"])
        if meta.get("format") != FORMAT or _sha256(weights) != meta["weights_sha256"]:
            raise ValueError(f"{weights.name} does not match the sha256 or format {config.name} records")
        with np.load(weights) as data:
            tokens, w, bias = data["tokens"].astype(np.int64), data["weights"].astype(np.float64), data["bias"]
        if meta.get("n_vocab") != n_vocab or tokens.shape != w.shape or tokens.ndim != 1 \
                or not (0 <= tokens.min() and tokens.max() < n_vocab):
            raise ValueError(f"it was built for a vocabulary of {meta.get('n_vocab')}, not {n_vocab}")
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"The judge {config} cannot be used ({exc}): {REBUILD}.") from exc
    return CheckProbe(tokens, w, float(bias), float(meta.get("threshold", P_YES_THRESHOLD)))


def check_threshold(setting: float | None, probe: CheckProbe | None) -> float:
    """What an answer's checked_score must reach: RAG_CHECK_THRESHOLD where set, else the
    check's own (its probe's, or P_YES_THRESHOLD for the LLM's P(YES))."""
    if setting is not None:
        return setting
    return probe.threshold if probe is not None else P_YES_THRESHOLD


def probe_for(llm: ChatModel, folder: Path | None = None) -> CheckProbe | None:
    """The trained check built for the loaded model file (by its verified sha256), if any."""
    sha256 = getattr(llm, "sha256", None)
    if not sha256:
        return None  # a server, or a GGUF file given by path: the LLM's own P(YES)
    return _probe_for(sha256, llm.n_vocab, folder or JUDGES)


@functools.lru_cache(maxsize=4)
def _probe_for(sha256: str, n_vocab: int, folder: Path) -> CheckProbe | None:
    """probe_for's work, read once per model file."""
    for config in sorted(folder.glob("*.json")):
        try:
            meta = json.loads(config.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"The judge {config} cannot be read ({exc}): {REBUILD}.") from exc
        if isinstance(meta, dict) and meta.get("model_sha256") == sha256:
            return load_probe(config, n_vocab)
    return None


def write_probe(config: Path, probe: CheckProbe, meta: dict) -> None:
    """Write a probe's weights beside its config (config.npz), and the config recording them."""
    config.parent.mkdir(parents=True, exist_ok=True)
    weights = config.with_suffix(".npz")
    np.savez(weights, tokens=probe.tokens.astype(np.int32), weights=probe.weights.astype(np.float32),
             bias=np.float32(probe.bias))
    meta = {"format": FORMAT, **meta, "weights": weights.name, "weights_sha256": _sha256(weights)}
    config.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")


def log_odds(p: float) -> float:
    """The log-odds of a probability, kept finite at 0 and 1."""
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def mean_log_odds(p: float, q: float) -> float:
    """Two probabilities averaged in log-odds: how the app weighs its two readings of an answer
    (the verdict's P(YES) and the check's)."""
    return 1.0 / (1.0 + math.exp(-(log_odds(p) + log_odds(q)) / 2))


def checked_score(p_yes: float, p_cited: float, answer: str) -> float:
    """What a checked answer is held to (against RAG_CHECK_THRESHOLD). The model's own answer:
    the verdict and the check averaged in log-odds, since each ranks answers better with the
    other beside it. A quote, given when none of the model's sentences survived: the check
    alone, since the verdict judged excerpts the model could not answer from (README, The judge)."""
    return p_cited if is_quote(answer) else mean_log_odds(p_yes, p_cited)


def _values(text: str) -> set[str]:
    """The numbers of text as rag.text.numbers writes them, numbers in words as digits, and
    each part of a hyphenated one ("45-minute" gives 45)."""
    return {part for value in numbers(with_digits(text)) for part in (value, *value.split("-"))
            if any(ch.isdigit() for ch in part)}


def unstated_values(question: str, hits: list[Hit], citations: list[Citation]) -> set[str]:
    """The numbers the question names that the cited documents do not give: no retrieved
    passage of theirs, nor their titles, holds one as a number or inside a range it gives
    ("10-15 miles", "up to 5"). An answer resting on them is about another value (the
    6-day price, asked for 7 days; last year's figure, asked for the year before)."""
    cited = {c.source for c in citations}
    # each title once, though several of a document's passages were retrieved
    texts = list(dict.fromkeys(t for h in hits if h.chunk.source in cited for t in (h.chunk.title, h.chunk.text)))
    given = set().union(*map(_values, texts))
    spans = [(low, high) for text in texts for low, high, _ in ranges(text)]

    def within(value: str) -> bool:
        number = number_value(value)  # None for a code such as "4B"
        return number is not None and any(low <= number <= high for low, high in spans)

    asked = {part for part in _values(question) if "-" not in part}
    return {v for v in asked if v not in given and not within(v)}
