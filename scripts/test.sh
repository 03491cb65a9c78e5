#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs everything it needs, then runs pytest,
# real-model and real-browser tests included. .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi
bash scripts/setup.sh
.venv/bin/python -m ruff check indexer search web semsearch tests benchmarks
exec .venv/bin/python -m pytest -q -rs tests "$@"
