#!/usr/bin/env bash
# Refresh requirements.lock, the exact set the tests pass with (README "Tests").
# torch stays out of the lock: pyproject pins torch==2.13.0, and which build (CPU
# or CUDA) is machine-specific; /opt/wheels holds this machine's CPU build, whose
# dependencies the lock must match. Land a refreshed lock only with a green ./test.sh.
set -euo pipefail
cd "$(dirname "$0")"
python -m pip install -q 'uv==0.13.9'
python -m uv pip compile pyproject.toml --extra test --extra qwen-0-5b --extra milvus \
  --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
  --find-links /opt/wheels --no-emit-find-links --no-emit-package torch \
  --generate-hashes --custom-compile-command ./lock.sh -o requirements.lock "$@"
