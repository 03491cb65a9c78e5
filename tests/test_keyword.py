"""Keyword search: query syntax in user text is inert, English stems, Chinese is found by its words."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.analysis import cjk_fraction, index_terms, query_terms, search_terms
from indexer.config import MODES, load_settings
from indexer.embedders import HashingEmbedder
from indexer.errors import QueryError
from indexer.pipeline import Indexer
from search.service import SearchService
from tests.conftest import write_corpus

NASTY_QUERIES = [
    '"',
    '""',
    '"""',
    '"unbalanced quote',
    'cat"',
    'c"a"t',
    "'",
    "cat's",
    "*",
    "cat*",
    "*cat",
    "NEAR",
    "NEAR(cat mouse)",
    "NEAR(cat mouse, 2)",
    "cat NEAR/2 mouse",
    "-",
    "-cat",
    "cat -mouse",
    "--",
    ":",
    "title:cat",
    "body:",
    "{title body}: cat",
    "chunks_fts:cat",
    "(",
    ")",
    "(cat",
    "cat)",
    "((()))",
    "(cat OR mouse) AND NOT barn",
    "AND",
    "OR",
    "NOT",
    "cat AND",
    "OR mouse",
    "NOT NOT",
    "AND OR NOT",
    "^cat",
    "+cat",
    "cat + mouse",
    "\\",
    "cat\\",
    "%",
    "_",
    "cat_mouse",
    "?",
    "[cat]",
    "'; DROP TABLE chunks; --",
    "cat\x00mouse",
    "\u200b",
    "☃ 🙂",
    "²",
    "ǅ",
    '猫 AND "老鼠',
    "利率*",
    "（央行）",
    "“银行”",
]


@pytest.fixture(scope="module")
def keyword_service(tmp_path_factory: pytest.TempPathFactory) -> SearchService:
    root = tmp_path_factory.mktemp("keyword")
    docs = write_corpus(
        root / "docs",
        {
            "cats.txt": "The cat chases the mouse through the barn at night.\n",
            "space.txt": "The telescope photographed a distant galaxy full of young stars.\n",
            "bank.txt": "The central bank raised interest rates again.\n",
            "bank_zh.txt": "央行再次提高了利率。\n",
            "cat_zh.txt": "小猫在谷仓里追老鼠。\n",
            "river_zh.txt": "河岸边的柳树在春天发芽。\n",
            "food_zh.txt": "我喜欢加了芥末和泡菜的火腿三明治。\n",
        },
    )
    settings = load_settings(None, {"index_dir": str(root / "index")})
    embedder = HashingEmbedder()
    Indexer(settings, embedder).index([docs])
    return SearchService.open(settings, embedder)


def _top(service: SearchService, query: str, mode: str = "keyword") -> str | None:
    result = service.search_text(query, k=3, mode=mode)
    return Path(result.hits[0].source).name if result.hits else None


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("query", NASTY_QUERIES)
def test_nasty_queries_search_without_error(keyword_service: SearchService, query: str, mode: str) -> None:
    if not query.strip():
        with pytest.raises(QueryError):
            keyword_service.search_text(query, mode=mode)
        return
    keyword_service.search_text(query, k=5, mode=mode)


@pytest.mark.parametrize(
    "query", ["NEAR(cat mouse)", '"cat', "cat*", "-cat", "title:cat", "(cat", "cat AND NOT", "{body}: mouse"]
)
def test_syntax_characters_search_for_the_words(keyword_service: SearchService, query: str) -> None:
    assert _top(keyword_service, query) == "cats.txt"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("chasing mice", "cats.txt"),  # chasing -> chase (porter)
        ("photographs of galaxies", "space.txt"),
        ("raising the rate", "bank.txt"),
        ("Telescopes", "space.txt"),
    ],
)
def test_english_stemming(keyword_service: SearchService, query: str, expected: str) -> None:
    assert _top(keyword_service, query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("利率上升", "bank_zh.txt"),
        ("老鼠", "cat_zh.txt"),
        ("春天的柳树", "river_zh.txt"),
        ("火腿三明治", "food_zh.txt"),
        ("谷仓 cat", "cat_zh.txt"),
    ],
)
def test_chinese_query_finds_chinese_documents_by_their_words(
    keyword_service: SearchService, query: str, expected: str
) -> None:
    assert _top(keyword_service, query) == expected


def test_chinese_query_does_not_match_unrelated_chinese(keyword_service: SearchService) -> None:
    sources = {Path(h.source).name for h in keyword_service.search_text("柳树", k=10, mode="keyword").hits}
    assert sources == {"river_zh.txt"}


def test_stopwords_are_left_out_of_the_lookup_unless_nothing_else_is_left() -> None:
    assert search_terms("What is the cat chasing in the barn?") == ["cat", "chase", "barn"]
    assert search_terms("the who") == ["the", "who"]
    assert search_terms("the 利率") == ["利", "率", "利率"]


def test_index_terms_fold_case_and_diacritics_and_stem() -> None:
    assert index_terms("Cafés RUNNING naïve") == ["cafe", "run", "naiv"]
    assert index_terms("x_y 2024") == ["x", "y", "2024"]
    assert index_terms("小猫") == ["小", "猫", "小猫"]


def test_a_query_of_stopwords_still_finds_documents(keyword_service: SearchService) -> None:
    assert _top(keyword_service, "through the") == "cats.txt"  # "through" is not a stopword
    assert _top(keyword_service, "the") is not None


def test_query_terms() -> None:
    assert query_terms("Cats, cats AND dogs!") == ["cats", "and", "dogs"]
    assert query_terms("柳树") == ["柳", "树", "柳树"]
    assert query_terms('"*:()"') == []


def test_cjk_fraction() -> None:
    assert cjk_fraction("") == 0.0
    assert cjk_fraction("abc") == 0.0
    assert cjk_fraction("央行") == 1.0
    assert cjk_fraction("央行 ab") == pytest.approx(0.5)
