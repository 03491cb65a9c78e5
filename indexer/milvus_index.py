"""Milvus as the vector store: where it is, how to reach it, and the reader (`MilvusVectorIndex`).

Milvus holds only (chunk id, vector) per chunk. Text, metadata, keyword postings, document keys
and the full-precision vectors stay in the catalog and segments (docs/decisions.md), so the
keyword side, snippets and filters are the same on both stores and the Searcher re-ranks on the
same vectors. One collection per catalog (`NAME_<catalog>`): `index` updates it in place, a
`rebuild` fills a new one and then moves the alias NAME to it; readers search their own
generation's collection by name, so a rebuild never interrupts them (milvus_sync.py writes).
Milvus 2.3 features only; writes and counts are `Strong` (at the default level a search right
after an insert found nothing), searches at `index.milvus_consistency` (Strong by default).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from indexer.ann import AnnHits
from indexer.config import IndexSettings
from indexer.errors import IndexNotFound, SemsearchError
from indexer.manifest import Manifest
from indexer.segments import SegmentSet
from indexer.vector_index import FaissVectorIndex

CONSISTENCY = "Strong"
MAX_LIMIT = 16_384  # Milvus's largest top-k
ID_LIST_MAX = 100_000  # longer allowed-id lists are applied after the search instead
WRITE_BATCH = 5_000
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,200}")


class VectorStoreError(SemsearchError):
    """The configured Milvus cannot be reached or opened."""


@dataclass(frozen=True)
class MilvusTarget:
    uri: str  # what MilvusClient connects to: http://HOST:PORT or a Milvus Lite path
    name: str  # the alias; collections are NAME_<catalog>
    shown: str  # as the user wrote it

    @property
    def lite(self) -> bool:
        return not self.uri.startswith("http")

    def collection(self, catalog: str) -> str:
        return f"{self.name}_{catalog.removesuffix('.db')}"


def target_for(store: str, index_dir: Path) -> MilvusTarget:
    """`milvus://HOST:PORT[/NAME]` or a Milvus Lite `PATH.db` (relative: inside index_dir)."""
    if store.startswith("milvus://"):
        address, _, name = store.removeprefix("milvus://").partition("/")
        uri = f"http://{address}"
    else:
        path = Path(store).expanduser()
        uri, name = str(path if path.is_absolute() else Path(index_dir).resolve() / path), ""
    name = name or "semsearch"
    if not _NAME.fullmatch(name):
        raise VectorStoreError(f"index.vector_store: collection name {name!r} must match {_NAME.pattern}")
    return MilvusTarget(uri, name, store)


def connect(target: MilvusTarget) -> Any:
    """A MilvusClient, or one clear line for why there is none (Milvus Lite allows one process
    per database file; a server may be down)."""
    try:
        from pymilvus import MilvusClient
    except ImportError:
        raise VectorStoreError(
            "index.vector_store names Milvus but pymilvus is not installed: pip install 'semsearch[milvus]'"
        ) from None
    quiet = [logging.getLogger(name) for name in ("milvus_lite", "pymilvus", "grpc._server")]
    if target.lite:
        # Milvus Lite serves gRPC inside this process: its tracebacks (a locked file, calls it does
        # not implement but answers anyway) would reach the terminal; the client reports failures.
        quiet[2].setLevel(logging.CRITICAL)
    levels = [logger.level for logger in quiet[:2]]
    try:
        for logger in quiet[:2]:
            logger.setLevel(logging.CRITICAL)
        return MilvusClient(uri=target.uri, timeout=30)
    except Exception as exc:  # pymilvus raises several unrelated classes for one cause
        if target.lite:
            raise VectorStoreError(
                f"cannot open the Milvus Lite database {target.uri}: another process has it open "
                "(Milvus Lite allows one process per file: stop the other `semsearch` or use a "
                f"Milvus server, milvus://HOST:PORT) [{type(exc).__name__}]"
            ) from None
        raise VectorStoreError(f"cannot reach Milvus at {target.shown}: {exc}") from None
    finally:
        for logger, level in zip(quiet, levels, strict=False):
            logger.setLevel(level)


def index_params(client: Any, settings: IndexSettings) -> Any:
    kind = settings.milvus_index
    params: dict[str, int] = {}
    if kind == "HNSW":
        params = {"M": settings.hnsw_m, "efConstruction": settings.hnsw_ef_construction}
    elif kind in ("IVF_FLAT", "IVF_PQ"):
        params = {"nlist": settings.ivf_nlist or 1024}
        if kind == "IVF_PQ":
            params |= {"m": settings.pq_m, "nbits": 8}
    built = client.prepare_index_params()
    built.add_index(field_name="vector", index_type=kind, metric_type="IP", params=params)
    return built


def search_params(settings: IndexSettings, limit: int) -> dict[str, Any]:
    kind = settings.milvus_index
    if kind == "HNSW":
        return {"metric_type": "IP", "params": {"ef": max(limit, settings.hnsw_ef_search or 128)}}
    if kind in ("IVF_FLAT", "IVF_PQ"):
        return {"metric_type": "IP", "params": {"nprobe": settings.ivf_nprobe or 32}}
    if kind == "DISKANN":
        return {"metric_type": "IP", "params": {"search_list": max(limit, 100)}}
    return {"metric_type": "IP", "params": {}}


def id_filter(ids: np.ndarray) -> str:
    return "id in [" + ",".join(map(str, np.asarray(ids, dtype=np.int64).tolist())) + "]"


def live_among(segments: SegmentSet, ids: np.ndarray) -> np.ndarray:
    """Per id: stored and not tombstoned in this generation (Milvus holds one state, the newest
    synced, so an older reader drops what its generation does not know)."""
    ok = np.zeros(len(ids), dtype=bool)
    for segment in segments.segments:
        at = np.flatnonzero(~ok & (ids >= segment.info.min_id) & (ids <= segment.info.max_id))
        if len(at):
            at = at[segment.holds(ids[at])]
            ok[at] = segment.live_mask()[segment.rows_of(ids[at])]
    return ok


class MilvusVectorIndex(FaissVectorIndex):
    """ANN search in Milvus; vectors by id, counts and doc keys from this generation's segments
    (full precision, for the Searcher's exact re-rank), so results are filtered to them."""

    def __init__(self, segments: SegmentSet, manifest: Manifest, settings: IndexSettings, index_dir: Path):
        super().__init__(segments)
        self.target = target_for(settings.vector_store, index_dir)
        self.collection = self.target.collection(manifest.catalog)
        self.client = connect(self.target)
        if not self.client.has_collection(self.collection):
            self.client.close()
            raise IndexNotFound(
                f"Milvus at {self.target.shown} has no collection {self.collection} for this index "
                "(built with another vector_store?): run `semsearch rebuild`"
            )
        self.client.load_collection(self.collection)

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> AnnHits:
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        limit = max(1, min(k, MAX_LIMIT))
        expression = ""
        if allowed is not None and len(allowed) <= ID_LIST_MAX:
            expression = id_filter(allowed)  # pushed down: Milvus keeps `limit` hits among them
        rows = self.client.search(
            self.collection,
            data=queries.tolist(),
            limit=limit,
            filter=expression,
            output_fields=[],
            search_params=search_params(self.settings, limit),
            anns_field="vector",
            consistency_level=self.settings.milvus_consistency,
        )
        scores = np.full((len(queries), limit), -np.inf, np.float32)
        ids = np.full((len(queries), limit), -1, np.int64)
        for q, hits in enumerate(rows):
            found = np.fromiter((h["id"] for h in hits), np.int64, len(hits))
            distance = np.fromiter((h["distance"] for h in hits), np.float32, len(hits))
            keep = live_among(self.segment_set, found)
            if allowed is not None and not expression:
                keep &= np.isin(found, allowed)
            found, distance = found[keep], distance[keep]
            ids[q, : len(found)], scores[q, : len(found)] = found, distance
        return AnnHits(scores, ids)

    def warm(self) -> None:
        if self.count():
            self.search(np.zeros((1, self.dim), np.float32), 1)

    def describe(self) -> str:
        return describe(self.settings, self.collection, self.target)

    def close(self) -> None:
        super().close()
        self.client.close()


def describe(settings: IndexSettings, collection: str, target: MilvusTarget) -> str:
    store = "Milvus Lite" if target.lite else "Milvus"
    return f"{store} {settings.milvus_index}, collection {collection} at {target.shown}"
