"""CLAPnq's questions of one split as a question set the app can be run on: each question's
Wikipedia passage a document of its own (its title the first line), and a questions.jsonl in
shared/eval's format. CLAPnq's answers are written sentences, not short spans, so only the
refusals mean anything there (refusal_on_unanswerable, false_refusal, cited_gold_source):

    python -m train.clapnq_set test /tmp/clapnq_test
    rag index -c clapnq_test /tmp/clapnq_test/docs
    RAG_ANSWER_THRESHOLD=0 RAG_CHECK_THRESHOLD=0 rag eval -c clapnq_test \\
        /tmp/clapnq_test/questions.jsonl --json > clapnq_test.json
    python -m train.sweep_threshold /tmp/clapnq_test/questions.jsonl=clapnq_test.json \\
        --score checked --verdict-at 0.5 --at 0.62

The test split (116 questions) was never used to write the check or choose its threshold
(train/README.md, Splits).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from train.judge_data import clapnq_questions


def write_set(split: str, out: Path) -> int:
    """Write the split's documents and questions under out; how many questions."""
    docs = out / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    questions = [q for q in clapnq_questions() if q.split == split]
    lines = []
    for q in questions:
        name = f"{q.id}.txt"
        (docs / name).write_text(f"{q.title}\n\n{' '.join(q.sentences)}\n", encoding="utf-8")
        lines.append(json.dumps({"id": q.id, "question": q.question, "answers": [],
                                 "sources": [name] if q.answerable else [], "answerable": q.answerable}))
    (out / "questions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(questions)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("split", choices=("train", "tune", "test"))
    parser.add_argument("out", type=Path, help="The folder to write docs/ and questions.jsonl into.")
    args = parser.parse_args(argv)
    print(f"{write_set(args.split, args.out)} questions written to {args.out}")


if __name__ == "__main__":
    main()
