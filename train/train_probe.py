"""Train the app's judge (rag.judge): a logistic probe on the standard LLM's first reply step.

    python -m train.train_probe                  # the train and tune features, the fit: ~70 minutes on two cores
    python -m train.train_probe --recentre 0.52  # the threshold chosen in the app's own setting
    python -m train.train_probe --test           # then the test split's figures, once, on what was chosen

Each question of the judge data (train/judge_data.py) goes through the app's ranking,
excerpting and prompt with its own text as the retrieved document (train.eval_verdict), and
the model reads the prompt once. At the reply's first step, where it weighs YES against NO,
the log-softmax of 4,096 fixed tokens' logits (drawn with seed 0) is kept: a linear image of
the model's last hidden state, so a linear probe on them can weigh that state in any
direction, not only YES against NO. Features are cached per split under --features; the
model is loaded only for a split that is not cached whole.

An L2-regularised logistic regression is fitted on the train split (standardised features,
the two sources weighted equally); its strength C is chosen on the tune split by AUC, and its
threshold as the highest whose false refusals on the tune split stay within 0.05. The weights
are written with the standardisation folded in, and the bias shifted so that the threshold
reads as the app's answer threshold (rag.settings). --recentre moves that point to a score
chosen elsewhere (train/README.md). The test split is scored only with --test, after.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import time
from pathlib import Path

import numpy as np

from rag.generate import Verdict, load_chat_model
from rag.judge import JUDGES, VerdictProbe, first_step_features, load_probe, write_probe
from rag.models import STANDARD, resolve_model, spec, verified_digest
from rag.settings import Settings
from train.eval_verdict import messages_for
from train.judge_data import Question, all_questions, data_hash
from train.train_judge import auc

TOKENS, SEED = 4096, 0
C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1)
MAX_FALSE_REFUSAL = 0.05


class FirstStep:
    """Stands in for a trained judge while features are collected: keeps each first step's
    features (the P(YES) beside them comes with the model's Verdict)."""

    def __init__(self, tokens: np.ndarray) -> None:
        self.tokens = tokens
        self.rows: list[np.ndarray] = []

    def p_answers(self, logits: np.ndarray) -> float:
        self.rows.append(first_step_features(logits, self.tokens).astype(np.float32))
        return 0.5


def feature_tokens(n_vocab: int) -> np.ndarray:
    """The fixed tokens whose log-probabilities the judge reads."""
    return np.sort(np.random.default_rng(SEED).choice(n_vocab, TOKENS, replace=False))


class Reader:
    """The model and the encoder, loaded the first time a prompt must be read (never, when
    every feature is cached)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @functools.cached_property
    def llm(self):
        llm = load_chat_model(self.settings)
        llm.probe = None  # the model's own first step, whatever judge is installed
        return llm

    @functools.cached_property
    def encoder(self):
        from rag.pipeline import load_encoder

        return load_encoder(self.settings)


def collect(split: str, folder: Path, reader: Reader) -> tuple[np.ndarray, np.ndarray, list[Question]]:
    """The split's features, P(YES) and questions; read from the cache, or computed and cached
    (in batches of 50, so a stopped run goes on where it stopped)."""
    questions = sorted((q for q in all_questions() if q.split == split), key=lambda q: q.id)
    path = folder / f"{split}.npz"
    features, p_yes, done = [], [], []
    if path.exists():
        with np.load(path) as data:
            features, p_yes, done = list(data["X"]), list(data["p"]), [str(i) for i in data["ids"]]
    if done != [q.id for q in questions[:len(done)]]:
        raise SystemExit(f"{path} was collected for other questions: delete it and run again.")
    if len(done) < len(questions):
        llm, settings = reader.llm, reader.settings
        recorder = FirstStep(feature_tokens(llm._llm.n_vocab()))
        llm.probe, started = recorder, time.perf_counter()
        for i, q in enumerate(questions[len(done):], start=len(done)):
            verdict = next(v for v in llm.stream_answer(messages_for(llm, reader.encoder, settings, q), 1, 0.0)
                           if isinstance(v, Verdict))
            features.append(recorder.rows.pop())
            p_yes.append(verdict.p_yes)
            if (i + 1) % 50 == 0 or i + 1 == len(questions):
                folder.mkdir(parents=True, exist_ok=True)
                np.savez(path.with_suffix(".tmp.npz"), X=np.array(features), p=np.array(p_yes),
                         tokens=recorder.tokens, ids=np.array([q.id for q in questions[:i + 1]]))
                path.with_suffix(".tmp.npz").replace(path)
                print(f"  {split}: {i + 1}/{len(questions)}, {time.perf_counter() - started:.0f} s", flush=True)
        llm.probe = None
    return np.array(features), np.array(p_yes), questions


def refusals(scores: np.ndarray, questions: list[Question], threshold: float, source: str | None = None) -> dict:
    """AUC, and refusal and false refusal at the threshold (of one source, or all)."""
    pick = [source in (None, q.source) for q in questions]
    yes = [s for s, q, k in zip(scores, questions, pick) if k and q.answerable]
    no = [s for s, q, k in zip(scores, questions, pick) if k and not q.answerable]
    return {"questions": len(yes) + len(no), "auc": round(auc(yes, no), 3),
            "refusal": round(float(np.mean([s < threshold for s in no])), 3),
            "false_refusal": round(float(np.mean([s < threshold for s in yes])), 3)}


def report(name: str, scores: np.ndarray, questions: list[Question], threshold: float) -> dict:
    """Figures overall and per source, printed and returned."""
    figures = {src or "all": refusals(scores, questions, threshold, src) for src in (None, "written", "clapnq")}
    for src, f in figures.items():
        print(f"  {name} {src:8} {f['questions']:4} questions  AUC {f['auc']:.3f}  refusal {f['refusal']:.2f}"
              f"  false refusal {f['false_refusal']:.2f}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--features", type=Path, default=Path("train/features"),
                        help="where each split's features are cached")
    parser.add_argument("--test", action="store_true", help="score the test split with the written judge")
    parser.add_argument("--out", type=Path, default=JUDGES)
    parser.add_argument("--recentre", type=float, metavar="SCORE",
                        help="shift the written judge so that its score SCORE reads as the answer "
                        "threshold (a threshold chosen in the app's own setting, see train/README.md)")
    args = parser.parse_args()

    settings = Settings()
    model = spec(settings.model or STANDARD)
    path = Path(resolve_model(settings.model, settings.models_dir))
    if model is None or verified_digest(path) != model.sha256:
        raise SystemExit("The judge is built for a verified catalogue model: set RAG_MODEL to a name from "
                         "`rag models` (the standard qwen2.5-1.5b by default).")
    reader, config = Reader(settings), args.out / f"{model.name}.json"
    if args.recentre is not None:
        recentre(config, args.recentre, collect("tune", args.features, reader), settings.answer_threshold)
    elif args.test:
        score_test_split(config, collect("test", args.features, reader), settings.answer_threshold)
    else:
        fit(config, model, collect("train", args.features, reader), collect("tune", args.features, reader),
            reader, settings.answer_threshold)


def read_judge(config: Path) -> tuple[dict, VerdictProbe]:
    """A written judge's config and probe (checked against each other, rag.judge)."""
    meta = json.loads(config.read_text(encoding="utf-8"))
    return meta, load_probe(config, meta["n_vocab"])


def log_odds(p: float) -> float:
    return math.log(p / (1 - p))


def fit(config: Path, model, train_split, tune_split, reader: Reader, threshold: float) -> None:
    """Fit on the train split, choose C and the threshold on the tune split, write the judge."""
    from sklearn.linear_model import LogisticRegression

    (x_train, _, train), (x_tune, p_tune, tune) = train_split, tune_split
    y_train = np.array([q.answerable for q in train], dtype=int)
    y_tune = [q.answerable for q in tune]
    mean, scale = x_train.mean(0), x_train.std(0) + 1e-6
    # Each source weighs the same in the fit: CLAPnq's 322 real search questions as much as the
    # 1,680 written ones, so that neither kind of question is what the judge learns.
    sources = [q.source for q in train]
    weight = np.array([len(sources) / (2 * sources.count(s)) for s in sources])
    best = None
    for c in C_GRID:
        fitted = LogisticRegression(C=c, max_iter=5000).fit((x_train - mean) / scale, y_train, sample_weight=weight)
        z = fitted.decision_function((x_tune - mean) / scale)
        score = auc([s for s, y in zip(z, y_tune) if y], [s for s, y in zip(z, y_tune) if not y])
        print(f"  C={c}: tune AUC {score:.3f}")
        if best is None or score > best[0]:
            best = (score, c, fitted, z)
    _, c, fitted, z = best
    answerable = np.sort([s for s, y in zip(z, y_tune) if y])
    cut = answerable[int(math.floor(MAX_FALSE_REFUSAL * len(answerable)))]  # this many refused, at most
    weights = fitted.coef_[0] / scale
    # The standardisation folded in, and the bias shifted so that the chosen cut reads as the threshold.
    shift = log_odds(threshold) - float(cut)
    n_vocab = reader.llm._llm.n_vocab()
    probe = VerdictProbe(feature_tokens(n_vocab), weights, float(fitted.intercept_[0] - weights @ mean) + shift)
    print(f"chosen C={c}; on the tune split, at threshold {threshold}:")
    tune_figures = report("judge ", probe.scores(x_tune), tune, threshold)
    report("P(YES)", p_tune, tune, 0.75)
    write_probe(config, probe.tokens, probe.weights, probe.bias, {
        "model": model.name, "model_sha256": model.sha256, "n_vocab": n_vocab,
        "features": f"log-softmax of {TOKENS} token logits (numpy seed {SEED}) at the reply's first step",
        "prompt": "rag.prompt.build_prompt with the worked examples, as train.eval_verdict builds it",
        "fit": f"sklearn LogisticRegression, L2, sources weighted equally, C={c} (chosen on the tune split by AUC, of {list(C_GRID)})",
        "threshold": f"{threshold}: the highest whose false refusals on the tune split stay "
                     f"within {MAX_FALSE_REFUSAL} (bias shifted by {shift:.3f} in log-odds)",
        "training_data_sha256": data_hash(train), "train_questions": len(train), "tune": tune_figures})
    print(f"wrote {config} and its weights")


def recentre(config: Path, score: float, tune_split, threshold: float) -> None:
    """Shift the written judge so that its score `score` reads as the threshold."""
    meta, probe = read_judge(config)
    x_tune, _, tune = tune_split
    shift = log_odds(threshold) - log_odds(score)
    probe = VerdictProbe(probe.tokens, probe.weights, probe.bias + shift)
    print(f"recentred: its score {score} now reads {threshold}; on the tune split, at {threshold}:")
    meta.pop("test", None)
    meta["tune"] = report("judge ", probe.scores(x_tune), tune, threshold)
    meta["recentred"] = (f"bias shifted by {shift:.3f} in log-odds more, so that the score {score} "
                         f"reads {threshold}: the threshold chosen on the project's read question sets")
    write_probe(config, probe.tokens, probe.weights, probe.bias,
                {k: v for k, v in meta.items() if k not in ("format", "weights", "weights_sha256")})


def score_test_split(config: Path, test_split, threshold: float) -> None:
    """The test split's figures for the written judge, recorded in its config."""
    meta, probe = read_judge(config)
    x, p_yes, questions = test_split
    meta["test"] = {"judge": report("judge ", probe.scores(x), questions, threshold),
                    "p_yes_at_0.75": report("P(YES)", p_yes, questions, 0.75)}
    config.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
