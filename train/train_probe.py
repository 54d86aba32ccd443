"""Train the app's judge (rag.judge): a logistic probe on the standard LLM's first reply step.

    python -m train.train_probe            # the train and tune features, the fit: ~70 minutes on two cores
    python -m train.train_probe --test     # then the test split's figures, once, on what was chosen

Each question of the judge data (train/judge_data.py) goes through the app's ranking,
excerpting and prompt with its own text as the retrieved document (train.eval_verdict), and
the model reads the prompt once. At the reply's first step, where it weighs YES against NO,
the log-softmax of 4,096 fixed tokens' logits (drawn with seed 0) is kept: a linear image of
the model's last hidden state, so a linear probe on them can weigh that state in any
direction, not only YES against NO. Features are cached per split under --features.

An L2-regularised logistic regression is fitted on the train split (standardised features,
the two sources weighted equally);
its strength C is chosen on the tune split by AUC, and its threshold as the highest whose
false refusals on the tune split stay within 0.05. The weights are written with the
standardisation folded in, and the bias shifted so that the threshold reads as the app's
answer threshold (rag.settings). The test split is scored only with --test, after.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from rag.generate import load_chat_model
from rag.judge import JUDGES, write_probe
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
    features and P(YES)."""

    def __init__(self, tokens: np.ndarray, yes: list[int], no: list[int]) -> None:
        self.tokens, self.yes, self.no = tokens, yes, no
        self.rows: list[tuple[np.ndarray, float]] = []

    def p_answers(self, logits: np.ndarray) -> float:
        scores = np.asarray(logits, dtype=np.float32)
        yes, no = np.logaddexp.reduce(scores[self.yes]), np.logaddexp.reduce(scores[self.no])
        self.rows.append((scores[self.tokens] - np.logaddexp.reduce(scores), float(1 / (1 + np.exp(no - yes)))))
        return 0.5


