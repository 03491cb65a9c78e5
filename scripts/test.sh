#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs everything it needs, then runs pytest,
# real-model and real-browser tests included. .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
# fonts-wqy-microhei: a CJK font, so the Chinese screenshot shows characters, not boxes.
# iproute2 (ip) and util-linux (unshare): the Ray and Milvus-server tests run in a network
# namespace holding only loopback, and would skip without them.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1 \
   || ! command -v ip >/dev/null 2>&1 || ! command -v unshare >/dev/null 2>&1 \
   || ! fc-list 2>/dev/null | grep -qi "wenquanyi\|noto sans cjk"; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver fonts-wqy-microhei iproute2 util-linux >/dev/null
fi
# Ray and Milvus (lite and the standalone server) run for real in tests/test_ray_engine.py,
# test_milvus.py and test_milvus_server.py: their extras are part of the test install.
SEMSEARCH_EXTRAS=ray,milvus,milvus-server bash scripts/setup.sh
.venv/bin/python -m ruff check indexer search web semsearch tests benchmarks
exec .venv/bin/python -m pytest -q -rs tests "$@"
