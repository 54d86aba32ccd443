"""The index in Milvus: the same Index as the folder backend (rag.index), kept in a Milvus
store that many app replicas share.

Per collection, Milvus holds two collections (embeddings.milvus_store): the passages
(vector, BM25 terms, the chunk as JSON, its source and `gen`) and a key-value table with

    CURRENT            {"format": F, "version": V, "manifest": T, "parts": n, "passages": P}:
                       the live library version (F: this layout's version, STORE_FORMAT; P:
                       the passages collection it reads)
    manifest-T-i       that version's manifest (as rag.index writes it, plus "rows": the id
                       range [start, end) of each file's passages), in parts of 60,000
                       characters
    library(-i)        the roots and excluded files, kept apart as library.json is

A library rebuilt for another vector size or layout is written into a new passages
collection beside the live one, which readers use until the switch; it is dropped after.
The key-value collection is never dropped, so the roots survive any rebuild.

Each sync writes one batch: its passages get the ids T·2^40 + 0, 1, 2 … for a random
token T, so two writers never share an id or a manifest key, and each can delete exactly
what it wrote. A sync never leaves readers on a half-written library:

1. the passages of new and changed files are inserted with gen = V+1, which readers of
   version V filter out (`gen <= V`), and the new manifest is written beside the old;
2. CURRENT is read again: when another writer switched meanwhile, this sync deletes its
   own batch and manifest and is built again on top of that version (rag.pipeline);
3. CURRENT becomes V+1 in one upsert: the switch;
4. the passages of changed and removed files (by id range: no file name goes into a
   Milvus expression), rows of syncs that died before their switch (gen <= V, so no
   writer's new rows) and the old manifest are deleted.

A reader loads the version CURRENT names and vouches only for the rows its manifest
names (each file's id range), so between 3 and 4 it never sees a changed file twice. A
reader of V that has not yet moved on loses the deleted rows' hits; a server notices the
new version before its next answer and moves (Pipeline.follow_index). Unchanged files
keep their rows, so a sync writes what changed, not the library (it still reads the whole
manifest and, in rag.library, every passage's text, as the folder backend does).

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

from embeddings.milvus_store import (MilvusPassages, MilvusStore, StoreChanged, StoreMismatch,
                                     StoreRefused, StoreUnavailable, collection_base, display_uri)
from rag.errors import (IndexBusyError, IndexCorruptError, IndexMismatchError, IndexMissingError, RagError,
                        StoreRefusedError, StoreUnavailableError)
from rag.index import (Index, check_manifest, chunk_from_json, lexical_terms, manifest_files,
                       manifest_of)
from rag.schema import Chunk
from rag.settings import MilvusLocation

log = logging.getLogger(__name__)

PREFIX = "rag_"
STORE_FORMAT = 2  # the layout above; bump when it changes, and older stores are refused
PART = 60_000  # characters per manifest row, under Milvus' 64 KB VARCHAR
BATCH_BITS = 40  # a batch's ids are token << 40 | 0 .. 2^40 - 1
MAX_SWEEP_RANGES = 500  # above this many id ranges, step 4 skips its sweep of leftovers


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
                except Exception as exc:  # unreachable, or Milvus Lite's file held by another process
                    raise StoreUnavailableError(_advice(exc, location)) from exc
                self._open[key] = store
            return self._open[key]


open_store = Stores().get


def _advice(exc: Exception, location: MilvusLocation) -> str:
    text, uri = str(exc), display_uri(location.uri)
    if "://" not in location.uri and "Open local milvus failed" in text:
        return (f"{text}, most likely because another process has it open. Milvus Lite serves one "
                f"process: stop the other `rag` process using "
                f"{uri}, or serve it to many with `milvus-lite server --data-dir "
                f"{uri}` and set RAG_MILVUS_URI=http://127.0.0.1:19530.")
    if isinstance(exc, StoreChanged):
        return text + "."
    return f"{text}. Check that Milvus is running at {uri} (RAG_MILVUS_URI), then try again."


def _current(store: MilvusStore) -> dict | None:
    raw = store.get_values(["CURRENT"]).get("CURRENT")
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return {"format": "unreadable"}  # refused as another layout, and rebuilt by a sync


def _guarded(location: MilvusLocation, work):
    """work(store), with the store's failures as StoreUnavailableError naming the URI, and its
    refusals as StoreRefusedError."""
    store = open_store(location)
    try:
        return work(store)
    except StoreUnavailable as exc:
        raise StoreUnavailableError(_advice(exc, location)) from exc
    except StoreRefused as exc:
        raise StoreRefusedError(str(exc)) from exc


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
        def read(store: MilvusStore) -> str | None:
            head = store.get_values(["library"]).get("library") if store.exists() else None
            if not head:
                return None
            return _read_parts(store, [f"library-{i:05d}" for i in range(json.loads(head)["parts"])])
        raw = _guarded(location, read)
        saved = json.loads(raw) if raw else None
        return ([str(r) for r in saved["roots"]], [str(e) for e in saved["excluded"]]) if saved else None
    except (ValueError, KeyError, TypeError):
        return None


def _ranges(rows: dict) -> list[tuple[int, int]]:
    """The id ranges a manifest's rows vouch for ({source: [start, end)}), merged."""
    merged: list[list[int]] = []
    for start, end in sorted(tuple(r) for r in rows.values()):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged if b > a]


