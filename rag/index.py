"""The index on disk: FAISS vectors, a BM25 index and a chunk store, versioned.

Layout of an index folder::

    CURRENT            name of the live generation, replaced atomically
    gen-000007/        one complete, immutable generation
        manifest.json  format, embedder, dimension, chunking, per-file hashes
        chunks.jsonl   one chunk per line; line number = FAISS row = BM25 row
        vectors.faiss
        lexical/       BM25 index

A write builds a whole new generation beside the live one and then swaps the
CURRENT pointer with os.replace, so a crash or Ctrl-C mid-write leaves the
previous index untouched; stale generations are removed after the swap.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from embeddings.encoder import Encoder
from embeddings.lexical_index import LexicalIndex
from embeddings.vector_index import VectorIndex
from rag.chunk import chunk_document
from rag.errors import IndexCorruptError, IndexMismatchError, IndexMissingError
from rag.schema import Chunk, Document
from rag.text import content_terms

log = logging.getLogger(__name__)

FORMAT = 1
CURRENT = "CURRENT"


@dataclass(frozen=True)
class IndexedFile:
    """What the manifest remembers about one source file."""

    source: str
    title: str
    content_hash: str
    chunks: int


@dataclass
class Index:
    """An index in memory: chunks, their vectors, the lexical index and the manifest."""

    chunks: list[Chunk]
    vectors: VectorIndex
    lexical: LexicalIndex
    embedder: str
    chunking: dict
    files: dict[str, IndexedFile]
    roots: list[str] = field(default_factory=list)  # the files/folders indexed, absolute

    @property
    def dim(self) -> int:
        return self.vectors.dim


@dataclass(frozen=True)
class BuildReport:
    """What an index build did, for the user."""

    files: int
    chunks: int
    embedded: int  # chunks whose vectors were computed (not reused)
    seconds: float


def lexical_terms(chunk: Chunk) -> list[str]:
    """The terms BM25 indexes for a chunk: its title and its text."""
    return content_terms(f"{chunk.title} {chunk.text}")


def embedding_text(chunk: Chunk) -> str:
    """What the encoder sees for a chunk: the title gives a passage its topic."""
    return f"{chunk.title}\n{chunk.text}"


def build_index(docs: list[Document], encoder: Encoder, chunk_words: int, chunk_overlap: int,
                previous: Index | None = None, progress: bool = False,
                roots: list[str] | None = None) -> tuple[Index, BuildReport]:
    """Chunk and embed docs, reusing vectors of unchanged chunks from `previous`."""
    started = time.perf_counter()
    chunking = {"max_words": chunk_words, "overlap": chunk_overlap}
    chunks: list[Chunk] = []
    files: dict[str, IndexedFile] = {}
    for doc in docs:
        doc_chunks = chunk_document(doc, max_words=chunk_words, overlap=chunk_overlap)
        chunks.extend(doc_chunks)
        files[doc.source] = IndexedFile(doc.source, doc.title, doc.content_hash, len(doc_chunks))

    reusable: dict[str, int] = {}
    if previous is not None and previous.embedder == encoder.name and previous.chunking == chunking:
        reusable = {c.chunk_id: row for row, c in enumerate(previous.chunks)}
    old_vectors = previous.vectors.vectors() if reusable else None
    todo = [i for i, c in enumerate(chunks) if c.chunk_id not in reusable]
    vectors = np.zeros((len(chunks), encoder.dim), dtype=np.float32)
    if todo:
        vectors[todo] = encoder.encode([embedding_text(chunks[i]) for i in todo], progress=progress)
    for i, c in enumerate(chunks):
        if c.chunk_id in reusable:
            vectors[i] = old_vectors[reusable[c.chunk_id]]

    vector_index = VectorIndex.build(encoder.dim, vectors)  # exact, or IVF for large corpora
    lexical = LexicalIndex.build([lexical_terms(c) for c in chunks])
    index = Index(chunks, vector_index, lexical, encoder.name, chunking, files, list(roots or []))
    report = BuildReport(len(files), len(chunks), len(todo), time.perf_counter() - started)
    return index, report


def _live_generation(index_dir: Path) -> Path | None:
    pointer = index_dir / CURRENT
    if not pointer.is_file():
        return None
    name = pointer.read_text(encoding="utf-8").strip()
    gen = index_dir / name
    if not name.startswith("gen-") or not gen.is_dir():
        raise IndexCorruptError(
            f"The index in {index_dir} points to a missing generation '{name}': run `rag index` to rebuild it.")
    return gen


def index_exists(index_dir: Path) -> bool:
    """True when index_dir holds a live index generation."""
    return (Path(index_dir) / CURRENT).is_file()


def save_index(index: Index, index_dir: Path) -> Path:
    """Write index as a new generation and make it live atomically."""
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    numbers = [int(p.name[4:]) for p in index_dir.glob("gen-*") if p.name[4:].isdigit()]
    name = f"gen-{max(numbers, default=0) + 1:06d}"
    tmp = index_dir / f".tmp-{name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        manifest = {
            "format": FORMAT, "embedder": index.embedder, "dim": index.dim,
            "chunking": index.chunking, "chunks": len(index.chunks), "roots": index.roots,
            "files": {s: asdict(f) for s, f in sorted(index.files.items())},
        }
        with open(tmp / "chunks.jsonl", "w", encoding="utf-8") as fh:
            for c in index.chunks:
                fh.write(json.dumps(asdict(c), ensure_ascii=False) + "\n")
        index.vectors.save(tmp / "vectors.faiss")
        index.lexical.save(tmp / "lexical")
        # The manifest is written last: a generation without one is incomplete.
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        _fsync_tree(tmp)
        os.rename(tmp, index_dir / name)
        pointer_tmp = index_dir / f".{CURRENT}.tmp"
        pointer_tmp.write_text(name + "\n", encoding="utf-8")
        os.replace(pointer_tmp, index_dir / CURRENT)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for stale in index_dir.iterdir():
        if stale.name != name and (stale.name.startswith("gen-") or stale.name.startswith(".tmp-")):
            shutil.rmtree(stale, ignore_errors=True)
    return index_dir / name


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())


def read_manifest(index_dir: Path) -> dict:
    """The live generation's manifest; raises IndexMissingError when there is none."""
    gen = _live_generation(Path(index_dir))
    if gen is None:
        raise IndexMissingError(f"No index in {index_dir}: run `rag index` first.")
    try:
        return json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(
            f"The index manifest in {gen} is unreadable ({exc}): run `rag index` to rebuild it.") from exc


