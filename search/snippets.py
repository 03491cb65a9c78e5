"""Snippets: the passage of a hit that best explains the match, with the query's words marked.

One place decides what a snippet shows and what it highlights, for the result list, the API
and the document page alike:

- What is marked is what the keyword index matches (indexer/analysis.py): whole words whose
  Porter stem is a query term's ("hunting" marks "hunts", never "category" for "cat"), and for
  Chinese, Japanese and Korean the query's bigrams as contiguous runs ("利率上升" marks that run,
  never its characters one by one). A single-character CJK query word marks that character.
- Which passage: among the candidate chunks of a hit (the one the dense side ranked first, then
  the keyword side's, when they differ) and the windows of each, the one holding the most
  distinct query terms wins; ties go to the earlier candidate, so a passage the vector chose is
  kept unless another one shows more of the query.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from indexer.analysis import STOPWORDS, stem, token_spans, words_with_prefix

# A sentence ends here: the next one starts after it (Latin with a space, CJK without).
_SENTENCE_END = re.compile(r"[.!?;:](?=\s)|[。！？；：]")
Match = tuple[int, int, str]  # [start, end) in the text, and the query term it stands for


@dataclass(frozen=True)
class Snippet:
    text: str
    highlights: list[tuple[int, int]]  # [start, end) character spans within `text`
    terms: int = 0  # distinct query terms the snippet shows (how well it explains the match)


@dataclass(frozen=True)
class Matcher:
    """The query's terms as the text matches them: stems of words, CJK grams."""

    stems: frozenset[str]
    bigrams: frozenset[str]
    chars: frozenset[str]  # one-character CJK query words (a bigram is impossible there)

    def matches(self, text: str) -> list[Match]:
        """Every place `text` holds a query term, in order; CJK runs of adjacent or overlapping
        bigrams come back as one match."""
        words = words_with_prefix(text, self._candidate_words)
        if words is None:  # CJK text: every token
            return self._any_matches(text)
        return [(start, end, term) for start, end, word in words if (term := stem(word)) in self.stems]

    def _any_matches(self, text: str) -> list[Match]:
        """`matches` by tokenising all of `text`, as the keyword index reads it."""
        found: list[Match] = []
        for start, end, token, cjk in token_spans(text):
            if not cjk:
                term = stem(token)
                if term in self.stems:
                    found.append((start, end, term))
            elif self.bigrams or self.chars:
                found.extend(self._cjk(token, start))
        return found

    @cached_property
    def _candidate_words(self) -> list[str]:
        """Prefixes of the words that may stem to a query stem, so text without CJK is not
        tokenised whole. A Porter stem is a prefix of its word except that its last letter may
        be one Porter wrote: "i" for "y" ("happy" -> "happi"), a restored "e" ("hoping" ->
        "hope"), or the "l" of "-bility" ("suitability" -> "suitabl"). So a word stemming to `s`
        starts with `s`, or with `s[:-1]` when `s` ends in one of those; tests/test_snippets.py
        checks both over a corpus."""
        prefixes = sorted({_stem_prefix(s) for s in self.stems if s.isascii()}, key=len)
        return [p for at, p in enumerate(prefixes) if not any(p.startswith(q) for q in prefixes[:at])]

    def _cjk(self, run: str, offset: int) -> list[Match]:
        marked: list[tuple[int, int, list[str]]] = []
        grams = [(i, i + 2, run[i : i + 2]) for i in range(len(run) - 1) if run[i : i + 2] in self.bigrams]
        grams += [(i, i + 1, ch) for i, ch in enumerate(run) if ch in self.chars]
        for start, end, gram in sorted(grams):
            if marked and start <= marked[-1][1]:  # touching or overlapping: one run
                last = marked[-1]
                marked[-1] = (last[0], max(last[1], end), [*last[2], gram])
            else:
                marked.append((start, end, [gram]))
        # A run stands for each gram in it; the window score counts them (see _window).
        return [(offset + s, offset + e, "\x00".join(dict.fromkeys(g))) for s, e, g in marked]

    def spans(self, text: str) -> list[tuple[int, int]]:
        return [(start, end) for start, end, _ in self.matches(text)]


