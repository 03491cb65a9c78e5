/* semsearch: live search. The page works without this file (a plain GET form and links);
 * with it, results follow the typing without a reload. Document text only ever reaches the
 * page through textContent / text nodes, never as HTML. */
(function () {
  "use strict";

  var DEBOUNCE_MS = 250;
  document.documentElement.classList.add("js");

  var form = document.getElementById("search-form");
  var input = document.getElementById("q");
  var modeSelect = document.getElementById("mode");
  var minScore = document.getElementById("min-score");  // present when the page came with min_score
  var diversity = document.getElementById("diversity");  // MMR: fewer near-repeats among the results

  // "/" jumps to the search box from anywhere on any page (unless typing in a field).
  document.addEventListener("keydown", function (event) {
    var tag = (event.target && event.target.tagName) || "";
    if (event.key === "/" && !event.ctrlKey && !event.metaKey && !event.altKey &&
        !/^(INPUT|TEXTAREA|SELECT)$/.test(tag) && !event.target.isContentEditable) {
      event.preventDefault();
      input.focus();
      input.select();
    }
  });

  // A document page opened from a result: bring the matched chunk into view and focus.
  var match = document.getElementById("match");
  if (match) {
    match.scrollIntoView({ block: "center" });
    match.focus({ preventScroll: true });
  }

  var results = document.getElementById("results");
  if (!form || !results) { return; }  // only the search page searches in place

  var statusLine = document.getElementById("status");
  var list = document.getElementById("hits");
  var pagerNav = document.getElementById("pager");
  var pageSize = Number(form.dataset.pageSize) || 10;
  var defaultMode = form.dataset.defaultMode || "hybrid";
  var timer = 0;
  var controller = null;
  var shownKey = key(results.dataset.query || "", results.dataset.mode || defaultMode,
                     Number(results.dataset.page) || 1);

  function key(q, mode, page) { return [q, mode, page, diversity ? diversity.value : ""].join("\u0000"); }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function link(className, href, text) {
    var a = el("a", className, text);
    a.href = href;
    return a;
  }

  function pageUrl(q, mode, page) {
    var params = new URLSearchParams();
    if (q) { params.set("q", q); }
    if (mode && mode !== defaultMode) { params.set("mode", mode); }
    if (minScore && minScore.value) { params.set("min_score", minScore.value); }
    if (diversity && diversity.value) { params.set("diversity", diversity.value); }
    if (page > 1) { params.set("page", String(page)); }
    var text = params.toString();
    return "/" + (text ? "?" + text : "");
  }

  function docUrl(hit, q) {
    var params = new URLSearchParams({ chunk: String(hit.chunk_id) });
    if (q) { params.set("q", q); }
    return "/doc/" + encodeURIComponent(hit.doc_id) + "?" + params.toString() + "#match";
  }

  function titleOf(hit) {
    if (hit.title && hit.title.trim()) { return hit.title; }
    var path = hit.source.split("#")[0];
    return path.split("/").pop() || hit.source || "(untitled)";
  }

  // highlights are [start, end) offsets in code points (as Python counts), not UTF-16 units.
  function highlighted(text, spans) {
    var fragment = document.createDocumentFragment();
    var chars = Array.from(text);
    var position = 0;
    spans.slice().sort(function (a, b) { return a[0] - b[0]; }).forEach(function (span) {
      var start = Math.max(span[0], position);
      var end = Math.min(span[1], chars.length);
      if (start >= end) { return; }
      if (start > position) { fragment.appendChild(document.createTextNode(chars.slice(position, start).join(""))); }
      fragment.appendChild(el("mark", "", chars.slice(start, end).join("")));
      position = end;
    });
    if (position < chars.length) { fragment.appendChild(document.createTextNode(chars.slice(position).join(""))); }
    return fragment;
  }

  // As format_score in web/render.py.
  function formatScore(score) {
    return score > 0 && score < 0.0005 ? "<0.001" : score.toFixed(3);
  }

  function scoreHelp(name) {
    return results.getAttribute("data-help-" + name) || "relevance score";
  }

  // Each side's own score, as side_scores in web/render.py: hybrid also shows a missing side.
  function sideScores(meta, hit, mode) {
    ["semantic", "keyword"].forEach(function (name) {
      var score = hit[name + "_score"];
      if (score === null || score === undefined) {
        if (mode !== "hybrid") { return; }
        meta.appendChild(document.createTextNode(" · "));
        var missing = el("span", "side " + name, name + " –");
        missing.title = "the " + name + " side did not return this result";
        meta.appendChild(missing);
        return;
      }
      meta.appendChild(document.createTextNode(" · "));
      var side = el("span", "side " + name, name + " " + formatScore(Number(score)));
      side.title = scoreHelp(name);
      meta.appendChild(side);
    });
  }

  function hitItem(hit, q, mode) {
    var item = el("li", "hit");
    var heading = el("h2", "hit-title");
    heading.appendChild(link("", docUrl(hit, q), titleOf(hit)));
    item.appendChild(heading);
    item.appendChild(link("hit-source", docUrl(hit, q), hit.source));
    var snippet = el("p", "snippet");
    snippet.appendChild(highlighted(hit.snippet, hit.highlights || []));
    item.appendChild(snippet);
    var meta = el("p", "hit-meta");
    var score = el("span", "score", "score " + formatScore(Number(hit.score)));
    score.title = scoreHelp(mode);
    meta.appendChild(score);
    sideScores(meta, hit, mode);
    meta.appendChild(document.createTextNode(" · "));
    meta.appendChild(link("more", "/similar/" + encodeURIComponent(hit.doc_id), "more like this"));
    item.appendChild(meta);
    return item;
  }

  function setStatus(text, kind) {
    statusLine.className = "status" + (kind ? " " + kind : "");
    statusLine.textContent = text;
  }

  function clearResults() {
    list.replaceChildren();
    pagerNav.replaceChildren();
    var heading = results.querySelector(".heading");
    if (heading) { heading.remove(); }
  }

  function renderPager(q, mode, page, shown, total) {
    pagerNav.replaceChildren();
    var maxPages = Math.ceil(total / pageSize);
    if (maxPages <= 1 && page === 1) { return; }
    function pageLink(number, text, rel) {
      var a = link("", pageUrl(q, mode, number), text);
      a.dataset.page = String(number);
      if (rel) { a.rel = rel; }
      return a;
    }
    if (page > 1) { pagerNav.appendChild(pageLink(page - 1, "← Previous", "prev")); }
    for (var n = Math.max(1, page - 4); n <= Math.min(maxPages, page + 4); n++) {
      if (n === page) {
        var current = el("span", "", n);
        current.setAttribute("aria-current", "page");
        pagerNav.appendChild(current);
      } else {
        pagerNav.appendChild(pageLink(n, String(n)));
      }
    }
    if (page < maxPages && shown === pageSize) { pagerNav.appendChild(pageLink(page + 1, "Next →", "next")); }
  }

  // data-query/mode/page always describe what the list shows (tests wait on them).
  function markShown(q, mode, page) {
    results.dataset.query = q;
    results.dataset.mode = mode;
    results.dataset.page = String(page);
  }

  function render(data, q, mode, page) {
    clearResults();
    markShown(q, mode, page);
    var hits = data.results || [];
    var first = (page - 1) * pageSize + 1;
    if (hits.length) {
      setStatus("Results " + first + "–" + (first + hits.length - 1) + " of about " + data.total +
                " · " + Math.round(data.took_ms) + " ms · " + data.mode);
    } else {
      setStatus("No results for “" + q + "”. Try other words, or another mode.");
    }
    if (first > 1) { list.start = first; } else { list.removeAttribute("start"); }
    hits.forEach(function (hit) { list.appendChild(hitItem(hit, q, data.mode)); });
    renderPager(q, mode, page, hits.length, data.total);
  }

  function showError(status, message) {
    clearResults();
    if (status === 503) {
      setStatus("No index is loaded yet. " + (message || ""), "notice");
    } else {
      setStatus(message || ("The search failed (HTTP " + status + ")."), "error");
    }
  }

  function search(page, historyMode) {
    var q = input.value;
    var mode = modeSelect.value;
    var wanted = key(q, mode, page);
    if (wanted === shownKey && historyMode !== "push") { return; }
    shownKey = wanted;
    if (controller) { controller.abort(); }
    document.title = q.trim() ? q + " – semsearch" : "semsearch";
    var url = pageUrl(q, mode, page);
    if (historyMode === "push") { history.pushState(null, "", url); } else if (historyMode !== "none") { history.replaceState(null, "", url); }
    if (!q.trim()) {
      controller = null;
      clearResults();
      markShown(q, mode, page);
      setStatus("");
      results.removeAttribute("aria-busy");
      return;
    }
    var mine = new AbortController();
    controller = mine;
    results.setAttribute("aria-busy", "true");
    var params = new URLSearchParams({ q: q, k: String(pageSize), offset: String((page - 1) * pageSize), mode: mode });
    if (minScore && minScore.value) { params.set("min_score", minScore.value); }
    if (diversity && diversity.value) { params.set("diversity", diversity.value); }
    fetch("/api/search?" + params.toString(), { signal: mine.signal, headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          if (mine !== controller) { return; }
          if (response.ok) {
            render(data, q, mode, page);
          } else {
            shownKey = "";
            showError(response.status, data.error);
            markShown(q, mode, page);
          }
        });
      })
      .catch(function (error) {
        if (error.name === "AbortError" || mine !== controller) { return; }
        shownKey = "";
        showError(0, "The server could not be reached; is `semsearch serve` still running?");
      })
      .finally(function () {
        if (mine === controller) { results.removeAttribute("aria-busy"); }
      });
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { search(1, "replace"); }, DEBOUNCE_MS);
  });
  modeSelect.addEventListener("change", function () {
    clearTimeout(timer);
    search(1, "replace");
  });
  if (diversity) {
    diversity.addEventListener("change", function () {
      clearTimeout(timer);
      search(1, "replace");
    });
  }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    clearTimeout(timer);
    shownKey = "";
    search(1, "replace");
  });
  pagerNav.addEventListener("click", function (event) {
    var target = event.target.closest("a[data-page]");
    if (!target || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) { return; }
    event.preventDefault();
    search(Number(target.dataset.page), "push");
    results.scrollIntoView({ block: "start" });
    statusLine.setAttribute("tabindex", "-1");
    statusLine.focus({ preventScroll: true });
  });
  window.addEventListener("popstate", function () {
    var params = new URLSearchParams(location.search);
    input.value = params.get("q") || "";
    modeSelect.value = params.get("mode") || defaultMode;
    search(Number(params.get("page")) || 1, "none");
  });

  window.semsearch = { search: search, ready: true };
}());
