"""Imported Twilio numbers, SIP trunks and their agent assignments."""

from __future__ import annotations

import re
import uuid
from typing import Any

from aiohttp import web

from ._context import context
from ._errors import ApiError
from ._http import json_body, no_content, ok, path_id
from ._state import AssignmentRecord, PhoneNumberRecord, State, TrunkRecord
from ._util import new_id, rfc3339, utcnow
from ._validation import (
    ASSIGNMENT_CREATE,
    ASSIGNMENT_PATCH,
    SIP_TRUNK_CREATE,
    SIP_TRUNK_UPDATE,
    TWILIO_IMPORT,
    TWILIO_LABEL,
    check,
)

_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
DEFAULT_LABEL = "Imported number"

_PASSWORDS = ("inbound_sip_password", "outbound_sip_password")
_TEXT_FIELDS = ("inbound_host", "inbound_sip_username", "outbound_host", "outbound_sip_username")
_FLAG_FIELDS = ("register", "remain_in_dialog")

# Twilio numbers


async def list_numbers(request: web.Request) -> web.Response:
    state = context(request).state
    with state.lock:
        return ok([n.data for n in state.own(state.numbers)])


async def import_number(request: web.Request) -> web.Response:
    state = context(request).state
    body = check(await json_body(request), TWILIO_IMPORT)
    if not _E164.fullmatch(body["phone_number"]):
        raise ApiError(400, "phone_number must be an E.164 number such as +15555550123")
    if not _ACCOUNT_SID.fullmatch(body["account_sid"]):
        raise ApiError(400, "account_sid must be a Twilio Account SID (AC followed by 32 hex)")
    if not body["auth_token"]:
        raise ApiError(400, "auth_token must not be empty")
    now = rfc3339(utcnow())
    with state.lock:
        if any(n.data["phone_number"] == body["phone_number"] for n in state.numbers.values()):
            raise ApiError(409, "phone number already imported")
        data = {
            "id": new_id(),
            "phone_number": body["phone_number"],
            "phone_sid": "PN" + uuid.uuid4().hex,
            "label": body.get("label") or DEFAULT_LABEL,
            "account_sid": body["account_sid"],
            "created_at": now,
            "updated_at": now,
        }
        # The auth token is used once to import and never stored.
        state.numbers[data["id"]] = PhoneNumberRecord(state.org_id, data)
        return ok(data, 201)


async def patch_number_label(request: web.Request) -> web.Response:
    state = context(request).state
    number_id = path_id(request)
    body = check(await json_body(request), TWILIO_LABEL)
    with state.lock:
        record = state.number(number_id)
        record.data["label"] = body["label"]
        record.data["updated_at"] = rfc3339(utcnow())
        return ok(record.data)


# SIP trunks


def _check_username(state: State, fields: dict[str, Any], trunk_id: str | None) -> None:
    username = fields.get("inbound_sip_username")
    if not username:
        return
    for other in state.trunks.values():
        if other.data["id"] != trunk_id and other.data["inbound_sip_username"] == username:
            raise ApiError(409, "inbound SIP username already in use")


def _apply_trunk(record: TrunkRecord, fields: dict[str, Any]) -> None:
    data = record.data
    for key, value in fields.items():
        if key in _PASSWORDS:
            # Passwords are write-only: kept, never returned.
            if value:
                record.passwords[key] = value
            else:
                record.passwords.pop(key, None)
        elif key in _TEXT_FIELDS:
            data[key] = value or ""
        elif key in _FLAG_FIELDS:
            data[key] = bool(value)
        elif key == "inbound_auth_type":
            data[key] = value or "none"
        elif key == "caller_id_transforms":
            data[key] = value or []
        else:
            data[key] = value
    digest = data["inbound_auth_type"] == "digest" and data["inbound_sip_username"]
    data["inbound_registration_status"] = "registered" if digest else "not_registered"
    outbound = data["register"] and data["outbound_host"]
    data["outbound_registration_status"] = "registered" if outbound else "not_registered"


async def list_trunks(request: web.Request) -> web.Response:
    state = context(request).state
    with state.lock:
        return ok([t.data for t in state.own(state.trunks)])


def new_trunk(org_id: str, fields: dict[str, Any], trunk_id: str, created_at: str) -> TrunkRecord:
    """A trunk record with every field set: ``fields`` over empty defaults."""
    data: dict[str, Any] = {
        "id": trunk_id,
        "created_at": created_at,
        "pbx": fields["pbx"],
        "caller_id_transforms": [],
        "inbound_host": "",
        "inbound_auth_type": "none",
        "inbound_sip_username": "",
        "outbound_host": "",
        "outbound_sip_username": "",
        "register": False,
        "remain_in_dialog": False,
    }
    record = TrunkRecord(org_id, data)
    _apply_trunk(record, fields)
    return record


async def create_trunk(request: web.Request) -> web.Response:
    state = context(request).state
    fields = check(await json_body(request), SIP_TRUNK_CREATE)
    with state.lock:
        _check_username(state, fields, None)
        record = new_trunk(state.org_id, fields, new_id(), rfc3339(utcnow()))
        state.trunks[record.data["id"]] = record
        return ok(record.data, 201)


