"""Text analysis for the keyword index, shared by indexing and querying.

Latin text: words of letters and digits, lower-cased, diacritics removed, Porter-stemmed (what
FTS5's `porter unicode61 remove_diacritics 2` did before, so rankings carried over). A run of
Chinese, Japanese or Korean characters has no spaces to split on: it becomes its character
unigrams plus overlapping bigrams (the classic CJK indexing scheme). Measured against jieba words
on xquad-zh (docs/quality.md): bigrams 0.965 nDCG@10, jieba 0.964, jieba search mode 0.961;
bigrams need no dictionary and still match names and terms a dictionary has never seen.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

import Stemmer

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af"
_CJK_RUN = re.compile(f"[{_CJK}]+")
_CJK_CHAR = re.compile(f"[{_CJK}]")
# One token: a CJK run (split into grams below) or a word of letters and digits.
_TOKEN = re.compile(f"([{_CJK}]+)|[^\\W_{_CJK}]+", re.UNICODE)
_WORD = re.compile(r"[^\W_]+")  # a token of CJK-free text
_NON_ASCII_WORD_CHAR = re.compile(r"[^\W_\x00-\x7f]")
_STEMMER = Stemmer.Stemmer("porter")

# Function words: they match nearly every chunk, so keyword search skips them (SciFact keyword
# search 2.4x faster and nDCG@10 +0.004, docs/quality.md) and snippets do not highlight them.
STOPWORDS = frozenset(
    "a an and are as at be but by do does for from has have how i in is it its of on or that the "
    "this to was what when where which who why will with you your".split()
)


def cjk_grams(run: str) -> list[str]:
    """Unigrams and overlapping bigrams of a run of CJK characters."""
    grams = list(run)
    grams.extend(run[i : i + 2] for i in range(len(run) - 1))
    return grams


@lru_cache(maxsize=200_000)
def _fold(word: str) -> str:
    """Lower case without diacritics ("Café" -> "cafe"); cached: vocabularies are small."""
    word = word.lower()
    if not word.isascii():
        word = "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))
    return word


def words(text: str) -> list[str]:
    """The tokens of `text` in order, folded but not stemmed: words and CJK grams."""
    out: list[str] = []
    for match in _TOKEN.finditer(text):
        run = match.group(1)
        if run:
            out.extend(cjk_grams(run))
        else:
            out.append(_fold(match.group()))
    return out


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return _STEMMER.stemWord(word) if word.isascii() else word


def stem(word: str) -> str:
    """The index term of one folded word: Porter stem for ASCII words, the word itself otherwise."""
    return _stem(word)


def token_spans(text: str) -> list[tuple[int, int, str, bool]]:
    """(start, end, token, is_cjk) for each token of `text`, in order: a word (folded, unstemmed)
    or a whole CJK run (as written). The tokens `words` makes, with where they are, so
    snippets mark exactly what the keyword index matched."""
    out = []
    for match in _TOKEN.finditer(text):
        run = match.group(1)
        if run:
            out.append((match.start(), match.end(), run, True))
        else:
            out.append((match.start(), match.end(), _fold(match.group()), False))
    return out


def words_with_prefix(text: str, prefixes: Iterable[str]) -> list[tuple[int, int, str]] | None:
    """(start, end, folded word), in order, for each word of `text` that starts with one of
    `prefixes` (folded ASCII) once folded, and for some others (the caller tests each): what
    token_spans would give for those words, found by C-speed substring search instead of
    tokenising everything. None when `text` holds CJK (only token_spans splits its runs) or
    lower-casing changes its length ("İ")."""
    if _CJK_CHAR.search(text):
        return None
    lowered = text.lower()
    if len(lowered) != len(text):
        return None
    starts: set[int] = set()
    for prefix in prefixes:
        at = lowered.find(prefix)
        while at != -1:
            if at == 0 or not text[at - 1].isalnum():  # a word's start ([^\W_] is isalnum)
                starts.add(at)
            at = lowered.find(prefix, at + 1)
    for letter in _NON_ASCII_WORD_CHAR.finditer(text):  # folding may turn it into a prefix
        at = letter.start()
        while at > 0 and text[at - 1].isalnum():
            at -= 1
        starts.add(at)
    out = []
    for at in sorted(starts):
        word = _WORD.match(text, at)
        assert word is not None
        out.append((at, word.end(), _fold(word.group())))
    return out


def index_terms(text: str) -> list[str]:
    """The terms the keyword index stores for `text` (duplicates kept: they are frequencies)."""
    return [_stem(w) if w.isascii() else w for w in words(text)]


def query_terms(text: str) -> list[str]:
    """Distinct words of a user query (folded, unstemmed), any syntax stripped."""
    return list(dict.fromkeys(words(text)))


def search_terms(text: str) -> list[str]:
    """Distinct index terms to look up for a query: stopwords left out unless the query is
    nothing else ("the who")."""
    terms = query_terms(text)
    terms = [t for t in terms if t not in STOPWORDS] or terms
    return list(dict.fromkeys(_stem(t) if t.isascii() else t for t in terms))


def cjk_fraction(text: str) -> float:
    """Share of CJK characters among the letters of `text` (0 for no letters)."""
    letters = sum(1 for ch in text if ch.isalpha())
    if not letters:
        return 0.0
    return len(_CJK_CHAR.findall(text)) / letters
