"""Run a command in fresh network and PID namespaces that hold only `lo`.

Ray and the Milvus server bind every interface, and Ray probes an outside address to find its
own; inside a namespace with only loopback nothing can leave the machine. The PID namespace
ends every process the command started (Ray's raylets, Milvus) when the command exits or is
killed at its timeout, so a test never leaves servers behind.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

UNSHARE = ["unshare", "--net", "--pid", "--fork", "--kill-child", "--mount-proc"]


@functools.cache
def unavailable() -> str | None:
    """Why namespaces cannot be used here (None: they can)."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs unshare (util-linux) and ip (iproute2) to isolate the test's network"
    try:
        probe = subprocess.run(
            [*UNSHARE, "sh", "-c", "ip link set lo up && ip -o link | wc -l"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot create a network namespace: {exc}"
    if probe.returncode != 0 or probe.stdout.strip() != "1":
        return f"cannot create a network namespace with only lo: {probe.stderr.strip() or probe.stdout}"
    return None


def isolated_env(home: Path) -> dict[str, str]:
    """The environment for Ray and Milvus processes: HOME (Ray's token lives under ~/.ray) and
    every temp dir in `home`, token auth for every process, no usage reports."""
    from indexer.onnx_embedder import default_cache_root

    env = dict(os.environ)
    env.update(
        HOME=str(home),
        TMPDIR=str(home),
        RAY_TMPDIR=str(home),
        RAY_AUTH_MODE="token",
        RAY_USAGE_STATS_ENABLED="0",
        SEMSEARCH_CACHE=str(default_cache_root()),  # the exported model, shared with this process
        PYTHONPATH=str(Path(__file__).resolve().parent.parent),
    )
    return env


def short_tempdir() -> Path:
    """Ray's unix sockets must fit in 107 bytes: pytest's tmp_path is too deep."""
    return Path(tempfile.mkdtemp(prefix="ss-", dir="/tmp"))


def run_isolated(
    argv: Sequence[str], env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    command = [*UNSHARE, "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *argv]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
