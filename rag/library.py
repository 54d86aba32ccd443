"""A collection's library: which files and folders it indexes, kept in step with the disk.

The index remembers its roots (the files and folders given to `rag index`), the
files it holds (path, size, mtime, content hash) and the files the user removed.

- `rag index PATHS` adds PATHS to the library, then syncs all of it. A path
  inside an indexed folder adds nothing; a folder holding indexed roots takes
  their place. `--replace` makes the library exactly PATHS.
- A sync (`rag index` with no paths) reads every root again: new files are
  indexed, changed files are chunked and embedded again (only passages not seen
  before), and files deleted on disk drop out, as does a root that no longer
  exists. A file with the same size and mtime as last time is not even read.
- `rag docs remove` drops a file and excludes it, so a sync does not bring it
  back while it exists. Naming that file in `rag index FILE` (or uploading it
  again in the page) brings it back. Removing a root (a folder, or a file
  indexed by itself) takes it out of the library instead, so nothing is
  excluded. Excluding by path keeps the rule visible: `rag docs list` shows it.

Collections are independent indexes side by side in the data folder (see
rag.settings): each has its own library, index and uploads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from embeddings.encoder import Encoder
from embeddings.lexical_index import LexicalIndex
from embeddings.vector_index import VectorIndex
from rag.chunk import chunk_document
from rag.errors import IndexMissingError, InputError, RagError
from rag.index import (Index, IndexedFile, Location, assemble_index, chunking_config, index_exists,
                       load_index, manifest_files, read_library, read_manifest, stored_collections,
                       save_index, writing)
from rag.ingest import SUPPORTED_NAMES, Skipped, content_hash, find_files, parse_document, read_file
from rag.schema import Chunk
from rag.settings import DEFAULT_COLLECTION, Settings, valid_collection_name

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scan:
    """The library as found on disk: its passages, files, surviving roots and skipped files."""

    chunks: list[Chunk]
    files: dict[str, IndexedFile]
    roots: list[Path]
    skipped: list[Skipped]


@dataclass(frozen=True)
class Collection:
    """One collection, for listings."""

    name: str
    index_dir: Location
    documents: int | None  # None: no index yet
    passages: int


def _covered(path: Path, roots: list[Path]) -> bool:
    """True when path is one of roots or lies inside an indexed folder."""
    return any(path == root or (path.is_relative_to(root) and root.is_dir()) for root in roots)


def previous_index(index_dir: Location) -> Index | None:
    """The collection's index as last written, whichever model built it; when it cannot be
    read, an empty one that still knows the library (roots, excluded files: library.json
    keeps them beside the generations), so a sync rebuilds it from the same folders."""
    library = read_library(index_dir)
    if not index_exists(index_dir) and library is None:
        return None
    try:
        return load_index(index_dir, None, None)
    except RagError as exc:  # an unreadable old index is rebuilt, from the same roots if known
        log.warning("not reusing the previous index: %s", exc)
    if library is None:
        try:
            manifest = read_manifest(index_dir)
            library = list(manifest["roots"]), list(manifest.get("excluded", []))
        except (RagError, KeyError, TypeError, ValueError):
            return None
    return Index([], VectorIndex(1), LexicalIndex.build([]), "", {}, {}, *library)


def given_path(path: Path) -> Path:
    """A file or folder the user named, resolved; InputError when it is none."""
    path = Path(path).expanduser()
    if path.is_symlink() and not path.exists():
        raise InputError(f"{path} is a symbolic link to nothing that exists (or a loop of links): "
                         "give the file or folder it should point to.")
    if not path.exists():
        raise InputError(f"{path} does not exist: give a file or folder of {SUPPORTED_NAMES} articles.")
    if not (path.is_file() or path.is_dir()):
        raise InputError(f"{path} is not a regular file or folder (a pipe, socket or device): give "
                         f"a file or folder of {SUPPORTED_NAMES} articles.")
    return path.resolve()


def plan_library(previous: Index | None, paths: list[Path], replace_all: bool = False,
                 keep_excluded: bool = False) -> tuple[list[Path], set[str]]:
    """The library's roots and excluded files after adding paths (see the module docstring);
    keep_excluded keeps exclusions of files this disk does not have (another replica's)."""
    given = [given_path(p) for p in paths]
    if previous is None or replace_all:
        roots, excluded = [], set()
    else:
        roots = [Path(r) for r in previous.roots]
        excluded = {p for p in previous.excluded if keep_excluded or Path(p).exists()}  # forget deleted files
    for path in given:
        excluded.discard(str(path))  # named again: the user wants it back
        if not _covered(path, roots):
            roots = [r for r in roots if not r.is_relative_to(path)] + [path]
    return roots, excluded


def scan_library(roots: list[Path], excluded: set[str], previous: Index | None,
                 chunk_words: int, chunk_overlap: int, only: list[Path] | None = None) -> Scan:
    """Every file under roots as passages: unchanged files keep their previous chunks
    (not read at all when size and mtime match), others are read, parsed and chunked.
    With `only`, only those files are read and every other indexed file is kept as it is,
    whether or not it is on this disk: an upload to one replica must not drop what only
    another replica's disk holds."""
    kept: dict[str, list[Chunk]] = {}
    if previous is not None and previous.chunking == chunking_config(chunk_words, chunk_overlap):
        for c in previous.chunks:
            kept.setdefault(c.source, []).append(c)
    old_files = previous.files if previous is not None else {}
    chunks: list[Chunk] = []
    files: dict[str, IndexedFile] = {}
    live: list[Path] = []
    skipped: list[Skipped] = []
    seen: set[str] = set()
    named = None
    if only is not None and kept:  # keep every indexed file but the named ones, unread
        named = {str(p) for p in only}
        for source, entry in old_files.items():
            if entry.path not in named and source in kept:
                files[source] = entry
                chunks.extend(kept[source])
                seen.add(entry.path)
    for root in roots:
        if named is not None:
            live.append(root)
            if not root.exists():
                continue
        elif not root.exists():
            skipped.append(Skipped(str(root), "no longer exists; its documents left the index"))
            continue
        live.append(root)
        for base, file in find_files([root]):
            path = str(file)
            if path in seen or path in excluded or (named is not None and path not in named):
                continue
            seen.add(path)
            source = file.relative_to(base).as_posix()
            if source in files:
                skipped.append(Skipped(path, f"another file is already indexed as {source}"))
                continue
            try:
                entry, doc_chunks = _load_file(source, file, old_files.get(source), kept.get(source),
                                               chunk_words, chunk_overlap)
            except (OSError, ValueError) as exc:
                skipped.append(Skipped(path, str(exc)))
                continue
            files[source] = entry
            chunks.extend(doc_chunks)
    for s in skipped:
        log.info("skipped %s: %s", s.path, s.reason)
    return Scan(chunks, files, live, skipped)


def _load_file(source: str, file: Path, old: IndexedFile | None, old_chunks: list[Chunk] | None,
               chunk_words: int, chunk_overlap: int) -> tuple[IndexedFile, list[Chunk]]:
    """One file's manifest entry and passages, reusing old_chunks when its content is the same."""
    stat = file.stat()
    meta = {"path": str(file), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    if old is not None and old_chunks and (old.path, old.size, old.mtime_ns) == tuple(meta.values()):
        return old, old_chunks
    data = read_file(file)
    if old is not None and old_chunks and old.content_hash == content_hash(data):
        return replace(old, **meta), old_chunks  # touched, or moved, but the same bytes
    doc = parse_document(source, data)
    doc_chunks = chunk_document(doc, max_words=chunk_words, overlap=chunk_overlap)
    entry = IndexedFile(doc.source, doc.title, doc.content_hash, len(doc_chunks),
                        pages=len(doc.pages), **meta)
    return entry, doc_chunks


def unchanged(previous: Index, scan: Scan, excluded: set[str], chunking: dict) -> bool:
    """True when a sync found exactly what the index already holds. A touched file (a new
    mtime, the same bytes) counts as a change, so its new mtime is written once and later
    syncs need not read it again."""
    def state(files: dict[str, IndexedFile]) -> dict:
        return {s: (f.content_hash, f.path, f.size, f.mtime_ns) for s, f in files.items()}
    return (previous.chunking == chunking and [str(r) for r in scan.roots] == previous.roots
            and sorted(excluded) == sorted(previous.excluded)
            and state(scan.files) == state(previous.files)
            and [c.chunk_id for c in scan.chunks] == [c.chunk_id for c in previous.chunks])


def matching_files(index: Index, target: str) -> tuple[dict[str, IndexedFile], Path | None]:
    """The indexed files a `docs remove` target names (a source as listed, a file, or a
    folder), and the root it names, if any."""
    if target in index.files:
        return {target: index.files[target]}, None
    path = Path(target).expanduser()
    candidates = {path.absolute(), path.resolve()}
    root = next((Path(r) for r in index.roots if Path(r) in candidates), None)
    found = {s: f for s, f in index.files.items() if f.path and (
        Path(f.path) in candidates or any(Path(f.path).is_relative_to(c) for c in candidates))}
    return found, root


def remove_documents(settings: Settings, targets: list[str],
                     waiting: Callable[[str], None] | None = None) -> list[IndexedFile]:
    """Drop files (or indexed folders) from the collection's index and write it; the
    files stay excluded from later syncs (see the module docstring). No model is needed."""
    with writing(settings.index_location, waiting):
        return _remove_documents(settings, targets)


def _remove_documents(settings: Settings, targets: list[str]) -> list[IndexedFile]:
    previous = load_index(settings.index_location, None, None)
    roots = [Path(r) for r in previous.roots]
    gone: dict[str, IndexedFile] = {}
    for target in targets:
        found, root = matching_files(previous, target)
        if not found and root is None:
            raise InputError(f"{target} is not in the index of collection '{settings.collection}': "
                             "give a source as `rag docs list` shows it, or a file's path.")
        if root is not None:
            roots.remove(root)
        gone.update(found)
    excluded = set(previous.excluded)
    excluded |= {f.path for f in gone.values() if f.path and _covered(Path(f.path), roots)}
    chunks = [c for c in previous.chunks if c.source not in gone]
    files = {s: f for s, f in previous.files.items() if s not in gone}
    index, _ = assemble_index(chunks, files, None, previous.chunking, previous,
                              roots=[str(r) for r in roots], excluded=sorted(excluded))
    save_index(index, settings.index_location)
    return sorted(gone.values(), key=lambda f: f.source)


def create_empty_index(settings: Settings, encoder: Encoder) -> None:
    """Start a collection with an empty index, so the page can search it and add to it."""
    with writing(settings.index_location):
        if index_exists(settings.index_location):  # another writer started it meanwhile
            return
        index, _ = assemble_index([], {}, encoder, chunking_config(settings.chunk_words,
                                                                   settings.chunk_overlap))
        save_index(index, settings.index_location)


def describe_library(settings: Settings) -> tuple[list[IndexedFile], list[str], list[str]]:
    """The collection's indexed files (by source), roots and excluded files, from its manifest."""
    try:
        manifest = read_manifest(settings.index_location)
    except IndexMissingError as exc:
        raise IndexMissingError(f"Collection '{settings.collection}' has no index yet: add documents "
                                f"with `rag index --collection {settings.collection} FOLDER`.") from exc
    files = sorted(manifest_files(manifest).values(), key=lambda f: f.source)
    return files, list(manifest.get("roots", [])), list(manifest.get("excluded", []))


def content_hashes(files: Iterable[IndexedFile]) -> dict[str, str]:
    """Source -> content hash of indexed files: what a saved citation is checked against."""
    return {f.source: f.content_hash for f in files}


def indexed_hashes(settings: Settings, collection: str) -> dict[str, str]:
    """Source -> content hash of what a collection indexes now (empty when it has no index)."""
    try:
        files, _, _ = describe_library(settings.for_collection(collection))
    except (RagError, ValueError):
        return {}
    return content_hashes(files)


def size_text(size: int) -> str:
    """A file size for people: 812 B, 14 KB, 3.2 MB; nothing when unknown (0)."""
    if not size:
        return ""
    if size < 1000:
        return f"{size} B"
    if size < 1_000_000:
        return f"{size / 1000:.0f} KB"
    return f"{size / 1_000_000:.1f} MB"


def list_collections(settings: Settings) -> list[Collection]:
    """The collections in the data folder (always the default and the current one), default first."""
    names = {DEFAULT_COLLECTION, settings.collection}
    names |= {n for n in stored_collections(settings.index_location, Path(settings.data_dir) / "collections")
              if valid_collection_name(n)}
    found = []
    for name in sorted(names, key=lambda n: (n != DEFAULT_COLLECTION, n)):
        index_dir = settings.for_collection(name).index_location
        try:
            manifest = read_manifest(index_dir)
            found.append(Collection(name, index_dir, len(manifest.get("files", {})),
                                    int(manifest.get("chunks", 0))))
        except RagError:
            found.append(Collection(name, index_dir, None, 0))
    return found
