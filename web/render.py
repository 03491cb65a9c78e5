"""Pure helpers that turn search data into what the templates show.

Text is never turned into HTML here: helpers split it into (text, marked) pieces and the
templates escape each piece, so a document cannot inject markup.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePath
from typing import Any
from urllib.parse import quote, urlencode

from search.snippets import matcher

Segment = tuple[str, bool]  # (text, highlighted)


def marked_segments(text: str, spans: Sequence[Sequence[int]]) -> list[Segment]:
    """Split `text` at highlight spans ([start, end) offsets); overlapping spans merge."""
    out: list[Segment] = []
    position = 0
    for start, end in sorted((int(s), int(e)) for s, e in spans):
        start, end = max(start, position), min(end, len(text))
        if start >= end:
            continue
        if start > position:
            out.append((text[position:start], False))
        out.append((text[start:end], True))
        position = end
    if position < len(text):
        out.append((text[position:], False))
    return out


@dataclass(frozen=True)
class TextBlock:
    segments: list[Segment]
    match: bool  # the chunk the user came for


def title_prefix(text: str, title: str) -> int:
    """Where the text starts below the page's heading: past its first line when that line is the
    title (an HTML page's <h1> repeating its <title>, a text file's first line), else 0."""
    first, newline, _ = text.partition("\n")
    if not title.strip() or " ".join(first.split()) != " ".join(title.split()):
        return 0
    skip = len(first) + len(newline)
    while skip < len(text) and text[skip] in " \t\n":
        skip += 1
    return skip if skip < len(text) else 0


def document_blocks(
    text: str, chunk: Mapping[str, Any] | None, query: str = "", title: str = ""
) -> list[TextBlock]:
    """The full text as blocks (before / matched chunk / after), query terms marked in each;
    a first line repeating the title (shown as the heading) is left out."""
    terms = matcher(query) if query.strip() else None
    skip = title_prefix(text, title)
    if chunk is None:
        bounds = [(skip, len(text), False)]
    else:
        start, end = int(chunk["start"]), int(chunk["end"])
        bounds = [(skip, start, False), (max(start, skip), end, True), (end, len(text), False)]
    blocks = []
    for start, end, is_match in bounds:
        piece = text[start:end]
        if piece:
            spans = terms.spans(piece) if terms else []
            blocks.append(TextBlock(marked_segments(piece, spans), is_match))
    return blocks


def doc_path(doc_id: str) -> str:
    """URL path segment for a document id: ids are file paths, so '/' is escaped too."""
    return quote(doc_id, safe="")


def display_title(title: str, source: str) -> str:
    if title.strip():
        return title
    return PurePath(source.split("#", 1)[0]).name or source or "(untitled)"


def format_score(score: float) -> str:
    """Three decimals; a tiny positive score (BM25 of a word in every document) is not shown as 0."""
    return "<0.001" if 0 < score < 0.0005 else f"{score:.3f}"


# What a hit's `score` is, by mode (README "What a score means").
SCORE_HELP = {
    "semantic": "cosine similarity of the query and the passage (-1 to 1)",
    "keyword": "BM25 score of the passage (0 and up; grows with rare query words)",
    "hybrid": "fused score: standard deviations above the mean of each side's candidates, "
    "weighted (about -2 to +5); compare within this list",
}


@dataclass(frozen=True)
class SideScore:
    name: str  # "semantic" or "keyword"
    shown: str  # the formatted score, or "–" when that side did not return the hit
    help: str


def side_scores(hit: Any, both: bool) -> list[SideScore]:
    """Each side's own score of a hit, for the page; `both` (hybrid) also shows a side that
    did not return the hit, as "–", so the reader sees which side found it."""
    out = []
    for name, score in (("semantic", hit.semantic_score), ("keyword", hit.keyword_score)):
        if score is not None:
            out.append(SideScore(name, format_score(score), SCORE_HELP[name]))
        elif both:
            out.append(SideScore(name, "–", f"the {name} side did not return this result"))
    return out


def format_time(epoch: float | None) -> str:
    if not epoch:
        return ""
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class PageLink:
    number: int
    url: str
    current: bool


@dataclass(frozen=True)
class Pager:
    page: int
    pages: int
    first: int  # 1-based rank of the first hit shown
    last: int
    previous: str | None
    next: str | None
    links: list[PageLink]


def pager(
    params: Mapping[str, str], page: int, page_size: int, shown: int, total: int, max_offset: int
) -> Pager:
    """Links for result pages; never offers a page the API would refuse (offset > max_offset)."""
    pages = max(1, min(math.ceil(total / page_size), max_offset // page_size + 1))

    def url(number: int) -> str:
        query = {k: v for k, v in params.items() if v}
        if number > 1:
            query["page"] = str(number)
        return "/?" + urlencode(query)

    first = (page - 1) * page_size + 1 if shown else 0
    window = range(max(1, page - 4), min(pages, page + 4) + 1)
    return Pager(
        page=page,
        pages=pages,
        first=first,
        last=first + shown - 1 if shown else 0,
        previous=url(page - 1) if page > 1 else None,
        next=url(page + 1) if page < pages and shown == page_size else None,
        links=[PageLink(n, url(n), n == page) for n in window] if pages > 1 else [],
    )
