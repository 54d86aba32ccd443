"""Score the pipeline on a question set, with the metrics of shared/eval/README.md."""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Callable, Iterable
from pathlib import Path

from rag.errors import InputError
from rag.schema import Answer
from rag.text import known_forms, names, numbers, stem


def load_questions(path: Path) -> list[dict]:
    """Questions from a JSONL file; InputError naming the bad line."""
    path = Path(path)
    if not path.is_file():
        problem = "is a folder" if path.is_dir() else "does not exist"
        raise InputError(f"{path} {problem}: give a .jsonl file of questions.")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} cannot be read as UTF-8 text ({exc}): give a .jsonl file of "
                         "questions.") from exc
    questions = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            q = json.loads(line)
            if not isinstance(q.get("question"), str):
                raise ValueError("no 'question' string")
        except (ValueError, AttributeError) as exc:
            raise InputError(f"{path}:{lineno} is not a question object ({exc}): see "
                             "shared/eval/README.md for the format.") from exc
        q.setdefault("id", f"line-{lineno}")
        q.setdefault("answers", [])
        q.setdefault("sources", [])
        q.setdefault("answerable", bool(q["answers"]))
        questions.append(q)
    if not questions:
        raise InputError(f"{path} holds no questions.")
    return questions


_MARKER = re.compile(r"\[\d+\]")


def _fold(text: str) -> str:
    return re.sub(r"\s+", " ", text).lower()


def satisfies(text: str, groups: list[list[str]]) -> bool:
    """Every group has at least one alternative occurring in text."""
    folded = _fold(text)
    return all(any(_fold(alt) in folded for alt in group) for group in groups)


def fabricated(answer: Answer) -> bool:
    """The answer has a number or name that no retrieved passage nor the question has.

    Citation markers like [2] are references, not claims, so they are not counted.
    """
    text = _MARKER.sub("", answer.text)
    context = " ".join(h.chunk.text for h in answer.hits) + " " + answer.question
    known_numbers = numbers(context)
    known_words = known_forms(context)
    return bool(numbers(text) - known_numbers
                or {n for n in names(text) if n not in known_words and stem(n) not in known_words})


def _base(source: str) -> str:
    return source.rsplit("/", 1)[-1]


def outcomes(rows: list[tuple[dict, bool, str, list[str]]]) -> dict[str, float]:
    """answer_correct, cited_gold_source, refusal_on_unanswerable and false_refusal, unrounded,
    over (question, refused, answer text, the sources it cites) rows: for `score` here and for
    the metrics at another threshold of a recorded run (train.sweep_threshold)."""
    answerable = [(q, refused, text, sources) for q, refused, text, sources in rows if q["answerable"]]
    unanswerable = [refused for q, refused, _, _ in rows if not q["answerable"]]
    kept = [(q, text, sources) for q, refused, text, sources in answerable if not refused]

    def share(count: int, n: int) -> float:
        return count / n if n else 0.0

    return {
        "answer_correct": share(sum(satisfies(text, q["answers"]) for q, text, _ in kept), len(answerable)),
        "cited_gold_source": share(sum(any(_base(s) in q["sources"] for s in sources) for q, _, sources in kept),
                                   len(answerable)),
        "refusal_on_unanswerable": share(sum(unanswerable), len(unanswerable)),
        "false_refusal": share(sum(refused for _, refused, _, _ in answerable), len(answerable)),
    }


def score(questions: list[dict], answers: list[Answer]) -> dict[str, float]:
    """The metrics over paired questions and answers."""
    answerable = [(q, a) for q, a in zip(questions, answers) if q["answerable"]]
    not_refused = [a for a in answers if not a.refused]

    def rate(items: Iterable[bool], n: int) -> float:
        return round(sum(items) / n, 4) if n else 0.0

    rates = {name: round(value, 4) for name, value in outcomes(
        [(q, a.refused, a.text, [c.source for c in a.citations]) for q, a in zip(questions, answers)]).items()}
    cited = [(q, c) for q, a in answerable for c in a.citations]
    return {
        "evidence_recall@k": rate((satisfies(" ".join(h.chunk.text for h in a.hits), q["answers"])
                                   for q, a in answerable), len(answerable)),
        "answer_correct": rates["answer_correct"],
        "cited_gold_source": rates["cited_gold_source"],
        "citation_precision": rate((_base(c.source) in q["sources"] for q, c in cited), len(cited)),
        "refusal_on_unanswerable": rates["refusal_on_unanswerable"],
        "false_refusal": rates["false_refusal"],
        "fabricated": rate((fabricated(a) for a in not_refused), len(not_refused)),
        "median_answer_words": float(statistics.median(len(a.text.split()) for a in not_refused))
        if not_refused else 0.0,
        "seconds_per_question": round(
            statistics.mean(a.timings_ms.get("total", 0.0) for a in answers) / 1000, 3),
    }


def run_eval(questions: list[dict], ask: Callable[[str], Answer],
             on_result: Callable[[dict, Answer], None] | None = None) -> tuple[dict, list[dict]]:
    """Ask every question; the metrics and the per-question `ask --json` results."""
    answers, results = [], []
    for q in questions:
        answer = ask(q["question"])
        answers.append(answer)
        results.append({"id": q["id"], **answer.to_json()})
        if on_result:
            on_result(q, answer)
    return score(questions, answers), results
