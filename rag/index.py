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

Writers take turns: a sync (or an upload, or a removal) holds the folder's
write lock (`.write.lock`, an flock the OS drops when the process dies) from
reading the live index to swapping in the new one, so it always builds on the
latest generation and no confirmed change is overwritten. A second writer
waits, and says for whom. Readers never lock: they load whichever generation
CURRENT names, and a server notices a newer one before its next answer.
`library.json` keeps the library's roots and excluded files beside the
generations too, so a damaged generation cannot take the list of indexed
folders with it.

Vectors are reused by the exact text the encoder would see, so an unchanged
passage is never embedded twice, even when it moved or two files hold it. The
manifest also remembers each file's path, size, mtime and content hash: a sync
(rag.pipeline.index_paths) keeps the chunks of a file whose size and mtime, or
else whose hash, did not change, without reading or chunking it again. The
trade-off: a change to parsing or chunking that turns the same bytes into other
chunks must bump CHUNKS_VERSION, or unchanged files keep their old chunks.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from embeddings.encoder import Encoder
from embeddings.lexical_index import LexicalIndex
from embeddings.search import DenseSearch, LexicalSearch
from embeddings.vector_index import VectorIndex
from rag.errors import IndexCorruptError, IndexMismatchError, IndexMissingError, InputError
from rag.schema import Chunk
from rag.settings import MilvusLocation
from rag.text import content_terms

log = logging.getLogger(__name__)

Location = Path | MilvusLocation  # a collection's folder, or its place in Milvus (rag.index_milvus)

FORMAT = 1
CURRENT = "CURRENT"
LIBRARY = "library.json"  # the roots and excluded files, beside the generations (see save_index)
WRITE_LOCK = ".write.lock"
WRITER = ".writer"  # the pid holding the write lock, for the waiting message
CHUNKS_VERSION = 5  # bump when ingest or chunking turns the same bytes into other chunks


@dataclass(frozen=True)
class IndexedFile:
    """What the manifest remembers about one source file."""

    source: str
    title: str
    content_hash: str
    chunks: int
    path: str = ""  # the file on disk, absolute
    size: int = 0  # bytes
    mtime_ns: int = 0
    pages: int = 0  # PDFs only


@dataclass
class Index:
    """An index in memory: chunks, their vectors, the lexical index and the manifest."""

    chunks: list[Chunk]
    # FAISS and bm25s, or MilvusPassages for both (embeddings.search); in an index assembled
    # to be saved, NewVectors and None (the backend builds its own).
    vectors: DenseSearch
    lexical: LexicalSearch | None
    embedder: str
    chunking: dict
    files: dict[str, IndexedFile]
    roots: list[str] = field(default_factory=list)  # the files/folders indexed, absolute
    excluded: list[str] = field(default_factory=list)  # files removed by the user, absolute
    generation: str = ""  # the generation it was loaded from ("" if built in memory)

    @property
    def dim(self) -> int:
        return self.vectors.dim


@dataclass(frozen=True)
class BuildReport:
    """What an index build did, for the user."""

    files: int
    chunks: int
    embedded: int  # passages whose vectors were computed (not reused)
    seconds: float
    added: int = 0  # files new to the index
    changed: int = 0  # files whose content changed
    removed: int = 0  # files that left the index (deleted on disk, or removed)
    written: bool = True  # False when nothing changed, so no generation was written


def lexical_terms(chunk: Chunk) -> list[str]:
    """The terms BM25 indexes for a chunk: its title and its text."""
    return content_terms(f"{chunk.title} {chunk.text}")


def embedding_text(chunk: Chunk) -> str:
    """What the encoder sees for a chunk: the title gives a passage its topic."""
    return f"{chunk.title}\n{chunk.text}"


def chunking_config(chunk_words: int, chunk_overlap: int) -> dict:
    """The chunking settings the manifest records; chunks are reused only under equal ones."""
    return {"max_words": chunk_words, "overlap": chunk_overlap, "version": CHUNKS_VERSION}


