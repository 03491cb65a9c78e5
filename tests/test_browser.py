"""A real browser against a real server: Debian's headless Chromium driven by selenium.

The server is uvicorn on a free 127.0.0.1 port in a thread, over an index built with the hashing
fake. Without chromium these tests fail with a message; SEMSEARCH_SKIP_BROWSER=1 skips them.
An alert() from injected text would make selenium raise UnexpectedAlertPresentException.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from indexer.config import load_settings
from indexer.embedders import HashingEmbedder
from tests.conftest import REPO, write_corpus
from tests.web_helpers import WEB_CORPUS, XSS, build_index, garden_corpus, running_server
from web.app import create_app

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
OUTPUT = REPO / "test-output"
WAIT_S = 15

try:
    from selenium import webdriver
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.remote.webelement import WebElement
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError as exc:  # pragma: no cover - reported by the fixture below
    SELENIUM_ERROR: ImportError | None = exc
else:
    SELENIUM_ERROR = None


def _browser_missing() -> str | None:
    if SELENIUM_ERROR is not None:
        return f"selenium is not installed ({SELENIUM_ERROR}); pip install -e '.[test]'"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not path.exists():
            return f"{path} not found: apt-get install {package}"
    return None


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("browser")
    settings = load_settings(None, {"index_dir": str(root / "index")})
    embedder = HashingEmbedder()
    build_index(settings, embedder, write_corpus(root / "docs", {**WEB_CORPUS, **garden_corpus(25)}))
    with running_server(create_app(settings, embedder)) as url:
        yield url


@pytest.fixture(scope="module")
def driver() -> Iterator[WebDriver]:
    missing = _browser_missing()
    if missing:
        if os.environ.get("SEMSEARCH_SKIP_BROWSER") == "1":
            pytest.skip(f"browser tests skipped (SEMSEARCH_SKIP_BROWSER=1): {missing}")
        pytest.fail(f"cannot run the browser tests: {missing}. Set SEMSEARCH_SKIP_BROWSER=1 to skip them.")
    profile = tempfile.mkdtemp(prefix="semsearch-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    browser = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait(driver: WebDriver) -> WebDriverWait:
    return WebDriverWait(driver, WAIT_S)


def type_query(driver: WebDriver, text: str) -> None:
    box = driver.find_element(By.ID, "q")
    box.send_keys(Keys.CONTROL, "a")  # as a person would: clear() fires no input event
    box.send_keys(Keys.BACKSPACE)
    if text:
        box.send_keys(text)


def search_for(driver: WebDriver, text: str) -> None:
    """Type a query and wait until the list shows its results (not those of a prefix of it)."""
    type_query(driver, text)
    wait(driver).until(
        lambda d: d.execute_script(
            "const r = document.getElementById('results');"
            "return r.dataset.query === arguments[0] && !r.hasAttribute('aria-busy');",
            text,
        )
    )


def wait_for_status(driver: WebDriver, fragment: str) -> str:
    wait(driver).until(ec.text_to_be_present_in_element((By.ID, "status"), fragment))
    return driver.find_element(By.ID, "status").text


def first_titles(driver: WebDriver) -> list[str]:
    return [a.text for a in driver.find_elements(By.CSS_SELECTOR, "ol.hits .hit-title a")]


def mark_page(driver: WebDriver) -> None:
    """A marker that a page load would wipe out."""
    driver.execute_script("window.__noReload = 'still here';")


def page_survived(driver: WebDriver) -> bool:
    return driver.execute_script("return window.__noReload === 'still here';")


def assert_no_alert(driver: WebDriver) -> None:
    try:
        driver.switch_to.alert.dismiss()
    except NoAlertPresentException:
        return
    raise AssertionError("an alert() ran: document text was executed as script")


def hit_titled(driver: WebDriver, fragment: str) -> WebElement:
    for item in driver.find_elements(By.CSS_SELECTOR, "ol.hits > li.hit"):
        if fragment in item.find_element(By.CSS_SELECTOR, ".hit-title a").text:
            return item
    raise AssertionError(f"no result titled {fragment!r} in {first_titles(driver)}")


def test_results_follow_typing_without_a_reload(driver: WebDriver, base_url: str) -> None:
    driver.get(base_url + "/")
    assert driver.execute_script("return document.documentElement.classList.contains('js');")
    mark_page(driver)
    search_for(driver, "cat mouse")
    status = wait_for_status(driver, "Results 1–")
    assert "hybrid" in status
    assert first_titles(driver)[0] == "The cat chases the mouse through the barn at night."
    marks = [m.text for m in driver.find_elements(By.CSS_SELECTOR, "ol.hits li:first-child .snippet mark")]
    assert marks == ["cat", "mouse"]
    assert page_survived(driver)
    assert parse_qs(urlsplit(driver.current_url).query) == {"q": ["cat mouse"]}
    OUTPUT.mkdir(exist_ok=True)
    driver.save_screenshot(str(OUTPUT / "results.png"))

    search_for(driver, "galaxy telescope")  # results replace the old ones
    assert first_titles(driver)[0] == "The telescope photographed a distant galaxy full of young stars."
    assert page_survived(driver)


def test_mode_paging_and_empty_state_in_place(driver: WebDriver, base_url: str) -> None:
    driver.get(base_url + "/")
    mark_page(driver)
    Select(driver.find_element(By.ID, "mode")).select_by_value("keyword")
    search_for(driver, "garden")
    wait_for_status(driver, "Results 1–10 of about 25")
    assert "keyword" in driver.find_element(By.ID, "status").text
    driver.find_element(By.CSS_SELECTOR, "#pager a[rel=next]").click()
    wait_for_status(driver, "Results 11–20 of about 25")
    assert driver.find_element(By.CSS_SELECTOR, "ol.hits").get_attribute("start") == "11"
    assert parse_qs(urlsplit(driver.current_url).query) == {
        "q": ["garden"],
        "mode": ["keyword"],
        "page": ["2"],
    }
    assert page_survived(driver)
    driver.back()  # pagination pushed a history entry; popstate shows page 1 again
    wait_for_status(driver, "Results 1–10 of about 25")
    search_for(driver, "xylophonist")
    assert (
        wait_for_status(driver, "No results")
        == "No results for “xylophonist”. Try other words, or another mode."
    )
    assert driver.find_elements(By.CSS_SELECTOR, "ol.hits li") == []
    search_for(driver, "")
    wait(driver).until(lambda d: urlsplit(d.current_url).query == "mode=keyword")
    assert page_survived(driver)


def test_more_like_this_and_the_document_page(driver: WebDriver, base_url: str) -> None:
    driver.get(base_url + "/")
    search_for(driver, "lighthouse storms")
    wait_for_status(driver, "Results 1–")
    hit_titled(driver, "The lighthouse log").find_element(By.CSS_SELECTOR, "a.more").click()
    wait(driver).until(ec.presence_of_element_located((By.CSS_SELECTOR, "h1.heading")))
    assert driver.find_element(By.CSS_SELECTOR, "h1.heading").text == "More like The lighthouse log"
    assert "The lighthouse log" not in first_titles(driver)
    assert first_titles(driver)

    driver.get(base_url + "/?q=lighthouse+storms")
    hit_titled(driver, "The lighthouse log").find_element(By.CSS_SELECTOR, ".hit-title a").click()
    wait(driver).until(ec.presence_of_element_located((By.CSS_SELECTOR, "article.document")))
    assert driver.find_element(By.TAG_NAME, "h1").text == "The lighthouse log"
    match = driver.find_element(By.ID, "match")
    assert "storms" in [m.text for m in match.find_elements(By.TAG_NAME, "mark")]
    assert driver.execute_script("return document.activeElement.id;") == "match"
    in_view = driver.execute_script(
        "const r = arguments[0].getBoundingClientRect(); return r.top < innerHeight && r.bottom > 0;", match
    )
    assert in_view


def test_document_text_never_runs_as_script(driver: WebDriver, base_url: str) -> None:
    driver.get(base_url + "/?q=ham+sandwich+pickles")  # server-rendered results
    assert_no_alert(driver)
    assert XSS in hit_titled(driver, XSS).text
    mark_page(driver)
    search_for(driver, "pickles ham")  # results rendered by search.js
    assert any(XSS in title for title in first_titles(driver))
    assert_no_alert(driver)
    assert page_survived(driver)
    hit_titled(driver, XSS).find_element(By.CSS_SELECTOR, ".hit-title a").click()
    wait(driver).until(ec.presence_of_element_located((By.CSS_SELECTOR, "article.document")))
    assert_no_alert(driver)
    assert driver.find_element(By.TAG_NAME, "h1").text.startswith(XSS)
    assert driver.find_element(By.ID, "doc-text").text.count(XSS) == 1  # the first line is the heading


def test_slash_focuses_the_search_box_and_phone_layout_fits(driver: WebDriver, base_url: str) -> None:
    driver.get(base_url + "/?q=garden&mode=keyword")
    driver.find_element(By.TAG_NAME, "body").send_keys("/")
    assert driver.execute_script("return document.activeElement.id;") == "q"
    driver.set_window_size(390, 844)
    try:
        overflow = driver.execute_script("return document.documentElement.scrollWidth - innerWidth;")
        assert overflow <= 0, f"page is {overflow}px wider than a phone screen"
        OUTPUT.mkdir(exist_ok=True)
        driver.save_screenshot(str(OUTPUT / "results-phone.png"))
    finally:
        driver.set_window_size(1280, 1000)
