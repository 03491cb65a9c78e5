"""The page in Chromium over a real-looking English + Chinese corpus with the default (English-
only) model: hits, marked snippets and both sides' scores, as a user sees them. Saves the
README's screenshots (docs/screenshot-en.png, docs/screenshot-zh.png).

Slow (loads the real model) and a browser test: the driver and helpers are test_browser's.
Screenshots go to test-output/; SEMSEARCH_UPDATE_SCREENSHOTS=1 writes the README's copies in
docs/ too (so a test run leaves tracked files alone).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.config import load_settings
from indexer.embedders import Embedder
from tests.conftest import REPO
from tests.daily_corpus import write_daily_corpus
from tests.test_browser import OUTPUT, driver, search_for, wait_for_status  # noqa: F401 (driver: a fixture)
from tests.web_helpers import build_index, running_server
from web.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DOCS = REPO / "docs"

try:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
except ImportError:  # pragma: no cover - test_browser's driver fixture reports it
    pass


@pytest.fixture(scope="module")
def daily_url(tmp_path_factory: pytest.TempPathFactory, real_embedder: Embedder) -> Iterator[str]:
    root = tmp_path_factory.mktemp("daily")
    settings = load_settings(None, {"index_dir": str(root / "index")})
    build_index(settings, real_embedder, write_daily_corpus(root / "docs"))
    with running_server(create_app(settings, real_embedder)) as url:
        yield url


def _hits(browser: WebDriver) -> list[dict[str, object]]:
    """What each result shows: title, marked words, the score line's parts."""
    out = []
    for item in browser.find_elements(By.CSS_SELECTOR, "ol.hits > li.hit"):
        side_spans = item.find_elements(By.CSS_SELECTOR, ".side")
        sides = {s.get_attribute("class").split()[1]: s.text for s in side_spans}
        out.append(
            {
                "title": item.find_element(By.CSS_SELECTOR, ".hit-title a").text,
                "marks": [m.text for m in item.find_elements(By.CSS_SELECTOR, ".snippet mark")],
                "score": item.find_element(By.CSS_SELECTOR, ".score").text,
                "sides": sides,
            }
        )
    return out


def _screenshot(browser: WebDriver, name: str) -> None:
    browser.set_window_size(1100, 900)
    try:
        OUTPUT.mkdir(exist_ok=True)
        folders = [OUTPUT, DOCS] if os.environ.get("SEMSEARCH_UPDATE_SCREENSHOTS") == "1" else [OUTPUT]
        for folder in folders:
            path: Path = folder / name
            browser.save_screenshot(str(path))
            assert path.stat().st_size > 10_000  # a real picture, not a blank page
    finally:
        browser.set_window_size(1280, 1000)


def test_english_search_shows_marked_snippets_and_both_scores(driver: WebDriver, daily_url: str) -> None:  # noqa: F811
    driver.get(daily_url + "/")
    search_for(driver, "how do I pin package versions")
    status = wait_for_status(driver, "Results 1–")
    assert "of about 31" in status  # total: every document has a similarity in hybrid mode
    hits = _hits(driver)
    assert hits[0]["title"] == "Installing packages"
    assert {"versions", "package"} <= {m.lower() for m in hits[0]["marks"]}
    assert re.fullmatch(r"semantic 0\.\d{3}", hits[0]["sides"]["semantic"])
    assert re.fullmatch(r"keyword \d+\.\d{3}", hits[0]["sides"]["keyword"])
    assert "keyword –" in [h["sides"]["keyword"] for h in hits]  # a hit only the dense side found
    _screenshot(driver, "screenshot-en.png")


def test_chinese_search_with_the_english_model_marks_whole_words(driver: WebDriver, daily_url: str) -> None:  # noqa: F811
    driver.get(daily_url + "/")
    search_for(driver, "利率上升")
    wait_for_status(driver, "Results 1–")
    hits = _hits(driver)
    assert hits[0]["title"] == "央行宣布上调基准利率"
    assert "利率上升" in hits[0]["marks"]  # one contiguous run, where the article says it
    assert all(len(mark) >= 2 for hit in hits for mark in hit["marks"])  # never lone characters
    with_words = [h for h in hits if h["sides"]["keyword"] != "keyword –"]
    without = [h for h in hits if h["sides"]["keyword"] == "keyword –"]
    assert with_words and all(h["marks"] for h in with_words)  # each keyword match shows its words
    assert hits.index(with_words[-1]) < hits.index(without[0])  # matches rank above non-matches
    _screenshot(driver, "screenshot-zh.png")
