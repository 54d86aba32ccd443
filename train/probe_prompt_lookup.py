"""Prompt-lookup decoding (llama-cpp-python's LlamaPromptLookupDecoding) against plain decoding,
on the app's own answers: are the greedy answers the same, and how fast is generation?

    python -m train.probe_prompt_lookup plain ../shared/eval/dev.jsonl > plain.json
    python -m train.probe_prompt_lookup 2 ../shared/eval/dev.jsonl > pld2.json   # tokens drafted

Runs the whole pipeline (standard model) on each question, the Llama built with or without
the draft model; times generation from the answer's first token to its last (the verdict's
first token excluded), over the answers (max_tokens > 100: the rival checks are left out),
and prints tokens, seconds, tokens/s and every answer's text, to compare two runs' answers.
Measured results are in the README (Performance).
"""
import json, sys, time
import llama_cpp
from llama_cpp.llama_speculative import LlamaPromptLookupDecoding
from rag.cli import with_model_file
from rag.settings import Settings
from rag.pipeline import build_pipeline
from rag.generate import Verdict

mode = sys.argv[1]
real = llama_cpp.Llama
def patched(*a, **k):
    if mode != "plain":
        k["draft_model"] = LlamaPromptLookupDecoding(num_pred_tokens=int(mode))
    return real(*a, **k)
import llama_cpp as lc
lc.Llama = patched
settings = with_model_file(Settings())
pipe = build_pipeline(settings)
# time generation only: wrap stream_answer
stats = []
orig = pipe.llm.stream_answer
def timed(messages, max_tokens, temperature):
    first, text = None, ""
    for item in orig(messages, max_tokens, temperature):
        if not isinstance(item, Verdict):
            if first is None: first = time.perf_counter()
            text += item
        yield item
    end = time.perf_counter()
    if first is not None and max_tokens > 100:
        stats.append((pipe.llm.count_tokens(text), end - first))
pipe.llm.stream_answer = timed
answers = {}
for line in open(sys.argv[2]):
    q = json.loads(line)
    a = pipe.ask(q["question"])
    answers[q["id"]] = a.text
toks = sum(t for t, _ in stats); secs = sum(s for _, s in stats)
print(json.dumps({"mode": mode, "tokens": toks, "seconds": round(secs, 2), "tok_per_s": round(toks / secs, 1), "answers": answers}))
