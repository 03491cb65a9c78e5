"""Metadata, source and time filters in every mode; a 1% filter still returns k hits."""

from __future__ import annotations

import json
import os
import random
from datetime import datetime
from pathlib import Path

import pytest

from indexer.config import MODES, load_settings
from indexer.embedders import HashingEmbedder
from indexer.errors import QueryError
from indexer.pipeline import Indexer
from search.filters import Filters, parse_filters, to_sql
from search.service import SearchService
from tests.conftest import write_corpus

WORDS = (
    "report quarterly revenue river harbour engine station garden winter market library "
    "bridge forest planet signal copper violin"
).split()
RARE = {"rec-7", "rec-111", "rec-250", "rec-389"}  # 4 of 400 records: a 1% filter


def _record(i: int, rng: random.Random) -> dict[str, object]:
    doc_id = f"rec-{i}"
    words = " ".join(rng.choice(WORDS) for _ in range(12))
    # The rare records mention "report" once; common ones repeat it, so they win unfiltered.
    body = f"report {words}" if doc_id in RARE else f"report report report {words}"
    return {
        "_id": doc_id,
        "title": f"Record {i}",
        "text": body,
        "team": "orchid" if doc_id in RARE else "common",
        "year": 2000 + i % 20,
    }


@pytest.fixture(scope="module")
def filtered_service(tmp_path_factory: pytest.TempPathFactory) -> SearchService:
    root = tmp_path_factory.mktemp("filters")
    rng = random.Random(7)
    records = "\n".join(json.dumps(_record(i, rng)) for i in range(400))
    docs = write_corpus(
        root / "docs",
        {
            "records/data.jsonl": records + "\n",
            "notes/old.txt": "An old note about the harbour report.\n",
            "notes/new.txt": "A new note about the harbour report.\n",
            "mail/letter.md": "# Letter\n\nA letter about the harbour report.\n",
        },
    )
    os.utime(docs / "notes/old.txt", (datetime(2020, 1, 1).timestamp(),) * 2)
    os.utime(docs / "notes/new.txt", (datetime(2024, 6, 1).timestamp(),) * 2)
    os.utime(docs / "mail/letter.md", (datetime(2022, 3, 1).timestamp(),) * 2)
    settings = load_settings(None, {"index_dir": str(root / "index")})
    embedder = HashingEmbedder()
    Indexer(settings, embedder).index([docs])
    return SearchService.open(settings, embedder)


def _ids(service: SearchService, query: str, mode: str, k: int, filters: dict[str, object]) -> list[str]:
    return [hit.doc_id for hit in service.search_text(query, k=k, mode=mode, filters=filters).hits]


@pytest.mark.parametrize("mode", MODES)
def test_one_percent_metadata_filter_returns_all_k(filtered_service: SearchService, mode: str) -> None:
    unfiltered = set(_ids(filtered_service, "report", mode, 4, {}))
    assert not unfiltered & RARE  # without the filter the rare records are not the top 4
    assert set(_ids(filtered_service, "report", mode, 4, {"team": "orchid"})) == RARE


@pytest.mark.parametrize("mode", MODES)
def test_filter_with_more_k_than_matches(filtered_service: SearchService, mode: str) -> None:
    assert set(_ids(filtered_service, "report", mode, 10, {"team": "orchid"})) == RARE


@pytest.mark.parametrize("mode", MODES)
def test_numeric_metadata_from_a_query_string(filtered_service: SearchService, mode: str) -> None:
    ids = _ids(filtered_service, "report", mode, 100, {"year": "2007"})
    assert sorted(ids) == sorted(f"rec-{i}" for i in range(400) if i % 20 == 7)


@pytest.mark.parametrize("mode", MODES)
def test_source_prefix(filtered_service: SearchService, mode: str) -> None:
    notes = str(Path(filtered_service.searcher().index.manifest.roots[0]) / "notes")
    sources = {
        Path(hit.source).name
        for hit in filtered_service.search_text("harbour", k=10, mode=mode, filters={"source": notes}).hits
    }
    assert sources == {"old.txt", "new.txt"}


@pytest.mark.parametrize("mode", MODES)
def test_source_glob(filtered_service: SearchService, mode: str) -> None:
    hits = filtered_service.search_text("harbour", k=10, mode=mode, filters={"source": "*.md"}).hits
    assert [Path(h.source).name for h in hits] == ["letter.md"]
    records = filtered_service.search_text(
        "report", k=5, mode=mode, filters={"source": "*/records/*.jsonl#*"}
    ).hits
    assert len(records) == 5 and all(h.doc_id.startswith("rec-") for h in records)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("window", "expected"),
    [
        ({"modified_after": "2023-01-01"}, {"new.txt"}),
        ({"modified_before": "2021-01-01"}, {"old.txt"}),
        ({"modified_after": "2021-01-01", "modified_before": "2023-01-01"}, {"letter.md"}),
    ],
)
def test_modified_time_range(
    filtered_service: SearchService, mode: str, window: dict[str, object], expected: set[str]
) -> None:
    filters = {**window, "source": "*.[tm][xd]*"}  # the three dated text files, not the records
    hits = filtered_service.search_text("harbour note letter", k=10, mode=mode, filters=filters).hits
    assert {Path(h.source).name for h in hits} == expected


@pytest.mark.parametrize("mode", MODES)
def test_unknown_field_is_a_query_error(filtered_service: SearchService, mode: str) -> None:
    with pytest.raises(QueryError, match="unknown filter field 'colour'"):
        filtered_service.search_text("report", mode=mode, filters={"colour": "red"})


@pytest.mark.parametrize(
    "raw", [{"modified_after": "yesterday"}, {"team": ["a", "b"]}, {"source": 3}, {"modified_before": True}]
)
def test_bad_filter_values(raw: dict[str, object]) -> None:
    with pytest.raises(QueryError):
        parse_filters(raw, ["team"])


def test_to_sql_prefix_is_not_a_like_pattern() -> None:
    sql, params = to_sql(Filters(source="/data/50%_off"))
    assert "LIKE" not in sql and params == [len("/data/50%_off"), "/data/50%_off"]


def test_empty_filters_are_false() -> None:
    assert not Filters()
    assert Filters(modified_after=0.0)


@pytest.mark.parametrize(
    "filters",
    [
        {"year": 9223372036854775808},
        {"year": -(2**70)},
        {"year": 10**400},
        {"year": float("inf")},
    ],
)
def test_filter_values_sqlite_cannot_hold_are_a_query_error(
    filtered_service: SearchService, filters: dict
) -> None:
    with pytest.raises(QueryError, match="filter year"):
        filtered_service.search_text("notes", k=5, mode="hybrid", filters=filters)
    assert filtered_service.search_text("notes", k=5, filters={"year": str(filters["year"])}).hits == []


@pytest.mark.parametrize("value", [10**400, float("inf"), float("nan")])
def test_out_of_range_times_are_a_query_error(filtered_service: SearchService, value) -> None:
    with pytest.raises(QueryError, match="modified_after"):
        filtered_service.search_text("notes", k=5, filters={"modified_after": value})
