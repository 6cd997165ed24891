"""Organization, LLM list and voice catalog: read-only lookups."""

from __future__ import annotations

from aiohttp import web

from ._context import context
from ._http import ok


async def get_organization(request: web.Request) -> web.Response:
    return ok(context(request).state.org)


async def list_llms(request: web.Request) -> web.Response:
    return ok({"llms": context(request).state.llms})


async def list_voices(request: web.Request) -> web.Response:
    return ok({"voices": context(request).state.voices})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/v1/organization", get_organization)
    router.add_get("/v1/llms", list_llms)
    router.add_get("/v1/voices", list_voices)
