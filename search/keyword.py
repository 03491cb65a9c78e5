"""Keyword search: BM25 over the chunks' FTS5 index, with user text never parsed as FTS5 syntax."""

from __future__ import annotations

from indexer.analysis import query_terms


def fts_match_expression(query: str) -> str | None:
    """An FTS5 MATCH expression that ORs the query's terms, each as a quoted string.

    Quoting every term makes `"`, `*`, `NEAR`, `-`, `:` and parentheses plain text: FTS5 sees
    only string literals joined by OR. Returns None when the query has no searchable term.
    """
    terms = query_terms(query)
    if not terms:
        return None
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)