def _stem_prefix(stem: str) -> str:
    """What every word with this Porter stem starts with (Matcher._candidate_words)."""
    return stem[:-1] if len(stem) > 1 and stem[-1] in "eil" else stem


def matcher(query: str) -> Matcher | None:
    """What to mark for `query`: the words the keyword index looks up for it (stopwords only
    when the query is nothing else; one-letter Latin words never) and its CJK runs' grams;
    None when nothing is left."""
    words, bigrams, chars = [], set(), set()
    for _, _, token, cjk in token_spans(query):
        if not cjk:
            words.append(token)
        elif len(token) == 1:
            chars.add(token)
        else:
            bigrams.update(token[i : i + 2] for i in range(len(token) - 1))
    words = [w for w in words if w not in STOPWORDS] or words
    stems = {stem(w) for w in words if len(w) > 1 or not w.isascii()}
    if not (stems or bigrams or chars):
        return None
    return Matcher(frozenset(stems), frozenset(bigrams), frozenset(chars))


def _terms(matches: Sequence[Match]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for _, _, key in matches:
        counts.update(key.split("\x00"))
    return counts


def _window(matches: Sequence[Match], reach: int) -> int:
    """Index of the match that starts the stretch of `reach` characters holding the most
    distinct query terms (then the most matches; then the earliest)."""
    terms = [key.split("\x00") for _, _, key in matches]
    best, best_first = (0, 0), 0
    end = 0
    inside: dict[str, int] = {}  # term -> its matches in the stretch
    counted = 0
    for first, (start, _, _) in enumerate(matches):
        while end < len(matches) and (end <= first or matches[end][1] <= start + reach):
            for term in terms[end]:
                inside[term] = inside.get(term, 0) + 1
            counted += len(terms[end])
            end += 1
        score = (len(inside), counted)
        if score > best:
            best, best_first = score, first
        for term in terms[first]:
            left = inside[term] - 1
            if left:
                inside[term] = left
            else:
                del inside[term]
        counted -= len(terms[first])
    return best_first


def make_snippet(text: str, match: Matcher | None, width: int) -> Snippet:
    """Up to `width` characters of `text` (plus ellipses): the stretch holding the most distinct
    query terms, from its sentence's start when that is near, else from a space."""
    text = " ".join(text.split())
    matches = match.matches(text) if match else []
    if len(text) <= width:
        return Snippet(text, [(s, e) for s, e, _ in matches], len(_terms(matches)))
    lead = width // 5  # context shown before the first match
    anchor = matches[_window(matches, max(width - lead - 20, width // 2))][0] if matches else 0
    start = max(0, min(anchor - lead, len(text) - width))
    for found in _SENTENCE_END.finditer(text, start, anchor):
        start = found.end()  # the last sentence end before the match: start with its sentence
    while start < anchor and text[start] == " ":
        start += 1
    if 0 < start and text[start - 1] not in " 。！？；：" and not _SENTENCE_END.match(text, start - 1):
        space = text.find(" ", start, anchor)
        start = space + 1 if space != -1 else start
    end = min(len(text), start + width)
    if end < len(text):
        space = text.rfind(" ", max(start, end - 20), end)
        end = space if space > start else end
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    shown = [(s, e, key) for s, e, key in matches if s >= start and e <= end]
    spans = [(s - start + len(prefix), e - start + len(prefix)) for s, e, _ in shown]
    return Snippet(prefix + text[start:end] + suffix, spans, len(_terms(shown)))


def best_snippet(texts: Sequence[str], match: Matcher | None, width: int) -> tuple[int, Snippet]:
    """The candidate (index into `texts`, best first) whose snippet shows the most distinct query
    terms, and that snippet; ties go to the earlier candidate."""
    best_at, best = 0, make_snippet(texts[0], match, width)
    for at, text in enumerate(texts[1:], start=1):
        snippet = make_snippet(text, match, width)
        if snippet.terms > best.terms:
            best_at, best = at, snippet
    return best_at, best
