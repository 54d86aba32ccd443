#!/usr/bin/env bash
# Install the app with the exact dependency set the tests passed with (requirements.lock,
# refreshed by ./lock.sh). torch is pinned in pyproject.toml and installed first: on this
# kind of machine pip takes the CPU build from disk; elsewhere install a CPU build of
# torch 2.13.0 before running this, or pip fetches a CUDA build.
set -euo pipefail
cd "$(dirname "$0")"
python -m pip install -q 'torch==2.13.0'
python -m pip install -q --require-hashes --no-deps -r requirements.lock
python -m pip install -q --no-deps --no-build-isolation -e . 2>/dev/null \
  || python -m pip install -q --no-deps -e .

# llama-cpp-python compiles on first install for the CPU it is built on, and pip's cache
# keeps that build for later installs. A build made where the CPU offered AMX dies with
# "Illegal instruction" on a machine (or virtual machine) that does not enable it, on the
# first prompt of more than a few tokens. So the build is checked on a 200-token prompt
# with the bundled SmolLM2 and, if the check dies, rebuilt (about 6 minutes) for the
# instructions of any x86-64 CPU of the last decade (AVX2, FMA, F16C), bypassing the cache.
if ! python - >/dev/null 2>&1 <<'PY'
import llama_cpp
from rag.models import FALLBACK, bundled_path, spec
llm = llama_cpp.Llama(str(bundled_path(spec(FALLBACK))), n_ctx=512, n_threads=2, verbose=False)
llm.create_completion("The cat sat on the mat. " * 25, max_tokens=1)
PY
then
  echo "install.sh: llama-cpp-python's build does not run on this CPU; rebuilding it for AVX2 (about 6 minutes)" >&2
  requirement=$(mktemp)
  awk '/^llama-cpp-python==/{p=1} p{print} p&&!/\\$/{exit}' requirements.lock > "$requirement"
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON" \
    python -m pip install -q --no-cache-dir --force-reinstall --no-deps --require-hashes \
    -r "$requirement"
  rm -f "$requirement"
fi
