"""The judge's labelled data: questions over short texts, every sentence labelled answers or not.

Two sources (train/README.md says where each comes from and its licence):
- CLAPnq (train/data/clapnq.jsonl): real search questions over Wikipedia passages; the
  sentences the annotators' answer rests on are marked; 265 of 495 are unanswerable from an
  on-topic passage.
- Written (train/data/written/*/): short documents of many kinds (manuals, letters, minutes,
  policies, recipes, news, reports) with questions of every form, half of them on-topic and
  unanswerable, written by helpers who saw neither the app nor any test set.

Splits are fixed by a hash of the question id (CLAPnq) or the document id (written), so a
document's questions never straddle train and test: 60/15/25 and 70/10/20 for
train/tune/test.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from rag.text import split_sentences

DATA = Path(__file__).resolve().parent / "data"
SPLITS = {"clapnq": (60, 75), "written": (70, 80)}  # bucket < first: train, < second: tune, else test


def judge_input(sentence: str, previous: str = "", title: str = "") -> str:
    """What a cross-encoder judge reads beside the question: the sentence, then where it stands."""
    context = " ".join(part for part in (f"{title}." if title else "", previous) if part)
    return f"{sentence} || {context}" if context else sentence


@dataclass(frozen=True)
class Question:
    """One question over one text, with every sentence of the text labelled."""

    id: str
    question: str
    title: str
    sentences: tuple[str, ...]
    labels: tuple[int, ...]  # 1: the sentence gives (part of) the answer
    source: str  # "clapnq" or "written"
    split: str  # "train", "tune" or "test"

    @property
    def answerable(self) -> bool:
        return any(self.labels)


def split_of(key: str, source: str) -> str:
    """train, tune or test, fixed by a hash of key."""
    bucket = int(hashlib.sha1(key.encode("utf-8")).hexdigest(), 16) % 100
    train, tune = SPLITS[source]
    return "train" if bucket < train else "tune" if bucket < tune else "test"


_SPACE_BEFORE = re.compile(r"\s+([.,;:!?%)\]'])|([(\[])\s+")


def detokenize(text: str) -> str:
    """NQ's tokenised text as ordinary prose: "year ." -> "year."."""
    text = _SPACE_BEFORE.sub(lambda m: m.group(1) or m.group(2), text)
    return text.replace("`` ", '"').replace(" ''", '"').replace(" - ", "-").replace(" 's", "'s")


def clapnq_questions(path: Path = DATA / "clapnq.jsonl") -> list[Question]:
    """CLAPnq's questions, each sentence labelled by whether the answer rests on it."""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        selected = {detokenize(s) for s in row.get("selected_sentences") or []}
        sentences = tuple(detokenize(s) for s in row["sentences"])
        labels = tuple(int(row["answerable"] and s in selected) for s in sentences)
        if row["answerable"] and not any(labels):
            continue  # its marked sentences are not among the passage's: no label to learn from
        out.append(Question(row["id"], row["question"], detokenize(row["title"]), sentences, labels,
                            "clapnq", split_of(row["id"], "clapnq")))
    return out


def written_questions(root: Path = DATA / "written") -> list[Question]:
    """The written sets' questions; a sentence is labelled 1 when it overlaps a support span."""
    out = []
    for folder in sorted(p for p in Path(root).iterdir() if p.is_dir()):
        docs = {d["doc_id"]: d for d in map(json.loads, (folder / "docs.jsonl").read_text(
            encoding="utf-8").splitlines())}
        for line in (folder / "questions.jsonl").read_text(encoding="utf-8").splitlines():
            q = json.loads(line)
            doc = docs.get(q["doc_id"])
            if doc is None:
                continue
            text = doc["text"]
            spans = split_sentences(text)
            supports = [(text.find(s), text.find(s) + len(s)) for s in q.get("support") or []
                        if s and text.find(s) >= 0]
            labels = tuple(int(q["answerable"] and any(a < e and s < b for a, b in supports))
                           for s, e in spans)
            if q["answerable"] and not any(labels):
                continue
            out.append(Question(q["id"], q["question"], doc.get("title", ""),
                                tuple(text[s:e] for s, e in spans), labels, "written",
                                split_of(doc["doc_id"], "written")))
    return out


def all_questions() -> list[Question]:
    """Every labelled question of both sources."""
    return clapnq_questions() + written_questions()


def pairs(question: Question) -> list[tuple[str, str, int]]:
    """(question, judge input, label) for each sentence of the question's text."""
    return [(question.question, judge_input(s, question.sentences[i - 1] if i else "", question.title), label)
            for i, (s, label) in enumerate(zip(question.sentences, question.labels))]


def data_hash(questions: list[Question]) -> str:
    """A hash of the training examples, recorded beside the weights."""
    digest = hashlib.sha256()
    for q in questions:
        for pair in pairs(q):
            digest.update(json.dumps(pair).encode("utf-8"))
    return digest.hexdigest()
