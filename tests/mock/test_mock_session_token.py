"""Session tokens and the voice WebSocket handshake."""

from __future__ import annotations

import http.client
import json
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from mock_support import connect, connect_url, make_client, receive
from websockets.exceptions import InvalidStatus

from vatel.testing import MockServer

MISSING = str(uuid.UUID(int=2))


def claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def test_session_token_is_a_jwt_with_the_right_claims(
    api: httpx.Client, server: MockServer
) -> None:
    agent_id = server.agent_ids[0]
    before = time.time()
    response = api.post(
        "/v1/session-token",
        json={"agent_id": agent_id, "prompt": "Be brief.", "first_message": "Yo!", "chat": True},
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token"}
    header = jwt.get_unverified_header(body["token"])
    assert header["alg"] == "HS256"
    claims = claims_of(body["token"])
    assert claims["agent_id"] == agent_id
    assert claims["organization_id"] == server.organization_id
    assert claims["scopes"] == ["voice", "chat"]
    assert claims["parameters"] == {"prompt": "Be brief.", "first_message": "Yo!"}
    versions = api.get(f"/v1/agents/{agent_id}/versions").json()
    assert claims["version_id"] == versions[0]["id"]
    assert isinstance(claims["iat"], int) and isinstance(claims["exp"], int)
    assert before - 1 <= claims["iat"] <= time.time()
    assert claims["exp"] - claims["iat"] == 900
    assert isinstance(claims["jti"], str)
    again = api.post("/v1/session-token", json={"agent_id": agent_id}).json()["token"]
    assert claims_of(again)["jti"] != claims["jti"]
    assert claims_of(again)["scopes"] == ["voice"]


def test_token_ttl_follows_the_server_setting() -> None:
    with MockServer(pace=0, token_ttl=60) as server, make_client(server) as api:
        token = api.post("/v1/session-token", json={"agent_id": server.agent_ids[0]}).json()
        claims = claims_of(token["token"])
        assert claims["exp"] - claims["iat"] == 60


def test_webrtc_transport_adds_room_credentials(api: httpx.Client, server: MockServer) -> None:
    body = api.post(
        "/v1/session-token", json={"agent_id": server.agent_ids[0], "transport": "webrtc"}
    ).json()
    assert set(body) == {"token", "webrtc_token", "room", "identity", "url"}
    media = claims_of(body["webrtc_token"])
    assert media["sub"] == body["identity"]
    assert media["video"]["room"] == body["room"]
    assert body["url"].startswith("ws://")


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({}, 400, "agent_id is required"),
        ({"agent_id": "x"}, 400, "agent_id must be a UUID string"),
        ({"agent_id": MISSING, "extra": 1}, 400, "extra is not an allowed property"),
        ({"agent_id": MISSING, "version_id": "v1"}, 400, "version_id must be a UUID string"),
        ({"agent_id": MISSING, "transport": "sip"}, 400, "transport must be one of"),
        ({"agent_id": MISSING, "chat": "yes"}, 400, "chat must be a boolean"),
        ({"agent_id": MISSING}, 404, "agent not found"),
    ],
)
def test_session_token_refusals(
    api: httpx.Client, body: dict[str, object], status: int, message: str
) -> None:
    response = api.post("/v1/session-token", json=body)
    assert response.status_code == status
    assert message in response.json()["error"]


def test_session_token_for_a_foreign_agent_is_403(api: httpx.Client, server: MockServer) -> None:
    response = api.post("/v1/session-token", json={"agent_id": server.foreign_agent_id})
    assert response.status_code == 403


def test_session_token_for_an_unknown_version_is_404(api: httpx.Client, server: MockServer) -> None:
    body = {"agent_id": server.agent_ids[0], "version_id": MISSING}
    assert api.post("/v1/session-token", json=body).status_code == 404


def test_issue_token_matches_the_rest_token(server: MockServer) -> None:
    agent_id = server.agent_ids[0]
    claims = claims_of(server.issue_token(agent_id, ttl=-1, first_message="Hi"))
    assert claims["agent_id"] == agent_id
    assert claims["exp"] < time.time()
    assert claims["parameters"] == {"first_message": "Hi"}


# The handshake


async def refused(url: str) -> tuple[int, dict[str, object]]:
    with pytest.raises(InvalidStatus) as info:
        async with connect(url):
            pass
    response = info.value.response
    return response.status_code, json.loads(response.body or b"{}")


def forged_token(server: MockServer, agent_id: str) -> str:
    claims = claims_of(server.issue_token(agent_id))
    return jwt.encode(claims, b"not the server's secret, long enough for HS256", "HS256")


@pytest.mark.anyio
async def test_handshake_refusals(server: MockServer) -> None:
    agent_id = server.agent_ids[0]
    token = server.issue_token(agent_id)
    base = server.ws_url
    cases = [
        (f"{base}?agentId={agent_id}", 400, "token query parameter is required"),
        (f"{base}?token={token}&agentId=abc", 400, "agentId must be a UUID"),
        (f"{base}?token={token}&agentId={agent_id}&versionId=v2", 400, "versionId must be a UUID"),
        (f"{base}?token=garbage&agentId={agent_id}", 401, "invalid session token"),
        (connect_url(server, agent_id, forged_token(server, agent_id)), 401, "invalid"),
        (
            connect_url(server, agent_id, server.issue_token(agent_id, ttl=-1)),
            401,
            "session token expired",
        ),
        (connect_url(server, server.agent_ids[1], token), 400, "does not match the session token"),
        (
            connect_url(
                server, server.foreign_agent_id, server.issue_token(server.foreign_agent_id)
            ),
            403,
            "not allowed for this organization",
        ),
        (connect_url(server, MISSING, server.issue_token(MISSING)), 404, "agent not found"),
        (connect_url(server, agent_id, token, versionId=MISSING), 404, "version not found"),
    ]
    for url, status, message in cases:
        got_status, body = await refused(url)
        assert got_status == status, url
        assert message in str(body["error"])
    assert server.sessions == []


@pytest.mark.anyio
async def test_deleted_agents_refuse_connections(server: MockServer) -> None:
    agent_id = server.agent_ids[1]
    url = connect_url(server, agent_id)
    with make_client(server) as api:
        assert api.delete(f"/v1/agents/{agent_id}").status_code == 204
    status, _ = await refused(url)
    assert status == 404


def test_a_plain_get_is_not_an_upgrade(server: MockServer) -> None:
    url = httpx.URL(connect_url(server, server.agent_ids[0]))
    # http.client rather than httpx, which would log the URL and its token.
    connection = http.client.HTTPConnection(server.host, server.port)
    connection.request("GET", url.raw_path.decode())
    response = connection.getresponse()
    assert response.status == 400
    assert json.loads(response.read()) == {"error": "expected a WebSocket upgrade request"}
    connection.close()


@pytest.mark.anyio
async def test_version_override_in_the_query(server: MockServer) -> None:
    agent_id = server.agent_ids[0]
    with make_client(server) as api:
        versions = api.get(f"/v1/agents/{agent_id}/versions").json()
    draft = versions[1]["id"]
    # No greeting: this client does not read the audio it would bring.
    token = server.issue_token(agent_id, first_message="")
    async with connect(connect_url(server, agent_id, token, versionId=draft)) as ws:
        started = await receive(ws)
    session = server.sessions[0]
    assert session.version_id == draft and session.id == started["data"]["id"]
