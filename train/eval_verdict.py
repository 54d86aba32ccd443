"""How well the app's judge tells answerable questions from on-topic unanswerable ones, on the
judge data (train/judge_data.py): the trained judge where one is built for the model (rag.judge),
else the LLM's own P(YES) as the first token (rag.generate.Verdict).

Each question's text is chunked as the app chunks a file, its passages become the hits, and
the question goes through the app's ranking, excerpting and prompt (rag.ranking, rag.prompt),
so the model reads what it would read in the app with the right document retrieved. Prints
the AUC, and the refusal of unanswerable and answerable questions at each threshold.

    python -m train.eval_verdict --split tune --limit 120       # ~4 minutes on two cores
    python -m train.eval_verdict --split test --json out.json   # the reported figures

Use the tune split to choose; the test split once, on what was chosen.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np

from rag.chunk import chunk_document
from rag.generate import Verdict, judge_name, load_chat_model
from rag.prompt import build_prompt, select_excerpts
from rag.ranking import rank_sentences
from rag.schema import Document, Hit
from rag.settings import Settings
from train.judge_data import Question, all_questions
from train.train_judge import auc

THRESHOLDS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


def hits_of(question: Question, k: int) -> list[Hit]:
    """The question's text as the app would index it: its passages, in order, at most k."""
    text = " ".join(question.sentences)
    doc = Document(source=f"{question.id}.txt", title=question.title, text=text, content_hash="",
                   spans=((0, len(text)),))
    return [Hit(chunk, 1.0) for chunk in chunk_document(doc)[:k]]


def messages_for(llm, encoder, settings: Settings, question: Question) -> list[dict[str, str]]:
    """The app's prompt for the question over its own text."""
    hits = hits_of(question, settings.k)
    ranked = rank_sentences(question.question, hits, encoder)
    excerpts = select_excerpts(hits, [(r.n, r.sentence, r.score) for r in ranked],
                               settings.passage_tokens, llm.count_tokens)
    return build_prompt(question.question, hits, llm.n_ctx, settings.max_tokens, llm.count_tokens,
                        excerpts).messages


def verdict(llm, encoder, settings: Settings, question: Question) -> Verdict:
    """The model's verdict on the question over its own text, through the app's prompt."""
    for item in llm.stream_answer(messages_for(llm, encoder, settings, question), max_tokens=1,
                                  temperature=0.0):
        if isinstance(item, Verdict):
            return item
    return Verdict(0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("train", "tune", "test"), required=True)
    parser.add_argument("--source", choices=("both", "written", "clapnq"), default="both")
    parser.add_argument("--limit", type=int, default=0, help="a random sample of this many (seed 0)")
    parser.add_argument("--json", type=Path, help="write every score here")
    args = parser.parse_args()

    from rag.pipeline import load_encoder

    settings = Settings()
    questions = [q for q in all_questions() if q.split == args.split
                 and args.source in ("both", q.source)]
    if args.limit:
        questions = random.Random(0).sample(questions, min(args.limit, len(questions)))
    encoder, llm = load_encoder(settings), load_chat_model(settings)
    started, scores = time.perf_counter(), []
    for q in questions:
        scores.append(verdict(llm, encoder, settings, q).p_answers)
    seconds = time.perf_counter() - started
    yes = [s for s, q in zip(scores, questions) if q.answerable]
    no = [s for s, q in zip(scores, questions) if not q.answerable]
    print(f"{llm.name} ({judge_name(llm)}), {args.split} split ({args.source}): {len(yes)} answerable, {len(no)} "
          f"unanswerable, {seconds / len(questions):.2f} s a question")
    for source in ("written", "clapnq"):
        y = [s for s, q in zip(scores, questions) if q.answerable and q.source == source]
        n = [s for s, q in zip(scores, questions) if not q.answerable and q.source == source]
        if y and n:
            print(f"  AUC {source}: {auc(y, n):.3f}")
    print(f"  AUC all: {auc(yes, no):.3f}")
    print("  threshold  unanswerable refused  answerable refused")
    for t in THRESHOLDS:
        print(f"  {t:<9}  {np.mean([s < t for s in no]):<21.2f} {np.mean([s < t for s in yes]):.2f}")
    if args.json:
        args.json.write_text(json.dumps([{"id": q.id, "source": q.source, "answerable": q.answerable,
                                          "score": s} for q, s in zip(questions, scores)]))


if __name__ == "__main__":
    main()