def _id_filter(ranges: list[tuple[int, int]]) -> str:
    """A Milvus expression true for ids in any of the ranges ("false" for none)."""
    return " or ".join(f"(id >= {a} and id < {b})" for a, b in ranges) or "false"


def _manifest(store: MilvusStore, location: MilvusLocation, current: dict | None) -> dict:
    if current is None:
        raise IndexMissingError(f"No index for collection '{location.collection}' in Milvus at "
                                f"{display_uri(location.uri)}: run `rag index` first.")
    if current.get("format") != STORE_FORMAT:
        raise IndexMismatchError(
            f"The index of collection '{location.collection}' in Milvus at {display_uri(location.uri)} has store "
            f"format {current.get('format')}, this version reads format {STORE_FORMAT}: run "
            f"`rag index --collection {location.collection}` to rebuild it.")
    try:
        return json.loads(_read_parts(store, [_part_key(current["manifest"], i) for i in range(current["parts"])]))
    except (KeyError, ValueError) as exc:
        raise IndexCorruptError(f"The index of collection '{location.collection}' in Milvus at "
                                f"{display_uri(location.uri)} is damaged ({exc}): run `rag index` to rebuild it.") from exc


def _parts(text: str) -> list[str]:
    """ASCII JSON cut into values Milvus takes (PART characters are PART bytes, under 64 KB)."""
    return [text[i:i + PART] for i in range(0, len(text), PART)] or [""]


def _read_parts(store: MilvusStore, keys: list[str]) -> str:
    """The text _parts cut and stored under keys, joined again (KeyError: a part is missing)."""
    values = store.get_values(keys)
    return "".join(values[k] for k in keys)


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
    def load(meta: MilvusStore) -> Index:
        current = _current(meta) if meta.exists() else None
        manifest = _manifest(meta, location, current)
        store = meta.on(current.get("passages") or meta.passages)
        where = f"The index of collection '{location.collection}' in Milvus at {display_uri(location.uri)}"
        size = check_manifest(manifest, where, embedder, dim)
        try:
            if store.dimension() != size:
                raise StoreMismatch("passages of another vector size")
        except StoreMismatch as exc:
            raise IndexMismatchError(f"{where} holds {exc}: run `rag index` to rebuild it.") from exc
        vouched = manifest.get("rows", {})

        def vouches(source: str, row: int) -> bool:
            start, end = vouched.get(source, (0, 0))
            return start <= row < end

        known: dict[int, Chunk] = {}
        if reuse is not None and isinstance(reuse.vectors, MilvusPassages) and \
                reuse.vectors.store is store and reuse.embedder == manifest["embedder"]:
            known = {i: c for i, c in zip(reuse.vectors.ids.tolist(), reuse.chunks) if vouches(c.source, i)}
        have = {c.source for c in known.values()}  # a file's passages are kept, or read, whole
        ranges = _ranges({s: r for s, r in vouched.items() if s not in have})
        found = sorted([*known.items(), *(
            (int(r["id"]), chunk_from_json(json.loads(r["payload"])))
            for r in store.rows(current["version"], ["source", "payload"], ranges)
            if vouches(r["source"], int(r["id"])))], key=lambda item: item[0])
        if len(found) != manifest.get("chunks"):
            if attempts > 1 and (_current(meta) or {}).get("version") != current["version"]:
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


