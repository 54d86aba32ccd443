"""Train the check's probe (rag.judge.CheckProbe): a logistic regression on the standard LLM's
first step when it is asked whether a text answers a question (rag.prompt.CHECK_PROMPT).

    python -m train.train_check_probe            # features, then the fit: ~20 minutes on two cores
    python -m train.train_check_probe --cv       # also each regularisation's AUC, set left out

Training data: the read question sets holdout35 to holdout54 (tests/data; 960 questions on 160
written documents of many kinds, by helpers who saw no code). Each set's documents are indexed
as one collection in a scratch folder, and each question goes through the app's own retrieval
and ranking (Pipeline.shown). The text checked is one sentence the model would be shown,
under its document's title, as the check shows an answer's cited sentence:
- an answerable question: the best-ranked shown sentence holding one of its answers (label 1;
  a question none of whose shown sentences holds an answer is left out);
- an unanswerable one (on topic; its documents give a near miss): the best-ranked shown
  sentence (label 0).

At the check's first step the log-softmax of 4,096 fixed tokens (drawn with seed 0) is kept.
An L2-regularised logistic regression is fitted on those (standardised; the standardisation is
folded into the weights). Its strength C = 0.03 was chosen by AUC with five folds of whole sets
left out (--cv prints them: 0.956; 0.1 gives 0.9565). Its threshold (THRESHOLD, below) was
chosen on the read holdout55 to 58; the blind test sets came after (docs/trust.md). The probe is written to rag/judges/, bound to the model file by
its sha256.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from rag.cli import settings_from, with_model_file
from rag.evaluate import load_questions, satisfies
from rag.judge import JUDGES, CheckProbe, write_probe
from rag.pipeline import build_pipeline, index_paths, load_encoder
from rag.prompt import check_messages

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
SETS = tuple(f"holdout{n}" for n in range(35, 55))
TOKENS, SEED, C = 4096, 0, 0.03
# What rag.judge.checked_score must reach with this probe as the check: chosen on the read
# holdout55 to 58 (runs of the app with both thresholds at 0; grid 0.40 to 0.84 by 0.02) as the
# most refusals of unanswerable questions whose false refusals stay within the LLM's P(YES)
# check's at its 0.55 on the same runs (0.080): docs/trust.md, candidate 16.
THRESHOLD = 0.62
CONFIG = JUDGES / "check_probe.json"


def feature_tokens(n_vocab: int) -> np.ndarray:
    """The fixed tokens whose log-probabilities the probe reads."""
    return np.sort(np.random.default_rng(SEED).choice(n_vocab, TOKENS, replace=False))


def examples(pipeline, questions: list[dict]):
    """(question, title, sentence, label) for each question with a sentence to check."""
    k, max_tokens = pipeline.settings.k, pipeline.settings.max_tokens
    for q in questions:
        hits = pipeline.retriever.search(q["question"], k)
        shown = pipeline.shown(q["question"], hits, pipeline.retriever, pipeline.encoder, max_tokens).sentences
        texts = [(hits[r.n - 1].chunk.title, hits[r.n - 1].chunk.sentence(r.sentence)) for r in shown]
        if q["answerable"]:
            alternatives = [[a for group in q["answers"] for a in group]]
            texts = [t for t in texts if satisfies(t[1], alternatives)]
        if texts:
            yield q["question"], *texts[0], int(q["answerable"])


def collect(sets: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray, str, int]:
    """Features, labels and set names of every example; the model file's sha256 and vocabulary."""
    rows, labels, names = [], [], []
    with tempfile.TemporaryDirectory() as scratch:
        encoder = llm = None
        models_dir = settings_from().models_dir  # the user's joined models; indexes go to scratch
        for name in sets:
            started = time.perf_counter()
            settings = with_model_file(settings_from(collection=name, data_dir=Path(scratch),
                                                     models_dir=models_dir))
            encoder = encoder or load_encoder(settings)
            index_paths(settings, encoder, [DATA / name / "docs"])
            pipeline = build_pipeline(settings, encoder, llm)
            llm = pipeline.llm
            if not getattr(llm, "sha256", None):
                raise SystemExit("The probe is built for the standard model, joined and verified "
                                 "(`rag models`); set no RAG_MODEL or RAG_LLM_URL.")
            tokens = feature_tokens(llm.n_vocab)
            for question, title, sentence, label in examples(pipeline, load_questions(DATA / name / "questions.jsonl")):
                logprobs = llm.first_step(check_messages(question, [(title, sentence)]))[1]
                rows.append(logprobs[tokens].astype(np.float32))
                labels.append(label)
                names.append(name)
            print(f"{name}: {len(rows)} examples, {time.perf_counter() - started:.0f} s", flush=True)
    return np.stack(rows), np.array(labels), np.array(names), llm.sha256, llm.n_vocab


def fit(x: np.ndarray, y: np.ndarray, c: float) -> tuple[np.ndarray, float]:
    """Weights and bias over raw features, the standardisation folded in."""
    from sklearn.linear_model import LogisticRegression

    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    model = LogisticRegression(C=c, max_iter=5000).fit((x - mean) / scale, y)
    weights = model.coef_[0] / scale
    return weights, float(model.intercept_[0] - mean @ weights)


def cross_validate(x: np.ndarray, y: np.ndarray, names: np.ndarray) -> None:
    """Each C's AUC with five folds of whole sets left out."""
    from sklearn.metrics import roc_auc_score

    fold = {name: i % 5 for i, name in enumerate(sorted(set(names)))}
    folds = np.array([fold[n] for n in names])
    for c in (0.003, 0.01, 0.03, 0.1, 0.3):
        scores = np.zeros(len(y))
        for k in range(5):
            weights, bias = fit(x[folds != k], y[folds != k], c)
            scores[folds == k] = x[folds == k] @ weights + bias
        print(f"C={c}: AUC {roc_auc_score(y, scores):.4f}, sets left out", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cv", action="store_true", help="also print each C's cross-validated AUC")
    args = parser.parse_args()
    x, y, names, sha256, n_vocab = collect(SETS)
    if args.cv:
        cross_validate(x, y, names)
    weights, bias = fit(x, y, C)
    write_probe(CONFIG, CheckProbe(feature_tokens(n_vocab), weights, bias, THRESHOLD), {
        "model_sha256": sha256, "n_vocab": n_vocab, "tokens": TOKENS, "seed": SEED, "C": C,
        "threshold": THRESHOLD,
        "train_sets": list(SETS), "examples": int(len(y)), "answering": int(y.sum())})
    print(f"wrote {CONFIG} ({len(y)} examples, {int(y.sum())} answering)")


if __name__ == "__main__":
    main()
