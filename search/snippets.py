"""Snippets: a window of the matching chunk around the query's terms, with highlight spans."""

from __future__ import annotations

import re
from dataclasses import dataclass

from indexer.analysis import STOPWORDS, query_terms


@dataclass(frozen=True)
class Snippet:
    text: str
    highlights: list[tuple[int, int]]  # [start, end) character spans within `text`


def term_pattern(query: str) -> re.Pattern[str] | None:
    """Matches the query's words (whole-word prefix, so 'cat' finds 'cats') and CJK grams."""
    terms = [t for t in query_terms(query) if (len(t) > 1 or not t.isascii()) and t not in STOPWORDS]
    if not terms:
        return None
    parts = []
    for term in sorted(terms, key=len, reverse=True):
        escaped = re.escape(term)
        parts.append(rf"\b{escaped}\w*" if term.isascii() else escaped)
    return re.compile("|".join(parts), re.IGNORECASE)


def highlight_spans(text: str, pattern: re.Pattern[str] | None) -> list[tuple[int, int]]:
    if pattern is None:
        return []
    return [(m.start(), m.end()) for m in pattern.finditer(text)]


def make_snippet(text: str, pattern: re.Pattern[str] | None, width: int) -> Snippet:
    """Up to `width` characters of `text`, centred on the first term match, cut at spaces.

    `pattern` comes from `term_pattern(query)`, built once per query, not once per hit.
    """
    text = " ".join(text.split())
    matches = highlight_spans(text, pattern)
    if len(text) <= width:
        return Snippet(text, matches)
    centre = matches[0][0] if matches else 0
    start = max(0, min(centre - width // 3, len(text) - width))
    end = start + width
    if start > 0:
        space = text.find(" ", start, start + 20)
        start = space + 1 if space != -1 else start
    if end < len(text):
        space = text.rfind(" ", end - 20, end)
        end = space if space > start else end
    body = text[start:end]
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    window = prefix + body + suffix
    return Snippet(window, highlight_spans(window, pattern))
