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
