"""The SDK and the mock server against the API contract (``../shared/vatel-openapi.json``).

Every REST operation of the contract has an SDK method on both clients; a
scenario runs every operation through the SDK against the mock server, and each
request body the SDK sent and each response the mock returned must validate
against the contract's schemas. Voice messages in both directions are checked
the same way. Skipped, with the reason, when the contract is not beside the checkout.
"""

from __future__ import annotations

import copy
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

import vatel
from vatel.audio import FRAME_BYTES, silence, voice_like
from vatel.testing import MockServer

jsonschema = pytest.importorskip("jsonschema")
referencing = pytest.importorskip("referencing")

HTTP_METHODS = ("get", "post", "put", "patch", "delete")

# operationId -> the SDK method that carries it out (same path on both clients).
SDK_METHODS = {
    "getOrganization": "organization.get",
    "listLLMs": "llms.list",
    "listVoices": "voices.list",
    "listAgents": "agents.list",
    "createAgent": "agents.create",
    "getAgent": "agents.get",
    "patchAgent": "agents.update",
    "deleteAgent": "agents.delete",
    "listAgentGraphVersions": "agents.versions.list",
    "getAgentGraphVersion": "agents.versions.get",
    "publishAgentGraphVersion": "agents.versions.publish",
    "dialAgent": "agents.dial",
    "listCalls": "calls.list_page",
    "getCall": "calls.get",
    "downloadCallRecording": "calls.download_recording",
    "listTwilioNumbers": "twilio_numbers.list",
    "importTwilioNumber": "twilio_numbers.import_number",
    "patchTwilioNumberLabel": "twilio_numbers.update",
    "listSipTrunks": "sip_trunks.list",
    "createSipTrunk": "sip_trunks.create",
    "getSipTrunk": "sip_trunks.get",
    "patchSipTrunk": "sip_trunks.update",
    "deleteSipTrunk": "sip_trunks.delete",
    "listSipTrunkAgentAssignments": "sip_trunks.assignments.list",
    "createSipTrunkAgentAssignment": "sip_trunks.assignments.create",
    "getSipTrunkAgentAssignment": "sip_trunks.assignments.get",
    "patchSipTrunkAgentAssignment": "sip_trunks.assignments.update",
    "deleteSipTrunkAgentAssignment": "sip_trunks.assignments.delete",
    "generateSessionToken": "session_token",
}
WEBSOCKET_OPERATION = "voiceSessionWebSocket"


# -- the contract as JSON Schema ------------------------------------------------------


