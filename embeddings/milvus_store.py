"""Milvus adapter: passages' vectors and BM25 terms in one Milvus collection, and a small
key-value collection beside it. Integer ids, arrays and strings only.

One code path serves Milvus Lite (the URI is a file path: pymilvus starts the embedded
engine in this process, which then holds the file's lock) and a Milvus server or cluster
(`http://host:19530`, shared by many processes and machines).

Each passage row holds its vector, its BM25 terms (the caller's tokens, each written in
hex so Milvus' analyzer cannot split them: the same stemming and stopwords as the FAISS
backend's bm25s, so both score the same words), an opaque payload string, its source and `gen`, the library version that
wrote it. Milvus turns the terms into a sparse BM25 vector itself (a BM25 function on
the field), so dense and lexical search both run in the engine. A reader passes the
version it loaded as `max_gen`: rows written by a newer, unfinished sync are invisible
to it (see rag.index_milvus for the whole protocol).

The dense index is HNSW (M 16, efConstruction 200, ef 128). `rag bench --store milvus`
measures its recall@10 against exact search and its latency at 100k and 1M passages.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Iterator

import numpy as np
import pymilvus  # noqa: F401  (it configures its loggers when imported: they are quieted after)

log = logging.getLogger(__name__)
# They log each failed call with a traceback (and Milvus Lite's in-process gRPC server each
# call it does not implement, which pymilvus then works around); our errors say why.
for _name in ("pymilvus", "pymilvus.milvus_client", "milvus_lite", "grpc._server"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)

BATCH = 1000  # rows per insert, get or delete call
PAGE = 10_000  # rows per query (Milvus returns at most 16,384)
MAX_TEXT = 65_535  # Milvus' longest VARCHAR, in bytes
TIMEOUT = 30.0  # seconds for one call before the store counts as unreachable
CONNECT_TIMEOUT = 5.0
# What pymilvus and grpc say when the store cannot be reached (anything else is a refusal).
UNREACHABLE = ("fail connecting", "unavailable", "deadline", "connection", "connect to", "timeout",
               "timed out", "closed", "socket", "failed to connect", "open local milvus failed")
HNSW = {"M": 16, "efConstruction": 200}
EF = 128  # HNSW candidates per query: recall@10 >= 0.95 at 1M (rag bench --store milvus)
BM25 = {"bm25_k1": 1.2, "bm25_b": 0.75}  # bm25s' defaults, as the FAISS backend uses


class StoreUnavailable(ConnectionError):
    """The Milvus store could not be reached or refused a call; the message names the URI."""


class StoreChanged(StoreUnavailable):
    """Rows a reader was promised are gone: a newer library version replaced them."""


class StoreRefused(RuntimeError):
    """The Milvus store was reached but refused a call (a value too long, a bad expression)."""


class StoreMismatch(ValueError):
    """The Milvus collection exists with another shape (vector size, fields)."""


def collection_base(prefix: str, name: str) -> str:
    """A Milvus collection name for a library name of letters, digits, - and _ (Milvus allows
    letters, digits and _ only): _ is written __ and - is written _d, so no two names meet."""
    return prefix + name.replace("_", "__").replace("-", "_d")


def library_name(prefix: str, base: str) -> str:
    """The library name collection_base(prefix, name) was made from."""
    return re.sub("_(.)", lambda m: "_" if m[1] == "_" else "-", base[len(prefix):])


class MilvusStore:
    """The passages and the key-value rows of one library, in one Milvus database."""

    def __init__(self, uri: str, base: str) -> None:
        self.uri, self.display = uri, display_uri(uri)
        self.passages, self.meta = f"{base}_passages", f"{base}_meta"
        self._twins: dict[str, MilvusStore] = {}
        try:
            self._connect()
        except Exception as exc:  # pymilvus raises its own and grpc's errors here
            raise StoreUnavailable(f"Cannot reach the Milvus store at {self.display}: {_reason(exc)}") from exc

    def _connect(self) -> None:
        from pymilvus import MilvusClient

        self._client = MilvusClient(uri=self.uri, timeout=CONNECT_TIMEOUT)

    def _call(self, method: str, *args, **kwargs):
        """client.method(...): a failure to reach the store is StoreUnavailable, a call it
        refuses StoreRefused, both naming the URI. After a lost connection the next call
        connects afresh (pymilvus gives up on a connection once the server went away), and a
        restarted engine's collections, which start released, are loaded again."""
        try:
            if self._client is None:
                self._connect()
                self.open()
            return getattr(self._client, method)(*args, timeout=TIMEOUT, **kwargs)
        except Exception as exc:
            if "load()" not in str(exc) and "not loaded" not in str(exc):
                raise self._failure(method, exc) from exc
        try:
            self.open()
            return getattr(self._client, method)(*args, timeout=TIMEOUT, **kwargs)
        except Exception as exc:
            raise self._failure(method, exc) from exc

    def _failure(self, method: str, exc: Exception) -> Exception:
        reason = _reason(exc)
        if not any(sign in reason.lower() for sign in UNREACHABLE):
            return StoreRefused(f"The Milvus store at {self.display} refused {method}: {reason}")
        self._client = None
        return StoreUnavailable(f"The Milvus store at {self.display} failed ({method}): {reason}")

    # -- the collections ---------------------------------------------------------------

    def exists(self) -> bool:
        """True when this library's key-value collection exists."""
        return bool(self._call("has_collection", self.meta))

    def library_names(self, prefix: str) -> list[str]:
        """The names of the libraries in this database whose bases (collection_base) start with prefix."""
        names = self._call("list_collections")
        return sorted(library_name(prefix, n[: -len("_meta")]) for n in names
                      if n.startswith(prefix) and n.endswith("_meta"))

    def create(self, dim: int, passages: bool = True) -> None:
        """Create the key-value collection, and with passages the passages one, when missing;
        StoreMismatch when passages exist with vectors of another size."""
        if passages:
            self._create_passages(dim)
        self._create_meta()

    def _create_passages(self, dim: int) -> None:
        from pymilvus import DataType, Function, FunctionType, MilvusClient

        if self._call("has_collection", self.passages):
            if self.dimension() != dim:
                raise StoreMismatch(f"{self.passages} holds {self.dimension()}-dimensional vectors, not {dim}")
            return
        schema = MilvusClient.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field("terms", DataType.VARCHAR, max_length=MAX_TEXT, enable_analyzer=True,
                         enable_match=True, analyzer_params={"tokenizer": "standard"})
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("source", DataType.VARCHAR, max_length=MAX_TEXT)
        schema.add_field("gen", DataType.INT64)
        schema.add_field("payload", DataType.VARCHAR, max_length=MAX_TEXT)
        schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                     input_field_names=["terms"], output_field_names=["sparse"]))
        index = MilvusClient.prepare_index_params()
        index.add_index("vector", index_type="HNSW", metric_type="IP", params=HNSW)
        index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params=BM25)
        self._call("create_collection", self.passages, schema=schema, index_params=index,
                   consistency_level="Strong")
        self._call("load_collection", self.passages)

    def _create_meta(self) -> None:
        from pymilvus import DataType, MilvusClient

        if self._call("has_collection", self.meta):
            return
        schema = MilvusClient.create_schema(auto_id=False)
        schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=256)
        schema.add_field("value", DataType.VARCHAR, max_length=MAX_TEXT)
        schema.add_field("unused", DataType.FLOAT_VECTOR, dim=2)  # Milvus needs a vector field
        index = MilvusClient.prepare_index_params()
        index.add_index("unused", index_type="FLAT", metric_type="L2")
        self._call("create_collection", self.meta, schema=schema, index_params=index,
                   consistency_level="Strong")
        self._call("load_collection", self.meta)

    def open(self) -> None:
        """Make existing collections searchable (a restarted engine starts with them released)."""
        if self._client is None:
            self._connect()
        for name in (self.meta, self.passages):
            if self._client.has_collection(name, timeout=TIMEOUT):
                self._client.load_collection(name, timeout=TIMEOUT)

    def dimension(self) -> int:
        """The passages' vector size."""
        info = self._call("describe_collection", self.passages)
        vector = next(f for f in info["fields"] if f["name"] == "vector")
        return int(vector["params"]["dim"])

    def drop(self) -> None:
        """Delete both collections."""
        for name in (self.passages, self.meta):
            if self._call("has_collection", name):
                self._call("drop_collection", name)

    def on(self, passages: str) -> "MilvusStore":
        """This store with its passages in the collection named passages (a library rebuilt
        for another vector size or layout goes into a new one, beside the live one)."""
        if passages == self.passages:
            return self
        if passages not in self._twins:
            twin = copy.copy(self)
            twin.passages, twin._twins = passages, {}
            self._twins[passages] = twin
        return self._twins[passages]

    def has_passages(self) -> bool:
        """True when the passages collection exists."""
        return bool(self._call("has_collection", self.passages))

    def drop_passages(self) -> None:
        """Delete the passages collection."""
        if self.has_passages():
            self._call("drop_collection", self.passages)

    # -- key-value rows ----------------------------------------------------------------

    def get_values(self, keys: list[str]) -> dict[str, str]:
        """The values stored under keys (missing keys are left out)."""
        if not keys:
            return {}
        rows = self._call("get", self.meta, ids=keys, output_fields=["value"])
        return {r["key"]: r["value"] for r in rows}

    def put_values(self, values: dict[str, str]) -> None:
        """Store (or replace) values by key; each value at most MAX_TEXT bytes."""
        rows = [{"key": k, "value": v, "unused": [0.0, 0.0]} for k, v in values.items()]
        for start in range(0, len(rows), BATCH):
            self._call("upsert", self.meta, rows[start:start + BATCH])

    def delete_values(self, keys: list[str]) -> None:
        """Remove the values stored under keys."""
        if keys:
            self._call("delete", self.meta, ids=keys)

    def keys(self, prefix: str) -> list[str]:
        """The keys that start with prefix."""
        escaped = prefix.replace("\\", "\\\\").replace('"', '\\"')
        rows = self._call("query", self.meta, filter=f'key like "{escaped}%"', output_fields=["key"])
        return [r["key"] for r in rows]

    # -- passages ----------------------------------------------------------------------

    def insert(self, ids: list[int], vectors: np.ndarray, terms: list[list[str]], sources: list[str],
               payloads: list[str], gen: int) -> None:
        """Add passage rows, all written by library version gen; terms are each row's BM25
        tokens; a payload or source over MAX_TEXT bytes is StoreRefused, naming the source."""
        for source, payload in zip(sources, payloads):
            if max(len(payload.encode()), len(source.encode())) > MAX_TEXT:
                raise StoreRefused(f"{source} has a passage of {len(payload.encode()):,} bytes, more than "
                                   f"Milvus stores in one field ({MAX_TEXT:,})")
        for start in range(0, len(ids), BATCH):
            end = start + BATCH
            rows = [{"id": int(i), "vector": v.tolist(), "terms": _tokens(t), "source": s, "gen": gen,
                     "payload": p}
                    for i, v, t, s, p in zip(ids[start:end], vectors[start:end], terms[start:end],
                                             sources[start:end], payloads[start:end])]
            self._call("insert", self.passages, rows)

    def flush(self) -> None:
        """Seal what was inserted into indexed segments (Milvus Lite searches unsealed rows by
        brute force in Python: at 100k rows 0.96 s a query before, 0.14 s after, measured)."""
        self._call("flush", self.passages)

    def delete(self, ids: list[int]) -> None:
        """Remove passage rows by id."""
        for start in range(0, len(ids), BATCH):
            self._call("delete", self.passages, ids=[int(i) for i in ids[start:start + BATCH]])

    def delete_where(self, expression: str) -> None:
        """Remove the passage rows a Milvus filter expression selects."""
        self._call("delete", self.passages, filter=expression)

    def rows(self, max_gen: int, fields: list[str], ranges: list[tuple[int, int]]) -> Iterator[dict]:
        """Every row written up to version max_gen whose id lies in one of the [start, end)
        ranges, with fields (id always included). Read in id pages (Milvus Lite has no query
        iterator, and a query returns at most 16,384 rows)."""
        for first, end in ranges:
            for start in range(first, end, PAGE):
                yield from self._call("query", self.passages, limit=PAGE,
                                      filter=f"gen <= {int(max_gen)} and id >= {start} and "
                                             f"id < {min(end, start + PAGE)}",
                                      output_fields=["id", *fields])

    def vectors(self, ids: list[int], dim: int) -> np.ndarray:
        """The stored vectors of ids, in that order."""
        if not len(ids):
            return np.zeros((0, dim), np.float32)
        found: dict[int, list[float]] = {}
        for start in range(0, len(ids), BATCH):
            part = [int(i) for i in ids[start:start + BATCH]]
            for row in self._call("get", self.passages, ids=part, output_fields=["vector"]):
                found[int(row["id"])] = row["vector"]
        missing = [int(i) for i in ids if int(i) not in found]
        if missing:  # a sync deleted them since they were found: the caller's version is gone
            raise StoreChanged(f"The library in the Milvus store at {self.display} changed while "
                               f"it was read ({len(missing)} passages replaced): ask or sync again")
        return np.asarray([found[int(i)] for i in ids], dtype=np.float32)

    def dense(self, query: np.ndarray, depth: int, max_gen: int) -> list[tuple[int, float]]:
        """(id, inner product) of the depth nearest rows, best first."""
        result = self._call("search", self.passages, data=[np.asarray(query, np.float32).tolist()],
                            anns_field="vector", limit=depth, filter=f"gen <= {int(max_gen)}",
                            output_fields=["id"],
                            search_params={"metric_type": "IP", "params": {"ef": max(EF, depth)}})
        return [(int(h["id"]), float(h["distance"])) for h in result[0]]

    def lexical(self, terms: list[str], depth: int, max_gen: int) -> list[tuple[int, float]]:
        """(id, BM25 score) of the depth best rows for the terms, best first."""
        text = _tokens(terms)
        if not text:
            return []
        result = self._call("search", self.passages, data=[text], anns_field="sparse", limit=depth,
                            filter=f"gen <= {int(max_gen)}", output_fields=["id"],
                            search_params={"metric_type": "BM25"})
        # Milvus Lite reports BM25 as a negative distance, a server as a positive score.
        return [(int(h["id"]), abs(float(h["distance"]))) for h in result[0]]

    def document_frequency(self, term: str, max_gen: int) -> int:
        """How many rows up to version max_gen hold the term."""
        rows = self._call("query", self.passages,
                          filter=f"gen <= {int(max_gen)} and TEXT_MATCH(terms, '{_tokens([term])}')",
                          output_fields=["count(*)"])
        return int(rows[0]["count(*)"])


