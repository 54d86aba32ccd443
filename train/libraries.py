"""The judge data as the app meets it: each split's texts of one source indexed as one library,
and each question asked of that library, so the model reads what the app would show it.

A split's texts (its written documents: manuals, letters, minutes...; or its CLAPnq
Wikipedia passages) are written as files into a scratch data folder and indexed by the app's
own sync (rag.pipeline.index_paths) as a collection named after the split and source. A
question is retrieved from the whole library (k passages, often from several documents), and
its prompt is built by the app's own Pipeline.shown. Its label is whether the prompt shows
it the answer: whether one of the sentences the answer rests on is among the excerpts. An
answerable question whose answer was not retrieved is then a question the shown text does
not answer, which is what the judge must tell.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from rag.pipeline import Pipeline, Shown, build_pipeline, index_paths
from rag.settings import Settings
from rag.text import normalize
from train.judge_data import Question

_SPACE = re.compile(r"\s+")


def flat(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def file_name(question: Question) -> str:
    """The file a question's text is written to: the same text, one file. (Named by the text
    with its spaces collapsed, not rag.text.normalize's NFKC form, so that the libraries
    already indexed under train/features keep their files.)"""
    digest = hashlib.sha1(flat(" ".join((question.title,) + question.sentences)).encode("utf-8")).hexdigest()
    slug = re.sub(r"[^a-z0-9]+", "-", question.title.lower()).strip("-")[:40] or "text"
    return f"{slug}-{digest[:10]}.txt"


def shows_answer(question: Question, shown: Shown) -> bool:
    """Whether the excerpts shown hold one of the sentences the answer rests on."""
    excerpts = normalize(" ".join(shown.excerpts.values()))  # as the app's chunks are (rag.chunk)
    return any(label and normalize(s) in excerpts for s, label in zip(question.sentences, question.labels))


class Libraries:
    """One library per split and source under `folder`, built the first time it is asked of."""

    def __init__(self, folder: Path, questions: list[Question], settings: Settings, encoder, llm) -> None:
        self.folder, self.questions = folder, questions
        self.settings, self.encoder, self.llm = settings, encoder, llm
        self._pipelines: dict[str, Pipeline] = {}

    def pipeline(self, split: str, source: str) -> Pipeline:
        """The app's pipeline over the split's texts of the source, indexed once."""
        name = f"{split}-{source}"
        if name in self._pipelines:
            return self._pipelines[name]
        texts = self.folder / "texts" / name
        texts.mkdir(parents=True, exist_ok=True)
        for q in self.questions:
            file = texts / file_name(q)
            if (q.split, q.source) == (split, source) and not file.exists():
                file.write_text(q.title + "\n\n" + " ".join(q.sentences) + "\n", encoding="utf-8")
        settings = Settings(data_dir=self.folder / "data", collection=name, models_dir=self.settings.models_dir)
        index_paths(settings, self.encoder, [texts], replace=True)
        self._pipelines[name] = build_pipeline(settings, self.encoder, self.llm)
        return self._pipelines[name]

    def shown(self, question: Question) -> Shown:
        """What the app shows the model for the question, asked of its split's library."""
        pipeline = self.pipeline(question.split, question.source)
        hits = pipeline.retriever.search(question.question, self.settings.k)
        return pipeline.shown(question.question, hits, pipeline.retriever, self.encoder, self.settings.max_tokens)
