"""Helpers for testing the mock server over real loopback sockets.

When the API contract is found next to the checkout (``../shared/vatel-openapi.json``),
every REST response and every voice message the tests receive is validated
against it; without it those checks are skipped and the contract tests say why.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect_sync

from vatel.audio import FRAME_BYTES, silence, voice_like
from vatel.testing import MockServer

CONTRACT_PATH = Path(__file__).resolve().parents[3] / "shared" / "vatel-openapi.json"
NO_CONTRACT = f"API contract not found at {CONTRACT_PATH}; contract checks skipped"


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0 ``nullable`` rewritten as JSON Schema."""
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _nullable(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is True:
        if "$ref" in out:
            out = {"anyOf": [out, {"type": "null"}]}
        else:
            if "type" in out:
                out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
    return out


class Contract:
    """The API contract, able to validate responses and voice messages."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self._components = _nullable(document["components"])
        self._message_validator: jsonschema.Draft7Validator | None = None
        self._routes: list[tuple[re.Pattern[str], int, str]] = []
        for template in document["paths"]:
            pattern = re.sub(r"\{[^/]+\}", "[^/]+", template)
            literal = template.count("/") - template.count("{")
            self._routes.append((re.compile(pattern + "$"), literal, template))

    def operations(self) -> list[tuple[str, str]]:
        return [
            (method.upper(), path)
            for path, item in self.document["paths"].items()
            for method in item
        ]

    def template(self, path: str) -> str | None:
        found = [(lit, tpl) for rx, lit, tpl in self._routes if rx.match(path)]
        return max(found)[1] if found else None

    def validator(self, schema: dict[str, Any]) -> jsonschema.Draft7Validator:
        root = {**_nullable(schema), "components": self._components}
        return jsonschema.Draft7Validator(root, format_checker=jsonschema.FormatChecker())

    def response_schema(self, method: str, template: str, status: int) -> dict[str, Any] | None:
        operation = self.document["paths"][template][method.lower()]
        response = operation["responses"].get(str(status))
        assert response is not None, f"{method} {template}: status {status} is not in the contract"
        content = response.get("content", {}).get("application/json")
        if content is None and status >= 400:
            # Error statuses without a declared body still use the error shape.
            return {"$ref": "#/components/schemas/ErrorResponse"}
        return content["schema"] if content else None

    def check_response(self, response: httpx.Response) -> None:
        request = response.request
        template = self.template(request.url.path)
        if template is None or request.method.lower() not in self.document["paths"][template]:
            return
        schema = self.response_schema(request.method, template, response.status_code)
        if schema is None:
            return
        response.read()
        self.validator(schema).validate(response.json())

    def check_message(self, message: dict[str, Any]) -> None:
        if self._message_validator is None:
            ref = {"$ref": "#/components/schemas/VoiceSessionServerMessage"}
            self._message_validator = self.validator(ref)
        self._message_validator.validate(message)


def _load_contract() -> Contract | None:
    if not CONTRACT_PATH.exists():
        return None
    return Contract(json.loads(CONTRACT_PATH.read_text()))


_CONTRACT = _load_contract()


def load_contract() -> Contract:
    """The contract; skips the calling test when it is not available."""
    if _CONTRACT is None:
        pytest.skip(NO_CONTRACT)
    return _CONTRACT


def conforms(response: httpx.Response) -> None:
    """httpx response hook: validate against the contract when it is available."""
    if _CONTRACT is not None:
        _CONTRACT.check_response(response)


def check_message(message: dict[str, Any]) -> None:
    if _CONTRACT is not None:
        _CONTRACT.check_message(message)


def make_client(server: MockServer, *, checked: bool = True, **kwargs: Any) -> httpx.Client:
    """An httpx client for ``server``, authenticated unless ``headers`` are given.

    ``checked`` validates every response against the contract; injected faults
    answer with statuses the contract does not list, so their tests turn it off.
    """
    kwargs.setdefault("headers", {"Authorization": f"Bearer {server.api_key}"})
    hooks = {"response": [conforms]} if checked else {}
    return httpx.Client(base_url=server.base_url, event_hooks=hooks, **kwargs)


async def _aconforms(response: httpx.Response) -> None:
    await response.aread()
    conforms(response)


FLAVOURS = ("sync", "async")
"""The two kinds of raw client a test can talk to the server with."""


async def request(
    server: MockServer, flavour: str, method: str, path: str, **kwargs: Any
) -> httpx.Response:
    """One REST request with an ``httpx.Client`` (in a thread) or an
    ``httpx.AsyncClient``, authenticated and checked against the contract."""
    if flavour == "sync":

        def send() -> httpx.Response:
            with make_client(server) as client:
                return client.request(method, path, **kwargs)

        return await asyncio.to_thread(send)
    headers = {"Authorization": f"Bearer {server.api_key}"}
    hooks = {"response": [_aconforms]}
    async with httpx.AsyncClient(
        base_url=server.base_url, headers=headers, event_hooks=hooks
    ) as client:
        return await client.request(method, path, **kwargs)


# Voice helpers

_WS_LOGGER = logging.getLogger("tests.mock.websockets")
# The client's DEBUG log has the handshake's request line, session token included.
_WS_LOGGER.setLevel(logging.INFO)


def connect(url: str, **kwargs: Any) -> ws_connect:
    """A websockets client connection that keeps the session token out of the logs."""
    return ws_connect(url, logger=_WS_LOGGER, **kwargs)


@functools.cache
def speech(seconds: float = 1.0, pause: float = 0.6) -> bytes:
    """``seconds`` of voice-like audio followed by ``pause`` of silence."""
    return voice_like(seconds) + silence(pause)


def chunks(pcm: bytes) -> list[bytes]:
    return [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES)]


def audio_message(pcm: bytes) -> str:
    return json.dumps({"type": "input_audio", "data": {"audio": base64.b64encode(pcm).decode()}})


async def send_audio(ws: ClientConnection, pcm: bytes) -> None:
    for chunk in chunks(pcm):
        await ws.send(audio_message(chunk))


async def receive(ws: ClientConnection) -> dict[str, Any]:
    """The next server message, checked against the contract."""
    message: dict[str, Any] = json.loads(await ws.recv())
    check_message(message)
    return message


async def receive_until(
    ws: ClientConnection, done: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    """Messages up to and including the first for which ``done`` is true."""
    seen = []
    while True:
        message = await receive(ws)
        seen.append(message)
        if done(message):
            return seen


def final_audio(message: dict[str, Any]) -> bool:
    """Whether ``message`` is the last audio chunk of an agent turn."""
    return message["type"] == "response_audio" and message["data"]["is_final"] is True


def token_for(server: MockServer, agent_id: str, **body: Any) -> str:
    with make_client(server) as client:
        response = client.post("/v1/session-token", json={"agent_id": agent_id, **body})
        response.raise_for_status()
        return str(response.json()["token"])


def connect_url(server: MockServer, agent_id: str, token: str | None = None, **extra: str) -> str:
    query = {"token": token or token_for(server, agent_id), "agentId": agent_id, **extra}
    return str(httpx.URL(server.ws_url, params=query))


def ws_url(server: MockServer, **query: str) -> str:
    """The voice URL with exactly ``query`` (no ``agentId`` unless given)."""
    return str(httpx.URL(server.ws_url, params=query))


async def handshake(flavour: str, url: str) -> tuple[int, dict[str, Any]]:
    """Open a session at ``url`` with websockets' threading or asyncio client:
    ``(101, first message)`` when it opens (the client then closes it), else the
    refusal's ``(status, JSON body)``."""
    try:
        if flavour == "sync":

            def first() -> str:
                with ws_connect_sync(url, logger=_WS_LOGGER) as ws:
                    return str(ws.recv(timeout=5))

            raw = await asyncio.to_thread(first)
        else:
            async with connect(url) as ws:
                raw = str(await asyncio.wait_for(ws.recv(), 5))
    except InvalidStatus as exc:
        return exc.response.status_code, json.loads(exc.response.body or b"{}")
    message: dict[str, Any] = json.loads(raw)
    check_message(message)
    return 101, message