class MilvusPassages:
    """The rows one library version vouches for, searched by position 0..n-1 in `ids`: the
    interface of VectorIndex (search, vectors_at) and LexicalIndex (top, document_frequency)
    that the retriever uses, so it does not know which backend it talks to."""

    def __init__(self, store: MilvusStore, ids: np.ndarray, dim: int, gen: int) -> None:
        self.store, self.dim, self.gen = store, dim, gen
        self.ids = np.asarray(ids, dtype=np.int64)  # sorted
        self._df: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def _positions(self, found: list[tuple[int, float]]) -> list[tuple[int, float]]:
        """(position, score) of the found ids this version vouches for (a replaced row that a
        finishing sync has not deleted yet is not one of them)."""
        if not found:
            return []
        ids = np.asarray([i for i, _ in found], dtype=np.int64)
        at = np.minimum(np.searchsorted(self.ids, ids), max(len(self.ids) - 1, 0))
        return [(int(p), s) for p, i, (_, s) in zip(at, ids, found) if len(self.ids) and self.ids[p] == i]

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """As VectorIndex.search, for one query."""
        if not len(self):
            return np.zeros((1, 0), np.float32), np.zeros((1, 0), np.int64)
        found = self._positions(self.store.dense(queries[0], max(1, min(k, len(self))), self.gen))
        return (np.asarray([[s for _, s in found]], np.float32),
                np.asarray([[p for p, _ in found]], np.int64))

    def vectors_at(self, rows: list[int]) -> np.ndarray:
        """The stored vectors of the given positions."""
        return self.store.vectors([int(self.ids[r]) for r in rows], self.dim)

    def top(self, terms: list[str], depth: int) -> list[tuple[int, float]]:
        """As LexicalIndex.top."""
        if not len(self):
            return []
        return [(p, s) for p, s in self._positions(self.store.lexical(terms, depth, self.gen)) if s > 0]

    def document_frequency(self, token: str) -> int:
        """As LexicalIndex.document_frequency (remembered: a term's count is asked once)."""
        if token not in self._df:
            self._df[token] = self.store.document_frequency(token, self.gen)
        return self._df[token]


def _tokens(terms: list[str]) -> str:
    """The terms as the text Milvus' analyzer splits back into exactly them: each term in hex
    (Milvus Lite has only a "standard" tokenizer, which would split s-400 or 3.5 in two)."""
    return " ".join("x" + t.encode().hex() for t in terms)


def display_uri(uri: str) -> str:
    """The URI without the user and password it may carry (http://user:pass@host:19530)."""
    return re.sub(r"(?<=://)[^/@]*@", "", uri)


def _reason(exc: Exception) -> str:
    """A one-line reason from a pymilvus or grpc error."""
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return " ".join(str(message).split())[:300]
