"""Train the app's judge (rag.judge): a logistic probe on the standard LLM's first reply step.

    python -m train.train_probe                  # the train and tune features, the fit: ~70 minutes on two cores
    python -m train.train_probe --test           # then the test split's figures, once, on what was chosen

Each question of the judge data (train/judge_data.py) is asked of its split's texts indexed
as one library, and goes through the app's retrieval, ranking, excerpting and prompt
(train.libraries); the model reads the prompt once, and the label is whether the prompt shows
the answer. At the reply's first step, where it weighs YES against NO,
the log-softmax of 4,096 fixed tokens' logits (drawn with seed 0) is kept: a linear image of
the model's last hidden state, so a linear probe on them can weigh that state in any
direction, not only YES against NO. Features are cached per split under --features; the
model is loaded only for a split that is not cached whole.

An L2-regularised logistic regression is fitted on the train split (standardised features,
the two sources weighted equally); its strength C is chosen on the tune split by AUC, and its
threshold as the highest whose false refusals on the tune split stay within 0.05. The weights
are written with the standardisation folded in, and the bias shifted so that the threshold
reads as the app's answer threshold (rag.settings). The test split is scored only with
--test, after.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.generate import Verdict, load_chat_model
from rag.judge import JUDGES, VerdictProbe, first_step_features, load_probe, log_odds, write_probe
from rag.models import STANDARD, resolve_model, spec, verified_digest
from rag.settings import Settings
from train.judge_data import Question, all_questions, data_hash
from train.libraries import Libraries, shows_answer
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
    """The model, the encoder and the libraries, loaded the first time a prompt must be read
    (never, when every feature is cached)."""

    def __init__(self, settings: Settings, folder: Path) -> None:
        self.settings, self.folder = settings, folder

    @functools.cached_property
    def llm(self):
        llm = load_chat_model(self.settings)
        llm.probe = None  # the model's own first step, whatever judge is installed
        return llm

    @functools.cached_property
    def libraries(self) -> Libraries:
        from rag.pipeline import load_encoder

        return Libraries(self.folder / "libraries", all_questions(), self.settings,
                         load_encoder(self.settings), self.llm)


@dataclass(frozen=True)
class Split:
    """A split's questions that the model was asked (the others are refused before it is), with
    their features, the model's P(YES), and whether the prompt showed the answer."""

    questions: list[Question]
    x: np.ndarray
    p_yes: np.ndarray
    shows: np.ndarray
    n_vocab: int  # the model's, whose tokens the features read (feature_tokens)

    def subset(self, source: str | None) -> Split:
        keep = [source in (None, q.source) for q in self.questions]
        return Split([q for q, k in zip(self.questions, keep) if k], self.x[keep], self.p_yes[keep],
                     self.shows[keep], self.n_vocab)


def collect(split: str, folder: Path, reader: Reader) -> Split:
    """The split's features, read from the cache, or computed and cached (in batches of 50, so
    a stopped run goes on where it stopped)."""
    questions = sorted((q for q in all_questions() if q.split == split), key=lambda q: q.id)
    path = folder / f"{split}.npz"
    rows, n_vocab = {"X": [], "p": [], "shows": [], "asked": [], "ids": []}, None
    if path.exists():
        with np.load(path) as data:
            rows, n_vocab = {key: list(data[key]) for key in rows}, int(data["n_vocab"])
    done = [str(i) for i in rows["ids"]]
    if done != [q.id for q in questions[:len(done)]]:
        raise SystemExit(f"{path} was collected for other questions: delete it and run again.")
    if len(done) < len(questions):
        llm = reader.llm
        if n_vocab not in (None, llm.n_vocab):
            raise SystemExit(f"{path} was collected with another model: delete it and run again.")
        n_vocab, recorder = llm.n_vocab, FirstStep(feature_tokens(llm.n_vocab))
        llm.probe, started = recorder, time.perf_counter()
        for i, q in enumerate(questions[len(done):], start=len(done)):
            shown = reader.libraries.shown(q)
            asked = shown.prompt is not None  # else the app refuses before asking the model
            verdict = Verdict(0.0)
            if asked:
                verdict = next(v for v in llm.stream_answer(shown.prompt.messages, 1, 0.0) if isinstance(v, Verdict))
            rows["X"].append(recorder.rows.pop() if asked else np.zeros(TOKENS, np.float32))
            rows["p"].append(verdict.p_yes)
            rows["shows"].append(shows_answer(q, shown))
            rows["asked"].append(asked)
            rows["ids"].append(q.id)
            if (i + 1) % 50 == 0 or i + 1 == len(questions):
                folder.mkdir(parents=True, exist_ok=True)
                np.savez(path.with_suffix(".tmp.npz"), tokens=recorder.tokens, n_vocab=n_vocab,
                         **{key: np.array(value) for key, value in rows.items()})
                path.with_suffix(".tmp.npz").replace(path)
                print(f"  {split}: {i + 1}/{len(questions)}, {time.perf_counter() - started:.0f} s", flush=True)
        llm.probe = None
    asked = np.array(rows["asked"], dtype=bool)
    return Split([q for q, a in zip(questions, asked) if a], np.array(rows["X"])[asked],
                 np.array(rows["p"])[asked], np.array(rows["shows"], dtype=bool)[asked], n_vocab)


