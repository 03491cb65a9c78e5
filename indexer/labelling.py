"""Derived metadata (a classifier's labels) written into the live generation's documents.

The fields go into each live document version's metadata, where filters already look
(search/filters.py), and a new generation is published that differs only in its number: a
server following CURRENT reopens it and learns the new filterable fields, and a reader still on
the old generation keeps working. A document that later changes gets a new version without the
fields (its label may no longer fit): classify again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from indexer.config import Settings
from indexer.layout import IndexLayout
from indexer.manifest import Manifest
from indexer.store import Store


def write_metadata(
    settings: Settings, fields_by_doc: Mapping[str, dict[str, Any]], about: dict[str, Any]
) -> tuple[Manifest, Manifest]:
    """Merge `fields_by_doc` (document id -> fields) into the live documents under the writer
    lock, record `about` in the catalog's meta table under "labels", publish. Returns the
    (old, new) manifests."""
    layout = IndexLayout(settings.index_dir)
    with layout.writer_lock():
        base = layout.current()
        store = Store(layout.catalog_path(base))
        try:
            live = store.live_versions(list(fields_by_doc), base.generation)
            store.begin(durable=True)
            try:
                store.set_metadata(
                    [(live[d].key, fields) for d, fields in fields_by_doc.items() if d in live]
                )
                store.set_meta("labels", about)
                store.commit()
            except BaseException:
                store.rollback()
                raise
        finally:
            store.close()
        fresh = base.next(layout.next_generation())
        layout.publish(fresh)
        layout.collect_garbage(settings.index.keep_versions)
    return base, fresh
