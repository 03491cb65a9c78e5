"""The server-rendered pages: search, paging, empty/error/no-index states, documents, escaping."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from indexer.config import Settings, load_settings
from indexer.embedders import HashingEmbedder
from tests.conftest import write_corpus
from tests.web_helpers import WEB_CORPUS, XSS, build_index, garden_corpus, local_client
from web.app import create_app
from web.render import display_title, document_blocks, format_score, marked_segments, pager
from web.templating import STATIC

Site = tuple[TestClient, Path]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("pages")
    settings = load_settings(None, {"index_dir": str(root / "index")})
    corpus = write_corpus(root / "web", {**WEB_CORPUS, **garden_corpus(25)})
    embedder = HashingEmbedder()
    build_index(settings, embedder, corpus)
    with local_client(create_app(settings, embedder)) as client:
        yield client, corpus


def soup_of(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def page(site: Site, url: str, status: int = 200) -> BeautifulSoup:
    response = site[0].get(url)
    assert response.status_code == status, (url, response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("text/html")
    return soup_of(response.text)


def hits(soup: BeautifulSoup) -> list[BeautifulSoup]:
    return soup.select("ol.hits > li.hit")


def status_text(soup: BeautifulSoup) -> str:
    return " ".join(soup.select_one("#status").get_text().split())


# -- the search form --------------------------------------------------------------------
def test_home_page_is_a_plain_get_form_with_labels(site: Site) -> None:
    soup = page(site, "/")
    form = soup.select_one("form#search-form")
    assert (form["action"], form["method"]) == ("/", "get")
    box = form.select_one("input[name=q]")
    assert soup.select_one(f"label[for={box['id']}]").get_text(strip=True)
    select = form.select_one("select[name=mode]")
    assert soup.select_one(f"label[for={select['id']}]")
    assert [o["value"] for o in select.select("option")] == ["semantic", "keyword", "hybrid"]
    assert select.select_one("option[selected]")["value"] == "hybrid"
    assert form.select_one("button[type=submit]")
    assert soup.select_one("#status")["aria-live"] == "polite"
    assert "Search 34 documents" in status_text(soup)
    assert hits(soup) == []


def test_home_page_without_an_index_says_how_to_build_one(make_settings: Callable[..., Settings]) -> None:
    with local_client(create_app(make_settings(), HashingEmbedder())) as client:
        response = client.get("/")
        assert response.status_code == 503
        assert "semsearch index PATH" in status_text(soup_of(response.text))
        searched = client.get("/?q=cat")
        assert searched.status_code == 503
        assert "No index is loaded yet" in status_text(soup_of(searched.text))


# -- results ------------------------------------------------------------------------------
def test_result_shows_title_source_link_marked_snippet_score_and_more_like_this(site: Site) -> None:
    client, corpus = site
    soup = page(site, "/?q=cat+mouse")
    first = hits(soup)[0]
    cats = str((corpus / "cats.txt").resolve())
    title = first.select_one(".hit-title a")
    assert title.get_text() == "The cat chases the mouse through the barn at night."
    link = urlsplit(title["href"])
    assert link.path == "/doc/" + quote(cats, safe="")
    assert parse_qs(link.query)["q"] == ["cat mouse"] and "chunk" in parse_qs(link.query)
    assert link.fragment == "match"
    source = first.select_one("a.hit-source")
    assert (source.get_text(), source["href"]) == (cats, title["href"])
    assert [m.get_text() for m in first.select(".snippet mark")] == ["cat", "mouse"]
    assert re.fullmatch(r"score \d\.\d{3}", first.select_one(".score").get_text())
    assert first.select_one("a.more")["href"] == "/similar/" + quote(cats, safe="")
    sides = {s["class"][1]: s.get_text() for s in first.select(".side")}
    assert re.fullmatch(r"semantic -?\d\.\d{3}", sides["semantic"])  # cosine of the dense side
    assert re.fullmatch(r"keyword \d+\.\d{3}", sides["keyword"])  # BM25 of the keyword side
    assert "standard deviations" in first.select_one(".score")["title"]
    assert re.match(r"Results 1–\d+ of about \d+ · \d+ ms · hybrid", status_text(soup))
    assert soup.title.get_text() == "cat mouse – semsearch"
    assert soup.select_one("input[name=q]")["value"] == "cat mouse"
    assert client.get(title["href"]).status_code == 200


def test_mode_selector_is_kept_in_the_form_and_the_page_links(site: Site) -> None:
    soup = page(site, "/?q=garden&mode=keyword")
    assert soup.select_one("select[name=mode] option[selected]")["value"] == "keyword"
    assert "keyword" in status_text(soup)
    assert parse_qs(urlsplit(soup.select_one("a[rel=next]")["href"]).query)["mode"] == ["keyword"]


def test_pagination(site: Site) -> None:
    first = page(site, "/?q=garden&mode=keyword")
    assert len(hits(first)) == 10
    assert status_text(first).startswith("Results 1–10 of about 25")
    assert first.select_one("a[rel=prev]") is None
    assert first.select_one("#pager [aria-current=page]").get_text() == "1"
    second_url = first.select_one("a[rel=next]")["href"]
    assert parse_qs(urlsplit(second_url).query)["page"] == ["2"]

    second = page(site, second_url)
    assert second.select_one("ol.hits")["start"] == "11"
    assert status_text(second).startswith("Results 11–20 of about 25")
    assert parse_qs(urlsplit(second.select_one("a[rel=prev]")["href"]).query).get("page") is None
    first_ids = {h.select_one(".hit-title a")["href"] for h in hits(first)}
    assert first_ids.isdisjoint(h.select_one(".hit-title a")["href"] for h in hits(second))

    last = page(site, second.select_one("a[rel=next]")["href"])
    assert len(hits(last)) == 5
    assert last.select_one("a[rel=next]") is None
    assert [a.get_text() for a in last.select("#pager a[data-page]") if a.get_text().isdigit()] == ["1", "2"]


def test_empty_result_state(site: Site) -> None:
    soup = page(site, "/?q=xylophonist&mode=keyword")
    assert hits(soup) == []
    assert status_text(soup) == "No results for “xylophonist”. Try other words, or another mode."
    assert soup.select("#pager a") == []


@pytest.mark.parametrize(
    ("url", "status", "message"),
    [
        ("/?q=" + "x" * 1001, 422, "the limit is 1000"),
        ("/?q=cat&mode=fuzzy", 422, "mode must be one of semantic, keyword, hybrid"),
        ("/?q=cat&page=500", 422, "offset must be between 0 and 1000"),
    ],
)
def test_invalid_search_shows_the_error_and_keeps_the_query(
    site: Site, url: str, status: int, message: str
) -> None:
    soup = page(site, url, status)
    assert message in status_text(soup)
    assert "error" in soup.select_one("#status")["class"]
    assert soup.select_one("input[name=q]")["value"] == parse_qs(urlsplit(url).query)["q"][0]


def test_a_side_that_did_not_return_a_hit_shows_a_dash_in_hybrid(site: Site) -> None:
    soup = page(site, "/?q=galaxy+telescope")
    shown = [s.get_text() for hit in hits(soup) for s in hit.select(".side.keyword")]
    assert shown[0].startswith("keyword ") and shown[0] != "keyword –"
    assert "keyword –" in shown  # documents only the dense side returned
    semantic_only = page(site, "/?q=galaxy+telescope&mode=semantic")
    assert all(not hit.select(".side.keyword") for hit in hits(semantic_only))


def test_min_score_on_the_page_keeps_only_hits_reaching_it(site: Site) -> None:
    every = page(site, "/?q=garden&mode=keyword")
    assert "of about 25" in status_text(every)
    soup = page(site, "/?q=cat+mouse&mode=semantic&min_score=0.3")
    scores = [float(h.select_one(".score").get_text().split()[1]) for h in hits(soup)]
    assert scores and min(scores) >= 0.3
    assert f"of about {len(scores)} " in status_text(soup) + " "
    assert soup.select_one("input[name=min_score]")["value"] == "0.3"  # the form keeps it


@pytest.mark.parametrize(
    ("value", "message"), [("high", "min_score must be a number"), ("inf", "min_score must be a finite")]
)
def test_bad_min_score_on_the_page_is_a_422_naming_it(site: Site, value: str, message: str) -> None:
    soup = page(site, f"/?q=cat&min_score={value}", 422)
    assert message in status_text(soup)


@pytest.mark.parametrize("url", ["/?q=cat&page=0", "/?q=cat&page=two"])
def test_bad_page_number_is_a_4xx_page(site: Site, url: str) -> None:
    soup = page(site, url, 422)
    assert "page:" in soup.select_one("[role=alert]").get_text()


# -- escaping -----------------------------------------------------------------------------
def test_document_text_and_queries_are_escaped_on_every_page(site: Site) -> None:
    client, corpus = site
    xss_id = quote(str((corpus / "xss.txt").resolve()), safe="")
    for url in (
        "/?q=ham+sandwich+pickles",
        f"/doc/{xss_id}?q=script",
        f"/similar/{quote(str((corpus / 'food.md').resolve()), safe='')}",
        f"/?q={quote(XSS)}",
        f"/doc/{quote(XSS, safe='')}",
    ):
        html = client.get(url).text
        assert "<script>alert(1)" not in html, url
        scripts = soup_of(html).find_all("script")
        assert all(s.get("src", "").startswith("/static/") and not s.get_text() for s in scripts), url
    results = client.get("/?q=ham+sandwich+pickles").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in results
    assert any(XSS in a.get_text() for a in soup_of(results).select(".hit-title a"))
    doc = page(site, f"/doc/{xss_id}")
    assert doc.select_one("h1").get_text().startswith(XSS)
    assert doc.select_one(".doc-text").get_text().count(XSS) == 1  # the first line is the heading


def test_pages_load_nothing_from_outside_and_send_a_strict_csp(site: Site) -> None:
    client, _ = site
    response = client.get("/?q=cat")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'self'" in csp
    soup = soup_of(response.text)
    for tag in soup.find_all(["script", "link", "img", "iframe"]):
        url = tag.get("src") or tag.get("href") or ""
        assert url.startswith(("/", "data:")), tag
    for name in ("style.css", "search.js"):
        asset = client.get(f"/static/{name}")
        assert asset.status_code == 200


def test_live_search_script_never_writes_html() -> None:
    script = (STATIC / "search.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script
    assert "textContent" in script and "AbortController" in script and "history.replaceState" in script


# -- documents and similar -------------------------------------------------------------------
def test_document_page_highlights_the_matched_chunk_and_query_terms(site: Site) -> None:
    client, corpus = site
    doc_id = str((corpus / "lighthouse.txt").resolve())
    document = client.get("/api/documents/" + quote(doc_id, safe="")).json()
    chunk = document["chunks"][1]
    soup = page(site, f"/doc/{quote(doc_id, safe='')}?chunk={chunk['chunk_id']}&q=storms")
    assert soup.select_one("h1").get_text() == "The lighthouse log"
    assert doc_id in soup.select_one("dd.source").get_text()
    match = soup.select_one(".doc-text #match")
    assert match.get_text() == document["text"][chunk["start"] : chunk["end"]]
    heading = "The lighthouse log\n"  # the first line is the title: shown once, as the heading
    assert soup.select_one(".doc-text").get_text() == document["text"].removeprefix(heading)
    assert {m.get_text() for m in soup.select(".doc-text mark")} == {"storms"}
    assert soup.find("a", string="← Back to results")["href"] == "/?q=storms"
    assert soup.find("a", string="More like this")["href"] == "/similar/" + quote(doc_id, safe="")


def test_document_page_without_chunk_and_with_metadata(site: Site) -> None:
    soup = page(site, "/doc/art-1")
    assert soup.select_one("#match") is None
    meta = {dt.get_text(): dt.find_next_sibling("dd").get_text() for dt in soup.select("dl.meta dt")}
    assert meta["category"] == "cooking" and meta["year"] == "2022"
    assert soup.select_one(".doc-text").get_text() == "Fold the dumplings and boil them in salted water."


def test_unknown_document_pages_are_404(site: Site) -> None:
    for url in ("/doc/no/such/file.txt", "/similar/no-such-id"):
        soup = page(site, url, 404)
        assert "no document with id" in soup.select_one("[role=alert]").get_text()
        assert soup.select_one("h1").get_text() == "Not found"


def test_similar_page_lists_other_documents(site: Site) -> None:
    soup = page(site, "/similar/art-1")
    assert soup.select_one("h1.heading").get_text(" ", strip=True) == "More like Dumplings at home"
    assert soup.select_one("h1.heading a")["href"] == "/doc/art-1"
    links = [h.select_one(".hit-title a")["href"] for h in hits(soup)]
    assert links and not any(link.startswith("/doc/art-1?") for link in links)
    assert "similar documents" in status_text(soup)


def test_unknown_page_is_an_html_404(site: Site) -> None:
    soup = page(site, "/nowhere", 404)
    assert "not found: /nowhere" in soup.get_text()


# -- the pure helpers ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spans", "expected"),
    [
        ([], [("a cat sat", False)]),
        ([(2, 5)], [("a ", False), ("cat", True), (" sat", False)]),
        ([(6, 9), (0, 1)], [("a", True), (" cat ", False), ("sat", True)]),
        ([(2, 5), (3, 7)], [("a ", False), ("cat", True), (" s", True), ("at", False)]),
        ([(7, 99), (50, 60)], [("a cat s", False), ("at", True)]),
    ],
)
def test_marked_segments(spans: list[tuple[int, int]], expected: list[tuple[str, bool]]) -> None:
    assert marked_segments("a cat sat", spans) == expected


def test_document_blocks_split_at_the_chunk_and_mark_terms() -> None:
    blocks = document_blocks("One cat. Two cats here. Three.", {"start": 9, "end": 23}, "cat")
    assert [b.match for b in blocks] == [False, True, False]
    assert blocks[1].segments == [("Two ", False), ("cats", True), (" here.", False)]
    assert document_blocks("plain", None)[0].segments == [("plain", False)]


def test_pager_never_offers_a_page_the_api_refuses() -> None:
    many = pager({"q": "x"}, 1, 10, 10, 5000, max_offset=1000)
    assert many.pages == 101
    assert many.next == "/?q=x&page=2" and many.previous is None
    assert [link.number for link in many.links] == [1, 2, 3, 4, 5]
    one = pager({"q": "x", "mode": ""}, 1, 10, 3, 3, max_offset=1000)
    assert (one.pages, one.links, one.next, one.first, one.last) == (1, [], None, 1, 3)


def test_display_title_falls_back_to_the_file_name() -> None:
    assert display_title("", "/data/notes/today.txt") == "today.txt"
    assert display_title("  ", "/data/records.jsonl#7") == "records.jsonl"
    assert display_title("Kept", "/x") == "Kept"


@pytest.mark.parametrize(
    ("score", "shown"),
    [(0.0327869, "0.033"), (0.0, "0.000"), (2e-6, "<0.001"), (-0.05, "-0.050"), (12.5, "12.500")],
)
def test_format_score(score: float, shown: str) -> None:
    assert format_score(score) == shown
