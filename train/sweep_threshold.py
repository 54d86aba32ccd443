"""The metrics of `rag eval` at each answer threshold, from one run with the threshold at 0.

A run with RAG_ANSWER_THRESHOLD=0 answers every question the model is asked and records its
verdict, P(YES), in each result. At a threshold t the app would refuse exactly the answers
whose verdict is below t (the stream stops at the verdict, nothing else changes), so each
threshold's metrics follow from that one run:

    RAG_ANSWER_THRESHOLD=0 rag eval ../shared/eval/dev.jsonl --json > dev.json
    python -m train.sweep_threshold ../shared/eval/dev.jsonl=dev.json [more QUESTIONS=RUN ...]

Pooled over every pair given; choose the threshold on read sets, report it on unread ones.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rag.evaluate import load_questions, satisfies

THRESHOLDS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


def metrics(pairs: list[tuple[dict, dict]], threshold: float) -> dict[str, float]:
    """answer_correct, cited_gold_source, refusal_on_unanswerable and false_refusal at threshold."""
    def refused(r: dict) -> bool:
        return r["refused"] or (r["verdict"] is not None and r["verdict"] < threshold)

    answerable = [(q, r) for q, r in pairs if q["answerable"]]
    unanswerable = [r for q, r in pairs if not q["answerable"]]
    kept = [(q, r) for q, r in answerable if not refused(r)]
    return {
        "answer_correct": sum(satisfies(r["answer"], q["answers"]) for q, r in kept) / len(answerable),
        "cited_gold_source": sum(any(c["source"].rsplit("/", 1)[-1] in q["sources"] for c in r["citations"])
                                 for q, r in kept) / len(answerable),
        "refusal_on_unanswerable": sum(map(refused, unanswerable)) / max(1, len(unanswerable)),
        "false_refusal": sum(refused(r) for _, r in answerable) / len(answerable),
    }


def main(argv: list[str]) -> None:
    pairs = []
    for arg in argv:
        questions_path, run_path = arg.split("=", 1)
        questions = {q["id"]: q for q in load_questions(Path(questions_path))}
        run = json.loads(Path(run_path).read_text(encoding="utf-8"))
        pairs += [(questions[r["id"]], r) for r in run["results"]]
    answerable = sum(q["answerable"] for q, _ in pairs)
    print(f"{len(pairs)} questions ({answerable} answerable, {len(pairs) - answerable} not)")
    print("threshold  answer_correct  cited_gold_source  refusal_on_unanswerable  false_refusal")
    for t in THRESHOLDS:
        m = metrics(pairs, t)
        print(f"{t:<9}  {m['answer_correct']:<14.2f}  {m['cited_gold_source']:<17.2f}  "
              f"{m['refusal_on_unanswerable']:<23.2f}  {m['false_refusal']:.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
