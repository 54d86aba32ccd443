"""Train a cross-encoder answer judge on the CPU, choose its threshold on the tune split,
report the test split (an experiment: train/README.md says why the app does not use it).

    python -m train.train_judge --epochs 1 --max-length 128   # 17 minutes on two cores
    python -m train.train_judge --epochs 1 --limit 40 --out /tmp/judge   # a smoke run

A cross-encoder is fine-tuned from the bundled all-MiniLM-L6-v2 weights (the MS MARCO MiniLM
recipe: pairs, binary labels, hard negatives, which here are the other sentences of the same
on-topic text and every sentence of a text that does not answer). Seeded; prints the held-out
figures and writes them, with the threshold and the data's hash, into judge.json.

A question's score is its best sentence's. The threshold is the one that best separates
answerable from unanswerable questions on the tune split (most refusals minus false
refusals); the test split is scored once, after.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import random
import time
from pathlib import Path

import numpy as np

from train.judge_data import Question, all_questions, data_hash, pairs

WEIGHTS, CONFIG = "model.safetensors", "judge.json"


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()

log = logging.getLogger("train_judge")


def auc(positives: list[float], negatives: list[float]) -> float:
    """The chance that a random positive outscores a random negative (ties count half)."""
    if len(positives) == 0 or len(negatives) == 0:
        return float("nan")
    neg = np.sort(np.asarray(negatives))
    wins = sum(np.searchsorted(neg, p, "left") + 0.5 * (np.searchsorted(neg, p, "right")
                                                          - np.searchsorted(neg, p, "left"))
               for p in positives)
    return float(wins / (len(positives) * len(negatives)))


def question_scores(questions: list[Question], score_pairs) -> list[np.ndarray]:
    """Each question's sentence scores, by score_pairs(list of (question, input)) -> array."""
    flat = [(q, text) for question in questions for q, text, _ in pairs(question)]
    scores = score_pairs(flat)
    out, at = [], 0
    for question in questions:
        out.append(scores[at:at + len(question.sentences)])
        at += len(question.sentences)
    return out


def figures(questions: list[Question], scores: list[np.ndarray], threshold: float | None) -> dict:
    """Question-level AUC (best sentence), sentence-level AUC within answerable texts,
    and refusal / false refusal at the threshold."""
    best = [float(s.max()) for s in scores]
    ans = [b for b, q in zip(best, questions) if q.answerable]
    una = [b for b, q in zip(best, questions) if not q.answerable]
    pos = [float(x) for q, s in zip(questions, scores) if q.answerable for x, l in zip(s, q.labels) if l]
    neg = [float(x) for q, s in zip(questions, scores) if q.answerable for x, l in zip(s, q.labels) if not l]
    top_right = [bool(q.labels[int(np.argmax(s))]) for q, s in zip(questions, scores) if q.answerable]
    result = {"questions": len(questions), "answerable": len(ans), "question_auc": round(auc(ans, una), 3),
              "sentence_auc": round(auc(pos, neg), 3),
              "answering_sentence_first": round(sum(top_right) / max(1, len(top_right)), 3)}
    if threshold is not None:
        result["refusal"] = round(sum(b < threshold for b in una) / max(1, len(una)), 3)
        result["false_refusal"] = round(sum(b < threshold for b in ans) / max(1, len(ans)), 3)
    return result


def choose_threshold(questions: list[Question], scores: list[np.ndarray]) -> float:
    """The threshold with the most refusals of unanswerable questions minus false refusals."""
    best = [float(s.max()) for s in scores]
    ans = np.array([b for b, q in zip(best, questions) if q.answerable])
    una = np.array([b for b, q in zip(best, questions) if not q.answerable])
    candidates = sorted(set(np.round(best, 4)))
    gain = [(np.mean(una < t) - np.mean(ans < t), -t) for t in candidates]
    return float(candidates[int(np.argmax([g for g, _ in gain]))])


def batches(examples: list, size: int, rng: random.Random) -> list[list]:
    """Shuffled batches of examples of similar length (less padding on the CPU)."""
    order = sorted(examples, key=lambda e: len(e[0]) + len(e[1]))
    groups = [order[i:i + size] for i in range(0, len(order), size)]
    rng.shuffle(groups)
    return groups


