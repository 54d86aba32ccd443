"""Do the embedder and the LLM slow each other down by sharing the CPU in one process?

    python -m train.probe_openmp ../shared/eval/dev.jsonl

PyTorch (the embedder) and llama.cpp each bring an OpenMP runtime whose threads spin for a
while after their work ends; two runtimes in one process can then fight over two cores. The
probe lists the OpenMP runtimes mapped into the process, then times, on the standard model:
- the LLM reading each question's prompt whole (uncached), alone, and right after an embedding
  call of 20 sentences;
- that embedding call right after the LLM, and right after another embedding call.
The prompts are the app's own: every one it sent the model for the questions (the answers and
the comparisons of sources), over the default index.
Measured results are in the README (Performance).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

import numpy as np

from rag.bench import RecordingModel
from rag.cli import with_model_file
from rag.generate import load_chat_model
from rag.pipeline import build_pipeline
from rag.settings import Settings

RUNTIME = re.compile(r"lib(gomp|iomp5|omp)\b[^/]*$")


def runtimes() -> list[str]:
    """The OpenMP runtimes mapped into this process (their paths below site-packages)."""
    with open("/proc/self/maps", encoding="utf-8") as maps:
        paths = {line.split()[-1] for line in maps if len(line.split()) >= 6}
    return sorted(p.split("site-packages/")[-1] for p in paths if RUNTIME.search(os.path.basename(p)))


def main() -> None:
    questions = [json.loads(line)["question"] for line in open(sys.argv[1], encoding="utf-8")][:12]
    settings = with_model_file(Settings())
    recording = RecordingModel(load_chat_model(settings))
    pipeline = build_pipeline(settings, llm=recording)
    for question in questions:
        pipeline.ask(question)
    prompts = [messages for _, messages, _, _ in recording.calls]  # the answers' and the comparisons'
    llm, encoder = recording.llm, pipeline.encoder
    sentences = [f"This is sentence number {i} about the drones launched at the city." for i in range(20)]
    print("OpenMP runtimes mapped:", ", ".join(runtimes()))

    def read(messages) -> float:
        llm._llm.reset()  # uncached: the whole prompt is read
        started = time.perf_counter()
        for _ in llm.stream_chat(messages, 1, 0.0):
            pass
        return time.perf_counter() - started

    def encode() -> float:
        started = time.perf_counter()
        encoder.encode(sentences)
        return time.perf_counter() - started

    alone, after_encode = [], []
    for messages in prompts:
        alone.append(read(messages))
        encode()
        after_encode.append(read(messages))
    after_llm, after_encode_too = [], []
    for messages in prompts:
        read(messages)
        after_llm.append(encode())
        after_encode_too.append(encode())
    ms = lambda xs: f"{1000 * float(np.median(xs)):.0f} ms"  # noqa: E731
    print(f"{len(prompts)} prompts read whole: p50 {ms(alone)} alone, {ms(after_encode)} right after "
          "an embedding call")
    print(f"embedding 20 sentences: p50 {ms(after_llm)} right after the LLM, {ms(after_encode_too)} "
          "right after another embedding call")
    print("threads in the process:", len(os.listdir("/proc/self/task")))


if __name__ == "__main__":
    main()
