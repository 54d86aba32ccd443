"""The benchmark's helpers at tiny sizes, and the vector index switching from exact to IVF."""

import subprocess
import sys

import numpy as np
import pytest
from rich.console import Console

from embeddings.vector_index import VectorIndex
from rag import bench
from rag.chunk import chunk_document
from rag.errors import RagError
from rag.ingest import load_documents
from tests.conftest import REPO


def clustered(n: int, dim: int = 32, centres: int = 20, seed: int = 0) -> np.ndarray:
    """Normalised vectors around a few centres, like embeddings of a few topics."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((centres, dim), dtype=np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    return bench.synthetic_vectors(base, n, seed=seed)


def test_generated_corpus_has_enough_distinct_chunks(tmp_path):
    made = bench.make_corpus(tmp_path / "corpus", REPO / "seeds", min_chunks=40)
    docs, skipped = load_documents([tmp_path / "corpus"])
    texts = [c.text for d in docs for c in chunk_document(d)]
    assert not skipped and made == len(texts) >= 40
    assert len(set(texts)) >= 0.95 * len(texts)
    seed_texts = {c.text for d in load_documents([REPO / "seeds"])[0] for c in chunk_document(d)}
    assert len(set(texts) - seed_texts) >= 0.9 * len(texts)  # mixed, not copies of the seeds


def test_synthetic_vectors_keep_the_real_ones_and_stay_near_them():
    real = clustered(50)
    vectors = bench.synthetic_vectors(real, 400)
    assert vectors.shape == (400, 32) and vectors.dtype == np.float32
    assert np.allclose(vectors[:50], real)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    nearest = (vectors[50:] @ real.T).max(axis=1)  # each copy is near its source, not on it
    assert nearest.min() > 0.4 and 0.6 < nearest.mean() < 0.8


def test_perturbed_queries_find_the_vector_they_copy():
    vectors = clustered(500)
    queries, rows = bench.perturbed_queries(vectors, 20)
    assert np.array_equal((queries @ vectors.T).argmax(axis=1), rows)


def test_recall_counts_true_neighbours_found_and_ignores_padding():
    truth = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    found = np.array([[4, 3, 9, -1], [5, 6, 7, 8]])
    assert bench.recall_at_k(found, truth) == pytest.approx(6 / 8)


def test_percentiles_and_figure_ratio():
    assert bench.percentiles(list(range(1, 101))) == pytest.approx((50.5, 95.05))
    assert bench.Figure("x", "x", "ms", 30.0, 20.0).ratio == pytest.approx(1.5)
    assert bench.Figure("x", "x", "ms", 30.0, None).ratio is None
    assert bench.Figure("x", "x", "ms", 30.0, 20.0, paired_ratio=1.02).ratio == 1.02


def test_generation_rate_weighs_streams_by_their_tokens():
    rows = [{"tokens": 11, "tokens_per_s": 10.0}, {"tokens": 31, "tokens_per_s": 30.0}]
    assert bench.overall_rate(rows, "tokens") == pytest.approx(40 / 2)  # 40 tokens in 1 s + 1 s
    assert bench.overall_rate([{"tokens": 1, "tokens_per_s": 5.0}], "tokens") is None


def test_answer_streams_are_timed_by_their_tokens_and_keep_the_final_answer():
    from rag.pipeline import Final, Retrieved, Token

    answer = object()
    events = [Retrieved(()), Token("Thirty"), Token(" five"), Final(answer)]
    finals: list = []
    assert [t.text for t in bench.tokens_of(iter(events), finals)] == ["Thirty", " five"]
    assert finals == [answer]


def test_physical_cores_count_cores_not_hyperthreads():
    cpu = "processor\t: {n}\nphysical id\t: 0\ncore id\t\t: {c}\n"
    info = "\n".join(cpu.format(n=n, c=n % 2) for n in range(4))
    assert bench.physical_cores(info) == 2


def test_peak_rss_of_this_process_is_plausible():
    assert 10 < bench.peak_rss_mb() < 100_000


def test_cpu_used_by_this_process_is_not_counted_as_others(monkeypatch):
    before = bench.busy_cpu_seconds()
    started = bench.time.perf_counter()
    while bench.time.perf_counter() - started < 0.3:
        pass  # busy ourselves
    after = bench.busy_cpu_seconds()
    assert after[1] - before[1] > 0.2 and after[0] - before[0] > 0.2
    monkeypatch.setattr(bench.os, "cpu_count", lambda: 2)
    assert bench.others_share((10.0, 2.0), (12.0, 3.0), 1.0) == 0.5  # 2 s busy, 1 s ours, 2 CPUs


def test_table_shows_ours_raw_ratio_and_verdicts():
    figures = [bench.Figure("ttft", "time to first token p50", "ms", 110.0, 100.0, "≤ 1.1 × raw", True, "warm"),
               bench.Figure("rss", "peak RSS", "MB", 2000.0, 900.0, "≤ 1500 MB", False)]
    report = {"machine": {"cpu": "Test CPU", "physical_cores": 2, "ram_gb": 24}, "threads": 2,
              "load_average": {"start": (0.5, 0, 0), "end": (0.7, 0, 0)}, "seconds": 60,
              "other_processes_cpu_share": 0.02,
              "figures": {f.key: {**f.__dict__, "ratio": f.ratio} for f in figures}}
    console = Console(record=True, width=200)
    console.print(bench.report_table(report))
    text = console.export_text()
    assert "110 ms" in text and "100 ms" in text and "1.10" in text
    assert "pass" in text and "FAIL" in text and "load average 0.50" in text and "2%" in text


def test_cold_start_times_a_server_until_it_answers_and_stops_it(tmp_path):
    port = bench.free_port()
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
               "--directory", str(tmp_path)]
    seen = []
    seconds, rss = bench.serve_and_measure(command, port, bench.child_env(), seen.append)
    assert 0 < seconds < 30 and rss > 1
    assert seen[0].wait(5) is not None  # stopped afterwards


def test_a_running_child_can_report_and_keep_running():
    script = f"print({bench.MARK!r} + '{{\"answered\": 2}}', flush=True); import time; time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert bench.read_result(proc, timeout=30) == {"answered": 2}
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


def test_a_failing_child_step_is_reported():
    with pytest.raises(RagError, match="bench step"):
        bench.run_child("index", {"settings": {"embedder": "/nonexistent"}, "corpus": "/nonexistent"})


def test_small_collections_get_exact_search():
    vectors = clustered(300)
    index = VectorIndex.build(32, vectors, exact_max=1000)
    assert index.describe() == {"index": "exact"}
    _, rows = index.search(vectors[:5], 1)
    assert rows[:, 0].tolist() == [0, 1, 2, 3, 4]


def test_one_query_gives_the_batch_answer_and_leaves_faiss_threads_alone():
    import faiss

    vectors = clustered(2000)
    index = VectorIndex.build(32, vectors)
    threads = faiss.omp_get_max_threads()
    one = [index.search(vectors[i:i + 1], 5)[1][0].tolist() for i in range(3)]
    assert one == index.search(vectors[:3], 5)[1].tolist()
    assert faiss.omp_get_max_threads() == threads


def test_large_collections_get_ivf_with_high_recall_that_survives_save_and_load(tmp_path):
    vectors = clustered(3000)
    index = VectorIndex.build(32, vectors, exact_max=1000, nprobe=8)
    assert index.describe() == {"index": "ivf", "nlist": 54, "nprobe": 8} and len(index) == 3000
    queries, _ = bench.perturbed_queries(vectors, 100)
    exact = VectorIndex.build(32, vectors, exact_max=10_000)
    assert bench.recall_at_k(index.search(queries, 10)[1], exact.search(queries, 10)[1]) >= 0.9
    assert np.array_equal(index.vectors_at([7, 2999]), vectors[[7, 2999]])  # stored exactly, readable by row
    index.save(tmp_path / "v.faiss")
    loaded = VectorIndex.load(tmp_path / "v.faiss", 32)
    assert loaded.describe() == index.describe()
    assert np.array_equal(loaded.search(queries, 10)[1], index.search(queries, 10)[1])
    assert np.array_equal(loaded.vectors(), vectors)


def test_milvus_retrieval_reports_latency_recall_and_the_cost_of_adding(tmp_path):
    from rag.bench import milvus_retrieval_at, synthetic_vectors
    from tests.fakes import FakeEncoder

    encoder = FakeEncoder()
    texts = [f"question {i} about drones and loans" for i in range(6)]
    vectors = synthetic_vectors(encoder.encode([f"passage {i} text" for i in range(50)]), 3000)
    figures, details = milvus_retrieval_at(encoder, vectors, texts, encoder.encode(texts),
                                           str(tmp_path / "bench.db"), add=500, queries=6)
    by_key = {f.key: f for f in figures}
    assert by_key["milvus_recall_at_10_3000"].ours >= 0.95  # HNSW at this size finds the true neighbours
    assert by_key["milvus_retrieval_p50_ms_3000"].ours > 0 and details["load_s"] > 0
    assert by_key["milvus_add_500_s_3000"].ours > 0 and details["queries"] == 6
