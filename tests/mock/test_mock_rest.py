"""REST behaviour of the mock: auth, validation, lookups, conflicts and writes."""

from __future__ import annotations

import uuid

import httpx
import jwt
import pytest
from mock_support import make_client

from vatel.testing import MockServer

MISSING = str(uuid.UUID(int=1))


def test_every_request_needs_the_api_key(server: MockServer) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": server.api_key}):
        with make_client(server, headers=headers) as client:
            response = client.get("/v1/agents")
        assert response.status_code == 401
        assert response.json() == {"error": "missing or invalid API key"}


def test_the_api_key_is_random_unless_given() -> None:
    assert MockServer().api_key != MockServer().api_key
    assert MockServer(api_key="vk_fixed").api_key == "vk_fixed"


def test_organization_llms_and_voices(api: httpx.Client, server: MockServer) -> None:
    assert api.get("/v1/organization").json()["id"] == server.organization_id
    llms = api.get("/v1/llms").json()["llms"]
    assert llms == sorted(llms) and all("/" in m for m in llms)
    voices = api.get("/v1/voices").json()["voices"]
    assert {v["provider"] for v in voices} == {
        "elevenlabs",
        "openai",
        "cartesia",
        "hume",
        "minimax",
        "fish",
    }


def test_seeded_agents_are_listed_but_not_the_foreign_one(
    api: httpx.Client, server: MockServer
) -> None:
    agents = api.get("/v1/agents").json()
    assert [a["id"] for a in agents] == server.agent_ids
    assert api.get(f"/v1/agents/{server.foreign_agent_id}").status_code == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "name is required"),
        ({"name": 5}, "name must be a string"),
        ({"name": "A", "status": "paused"}, "status must be one of: active, inactive"),
        ({"name": "A", "summarize_calls": "yes"}, "summarize_calls must be a boolean"),
        ({"name": "A", "first_message_interruption_time": True}, "must be a number"),
        ({"name": "A", "keyterms": ["ok", 3]}, "keyterms[1] must be a string"),
        ({"name": "A", "phone_number_id": "nope"}, "phone_number_id must be a UUID string"),
        ({"name": "A", "phone_number_id": MISSING}, "phone_number_id: no such Twilio number"),
        ({"name": "A", "llm": "acme/unknown"}, "llm must be one of the models"),
        ({"name": "A", "voice_settings": {"id": "alloy"}}, "voice_settings.provider is required"),
        (
            {"name": "A", "voice_settings": {"id": "alloy", "provider": "hume"}},
            "voice_settings.id: no voice",
        ),
        (
            {"name": "A", "voice_settings": {"id": "alloy", "provider": "openai", "speed": 3}},
            "voice_settings.speed must be between 0 and 2",
        ),
        ({"name": "A", "timeout_settings": {"silence_counter": 1.5}}, "must be an integer"),
        ({"name": "A", "default_language": "xx"}, "default_language must be one of"),
        ([], "request body must be a JSON object"),
        ("text", "request body must be a JSON object"),
    ],
)
def test_agent_validation_names_the_field(api: httpx.Client, body: object, message: str) -> None:
    response = api.post("/v1/agents", json=body)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_invalid_json_and_empty_bodies(api: httpx.Client) -> None:
    for content in (b"{not json", b"", b'{"name": NaN}', b"\xff\xfe"):
        response = api.post(
            "/v1/agents", content=content, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, content
        assert "error" in response.json()


@pytest.mark.parametrize(
    "path",
    [
        "/v1/agents/not-a-uuid",
        "/v1/agents/not-a-uuid/versions",
        "/v1/calls/123",
        "/v1/calls/123/recording",
        "/v1/sip-trunks/xyz",
        "/v1/sip-trunks/xyz/assignments",
    ],
)
def test_malformed_path_ids_are_400(api: httpx.Client, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid id"}


def test_malformed_secondary_ids_name_the_parameter(api: httpx.Client, server: MockServer) -> None:
    response = api.get(f"/v1/agents/{server.agent_ids[0]}/versions/v1")
    assert response.json() == {"error": "invalid versionId"}
    response = api.get("/v1/sip-trunks/assignments/42")
    assert response.json() == {"error": "invalid assignmentId"}


@pytest.mark.parametrize(
    "path",
    [
        f"/v1/agents/{MISSING}",
        f"/v1/agents/{MISSING}/versions",
        f"/v1/calls/{MISSING}",
        f"/v1/calls/{MISSING}/recording",
        f"/v1/sip-trunks/{MISSING}",
        f"/v1/sip-trunks/{MISSING}/assignments",
        f"/v1/sip-trunks/assignments/{MISSING}",
    ],
)
def test_unknown_ids_are_404(api: httpx.Client, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 404
    assert isinstance(response.json()["error"], str)


def test_unknown_routes_and_methods_answer_json(api: httpx.Client) -> None:
    missing = api.get("/v1/nothing-here")
    assert missing.status_code == 404 and missing.json() == {"error": "not found"}
    wrong = api.post(f"/v1/calls/{MISSING}/recording")
    assert wrong.status_code == 405
    assert "GET" in wrong.headers["Allow"]
    assert wrong.json() == {"error": "method not allowed"}


def test_agent_lifecycle(api: httpx.Client) -> None:
    created = api.post(
        "/v1/agents",
        json={
            "name": "Support",
            "first_message": "Hi!",
            "vad_settings": {"stop_secs": 0.3},
            "phone_number_id": None,
            "unknown_field": "dropped",
        },
    )
    assert created.status_code == 201
    agent = created.json()
    assert agent["name"] == "Support" and agent["status"] == "active"
    assert agent["phone_number_id"] == "" and "unknown_field" not in agent
    assert agent["vad_settings"]["stop_secs"] == 0.3
    assert agent["vad_settings"]["start_secs"] == 0.06  # the default stays
    agent_id = agent["id"]

    patched = api.patch(
        f"/v1/agents/{agent_id}", json={"vad_settings": {"start_secs": 0.1}, "keyterms": ["x"]}
    ).json()
    assert patched["vad_settings"] == {**agent["vad_settings"], "start_secs": 0.1}
    assert patched["keyterms"] == ["x"]
    assert api.get(f"/v1/agents/{agent_id}").json() == patched

    versions = api.get(f"/v1/agents/{agent_id}/versions").json()
    assert len(versions) == 1 and versions[0]["published_at"] is not None
    detail = api.get(f"/v1/agents/{agent_id}/versions/{versions[0]['id']}").json()
    assert [n["type"] for n in detail["nodes"]] == ["start", "conversation", "end_call"]

    assert api.delete(f"/v1/agents/{agent_id}").status_code == 204
    assert api.get(f"/v1/agents/{agent_id}").status_code == 404
    assert api.delete(f"/v1/agents/{agent_id}").status_code == 404


def test_publish_sets_the_active_version_then_conflicts(
    api: httpx.Client, server: MockServer
) -> None:
    agent_id = server.agent_ids[0]
    versions = api.get(f"/v1/agents/{agent_id}/versions").json()
    draft = next(v for v in versions if v["published_at"] is None)
    published = api.post(f"/v1/agents/{agent_id}/versions/{draft['id']}/publish")
    assert published.status_code == 200 and published.json()["published_at"]
    again = api.post(f"/v1/agents/{agent_id}/versions/{draft['id']}/publish")
    assert again.status_code == 409 and again.json() == {"error": "version already published"}
    assert api.post(f"/v1/agents/{agent_id}/versions/{MISSING}/publish").status_code == 404
    # Session tokens now name the published version.
    token = api.post("/v1/session-token", json={"agent_id": agent_id}).json()["token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["version_id"] == draft["id"]


def test_client_tool_nodes_are_visible_in_the_version(
    api: httpx.Client, server: MockServer
) -> None:
    agent_id = server.agent_ids[1]
    node_id = server.add_client_tool(
        agent_id,
        "lookup_order",
        arguments=[
            {"name": "order_id", "value": "4419"},
            {"name": "urgent", "dataType": "boolean"},
        ],
        description="Look an order up",
    )
    version_id = api.get(f"/v1/agents/{agent_id}/versions").json()[0]["id"]
    nodes = api.get(f"/v1/agents/{agent_id}/versions/{version_id}").json()["nodes"]
    tool = next(n for n in nodes if n["id"] == node_id)
    assert tool["type"] == "client_tool" and tool["name"] == "lookup_order"
    assert [a["value"] for a in tool["data"]["arguments"]] == ["4419", True]
    with pytest.raises(KeyError):
        server.add_client_tool(MISSING, "x", arguments=[])


# Dialing


def test_dial_over_twilio(api: httpx.Client, server: MockServer) -> None:
    front_desk, orders = server.agent_ids
    before = api.get("/v1/calls", params={"page_size": 1}).json()["pagination"]["total"]
    response = api.post(f"/v1/agents/{front_desk}/dial", params={"number": "+15555550123"})
    assert response.status_code == 200 and response.json() == {"success": True}
    calls = api.get("/v1/calls", params={"page_size": 1}).json()
    assert calls["pagination"]["total"] == before + 1
    newest = calls["calls"][0]
    assert newest["party_number"] == "+15555550123"
    assert newest["source"] == "twilio" and newest["outbound"] is True
    # Order Status has no phone number.
    no_number = api.post(f"/v1/agents/{orders}/dial", params={"number": "+15555550123"})
    assert no_number.status_code == 400 and "phone number" in no_number.json()["error"]


def test_dial_needs_an_active_agent(api: httpx.Client, server: MockServer) -> None:
    agent_id = server.agent_ids[0]
    api.patch(f"/v1/agents/{agent_id}", json={"status": "inactive"})
    response = api.post(f"/v1/agents/{agent_id}/dial", params={"destination": "+15555550123"})
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "number (or destination) is required"),
        ({"number": "+1555", "destination": "+1666"}, "must match"),
        ({"number": "12"}, "invalid number length"),
        ({"number": "+1" + "5" * 25}, "invalid number length"),
        ({"number": "+15555550123", "sipTrunkId": "trunk"}, "sipTrunkId must be a UUID"),
    ],
)
def test_dial_callee_rules(
    api: httpx.Client, server: MockServer, params: dict[str, str], message: str
) -> None:
    response = api.post(f"/v1/agents/{server.agent_ids[0]}/dial", params=params)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_dial_over_a_sip_trunk(api: httpx.Client, server: MockServer) -> None:
    front_desk, orders = server.agent_ids
    params = {"number": "2001", "destination": "2001", "sipTrunkId": server.sip_trunk_id}
    assert api.post(f"/v1/agents/{orders}/dial", params=params).json() == {"success": True}
    newest = api.get("/v1/calls", params={"page_size": 1}).json()["calls"][0]
    assert newest["source"] == "sip" and newest["party_number"] == "2001"
    # The trunk is not assigned to the Front Desk agent.
    denied = api.post(f"/v1/agents/{front_desk}/dial", params=params)
    assert denied.status_code == 403
    unknown = api.post(f"/v1/agents/{orders}/dial", params={**params, "sipTrunkId": MISSING})
    assert unknown.status_code == 404
    assert api.post(f"/v1/agents/{MISSING}/dial", params=params).status_code == 404


# Telephony


def test_twilio_numbers(api: httpx.Client, server: MockServer) -> None:
    body = {
        "phone_number": "+15555550199",
        "account_sid": "AC" + "0" * 32,
        "auth_token": "twilio-secret",
    }
    created = api.post("/v1/twilio/numbers", json=body)
    assert created.status_code == 201
    number = created.json()
    assert number["label"] == "Imported number" and number["phone_sid"].startswith("PN")
    assert "auth_token" not in number
    assert api.post("/v1/twilio/numbers", json=body).status_code == 409
    relabeled = api.patch(f"/v1/twilio/numbers/{number['id']}", json={"label": "Sales"})
    assert relabeled.json()["label"] == "Sales"
    assert len(api.get("/v1/twilio/numbers").json()) == 2
    assert api.patch(f"/v1/twilio/numbers/{MISSING}", json={"label": "x"}).status_code == 404
    assert api.patch(f"/v1/twilio/numbers/{number['id']}", json={}).status_code == 400
    for bad in ({**body, "phone_number": "555"}, {**body, "account_sid": "XY1"}):
        assert api.post("/v1/twilio/numbers", json=bad).status_code == 400
    missing = api.post("/v1/twilio/numbers", json={"phone_number": "+15555550100"})
    assert missing.json() == {"error": "account_sid is required"}


def test_sip_trunks(api: httpx.Client, server: MockServer) -> None:
    created = api.post(
        "/v1/sip-trunks",
        json={
            "pbx": "generic",
            "inbound_auth_type": "digest",
            "inbound_sip_username": "branch-office",
            "inbound_sip_password": "secret",
            "caller_id_transforms": [{"type": "strip_digits_start", "number": 1}],
        },
    )
    assert created.status_code == 201
    trunk = created.json()
    assert "inbound_sip_password" not in trunk
    assert trunk["inbound_registration_status"] == "registered"
    clash = api.post("/v1/sip-trunks", json={"pbx": "3cx", "inbound_sip_username": "acme-inbound"})
    assert clash.status_code == 409
    assert api.post("/v1/sip-trunks", json={"pbx": "asterisk"}).status_code == 400
    bad_transform = api.post("/v1/sip-trunks", json={"pbx": "3cx", "caller_id_transforms": [{}]})
    assert bad_transform.json() == {"error": "caller_id_transforms[0].type is required"}

    trunk_id = trunk["id"]
    assert api.patch(f"/v1/sip-trunks/{trunk_id}", json={}).status_code == 400
    patched = api.patch(
        f"/v1/sip-trunks/{trunk_id}", json={"inbound_host": None, "caller_id_transforms": None}
    ).json()
    assert patched["inbound_host"] == "" and patched["caller_id_transforms"] == []
    renamed = api.patch(f"/v1/sip-trunks/{trunk_id}", json={"inbound_sip_username": "acme-inbound"})
    assert renamed.status_code == 409
    assert api.get(f"/v1/sip-trunks/{trunk_id}").json()["pbx"] == "generic"
    assert len(api.get("/v1/sip-trunks").json()) == 2
    assert api.delete(f"/v1/sip-trunks/{trunk_id}").status_code == 204
    assert api.get(f"/v1/sip-trunks/{trunk_id}").status_code == 404


def test_sip_trunk_assignments(api: httpx.Client, server: MockServer) -> None:
    trunk_id = server.sip_trunk_id
    front_desk, orders = server.agent_ids
    seeded = api.get(f"/v1/sip-trunks/{trunk_id}/assignments").json()
    assert [a["agent_id"] for a in seeded] == [orders]

    path = f"/v1/sip-trunks/{trunk_id}/assignments"
    taken = api.post(path, json={"agent_id": front_desk, "number": seeded[0]["number"]})
    assert taken.status_code == 409
    assert api.post(path, json={"agent_id": MISSING}).status_code == 404
    foreign = api.post(path, json={"agent_id": server.foreign_agent_id})
    assert foreign.status_code == 400
    assert api.post(path, json={"number": "1"}).json() == {"error": "agent_id is required"}

    created = api.post(path, json={"agent_id": front_desk, "alternate_number": "alt-7"})
    assert created.status_code == 201
    assignment = created.json()
    one = f"/v1/sip-trunks/assignments/{assignment['id']}"
    assert api.get(one).json() == assignment
    clash = api.patch(one, json={"number": seeded[0]["number"]})
    assert clash.status_code == 409
    cleared = api.patch(one, json={"alternate_number": None, "number": "1002"}).json()
    assert cleared["alternate_number"] == "" and cleared["number"] == "1002"
    assert api.delete(one).status_code == 204
    assert api.get(one).status_code == 404


def test_requests_are_recorded_without_credentials(api: httpx.Client, server: MockServer) -> None:
    server.clear_requests()
    api.post("/v1/agents", json={"name": "Recorded"}, params={"trace": "1"})
    api.get("/v1/calls", params={"page": "2"})
    first, second = server.requests
    assert (first.method, first.path, first.query) == ("POST", "/v1/agents", {"trace": "1"})
    assert first.json == {"name": "Recorded"} and first.status == 201
    assert (second.method, second.json, second.query) == ("GET", None, {"page": "2"})
    assert "authorization" not in first.headers
    assert server.api_key not in repr(server.requests)
