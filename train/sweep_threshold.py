"""The metrics of `rag eval` at each answer threshold, from one run with the threshold at 0.

A run with RAG_ANSWER_THRESHOLD=0 answers every question the model is asked and records its
verdict, the model's P(YES), in each result. At a threshold t the app would refuse exactly the
answers whose score is below t (the stream stops at the verdict, nothing else changes), so each
threshold's metrics follow from that one run:

    RAG_ANSWER_THRESHOLD=0 rag eval ../shared/eval/dev.jsonl --json > dev.json
    python -m train.sweep_threshold ../shared/eval/dev.jsonl=dev.json [more QUESTIONS=RUN ...]

--score chooses what is thresholded: the verdict (P(YES); p_yes is the same, and differs only
in runs made with the trained judge on, before de8adc7); or p_cited, the judge asked again
about the answer, shown only the sentences it cites, or checked, what the app thresholds
(rag.judge.checked_score: that averaged with P(YES) in log-odds, or alone for a quote; run
with RAG_CHECK_THRESHOLD=0 too; the check is asked only about answers, so the verdict's
threshold, --verdict-at, applies first). Besides the fixed grid it prints the threshold
with the most refusals whose false refusals stay within 0.05. Pooled over every pair given;
choose the threshold on read sets, report it on unread ones (--at).

With --from T0, it prints instead the threshold (in hundredths) with the most questions handled
rightly, right answers plus refused unanswerable questions, whose answer_correct stays within
--max-answer-correct-drop of T0's, pooled over the sets given and, apart, over each --guard set
(how RAG_CHECK_THRESHOLD 0.62 was chosen: written documents given, news as --guard; README, The
judge).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rag.evaluate import load_questions, outcomes
from rag.judge import checked_score
from train.train_judge import auc as auc_of

THRESHOLDS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
MAX_FALSE_REFUSAL = 0.05


SCORES = {
    "verdict": lambda r: r["verdict"],
    "p_yes": lambda r: r["p_yes"],
    "p_cited": lambda r: r.get("p_cited"),  # None for an answer refused before the check
    "checked": lambda r: (None if r.get("p_cited") is None
                          else checked_score(r["p_yes"], r["p_cited"], r["answer"])),
}


def metrics(pairs: list[tuple[dict, dict]], threshold: float, score=SCORES["verdict"],
            verdict_at: float = 0.0) -> dict[str, float]:
    """answer_correct, cited_gold_source, refusal_on_unanswerable and false_refusal at threshold
    (with the verdict's own threshold at verdict_at, applied first)."""
    def refused(r: dict) -> bool:
        if r["refused"] or r["verdict"] is None:
            return r["refused"]
        value = score(r)
        return r["verdict"] < verdict_at or (value is not None and value < threshold)

    return outcomes([(q, refused(r), r["answer"], [c["source"] for c in r["citations"]]) for q, r in pairs])


def most_refusals(pairs: list[tuple[dict, dict]], score, verdict_at: float = 0.0,
                  max_false_refusal: float = MAX_FALSE_REFUSAL) -> float:
    """The threshold with the most refusals of unanswerable questions whose false refusals stay
    within max_false_refusal: midway between two scores, so no question sits on it."""
    scores = sorted({score(r) for _, r in pairs if r["verdict"] is not None and score(r) is not None})
    cuts = [0.0] + [(a + b) / 2 for a, b in zip(scores, scores[1:])]
    at = {t: metrics(pairs, t, score, verdict_at) for t in cuts}
    within = [t for t in cuts if at[t]["false_refusal"] <= max_false_refusal + 1e-9]
    return max(within, key=lambda t: (at[t]["refusal_on_unanswerable"], -t))


def handled(pairs: list[tuple[dict, dict]], threshold: float, score, verdict_at: float = 0.0) -> int:
    """Right answers plus refused unanswerable questions at threshold."""
    m = metrics(pairs, threshold, score, verdict_at)
    answerable = sum(q["answerable"] for q, _ in pairs)
    return round(m["answer_correct"] * answerable + m["refusal_on_unanswerable"] * (len(pairs) - answerable))


def most_handled(groups: list[list[tuple[dict, dict]]], score, start: float, verdict_at: float = 0.0,
                 max_drop: float = 0.03) -> float:
    """The threshold in hundredths with the most questions handled rightly over every group,
    whose answer_correct stays within max_drop of start's in each group apart."""
    every = [pair for group in groups for pair in group]
    floors = [metrics(g, start, score, verdict_at)["answer_correct"] - max_drop - 1e-9 for g in groups]
    within = [t / 100 for t in range(101)
              if all(metrics(g, t / 100, score, verdict_at)["answer_correct"] >= floor
                     for g, floor in zip(groups, floors))]
    return max(within, key=lambda t: (handled(every, t, score, verdict_at), -t))


def auc(pairs: list[tuple[dict, dict]], score) -> float:
    """The chance that an answerable question the model was asked scores above an unanswerable one."""
    asked = [(q["answerable"], score(r)) for q, r in pairs if r["verdict"] is not None and score(r) is not None]
    return auc_of([s for yes, s in asked if yes], [s for yes, s in asked if not yes])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", metavar="QUESTIONS=RUN")
    parser.add_argument("--score", choices=sorted(SCORES), default="verdict")
    parser.add_argument("--at", type=float, action="append", default=[], help="Also report at this threshold.")
    parser.add_argument("--verdict-at", type=float, default=0.0,
                        help="The verdict's threshold, applied before the score's (for p_cited, checked).")
    parser.add_argument("--max-false-refusal", type=float, default=MAX_FALSE_REFUSAL,
                        help="The false refusals the chosen threshold may cost (default %(default)s).")
    parser.add_argument("--from", dest="start", type=float,
                        help="Choose the most questions handled rightly, answer_correct within "
                        "--max-answer-correct-drop of this threshold's.")
    parser.add_argument("--max-answer-correct-drop", type=float, default=0.03)
    parser.add_argument("--guard", action="append", default=[], metavar="QUESTIONS=RUN",
                        help="A set whose answer_correct must stay within the drop on its own (with --from).")
    args = parser.parse_args(argv)
    pairs, guard = read_pairs(args.runs), read_pairs(args.guard)
    score = SCORES[args.score]
    answerable = sum(q["answerable"] for q, _ in pairs)
    print(f"{len(pairs)} questions ({answerable} answerable, {len(pairs) - answerable} not); "
          f"score: {args.score}, AUC {auc(pairs, score):.3f}")
    if args.start is None:
        chosen = most_refusals(pairs, score, args.verdict_at, args.max_false_refusal)
        mark = f"most refusals with false refusal <= {args.max_false_refusal}"
    else:
        chosen = most_handled([g for g in (pairs, guard) if g], score, args.start, args.verdict_at,
                              args.max_answer_correct_drop)
        mark = (f"most handled ({handled(pairs + guard, chosen, score, args.verdict_at)}, "
                f"{handled(pairs + guard, args.start, score, args.verdict_at)} at {args.start}) with "
                f"answer_correct within {args.max_answer_correct_drop}")
    print("threshold  answer_correct  cited_gold_source  refusal_on_unanswerable  false_refusal")
    grid = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5) if args.score == "p_cited" else THRESHOLDS
    for t in sorted({*grid, *args.at, chosen}):
        m = metrics(pairs, t, score, args.verdict_at)
        print(f"{t:<9.4f}  {m['answer_correct']:<14.2f}  {m['cited_gold_source']:<17.2f}  "
              f"{m['refusal_on_unanswerable']:<23.2f}  {m['false_refusal']:.2f}{'  <- ' + mark if t == chosen else ''}")


def read_pairs(runs: list[str]) -> list[tuple[dict, dict]]:
    """(question, result) for every result of each QUESTIONS=RUN given."""
    pairs = []
    for arg in runs:
        questions_path, run_path = arg.split("=", 1)
        questions = {q["id"]: q for q in load_questions(Path(questions_path))}
        run = json.loads(Path(run_path).read_text(encoding="utf-8"))
        pairs += [(questions[r["id"]], r) for r in run["results"]]
    return pairs


if __name__ == "__main__":
    main()