async def get_trunk(request: web.Request) -> web.Response:
    state = context(request).state
    trunk_id = path_id(request)
    with state.lock:
        return ok(state.trunk(trunk_id).data)


async def patch_trunk(request: web.Request) -> web.Response:
    state = context(request).state
    trunk_id = path_id(request)
    fields = check(await json_body(request), SIP_TRUNK_UPDATE)
    with state.lock:
        record = state.trunk(trunk_id)
        if not fields:
            raise ApiError(400, "no fields to update")
        if "pbx" in fields and fields["pbx"] is None:
            raise ApiError(400, "pbx must not be null")
        _check_username(state, fields, trunk_id)
        _apply_trunk(record, fields)
        return ok(record.data)


async def delete_trunk(request: web.Request) -> web.Response:
    state = context(request).state
    trunk_id = path_id(request)
    with state.lock:
        state.trunk(trunk_id)
        del state.trunks[trunk_id]
        for key in [k for k, a in state.assignments.items() if a.data["sip_trunk_id"] == trunk_id]:
            del state.assignments[key]
    return no_content()


# Agent assignments


def _check_numbers(state: State, fields: dict[str, Any], trunk_id: str, own_id: str | None) -> None:
    """409 when ``number`` is taken on this trunk or ``alternate_number`` anywhere."""
    number, alternate = fields.get("number"), fields.get("alternate_number")
    for other in state.assignments.values():
        if other.data["id"] == own_id:
            continue
        if number and other.data["sip_trunk_id"] == trunk_id and other.data["number"] == number:
            raise ApiError(409, "number already in use on this SIP trunk")
        if alternate and other.data["alternate_number"] == alternate:
            raise ApiError(409, "alternate_number already in use")


async def list_assignments(request: web.Request) -> web.Response:
    state = context(request).state
    trunk_id = path_id(request)
    with state.lock:
        state.trunk(trunk_id)
        found = [a.data for a in state.own(state.assignments) if a.data["sip_trunk_id"] == trunk_id]
        return ok(found)


async def create_assignment(request: web.Request) -> web.Response:
    state = context(request).state
    trunk_id = path_id(request)
    fields = check(await json_body(request), ASSIGNMENT_CREATE)
    with state.lock:
        state.trunk(trunk_id)
        agent = state.agents.get(fields["agent_id"])
        if agent is None:
            raise ApiError(404, "agent not found")
        if agent.org_id != state.org_id:
            raise ApiError(400, "agent_id: agent is not in this organization")
        _check_numbers(state, fields, trunk_id, None)
        data = {
            "id": new_id(),
            "agent_id": fields["agent_id"],
            "sip_trunk_id": trunk_id,
            "number": fields.get("number", ""),
            "alternate_number": fields.get("alternate_number", ""),
            "created_at": rfc3339(utcnow()),
        }
        state.assignments[data["id"]] = AssignmentRecord(state.org_id, data)
        return ok(data, 201)


async def get_assignment(request: web.Request) -> web.Response:
    state = context(request).state
    assignment_id = path_id(request, "assignmentId")
    with state.lock:
        return ok(state.assignment(assignment_id).data)


async def patch_assignment(request: web.Request) -> web.Response:
    state = context(request).state
    assignment_id = path_id(request, "assignmentId")
    fields = check(await json_body(request), ASSIGNMENT_PATCH)
    with state.lock:
        record = state.assignment(assignment_id)
        _check_numbers(state, fields, record.data["sip_trunk_id"], assignment_id)
        for key, value in fields.items():
            record.data[key] = value or ""
        return ok(record.data)


async def delete_assignment(request: web.Request) -> web.Response:
    state = context(request).state
    assignment_id = path_id(request, "assignmentId")
    with state.lock:
        state.assignment(assignment_id)
        del state.assignments[assignment_id]
    return no_content()


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/v1/twilio/numbers", list_numbers)
    router.add_post("/v1/twilio/numbers", import_number)
    router.add_patch("/v1/twilio/numbers/{id}", patch_number_label)
    router.add_get("/v1/sip-trunks", list_trunks)
    router.add_post("/v1/sip-trunks", create_trunk)
    # Before "{id}/assignments", so the assignment route wins where both would match.
    router.add_get("/v1/sip-trunks/assignments/{assignmentId}", get_assignment)
    router.add_patch("/v1/sip-trunks/assignments/{assignmentId}", patch_assignment)
    router.add_delete("/v1/sip-trunks/assignments/{assignmentId}", delete_assignment)
    router.add_get("/v1/sip-trunks/{id}", get_trunk)
    router.add_patch("/v1/sip-trunks/{id}", patch_trunk)
    router.add_delete("/v1/sip-trunks/{id}", delete_trunk)
    router.add_get("/v1/sip-trunks/{id}/assignments", list_assignments)
    router.add_post("/v1/sip-trunks/{id}/assignments", create_assignment)