def train(base: str, examples: list[tuple[str, str, int]], epochs: int, max_length: int, seed: int):
    """The fine-tuned model and its tokenizer."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup

    torch.manual_seed(seed)
    rng = random.Random(seed)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=4e-5, weight_decay=0.01)
    steps = epochs * math.ceil(len(examples) / 16)
    schedule = get_linear_schedule_with_warmup(optimizer, int(0.1 * steps), steps)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    model.train()
    started, done = time.time(), 0
    for epoch in range(epochs):
        for batch in batches(examples, 16, rng):
            inputs = tokenizer([q for q, _, _ in batch], [c for _, c, _ in batch], truncation=True,
                               max_length=max_length, padding=True, return_tensors="pt")
            labels = torch.tensor([float(y) for _, _, y in batch])
            loss = loss_fn(model(**inputs).logits.squeeze(-1), labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            done += 1
            if done % 100 == 0:
                log.info("epoch %d, step %d/%d, loss %.3f, %.0f s", epoch + 1, done, steps, loss.item(),
                         time.time() - started)
    model.eval()
    return model, tokenizer


def scorer(model, tokenizer, max_length: int):
    """score_pairs for a model in memory: sigmoid of its logit."""
    import torch

    def score_pairs(items: list[tuple[str, str]]) -> np.ndarray:
        out = []
        with torch.inference_mode():
            for i in range(0, len(items), 64):
                chunk = items[i:i + 64]
                inputs = tokenizer([q for q, _ in chunk], [c for _, c in chunk], truncation=True,
                                   max_length=max_length, padding=True, return_tensors="pt")
                out.append(torch.sigmoid(model(**inputs).logits.squeeze(-1)).numpy())
        return np.concatenate(out) if out else np.zeros(0)
    return score_pairs


def cosine_scorer(base: str):
    """The baseline: the bi-encoder's cosine between the question and the sentence alone."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(base, device="cpu")

    def score_pairs(items: list[tuple[str, str]]) -> np.ndarray:
        texts = [q for q, _ in items] + [c.split(" || ")[0] for _, c in items]
        vecs = model.encode(texts, batch_size=64, normalize_embeddings=True)
        return np.sum(vecs[:len(items)] * vecs[len(items):], axis=1)
    return score_pairs


def save(model, tokenizer, out: Path, meta: dict) -> None:
    """fp16 weights, the tokenizer and judge.json with the weights' hash."""
    out.mkdir(parents=True, exist_ok=True)
    model.half().save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    meta = {**meta, "format": 1, "weights_sha256": file_sha256(out / WEIGHTS)}
    (out / CONFIG).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("judge-model"))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=160)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=0, help="use only this many training questions")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import torch

    from embeddings.encoder import default_model_path

    if args.threads:
        torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    base = default_model_path()
    questions = all_questions()
    split = {name: [q for q in questions if q.split == name] for name in ("train", "tune", "test")}
    if args.limit:
        split["train"] = random.Random(args.seed).sample(split["train"], min(args.limit, len(split["train"])))
    examples = [p for q in split["train"] for p in pairs(q)]
    log.info("train: %d questions, %d pairs (%d answering); tune %d; test %d", len(split["train"]),
             len(examples), sum(y for *_, y in examples), len(split["tune"]), len(split["test"]))
    started = time.time()
    model, tokenizer = train(base, examples, args.epochs, args.max_length, args.seed)
    minutes = round((time.time() - started) / 60, 1)
    judge = scorer(model, tokenizer, args.max_length)
    threshold = choose_threshold(split["tune"], question_scores(split["tune"], judge))
    baseline = cosine_scorer(base)
    report: dict = {}
    for name in ("tune", "test"):
        for source in ("clapnq", "written"):
            part = [q for q in split[name] if q.source == source]
            cos_scores = question_scores(part, baseline)
            report[f"{name}/{source}"] = {
                "judge": figures(part, question_scores(part, judge), threshold),
                "cosine": figures(part, cos_scores, None)}
    print(json.dumps({"threshold": threshold, "train_minutes": minutes, **report}, indent=2))
    save(model, tokenizer, args.out, {
        "name": "answer-judge-minilm-l6", "base_model": "sentence-transformers/all-MiniLM-L6-v2",
        "input": "judge_input(sentence, previous, title) in train/judge_data.py",
        "max_length": args.max_length, "threshold": threshold,
        "threshold_chosen": "most refusals minus false refusals of the tune split's questions "
                            "(a question scores its best sentence)",
        "epochs": args.epochs, "seed": args.seed, "train_questions": len(split["train"]),
        "train_pairs": len(examples), "train_minutes": minutes,
        "training_data_sha256": data_hash(split["train"]),
        "splits": "train/judge_data.py: CLAPnq 60/15/25 by question id, written 70/10/20 by document id",
        "held_out": report})


if __name__ == "__main__":
    main()
