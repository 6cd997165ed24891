"""Request shapes of Vatel's other official SDKs (Go, JavaScript, the newest Python
SDK), sent with raw httpx and websockets clients as those SDKs send them."""

from __future__ import annotations

import uuid
from typing import Any

import jwt
import pytest
from mock_support import FLAVOURS, handshake, request, ws_url

from vatel.testing import MockServer

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("flavour", FLAVOURS)]

MISSING = str(uuid.UUID(int=2))


def claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


async def versions_of(server: MockServer, flavour: str, agent_id: str) -> list[str]:
    response = await request(server, flavour, "GET", f"/v1/agents/{agent_id}/versions")
    return [v["id"] for v in response.json()]


async def mint(server: MockServer, flavour: str, **body: Any) -> str:
    response = await request(server, flavour, "POST", "/v1/session-token", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


# The WebSocket URL with only ?token=


async def test_minted_tokens_name_the_agent_and_the_version(
    server: MockServer, flavour: str
) -> None:
    agent_id = server.agent_ids[0]
    active, draft = await versions_of(server, flavour, agent_id)
    claims = claims_of(await mint(server, flavour, agent_id=agent_id))
    assert (claims["agent_id"], claims["version_id"]) == (agent_id, active)
    claims = claims_of(await mint(server, flavour, agent_id=agent_id, version_id=draft))
    assert (claims["agent_id"], claims["version_id"]) == (agent_id, draft)


async def test_a_token_alone_opens_a_session_for_the_tokens_agent(
    server: MockServer, flavour: str
) -> None:
    agent_id = server.agent_ids[1]
    [active] = await versions_of(server, flavour, agent_id)
    token = await mint(server, flavour, agent_id=agent_id)
    status, started = await handshake(flavour, ws_url(server, token=token))
    assert status == 101 and started["type"] == "session_started"
    session = server.sessions[0]
    assert session.id == started["data"]["id"]
    assert (session.agent_id, session.version_id) == (agent_id, active)
    assert await session.wait_closed_async()
    call = (await request(server, flavour, "GET", f"/v1/calls/{session.id}")).json()
    assert (call["agent_id"], call["graph_version_id"]) == (agent_id, active)


async def test_a_token_alone_keeps_the_tokens_version(server: MockServer, flavour: str) -> None:
    agent_id = server.agent_ids[0]
    _, draft = await versions_of(server, flavour, agent_id)
    token = await mint(server, flavour, agent_id=agent_id, version_id=draft, first_message="")
    status, _ = await handshake(flavour, ws_url(server, token=token))
    assert status == 101
    assert server.sessions[0].version_id == draft


async def test_agent_id_in_the_url_must_be_the_tokens(server: MockServer, flavour: str) -> None:
    agent_id, other = server.agent_ids
    token = await mint(server, flavour, agent_id=agent_id, first_message="")
    status, body = await handshake(flavour, ws_url(server, token=token, agentId=other))
    assert status == 400
    assert body == {"error": "agentId does not match the session token's agent"}
    # The same id in another spelling is the same agent.
    status, _ = await handshake(flavour, ws_url(server, token=token, agentId=agent_id.upper()))
    assert status == 101
    assert [s.agent_id for s in server.sessions] == [agent_id]


async def test_version_id_in_the_url_overrides_the_tokens(server: MockServer, flavour: str) -> None:
    agent_id = server.agent_ids[0]
    active, draft = await versions_of(server, flavour, agent_id)
    token = await mint(server, flavour, agent_id=agent_id, version_id=draft, first_message="")
    status, _ = await handshake(flavour, ws_url(server, token=token, versionId=active))
    assert status == 101
    assert server.sessions[0].version_id == active


async def test_a_token_alone_is_still_checked(server: MockServer, flavour: str) -> None:
    cases = [
        (server.issue_token(server.agent_ids[0], ttl=-1), 401, "session token expired"),
        (server.issue_token(MISSING), 404, "agent not found"),
        (
            server.issue_token(server.foreign_agent_id),
            403,
            "agent not allowed for this organization",
        ),
        (server.issue_token(server.agent_ids[0], version_id=MISSING), 404, "version not found"),
    ]
    for token, status, message in cases:
        got, body = await handshake(flavour, ws_url(server, token=token))
        assert (got, message in body["error"]) == (status, True), message
    assert server.sessions == []


# POST /v1/session-token?agentId=… with no body (an older Go SDK)


async def test_query_ids_stand_in_for_a_missing_body(server: MockServer, flavour: str) -> None:
    agent_id = server.agent_ids[0]
    active, draft = await versions_of(server, flavour, agent_id)
    response = await request(
        server, flavour, "POST", "/v1/session-token", params={"agentId": agent_id}
    )
    assert response.status_code == 200
    claims = claims_of(response.json()["token"])
    assert (claims["agent_id"], claims["version_id"]) == (agent_id, active)
    assert claims["scopes"] == ["voice"] and claims["parameters"] == {}
    params = {"agentId": agent_id.upper(), "versionId": draft}
    response = await request(server, flavour, "POST", "/v1/session-token", params=params)
    claims = claims_of(response.json()["token"])
    assert (claims["agent_id"], claims["version_id"]) == (agent_id, draft)
    # The token it gives opens a session with only ?token= (on an agent with no
    # greeting: this client does not read the audio one would bring).
    other = server.agent_ids[1]
    response = await request(
        server, flavour, "POST", "/v1/session-token", params={"agentId": other}
    )
    status, _ = await handshake(flavour, ws_url(server, token=response.json()["token"]))
    assert status == 101 and server.sessions[0].agent_id == other


async def test_query_and_body_must_agree(server: MockServer, flavour: str) -> None:
    agent_id, other = server.agent_ids
    _, draft = await versions_of(server, flavour, agent_id)
    agreeing = await request(
        server,
        flavour,
        "POST",
        "/v1/session-token",
        params={"agentId": agent_id},
        json={"agent_id": agent_id, "chat": True},
    )
    assert agreeing.status_code == 200
    assert claims_of(agreeing.json()["token"])["scopes"] == ["voice", "chat"]
    # A body without agent_id takes the query's.
    merged = await request(
        server,
        flavour,
        "POST",
        "/v1/session-token",
        params={"agentId": agent_id},
        json={"prompt": "Be brief."},
    )
    assert claims_of(merged.json()["token"])["parameters"] == {"prompt": "Be brief."}
    # A null version_id in the body is absent, so the query's applies.
    nulled = await request(
        server,
        flavour,
        "POST",
        "/v1/session-token",
        params={"versionId": draft},
        json={"agent_id": agent_id, "version_id": None},
    )
    assert claims_of(nulled.json()["token"])["version_id"] == draft
    cases: list[tuple[dict[str, str], Any, str]] = [
        ({"agentId": other}, {"agent_id": agent_id}, "agentId query parameter does not match"),
        (
            {"versionId": MISSING},
            {"agent_id": agent_id, "version_id": draft},
            "versionId query parameter does not match",
        ),
        ({"agentId": "abc"}, None, "agentId query parameter must be a UUID"),
        ({"agentId": agent_id, "versionId": "v2"}, None, "versionId query parameter must be"),
        ({"versionId": draft}, None, "agent_id is required"),
        ({"agentId": agent_id}, {"agent_id": agent_id, "extra": 1}, "extra is not an allowed"),
        ({"agentId": agent_id}, {"agent_id": None}, "agent_id must not be null"),
    ]
    for params, body, message in cases:
        response = await request(
            server, flavour, "POST", "/v1/session-token", params=params, json=body
        )
        assert (response.status_code, message in response.json()["error"]) == (400, True), message


async def test_no_body_and_no_query_is_still_400(server: MockServer, flavour: str) -> None:
    response = await request(server, flavour, "POST", "/v1/session-token")
    assert response.status_code == 400
    assert response.json() == {"error": "request body is required"}


# Optional members sent as null (the newest official Python SDK)

NULL_OPTIONALS = {
    "version_id": None,
    "chat_id": None,
    "transport": None,
    "first_message": None,
    "prompt": None,
    "chat": None,
}


async def test_null_optional_members_count_as_absent(server: MockServer, flavour: str) -> None:
    agent_id = server.agent_ids[0]
    active, _ = await versions_of(server, flavour, agent_id)
    body = {"agent_id": agent_id, **NULL_OPTIONALS}
    response = await request(server, flavour, "POST", "/v1/session-token", json=body)
    assert response.status_code == 200
    assert set(response.json()) == {"token"}  # transport: null is the default, websocket
    claims = claims_of(response.json()["token"])
    assert claims["version_id"] == active
    assert claims["scopes"] == ["voice"] and claims["parameters"] == {}
    given = {**body, "prompt": "Be brief.", "chat": True}
    response = await request(server, flavour, "POST", "/v1/session-token", json=given)
    claims = claims_of(response.json()["token"])
    assert claims["parameters"] == {"prompt": "Be brief."}
    assert claims["scopes"] == ["voice", "chat"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"agent_id": None, **NULL_OPTIONALS}, "agent_id must not be null"),
        ({**NULL_OPTIONALS}, "agent_id is required"),
        ({"agent_id": MISSING, "metadata": None}, "metadata is not an allowed property"),
        ({"agent_id": MISSING, "version_id": 7}, "version_id must be a UUID string"),
        ({"agent_id": MISSING, "chat": "true"}, "chat must be a boolean"),
        ({"agent_id": MISSING, "transport": "sip", "prompt": None}, "transport must be one of"),
        ({"agent_id": "not-a-uuid", "chat_id": None}, "agent_id must be a UUID string"),
    ],
)
async def test_everything_else_stays_strict(
    server: MockServer, flavour: str, body: dict[str, Any], message: str
) -> None:
    response = await request(server, flavour, "POST", "/v1/session-token", json=body)
    assert response.status_code == 400
    assert message in response.json()["error"]


async def test_a_null_body_is_not_an_empty_one(server: MockServer, flavour: str) -> None:
    response = await request(
        server,
        flavour,
        "POST",
        "/v1/session-token",
        content=b"null",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {server.api_key}"},
    )
    assert response.status_code == 400
    assert response.json() == {"error": "request body must be a JSON object"}
