"""Train the check's probe (rag.judge.CheckProbe): a logistic regression on the standard LLM's
first step when it is asked whether a text answers a question (rag.prompt.CHECK_PROMPT).

    python -m train.train_check_probe            # features, then the fit: ~45 minutes on two cores
    python -m train.train_check_probe --cv       # also each regularisation's AUC, groups left out

Training data, of many kinds, so that no one kind of document teaches it what answering looks like:
- the read question sets holdout35 to holdout54 (tests/data; 960 questions on 160 written
  documents of many kinds). Each set's documents are indexed as one collection in a scratch
  folder, and each question goes through the app's own retrieval and ranking (Pipeline.shown):
  an answerable question gives the best-ranked shown sentence holding one of its answers (label 1;
  one none of whose shown sentences holds an answer is left out), an unanswerable one (on topic;
  its documents give a near miss) the best-ranked shown sentence (label 0);
- the train split of train/data (train/judge_data.py): 240 short written documents of about twenty
  kinds (manuals, letters, news, encyclopedia entries, policies...) and CLAPnq's real search
  questions over Wikipedia. Each question gives the sentence of its text nearest it (MiniLM
  cosine) among those the answer rests on (label 1), or among all, for an unanswerable one (0).
Each text is checked as the check shows an answer's cited sentence: under its document's title.

At the check's first step the log-softmax of 4,096 fixed tokens (drawn with seed 0) is kept.
An L2-regularised logistic regression is fitted on those (standardised; the standardisation is
folded into the weights). Its strength C was chosen by AUC with five folds of whole groups (a
question set, a written document, a CLAPnq question) left out (--cv prints them). Its threshold
(THRESHOLD, below) was chosen on app runs of the read holdout55 to 62, used for nothing else; the
blind test sets came after (docs/trust.md). The probe is written to rag/judges/, bound to the model
file by its sha256.
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
from train.judge_data import Question, clapnq_questions, written_questions

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
SETS = tuple(f"holdout{n}" for n in range(35, 55))
TOKENS, SEED, C = 4096, 0, 0.03
# What rag.judge.checked_score must reach with this probe as the check: chosen on the read
# holdout55 to 62 (runs of the app with both thresholds at 0; grid 0.40 to 0.84 by 0.02) as the
# most refusals of unanswerable questions whose false refusals stay within the LLM's P(YES)
# check's at its 0.55 on the same runs: docs/trust.md, candidate 17.
THRESHOLD = 0.58
CONFIG = JUDGES / "check_probe.json"


def feature_tokens(n_vocab: int) -> np.ndarray:
    """The fixed tokens whose log-probabilities the probe reads."""
    return np.sort(np.random.default_rng(SEED).choice(n_vocab, TOKENS, replace=False))


def app_examples(pipeline, name: str):
    """(group, question, title, sentence, label) for each question of a set with a sentence to
    check, as the app would show it."""
    k, max_tokens = pipeline.settings.k, pipeline.settings.max_tokens
    for q in load_questions(DATA / name / "questions.jsonl"):
        hits = pipeline.retriever.search(q["question"], k)
        shown = pipeline.shown(q["question"], hits, pipeline.retriever, pipeline.encoder, max_tokens).sentences
        texts = [(hits[r.n - 1].chunk.title, hits[r.n - 1].chunk.sentence(r.sentence)) for r in shown]
        if q["answerable"]:
            alternatives = [[a for group in q["answers"] for a in group]]
            texts = [t for t in texts if satisfies(t[1], alternatives)]
        if texts:
            yield name, q["question"], *texts[0], int(q["answerable"])


def labelled_examples(encoder, questions: list[Question]):
    """(group, question, title, sentence, label) for each labelled question: the sentence of its
    text nearest it among those the answer rests on, or among all for an unanswerable one."""
    for q in questions:
        candidates = [s for s, label in zip(q.sentences, q.labels) if label or not q.answerable]
        vectors = encoder.encode([q.question, *candidates])
        best = candidates[int(np.argmax(vectors[1:] @ vectors[0]))]
        group = q.id.rsplit("-q", 1)[0] if q.source == "written" else q.id
        yield f"{q.source}:{group}", q.question, q.title, best, int(q.answerable)


def collect() -> tuple[np.ndarray, np.ndarray, np.ndarray, str, int]:
    """Features, labels and groups of every example; the model file's sha256 and vocabulary."""
    rows, labels, groups = [], [], []
    with tempfile.TemporaryDirectory() as scratch:
        models_dir = settings_from().models_dir  # the user's joined models; indexes go to scratch
        settings = with_model_file(settings_from(data_dir=Path(scratch), models_dir=models_dir))
        encoder = load_encoder(settings)
        pipeline = None
        sources = [(name, None) for name in SETS] + [("train split", [
            q for q in clapnq_questions() + written_questions() if q.split == "train"])]
        for name, questions in sources:
            started = time.perf_counter()
            if questions is None:
                settings = with_model_file(settings_from(collection=name, data_dir=Path(scratch),
                                                         models_dir=models_dir))
                index_paths(settings, encoder, [DATA / name / "docs"])
                pipeline = build_pipeline(settings, encoder, pipeline and pipeline.llm)
                found = app_examples(pipeline, name)
            else:
                found = labelled_examples(encoder, questions)
            llm = pipeline.llm
            if not getattr(llm, "sha256", None):
                raise SystemExit("The probe is built for the standard model, joined and verified "
                                 "(`rag models`); set no RAG_MODEL or RAG_LLM_URL.")
            tokens = feature_tokens(llm.n_vocab)
            for group, question, title, sentence, label in found:
                logprobs = llm.first_step(check_messages(question, [(title, sentence)]))[1]
                rows.append(logprobs[tokens].astype(np.float32))
                labels.append(label)
                groups.append(group)
            print(f"{name}: {len(rows)} examples, {time.perf_counter() - started:.0f} s", flush=True)
    return np.stack(rows), np.array(labels), np.array(groups), llm.sha256, llm.n_vocab


