"""The Milvus standalone server (PyPI `milvus`, 2.3.5) as the vector store, started inside a
network namespace with only loopback: every operation against a real server."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests import netns
from tests.conftest import REPO

pytest.importorskip("milvus", reason="the milvus extra is not installed (pip install '.[milvus]')")


@pytest.mark.slow
def test_every_operation_on_a_milvus_server() -> None:
    reason = netns.unavailable()
    if reason:
        pytest.skip(reason)
    home = netns.short_tempdir()
    argv = [sys.executable, str(REPO / "tests" / "scale_scenarios.py"), "milvus-server", str(home / "out")]
    run = netns.run_isolated(argv, netns.isolated_env(home), timeout=400)
    subprocess.run(["rm", "-rf", str(home)], check=False)
    assert run.returncode == 0, run.stderr[-4000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["recall_at_10"] >= 0.9
    assert result["filtered_all_allowed"] and result["filtered_hits"] == 10
    assert result["count"] == result["milvus_count"] == 1500
    assert result["deleted_gone"] and result["milvus_after_delete"] == 1499
    assert result["changed_found"] and result["milvus_after_update"] == 1501
    assert result["rebuild_new_collection"] and result["alias_target"] == ["semsearch_it"]
    assert result["old_reader_recall"] >= 0.9 and result["new_recall"] >= 0.9
    assert result["stats_index_type"].startswith("Milvus HNSW")
