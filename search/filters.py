"""Metadata filters -> one SQL condition over the `documents` table (aliased `d`).

The same condition restricts dense search (as a FAISS ID selector over the matching chunks)
and keyword search (inside the FTS5 query), so a filtered query still returns k hits whenever
k matching documents exist.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from indexer.errors import QueryError

RESERVED = ("source", "modified_after", "modified_before")
_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class Filters:
    source: str | None = None  # a path prefix, or a glob if it has * ? [
    modified_after: float | None = None  # epoch seconds, inclusive
    modified_before: float | None = None  # epoch seconds, exclusive
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(
            self.source
            or self.metadata
            or self.modified_after is not None
            or self.modified_before is not None
        )


def parse_time(value: Any, key: str) -> float:
    """Epoch seconds, or an ISO 8601 date/time."""
    if isinstance(value, bool):
        raise QueryError(f"filter {key}: expected a date or epoch seconds, got {value!r}")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        pass
    except OverflowError:
        raise QueryError(f"filter {key}: {value} is out of range for epoch seconds") from None
    else:
        if not math.isfinite(seconds):
            raise QueryError(f"filter {key}: expected a finite number of epoch seconds, got {value!r}")
        return seconds
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        raise QueryError(f"filter {key}: '{value}' is not a date (use YYYY-MM-DD or epoch seconds)") from None


def parse_filters(raw: Mapping[str, Any] | None, known_fields: Sequence[str]) -> Filters:
    """Validate a flat mapping: reserved keys plus metadata fields that exist in the index."""
    if not raw:
        return Filters()
    metadata: dict[str, Any] = {}
    for key, value in raw.items():
        if key in RESERVED:
            continue
        if key not in known_fields:
            known = ", ".join([*RESERVED, *sorted(known_fields)])
            raise QueryError(f"unknown filter field '{key}'; filterable fields: {known}")
        if isinstance(value, dict | list):
            raise QueryError(f"filter {key}: expected a single value, got {type(value).__name__}")
        metadata[key] = _checked_value(value, key)
    source = raw.get("source")
    if source is not None and not isinstance(source, str):
        raise QueryError("filter source: expected a path prefix or glob string")
    after = raw.get("modified_after")
    before = raw.get("modified_before")
    return Filters(
        source=source or None,
        modified_after=parse_time(after, "modified_after") if after is not None else None,
        modified_before=parse_time(before, "modified_before") if before is not None else None,
        metadata=metadata,
    )


def _checked_value(value: Any, key: str) -> Any:
    """A value SQLite can bind: JSON allows integers of any size, SQLite stores 64 bits."""
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        raise QueryError(f"filter {key}: {value} is outside the 64-bit integer range; pass it as a string")
    if isinstance(value, float) and not math.isfinite(value):
        raise QueryError(f"filter {key}: expected a finite number, got {value!r}")
    return value


def to_sql(filters: Filters) -> tuple[str, list[Any]]:
    """A WHERE condition over documents `d` with its parameters."""
    parts: list[str] = []
    params: list[Any] = []
    if filters.source:
        if _GLOB_CHARS & set(filters.source):
            parts.append("d.source GLOB ?")
            params.append(filters.source)
        else:
            parts.append("substr(d.source, 1, ?) = ?")
            params.extend([len(filters.source), filters.source])
    if filters.modified_after is not None:
        parts.append("d.modified >= ?")
        params.append(filters.modified_after)
    if filters.modified_before is not None:
        parts.append("d.modified < ?")
        params.append(filters.modified_before)
    for key, value in filters.metadata.items():
        # Compare as text so "2021" from a query string matches 2021 stored in JSON.
        parts.append("CAST(json_extract(d.metadata, ?) AS TEXT) = CAST(? AS TEXT)")
        params.extend([f'$."{key}"', value])
    return " AND ".join(parts) or "1", params