def fit(x: np.ndarray, y: np.ndarray, c: float) -> tuple[np.ndarray, float]:
    """Weights and bias over raw features, the standardisation folded in."""
    from sklearn.linear_model import LogisticRegression

    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    model = LogisticRegression(C=c, max_iter=5000).fit((x - mean) / scale, y)
    weights = model.coef_[0] / scale
    return weights, float(model.intercept_[0] - mean @ weights)


def cross_validate(x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> None:
    """Each C's AUC with five folds of whole groups left out, overall and by source."""
    from sklearn.metrics import roc_auc_score

    fold = {g: i % 5 for i, g in enumerate(np.random.default_rng(SEED).permutation(sorted(set(groups))))}
    folds = np.array([fold[g] for g in groups])
    source = np.array([g.split(":")[0] if ":" in g else "holdout" for g in groups])
    for c in (0.003, 0.01, 0.03, 0.1):
        scores = np.zeros(len(y))
        for k in range(5):
            weights, bias = fit(x[folds != k], y[folds != k], c)
            scores[folds == k] = x[folds == k] @ weights + bias
        by = ", ".join(f"{s} {roc_auc_score(y[source == s], scores[source == s]):.4f}" for s in sorted(set(source)))
        print(f"C={c}: AUC {roc_auc_score(y, scores):.4f} ({by}), groups left out", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cv", action="store_true", help="also print each C's cross-validated AUC")
    parser.add_argument("--features", type=Path, help="keep the features in this .npz, and reuse them when it exists")
    args = parser.parse_args()
    if args.features and args.features.exists():
        with np.load(args.features) as kept:
            x, y, groups = kept["x"], kept["y"], kept["groups"]
            sha256, n_vocab = str(kept["sha256"]), int(kept["n_vocab"])
    else:
        x, y, groups, sha256, n_vocab = collect()
        if args.features:
            np.savez(args.features, x=x, y=y, groups=groups, sha256=sha256, n_vocab=n_vocab)
    if args.cv:
        cross_validate(x, y, groups)
    weights, bias = fit(x, y, C)
    write_probe(CONFIG, CheckProbe(feature_tokens(n_vocab), weights, bias, THRESHOLD), {
        "model_sha256": sha256, "n_vocab": n_vocab, "tokens": TOKENS, "seed": SEED, "C": C,
        "threshold": THRESHOLD, "train": list(SETS) + ["train/data train split (written, clapnq)"],
        "examples": int(len(y)), "answering": int(y.sum())})
    print(f"wrote {CONFIG} ({len(y)} examples, {int(y.sum())} answering)")


if __name__ == "__main__":
    main()
