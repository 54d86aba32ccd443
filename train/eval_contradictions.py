"""Planted contradictions: does the answer say the sources disagree, and cite both?

    python -m train.eval_contradictions tests/data/contradictions/tune.jsonl [--model NAME]
    python -m train.eval_contradictions --false-alarms tests/data/false_alarms/fa_tune

The library holds the seeds, tests/data/corpus, tests/data/holdout14/docs and the folder
of every original a case comes from. For each case its one planted document is added, the question
asked, and the document removed again (an incremental sync, so only its passages are
embedded). A case passes when the answer is not refused, says the sources disagree
(rag.conflict.DISAGREE) and cites both the original and the planted document. Prints one
line per case and the totals; --json writes them as one object.

--false-alarms FOLDER counts the opposite error: FOLDER/docs is indexed as the library (its
documents overlap without contradicting), FOLDER/questions.jsonl is asked, and an answer that
says the sources disagree is a false alarm. A questions .jsonl file elsewhere (dev, extra) is
asked of the seeds. It also prints what the check cost the answered questions (median and
most, in ms: the answer's timings_ms.disagreement).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
from pathlib import Path

from rag.cli import with_model_file
from rag.library import remove_documents
from rag.conflict import DISAGREE
from rag.evaluate import load_questions
from rag.pipeline import build_pipeline, index_paths
from rag.settings import PROJECT_ROOT, Settings

LIBRARY = [PROJECT_ROOT / "seeds", PROJECT_ROOT / "tests/data/corpus",
           PROJECT_ROOT / "tests/data/holdout14/docs"]


def run_case(pipeline, settings: Settings, case: dict, folder: Path) -> dict:
    """Add the case's planted document, ask its question, remove the document."""
    planted = folder / case["planted_source"]
    planted.write_text(case["planted_text"], encoding="utf-8")
    index_paths(settings, pipeline.encoder, [planted])
    try:
        answer = pipeline.ask(case["question"])
    finally:
        remove_documents(settings, [str(planted)])
        planted.unlink()
    cited = {c.source for c in answer.citations}
    retrieved = {h.chunk.source for h in answer.hits}
    return {"id": case["id"], "refused": answer.refused, "says_disagree": DISAGREE in answer.text,
            "cites_original": case["original_source"] in cited,
            "cites_planted": case["planted_source"] in cited,
            "retrieved_both": {case["original_source"], case["planted_source"]} <= retrieved,
            "seconds": answer.timings_ms["total"] / 1000, "answer": answer.text}


def pipeline_in(home: str, library: list[Path], model: str):
    """The app's pipeline over library, indexed into the temporary folder home."""
    settings = with_model_file(Settings(data_dir=Path(home), index_dir=Path(home) / "index",
                                        corpus=library, model=model))
    return settings, build_pipeline(settings)


def false_alarms(target: Path, model: str) -> tuple[dict, list[dict]]:
    """Ask questions of documents that do not contradict each other: every answer that says
    the sources disagree is a false alarm."""
    questions = load_questions(target / "questions.jsonl" if target.is_dir() else target)
    library = [target / "docs"] if target.is_dir() else [PROJECT_ROOT / "seeds"]
    with tempfile.TemporaryDirectory() as home:
        _, pipeline = pipeline_in(home, library, model)
        results = []
        for q in questions:
            answer = pipeline.ask(q["question"])
            r = {"id": q["id"], "refused": answer.refused, "false_alarm": DISAGREE in answer.text,
                 "check_ms": answer.timings_ms.get("disagreement"), "answer": answer.text}
            results.append(r)
            print(f"{r['id']}: {'FALSE ALARM' if r['false_alarm'] else 'ok'} refused={r['refused']} "
                  f"| {r['answer'][:160]}", file=sys.stderr, flush=True)
    checks = [r["check_ms"] for r in results if r["check_ms"] is not None]  # the answered ones
    totals = {"false_alarms": sum(r["false_alarm"] for r in results), "questions": len(results),
              "answered": sum(not r["refused"] for r in results),
              "check_ms_median": round(statistics.median(checks)) if checks else None,
              "check_ms_max": round(max(checks)) if checks else None, "llm": pipeline.llm.name}
    return totals, results


def contradictions(path: Path, model: str) -> tuple[dict, list[dict]]:
    """Each planted case in turn: is the disagreement named, and are both documents cited?"""
    cases = load_questions(path)
    with tempfile.TemporaryDirectory() as home:
        folders = {PROJECT_ROOT / "tests/data" / c["original_folder"] for c in cases
                   if c["original_folder"] != "seeds"}
        settings, pipeline = pipeline_in(home, LIBRARY + sorted(folders - set(LIBRARY)), model)
        folder = Path(home) / "planted"
        folder.mkdir()
        results = []
        for case in cases:
            r = run_case(pipeline, settings, case, folder)
            r["passed"] = (not r["refused"] and r["says_disagree"] and r["cites_original"]
                           and r["cites_planted"])
            results.append(r)
            print(f"{r['id']}: {'PASS' if r['passed'] else 'fail'} refused={r['refused']} "
                  f"disagree={r['says_disagree']} original={r['cites_original']} "
                  f"planted={r['cites_planted']} retrieved_both={r['retrieved_both']} "
                  f"{r['seconds']:.1f}s | {r['answer'][:160]}", file=sys.stderr, flush=True)
    totals = {k: round(sum(bool(r[k]) for r in results) / len(results), 3)
              for k in ("passed", "refused", "says_disagree", "cites_original", "cites_planted",
                        "retrieved_both")}
    totals["cases"] = len(results)
    totals["llm"] = pipeline.llm.name
    return totals, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", type=Path, nargs="?")
    parser.add_argument("--false-alarms", type=Path, metavar="FOLDER_OR_JSONL",
                        help="count false alarms instead: a folder with docs/ and questions.jsonl, "
                             "or a questions file asked of the seeds")
    parser.add_argument("--model", default="")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if (args.cases is None) == (args.false_alarms is None):
        parser.error("give a cases file, or --false-alarms")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("rag.conflict").setLevel(logging.INFO)  # each rival document's answer
    totals, results = (false_alarms(args.false_alarms, args.model) if args.false_alarms is not None
                       else contradictions(args.cases, args.model))
    if args.json:
        print(json.dumps({"totals": totals, "results": results}, ensure_ascii=False))
    else:
        for name, value in totals.items():
            print(f"{name:16} {value}")


if __name__ == "__main__":
    main()