def _to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema objects as JSON Schema: ``nullable`` becomes a null
    alternative and local references point into the registered contract."""
    if isinstance(node, list):
        return [_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _to_json_schema(value) for key, value in node.items()}
    if isinstance(out.get("$ref"), str) and out["$ref"].startswith("#/"):
        out["$ref"] = "urn:vatel-contract" + out["$ref"]
    if out.pop("nullable", False):
        if "$ref" in out:
            ref = out.pop("$ref")
            out = {"anyOf": [{"$ref": ref}, {"type": "null"}], **out}
        elif "type" in out:
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
    return out


@dataclass
class Operation:
    operation_id: str
    method: str
    template: str
    pattern: re.Pattern[str]
    spec: dict[str, Any]


class Contract:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        converted = _to_json_schema(copy.deepcopy(document))
        resource = referencing.Resource.from_contents(
            converted, default_specification=referencing.jsonschema.DRAFT7
        )
        self.registry = referencing.Registry().with_resource("urn:vatel-contract", resource)
        self.operations = [
            Operation(
                spec["operationId"],
                method.upper(),
                path,
                re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"),
                spec,
            )
            for path, item in document["paths"].items()
            for method, spec in item.items()
            if method in HTTP_METHODS
        ]

    def rest_operations(self) -> list[Operation]:
        return [op for op in self.operations if op.operation_id != WEBSOCKET_OPERATION]

    def match(self, method: str, path: str) -> Operation:
        # Literal segments beat parameters (/sip-trunks/assignments/{id} vs /sip-trunks/{id}).
        candidates = [
            op for op in self.operations if op.method == method and op.pattern.match(path)
        ]
        assert candidates, f"{method} {path} is not an operation of the contract"
        return max(candidates, key=lambda op: op.template.count("/") - op.template.count("{"))

    def validate(self, schema: dict[str, Any], instance: Any, what: str) -> None:
        validator = jsonschema.Draft7Validator(
            _to_json_schema(schema),
            registry=self.registry,
            format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER,
        )
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
        assert not errors, f"{what}: " + "; ".join(
            f"{'/'.join(map(str, e.path)) or '<root>'}: {e.message}" for e in errors[:5]
        )

    def component(self, name: str) -> dict[str, Any]:
        return {"$ref": f"#/components/schemas/{name}"}


@pytest.fixture(scope="module")
def spec(contract: dict[str, Any]) -> Contract:
    return Contract(contract)


# -- recording what went over the wire --------------------------------------------------


@dataclass
class Exchange:
    method: str
    path: str
    request_json: Any
    status: int
    content_type: str
    response_json: Any


def _recorder() -> tuple[httpx.Client, list[Exchange]]:
    exchanges: list[Exchange] = []

    def on_response(response: httpx.Response) -> None:
        request = response.request
        content_type = response.headers.get("content-type", "").split(";")[0]
        body = None
        if content_type == "application/json":
            response.read()
            body = response.json()
        exchanges.append(
            Exchange(
                request.method,
                request.url.path,
                json.loads(request.content) if request.content else None,
                response.status_code,
                content_type,
                body,
            )
        )

    return httpx.Client(event_hooks={"response": [on_response]}), exchanges


def _every_operation(client: vatel.Client, server: MockServer) -> Iterator[str]:
    """Calls each REST operation once or more; yields the operationIds it covered."""
    yield "getOrganization"
    client.organization.get()
    llms = client.llms.list()
    voices = client.voices.list()
    yield from ("listLLMs", "listVoices")
    agent = client.agents.create(
        name="Conformance",
        llm=llms[0],
        prompt="Answer briefly.",
        first_message="Hi.",
        keyterms=["vatel"],
        voice_settings={"id": voices[0].id, "provider": voices[0].provider, "speed": 1.0},
        vad_settings={"start_secs": 0.1, "stop_secs": 0.5},
        noise_cancel_settings={"enabled": True, "level": 50},
        timeout_settings={"default_timeout": 300, "timeout_action": "end_call"},
        status="active",
    )
    client.agents.list()
    client.agents.get(agent.id)
    client.agents.update(agent.id, name="Conformance 2", phone_number_id=None)
    yield from ("createAgent", "listAgents", "getAgent", "patchAgent")
    versions = client.agents.versions.list(agent.id)
    client.agents.versions.get(agent.id, versions[0].id)
    yield from ("listAgentGraphVersions", "getAgentGraphVersion")
    try:
        client.agents.versions.publish(agent.id, versions[0].id)
        client.agents.versions.publish(agent.id, versions[0].id)
    except vatel.ConflictError:
        yield "publishAgentGraphVersion"
    number = client.twilio_numbers.import_number(
        phone_number="+15550142", account_sid="AC" + "0" * 32, auth_token="secret", label="Main"
    )
    client.twilio_numbers.list()
    client.twilio_numbers.update(number.id, label="Renamed")
    with pytest.raises(vatel.ConflictError):
        client.twilio_numbers.import_number(
            phone_number="+15550142", account_sid="AC" + "0" * 32, auth_token="secret"
        )
    yield from ("importTwilioNumber", "listTwilioNumbers", "patchTwilioNumberLabel")
    trunk = client.sip_trunks.create(
        pbx="generic",
        inbound_auth_type="acl",
        inbound_host="pbx.example.com",
        outbound_host="sbc.example.com",
        caller_id_transforms=[{"type": "strip_digits_start", "number": 1}],
        register=False,
    )
    client.sip_trunks.list()
    client.sip_trunks.get(trunk.id)
    client.sip_trunks.update(trunk.id, remain_in_dialog=True, inbound_sip_password=None)
    yield from ("createSipTrunk", "listSipTrunks", "getSipTrunk", "patchSipTrunk")
    assignment = client.sip_trunks.assignments.create(
        trunk.id, agent_id=agent.id, alternate_number="99001"
    )
    client.sip_trunks.assignments.list(trunk.id)
    client.sip_trunks.assignments.get(assignment.id)
    client.sip_trunks.assignments.update(assignment.id, number="101")
    yield from (
        "createSipTrunkAgentAssignment",
        "listSipTrunkAgentAssignments",
        "getSipTrunkAgentAssignment",
        "patchSipTrunkAgentAssignment",
    )
    client.agents.dial(agent.id, number="+15550100", sip_trunk_id=trunk.id, caller_id="frontdesk")
    with pytest.raises(vatel.BadRequestError):
        client.agents.dial(agent.id, number="+15550100", destination="+15550999")
    yield "dialAgent"
    client.session_token(agent.id)
    client.session_token(
        agent.id, version_id=versions[0].id, prompt="p", first_message="f", chat=True
    )
    client.session_token(agent.id, transport="webrtc")
    with pytest.raises(vatel.PermissionDeniedError):
        client.session_token(server.foreign_agent_id)
    yield "generateSessionToken"
    page = client.calls.list_page(page=1, page_size=5, status="ended")
    client.calls.list_page(page=2, page_size=100, source="api", outcome="ended_by_user", tag="x")
    client.calls.get(page.calls[0].id)
    with pytest.raises(vatel.NotFoundError):
        client.calls.get("00000000-0000-4000-8000-00000000abcd")
    yield from ("listCalls", "getCall")
    for call in client.calls.list():
        try:
            client.calls.download_recording(call.id, io.BytesIO())
        except vatel.NotFoundError:
            continue
        break
    yield "downloadCallRecording"
    client.sip_trunks.assignments.delete(assignment.id)
    client.sip_trunks.delete(trunk.id)
    client.agents.delete(agent.id)
    with pytest.raises(vatel.NotFoundError):
        client.agents.delete(agent.id)
    yield from ("deleteSipTrunkAgentAssignment", "deleteSipTrunk", "deleteAgent")


# -- the tests -------------------------------------------------------------------------


def _resolve(root: object, dotted: str) -> Callable[..., Any]:
    target: Any = root
    for part in dotted.split("."):
        target = getattr(target, part)
    assert callable(target)
    return target  # type: ignore[no-any-return]


def test_every_rest_operation_has_a_method_on_both_clients(spec: Contract) -> None:
    operations = {op.operation_id for op in spec.rest_operations()}
    assert operations == set(SDK_METHODS), "the SDK map and the contract disagree"
    assert len(operations) == 29
    sync_client = vatel.Client(api_key="k")
    async_client = vatel.AsyncClient(api_key="k")
    for dotted in SDK_METHODS.values():
        _resolve(sync_client, dotted)
        _resolve(async_client, dotted)


def test_every_operation_round_trips_within_the_contract(spec: Contract) -> None:
    http, exchanges = _recorder()
    with MockServer(pace=0) as server:
        client = vatel.Client(api_key=server.api_key, base_url=server.base_url, http_client=http)
        covered = set(_every_operation(client, server))
        http.close()
    assert covered == set(SDK_METHODS)
    exercised: set[str] = set()
    for exchange in exchanges:
        operation = spec.match(exchange.method, exchange.path)
        exercised.add(operation.operation_id)
        where = f"{exchange.method} {exchange.path} -> {exchange.status}"
        body_spec = operation.spec.get("requestBody")
        if exchange.request_json is not None:
            assert body_spec, f"{where}: the SDK sent a body the contract does not take"
            schema = body_spec["content"]["application/json"]["schema"]
            spec.validate(schema, exchange.request_json, f"request body of {where}")
        elif body_spec and body_spec.get("required"):
            pytest.fail(f"{where}: the SDK sent no body but the contract requires one")
        responses = operation.spec["responses"]
        assert str(exchange.status) in responses, f"{where}: status not in the contract"
        content = responses[str(exchange.status)].get("content", {})
        if "application/json" in content:
            assert exchange.content_type == "application/json", f"{where}: not JSON"
            spec.validate(
                content["application/json"]["schema"],
                exchange.response_json,
                f"response of {where}",
            )
        elif content:
            assert exchange.content_type in content, f"{where}: {exchange.content_type}"
    assert exercised == set(SDK_METHODS), "every route answered within the contract"


def test_voice_messages_in_both_directions_match_the_contract(spec: Contract) -> None:
    with (
        MockServer(pace=0) as server,
        vatel.Client(api_key=server.api_key, base_url=server.base_url) as client,
    ):
        agent = client.agents.create(name="Voice conformance", first_message="Hello there.")
        server.add_client_tool(
            agent.id, "lookup", arguments=[{"name": "q", "dataType": "string", "value": "x"}]
        )
        pcm = voice_like(0.8) + silence(0.8)
        with client.connect(client.session_token(agent.id)) as conn:
            for start in range(0, len(pcm), FRAME_BYTES):
                conn.send_input_audio_bytes(pcm[start : start + FRAME_BYTES])
            for event in conn:
                if isinstance(event, vatel.ToolCall):
                    conn.send_tool_call_output(event.tool_call_id, {"answer": 42})
                if isinstance(event, vatel.ResponseText) and event.is_final and "42" in event.text:
                    server.end_session()
        session = server.sessions[-1]
        assert session.wait_closed(5)
    sent_types = {message.type for message in session.sent}
    assert {"session_started", "response_audio", "tool_call", "session_ended"} <= sent_types
    for message in session.sent:
        spec.validate(
            spec.component("VoiceSessionServerMessage"),
            {"type": message.type, "data": message.data},
            f"server message {message.type}",
        )
    client_schemas = {
        "input_audio": "VoiceSessionClientInputAudioMessage",
        "tool_call_output": "VoiceSessionClientToolCallOutputMessage",
    }
    assert {m.type for m in session.received} == set(client_schemas)
    for message in session.received:
        assert message.error is None
        spec.validate(
            spec.component(client_schemas[str(message.type)]),
            {"type": message.type, "data": message.data},
            f"client message {message.type}",
        )
