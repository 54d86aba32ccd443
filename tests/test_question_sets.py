"""The project's question sets are well formed: every answer can be found in its source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.evaluate import satisfies
from rag.settings import PROJECT_ROOT

DATA = PROJECT_ROOT / "tests" / "data"
SEEDS = PROJECT_ROOT / "seeds"
SETS = [(DATA / "extra_questions.jsonl", SEEDS), (DATA / "corpus_questions.jsonl", DATA / "corpus")]
for folder in sorted(DATA.glob("holdout*")):
    SETS.append((folder / "questions.jsonl", folder / "docs"))
    if (folder / "seeds_questions.jsonl").exists():
        SETS.append((folder / "seeds_questions.jsonl", SEEDS))


@pytest.mark.parametrize("questions,docs", SETS, ids=[str(q.relative_to(DATA)) for q, _ in SETS])
def test_every_answer_is_in_its_source(questions: Path, docs: Path):
    rows = [json.loads(line) for line in questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        assert r["question"].strip()
        if not r["answerable"]:
            assert r["answers"] == [] and r["sources"] == [], r["id"]
            continue
        text = " ".join((docs / s).read_text(encoding="utf-8") for s in r["sources"])
        assert r["answers"] and satisfies(text, r["answers"]), r["id"]
