"""Web: the search page and the JSON API, a thin HTTP adapter over `search`."""