def collect(split: str, folder: Path, llm, encoder, settings: Settings) -> tuple[np.ndarray, np.ndarray, list[Question]]:
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
    tokens = np.sort(np.random.default_rng(SEED).choice(llm._llm.n_vocab(), TOKENS, replace=False))
    recorder = FirstStep(tokens, llm._yes, llm._no)
    llm.probe, started = recorder, time.perf_counter()
    for i, q in enumerate(questions[len(done):], start=len(done)):
        for _ in llm.stream_answer(messages_for(llm, encoder, settings, q), 1, 0.0):
            pass
        (x, p), = recorder.rows
        recorder.rows.clear()
        features.append(x)
        p_yes.append(p)
        if (i + 1) % 50 == 0 or i + 1 == len(questions):
            folder.mkdir(parents=True, exist_ok=True)
            np.savez(path.with_suffix(".tmp.npz"), X=np.array(features), p=np.array(p_yes), tokens=tokens,
                     ids=np.array([q.id for q in questions[:i + 1]]))
            path.with_suffix(".tmp.npz").replace(path)
            print(f"  {split}: {i + 1}/{len(questions)}, {time.perf_counter() - started:.0f} s", flush=True)
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

    from sklearn.linear_model import LogisticRegression

    from rag.pipeline import load_encoder

    settings = Settings()
    model = spec(settings.model or STANDARD)
    path = Path(resolve_model(settings.model, settings.models_dir))
    digest = verified_digest(path)
    if model is None or digest != model.sha256:
        raise SystemExit("The judge is built for a verified catalogue model: set RAG_MODEL to a name from "
                         "`rag models` (the standard qwen2.5-1.5b by default).")
    llm = load_chat_model(settings)
    llm.probe = None  # the model's own first step, whatever judge is installed
    encoder = load_encoder(settings)
    config = args.out / f"{model.name}.json"
    if args.recentre is not None:
        meta = json.loads(config.read_text(encoding="utf-8"))
        with np.load(config.with_name(meta["weights"])) as data:
            tokens, w, b = data["tokens"], data["weights"], float(data["bias"])
        t = settings.answer_threshold
        shift = math.log(t / (1 - t)) - math.log(args.recentre / (1 - args.recentre))
        x_tune, p_tune, tune = collect("tune", args.features, llm, encoder, settings)
        print(f"recentred: its score {args.recentre} now reads {t}; on the tune split, at {t}:")
        meta.pop("test", None)
        meta["tune"] = report("judge ", 1 / (1 + np.exp(-(x_tune @ w + b + shift))), tune, t)
        meta["recentred"] = (f"bias shifted by {shift:.3f} in log-odds more, so that the score {args.recentre} "
                             f"reads {t}: the threshold chosen on the project's read question sets")
        write_probe(config, tokens, w, b + shift, {k: v for k, v in meta.items()
                                                    if k not in ("format", "weights", "weights_sha256")})
        return
    if args.test:
        meta = json.loads(config.read_text(encoding="utf-8"))
        with np.load(config.with_name(meta["weights"])) as data:
            w, b = data["weights"], float(data["bias"])
        x, p_yes, questions = collect("test", args.features, llm, encoder, settings)
        threshold = settings.answer_threshold
        meta["test"] = {"judge": report("judge ", 1 / (1 + np.exp(-(x @ w + b))), questions, threshold),
                        "p_yes_at_0.75": report("P(YES)", p_yes, questions, 0.75)}
        config.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        return

    x_train, p_train, train = collect("train", args.features, llm, encoder, settings)
    x_tune, p_tune, tune = collect("tune", args.features, llm, encoder, settings)
    y_train = np.array([q.answerable for q in train], dtype=int)
    y_tune = [q.answerable for q in tune]
    mean, scale = x_train.mean(0), x_train.std(0) + 1e-6
    # Each source weighs the same in the fit: CLAPnq's 322 real search questions as much as the
    # 1,680 written ones, so that neither kind of question is what the judge learns.
    sources = [q.source for q in train]
    weight = np.array([len(sources) / (2 * sources.count(s)) for s in sources])
    best = None
    for c in C_GRID:
        fit = LogisticRegression(C=c, max_iter=5000).fit((x_train - mean) / scale, y_train, sample_weight=weight)
        z = fit.decision_function((x_tune - mean) / scale)
        score = auc([s for s, y in zip(z, y_tune) if y], [s for s, y in zip(z, y_tune) if not y])
        print(f"  C={c}: tune AUC {score:.3f}")
        if best is None or score > best[0]:
            best = (score, c, fit, z)
    _, c, fit, z = best
    answerable = np.sort([s for s, y in zip(z, y_tune) if y])
    cut = answerable[int(math.floor(MAX_FALSE_REFUSAL * len(answerable)))]  # this many refused, at most
    weights = fit.coef_[0] / scale
    bias = float(fit.intercept_[0] - weights @ mean)
    # Shift the bias so that the chosen cut reads as the app's threshold.
    shift = math.log(settings.answer_threshold / (1 - settings.answer_threshold)) - float(cut)
    bias += shift
    scores = 1 / (1 + np.exp(-(x_tune @ weights + bias)))
    print(f"chosen C={c}; on the tune split, at threshold {settings.answer_threshold}:")
    tune_figures = report("judge ", scores, tune, settings.answer_threshold)
    report("P(YES)", p_tune, tune, 0.75)

    tokens = np.sort(np.random.default_rng(SEED).choice(llm._llm.n_vocab(), TOKENS, replace=False))
    write_probe(config, tokens, weights, bias, {
        "model": model.name, "model_sha256": model.sha256, "n_vocab": llm._llm.n_vocab(),
        "features": f"log-softmax of {TOKENS} token logits (numpy seed {SEED}) at the reply's first step",
        "prompt": "rag.prompt.build_prompt with the worked examples, as train.eval_verdict builds it",
        "fit": f"sklearn LogisticRegression, L2, sources weighted equally, C={c} (chosen on the tune split by AUC, of {list(C_GRID)})",
        "threshold": f"{settings.answer_threshold}: the highest whose false refusals on the tune split stay "
                     f"within {MAX_FALSE_REFUSAL} (bias shifted by {shift:.3f} in log-odds)",
        "training_data_sha256": data_hash(train), "train_questions": len(train), "tune": tune_figures})
    print(f"wrote {config} and its weights")


if __name__ == "__main__":
    main()
