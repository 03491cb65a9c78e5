"""Text analysis for the keyword (FTS5) index, shared by indexing and querying.

FTS5's unicode61 tokenizer splits on spaces and punctuation, which leaves a run of Chinese
characters as one giant token. Before text reaches FTS5 we rewrite every CJK run as its
overlapping character bigrams plus unigrams (the classic CJK indexing scheme), and leave
Latin text to FTS5's porter stemmer. Measured against jieba words on xquad-zh (docs/quality.md):
bigrams 0.965 nDCG@10, jieba 0.964, jieba search mode 0.961; bigrams need no dictionary and
still match names and terms a dictionary has never seen.
"""

from __future__ import annotations

import re

_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]+")
_CJK_CHAR = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]")
_LATIN_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def cjk_grams(run: str) -> list[str]:
    """Unigrams and overlapping bigrams of a run of CJK characters."""
    grams = list(run)
    grams.extend(run[i : i + 2] for i in range(len(run) - 1))
    return grams


def analyze(text: str) -> str:
    """Text as FTS5 should index it: CJK runs become space-separated grams."""
    return _CJK_RUN.sub(lambda m: " " + " ".join(cjk_grams(m.group())) + " ", text)


# Function words: they match nearly every chunk, so keyword search skips them (SciFact keyword
# search 2.4x faster and nDCG@10 +0.004, docs/quality.md) and snippets do not highlight them.
STOPWORDS = frozenset(
    "a an and are as at be but by do does for from has have how i in is it its of on or that the "
    "this to was what when where which who why will with you your".split()
)


def query_terms(text: str) -> list[str]:
    """Distinct search terms of a user query: Latin words and CJK grams, syntax stripped."""
    terms: list[str] = []
    for piece in re.split(r"(" + _CJK_RUN.pattern + r")", text):
        if not piece:
            continue
        if _CJK_RUN.fullmatch(piece):
            terms.extend(cjk_grams(piece))
        else:
            terms.extend(w.lower() for w in _LATIN_WORD.findall(piece))
    seen: dict[str, None] = {}
    for term in terms:
        seen.setdefault(term, None)
    return list(seen)


def cjk_fraction(text: str) -> float:
    """Share of CJK characters among the letters of `text` (0 for no letters)."""
    letters = sum(1 for ch in text if ch.isalpha())
    if not letters:
        return 0.0
    return len(_CJK_CHAR.findall(text)) / letters
