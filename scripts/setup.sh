#!/usr/bin/env bash
# Set up .venv with semsearch and its test tools on a fresh machine (Python 3.11+).
# SEMSEARCH_EXTRAS=ray,milvus adds optional extras (scripts/test.sh installs every one it tests).
# No NVIDIA GPU: the CPU wheel torch==2.13.0 goes in first (an unpinned torch would pull a
# multi-GB CUDA build) and constraints-cpu.txt keeps it. With a GPU, pip picks the CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
"${PIP[@]}" --upgrade pip
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  "${PIP[@]}" -e ".[test${SEMSEARCH_EXTRAS:+,$SEMSEARCH_EXTRAS}]"
else
  "${PIP[@]}" -c constraints-cpu.txt torch==2.13.0
  "${PIP[@]}" -c constraints-cpu.txt -e ".[test${SEMSEARCH_EXTRAS:+,$SEMSEARCH_EXTRAS}]"
fi
echo "semsearch installed in .venv ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
