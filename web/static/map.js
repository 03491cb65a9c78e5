/* semsearch: the map page. Draws /api/map on a canvas (10,000+ points stay fast), polls while the
   server computes it, marks the hits of ?q=, shows a title on hover and opens a document on click.
   Text from documents only ever reaches the page through textContent. */
(function () {
  "use strict";
  var page = document.getElementById("map-page");
  var canvas = document.getElementById("map-canvas");
  if (!page || !canvas) { return; }
  var status = document.getElementById("map-status");
  var tip = document.getElementById("map-tip");
  var legend = document.getElementById("map-legend");
  var query = page.dataset.query || "";
  var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf", "#393b79", "#ad494a", "#637939", "#8c6d31", "#843c39", "#7b4173",
                 "#3182bd", "#e6550d", "#31a354", "#756bb1"];
  var data = null, marked = {}, grid = {}, screen = [], CELL = 12, PAD = 14;

  function colour(topic) {
    if (topic < PALETTE.length) { return PALETTE[topic]; }
    return "hsl(" + ((topic * 137.508) % 360).toFixed(0) + ", 60%, 45%)";
  }
  function setStatus(text) { status.textContent = text; }

  function load() {
    fetch("/api/map", { headers: { Accept: "application/json" } }).then(function (response) {
      if (response.status === 202) {
        page.dataset.state = "computing";
        setStatus("Computing the map for this version of the index (once per version)…");
        setTimeout(load, 1000);
        return null;
      }
      return response.json().then(function (body) {
        if (!response.ok) { throw new Error(body.error || ("HTTP " + response.status)); }
        return body;
      });
    }).then(function (body) {
      if (!body) { return; }
      data = body;
      return query ? loadHits() : null;
    }).then(function () {
      if (data) { ready(); }
    }).catch(function (error) {
      page.dataset.state = "failed";
      setStatus("The map could not be shown: " + error.message);
    });
  }

  function loadHits() {
    var params = new URLSearchParams({ q: query, k: page.dataset.hits || "50" });
    return fetch("/api/search?" + params.toString(), { headers: { Accept: "application/json" } })
      .then(function (response) { return response.json().then(function (body) { return [response.ok, body]; }); })
      .then(function (pair) {
        if (!pair[0]) { throw new Error(pair[1].error || "search failed"); }
        pair[1].results.forEach(function (hit, rank) { marked[hit.doc_id] = rank + 1; });
      });
  }

  function ready() {
    page.dataset.state = "ready";
    var n = data.points.doc_id.length;
    var hits = Object.keys(marked).length;
    var text = n + " documents in " + data.k + " topics (" + data.k_reason + "); projection: PCA, " +
      Math.round(100 * (data.projection.explained_variance[0] + data.projection.explained_variance[1])) +
      "% of the variance.";
    if (query) { text += " " + hits + " hits of “" + query + "” are ringed."; }
    setStatus(text);
    drawLegend();
    draw();
    window.addEventListener("resize", draw);
  }

  function draw() {
    var ratio = window.devicePixelRatio || 1;
    var width = canvas.clientWidth, height = canvas.clientHeight;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    var ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    var p = data.points, n = p.doc_id.length;
    var radius = n > 20000 ? 1.2 : n > 5000 ? 1.8 : n > 500 ? 2.6 : 4;
    grid = {};
    screen = new Array(n);
    ctx.globalAlpha = n > 5000 ? 0.6 : 0.85;
    for (var i = 0; i < n; i++) {
      var x = width / 2 + p.x[i] * (width / 2 - PAD), y = height / 2 - p.y[i] * (height / 2 - PAD);
      screen[i] = [x, y];
      var key = Math.floor(x / CELL) + ":" + Math.floor(y / CELL);
      (grid[key] = grid[key] || []).push(i);
      ctx.fillStyle = colour(p.topic[i]);
      ctx.fillRect(x - radius, y - radius, 2 * radius, 2 * radius);
    }
    ctx.globalAlpha = 1;
    var drawn = 0;
    for (var j = 0; j < n; j++) {
      if (!marked[p.doc_id[j]]) { continue; }
      ctx.beginPath();
      ctx.arc(screen[j][0], screen[j][1], radius + 4, 0, 2 * Math.PI);
      ctx.lineWidth = 2;
      ctx.strokeStyle = "#000";
      ctx.stroke();
      ctx.fillStyle = colour(p.topic[j]);
      ctx.fill();
      drawn++;
    }
    page.dataset.points = String(n);
    page.dataset.marked = String(drawn);
  }

  function nearest(x, y) {
    var best = -1, bestDistance = CELL * CELL;
    var cx = Math.floor(x / CELL), cy = Math.floor(y / CELL);
    for (var dx = -1; dx <= 1; dx++) {
      for (var dy = -1; dy <= 1; dy++) {
        (grid[(cx + dx) + ":" + (cy + dy)] || []).forEach(function (i) {
          var ex = screen[i][0] - x, ey = screen[i][1] - y, d = ex * ex + ey * ey;
          if (d < bestDistance || (d === bestDistance && marked[data.points.doc_id[i]])) { best = i; bestDistance = d; }
        });
      }
    }
    return best;
  }

  function topicName(id) {
    for (var i = 0; i < data.topics.length; i++) {
      if (data.topics[i].id === id) { return data.topics[i].terms.join(", "); }
    }
    return "topic " + id;
  }

  function pointAt(event) {
    var box = canvas.getBoundingClientRect();
    return nearest(event.clientX - box.left, event.clientY - box.top);
  }

  function docUrl(docId) { return "/doc/" + encodeURIComponent(docId) + (query ? "?" + new URLSearchParams({ q: query }) : ""); }

  canvas.addEventListener("mousemove", function (event) {
    if (!data) { return; }
    var i = pointAt(event);
    canvas.classList.toggle("pointing", i >= 0);
    if (i < 0) { tip.hidden = true; return; }
    tip.textContent = "";
    var title = document.createElement("strong");
    title.textContent = data.points.title[i];
    var topic = document.createElement("span");
    topic.className = "topic";
    var rank = marked[data.points.doc_id[i]];
    topic.textContent = (rank ? "hit #" + rank + " · " : "") + topicName(data.points.topic[i]);
    tip.appendChild(title);
    tip.appendChild(topic);
    tip.hidden = false;
    var left = Math.min(screen[i][0] + 12, canvas.clientWidth - tip.offsetWidth - 4);
    tip.style.left = Math.max(0, left) + "px";
    tip.style.top = (screen[i][1] + 12) + "px";
  });
  canvas.addEventListener("mouseleave", function () { tip.hidden = true; });
  canvas.addEventListener("click", function (event) {
    if (!data) { return; }
    var i = pointAt(event);
    if (i >= 0) { window.location.href = docUrl(data.points.doc_id[i]); }
  });

  function drawLegend() {
    legend.textContent = "";
    data.topics.forEach(function (topic) {
      var item = document.createElement("li");
      item.dataset.topic = String(topic.id);
      var swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = colour(topic.id);
      var name = document.createElement("span");
      name.className = "name";
      name.textContent = topic.terms.join(", ") || "topic " + topic.id;
      var size = document.createElement("span");
      size.className = "size";
      size.textContent = " (" + topic.size + ")";
      item.appendChild(swatch);
      item.appendChild(name);
      item.appendChild(size);
      topic.central.slice(0, 3).forEach(function (doc) {
        var link = document.createElement("a");
        link.className = "central";
        link.href = docUrl(doc.doc_id);
        link.textContent = doc.title;
        item.appendChild(link);
      });
      legend.appendChild(item);
    });
  }

  load();
})();
