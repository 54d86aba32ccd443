"""The index in Milvus: the same Index as the folder backend (rag.index), kept in a Milvus
store that many app replicas share.

Per collection, Milvus holds two collections (embeddings.milvus_store): the passages
(vector, BM25 terms, the chunk as JSON, its source and `gen`) and a key-value table with

    CURRENT            {"format": F, "version": V, "manifest": T, "parts": n}: the live
                       library version (F: this layout's version, STORE_FORMAT)
    manifest-T-i       that version's manifest (as rag.index writes it, plus "rows": the
                       batch holding each file's passages, and "batches": each batch's size),
                       in parts of 60,000 characters
    library            the roots and excluded files, kept apart as library.json is

Each sync writes one batch: its passages get the ids T·2^40 + 0, 1, 2 … for a random
token T, so two writers never share an id or a manifest key, and each can delete exactly
what it wrote. A sync never leaves readers on a half-written library:

1. the passages of new and changed files are inserted with gen = V+1, which readers of
   version V filter out (`gen <= V`), and the new manifest is written beside the old;
2. CURRENT is read again: when another writer switched meanwhile, this sync deletes its
   own batch and manifest and is built again on top of that version (rag.pipeline);
3. CURRENT becomes V+1 in one upsert: the switch;
4. the passages of changed and removed files (gen <= V, so no writer's new rows), rows
   of syncs that died before their switch, and the old manifest are deleted.

A reader loads the version CURRENT names and vouches only for the rows its manifest
names (source and batch), so between 3 and 4 it never sees a changed file twice. A
reader of V that has not yet moved on loses the deleted rows' hits; a server notices the
new version before its next answer and moves (Pipeline.follow_index). Unchanged files
keep their rows, so a sync costs what changed, not the library.

Writers on one machine take turns through the collection's local lock folder
(rag.index.writing); writers on several machines are ordered by step 2. Steps 2 and 3
are two calls, so two machines switching in the same instant can still overwrite each
other's switch (the library then holds one of the two syncs, whole, and the other's
files come back at the next sync): for a library many replicas write to, that window is
the limit of this design, and one place that runs syncs avoids it.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from dataclasses import asdict

import numpy as np

from embeddings.milvus_store import (MilvusPassages, MilvusStore, StoreMismatch, StoreUnavailable,
                                     collection_base)
from rag.errors import (IndexBusyError, IndexCorruptError, IndexMismatchError, IndexMissingError, RagError,
                        StoreUnavailableError)
from rag.index import (Index, check_manifest, chunk_from_json, lexical_terms, manifest_files,
                       manifest_of)
from rag.schema import Chunk
from rag.settings import MilvusLocation

log = logging.getLogger(__name__)

PREFIX = "rag_"
STORE_FORMAT = 1  # the layout above; bump when it changes, and older stores are refused
PART = 60_000  # characters per manifest row, under Milvus' 64 KB VARCHAR
BATCH_BITS = 40  # a batch's ids are token << 40 | 0 .. 2^40 - 1
MAX_GC_BATCHES = 100  # a manifest naming more batches skips step 4's sweep of dead syncs


class Stores:
    """Open stores by URI and collection: one client, and one load of the collections, per
    process rather than per question (a server's connection pool, in effect)."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, str], MilvusStore] = {}
        self._lock = threading.Lock()

    def get(self, location: MilvusLocation) -> MilvusStore:
        """The collection's store, its collections loaded; StoreUnavailableError naming the URI."""
        key = (location.uri, location.collection)
        with self._lock:
            if key not in self._open:
                try:
                    store = MilvusStore(location.uri, collection_base(PREFIX, location.collection))
                    store.open()
                except StoreUnavailable as exc:
                    raise StoreUnavailableError(_advice(exc, location)) from exc
                except Exception as exc:  # e.g. Milvus Lite's file lock, held by another process
                    raise StoreUnavailableError(_advice(exc, location)) from exc
                self._open[key] = store
            return self._open[key]


open_store = Stores().get


def _advice(exc: Exception, location: MilvusLocation) -> str:
    text = str(exc)
    if "://" not in location.uri and "Open local milvus failed" in text:
        return (f"{text}, most likely because another process has it open. Milvus Lite serves one "
                f"process: stop the other `rag` process using "
                f"{location.uri}, or serve it to many with `milvus-lite server --data-dir "
                f"{location.uri}` and set RAG_MILVUS_URI=http://127.0.0.1:19530.")
    return f"{text}. Check that Milvus is running at {location.uri} (RAG_MILVUS_URI), then try again."


def _current(store: MilvusStore) -> dict | None:
    raw = store.get_values(["CURRENT"]).get("CURRENT")
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return {"format": "unreadable"}  # refused as another layout, and rebuilt by a sync


def _guarded(location: MilvusLocation, work):
    """work(store), with the store's failures as StoreUnavailableError naming the URI."""
    store = open_store(location)
    try:
        return work(store)
    except StoreUnavailable as exc:
        raise StoreUnavailableError(_advice(exc, location)) from exc


def index_exists(location: MilvusLocation) -> bool:
    """True when the collection has a live version in Milvus."""
    return _guarded(location, lambda store: store.exists() and _current(store) is not None)


def live_generation_name(location: MilvusLocation) -> str:
    """The live version's name ("" when there is none or the store cannot be reached)."""
    try:
        current = _guarded(location, lambda store: _current(store) if store.exists() else None)
    except (RagError, ValueError):
        return ""
    return f"v{current['version']}" if current else ""


def read_library(location: MilvusLocation) -> tuple[list[str], list[str]] | None:
    """The roots and excluded files, or None when there are none."""
    try:
        raw = _guarded(location, lambda store: store.get_values(["library"]).get("library")
                       if store.exists() else None)
        saved = json.loads(raw) if raw else None
        return ([str(r) for r in saved["roots"]], [str(e) for e in saved["excluded"]]) if saved else None
    except (ValueError, KeyError, TypeError):
        return None


def _ranges(manifest: dict) -> list[tuple[int, int]]:
    """The id ranges of the batches a manifest vouches for."""
    return [(int(t) << BATCH_BITS, (int(t) << BATCH_BITS) + int(n))
            for t, n in sorted(manifest.get("batches", {}).items(), key=lambda item: int(item[0]))]


def _manifest(store: MilvusStore, location: MilvusLocation, current: dict | None) -> dict:
    if current is None:
        raise IndexMissingError(f"No index for collection '{location.collection}' in Milvus at "
                                f"{location.uri}: run `rag index` first.")
    if current.get("format") != STORE_FORMAT:
        raise IndexMismatchError(
            f"The index of collection '{location.collection}' in Milvus at {location.uri} has store "
            f"format {current.get('format')}, this version reads format {STORE_FORMAT}: run "
            f"`rag index --collection {location.collection}` to rebuild it.")
    keys = [_part_key(current["manifest"], i) for i in range(current["parts"])]
    values = store.get_values(keys)
    try:
        return json.loads("".join(values[k] for k in keys))
    except (KeyError, ValueError) as exc:
        raise IndexCorruptError(f"The index of collection '{location.collection}' in Milvus at "
                                f"{location.uri} is damaged ({exc}): run `rag index` to rebuild it.") from exc


def _part_key(token: int, part: int) -> str:
    return f"manifest-{int(token):07d}-{part:05d}"


def read_manifest(location: MilvusLocation) -> dict:
    """The live version's manifest; IndexMissingError when there is none."""
    return _guarded(location, lambda store: _manifest(
        store, location, _current(store) if store.exists() else None))


def load_index(location: MilvusLocation, embedder: str | None, dim: int | None,
               reuse: Index | None = None, attempts: int = 3) -> Index:
    """The live version as an Index whose searches run in Milvus (see the module docstring);
    refuses one made by another embedding model or format, as rag.index.load_index does.
    Passages of `reuse` (the version a server answers from) that the new version still
    vouches for are kept, so moving to a new version reads only what changed. When a sync
    deletes rows mid-read, the version it switched to is loaded instead."""
    def load(store: MilvusStore) -> Index:
        current = _current(store) if store.exists() else None
        manifest = _manifest(store, location, current)
        where = f"The index of collection '{location.collection}' in Milvus at {location.uri}"
        size = check_manifest(manifest, where, embedder, dim)
        try:
            if store.dimension() != size:
                raise StoreMismatch("passages of another vector size")
        except StoreMismatch as exc:
            raise IndexMismatchError(f"{where} holds {exc}: run `rag index` to rebuild it.") from exc
        vouched = manifest.get("rows", {})
        known: dict[int, Chunk] = {}
        if reuse is not None and isinstance(reuse.vectors, MilvusPassages) and \
                reuse.vectors.store is store and reuse.embedder == manifest["embedder"]:
            known = {i: c for i, c in zip(reuse.vectors.ids.tolist(), reuse.chunks)
                     if vouched.get(c.source) == i >> BATCH_BITS}
        have = {i >> BATCH_BITS for i in known}
        ranges = [(a, b) for a, b in _ranges(manifest) if a >> BATCH_BITS not in have]
        found = sorted([*known.items(), *(
            (int(r["id"]), chunk_from_json(json.loads(r["payload"])))
            for r in store.rows(current["version"], ["source", "payload"], ranges)
            if vouched.get(r["source"]) == int(r["id"]) >> BATCH_BITS)], key=lambda item: item[0])
        if len(found) != manifest.get("chunks"):
            if attempts > 1 and (_current(store) or {}).get("version") != current["version"]:
                return load_index(location, embedder, dim, reuse, attempts - 1)
            raise IndexCorruptError(f"{where} is inconsistent ({len(found)} passages, the manifest "
                                    f"says {manifest.get('chunks')}): run `rag index` to rebuild it.")
        passages = MilvusPassages(store, np.asarray([i for i, _ in found], np.int64), size,
                                  current["version"])
        return Index([c for _, c in found], passages, passages, manifest["embedder"],
                     manifest["chunking"], manifest_files(manifest), list(manifest.get("roots", [])),
                     list(manifest.get("excluded", [])), f"v{current['version']}")
    return _guarded(location, load)


def save_index(index: Index, location: MilvusLocation) -> str:
    """Write index as the next version and switch to it (see the module docstring)."""
    return _guarded(location, lambda store: _save(store, index, location))


def _save(store: MilvusStore, index: Index, location: MilvusLocation) -> str:
    try:
        store.create(index.dim)
    except StoreMismatch:  # another model's vectors: a rebuild replaces them
        store.drop()
        store.create(index.dim)
    current = _current(store)
    if current is not None and current.get("format") != STORE_FORMAT:  # another layout: rebuilt
        store.drop()
        store.create(index.dim)
        current = None
    version = int(current["version"]) if current else 0
    try:
        old = _manifest(store, location, current) if current else {}
    except (IndexCorruptError, IndexMismatchError):
        old = {}
    same_model = (old.get("embedder"), old.get("dim"), old.get("chunking")) == \
        (index.embedder, index.dim, index.chunking)
    old_files, old_rows = manifest_files(old), old.get("rows", {})
    rows = {s: old_rows[s] for s, f in index.files.items()
            if same_model and s in old_rows and s in old_files
            and old_files[s].content_hash == f.content_hash}
    token = secrets.randbelow(2**22 - 1) + 1
    new = [i for i, c in enumerate(index.chunks) if c.source not in rows]
    ids = [(token << BATCH_BITS) + i for i in range(len(new))]
    store.insert(ids, index.vectors.vectors_at(new),
                 [" ".join(lexical_terms(index.chunks[i])) for i in new],
                 [index.chunks[i].source for i in new],
                 [json.dumps(asdict(index.chunks[i]), ensure_ascii=False) for i in new], version + 1)
    if new:
        store.flush()
    rows.update({s: token for s in index.files if s not in rows})
    sizes = {str(t): n for t, n in old.get("batches", {}).items() if int(t) in rows.values()}
    if new:
        sizes[str(token)] = len(new)
    manifest = dict(manifest_of(index), rows=rows, batches=sizes)
    text = json.dumps(manifest)  # ASCII: PART characters are PART bytes, under Milvus' limit
    parts = [text[i:i + PART] for i in range(0, len(text), PART)] or [""]
    keys = [_part_key(token, i) for i in range(len(parts))]
    store.put_values(dict(zip(keys, parts)))
    if (_current(store) or {}).get("version", 0) != version:
        store.delete(ids)
        store.delete_values(keys)
        raise IndexBusyError(f"Another machine changed collection '{location.collection}' in Milvus "
                             "while this sync ran, and this sync changed nothing: run it again.")
    store.put_values({"library": json.dumps({"roots": index.roots, "excluded": index.excluded}),
                      "CURRENT": json.dumps({"format": STORE_FORMAT, "version": version + 1,
                                             "manifest": token, "parts": len(parts)})})
    _retire(store, old_rows, rows, version, manifest, current)
    return f"v{version + 1}"


def _retire(store: MilvusStore, old_rows: dict, rows: dict, version: int, manifest: dict,
            current: dict | None) -> None:
    """After the switch: delete the passages no longer vouched for, rows of syncs that died
    before their switch, and the old manifest; only rows of version <= the old one, which no
    writer still works on. A failure here costs space, not answers (readers vouch by manifest)."""
    gone = [s for s, batch in old_rows.items() if rows.get(s) != batch]
    try:
        for start in range(0, len(gone), 100):
            names = ", ".join(json.dumps(s, ensure_ascii=False) for s in gone[start:start + 100])
            store.delete_where(f"gen <= {version} and source in [{names}]")
        ranges = _ranges(manifest)
        if len(ranges) <= MAX_GC_BATCHES:
            live = " or ".join(f"(id >= {a} and id < {b})" for a, b in ranges) or "false"
            store.delete_where(f"gen <= {version} and not ({live})")
        if current:
            store.delete_values([_part_key(current["manifest"], i) for i in range(current["parts"])])
    except StoreUnavailable as exc:
        log.warning("the new version is live, but old passages were not deleted: %s", exc)


def drop_index(location: MilvusLocation) -> None:
    """Delete the collection's passages and manifest from Milvus."""
    _guarded(location, lambda store: store.drop())


def list_collections(location: MilvusLocation) -> list[str]:
    """The collections with an index in this Milvus store, by name."""
    bases = _guarded(location, lambda store: store.list_bases(PREFIX))
    return [_decode(b[len(PREFIX):]) for b in bases]


def _decode(base: str) -> str:
    out, i = [], 0
    while i < len(base):
        if base[i] == "_" and i + 1 < len(base):
            out.append("_" if base[i + 1] == "_" else "-")
            i += 2
        else:
            out.append(base[i])
            i += 1
    return "".join(out)