class NewVectors:
    """The vectors of an assembled index: the new texts' embeddings, and the previous index's
    vectors of texts it already had, read only when asked for. The folder backend asks for
    all of them; Milvus only for the rows it writes (new and changed files), so a sync of a
    large library does not read the whole library's vectors back."""

    def __init__(self, dim: int, texts: list[str], fresh: dict[str, np.ndarray],
                 rows: dict[str, int], previous) -> None:
        self.dim, self._texts, self._fresh, self._rows, self._previous = dim, texts, fresh, rows, previous

    def __len__(self) -> int:
        return len(self._texts)

    def vectors_at(self, positions: list[int]) -> np.ndarray:
        """The vectors of the chunks at these positions."""
        texts = [self._texts[p] for p in positions]
        reused = list(dict.fromkeys(self._rows[t] for t in texts if t not in self._fresh))
        old = dict(zip(reused, self._previous.vectors_at(reused))) if reused else {}
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            vectors[i] = self._fresh[text] if text in self._fresh else old[self._rows[text]]
        return vectors


def assemble_index(chunks: list[Chunk], files: dict[str, IndexedFile], encoder: Encoder | None,
                   chunking: dict, previous: Index | None = None, progress: bool = False,
                   roots: list[str] | None = None,
                   excluded: list[str] | None = None) -> tuple[Index, int]:
    """An Index of chunks, to save, and how many texts were embedded: only texts that
    `previous` has no vector for, each distinct text once. encoder may be None when every
    text has one (removing documents); a lazy encoder is loaded only when something is
    new. Its vectors are NewVectors, and its lexical index is built by the backend."""
    texts = [embedding_text(c) for c in chunks]
    rows: dict[str, int] = {}
    if previous is not None and (encoder is None or previous.embedder == encoder.name):
        rows = {embedding_text(c): row for row, c in enumerate(previous.chunks)}
    new = list(dict.fromkeys(t for t in texts if t not in rows))  # identical passages once
    if new and rows and (encoder.name, encoder.dim) != (previous.embedder, previous.dim):
        rows, new = {}, list(dict.fromkeys(texts))  # loading the model showed another model
    if encoder is None or (rows and not new):
        embedder, dim = previous.embedder, previous.dim
    else:
        embedder, dim = encoder.name, encoder.dim
    fresh = dict(zip(new, encoder.encode(new, progress=progress))) if new else {}
    vectors = NewVectors(dim, texts, fresh, rows, previous.vectors if rows else None)
    index = Index(chunks, vectors, None, embedder, chunking, files,
                  list(roots or []), sorted(excluded or []))
    return index, len(new)


def check_index_folder(index_dir: Location) -> Path:
    """index_dir, or InputError when it, or a folder above it, is a file (before any work
    that would be lost when the index cannot be written)."""
    if isinstance(index_dir, MilvusLocation):
        return check_index_folder(index_dir.lock_dir)
    index_dir = Path(index_dir).expanduser()
    for path in (index_dir, *index_dir.parents):
        if path.exists() or path.is_symlink():
            if not path.is_dir():
                raise InputError(f"{path} is a file, not a folder, so the index cannot live in "
                                 f"{index_dir}: point --index-dir, RAG_INDEX_DIR or RAG_DATA_DIR "
                                 "at a folder.")
            break
    return index_dir


def index_folder(index_dir: Location) -> Path:
    """index_dir, created if need be; InputError when it cannot be (see check_index_folder)."""
    index_dir = check_index_folder(index_dir)
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"Cannot create the index folder {index_dir} ({exc.strerror}): point "
                         "--index-dir, RAG_INDEX_DIR or RAG_DATA_DIR at a folder you can write.") from exc
    return index_dir


