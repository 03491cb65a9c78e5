#!/usr/bin/env bash
# The main job: install, index the bundled bilingual sample corpus, show a few searches,
# then serve the search page on http://127.0.0.1:${PORT:-8000}. DEMO_NO_SERVE=1 stops before serving.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
INDEX_DIR=${INDEX_DIR:-demo-index}

semsearch --index-dir "$INDEX_DIR" index examples/corpus
for query in "kitten hunting rodents" "利率上升" "how to prepare for a 42 km race"; do
  echo; echo "\$ semsearch search \"$query\" -k 3"
  semsearch --index-dir "$INDEX_DIR" search "$query" -k 3
done
if [ "${DEMO_NO_SERVE:-0}" != 1 ]; then
  echo; echo "Serving the search page on http://127.0.0.1:${PORT:-8000}/ (Ctrl-C stops)"
  exec semsearch --index-dir "$INDEX_DIR" serve --host 127.0.0.1 --port "${PORT:-8000}"
fi
