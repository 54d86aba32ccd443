#!/usr/bin/env bash
# Install what the tests need, then run them all: unit tests with fakes, the real
# models end to end, and the browser test in Debian's headless Chromium.
set -euo pipefail
cd "$(dirname "$0")"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
./install.sh
python -m pytest -q "$@"
