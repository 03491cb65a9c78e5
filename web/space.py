"""Wires the embedding-space tools into the app: their routers and the atlas worker."""

from __future__ import annotations

from fastapi import FastAPI

from indexer.config import Settings
from search.space.service import AtlasWorker, SpaceService
from web import map_page, openai_api, space_api


def install(app: FastAPI, settings: Settings) -> None:
    app.state.space = SpaceService(settings)
    app.state.atlas = AtlasWorker(app.state.space)
    app.include_router(space_api.router)
    app.include_router(openai_api.router)
    app.include_router(map_page.router)