@contextmanager
def writing(index_dir: Location, waiting: Callable[[str], None] | None = None) -> Iterator[Path]:
    """Hold the index folder's write lock (see the module docstring); while another process
    (or thread) holds it, say so through `waiting` once, then wait for it."""
    if isinstance(index_dir, MilvusLocation):
        index_dir = index_dir.lock_dir  # this machine's writers take turns; see rag.index_milvus
    index_dir = index_folder(index_dir)
    try:
        lock = open(index_dir / WRITE_LOCK, "a+")
    except OSError as exc:
        raise InputError(f"Cannot write to the index folder {index_dir} ({exc.strerror}): point "
                         "--index-dir, RAG_INDEX_DIR or RAG_DATA_DIR at a folder you can write.") from exc
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = (index_dir / WRITER).read_text(encoding="utf-8").strip()
            except OSError:
                holder = "unknown"
            (waiting or log.warning)(f"Waiting for another sync of {index_dir} to finish (pid {holder}: a sync, an upload or a removal) …")
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            (index_dir / WRITER).write_text(str(os.getpid()), encoding="utf-8")
            yield index_dir
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def live_generation_name(index_dir: Location) -> str:
    """The name CURRENT gives the live generation ("" when there is none), cheaply, to notice
    a generation written by another process."""
    if isinstance(index_dir, MilvusLocation):
        return _milvus().live_generation_name(index_dir)
    try:
        return (Path(index_dir) / CURRENT).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def read_library(index_dir: Location) -> tuple[list[str], list[str]] | None:
    """The roots and excluded files library.json keeps, or None when it is missing or damaged."""
    if isinstance(index_dir, MilvusLocation):
        return _milvus().read_library(index_dir)
    try:
        saved = json.loads((Path(index_dir) / LIBRARY).read_text(encoding="utf-8"))
        return [str(r) for r in saved["roots"]], [str(e) for e in saved["excluded"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


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


def index_exists(index_dir: Location) -> bool:
    """True when index_dir holds a live index generation."""
    if isinstance(index_dir, MilvusLocation):
        return _milvus().index_exists(index_dir)
    return (Path(index_dir) / CURRENT).is_file()


def save_index(index: Index, index_dir: Location) -> Path | str:
    """Write index as a new generation and make it live atomically."""
    if isinstance(index_dir, MilvusLocation):
        return _milvus().save_index(index, index_dir)
    index_dir = index_folder(index_dir)
    numbers = [int(p.name[4:]) for p in index_dir.glob("gen-*") if p.name[4:].isdigit()]
    name = f"gen-{max(numbers, default=0) + 1:06d}"
    tmp = index_dir / f".tmp-{name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        manifest = manifest_of(index)
        with open(tmp / "chunks.jsonl", "w", encoding="utf-8") as fh:
            for c in index.chunks:
                fh.write(json.dumps(asdict(c), ensure_ascii=False) + "\n")
        vectors = index.vectors if isinstance(index.vectors, VectorIndex) else \
            VectorIndex.build(index.dim, index.vectors.vectors_at(list(range(len(index.chunks)))))
        vectors.save(tmp / "vectors.faiss")  # exact, or IVF for large corpora
        (index.lexical or LexicalIndex.build([lexical_terms(c) for c in index.chunks])).save(tmp / "lexical")
        # The manifest is written last: a generation without one is incomplete.
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        _fsync_tree(tmp)
        os.rename(tmp, index_dir / name)
        _write_atomically(index_dir / LIBRARY,
                          json.dumps({"roots": index.roots, "excluded": index.excluded}, indent=1))
        _write_atomically(index_dir / CURRENT, name + "\n")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for stale in index_dir.iterdir():
        if stale.name != name and (stale.name.startswith("gen-") or stale.name.startswith(".tmp-")):
            shutil.rmtree(stale, ignore_errors=True)
    return index_dir / name


def manifest_of(index: Index) -> dict:
    """What a generation's manifest records about an index."""
    return {"format": FORMAT, "embedder": index.embedder, "dim": index.dim,
            "chunking": index.chunking, "chunks": len(index.chunks), "roots": index.roots,
            "excluded": index.excluded,
            "files": {s: asdict(f) for s, f in sorted(index.files.items())}}


def stored_collections(location: Location, folder: Path) -> set[str]:
    """The names of the collections that have an index: in location's Milvus store, or, for
    the folder backend, the subfolders of folder (DATA_DIR/collections) that hold one."""
    if isinstance(location, MilvusLocation):
        return set(_milvus().list_collections(location))
    if not Path(folder).is_dir():
        return set()
    return {d.name for d in Path(folder).iterdir() if index_exists(d / "index")}


def _milvus():
    """rag.index_milvus, imported when a collection lives in Milvus (it needs pymilvus)."""
    try:
        from rag import index_milvus
    except ImportError as exc:
        raise InputError(f"RAG_STORE=milvus needs the Milvus client ({exc}): install it with "
                         "`pip install -e '.[milvus]'` (./install.sh includes it).") from exc
    return index_milvus


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())


def read_manifest(index_dir: Location, gen: Path | None = None) -> dict:
    """The live generation's manifest (or generation gen's); IndexMissingError when there is none."""
    if isinstance(index_dir, MilvusLocation):
        return _milvus().read_manifest(index_dir)
    gen = gen or _live_generation(Path(index_dir))
    if gen is None:
        raise IndexMissingError(f"No index in {index_dir}: run `rag index` first.")
    try:
        return json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(
            f"The index manifest in {gen} is unreadable ({exc}): run `rag index` to rebuild it.") from exc


def manifest_files(manifest: dict) -> dict[str, IndexedFile]:
    """The files a manifest lists (older manifests lack some fields, newer may add some)."""
    known = {f.name for f in fields(IndexedFile)}
    return {s: IndexedFile(**{k: v for k, v in f.items() if k in known})
            for s, f in manifest.get("files", {}).items()}


def chunk_from_json(row: dict) -> Chunk:
    row["sentences"] = tuple(tuple(s) for s in row.get("sentences", ()))
    return Chunk(**row)


def load_index(index_dir: Location, embedder: str | None, dim: int | None, attempts: int = 3,
               reuse: Index | None = None) -> Index:
    """Load the live index, refusing one built with another format or embedding model
    (embedder and dim None: whichever model built it, e.g. to sync or edit it). CURRENT is
    read once, and everything comes from the generation it names; when a writer swaps in a
    newer one mid-read (and removes this one), the newer one is loaded instead. `reuse`, the
    index loaded before, lets Milvus read only what changed (rag.index_milvus)."""
    if isinstance(index_dir, MilvusLocation):
        return _milvus().load_index(index_dir, embedder, dim, reuse)
    index_dir = Path(index_dir)
    gen = _live_generation(index_dir)
    try:
        return _load_generation(index_dir, gen, embedder, dim)
    except IndexCorruptError:
        if attempts <= 1 or live_generation_name(index_dir) in ("", gen.name if gen else ""):
            raise
        return load_index(index_dir, embedder, dim, attempts - 1, reuse)


def check_manifest(manifest: dict, where: str, embedder: str | None, dim: int | None) -> int:
    """The manifest's vector size; IndexMismatchError when it has another format, or was made
    by another embedding model than embedder (None and None: any model)."""
    if manifest.get("format") != FORMAT:
        raise IndexMismatchError(
            f"{where} has format {manifest.get('format')}, this version reads "
            f"format {FORMAT}: run `rag index` to rebuild it.")
    if embedder is None and dim is None:
        embedder, dim = manifest.get("embedder"), manifest.get("dim")
    if manifest.get("embedder") != embedder or manifest.get("dim") != dim:
        raise IndexMismatchError(
            f"{where} was built with embedding model {manifest.get('embedder')!r} "
            f"({manifest.get('dim')} dims), not {embedder!r} ({dim} dims): run `rag index` to "
            "re-index with the current model, or use --index-dir for another index.")
    return int(dim)


def _load_generation(index_dir: Path, gen: Path | None, embedder: str | None, dim: int | None) -> Index:
    manifest = read_manifest(index_dir, gen)
    dim = check_manifest(manifest, f"The index in {index_dir}", embedder, dim)
    try:
        with open(gen / "chunks.jsonl", encoding="utf-8") as fh:
            chunks = [chunk_from_json(json.loads(line)) for line in fh]
        vectors = VectorIndex.load(gen / "vectors.faiss", dim)
        lexical = LexicalIndex.load(gen / "lexical")
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise IndexCorruptError(
            f"The index in {index_dir} is damaged ({exc}): run `rag index` to rebuild it.") from exc
    if not (len(chunks) == len(vectors) == manifest.get("chunks")):
        raise IndexCorruptError(
            f"The index in {index_dir} is inconsistent ({len(chunks)} chunks, {len(vectors)} vectors): "
            "run `rag index` to rebuild it.")
    files = manifest_files(manifest)
    return Index(chunks, vectors, lexical, manifest["embedder"], manifest["chunking"], files,
                 list(manifest.get("roots", [])), list(manifest.get("excluded", [])), gen.name)
