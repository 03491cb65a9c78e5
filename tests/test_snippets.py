"""Snippets that explain the match: whole-word, stem-aware marks; CJK runs, never lone
characters; the window and the chunk that show most of the query."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from indexer.analysis import stem, token_spans
from indexer.embedders import HashingEmbedder
from indexer.pipeline import Indexer
from search.service import SearchService
from search.snippets import _stem_prefix, best_snippet, make_snippet, matcher
from tests.conftest import write_corpus


def marked(text: str, query: str, width: int = 400) -> list[str]:
    snippet = make_snippet(text, matcher(query), width)
    return [snippet.text[a:b] for a, b in snippet.highlights]


@pytest.mark.parametrize(
    ("text", "query", "expected"),
    [
        ("The cat hunts mice; a category of its own.", "cats hunting", ["cat", "hunts"]),
        ("Running runners ran", "run", ["Running"]),  # Porter: runners -> runner, ran -> ran
        ("Café culture in Zürich", "cafe zurich", ["Café", "Zürich"]),
        ("Кошка ловит мышь", "мышь", ["мышь"]),
        ("How the cat caught the mouse", "how does the cat hunt", ["cat"]),  # stopwords unmarked
        ("the who and the what", "the who", ["the", "who", "the"]),  # unless that is all there is
        ("a b c", "a", []),
    ],
)
def test_latin_marks_are_whole_words_with_the_query_terms_stem(text: str, query: str, expected: list) -> None:
    assert marked(text, query) == expected


@pytest.mark.parametrize(
    ("text", "query", "expected"),
    [
        ("央行宣布利率上升，市场平静。", "利率上升", ["利率上升"]),  # one run, not 利/率/上/升
        ("利率没有变，股市上升了。", "利率上升", ["利率", "上升"]),  # each word where it stands
        ("河岸边的柳树在春天发芽。", "柳树", ["柳树"]),
        ("猫捉老鼠。老鼠跑了。", "猫", ["猫"]),  # a one-character word marks that character
        ("利息和比率", "利率上升", []),  # shared characters alone are no match
        ("東京タワーの夜景", "タワー", ["タワー"]),
        ("서울의 지하철 노선도", "지하철", ["지하철"]),
        ("The 中央银行 raised rates", "银行 rates", ["银行", "rates"]),
    ],
)
def test_cjk_marks_are_contiguous_runs_of_the_querys_bigrams(text: str, query: str, expected: list) -> None:
    assert marked(text, query) == expected


def test_no_mark_is_a_single_cjk_character_of_a_longer_query_word() -> None:
    text = "关于我们 联系我们 首页 利 率 上 升 版权所有。" + "中央银行今天宣布利率上升。"
    assert all(len(m) >= 2 for m in marked(text, "利率上升"))


def test_the_window_holds_the_most_query_terms_not_the_first_match() -> None:
    text = (
        "Glaciers are mentioned once here. "
        + "Filler sentence about nothing in particular. " * 12
        + "Norway's glaciers carve fjords, and the fjords fill with meltwater. "
        + "More filler about nothing. " * 12
    )
    snippet = make_snippet(text, matcher("glacier fjord meltwater"), 160)
    words = {snippet.text[a:b].lower() for a, b in snippet.highlights}
    assert words == {"glaciers", "fjords", "meltwater"} and snippet.terms == 3
    assert snippet.text.startswith("…Norway's glaciers")  # from its sentence's start
    assert len(snippet.text) <= 162


def test_a_chinese_snippet_skips_boilerplate_and_starts_at_the_sentence() -> None:
    boilerplate = "首页 | 关于我们 | 联系我们 | 网站地图。" * 15
    text = boilerplate + "央行宣布利率上升，市场反应平淡。" + "版权所有 " * 30
    snippet = make_snippet(text, matcher("利率上升"), 60)
    assert snippet.text.startswith("…央行宣布利率上升")
    assert [snippet.text[a:b] for a, b in snippet.highlights] == ["利率上升"]


def test_best_snippet_prefers_the_chunk_showing_more_of_the_query_then_the_first() -> None:
    query = matcher("interest rates inflation")
    chunks = ["Menu Home About Contact", "Interest rates rose as inflation climbed.", "Rates fell."]
    at, snippet = best_snippet(chunks, query, 200)
    assert at == 1 and snippet.terms == 3
    at, _ = best_snippet(["Rates rose.", "Rates fell."], query, 200)
    assert at == 0  # a tie keeps the first candidate (the dense side's chunk)


class SteeredEmbedder(HashingEmbedder):
    """The hashing fake, except every query embeds as `target`: the dense side then ranks the
    chunk that looks like `target` first, whatever the query says."""

    multilingual = False  # an English-only model: a Chinese query gets dense weight 0

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_documents([self.target] * len(texts))


BOILERPLATE = "Home About Contact Sitemap Privacy Login. " * 40


@pytest.mark.parametrize(
    ("query", "term"),
    [("利率上升", "利率上升"), ("interest rates climbed", "rates")],
)
def test_a_hybrid_hit_takes_its_snippet_from_the_chunk_that_shows_the_query(
    make_settings, tmp_path: Path, query: str, term: str
) -> None:
    """A page whose first chunk is navigation: the dense side (steered to it) picks that chunk;
    the snippet comes from the chunk with the query's words, and the hit names that chunk."""
    page = BOILERPLATE + "\n\n央行宣布利率上升。Interest rates climbed again this spring.\n"
    corpus = write_corpus(tmp_path / "docs", {"page.txt": page, "other.txt": "Bread and butter.\n"})
    settings = make_settings(chunking__max_tokens=64, chunking__overlap_tokens=0)
    embedder = SteeredEmbedder(BOILERPLATE)
    Indexer(settings, embedder).index([corpus])
    service = SearchService.open(settings, embedder)
    dense_first = service.search_text(query, k=1, mode="semantic").hits[0]
    assert "利率" not in dense_first.snippet and "rates" not in dense_first.snippet
    hit = service.search_text(query, k=1, mode="hybrid").hits[0]
    assert hit.doc_id.endswith("page.txt") and hit.chunk_id != dense_first.chunk_id
    assert term in [hit.snippet[a:b] for a, b in hit.highlights]
    assert hit.semantic_score is not None and hit.keyword_score is not None
    chunk = next(c for c in service.document(hit.doc_id)["chunks"] if c["chunk_id"] == hit.chunk_id)
    assert term in chunk["text"]


