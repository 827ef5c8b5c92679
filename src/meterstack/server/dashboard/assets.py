"""The pages' own stylesheet and script, shipped as package data and read once.

Both are plain files of this project (no framework, nothing fetched from elsewhere at run time):
the pages work offline, and without the script too.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import Response

from meterstack.errors import NotFoundError

router = APIRouter(include_in_schema=False)

_TYPES = {
    "dashboard.css": "text/css; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
}


@cache
def _content(name: str) -> bytes:
    return files("meterstack.server.dashboard").joinpath("static", name).read_bytes()


@router.get("/dashboard/static/{name}")
def asset(name: str) -> Response:
    if name not in _TYPES:
        raise NotFoundError(f"no asset {name!r}")
    return Response(
        _content(name),
        media_type=_TYPES[name],
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )
