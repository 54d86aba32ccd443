"""`rag bench`: this pipeline against the raw libraries doing the same work, on this machine.

Every figure is measured in the run and printed beside the raw libraries'
figure for the same work, with their ratio (ours / raw):

- indexing: `rag index`'s code path (index_paths) on a corpus generated from the
  seeds, against SentenceTransformer.encode of the same chunk texts at its best
  batch size;
- retrieval: embed + search + fetch passages at the corpus size and at larger
  synthetic sizes, against a bare exact faiss search of the same vectors, with
  the recall of our index against exact search;
- time to first token and generation speed of Pipeline.ask_stream, against
  llama-cpp-python streaming the very messages the pipeline sent;
- peak RSS of serving and of indexing, read from child processes (VmHWM), so
  the bench's own memory does not count;
- cold start: launching `rag serve` until the page answers HTTP.

Fairness: each side loads its models before timing and warms up once on the
same input; both use the same thread count; the two LLMs are separate
llama.cpp instances asked the same questions in the same order. Ours keeps the
fixed instructions in its KV cache, as `rag serve` does; raw reads each prompt
whole, as llama.cpp does for a prompt it has not seen.
Heavy children run as `python -m rag.bench TASK ARGS_JSON`.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rag.errors import RagError
from rag.settings import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)

MARK = "BENCH-RESULT "  # prefixes the JSON line a child prints
BATCH_SIZES = (8, 16, 32, 64)
K = 10  # neighbours per retrieval query
COPY_NOISE = 1.0  # synthetic vectors: noise norm relative to their source (cosine ~0.7)
QUERY_NOISE = 0.5  # perturbed-copy queries: cosine ~0.9 to the stored vector they copy
MIN_QUERIES = 60  # latency samples per retrieval size
MEMORY_QUESTIONS = 3  # questions answered before reading a server's peak RSS
QUESTION_FILES = (PROJECT_ROOT.parent / "shared" / "eval" / "dev.jsonl",
                  PROJECT_ROOT / "tests" / "data" / "extra_questions.jsonl")
WARMUP_QUESTION = "How many drones did Russia launch at Ukraine?"


@dataclass(frozen=True)
class Figure:
    """One measured figure, ours beside the raw libraries', with its target."""

    key: str
    label: str
    unit: str
    ours: float
    raw: float | None
    target: str = ""
    ok: bool | None = None  # None: no target
    note: str = ""
    paired_ratio: float | None = None  # median of per-item ours / raw, where items pair up

    @property
    def ratio(self) -> float | None:
        """The paired ratio when there is one, else ours / raw; None without a raw figure."""
        if self.paired_ratio is not None:
            return self.paired_ratio
        return self.ours / self.raw if self.raw else None


# --- small measured helpers ---------------------------------------------------------------

def percentiles(ms: Sequence[float]) -> tuple[float, float]:
    """(p50, p95) of a list of timings."""
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def timed(fn: Callable[[], object]) -> float:
    """Milliseconds one call of fn takes."""
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def peak_rss_mb(pid: int | str = "self") -> float:
    """Peak resident memory (VmHWM) of a process in MB (10^6 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RagError("Peak memory needs Linux's /proc/PID/status (VmHWM).")


def busy_cpu_seconds() -> tuple[float, float]:
    """(CPU seconds all processes have been busy, CPU seconds of this process and its waited children)."""
    fields = [int(v) for v in _read("/proc/stat").split("\n", 1)[0].split()[1:]]
    busy = (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK") if fields else 0.0
    t = os.times()
    return busy, t.user + t.system + t.children_user + t.children_system


def others_share(before: tuple[float, float], after: tuple[float, float], seconds: float) -> float:
    """Share of the machine's CPU time other processes used between two busy_cpu_seconds()."""
    others = (after[0] - before[0]) - (after[1] - before[1])
    return max(0.0, others / (seconds * (os.cpu_count() or 1)))


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def machine() -> dict:
    """What the figures were measured on."""
    import faiss, llama_cpp, sentence_transformers, torch  # noqa: E401 - versions only

    cpuinfo = _read("/proc/cpuinfo")
    model = next((l.split(":", 1)[1].strip() for l in cpuinfo.splitlines() if l.startswith("model name")),
                 platform.processor())
    meminfo = _read("/proc/meminfo").splitlines()
    mem_kb = next((int(l.split()[1]) for l in meminfo if l.startswith("MemTotal")), 0)
    return {"cpu": model, "logical_cpus": os.cpu_count(), "physical_cores": physical_cores(cpuinfo),
            "ram_gb": round(mem_kb * 1024 / 1e9, 1), "python": platform.python_version(),
            "faiss": faiss.__version__, "llama_cpp_python": llama_cpp.__version__,
            "torch": torch.__version__, "sentence_transformers": sentence_transformers.__version__}


def physical_cores(cpuinfo: str) -> int:
    """Distinct (physical id, core id) pairs in /proc/cpuinfo; the logical count without them."""
    pairs = set()
    for block in cpuinfo.split("\n\n"):
        fields = dict(l.split(":", 1) for l in block.splitlines() if ":" in l)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        if "core id" in fields:
            pairs.add((fields.get("physical id"), fields["core id"]))
    return len(pairs) or os.cpu_count() or 1


def _read(path: str) -> str:
    return Path(path).read_text() if Path(path).exists() else ""


# --- corpus and synthetic vectors ---------------------------------------------------------

def make_corpus(folder: Path, seeds: Path, min_chunks: int, chunk_words: int = 80,
                chunk_overlap: int = 1, seed: int = 0) -> int:
    """Write articles mixing the seeds' sentences until they make min_chunks chunks; the count."""
    from rag.chunk import chunk_document
    from rag.ingest import load_documents, parse_document
    from rag.text import split_sentences

    docs, _ = load_documents([seeds])
    titles = [d.title for d in docs]
    sentences = [d.text[s:e].strip() for d in docs for a, b in d.spans[1:]
                 for s, e in split_sentences(d.text, a, b)]
    sentences = [s for s in sentences if len(s.split()) >= 4]
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    total, n = 0, 0
    while total < min_chunks:
        # Each article: a numbered title, then paragraphs of sentences drawn at random,
        # so chunks differ from each other and from the seeds.
        picked = rng.sample(sentences, min(len(sentences), rng.randint(15, 40)))
        paragraphs = [" ".join(picked[i:i + 5]) for i in range(0, len(picked), 5)]
        text = f"{rng.choice(titles)} (part {n})\n\n" + "\n\n".join(paragraphs) + "\n"
        data = text.encode("utf-8")
        source = f"article_{n:05d}.txt"
        (folder / source).write_bytes(data)
        total += len(chunk_document(parse_document(source, data), chunk_words, chunk_overlap))
        n += 1
    return total


def synthetic_vectors(real: np.ndarray, n: int, seed: int = 0, block: int = 100_000) -> np.ndarray:
    """n normalised vectors: the real ones first, then noisy copies of random real ones."""
    rng = np.random.default_rng(seed)
    m, dim = real.shape
    out = np.empty((n, dim), dtype=np.float32)
    out[:min(m, n)] = real[:n]
    scale = np.float32(COPY_NOISE / np.sqrt(dim))
    for start in range(m, n, block):
        stop = min(n, start + block)
        part = real[rng.integers(0, m, stop - start)]
        part += rng.standard_normal(part.shape, dtype=np.float32) * scale
        part /= np.linalg.norm(part, axis=1, keepdims=True)
        out[start:stop] = part
    return out


def perturbed_queries(vectors: np.ndarray, count: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Noisy copies of `count` stored vectors (so each has a true near neighbour), and their rows."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(vectors), min(count, len(vectors)), replace=False)
    queries = vectors[rows] + rng.standard_normal((len(rows), vectors.shape[1]), dtype=np.float32) \
        * np.float32(QUERY_NOISE / np.sqrt(vectors.shape[1]))
    return queries / np.linalg.norm(queries, axis=1, keepdims=True), rows


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Share of the true top-k rows (per query row) that were found."""
    hits = sum(len(set(f[f >= 0].tolist()) & set(t[t >= 0].tolist())) for f, t in zip(found, truth))
    return hits / max(1, int((truth >= 0).sum()))


def load_question_texts(path: Path | None) -> tuple[Path, list[str]]:
    """The question file to use (given, else the first that exists) and its questions."""
    from rag.evaluate import load_questions

    candidates = [path] if path else [p for p in QUESTION_FILES if p.is_file()]
    if not candidates:
        raise RagError("No question file found: pass --questions PATH.jsonl (shared/eval format).")
    return candidates[0], [q["question"] for q in load_questions(candidates[0])]


# --- children -----------------------------------------------------------------------------

def run_child(task: str, args: dict, timeout: float = 900) -> dict:
    """Run `python -m rag.bench TASK ARGS` and return the JSON it reports."""
    proc = subprocess.run([sys.executable, "-m", "rag.bench", task, json.dumps(args)],
                          capture_output=True, text=True, timeout=timeout, env=child_env())
    lines = [l for l in proc.stdout.splitlines() if l.startswith(MARK)]
    if proc.returncode or not lines:
        raise RagError(f"bench step {task} failed (exit {proc.returncode}): "
                       f"{proc.stderr.strip()[-800:]}")
    return json.loads(lines[-1][len(MARK):])


def child_env(**extra: str) -> dict[str, str]:
    """The environment for children: offline, quiet, no analytics."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               GRADIO_ANALYTICS_ENABLED="False", HF_HUB_DISABLE_TELEMETRY="1")
    env.update(extra)
    return env


def child_index(args: dict) -> dict:
    """Child: `rag index`'s code path on the corpus, timed after loading the model."""
    from rag.pipeline import index_paths, load_encoder

    settings = Settings(**args["settings"])
    encoder = load_encoder(settings)
    encoder.encode(["warm up"] * 32)
    started = time.perf_counter()
    report, _ = index_paths(settings, encoder, [Path(args["corpus"])])
    return {"chunks": report.chunks, "seconds": time.perf_counter() - started,
            "batch_size": getattr(encoder, "batch_size", None), "rss_mb": peak_rss_mb()}


def child_encode(args: dict) -> dict:
    """Child: SentenceTransformer.encode of the same chunk texts at its best batch size."""
    import torch
    from sentence_transformers import SentenceTransformer

    settings = Settings(**args["settings"])
    torch.set_num_threads(settings.threads)
    model = SentenceTransformer(settings.embedder, device="cpu", local_files_only=True)
    texts = json.loads(Path(args["texts"]).read_text(encoding="utf-8"))
    encode = lambda items, bs: model.encode(items, batch_size=bs, normalize_embeddings=True,  # noqa: E731
                                            convert_to_numpy=True, show_progress_bar=False)
    encode(["warm up"] * 32, 32)
    sample = random.Random(0).sample(texts, min(len(texts), args["sample"]))
    trials = {bs: len(sample) / (timed(lambda: encode(sample, bs)) / 1000) for bs in args["batch_sizes"]}
    best = max(trials, key=trials.get)
    started = time.perf_counter()
    encode(texts, best)
    return {"chunks": len(texts), "seconds": time.perf_counter() - started, "batch_size": best,
            "trials_chunks_per_s": trials, "rss_mb": peak_rss_mb()}


def child_ask_page(args: dict) -> dict:
    """Child: ask questions through a running page's Gradio API, as the browser does."""
    from gradio_client import Client

    client = Client(f"http://127.0.0.1:{args['port']}/", verbose=False)
    settings = Settings(**args["settings"])
    for question in args["questions"]:
        client.predict(question, api_name="/start")
        client.predict(settings.k, settings.temperature, settings.max_tokens, api_name="/answer")
    return {"asked": len(args["questions"])}


def child_raw_serve(args: dict) -> dict:
    """Child: the raw libraries serving a bare Gradio page, then doing each question's work."""
    import faiss
    import gradio as gr
    import torch
    from sentence_transformers import SentenceTransformer

    settings = Settings(**args["settings"])
    torch.set_num_threads(settings.threads)
    encoder = SentenceTransformer(settings.embedder, device="cpu", local_files_only=True)
    llm = raw_llama(settings)
    flat = faiss.read_index(args["vectors"])
    with gr.Blocks() as page:
        gr.Chatbot()
        gr.Textbox()
    page.launch(server_name="127.0.0.1", server_port=args["port"], quiet=True, ssr_mode=False,
                prevent_thread_lock=True)
    for item in args["calls"]:  # embed, search, complete the messages the pipeline sent
        flat.search(encoder.encode([item["question"]], normalize_embeddings=True), K)
        llm.create_chat_completion(messages=item["messages"], max_tokens=settings.max_tokens,
                                   temperature=settings.temperature, top_p=0.95, repeat_penalty=1.1)
    print(MARK + json.dumps({"answered": len(args["calls"])}), flush=True)
    while True:  # keep serving, like a server, until the bench stops it
        time.sleep(60)


def raw_llama(settings: Settings):
    """llama_cpp.Llama with the settings LlamaCppModel uses (context, threads, seed), else defaults."""
    from llama_cpp import Llama

    return Llama(model_path=settings.model, n_ctx=settings.n_ctx, n_threads=settings.threads,
                 n_threads_batch=settings.threads, seed=settings.seed, verbose=False)


CHILDREN = {"index": child_index, "encode": child_encode, "ask-page": child_ask_page,
            "raw-serve": child_raw_serve}


# --- sections -----------------------------------------------------------------------------

def bench_indexing(settings: Settings, work: Path, min_chunks: int,
                   say: Callable[[str], None]) -> tuple[list[Figure], dict, object]:
    """Chunks per second and peak RSS of indexing a generated corpus, ours vs raw encode; the index."""
    from rag.index import embedding_text, load_index, read_manifest

    corpus = work / "corpus"
    chunks = make_corpus(corpus, settings.corpus[0], min_chunks, settings.chunk_words, settings.chunk_overlap)
    say(f"indexing {chunks} chunks with `rag index`'s code path …")
    big = settings.model_copy(update={"index_dir": work / "big-index"})
    ours = run_child("index", {"settings": big.model_dump(mode="json"), "corpus": str(corpus)})
    manifest = read_manifest(big.index_dir)
    index = load_index(big.index_dir, manifest["embedder"], manifest["dim"])
    texts = work / "texts.json"
    texts.write_text(json.dumps([embedding_text(c) for c in index.chunks]), encoding="utf-8")
    say(f"encoding the same chunks with SentenceTransformer.encode (batch sizes {BATCH_SIZES}) …")
    raw = run_child("encode", {"settings": big.model_dump(mode="json"), "texts": str(texts),
                               "sample": 192, "batch_sizes": list(BATCH_SIZES)})
    ours_rate, raw_rate = ours["chunks"] / ours["seconds"], raw["chunks"] / raw["seconds"]
    figures = [
        Figure("index_chunks_per_s", f"indexing ({ours['chunks']} chunks)", "chunks/s", ours_rate, raw_rate,
               "≥ 0.9 × raw", ours_rate >= 0.9 * raw_rate,
               f"ours: load, chunk, embed (batch {ours['batch_size']}), BM25, save; raw: encode only, "
               f"best batch {raw['batch_size']}"),
        Figure("index_peak_rss_mb", "peak RSS, indexing", "MB", ours["rss_mb"], raw["rss_mb"],
               note="child processes (VmHWM); raw: SentenceTransformer.encode process"),
    ]
    return figures, {"indexing": {"ours": ours, "raw": raw}}, index


def bench_retrieval(encoder, index, questions: list[str], sizes: Sequence[int], k: int,
                    say: Callable[[str], None], milvus_uri: str = "") -> tuple[list[Figure], dict]:
    """Retrieval latency at the corpus size and at each synthetic size, and recall; ours vs raw;
    with milvus_uri, the Milvus backend over the same vectors too."""
    from rag.retrieve import Retriever

    real = index.vectors.vectors()
    texts = (questions * (MIN_QUERIES // len(questions) + 1))[:max(MIN_QUERIES, len(questions))]
    qvecs = encoder.encode(questions)
    figures, details = [], {}
    for n in [len(real), *sizes]:
        say(f"retrieval at {n:,} vectors …")
        vectors = real if n == len(real) else synthetic_vectors(real, n)
        chunks = index.chunks if n == len(real) else [index.chunks[i % len(real)] for i in range(n)]
        more, details[str(n)] = retrieval_at(encoder, vectors, chunks, texts, qvecs)
        figures += more
        if milvus_uri:
            say(f"Milvus retrieval at {n:,} vectors …")
            more, details[f"milvus_{n}"] = milvus_retrieval_at(
                encoder, vectors, texts, qvecs, milvus_uri, add=10_000 if n == max(sizes, default=0) else 0)
            figures += more
        del vectors, chunks
        gc.collect()
    retriever = Retriever(index, encoder, "hybrid")
    retriever.search(texts[0], k)
    hybrid = percentiles([timed(lambda t=t: retriever.search(t, k)) for t in texts])[0]
    n = len(real)
    figures.append(Figure(f"hybrid_retrieval_p50_ms_{n}", f"hybrid retrieval @ {n:,} p50", "ms", hybrid,
                          details[str(n)]["raw_exact_p50_ms"],
                          note=f"what `ask` runs: embed, dense + BM25 search, fusion, k={k}; "
                               "raw: bare faiss"))
    return figures, {"retrieval": details}


def retrieval_at(encoder, vectors: np.ndarray, chunks: list, texts: list[str],
                 qvecs: np.ndarray) -> tuple[list[Figure], dict]:
    """p50/p95 of embed + search + fetch vs bare exact faiss over the same vectors; recall vs exact."""
    import faiss

    from embeddings.vector_index import VectorIndex

    n, dim = vectors.shape
    started = time.perf_counter()
    ours = VectorIndex.build(dim, vectors)
    build_s = time.perf_counter() - started
    exact = faiss.IndexFlatIP(dim)
    exact.add(vectors)

    def query(text: str) -> list:
        _, rows = ours.search(encoder.encode([text]), K)
        return [chunks[r] for r in rows[0] if r >= 0]

    def one(index, i: int) -> Callable[[], object]:
        return lambda: index.search(qvecs[i % len(qvecs)][None, :], K)

    query(texts[0])  # warm-up, the same for both sides
    exact.search(qvecs[:1], K)
    ours_ms = [timed(lambda t=t: query(t)) for t in texts]
    raw_ms = [timed(one(exact, i)) for i in range(len(texts))]
    search_ms = [timed(one(ours, i)) for i in range(len(texts))]
    copies, _ = perturbed_queries(vectors, 200)
    recall_copies = recall_at_k(ours.search(copies, K)[1], exact.search(copies, K)[1])
    recall_questions = recall_at_k(ours.search(qvecs, K)[1], exact.search(qvecs, K)[1])
    recall = min(recall_copies, recall_questions)
    (p50, p95), (r50, r95) = percentiles(ours_ms), percentiles(raw_ms)
    limit = {100_000: 30.0, 1_000_000: 100.0}.get(n)
    label = f"retrieval @ {n:,} ({ours.kind})"
    figures = [
        Figure(f"retrieval_p50_ms_{n}", f"{label} p50", "ms", p50, r50, f"≤ {limit:g} ms" if limit else "",
               p50 <= limit if limit else None,
               "ours: embed the question + search + fetch passages; "
               "raw: bare exact faiss search of its vector"),
        Figure(f"retrieval_p95_ms_{n}", f"{label} p95", "ms", p95, r95),
        Figure(f"recall_at_{K}_{n}", f"recall@{K} vs exact @ {n:,}", "", recall, 1.0, "≥ 0.95",
               recall >= 0.95,
               f"lower of perturbed copies of stored vectors ({recall_copies:.3f}) and questions "
               f"({recall_questions:.3f})"),
    ]
    return figures, {**ours.describe(), "build_s": build_s, "ours_p50_ms": p50, "ours_p95_ms": p95,
                     "ours_search_only_p50_ms": percentiles(search_ms)[0], "raw_exact_p50_ms": r50,
                     "raw_exact_p95_ms": r95, "recall_copies": recall_copies,
                     "recall_questions": recall_questions, "queries": len(texts)}


def milvus_retrieval_at(encoder, vectors: np.ndarray, texts: list[str], qvecs: np.ndarray, uri: str,
                        add: int = 0, queries: int = 20) -> tuple[list[Figure], dict]:
    """The Milvus backend over the same vectors: load them, then p50 of embed + search and
    recall@10 against exact search; with add, the time to add that many passages (a sync's
    store work: insert, seal, switch) to the loaded library."""
    import faiss

    from embeddings.milvus_store import MilvusPassages, MilvusStore

    n, dim = vectors.shape
    store = MilvusStore(uri, f"rag_bench_{n}")
    store.drop()
    store.create(dim)
    started = time.perf_counter()
    step = 10_000
    for start in range(0, n, step):
        stop = min(n, start + step)
        store.insert(list(range(start, stop)), vectors[start:stop], [["x"]] * (stop - start),
                     ["s"] * (stop - start), ["{}"] * (stop - start), 1)
    store.flush()
    load_s = time.perf_counter() - started
    passages = MilvusPassages(store, np.arange(n), dim, 1)
    exact = faiss.IndexFlatIP(dim)
    exact.add(vectors)
    texts = texts[:queries]
    passages.search(encoder.encode([texts[0]]), K)  # warm-up, as for FAISS
    ours_ms = [timed(lambda t=t: passages.search(encoder.encode([t]), K)) for t in texts]
    copies, _ = perturbed_queries(vectors, queries)
    probes = np.concatenate([copies, qvecs[:queries]])
    found = np.stack([np.pad(passages.search(q[None, :], K)[1][0], (0, K), constant_values=-1)[:K]
                      for q in probes])
    recall = recall_at_k(found, exact.search(probes, K)[1])
    p50, p95 = percentiles(ours_ms)
    details = {"load_s": load_s, "ours_p50_ms": p50, "ours_p95_ms": p95, "recall": recall,
               "queries": len(texts), "uri": uri if "://" in uri else "Milvus Lite (a .db file)"}
    label = f"Milvus retrieval @ {n:,}"
    figures = [
        Figure(f"milvus_retrieval_p50_ms_{n}", f"{label} p50", "ms", p50, None,
               note="Milvus backend (RAG_STORE=milvus): embed the question + HNSW search in Milvus; "
                    "beside FAISS's figure for the same vectors above"),
        Figure(f"milvus_recall_at_{K}_{n}", f"Milvus recall@{K} vs exact @ {n:,}", "", recall, 1.0,
               "≥ 0.95", recall >= 0.95, f"perturbed copies of stored vectors and questions, {2 * len(texts)} probes"),
        Figure(f"milvus_load_s_{n}", f"Milvus: load {n:,} passages", "s", load_s, None,
               note="insert in batches of 10,000, then seal (flush)"),
    ]
    if add:
        extra = synthetic_vectors(vectors[:10_000], add, seed=2)
        began = time.perf_counter()
        for start in range(0, add, step):
            stop = min(add, start + step)
            store.insert(list(range(n + start, n + stop)), extra[start:stop], [["x"]] * (stop - start),
                         ["s"] * (stop - start), ["{}"] * (stop - start), 2)
        store.flush()
        store.put_values({"CURRENT": json.dumps({"version": 2})})  # the switch
        add_s = time.perf_counter() - began
        details["add_s"] = add_s
        figures.append(Figure(f"milvus_add_{add}_s_{n}", f"Milvus: add {add:,} passages to {n:,}", "s",
                              add_s, None, note="a sync's store work: insert, seal, switch; not the "
                              "embedding, which RAG_EMBED_URL moves to a GPU server"))
    for figure in figures:
        log.info("%s: %s %s", figure.label, _number(figure.ours, figure.unit), figure.unit)
    try:
        store.drop()
    except ConnectionError as exc:  # cleanup only: the figures stand (Milvus Lite's file goes with the run)
        log.warning("could not drop the bench collection: %s", exc)
    return figures, details


class RecordingModel:
    """Passes calls to the pipeline's LLM and records the messages it is sent, and when."""

    def __init__(self, llm) -> None:
        self.llm, self.name, self.n_ctx = llm, llm.name, llm.n_ctx
        self.calls: list[tuple[float, list[dict], int, float]] = []

    def count_tokens(self, text: str) -> int:
        """Tokens the wrapped model makes of text."""
        return self.llm.count_tokens(text)

    def stream_chat(self, messages: list[dict], max_tokens: int, temperature: float) -> Iterator[str]:
        """The wrapped model's stream, after noting the call."""
        self.calls.append((time.perf_counter(), messages, max_tokens, temperature))
        yield from self.llm.stream_chat(messages, max_tokens, temperature)

    def stream_answer(self, messages: list[dict], max_tokens: int, temperature: float) -> Iterator:
        """The wrapped model's verdict and stream, after noting the call."""
        self.calls.append((time.perf_counter(), messages, max_tokens, temperature))
        yield from self.llm.stream_answer(messages, max_tokens, temperature)


def token_times(stream: Iterator, started: float) -> tuple[float | None, float | None, int]:
    """(first-token ms, tokens/s after the first, pieces) of a stream of text pieces."""
    times = [time.perf_counter() for _ in stream]
    if not times:
        return None, None, 0
    rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else None
    return (times[0] - started) * 1000, rate, len(times)


def tokens_of(events: Iterator, finals: list) -> Iterator:
    """The Token events of an answer's stream; its final answer is appended to finals."""
    from rag.pipeline import Final, Token

    for event in events:
        if isinstance(event, Token):
            yield event
        elif isinstance(event, Final):
            finals.append(event.answer)


def overall_rate(rows: list[dict], prefix: str) -> float | None:
    """Tokens per second over several streams: tokens after each first one, over their total time."""
    tokens = sum(r[prefix] - 1 for r in rows)
    seconds = sum((r[prefix] - 1) / r[f"{prefix}_per_s"] for r in rows)
    return tokens / seconds if seconds else None


def raw_pieces(llm, messages: list[dict], max_tokens: int, temperature: float) -> Iterator[str]:
    """llama-cpp-python's own chat stream, with the sampling settings LlamaCppModel uses."""
    for part in llm.create_chat_completion(messages=messages, max_tokens=max_tokens, temperature=temperature,
                                           top_p=0.95, repeat_penalty=1.1, stream=True):
        if part["choices"][0].get("delta", {}).get("content"):
            yield part


def bench_answers(settings: Settings, encoder, questions: list[str],
                  say: Callable[[str], None]) -> tuple[list[Figure], dict, list[dict]]:
    """Time to first token and tokens/s of ask_stream vs llama-cpp-python on the same messages."""
    from rag.generate import LlamaCppModel
    from rag.pipeline import build_pipeline

    llm = RecordingModel(LlamaCppModel(settings.model, settings.n_ctx, settings.threads, settings.seed))
    pipeline = build_pipeline(settings, encoder=encoder, llm=llm)
    raw = raw_llama(settings)
    say(f"asking {len(questions)} questions, each through ask_stream and through raw llama.cpp …")
    rows, calls, judge_ms = [], [], []
    for i, question in enumerate([WARMUP_QUESTION, *questions]):
        before = len(llm.calls)
        started = time.perf_counter()
        finals: list = []
        ttft, rate, pieces = token_times(tokens_of(pipeline.ask_stream(question), finals), started)
        if i > 0:
            judge_ms.append(finals[0].timings_ms["judge"])
        if len(llm.calls) == before or ttft is None:  # refused before the model, or by its verdict
            answer_ms = (time.perf_counter() - started) * 1000
            rows.append({"question": question, "refused": True, "answer_ms": answer_ms})
            continue
        called, messages, max_tokens, temperature = llm.calls[before]  # the answer (then the
        raw.reset()  # comparison of sources may call again); raw reads the whole prompt, uncached
        raw_started = time.perf_counter()
        raw_stream = raw_pieces(raw, messages, max_tokens, temperature)
        raw_ttft, raw_rate, raw_count = token_times(raw_stream, raw_started)
        if i == 0:
            continue  # warm-up
        calls.append({"question": question, "messages": messages})
        rows.append({"question": question, "refused": False, "ttft_ms": ttft, "raw_ttft_ms": raw_ttft,
                     "before_llm_ms": (called - started) * 1000, "tokens": pieces, "raw_tokens": raw_count,
                     "tokens_per_s": rate, "raw_tokens_per_s": raw_rate,
                     "prompt_tokens": sum(llm.count_tokens(m["content"]) for m in messages)})
    answered = [r for r in rows if not r["refused"]]
    if not answered:
        raise RagError("No question reached the LLM: use a question file about the indexed seeds.")
    (t50, t95) = percentiles([r["ttft_ms"] for r in answered])
    (r50, r95) = percentiles([r["raw_ttft_ms"] for r in answered])
    rated = [r for r in answered if r["tokens_per_s"] and r["raw_tokens_per_s"]]
    gen, raw_gen = overall_rate(rated, "tokens"), overall_rate(rated, "raw_tokens")
    before = percentiles([r["before_llm_ms"] for r in answered])[0]
    prompt = percentiles([r["prompt_tokens"] for r in answered])[0]
    paired = float(np.median([r["ttft_ms"] / r["raw_ttft_ms"] for r in answered]))
    refused = len(questions) - len(answered)
    note = (f"{len(answered)} of {len(questions)} questions reached the LLM ({refused} "
            f"refused before the model, or by its verdict); ratio: median over questions of ours (the first word "
            f"after the verdict) / raw on the same prompt; p50 {before:.0f} ms of ours is retrieval + ranking + "
            f"prompt building; prompts ~{prompt:.0f} "
            "tokens; one warm-up question each, then ours and raw alternate; ours reuses the fixed "
            "instructions from its KV cache, raw reads each prompt whole (uncached)")
    j50 = percentiles(judge_ms)[0]
    figures = [
        Figure("ttft_p50_ms", "time to first token p50, vs raw", "ms", t50, r50, "≤ 0.8 × raw",
               paired <= 0.8, note, paired),
        Figure("ttft_p50_ms_absolute", "time to first token p50, absolute", "ms", t50, r50, "≤ 2000 ms",
               t50 <= 2000, note, paired),
        Figure("judge_p50_ms", "judge per question p50", "ms", j50, None, "≤ 300 ms", j50 <= 300,
               f"all {len(judge_ms)} questions: ranking the passages' sentences (what the model reads) and "
               "checking its answer against them; the verdict is the answer's first token, inside the "
               "time to first token"),
        Figure("ttft_p95_ms", "time to first token p95", "ms", t95, r95),
        Figure("generation_tokens_per_s", "generation (streaming)", "tokens/s", gen, raw_gen, "≥ 0.95 × raw",
               bool(raw_gen) and gen >= 0.95 * raw_gen,
               "all tokens after each answer's first, over their time; same tokens on both sides (greedy)"),
    ]
    prompt_rate = float(np.median([r["prompt_tokens"] / r["raw_ttft_ms"] * 1000 for r in answered]))
    del pipeline, raw
    gc.collect()
    return figures, {"answers": rows, "raw_prompt_tokens_per_s_p50": prompt_rate}, calls


def wait_for_page(proc: subprocess.Popen, port: int, timeout: float = 120) -> float:
    """Seconds from now until http://127.0.0.1:port/ answers 200 (the process must stay alive)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if proc.poll() is not None:
            raise RagError(f"the server exited with code {proc.returncode} before serving the page")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                if response.status == 200:
                    return time.perf_counter() - started
        except OSError:
            time.sleep(0.1)
    raise RagError(f"the page did not answer within {timeout:.0f} s")


def serve_and_measure(command: list[str], port: int, env: dict[str, str],
                      then: Callable[[subprocess.Popen], object],
                      capture: bool = False) -> tuple[float, float]:
    """(seconds from launch until the page answers, peak RSS MB after `then`) of a server, then stopped.

    With capture, `then` can read the server's stdout; otherwise it goes to the log file.
    """
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as log_file:  # a file, not a pipe: a full pipe would stall it
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE if capture else log_file,
                                stderr=log_file, text=True)
        try:
            wait_for_page(proc, port)
            seconds = time.perf_counter() - started
            then(proc)
            return seconds, peak_rss_mb(proc.pid)
        except RagError as exc:
            log_file.seek(0)
            raise RagError(f"{' '.join(command[1:4])}: {exc}: {log_file.read()[-800:]}") from exc
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def read_result(proc: subprocess.Popen, timeout: float = 600) -> dict:
    """The JSON result line a running child prints (it keeps running)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
        if not line and proc.poll() is not None:
            break
    raise RagError("the raw server stopped before reporting")


def bench_serving(settings: Settings, work: Path, questions: list[str], calls: list[dict],
                  say: Callable[[str], None]) -> tuple[list[Figure], dict]:
    """Seconds from launch to an answering page, and peak RSS after answering; `rag serve` vs raw."""
    from rag.index import load_index, read_manifest

    dumped = settings.model_dump(mode="json")
    asked = questions[:MEMORY_QUESTIONS]
    say(f"cold start of `rag serve`, then its peak RSS after answering {len(asked)} questions on the page …")
    port = free_port()
    ours_s, ours_mb = serve_and_measure(
        [sys.executable, "-m", "rag", "serve", "--port", str(port)], port,
        child_env(RAG_INDEX_DIR=str(settings.index_dir)),
        lambda proc: run_child("ask-page", {"settings": dumped, "port": port, "questions": asked}))
    say("the same with the raw libraries and a bare Gradio page …")
    manifest = read_manifest(settings.index_dir)
    vectors = work / "seeds.faiss"
    load_index(settings.index_dir, manifest["embedder"], manifest["dim"]).vectors.save(vectors)
    port = free_port()
    raw_calls = calls[:MEMORY_QUESTIONS]
    raw_s, raw_mb = serve_and_measure(
        [sys.executable, "-m", "rag.bench", "raw-serve",
         json.dumps({"settings": dumped, "port": port, "vectors": str(vectors), "calls": raw_calls})],
        port, child_env(), read_result, capture=True)
    figures = [
        Figure("serve_peak_rss_mb", "peak RSS, serving the seeds", "MB", ours_mb, raw_mb, "≤ 2500 MB",
               ours_mb <= 2500, f"ours: the `rag serve` process after answering {len(asked)} questions "
               f"through its page's API; raw: a bare Gradio page with both models, after embedding, "
               f"searching and completing the same {len(raw_calls)} prompts"),
        Figure("cold_start_s", "cold start to page", "s", ours_s, raw_s, "≤ 15 s", ours_s <= 15,
               "launch until HTTP 200 on /, index present; raw: load both models, serve a bare Gradio page; "
               "OS file cache warm"),
    ]
    return figures, {"serving": {"ours_rss_mb": ours_mb, "raw_rss_mb": raw_mb, "ours_start_s": ours_s,
                                 "raw_start_s": raw_s}}


def run_bench(settings: Settings, questions_path: Path | None = None, min_chunks: int = 5000,
              sizes: Sequence[int] = (100_000, 1_000_000), say: Callable[[str], None] = log.info,
              store: str = "faiss", only: Sequence[str] = ()) -> dict:
    """Run every section (or only those named) and return one JSON-ready report; store
    "milvus" adds the Milvus backend's retrieval beside FAISS's (RAG_MILVUS_URI's server, or
    Milvus Lite in a temporary file)."""
    from rag.pipeline import index_paths, load_encoder

    started, cpu_start = time.perf_counter(), busy_cpu_seconds()
    load_start = os.getloadavg()
    questions_path, questions = load_question_texts(questions_path)
    figures, details, sections = [], {}, {}

    def section(name: str, run: Callable[[], tuple]) -> tuple:
        """Run one section, keep its figures and details, note its time and the CPU others used."""
        began, cpu = time.perf_counter(), busy_cpu_seconds()
        more, info, *rest = run()
        figures.extend(more)
        details.update(info)
        seconds = time.perf_counter() - began
        sections[name] = {"seconds": seconds,
                          "other_processes_cpu_share": others_share(cpu, busy_cpu_seconds(), seconds)}
        return tuple(rest)

    with tempfile.TemporaryDirectory(prefix="rag-bench-") as tmp:
        work = Path(tmp)
        settings = settings.model_copy(update={"index_dir": work / "seeds-index"})
        settings = settings.model_copy(update={"store": "faiss"})  # the app's paths; Milvus beside
        milvus_uri = "" if store != "milvus" else \
            settings.milvus_uri if "://" in settings.milvus_uri else str(work / "bench-milvus.db")
        (big,) = section("indexing", lambda: bench_indexing(settings, work, min_chunks, say))
        encoder = load_encoder(settings)
        if not only or "retrieval" in only:
            section("retrieval", lambda: bench_retrieval(encoder, big, questions, sizes, settings.k,
                                                         say, milvus_uri))
        big = None  # free the 5k index before the models of the next sections load
        gc.collect()
        if not only or {"answers", "serving"} & set(only):
            index_paths(settings, encoder)
            (calls,) = section("answers", lambda: bench_answers(settings, encoder, questions, say))
        if not only or "serving" in only:
            section("serving", lambda: bench_serving(settings, work, questions, calls, say))
    details["sections"] = sections
    seconds = time.perf_counter() - started
    return {"machine": machine(), "threads": settings.threads, "questions": str(questions_path),
            "models": {"llm": Path(settings.model).name, "embedder": Path(settings.embedder).name},
            "load_average": {"start": load_start, "end": os.getloadavg()},
            "other_processes_cpu_share": others_share(cpu_start, busy_cpu_seconds(), seconds),
            "seconds": seconds,
            "figures": {f.key: {**asdict(f), "ratio": f.ratio} for f in figures},
            "passed": all(f.ok for f in figures if f.ok is not None), "details": details}


def _number(value: float | None, unit: str) -> str:
    """A figure with as many decimals as its size deserves."""
    if value is None:
        return "—"
    if unit == "":
        return f"{value:.3f}"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else \
        f"{value:.2f}" if value >= 0.1 else f"{value:.3f}"


def report_table(report: dict):
    """The report as a rich Table: figure, ours, raw, ratio, target, pass; notes as footnotes."""
    from rich.table import Table

    m, load = report["machine"], report["load_average"]
    figures = list(report["figures"].values())
    notes = list(dict.fromkeys(f["note"] for f in figures if f["note"]))
    title = (f"rag bench — {m['cpu']}, {m['physical_cores']} cores, {m['ram_gb']} GB RAM, "
             f"{report['threads']} threads; load average {load['start'][0]:.2f} → {load['end'][0]:.2f}; "
             f"other processes used {report['other_processes_cpu_share']:.0%} of the CPU; "
             f"{report['seconds']:.0f} s")
    caption = "ratio = ours / raw unless a note says otherwise. " + \
        " ".join(f"[{i}] {n}." for i, n in enumerate(notes, 1))
    table = Table(title=title, caption=caption, caption_justify="left")
    for name in ("figure", "ours", "raw", "ratio", "target", "pass"):
        table.add_column(name, justify="left" if name in ("figure", "target") else "right")
    for f in figures:
        mark = "" if f["ok"] is None else "[green]pass[/green]" if f["ok"] else "[red]FAIL[/red]"
        unit = f" {f['unit']}" if f["unit"] else ""
        ref = f" [{notes.index(f['note']) + 1}]" if f["note"] else ""
        ratio = "—" if f["ratio"] is None else _number(f["ratio"], "×")
        table.add_row(f["label"] + ref, _number(f["ours"], f["unit"]) + unit,
                      _number(f["raw"], f["unit"]) + unit, ratio, f["target"], mark)
    return table


def _child_main(argv: list[str]) -> None:
    """Entry point of `python -m rag.bench TASK ARGS_JSON`."""
    logging.basicConfig(level=logging.WARNING)
    result = CHILDREN[argv[1]](json.loads(argv[2]))
    print(MARK + json.dumps(result), flush=True)


if __name__ == "__main__":
    _child_main(sys.argv)
