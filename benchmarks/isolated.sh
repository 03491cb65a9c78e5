#!/usr/bin/env bash
# Run a command in fresh network and PID namespaces with only loopback (root needed): Ray and the
# Milvus server bind every interface, and the PID namespace ends whatever they leave running.
#   bash benchmarks/isolated.sh .venv/bin/python -m benchmarks.scale_out rebuild ...
set -euo pipefail
export SEMSEARCH_CACHE="${SEMSEARCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/semsearch}"  # the exported model
home=$(mktemp -d /tmp/isolated-XXXXXX)
trap 'rm -rf "$home"' EXIT
HOME="$home" TMPDIR="$home" RAY_TMPDIR="$home" RAY_AUTH_MODE=token RAY_USAGE_STATS_ENABLED=0 \
  unshare --net --pid --fork --kill-child --mount-proc sh -c 'ip link set lo up && exec "$@"' sh "$@"
