"""The map in a real browser: headless Chromium loads /map, the points and the topic legend are
drawn, a query's hits are ringed, hovering shows a title and a click opens the document. The
screenshot goes to test-output/map.png.

The corpus is the first MAP_DOCS SciFact abstracts (shared/data) when present, else a small
themed corpus, indexed with the hashing fake: the test is about the page, not the model.
SEMSEARCH_MAP_INDEX=DIR serves an index built before instead, with its own model, and also
saves the README's picture, docs/map.png (taken so over all of SciFact indexed with MiniLM:
`python -m benchmarks.space --scifact-index DIR` builds it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.config import load_settings
from indexer.embedders import HashingEmbedder, embedder_for
from indexer.layout import IndexLayout
from indexer.pipeline import Indexer
from tests.conftest import REPO, SHARED_DATA, write_corpus
from tests.test_browser import driver, wait  # noqa: F401 - the module's browser fixture
from tests.test_space import themed_corpus
from tests.web_helpers import running_server
from web.app import create_app

pytestmark = pytest.mark.browser
MAP_DOCS = 1500
SCREENSHOTS = REPO / "test-output"
README_PICTURE = REPO / "docs" / "map.png"

try:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
except ImportError:  # pragma: no cover - test_browser's fixture reports it
    pass


def _corpus(root: Path) -> tuple[Path, str]:
    scifact = SHARED_DATA / "scifact" / "corpus.jsonl"
    if not scifact.exists():
        themed_corpus(root)
        return root, "interest rates"
    with open(scifact, encoding="utf-8") as source:
        lines = [next(source) for _ in range(MAP_DOCS)]
    write_corpus(root, {"scifact.jsonl": "".join(lines)})
    return root, "vitamin D deficiency"


@pytest.fixture(scope="module")
def map_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, int]]:
    given = os.environ.get("SEMSEARCH_MAP_INDEX")
    if given:
        settings = load_settings(None, {"index_dir": given})
        embedder = embedder_for(settings, 0, model_given=False)
        documents = IndexLayout(Path(given)).current().documents
        query = "vitamin D deficiency"
    else:
        root = tmp_path_factory.mktemp("map")
        settings = load_settings(None, {"index_dir": str(root / "index")})
        embedder = HashingEmbedder(dim=384)
        corpus, query = _corpus(root / "docs")
        documents = Indexer(settings, embedder).index([corpus]).documents
    with running_server(create_app(settings, embedder)) as url:
        yield url, query, documents


def _wait_ready(browser: WebDriver) -> None:
    wait(browser).until(
        lambda d: d.find_element(By.ID, "map-page").get_attribute("data-state") in ("ready", "failed")
    )
    assert browser.find_element(By.ID, "map-page").get_attribute("data-state") == "ready", (
        browser.find_element(By.ID, "map-status").text
    )


def test_map_draws_points_topics_and_marks_hits(
    driver: WebDriver,  # noqa: F811
    map_server: tuple[str, str, int],
) -> None:
    url, query, documents = map_server
    driver.set_window_size(1280, 1400)  # the map and the topic legend below it
    driver.get(f"{url}/map?q={query.replace(' ', '+')}")
    _wait_ready(driver)
    page = driver.find_element(By.ID, "map-page")
    assert int(page.get_attribute("data-points") or 0) == documents
    marked = int(page.get_attribute("data-marked") or 0)
    assert 0 < marked <= 50
    legend = driver.find_elements(By.CSS_SELECTOR, "#map-legend > li")
    assert len(legend) >= 2 and all(item.find_element(By.CSS_SELECTOR, ".name").text for item in legend)
    status = driver.find_element(By.ID, "map-status").text
    assert f"{documents} documents in {len(legend)} topics" in status and f"“{query}”" in status
    painted = driver.execute_script(
        "const c = document.getElementById('map-canvas'); const d = c.getContext('2d')"
        ".getImageData(0, 0, c.width, c.height).data; let n = 0;"
        "for (let i = 3; i < d.length; i += 4) { if (d[i] > 0) { n++; } } return n;"
    )
    assert painted > documents  # every point covers a few pixels
    SCREENSHOTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / "map.png"))
    if os.environ.get("SEMSEARCH_MAP_INDEX"):
        driver.save_screenshot(str(README_PICTURE))

    # along the middle line, the cursor finds a point: its title shows, and a click opens it
    width = driver.execute_script("return document.getElementById('map-canvas').clientWidth;")
    canvas = driver.find_element(By.ID, "map-canvas")
    found = None
    for dx in range(-width // 2 + 20, width // 2 - 20, 4):
        ActionChains(driver).move_to_element_with_offset(canvas, dx, 0).perform()
        tip = driver.find_element(By.ID, "map-tip")
        if tip.is_displayed():
            found = tip.find_element(By.TAG_NAME, "strong").text
            break
    assert found, "no point under the cursor along the middle line"
    ActionChains(driver).click().perform()
    wait(driver).until(lambda d: "/doc/" in d.current_url)
    assert driver.find_element(By.TAG_NAME, "h1").text == found
    assert f"q={query.split()[0]}" in driver.current_url
