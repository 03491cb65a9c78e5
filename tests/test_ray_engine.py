"""The Ray engine: pool sizing, the default path without Ray, and real builds on a local Ray and
on a two-node cluster, each inside a network namespace with only loopback (tests/netns.py)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests import netns
from tests.conftest import REPO

pytest.importorskip("ray", reason="the ray extra is not installed (pip install '.[ray]')")

from indexer.ray_engine import size_pool  # noqa: E402


def test_pool_is_sized_by_the_scarcer_of_cores_and_memory() -> None:
    assert size_pool(2, 0, 16_000, 520).actors == 2  # cores
    by_memory = size_pool(16, 0, 2_000, 820)
    assert (by_memory.actors, by_memory.cpus_per_actor) == (2, 8)
    on_gpus = size_pool(32, 4, 64_000, 820)
    assert (on_gpus.actors, on_gpus.gpus_per_actor, on_gpus.cpus_per_actor) == (4, 1, 1)
    assert size_pool(1, 0, 100, 820).actors == 1  # never zero: Ray queues what does not fit
    assert size_pool(8, 0, 64_000, 820, wanted=3).actors == 3
    assert "by memory" in size_pool(2, 0, 16_000, 520).reason


def test_the_default_path_never_imports_ray_or_milvus(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("cats chase mice\n", "utf-8")
    index, docs = str(tmp_path / "index"), str(tmp_path / "docs")
    code = (
        "import sys\nfrom semsearch.cli import run\n"
        f"run(['--index-dir', {index!r}, '--model', 'hashing', 'index', {docs!r}])\n"
        f"run(['--index-dir', {index!r}, 'search', 'cats', '--mode', 'keyword'])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('ray', 'pymilvus', 'milvus_lite')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


RAY_INTERNAL_BUG = "You have likely discovered a bug in Ray"


def _scenario(name: str) -> dict[str, Any]:
    reason = netns.unavailable()
    if reason:
        pytest.skip(reason)
    home = netns.short_tempdir()
    argv = [sys.executable, str(REPO / "tests" / "scale_scenarios.py"), name, str(home / "out")]
    run = netns.run_isolated(argv, netns.isolated_env(home), timeout=540)
    if run.returncode != 0 and RAY_INTERNAL_BUG in run.stderr:
        # Ray's core aborted on a failed internal check ("Tried to complete task that was not
        # pending"), seen once in 6 CI runs: an upstream fault, not this engine's. One fresh
        # retry; a second crash, or any other failure, fails the test.
        subprocess.run(["rm", "-rf", str(home)], check=False)
        home = netns.short_tempdir()
        argv[-1] = str(home / "out")
        run = netns.run_isolated(argv, netns.isolated_env(home), timeout=540)
    subprocess.run(["rm", "-rf", str(home)], check=False)
    assert run.returncode == 0, run.stderr[-4000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def _same_index(comparison: dict[str, Any]) -> None:
    assert comparison["chunks"] > 30
    assert comparison["ids_equal"] and comparison["texts_equal"]
    assert comparison["max_diff"] <= 1e-5


@pytest.mark.slow
def test_a_local_ray_builds_the_same_index_and_resumes_after_a_kill() -> None:
    result = _scenario("ray-local")
    _same_index(result["ray"])
    _same_index(result["resumed"])  # killed after two batches, then finished by a second run
    assert result["reused"] > 0
    assert any("embedding actors" in line and "by memory" in line for line in result["messages"])
    read = [re.search(r"read (\d+) files on the cluster", line) for line in result["messages"]]
    assert max(int(m.group(1)) for m in read if m) >= 30  # every file of the first build, at least


@pytest.mark.slow
def test_a_two_node_cluster_builds_the_same_index_through_the_cli() -> None:
    result = _scenario("ray-cluster")
    assert result["rc"] == 0, result["stderr"]
    _same_index(result["cluster"])
    assert "read 24 files on the cluster; actors ran on 2 nodes" in result["stderr"]
