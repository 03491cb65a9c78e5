"""Scenarios that need servers: run by tests/test_ray_engine.py and tests/test_milvus_server.py
inside an isolated network namespace (tests/netns.py), as `python tests/scale_scenarios.py
NAME OUT_DIR`. Each prints one JSON line of what it measured; the tests assert on it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from indexer.config import Settings, load_settings  # noqa: E402
from indexer.embedders import Embedder, HashingEmbedder, create_embedder  # noqa: E402
from indexer.pipeline import Indexer  # noqa: E402
from indexer.segments import live_rows  # noqa: E402
from indexer.snapshot import IndexSnapshot  # noqa: E402

WORDS = (
    "cell protein gene tumour immune signal growth receptor brain memory virus vaccine blood heart "
    "patient trial dose risk model network energy climate ocean carbon river forest soil bank market"
).split()


def write_corpus(root: Path, n_docs: int, seed: int = 7) -> Path:
    """Documents of 20 to 700 words: short ones are one chunk, long ones several."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n_docs):
        words = rng.choice(WORDS, int(rng.integers(20, 700)))
        sentences = [" ".join(words[j : j + 12]).capitalize() + "." for j in range(0, len(words), 12)]
        (root / f"doc{i:04d}.md").write_text(f"# Study {i} of {words[0]}\n\n" + " ".join(sentences), "utf-8")
    return root


def snapshot_rows(index_dir: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    index = IndexSnapshot.open(index_dir)
    try:
        rows = live_rows(index.segments.segments, index.vectors.dim)
        chunks = index.store.chunks(rows.ids.tolist())
        return rows.ids, rows.vectors, [chunks[int(i)].text for i in rows.ids]
    finally:
        index.close()


def compare(a: Path, b: Path) -> dict[str, Any]:
    ids_a, vectors_a, texts_a = snapshot_rows(a)
    ids_b, vectors_b, texts_b = snapshot_rows(b)
    same = bool(np.array_equal(ids_a, ids_b))
    return {
        "chunks": len(ids_a),
        "ids_equal": same,
        "texts_equal": texts_a == texts_b,
        "max_diff": float(np.abs(vectors_a - vectors_b).max()) if same and len(ids_a) else None,
    }


def ray_settings(index_dir: Path, **extra: Any) -> Settings:
    return load_settings(
        None,
        {
            "index_dir": str(index_dir),
            "engine.kind": "ray",
            "engine.ray_window": 9,
            "engine.ray_batch": 4,
            **extra,
        },
    )


class Killed(Exception):
    pass


def ray_local(out: Path) -> dict[str, Any]:
    """Local build vs a local Ray build vs a Ray rebuild killed after two batches, then resumed."""
    from indexer.ray_engine import RayEngine

    corpus = write_corpus(out / "docs", 30)
    embedder: Embedder = create_embedder(load_settings().model)  # exports the model once, for all
    local = load_settings(None, {"index_dir": str(out / "local")})
    started = time.perf_counter()
    Indexer(local, embedder).index([corpus])
    local_s = time.perf_counter() - started
    messages: list[str] = []
    settings = ray_settings(out / "ray")
    engine = RayEngine(settings, embedder, warn=messages.append)
    try:
        started = time.perf_counter()
        Indexer(settings, embedder, engine=engine).index([corpus])
        ray_s = time.perf_counter() - started
        batches = []

        def kill_after_two(stage: str) -> None:
            if stage == "embedded-batch":
                batches.append(stage)
                if len(batches) == 2:
                    raise Killed

        resumed = ray_settings(out / "resumed")
        Indexer(resumed, embedder).index([corpus / "doc0000.md"])  # an index to rebuild
        try:
            Indexer(resumed, embedder, hook=kill_after_two, engine=engine).rebuild([corpus])
        except Killed:
            pass
        report = Indexer(resumed, embedder, engine=engine).rebuild([corpus])
    finally:
        engine.close()
    return {
        "ray": compare(out / "local", out / "ray"),
        "resumed": compare(out / "local", out / "resumed"),
        "reused": report.reused,
        "messages": messages,
        "local_s": local_s,
        "ray_s": ray_s,
    }


def ray_cluster(out: Path) -> dict[str, Any]:
    """`ray start --head` plus a second `ray start --address` node; the CLI rebuilds on them."""
    corpus = write_corpus(out / "docs", 24)
    embedder = create_embedder(load_settings().model)
    Indexer(load_settings(None, {"index_dir": str(out / "local")}), embedder).index([corpus])
    ray = [str(Path(sys.executable).with_name("ray"))]
    address = "127.0.0.1:6390"
    common = ["--num-cpus=1", "--node-ip-address=127.0.0.1", "--disable-usage-stats"]
    head = [*ray, "start", "--head", "--port=6390", "--include-dashboard=false", *common]
    # RAY_AUTH_MODE=token: every process shares the token written under this HOME's ~/.ray
    subprocess.run([*ray, "get-auth-token", "--generate"], check=True, capture_output=True, timeout=60)
    subprocess.run(head, check=True, capture_output=True, timeout=120)
    try:
        subprocess.run(
            [*ray, "start", f"--address={address}", *common], check=True, capture_output=True, timeout=120
        )
        config = out / "config.yaml"
        config.write_text(
            f"index_dir: {out / 'cluster'}\nengine:\n  ray_window: 8\n  ray_batch: 3\n", "utf-8"
        )
        cli = [sys.executable, "-m", "semsearch", "--config", str(config), "rebuild", "--engine", "ray"]
        run = subprocess.run(
            [*cli, "--ray-address", address, str(corpus)], capture_output=True, text=True, timeout=400
        )
    finally:
        subprocess.run([*ray, "stop", "--force"], capture_output=True, timeout=60)  # this namespace only
    result: dict[str, Any] = {
        "rc": run.returncode,
        "stderr": run.stderr[-3000:],
        "stdout": run.stdout[-1000:],
    }
    if run.returncode == 0:
        result["cluster"] = compare(out / "local", out / "cluster")
    return result


def milvus_server(out: Path) -> dict[str, Any]:
    """The Milvus standalone server (PyPI `milvus`, 2.3.5): build, search, filter, delete, update,
    rebuild with an alias switch under an open reader."""
    from milvus import default_server

    from tests.milvus_checks import exercise_store

    default_server.set_base_dir(str(out / "milvus"))
    started = time.perf_counter()
    default_server.start()
    start_s = time.perf_counter() - started
    try:
        store = f"milvus://127.0.0.1:{default_server.listen_port}/semsearch_it"
        result = exercise_store(out, store, HashingEmbedder(dim=64), n_docs=1500)
    finally:
        default_server.stop()
    result["server_start_s"] = start_s
    return result


SCENARIOS = {"ray-local": ray_local, "ray-cluster": ray_cluster, "milvus-server": milvus_server}

if __name__ == "__main__":
    name, where = sys.argv[1], Path(sys.argv[2])
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    print(json.dumps(SCENARIOS[name](where)), flush=True)
