"""Keyword search: BM25 over the chunks' FTS5 index, with user text never parsed as FTS5 syntax."""

from __future__ import annotations

from indexer.analysis import STOPWORDS, query_terms


def fts_match_expression(query: str) -> str | None:
    """An FTS5 MATCH expression that ORs the query's terms, each as a quoted string.

    Quoting every term makes `"`, `*`, `NEAR`, `-`, `:` and parentheses plain text: FTS5 sees
    only string literals joined by OR. Stopwords are left out unless the query is nothing else
    ("the who"). Returns None when the query has no searchable term.
    """
    terms = query_terms(query)
    terms = [term for term in terms if term not in STOPWORDS] or terms
    if not terms:
        return None
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)