# Words where a Porter stem is not a prefix of its word (its last letter replaced or added),
# and ones where the stem cuts deep: the ASCII fast path must find every one of them.
_STEM_EDGE_WORDS = (
    "happy happiness hoping hopeful stability suitability stabilise relational conditional eyed ay ey "
    "agreed rating generalization operator sensibility valency activity playing cries flies "
    "dying lying skies sky owing formalize electricity hopefulness goodness COVID-19 p53 IL2ra"
).split()


def _text_corpus() -> list[str]:
    """Texts for the fast-path check: the edge words, plus SciFact's first documents when
    the shared data is beside the project."""
    texts = [
        " ".join(_STEM_EDGE_WORDS),
        "Stability_of IL-2, the rate-limiting; (hoping) 5'-UTR x_y",
        "Café–culture in Zürich: ﬁnal Ångström units, the Kelvin sign K, naïve ÉTUDES β-cells",
    ]
    corpus = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact" / "corpus.jsonl"
    if corpus.exists():
        with corpus.open(encoding="utf-8") as lines:
            for _, line in zip(range(300), lines, strict=False):
                record = json.loads(line)
                texts.append(f"{record.get('title', '')} {record['text']}")
    return texts


def test_the_ascii_fast_path_marks_exactly_what_full_tokenising_marks() -> None:
    """Matcher.matches skips tokenising text without CJK whole; for queries made of each text's
    own words (so every word is a term of some query) it must mark what tokenising every word
    (the path CJK text takes) marks."""
    compared = 0
    for text in _text_corpus():
        words = [t for _, _, t, cjk in token_spans(text) if not cjk]
        for at in range(0, len(words), 7):
            match = matcher(" ".join(words[at : at + 7]))
            if match is None:
                continue
            assert match.matches(text) == match._any_matches(text), (text[:80], words[at : at + 7])
            compared += 1
    assert compared > 10


def test_every_ascii_word_starts_with_its_stems_prefix() -> None:
    """The property the fast path stands on (search/snippets.py, _candidate_words): a word
    starts with its stem, but for a last "e", "i" or "l" that Porter may have written."""
    words = {w for text in _text_corpus() for _, _, w, cjk in token_spans(text) if not cjk and w.isascii()}
    assert not [(w, stem(w)) for w in words if not w.startswith(_stem_prefix(stem(w)))]
    assert {"happi", "hope", "suitabl"} <= {stem(w) for w in words}  # each kind of rewrite is checked
    assert len(words) > 40
