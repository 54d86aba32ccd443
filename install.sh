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
# with the bundled SmolLM2 and, if the check dies, rebuilt (about 6 minutes, bypassing the
# cache) for the vector instructions this CPU reports except AMX: AVX-512 and VNNI where it
# has them (on this project's machines the 1.5B model reads a prompt 1.4 times as fast as with
# AVX2 alone: 108 against 75 tokens a second), else AVX2, FMA and F16C, which any x86-64 CPU
# of the last decade has. A build that still dies is made once more for AVX2 alone.
works() {
  python - >/dev/null 2>&1 <<'PY'
import llama_cpp
from rag.models import FALLBACK, bundled_path, spec
llm = llama_cpp.Llama(str(bundled_path(spec(FALLBACK))), n_ctx=512, n_threads=2, verbose=False)
llm.create_completion("The cat sat on the mat. " * 25, max_tokens=1)
PY
}

rebuild() {  # $1: what for; the rest: ggml's CMake options
  local what=$1 requirement
  shift
  echo "install.sh: llama-cpp-python's build does not run on this CPU; rebuilding it for $what (about 6 minutes)" >&2
  requirement=$(mktemp)
  awk '/^llama-cpp-python==/{p=1} p{print} p&&!/\\$/{exit}' requirements.lock > "$requirement"
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON $*" \
    python -m pip install -q --no-cache-dir --force-reinstall --no-deps --require-hashes \
    -r "$requirement"
  rm -f "$requirement"
}

if ! works; then
  flags=" $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2 || true) "
  wide=()
  for pair in avx512f:AVX512 avx512vbmi:AVX512_VBMI avx512_vnni:AVX512_VNNI avx512_bf16:AVX512_BF16 avx_vnni:AVX_VNNI; do
    if [[ $flags == *" ${pair%%:*} "* ]]; then wide+=("-DGGML_${pair#*:}=ON"); fi
  done
  if ((${#wide[@]})); then
    rebuild "this CPU's AVX-512 without AMX" "${wide[@]}"
    works || rebuild "AVX2"
  else
    rebuild "AVX2"
  fi
fi
