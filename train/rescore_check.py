"""Ask the check of step 6 again about every answer of a recorded run, with the check as the code
is now: a change to the check (its instruction, its examples, what it is shown) screened on
answers already written, in about a second an answer instead of a run's minutes.

A run made with RAG_ANSWER_THRESHOLD=0 RAG_CHECK_THRESHOLD=0 records every answer and the
check's P(YES) about it (`p_cited`). The answers do not depend on the check, so asking a changed
check about them gives what a run with it would have given; asked with the check unchanged, each
recorded P(YES) comes back as it was, which the command counts (on stderr). train.sweep_threshold
then scores the new run at any threshold (docs/trust.md items 28 to 31 were screened this way):

    rag index -c holdout69 tests/data/holdout69/docs
    RAG_ANSWER_THRESHOLD=0 RAG_CHECK_THRESHOLD=0 rag eval -c holdout69 \\
        tests/data/holdout69/questions.jsonl --json > h69.json
    python -m train.rescore_check h69.json -c holdout69 > h69.new.json
    python -m train.sweep_threshold tests/data/holdout69/questions.jsonl=h69.new.json \\
        --score checked --verdict-at 0.5 --at 0.62
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rag.conflict import DISAGREE, quoted
from rag.generate import ChatModel
from rag.judge import check_answer
from rag.schema import Chunk, Citation, Hit

def as_citation(row: dict, n: int | None = None) -> Citation:
    """A recorded citation (`rag ask --json`) as the pipeline held it, numbered n if given."""
    return Citation(n=row["n"] if n is None else n, source=row["source"], chunk_id=row["chunk_id"],
                    start=row["start"], end=row["end"], quote=row["quote"], page=row.get("page"),
                    also=tuple(row.get("also_in", ())))


def checked_citations(result: dict) -> list[dict]:
    """The citations the check was asked about: step 7's note ("The sources may disagree: …, but
    “…” [n].", rag.conflict.note_disagreement) cites the other document after the check, so the
    citation the note ends on is left out."""
    if DISAGREE not in result["answer"]:
        return result["citations"]
    return [c for c in result["citations"] if not result["answer"].endswith(f", but {quoted(as_citation(c))}.")]


def rescore(results: list[dict], llm: ChatModel, chunks: dict[str, Chunk]) -> tuple[list[dict], int]:
    """The results with `p_cited` asked again (where the run asked it), and how many of those
    came back within 0.001 of the recorded value."""
    new, same = [], 0
    for result in results:
        if result.get("p_cited") is None:
            new.append(result)
            continue
        cited = checked_citations(result)
        hits = [Hit(chunk=chunks[c["chunk_id"]], score=0.0) for c in cited]
        citations = [as_citation(c, n) for n, c in enumerate(cited, start=1)]
        p_cited = check_answer(llm, result["question"], hits, citations)
        same += abs(p_cited - result["p_cited"]) < 1e-3
        new.append({**result, "p_cited": round(p_cited, 4)})
    return new, same


def main(argv: list[str] | None = None) -> None:
    from rag.cli import settings_from, with_model_file
    from rag.generate import load_chat_model
    from rag.index import load_index

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="A `rag eval --json` run made with both thresholds at 0.")
    parser.add_argument("-c", "--collection", help="The collection the run asked (default: the default one).")
    parser.add_argument("--model", help="The LLM the run used, if not the standard one.")
    args = parser.parse_args(argv)
    run = json.loads(args.run.read_text(encoding="utf-8"))
    settings = with_model_file(settings_from(collection=args.collection, model=args.model))
    index = load_index(settings.index_location, None, None)
    results, same = rescore(run["results"], load_chat_model(settings), {c.chunk_id: c for c in index.chunks})
    asked = sum(r.get("p_cited") is not None for r in results)
    print(f"{asked} answers asked again; {same} came back within 0.001 of the recorded P(YES)", file=sys.stderr)
    print(json.dumps({**run, "results": results}, ensure_ascii=False))


if __name__ == "__main__":
    main()