def _save(meta: MilvusStore, index: Index, location: MilvusLocation) -> str:
    meta.create(index.dim, passages=False)
    current = _current(meta)
    version = int(current["version"]) if current and str(current.get("version", "")).isdigit() else 0
    live_name = (current or {}).get("passages") or meta.passages
    store = meta.on(live_name)
    same_layout = current is not None and current.get("format") == STORE_FORMAT
    if not same_layout or (store.has_passages() and store.dimension() != index.dim):
        # Another layout, or another vector size: a new passages collection beside the live
        # one, which readers keep using until the switch; dropped after it.
        store = meta.on(f"{meta.passages}_{secrets.token_hex(4)}")
        store.create(index.dim)
        old = {}
    else:
        store.create(index.dim)  # when missing (dropped by hand): the files' rows are written again
        try:
            old = _manifest(meta, location, current) if store.dimension() == index.dim else {}
        except (IndexCorruptError, IndexMismatchError):
            old = {}
    same_model = (old.get("embedder"), old.get("dim"), old.get("chunking")) == \
        (index.embedder, index.dim, index.chunking)
    old_files, old_rows = manifest_files(old), old.get("rows", {})
    rows = {s: old_rows[s] for s, f in index.files.items()
            if same_model and s in old_rows and s in old_files
            and old_files[s].content_hash == f.content_hash}
    live = {start >> BATCH_BITS for start, _ in _ranges(old_rows)} | {(current or {}).get("manifest")}
    token = next(t for t in iter(lambda: secrets.randbelow(2**22 - 1) + 1, 0) if t not in live)
    new = [i for i, c in enumerate(index.chunks) if c.source not in rows]
    ids = [(token << BATCH_BITS) + i for i in range(len(new))]
    store.insert(ids, index.vectors.vectors_at(new), [lexical_terms(index.chunks[i]) for i in new],
                 [index.chunks[i].source for i in new],
                 [json.dumps(asdict(index.chunks[i]), ensure_ascii=False) for i in new], version + 1)
    if new:
        store.flush()
    for i, position in zip(ids, new):  # a file's chunks are consecutive: one range per file
        first, _ = rows.get(index.chunks[position].source, (i, i))
        rows[index.chunks[position].source] = [first, i + 1]
    manifest = dict(manifest_of(index), rows=rows)
    parts = _parts(json.dumps(manifest))
    keys = [_part_key(token, i) for i in range(len(parts))]
    meta.put_values(dict(zip(keys, parts)))
    if (_current(meta) or {}).get("version", 0) != (current or {}).get("version", 0):
        store.delete(ids)
        meta.delete_values(keys)
        raise IndexBusyError(f"Another machine changed collection '{location.collection}' in Milvus "
                             "while this sync ran, and this sync changed nothing: run it again.")
    library = _parts(json.dumps({"roots": index.roots, "excluded": index.excluded}))
    meta.put_values({**{f"library-{i:05d}": p for i, p in enumerate(library)},
                     "library": json.dumps({"parts": len(library)}),
                     "CURRENT": json.dumps({"format": STORE_FORMAT, "version": version + 1,
                                            "manifest": token, "parts": len(parts),
                                            "passages": store.passages})})
    if store.passages != live_name:  # the rebuilt library is live: its predecessor goes
        try:
            meta.on(live_name).drop_passages()
        except (StoreUnavailable, StoreRefused) as exc:
            log.warning("the rebuilt library is live, but the old passages were not dropped: %s", exc)
    _retire(store, meta, old_rows, rows, version, manifest, current)
    return f"v{version + 1}"


def _retire(store: MilvusStore, meta: MilvusStore, old_rows: dict, rows: dict, version: int,
            manifest: dict, current: dict | None) -> None:
    """After the switch: delete the passages no longer vouched for (by id: no file name goes
    into an expression), rows of syncs that died before their switch, and the old manifest;
    only rows of version <= the old one, which no writer still works on. A failure here
    costs space, not answers (readers vouch by manifest), and the next sweep retries it."""
    gone = _ranges({s: r for s, r in old_rows.items() if list(rows.get(s, ())) != list(r)})
    try:
        for start in range(0, len(gone), 100):
            store.delete_where(_id_filter(gone[start:start + 100]))
        live = _ranges(rows)
        if len(live) <= MAX_SWEEP_RANGES:
            store.delete_where(f"gen <= {version} and not ({_id_filter(live)})")
        if current and "manifest" in current:
            meta.delete_values([_part_key(current["manifest"], i) for i in range(current["parts"])])
    except (StoreUnavailable, StoreRefused) as exc:
        log.warning("the new version is live, but old passages were not deleted: %s", exc)


def list_collections(location: MilvusLocation) -> list[str]:
    """The collections with an index in this Milvus store, by name."""
    return _guarded(location, lambda store: store.library_names(PREFIX))
