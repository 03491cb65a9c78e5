"""`semsearch check --repair`: rebuild what is derived from what is stored, embedding nothing.

Derived, and so rebuildable: a segment's ANN structure (from its vectors), its keyword postings
(from the catalog's chunk text), its checksum list, and the catalog's SQLite indexes (REINDEX).
Stored, and so not rebuildable here: a segment's vectors, ids and document keys, and the
catalog's rows; damage there needs a snapshot (`semsearch restore`) or `semsearch rebuild`.
Repaired segments are written as new segments and published as a new generation, so a server
reading the damaged generation keeps its files until it moves on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from indexer.check import CheckReport, check_index
from indexer.config import Settings
from indexer.errors import SemsearchError
from indexer.layout import IndexLayout
from indexer.segments import SegmentSet
from indexer.store import Store

DERIVED_PARTS = frozenset({"ann", "postings", "checksums"})


class NotRepairable(SemsearchError):
    """Damage to what is stored: only a snapshot or a rebuild brings it back."""


@dataclass
class RepairReport:
    before: CheckReport
    after: CheckReport
    repaired: list[str] = field(default_factory=list)
    generation: str = ""


def repair_index(settings: Settings) -> RepairReport:
    layout = IndexLayout(settings.index_dir)
    with layout.writer_lock():
        before = check_index(settings.index_dir)
        if before.ok:
            return RepairReport(before, before, generation=before.generation)
        repaired: list[str] = []
        base = layout.current()
        store = Store(layout.catalog_path(base))
        try:
            if not before.catalog_ok:
                store.execute("REINDEX")
                repaired.append("catalog: SQLite indexes rebuilt (REINDEX)")
            _refuse_stored_damage(before)
            segments = SegmentSet.open(layout.segments, base.segments, base.embedder.dim, settings.index)
            for position in reversed(range(len(segments.segments))):
                parts = before.damaged.get(segments.segments[position].info.id)
                if parts:
                    old = segments.segments[position].info.id
                    segments.rebuild(position, store.chunk_fields)
                    repaired.append(
                        f"segment {old}: {', '.join(sorted(parts))} rebuilt from its vectors and text"
                    )
            if before.damaged:
                layout.publish(base.next(layout.next_generation(), segments=segments.infos()))
            segments.close()
        finally:
            store.close()
        after = check_index(settings.index_dir)
        return RepairReport(before, after, repaired, after.generation)


def _refuse_stored_damage(report: CheckReport) -> None:
    """Stop before writing anything when a problem is beyond rebuilding derived files."""
    stored = sorted(seg for seg, parts in report.damaged.items() if parts - DERIVED_PARTS)
    segment_lines = {p for p in report.problems if p.startswith("segment ")}
    other = [p for p in report.problems if p not in segment_lines and not p.startswith("catalog integrity")]
    if stored or other:
        named = [f"segment {s}: its stored vectors/ids are damaged" for s in stored] + other
        raise NotRepairable(
            "cannot repair without re-embedding: "
            + "; ".join(named[:5])
            + ": restore a snapshot (`semsearch restore DIR`) or run `semsearch rebuild`"
        )
