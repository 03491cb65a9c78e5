"""`/map`: the documents as points, coloured by topic (drawn by static/map.js on a canvas).

The page itself is static HTML and answers at once: map.js fetches /api/map (polling while the
atlas is being computed) and, for `?q=`, the query's hits from /api/search to mark them.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from web.templating import render_page

router = APIRouter(include_in_schema=False)
MARKED_HITS = 50


@router.get("/map")
def map_page(request: Request, q: str = "") -> Response:
    context = {"q": q, "map_q": q, "marked_hits": MARKED_HITS}
    return render_page(request, "map.html", context)
