"""`semsearch check`: verify that one generation's parts exist and agree, naming each problem.

Checked: the manifest parses (schema, typed fields); the catalog passes SQLite's
integrity_check; documents and chunks counted in the catalog match the manifest; every segment's
files exist, with as many ids and vectors as the manifest says, ids ascending, tombstones among
its ids, vectors of unit length, and the ANN structure holding every vector; the chunks the
segments serve are exactly the chunks the catalog holds for the generation; every segment's
keyword postings are well formed and cover its rows; every immutable segment file matches
the checksum written with it. Problems are also recorded per segment by the part they hit
(`damaged`), so `check --repair` (repair.py) knows what it can rebuild.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from indexer import ann
from indexer.checksums import CHECKSUMS, verify_checksums
from indexer.errors import SemsearchError
from indexer.layout import IndexLayout
from indexer.manifest import Manifest, SegmentInfo
from indexer.postings import Postings
from indexer.store import Store, visible


@dataclass
class CheckReport:
    generation: str
    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    # segment id -> damaged parts: "stored" (ids, vectors, doc keys: only a rebuild helps),
    # "ann", "postings" (derived: repairable), "checksums" (a file changed or none recorded)
    damaged: dict[str, set[str]] = field(default_factory=dict)
    catalog_ok: bool = True

    @property
    def ok(self) -> bool:
        return not self.problems


def check_index(index_dir: Path) -> CheckReport:
    layout = IndexLayout(index_dir)
    try:
        manifest = layout.current()
    except SemsearchError as exc:
        return CheckReport("(none)", [str(exc)])
    report = CheckReport(manifest.name)
    catalog = layout.catalog_path(manifest)
    if not catalog.exists():
        report.problems.append(f"catalog {catalog} is missing")
        return report
    store = Store(catalog, readonly=True)
    try:
        _check_catalog(store, manifest, report)
        served = [_check_segment(layout.segments / s.id, s, report) for s in manifest.segments]
        _check_agreement(store, manifest, served, report)
    finally:
        store.close()
    return report


def _check_catalog(store: Store, manifest: Manifest, report: CheckReport) -> None:
    integrity = [r[0] for r in store.execute("PRAGMA integrity_check").fetchall()]
    if integrity != ["ok"]:
        report.catalog_ok = False
        report.problems.append("catalog integrity_check: " + "; ".join(integrity[:5]))
    documents, chunks = store.count_documents(manifest.generation), store.count_chunks(manifest.generation)
    if documents != manifest.documents:
        report.problems.append(f"catalog holds {documents} documents, the manifest says {manifest.documents}")
    if chunks != manifest.chunks:
        report.problems.append(f"catalog holds {chunks} chunks, the manifest says {manifest.chunks}")
    report.checked.append(f"catalog: integrity ok, {documents} documents, {chunks} chunks")


def _check_segment(folder: Path, info: SegmentInfo, report: CheckReport) -> np.ndarray:
    """The live chunk ids the segment serves (empty when it cannot be read)."""
    name = f"segment {info.id}"

    def damage(part: str, problem: str) -> None:
        report.damaged.setdefault(info.id, set()).add(part)
        report.problems.append(f"{name}: {problem}")

    try:
        ids = np.load(folder / "ids.npy")
        vectors = np.load(folder / "vectors.npy", mmap_mode="r")
        doc_keys = np.load(folder / "doc_keys.npy", mmap_mode="r")
        deleted = np.load(folder / info.deletes) if info.deletes else np.zeros(0, np.int64)
    except (OSError, ValueError) as exc:
        damage("stored", f"cannot read its files ({exc})")
        return np.zeros(0, np.int64)
    if not len(ids) == len(vectors) == len(doc_keys) == info.count:
        damage(
            "stored",
            f"{len(ids)} ids, {len(vectors)} vectors and {len(doc_keys)} document keys, "
            f"the manifest says {info.count}",
        )
    if len(ids) > 1 and not bool(np.all(ids[1:] > ids[:-1])):
        damage("stored", "ids are not strictly ascending")
    if len(deleted) != info.deleted or not np.isin(deleted, ids).all():
        damage("stored", f"tombstones do not match its ids or the manifest ({info.deleted})")
    norms = np.linalg.norm(np.asarray(vectors[: min(len(vectors), 10_000)], dtype=np.float32), axis=1)
    if len(norms) and not np.allclose(norms, 1.0, atol=1e-3):
        damage("stored", f"vectors are not unit length (min {norms.min():.4f})")
    if info.kind != "flat":
        try:
            structure = ann.load_index(folder / "ann.faiss")
        except (OSError, RuntimeError) as exc:
            damage("ann", f"cannot read ann.faiss ({exc})")
        else:
            if structure.ntotal != info.count:
                damage("ann", f"ann.faiss holds {structure.ntotal} vectors, not {info.count}")
    if not _check_postings(folder, info, report):
        report.damaged.setdefault(info.id, set()).add("postings")
    for file_name, problem in verify_checksums(folder):
        damage(_part_of(file_name), problem)
    report.checked.append(f"{name}: {info.count} vectors ({info.kind}), {info.deleted} tombstoned")
    return np.setdiff1d(ids, deleted, assume_unique=True)


STORED_FILES = frozenset({"ids.npy", "vectors.npy", "doc_keys.npy"})


def _part_of(file_name: str) -> str:
    """Which part a segment file belongs to: what `--repair` can or cannot rebuild."""
    if file_name in STORED_FILES:
        return "stored"
    if file_name == "ann.faiss":
        return "ann"
    if file_name == CHECKSUMS:
        return "checksums"
    return "postings"


def _check_postings(folder: Path, info: SegmentInfo, report: CheckReport) -> bool:
    """Whether the segment's keyword postings are readable and well formed."""
    name = f"segment {info.id}"
    try:
        postings = Postings.load(folder)
    except (OSError, ValueError) as exc:
        report.problems.append(f"{name}: cannot read its keyword postings ({exc})")
        return False
    offsets, terms = postings.offsets, postings.terms
    if postings.n_rows != info.count or len(postings.title_len) != info.count:
        report.problems.append(f"{name}: postings cover {postings.n_rows} rows, the segment has {info.count}")
        return False
    if (
        len(offsets) != len(terms) + 1
        or (len(offsets) and (offsets[0] != 0 or offsets[-1] != len(postings.rows)))
        or bool(np.any(np.diff(offsets) <= 0))
        or (len(terms) > 1 and not bool(np.all(terms[1:] > terms[:-1])))
        or len(postings.title_tf) != len(postings.rows)
        or len(postings.body_tf) != len(postings.rows)
        or (len(postings.rows) and (postings.rows.min() < 0 or postings.rows.max() >= info.count))
    ):
        report.problems.append(f"{name}: keyword postings are malformed")
        return False
    return True


def _check_agreement(store: Store, manifest: Manifest, served: list[np.ndarray], report: CheckReport) -> None:
    gen = manifest.generation
    in_catalog = np.fromiter(
        (
            r[0]
            for r in store.execute(
                f"SELECT c.id FROM chunks c JOIN documents d ON d.key = c.doc_key WHERE {visible(gen)}"  # noqa: S608
            )
        ),
        dtype=np.int64,
    )
    vectors = np.concatenate(served) if served else np.zeros(0, np.int64)
    missing = np.setdiff1d(in_catalog, vectors)
    extra = np.setdiff1d(vectors, in_catalog)
    if len(missing):
        report.problems.append(f"{len(missing)} chunks have no vector (e.g. {missing[:5].tolist()})")
    if len(extra):
        report.problems.append(
            f"{len(extra)} vectors belong to no chunk of this generation (e.g. {extra[:5].tolist()})"
        )
    report.checked.append(f"segments serve exactly the catalog's {len(in_catalog)} chunks")
