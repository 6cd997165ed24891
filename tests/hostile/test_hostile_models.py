"""What a misbehaving server's REST answer becomes on both clients, when it does
not fit its model: ``APIResponseValidationError`` without the credentials it
carries, in bounded memory; and what a well-formed but odd answer keeps."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hostile_rest_support import RawServer, raw_server

import vatel
from _support import memory_bound
from vatel import types as t

FLAVOURS = pytest.mark.parametrize("flavour", ["sync", "async"])

# Shaped like a session JWT, so that the redaction of bodies and the root
# conftest's log watch both know it for a credential.
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwcm9tcHQtc2VjcmV0In0.c2lnbmF0dXJlLXNlY3JldA"
API_KEY = "vk_test_hostile_models_0123456789abcdef"


def nest(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@contextmanager
def answering(body: bytes) -> Iterator[RawServer]:
    """A server that answers every request with ``body`` (200, JSON) and hangs up."""
    reply = (
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode("ascii") + body

    def handler(conn: Any, request: bytes) -> None:
        conn.sendall(reply)

    with raw_server(handler) as server:
        yield server


def fetch(flavour: str, url: str, call: Callable[[Any], Any]) -> Any:
    """``call(client)`` through a sync or an async client of ``url``, no retries."""
    options: dict[str, Any] = {"api_key": API_KEY, "base_url": url, "max_retries": 0, "timeout": 10}
    if flavour == "sync":
        with vatel.Client(**options) as client:
            return call(client)

    async def run() -> Any:
        async with vatel.AsyncClient(**options) as client:
            return await call(client)

    return asyncio.run(run())


def agent_body(id: str = '"agent-1"', **members: str) -> bytes:
    """An Agent's JSON text: ``id``, a credential-shaped prompt, then ``members``
    (each given as JSON text)."""
    parts = [f'"id": {id}', f'"prompt": "{JWT}"']
    parts += [f'"{name}": {text}' for name, text in members.items()]
    return ("{" + ", ".join(parts) + "}").encode()


def assert_refused(error: vatel.APIResponseValidationError, *pieces: str) -> None:
    assert error.status_code == 200
    assert error.message == str(error)
    for piece in pieces:
        assert piece in error.message
    texts = [str(error), repr(error), repr(error.args), error.body or "", repr(vars(error))]
    for text in texts:
        assert JWT not in text
        assert API_KEY not in text
    assert error.__cause__ is None
    assert error.__context__ is None


BAD_AGENTS = {
    "deep-100000": (
        agent_body(future="[" * 100_000 + "]" * 100_000),
        "nested too deeply",
    ),
    "deep-250": (agent_body(future=json.dumps(nest(250))), "future: Input is nested too deeply"),
    "number-id": (agent_body(id="12345"), "id: Input should be a valid string"),
}


@pytest.mark.timeout(30)
@FLAVOURS
@pytest.mark.parametrize("case", list(BAD_AGENTS))
def test_an_agent_answer_that_does_not_fit_is_refused_without_its_secret(
    flavour: str, case: str
) -> None:
    body, reason = BAD_AGENTS[case]
    with (
        answering(body) as server,
        memory_bound(16),
        pytest.raises(vatel.APIResponseValidationError) as info,
    ):
        fetch(flavour, server.url, lambda c: c.agents.get("agent-1"))
    assert_refused(info.value, "GET /v1/agents/agent-1", reason)
    assert len(server.requests) == 1


@pytest.mark.timeout(30)
@FLAVOURS
def test_an_agent_with_twenty_thousand_unknown_members_keeps_them_all(flavour: str) -> None:
    extras = {f"member_{n:05d}": n for n in range(20_000)}
    body = agent_body(**{name: str(value) for name, value in extras.items()})
    with answering(body) as server, memory_bound(16):
        agent = fetch(flavour, server.url, lambda c: c.agents.get("agent-1"))
    assert isinstance(agent, t.Agent)
    assert agent.id == "agent-1"
    assert agent.prompt == JWT
    assert agent.model_extra == extras
    assert agent.model_dump()["member_19999"] == 19_999
    assert JWT not in repr(agent).replace(f"prompt={JWT!r}", "")  # only where it belongs


@pytest.mark.timeout(30)
@FLAVOURS
def test_the_client_reads_wire_names_only(flavour: str) -> None:
    body = {
        "id": "c",
        "agent_id": "agent-1",
        "transcript": {
            "entries": [
                {
                    "toolCall": {"toolName": "wire", "tool_name": "python"},
                    "tool_call_output": "python-name-only",
                    "durationMs": "40",
                }
            ]
        },
    }
    with answering(json.dumps(body).encode()) as server:
        call = fetch(flavour, server.url, lambda c: c.calls.get("c"))
    assert isinstance(call, t.Call)
    assert call.transcript is not None
    entry = call.transcript.entries[0]
    assert entry.tool_call is not None
    assert entry.tool_call.tool_name == "wire"
    assert entry.tool_call.model_extra == {"tool_name": "python"}
    assert entry.tool_call_output is None
    assert entry.model_extra == {"tool_call_output": "python-name-only"}
    assert entry.duration_ms == 40
    assert call.model_dump(mode="json", exclude_none=True) == {
        "id": "c",
        "agent_id": "agent-1",
        "transcript": {
            "entries": [
                {
                    "toolCall": {"toolName": "wire", "tool_name": "python"},
                    "durationMs": 40,
                    "tool_call_output": "python-name-only",
                }
            ]
        },
    }


@pytest.mark.timeout(30)
@FLAVOURS
def test_an_agent_answer_with_a_time_before_year_one_is_refused(flavour: str) -> None:
    with (
        answering(agent_body(created_at="-90000000000000")) as server,
        pytest.raises(vatel.APIResponseValidationError) as info,
    ):
        fetch(flavour, server.url, lambda c: c.agents.get("agent-1"))
    assert_refused(info.value, "created_at: Input should be a valid datetime")


@pytest.mark.timeout(60)
@FLAVOURS
def test_a_list_of_many_wrong_items_is_refused_in_bounded_memory(flavour: str) -> None:
    body = json.dumps({"llms": [1] * 100_000}).encode()
    with (
        answering(body) as server,
        memory_bound(8),
        pytest.raises(vatel.APIResponseValidationError) as info,
    ):
        fetch(flavour, server.url, lambda c: c.llms.list())
    assert "llms.0: Input should be a valid string (100000 error(s))" in info.value.message