def _chunk_from_json(row: dict) -> Chunk:
    row["sentences"] = tuple(tuple(s) for s in row.get("sentences", ()))
    return Chunk(**row)


def load_index(index_dir: Path, embedder: str, dim: int) -> Index:
    """Load the live index, refusing one built with another format or embedding model."""
    index_dir = Path(index_dir)
    manifest = read_manifest(index_dir)
    if manifest.get("format") != FORMAT:
        raise IndexMismatchError(
            f"The index in {index_dir} has format {manifest.get('format')}, this version reads "
            f"format {FORMAT}: run `rag index` to rebuild it.")
    if manifest.get("embedder") != embedder or manifest.get("dim") != dim:
        raise IndexMismatchError(
            f"The index in {index_dir} was built with embedding model {manifest.get('embedder')!r} "
            f"({manifest.get('dim')} dims), not {embedder!r} ({dim} dims): run `rag index` to "
            "re-index with the current model, or use --index-dir for another index.")
    gen = _live_generation(index_dir)
    try:
        with open(gen / "chunks.jsonl", encoding="utf-8") as fh:
            chunks = [_chunk_from_json(json.loads(line)) for line in fh]
        vectors = VectorIndex.load(gen / "vectors.faiss", dim)
        lexical = LexicalIndex.load(gen / "lexical")
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise IndexCorruptError(
            f"The index in {index_dir} is damaged ({exc}): run `rag index` to rebuild it.") from exc
    if not (len(chunks) == len(vectors) == manifest.get("chunks")):
        raise IndexCorruptError(
            f"The index in {index_dir} is inconsistent ({len(chunks)} chunks, {len(vectors)} vectors): "
            "run `rag index` to rebuild it.")
    files = {s: IndexedFile(**f) for s, f in manifest.get("files", {}).items()}
    return Index(chunks, vectors, lexical, manifest["embedder"], manifest["chunking"], files,
                 list(manifest.get("roots", [])))
