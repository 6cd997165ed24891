"""The mock serves exactly the contract's operations, each with conforming bodies."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from mock_support import (
    Contract,
    connect,
    connect_url,
    final_audio,
    make_client,
    receive,
    receive_until,
    send_audio,
    speech,
)

from vatel.testing import MockServer
from vatel.testing._app import build_app


def test_the_router_serves_exactly_the_contract(server: MockServer, contract: Contract) -> None:
    app = build_app(server._ctx)
    served = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    assert served == set(contract.operations())
    assert len([op for op in served if op[1] != "/v1/connection"]) == 29


def test_one_successful_call_per_operation(server: MockServer, contract: Contract) -> None:
    """Every REST operation once, each response validated by the client's hook."""
    seen: set[tuple[str, str]] = set()

    def note(response: httpx.Response) -> None:
        template = contract.template(response.request.url.path)
        assert template is not None
        assert response.status_code < 300, (response.request.url, response.text)
        seen.add((response.request.method, template))

    front_desk, orders = server.agent_ids
    with make_client(server) as api:
        api.event_hooks["response"].append(note)
        api.get("/v1/organization")
        api.get("/v1/llms")
        api.get("/v1/voices")
        api.get("/v1/agents")
        agent = api.post("/v1/agents", json={"name": "Conformance"}).json()
        api.get(f"/v1/agents/{agent['id']}")
        api.patch(f"/v1/agents/{agent['id']}", json={"status": "inactive"})
        versions = api.get(f"/v1/agents/{front_desk}/versions").json()
        draft = versions[1]["id"]
        api.get(f"/v1/agents/{front_desk}/versions/{draft}")
        api.post(f"/v1/agents/{front_desk}/versions/{draft}/publish")
        api.post(f"/v1/agents/{front_desk}/dial", params={"number": "+15555550123"})
        calls = api.get("/v1/calls", params={"status": "ended", "page_size": 100}).json()
        api.get(f"/v1/calls/{calls['calls'][0]['id']}")
        for call in calls["calls"]:
            if api.get(f"/v1/calls/{call['id']}/recording").status_code == 200:
                break
        api.get("/v1/twilio/numbers")
        number = api.post(
            "/v1/twilio/numbers",
            json={
                "phone_number": "+15555550142",
                "account_sid": "AC" + "1" * 32,
                "auth_token": "t",
            },
        ).json()
        api.patch(f"/v1/twilio/numbers/{number['id']}", json={"label": "Renamed"})
        api.get("/v1/sip-trunks")
        trunk = api.post("/v1/sip-trunks", json={"pbx": "yeastar"}).json()
        api.get(f"/v1/sip-trunks/{trunk['id']}")
        api.patch(f"/v1/sip-trunks/{trunk['id']}", json={"register": True})
        api.get(f"/v1/sip-trunks/{trunk['id']}/assignments")
        assignment = api.post(
            f"/v1/sip-trunks/{trunk['id']}/assignments", json={"agent_id": orders, "number": "7"}
        ).json()
        one = f"/v1/sip-trunks/assignments/{assignment['id']}"
        api.get(one)
        api.patch(one, json={"number": "8"})
        api.delete(one)
        api.delete(f"/v1/sip-trunks/{trunk['id']}")
        api.post("/v1/session-token", json={"agent_id": orders, "transport": "webrtc"})
        api.delete(f"/v1/agents/{agent['id']}")
    rest = {op for op in contract.operations() if op[1] != "/v1/connection"}
    assert seen == rest


def test_error_bodies_conform(server: MockServer, contract: Contract) -> None:
    missing = str(uuid.UUID(int=3))
    agent_id = server.agent_ids[0]
    probes: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/v1/agents", {"json": {}}),
        ("PATCH", f"/v1/agents/{missing}", {"json": {}}),
        ("DELETE", "/v1/agents/x", {}),
        ("POST", f"/v1/agents/{agent_id}/versions/{missing}/publish", {}),
        ("POST", f"/v1/agents/{agent_id}/dial", {"params": {"number": "1"}}),
        ("GET", "/v1/calls", {"params": {"page_size": 500}}),
        ("GET", f"/v1/calls/{missing}/recording", {}),
        ("POST", "/v1/twilio/numbers", {"json": {"phone_number": 1}}),
        ("PATCH", f"/v1/twilio/numbers/{missing}", {"json": {"label": "x"}}),
        ("POST", "/v1/sip-trunks", {"json": {}}),
        ("PATCH", f"/v1/sip-trunks/{missing}", {"json": {"pbx": "3cx"}}),
        ("POST", f"/v1/sip-trunks/{missing}/assignments", {"json": {"agent_id": agent_id}}),
        ("PATCH", f"/v1/sip-trunks/assignments/{missing}", {"json": {}}),
        ("POST", "/v1/session-token", {"json": {"agent_id": server.foreign_agent_id}}),
    ]
    with make_client(server) as api:
        for method, path, kwargs in probes:
            response = api.request(method, path, **kwargs)
            assert 400 <= response.status_code < 500, (method, path)
            assert set(response.json()) == {"error"}
    with make_client(server, headers={}) as anonymous:
        assert anonymous.get("/v1/organization").json() == {"error": "missing or invalid API key"}


@pytest.mark.anyio
async def test_voice_messages_conform(server: MockServer, contract: Contract) -> None:
    agent_id = server.agent_ids[0]
    server.add_client_tool(agent_id, "check_stock", arguments=[{"name": "sku"}])
    seen = []
    async with connect(connect_url(server, agent_id)) as ws:
        seen += await receive_until(ws, final_audio)  # the greeting
        await send_audio(ws, speech())
        seen += await receive_until(ws, lambda m: m["type"] == "tool_call")
        call_id = seen[-1]["data"]["toolCallId"]
        await ws.send(
            json.dumps({"type": "tool_call_output", "data": {"toolCallId": call_id, "output": "3"}})
        )
        seen += await receive_until(ws, final_audio)
        server.end_session()
        seen.append(await receive(ws))
    for message in seen:
        contract.check_message(message)  # receive() did too; this test says so when it cannot
    assert {m["type"] for m in seen} == {
        "session_started",
        "speech_started",
        "speech_stopped",
        "input_audio_transcript",
        "tool_call",
        "response_text",
        "response_audio",
        "session_ended",
    }