def refusals(scores: np.ndarray, split: Split, threshold: float) -> dict:
    """AUC, refusal (of questions whose prompt does not show the answer) and false refusal (of
    those whose prompt does) at the threshold."""
    yes, no = scores[split.shows], scores[~split.shows]
    return {"questions": len(scores), "shows_answer": int(split.shows.sum()), "auc": round(auc(yes, no), 3),
            "refusal": round(float(np.mean(no < threshold)), 3),
            "false_refusal": round(float(np.mean(yes < threshold)), 3)}


def report(name: str, score, split: Split, threshold: float) -> dict:
    """Figures overall and per source, printed and returned; score(split) gives the scores."""
    figures = {}
    for source in (None, "written", "clapnq"):
        part = split.subset(source)
        figures[source or "all"] = f = refusals(score(part), part, threshold)
        print(f"  {name} {source or 'all':8} {f['questions']:4} questions ({f['shows_answer']} shown the answer)"
              f"  AUC {f['auc']:.3f}  refusal {f['refusal']:.2f}  false refusal {f['false_refusal']:.2f}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--features", type=Path, default=Path("train/features"),
                        help="where each split's features are cached")
    parser.add_argument("--test", action="store_true", help="score the test split with the written judge")
    parser.add_argument("--out", type=Path, default=JUDGES)
    args = parser.parse_args()

    settings = Settings()
    model = spec(settings.model or STANDARD)
    path = Path(resolve_model(settings.model, settings.models_dir))
    if model is None or verified_digest(path) != model.sha256:
        raise SystemExit("The judge is built for a verified catalogue model: set RAG_MODEL to a name from "
                         "`rag models` (the standard qwen2.5-1.5b by default).")
    reader, config = Reader(settings, args.features), args.out / f"{model.name}.json"
    if args.test:
        score_test_split(config, collect("test", args.features, reader), settings.answer_threshold)
    else:
        fit(config, model, collect("train", args.features, reader), collect("tune", args.features, reader),
            settings.answer_threshold)


def read_judge(config: Path) -> tuple[dict, VerdictProbe]:
    """A written judge's config and probe (checked against each other, rag.judge)."""
    meta = json.loads(config.read_text(encoding="utf-8"))
    return meta, load_probe(config, meta["n_vocab"])


def fit(config: Path, model, train: Split, tune: Split, threshold: float) -> None:
    """Fit on the train split, choose C and the threshold on the tune split, write the judge."""
    from sklearn.linear_model import LogisticRegression

    mean, scale = train.x.mean(0), train.x.std(0) + 1e-6
    # Each source weighs the same in the fit: CLAPnq's real search questions as much as the
    # written ones, so that neither kind of question is what the judge learns.
    sources = [q.source for q in train.questions]
    weight = np.array([len(sources) / (2 * sources.count(s)) for s in sources])
    best = None
    for c in C_GRID:
        fitted = LogisticRegression(C=c, max_iter=5000).fit((train.x - mean) / scale, train.shows,
                                                             sample_weight=weight)
        z = fitted.decision_function((tune.x - mean) / scale)
        score = auc(z[tune.shows], z[~tune.shows])
        print(f"  C={c}: tune AUC {score:.3f}")
        if best is None or score > best[0]:
            best = (score, c, fitted, z)
    _, c, fitted, z = best
    shown = np.sort(z[tune.shows])
    cut = shown[int(math.floor(MAX_FALSE_REFUSAL * len(shown)))]  # this many refused, at most
    weights = fitted.coef_[0] / scale
    # The standardisation folded in, and the bias shifted so that the chosen cut reads as the threshold.
    shift = log_odds(threshold) - float(cut)
    n_vocab = train.n_vocab
    probe = VerdictProbe(feature_tokens(n_vocab), weights, float(fitted.intercept_[0] - weights @ mean) + shift)
    print(f"chosen C={c}; on the tune split, at threshold {threshold}:")
    tune_figures = report("judge ", lambda part: probe.scores(part.x), tune, threshold)
    report("P(YES)", lambda part: part.p_yes, tune, threshold)
    write_probe(config, probe.tokens, probe.weights, probe.bias, {
        "model": model.name, "model_sha256": model.sha256, "n_vocab": n_vocab,
        "features": f"log-softmax of {TOKENS} token logits (numpy seed {SEED}) at the reply's first step",
        "prompt": "the app's own (rag.pipeline.Pipeline.shown), each question asked of its split's "
                  "texts indexed as one library (train.libraries)",
        "label": "the prompt shows one of the sentences the answer rests on",
        "fit": f"sklearn LogisticRegression, L2, sources weighted equally, C={c} (chosen on the tune split "
               f"by AUC, of {list(C_GRID)})",
        "threshold": f"{threshold}: the highest whose false refusals on the tune split stay "
                     f"within {MAX_FALSE_REFUSAL} (bias shifted by {shift:.3f} in log-odds)",
        "training_data_sha256": data_hash(train.questions), "train_questions": len(train.questions),
        "tune": tune_figures})
    print(f"wrote {config} and its weights")


def score_test_split(config: Path, test: Split, threshold: float) -> None:
    """The test split's figures for the written judge, recorded in its config."""
    meta, probe = read_judge(config)
    meta["test"] = {"judge": report("judge ", lambda part: probe.scores(part.x), test, threshold),
                    f"p_yes_at_{threshold}": report("P(YES)", lambda part: part.p_yes, test, threshold)}
    config.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
