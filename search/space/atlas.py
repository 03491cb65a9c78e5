"""The atlas of one generation: its topics and its 2-D map, computed once and kept beside it.

`INDEX_DIR/space/gen-NNNNNNNN.json` is derived from generation N alone (its vectors and chunk
texts never change once published), so it is written once, atomically (write_atomically: a
reader sees the whole file or none), and read by every later `semsearch topics`, `/api/topics`
and `/map`. Files of generations that no longer exist are deleted when a new one is written.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from indexer.layout import IndexLayout, write_atomically
from indexer.manifest import manifest_name
from indexer.snapshot import IndexSnapshot
from search.space.docvectors import DocVectors, chunk_texts, document_vectors
from search.space.projection import pca_2d
from search.space.topics import Clustering, central_rows, cluster, topic_terms

FORMAT = 1
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Atlas:
    """Topics and map of one generation, as the JSON the API serves."""

    data: dict[str, Any]

    @property
    def generation(self) -> int:
        return int(self.data["generation"])

    @property
    def centroids(self) -> np.ndarray:
        return np.asarray(self.data["centroids"], dtype=np.float32)

    def summary(self) -> dict[str, Any]:
        """Everything but the per-document points and the centroids (the /api/topics answer)."""
        return {key: value for key, value in self.data.items() if key not in ("points", "centroids")}


def topics_json(docs: DocVectors, clustering: Clustering, names: list[list[str]]) -> list[dict[str, Any]]:
    sizes = np.bincount(clustering.labels, minlength=clustering.k)
    order = sorted(range(clustering.k), key=lambda t: (-int(sizes[t]), t))
    return [
        {
            "id": topic,
            "terms": names[topic],
            "name": " · ".join(names[topic][:3]) or f"topic {topic}",
            "size": int(sizes[topic]),
            "central": [
                {
                    "doc_id": docs.doc_ids[row],
                    "title": docs.titles[row],
                    "similarity": round(float(clustering.similarity[row]), 4),
                }
                for row in central_rows(clustering, topic)
            ],
        }
        for topic in order
    ]


def compute_atlas(index: IndexSnapshot, k: int | None = None) -> Atlas:
    """Cluster, name and project the documents of `index` (seconds per stage recorded)."""
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    docs = document_vectors(index)
    seconds["vectors"] = time.perf_counter() - started
    mark = time.perf_counter()
    clustering = cluster(docs.vectors, k)
    seconds["clustering"] = time.perf_counter() - mark
    mark = time.perf_counter()
    names = topic_terms(chunk_texts(index, docs), clustering.labels, clustering.k)
    seconds["naming"] = time.perf_counter() - mark
    mark = time.perf_counter()
    points, explained = pca_2d(docs.vectors)
    seconds["projection"] = time.perf_counter() - mark
    data = {
        "format": FORMAT,
        "generation": index.generation,
        "version": index.name,
        "model": index.manifest.embedder.model_id,
        "documents": len(docs),
        "k": clustering.k,
        "k_reason": clustering.reason,
        "projection": {"method": "pca", "explained_variance": explained},
        "topics": topics_json(docs, clustering, names),
        "points": {
            "doc_id": docs.doc_ids,
            "title": docs.titles,
            "x": [round(float(v), 4) for v in points[:, 0]],
            "y": [round(float(v), 4) for v in points[:, 1]],
            "topic": clustering.labels.tolist(),
        },
        "centroids": np.round(clustering.centroids, 6).tolist(),
        "seconds": {stage: round(value, 3) for stage, value in seconds.items()},
    }
    return Atlas(data)


def atlas_path(layout: IndexLayout, generation: int) -> Path:
    return layout.index_dir / "space" / manifest_name(generation)


def load_atlas(layout: IndexLayout, generation: int) -> Atlas | None:
    """The kept atlas of `generation`, or None (absent, or written by another format)."""
    try:
        data = json.loads(atlas_path(layout, generation).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if data.get("format") != FORMAT or data.get("generation") != generation:
        return None
    return Atlas(data)


def save_atlas(layout: IndexLayout, atlas: Atlas) -> None:
    """Keep `atlas` beside its generation; drop those of generations that are gone."""
    path = atlas_path(layout, atlas.generation)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(atlas.data, ensure_ascii=False, separators=(",", ":")))
    for old in path.parent.glob("gen-*.json"):
        if old != path and not (layout.manifests / old.name).exists():
            old.unlink(missing_ok=True)


def atlas_for(layout: IndexLayout, index: IndexSnapshot) -> Atlas:
    """The kept atlas of `index`'s generation, computed and kept first if there is none."""
    atlas = load_atlas(layout, index.generation)
    if atlas is None:
        atlas = compute_atlas(index)
        try:
            save_atlas(layout, atlas)
        except OSError as exc:  # a read-only index: the answer stands, it is just not kept
            log.warning("could not keep the atlas in %s: %s", atlas_path(layout, atlas.generation), exc)
    return atlas
