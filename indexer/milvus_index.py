"""Milvus as the vector store: the reader (`MilvusVectorIndex`) and the writer's mirror.

Milvus holds only (chunk id, vector) per chunk. Text, metadata, keyword postings, document keys
and the full-precision vectors stay in the catalog and segments (docs/decisions.md), so the
keyword side, snippets and filters are the same on both stores and the Searcher re-ranks on the
same vectors. One collection per catalog (`NAME_<catalog>`): `index` updates it in place, a
`rebuild` fills a new one and then moves the alias NAME to it; readers search their own
generation's collection by name, so a rebuild never interrupts them. Milvus 2.3 features only,
and every call is `Strong` (at the default level a search right after an insert found nothing).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from indexer.ann import AnnHits
from indexer.config import IndexSettings
from indexer.errors import IndexNotFound, SemsearchError
from indexer.layout import IndexLayout, write_atomically
from indexer.manifest import Manifest
from indexer.segments import Segment, SegmentSet
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
            consistency_level=CONSISTENCY,
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


class MilvusMirror:
    """Keeps the catalog's collection equal to the generation the writer is about to save.

    What was synced (segment ids and their tombstone files) is recorded in
    index_dir/milvus/<collection>.json, so a sync writes only the difference: new segments'
    live rows, newly tombstoned ids, nothing for a merge (same ids, same vectors). Upserts make
    a sync killed half-way safe to repeat."""

    def __init__(self, settings: IndexSettings, layout: IndexLayout, base: Manifest) -> None:
        self.settings = settings
        self.layout = layout
        self.target = target_for(settings.vector_store, layout.index_dir)
        self.collection = self.target.collection(base.catalog)
        self.state_path = layout.index_dir / "milvus" / f"{self.collection}.json"
        self.client = connect(self.target)

    def sync(self, manifest: Manifest, segments: SegmentSet) -> None:
        wanted = {info.id: info.deletes for info in manifest.segments}
        state = self._state()
        if state == wanted and self.client.has_collection(self.collection):
            return
        if not self.client.has_collection(self.collection):
            self._create(segments.dim)
            state = {}
        by_id = {s.info.id: s for s in segments.segments}
        old_live = [self._old_ids(seg, deletes) for seg, deletes in state.items() if seg not in wanted]
        if any(ids is None for ids in old_live):  # files of a merged segment already collected
            self.client.drop_collection(self.collection)
            self._create(segments.dim)
            state, old_live = {}, []
        gone = np.unique(np.concatenate([np.zeros(0, np.int64), *[i for i in old_live if i is not None]]))
        tombstoned = [np.zeros(0, np.int64)]
        for seg_id, deletes in state.items():
            if seg_id in wanted and wanted[seg_id] != deletes:
                before = self._deleted(seg_id, deletes)
                tombstoned.append(np.setdiff1d(by_id[seg_id].deleted, before if before is not None else []))
        added_ids = []
        for seg_id in wanted:
            if seg_id not in state:
                segment = by_id[seg_id]
                rows = np.flatnonzero(segment.live_mask())
                fresh = rows[~np.isin(segment.ids[rows], gone)]  # a merge moves ids: already there
                self._upsert(segment, fresh)
                added_ids.append(segment.ids[rows])
        still = np.concatenate([np.zeros(0, np.int64), *added_ids])
        removed = np.union1d(np.setdiff1d(gone, still), np.concatenate(tombstoned))
        for start in range(0, len(removed), WRITE_BATCH):
            self.client.delete(self.collection, filter=id_filter(removed[start : start + WRITE_BATCH]))
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(self.state_path, json.dumps(wanted, sort_keys=True))

    def published(self, layout: IndexLayout) -> None:
        """Point the alias at the live generation's collection; drop collections that no kept
        generation (nor an unfinished rebuild) names."""
        live = layout.current_or_none()
        if live is None:
            return
        collection = self.target.collection(live.catalog)
        if self.target.name not in self.client.list_aliases(collection).get("aliases", []):
            if self.target.name in self.client.list_aliases().get("aliases", []):
                self.client.alter_alias(collection, self.target.name)  # one atomic switch
            else:
                self.client.create_alias(collection, self.target.name)
        kept = {self.target.collection(m.catalog) for m in _kept_manifests(layout)}
        prefix = f"{self.target.name}_"
        for name in self.client.list_collections():
            if name.startswith(prefix) and name not in kept and _is_ours(name, prefix):
                self.client.drop_collection(name)
                (layout.index_dir / "milvus" / f"{name}.json").unlink(missing_ok=True)

    def describe(self) -> str:
        return describe(self.settings, self.collection, self.target)

    def close(self) -> None:
        self.client.close()

    # -- helpers ----------------------------------------------------------------------
    def _state(self) -> dict[str, str]:
        try:
            return dict(json.loads(self.state_path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return {}

    def _create(self, dim: int) -> None:
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        self.client.create_collection(
            self.collection,
            schema=schema,
            index_params=index_params(self.client, self.settings),
            consistency_level=CONSISTENCY,
        )

    def _upsert(self, segment: Segment, rows: np.ndarray) -> None:
        for block in _blocks(rows):
            vectors = np.asarray(segment.vectors[block], dtype=np.float32)
            ids = segment.ids[block].tolist()
            data = [{"id": i, "vector": v} for i, v in zip(ids, vectors.tolist(), strict=True)]
            self.client.upsert(self.collection, data)

    def _old_ids(self, seg_id: str, deletes: str) -> np.ndarray | None:
        """Live ids of a segment synced before and gone from the new generation (merged away)."""
        folder = self.layout.segments / seg_id
        deleted = self._deleted(seg_id, deletes)
        if not (folder / "ids.npy").exists() or deleted is None:
            return None
        ids = np.load(folder / "ids.npy")
        return np.setdiff1d(ids, deleted)

    def _deleted(self, seg_id: str, deletes: str) -> np.ndarray | None:
        if not deletes:
            return np.zeros(0, np.int64)
        path = self.layout.segments / seg_id / deletes
        return np.load(path) if path.exists() else None


def _blocks(rows: np.ndarray) -> Iterator[np.ndarray]:
    for start in range(0, len(rows), WRITE_BATCH):
        yield rows[start : start + WRITE_BATCH]


def _kept_manifests(layout: IndexLayout) -> list[Manifest]:
    names = [p.name for p in layout.manifests.glob("gen-*.json")]
    return [layout.read(name) for name in names]


def _is_ours(name: str, prefix: str) -> bool:
    """NAME_<12 hex>: the collections this module creates (others under the prefix stay)."""
    return re.fullmatch(r"[0-9a-f]{12}", name[len(prefix) :]) is not None
