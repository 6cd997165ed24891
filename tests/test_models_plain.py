"""The REST models' own validation layer (``vatel.types``): lax responses,
strict request bodies, both spellings of a field, the pydantic-like interface,
credentials kept out of reprs and errors, bounded nesting and use inside pydantic
models. What a misbehaving server's answer becomes: ``hostile/test_hostile_models.py``."""

from __future__ import annotations

import copy
import importlib
import json
import os
import pickle
import subprocess
import sys
import typing
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import pytest

import vatel
from vatel import _model_checks
from vatel import types as t
from vatel.testing import MockServer

M = TypeVar("M", bound=t.VatelModel)

FLAVOURS = pytest.mark.parametrize("flavour", ["sync", "async"])

# Shaped like a session JWT, so that the redaction of bodies and the root
# conftest's log watch both know it for a credential.
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwcm9tcHQtc2VjcmV0In0.c2lnbmF0dXJlLXNlY3JldA"
API_KEY = "vk_test_models_plain_0123456789abcdef"
UTC = timezone.utc


def nest(depth: int, leaf: Any = 1, *, as_dict: bool = False) -> Any:
    """``leaf`` inside ``depth`` lists (or one-member dicts)."""
    value = leaf
    for _ in range(depth):
        value = {"a": value} if as_dict else [value]
    return value


def problems_of(call: Callable[[], object]) -> list[dict[str, Any]]:
    with pytest.raises(vatel.ValidationError) as info:
        call()
    return info.value.errors()


# -- responses are lax -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "member", "given", "kept"),
    [
        (t.TranscriptEntry, "index", "3", 3),
        (t.TranscriptEntry, "index", " -12 ", -12),
        (t.TranscriptEntry, "index", 3.0, 3),
        (t.TranscriptEntry, "durationMs", "250", 250),
        (t.Agent, "first_message_interruption_time", "1.5", 1.5),
        (t.Agent, "first_message_interruption_time", 2, 2.0),
        (t.Agent, "summarize_calls", "yes", True),
        (t.Agent, "summarize_calls", "no", False),
        (t.Agent, "summarize_calls", "TRUE", True),
        (t.Agent, "summarize_calls", "off", False),
        (t.Agent, "summarize_calls", 1, True),
        (t.Agent, "summarize_calls", 0, False),
        (t.Agent, "status", "archived", "archived"),
        (t.Call, "status", "on_hold_2031", "on_hold_2031"),
        (t.SipTrunk, "register", "1", True),
    ],
)
def test_a_response_model_coerces_what_a_server_may_send(
    model: type[t.VatelModel], member: str, given: Any, kept: Any
) -> None:
    body = {"id": "x", member: given}
    value = model.model_validate(body)
    info = next(i for n, i in model.model_fields.items() if (i.alias or n) == member)
    got = getattr(value, info.name)
    assert got == kept
    assert type(got) is type(kept)


@pytest.mark.parametrize(
    ("model", "member", "given", "kind"),
    [
        (t.TranscriptEntry, "index", "3.5", "int_parsing"),
        (t.TranscriptEntry, "index", 3.5, "int_parsing"),
        (t.TranscriptEntry, "index", "three", "int_parsing"),
        (t.TranscriptEntry, "index", True, "int_parsing"),
        (t.Agent, "first_message_interruption_time", "fast", "float_parsing"),
        (t.Agent, "summarize_calls", 2, "bool_parsing"),
        (t.Agent, "summarize_calls", "maybe", "bool_parsing"),
        (t.Agent, "name", 5, "string_type"),
        (t.Agent, "keyterms", "one", "list_type"),
        (t.Agent, "voice_settings", "v1", "model_type"),
        (t.Agent, "status", 1, "string_type"),
    ],
)
def test_a_response_model_refuses_what_does_not_coerce(
    model: type[t.VatelModel], member: str, given: Any, kind: str
) -> None:
    errors = problems_of(lambda: model.model_validate({"id": "x", member: given}))
    assert [(e["loc"], e["type"]) for e in errors] == [((member,), kind)]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2024-01-02T03:04:05Z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2024-01-02T03:04:05z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        (
            "2024-01-02T03:04:05+02:00",
            datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2))),
        ),
        (
            "2024-01-02T03:04:05-0530",
            datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(-timedelta(hours=5, minutes=30))),
        ),
        (
            "2024-01-02T03:04:05+01",
            datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(1 / 24))),
        ),
        ("2024-01-02 03:04:05Z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2024-01-02T03:04:05", datetime(2024, 1, 2, 3, 4, 5)),
        ("2024-01-02T03:04", datetime(2024, 1, 2, 3, 4)),
        ("2024-01-02", datetime(2024, 1, 2)),
        ("2024-01-02T03:04:05.5Z", datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)),
        ("2024-01-02T03:04:05.123456789Z", datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)),
        ("2024-01-02T03:04:05,25Z", datetime(2024, 1, 2, 3, 4, 5, 250000, tzinfo=UTC)),
        (1_700_000_000, datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        (1_700_000_000.25, datetime(2023, 11, 14, 22, 13, 20, 250000, tzinfo=UTC)),
        (1_700_000_000_000, datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
    ],
)
def test_a_response_datetime_reads_iso_text_and_unix_times(given: Any, expected: datetime) -> None:
    got = t.Agent.model_validate({"id": "a", "created_at": given}).created_at
    assert got == expected
    assert got is not None
    assert got.utcoffset() == expected.utcoffset()  # aware stays aware, naive naive


@pytest.mark.parametrize(
    "given",
    [
        "2024-13-01",
        "2024-02-30T00:00:00Z",
        "2024-01-02T25:00:00Z",
        "2024-01-02T03:04:05+24:00",
        "yesterday",
        "",
        "2024-01-02T03:04:05Z" + " " * 60,
        True,
        float("nan"),
        float("inf"),
        1e15,
        [2024, 1, 2],
    ],
)
def test_a_response_datetime_refuses_what_is_no_time(given: Any) -> None:
    errors = problems_of(lambda: t.Agent.model_validate({"id": "a", "created_at": given}))
    assert [(e["loc"], e["type"]) for e in errors] == [(("created_at",), "datetime_parsing")]


def test_an_offset_with_more_than_59_minutes_is_refused() -> None:
    errors = problems_of(
        lambda: t.Agent.model_validate({"id": "a", "created_at": "2024-01-02T03:04:05+00:99"})
    )
    assert [e["type"] for e in errors] == ["datetime_parsing"]


def test_a_unix_time_before_year_one_is_a_validation_error() -> None:
    errors = problems_of(lambda: t.Agent.model_validate({"id": "a", "created_at": -9e13}))
    assert [e["type"] for e in errors] == ["datetime_parsing"]


def test_a_response_keeps_unknown_members_and_dumps_them() -> None:
    body = {"id": "a", "brandNew": {"x": [1, 2]}, "rank": 3, "gone": None}
    agent = t.Agent.model_validate(body)
    assert agent.model_extra == {"brandNew": {"x": [1, 2]}, "rank": 3, "gone": None}
    dumped = agent.model_dump()
    assert dumped["brandNew"] == {"x": [1, 2]}
    assert dumped["rank"] == 3
    assert "gone" not in agent.model_dump(exclude_none=True)
    assert json.loads(agent.model_dump_json())["brandNew"] == {"x": [1, 2]}


@pytest.mark.parametrize(
    ("model", "body", "loc", "kind"),
    [
        (t.Agent, {"id": None}, ("id",), "string_type"),
        (t.Agent, {}, ("id",), "missing"),
        (t.Agent, {"name": "n"}, ("id",), "missing"),
        (t.VoiceCatalogEntry, {"id": "v", "name": "n", "languages": []}, ("provider",), "missing"),
        (t.TranscriptEntry, {"toolCall": None, "toolCallOutput": 5}, ("toolCallOutput",),
         "string_type"),
        (t.PaginationInfo, {"page": 1, "page_size": 1, "total": 1, "total_pages": 1,
                            "has_next": None, "has_prev": True}, ("has_next",), "bool_parsing"),
    ],
)  # fmt: skip
def test_a_required_field_must_be_there_and_not_none(
    model: type[t.VatelModel], body: dict[str, Any], loc: tuple[str, ...], kind: str
) -> None:
    errors = problems_of(lambda: model.model_validate(body))
    assert [(e["loc"], e["type"]) for e in errors] == [(loc, kind)]


def test_every_problem_is_reported_with_its_path() -> None:
    body = {
        "calls": [{"id": "c", "transcript": {"entries": [{"index": "x"}, {"toolCall": 1}]}}, {}],
        "pagination": {"page": "1"},
    }
    with pytest.raises(vatel.ValidationError) as info:
        t.PaginatedCallsResponse.model_validate(body)
    error = info.value
    locs = {(e["loc"], e["type"]) for e in error.errors()}
    assert (("calls", 0, "transcript", "entries", 0, "index"), "int_parsing") in locs
    assert (("calls", 0, "transcript", "entries", 1, "toolCall"), "model_type") in locs
    assert (("calls", 1, "id"), "missing") in locs
    assert (("pagination", "page_size"), "missing") in locs
    assert error.error_count() == len(error.errors()) == 8
    assert isinstance(error, ValueError)
    assert isinstance(error, vatel.VatelError)
    assert str(error).startswith("8 validation errors for PaginatedCallsResponse")


def test_a_model_validates_only_a_dict_or_its_own_instance() -> None:
    agent = t.Agent(id="a")
    assert t.Agent.model_validate(agent) is agent
    wrong: Any
    for wrong in ([{"id": "a"}], "a", None, t.Organization(id="a")):
        with pytest.raises(vatel.ValidationError) as info:
            t.Agent.model_validate(wrong)
        assert [e["type"] for e in info.value.errors()] == ["model_type"]


# -- request bodies are strict ---------------------------------------------------------


def build(model: type[M], **values: Any) -> M:
    """``model(**values)``: values of the wrong type on purpose, or wire names,
    which the typed signature does not list."""
    return model(**values)


TRANSFORM = {"type": "replace"}


@pytest.mark.parametrize(
    ("model", "values", "loc", "kind"),
    [
        (t.AgentCreateInput, {"name": "x", "first_message_interruption_time": "3"},
         ("first_message_interruption_time",), "float_type"),
        (t.AgentCreateInput, {"name": 5}, ("name",), "string_type"),
        (t.AgentCreateInput, {"name": "x", "summarize_calls": 1}, ("summarize_calls",),
         "bool_type"),
        (t.AgentCreateInput, {"name": "x", "summarize_calls": "true"}, ("summarize_calls",),
         "bool_type"),
        (t.AgentCreateInput, {"name": "x", "status": "archived"}, ("status",), "literal_error"),
        (t.AgentCreateInput, {"name": "x", "keyterms": ("a", 1)}, ("keyterms", 1), "string_type"),
        (t.AgentCreateInput, {}, ("name",), "missing"),
        (t.SipTrunkCreateInput, {"pbx": "asterisk"}, ("pbx",), "literal_error"),
        (t.SipTrunkCreateInput, {"pbx": "generic", "caller_id_transforms": [
            {**TRANSFORM, "number": "3"}]}, ("caller_id_transforms", 0, "number"), "int_type"),
        (t.SipTrunkCreateInput, {"pbx": "generic", "caller_id_transforms": [
            {**TRANSFORM, "number": 3.0}]}, ("caller_id_transforms", 0, "number"), "int_type"),
        (t.SipTrunkCreateInput, {"pbx": "generic", "caller_id_transforms": [{"type": "swap"}]},
         ("caller_id_transforms", 0, "type"), "literal_error"),
        (t.SipTrunkCreateInput, {"pbx": "generic", "register": 1}, ("register",), "bool_type"),
        (t.GenerateSessionTokenRequest, {"agent_id": "a", "chat": 1}, ("chat",), "bool_type"),
        (t.GenerateSessionTokenRequest, {"agent_id": "a", "transport": "sse"}, ("transport",),
         "literal_error"),
    ],
)  # fmt: skip
def test_an_input_model_is_strict_about_types(
    model: type[t.VatelModel], values: dict[str, Any], loc: tuple[str | int, ...], kind: str
) -> None:
    errors = problems_of(lambda: build(model, **values))
    assert [(e["loc"], e["type"]) for e in errors] == [(loc, kind)]
    # model_validate is as strict as the constructor.
    errors = problems_of(lambda: model.model_validate(values))
    assert [(e["loc"], e["type"]) for e in errors] == [(loc, kind)]


def test_an_input_model_takes_values_of_its_declared_types() -> None:
    body = t.AgentCreateInput(
        name="x", status="active", first_message_interruption_time=2, summarize_calls=False
    )
    assert body.first_message_interruption_time == 2.0
    assert type(body.first_message_interruption_time) is float
    trunk = build(
        t.SipTrunkCreateInput, pbx="3cx", caller_id_transforms=[{**TRANSFORM, "number": 3}]
    )
    assert trunk.caller_id_transforms is not None
    assert trunk.caller_id_transforms[0].number == 3
    # exclude_unset reaches into nested models, as in pydantic.
    assert trunk.model_dump(exclude_unset=True) == {
        "pbx": "3cx",
        "caller_id_transforms": [{"type": "replace", "number": 3}],
    }


def test_the_session_token_request_forbids_unknown_members() -> None:
    errors = problems_of(
        lambda: build(t.GenerateSessionTokenRequest, agent_id="a", agentVersion="v")
    )
    assert errors == [
        {
            "loc": ("agentVersion",),
            "msg": "Extra inputs are not permitted",
            "type": "extra_forbidden",
        }
    ]
    errors = problems_of(
        lambda: t.GenerateSessionTokenRequest.model_validate({"agent_id": "a", "x": 1, "y": 2})
    )
    assert [e["loc"] for e in errors] == [("x",), ("y",)]


def test_other_input_models_keep_unknown_members_for_the_wire() -> None:
    body = build(t.AgentCreateInput, name="x", betaFlag=True)
    assert body.model_extra == {"betaFlag": True}
    assert body.model_dump(exclude_unset=True) == {"name": "x", "betaFlag": True}


# -- both names ------------------------------------------------------------------------


def test_a_field_is_taken_by_its_python_or_its_wire_name() -> None:
    assert t.TranscriptToolCall(tool_name="by-name").tool_name == "by-name"
    assert build(t.TranscriptToolCall, toolName="by-wire").tool_name == "by-wire"
    assert t.TranscriptToolCall.model_validate({"tool_name": "n"}).tool_name == "n"
    assert t.TranscriptToolCall.model_validate({"toolName": "w"}).tool_name == "w"
    assert t.SipTrunk(id="s", register_=True).register_ is True
    assert t.SipTrunk.model_validate({"id": "s", "register": True}).register_ is True
    # Nested models take either spelling too when a program builds them.
    entry = build(t.TranscriptEntry, tool_call={"tool_name": "a", "callId": "c"})
    assert entry.tool_call is not None
    assert (entry.tool_call.tool_name, entry.tool_call.call_id) == ("a", "c")
    assert build(t.TranscriptToolCall, toolName="w").model_fields_set == {"tool_name"}


@pytest.mark.parametrize(
    "body",
    [
        {"tool_name": "by-name", "toolName": "by-wire"},
        {"toolName": "by-wire", "tool_name": "by-name"},
    ],
)
def test_the_wire_name_wins_when_both_are_given(body: dict[str, Any]) -> None:
    assert t.TranscriptToolCall.model_validate(body).tool_name == "by-wire"
    assert t.TranscriptToolCall(**body).tool_name == "by-wire"


def test_a_bad_value_under_the_losing_name_does_not_fail_the_model() -> None:
    tool = t.TranscriptToolCall.model_validate({"tool_name": 5, "toolName": "by-wire"})
    assert tool.tool_name == "by-wire"


# -- the pydantic-like interface -----------------------------------------------------------


def sample_call() -> t.Call:
    return t.Call.model_validate(
        {
            "id": "c",
            "cost": "0.25",
            "transcript": {
                "entries": [
                    {
                        "index": 0,
                        "createdAt": "2024-01-02T03:04:05Z",
                        "toolCall": {"toolName": "lookup", "startedAt": 1_700_000_000},
                        "later": [1, {"x": None}],
                    }
                ]
            },
            "extracted_variables": [{"name": "n", "dataType": "object", "value": {"k": [1]}}],
            "future": "kept",
        }
    )


def test_model_dump_writes_wire_names_and_json_types() -> None:
    call = sample_call()
    python = call.model_dump(exclude_none=True)
    assert python["transcript"]["entries"][0]["createdAt"] == datetime(
        2024, 1, 2, 3, 4, 5, tzinfo=UTC
    )
    assert python["transcript"]["entries"][0]["toolCall"] == {
        "toolName": "lookup",
        "startedAt": datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
    }
    assert python["extracted_variables"] == [
        {"name": "n", "dataType": "object", "value": {"k": [1]}}
    ]
    as_json = call.model_dump(mode="json", exclude_none=True)
    assert as_json == {
        "id": "c",
        "cost": 0.25,
        "transcript": {
            "entries": [
                {
                    "index": 0,
                    "createdAt": "2024-01-02T03:04:05Z",
                    "toolCall": {"toolName": "lookup", "startedAt": "2023-11-14T22:13:20Z"},
                    "later": [1, {}],
                }
            ]
        },
        "extracted_variables": [{"name": "n", "dataType": "object", "value": {"k": [1]}}],
        "future": "kept",
    }
    by_name = call.model_dump(by_alias=False, exclude_none=True)
    assert by_name["transcript"]["entries"][0]["tool_call"] == {
        "tool_name": "lookup",
        "started_at": datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
    }
    # Everything else is dumped, as None.
    full = call.model_dump()
    assert full["summary"] is None
    assert set(t.Call.model_fields) <= set(full)


def test_model_dump_json_is_the_json_dump_as_text() -> None:
    call = sample_call()
    text = call.model_dump_json(exclude_none=True)
    assert json.loads(text) == call.model_dump(mode="json", exclude_none=True)
    assert "\n" not in text
    assert " " not in text.replace("0.25", "")  # compact separators
    assert "\n  " in call.model_dump_json(indent=2)
    offset = t.Agent(id="a", created_at=datetime(2024, 1, 2, tzinfo=timezone(timedelta(hours=2))))
    assert json.loads(offset.model_dump_json())["created_at"] == "2024-01-02T00:00:00+02:00"
    assert t.Call.model_validate_json(call.model_dump_json()) == call


def test_exclude_unset_dumps_only_what_was_given() -> None:
    agent = build(t.Agent, id="a", name=None, voice_settings={"speed": 1})
    assert agent.model_dump(exclude_unset=True) == {
        "id": "a",
        "name": None,
        "voice_settings": {"speed": 1.0},
    }
    assert agent.model_fields_set == {"id", "name", "voice_settings"}
    assert t.Agent.model_validate({"id": "a", "other": 1}).model_fields_set == {"id"}


def test_model_fields_describe_each_field() -> None:
    fields = t.Agent.model_fields
    assert list(fields)[:3] == ["id", "phone_number_id", "name"]
    assert fields["id"].is_required()
    assert not fields["name"].is_required()
    assert fields["name"].default is None
    assert fields["name"].alias is None
    assert t.TranscriptToolCall.model_fields["tool_name"].alias == "toolName"
    assert t.SipTrunk.model_fields["register_"].alias == "register"
    assert set(t.TwilioPhoneNumberImportInput.model_fields) == {
        "label",
        "phone_number",
        "account_sid",
        "auth_token",
    }
    required = {
        n for n, f in t.TwilioPhoneNumberImportInput.model_fields.items() if f.is_required()
    }
    assert required == {"phone_number", "account_sid", "auth_token"}


def test_model_copy_updates_and_copies_shallow_or_deep() -> None:
    agent = t.Agent.model_validate({"id": "a", "keyterms": ["x"], "extra": {"n": 1}})
    changed = agent.model_copy(update={"name": "new", "brand_new": 2})
    assert (changed.name, agent.name) == ("new", None)
    assert changed.model_extra == {"extra": {"n": 1}, "brand_new": 2}
    assert agent.model_extra == {"extra": {"n": 1}}
    assert changed.model_fields_set == {"id", "keyterms", "name"}
    assert agent.model_fields_set == {"id", "keyterms"}
    # Not validated, as in pydantic: the caller vouches for the update.
    unchecked: Any = agent.model_copy(update={"name": 5})
    assert unchecked.name == 5

    shallow = agent.model_copy()
    deep = agent.model_copy(deep=True)
    assert shallow == agent == deep
    assert shallow is not agent
    assert shallow.keyterms is agent.keyterms
    assert deep.keyterms is not agent.keyterms
    assert deep.model_extra["extra"] is not agent.model_extra["extra"]
    assert deep.model_fields_set == agent.model_fields_set


def test_equality_compares_type_fields_and_extras() -> None:
    assert t.Agent(id="a", name="n") == t.Agent.model_validate({"id": "a", "name": "n"})
    assert t.Agent(id="a") != t.Agent(id="b")
    assert t.Agent(id="a") != build(t.Agent, id="a", other=1)
    assert t.Agent(id="a") != t.Organization(id="a")
    assert t.Agent(id="a") != {"id": "a"}


def test_a_model_is_unhashable() -> None:
    agent = t.Agent(id="a")
    with pytest.raises(TypeError):
        hash(agent)
    with pytest.raises(TypeError):
        {agent}  # noqa: B018


def test_pickle_and_copy_keep_everything() -> None:
    call = sample_call()
    for duplicate in (pickle.loads(pickle.dumps(call)), copy.copy(call), copy.deepcopy(call)):
        assert duplicate == call
        assert duplicate.model_extra == {"future": "kept"}
        assert duplicate.model_fields_set == call.model_fields_set
        assert duplicate.model_dump(mode="json") == call.model_dump(mode="json")
    entry = pickle.loads(pickle.dumps(call)).transcript
    assert entry is not None
    assert entry.entries[0].model_extra == {"later": [1, {"x": None}]}


def test_the_type_hints_of_every_model_resolve() -> None:
    models = [
        obj
        for obj in vars(t).values()
        if isinstance(obj, type) and issubclass(obj, t.VatelModel) and obj is not t.VatelModel
    ]
    assert len(models) > 30
    for model in models:
        hints = typing.get_type_hints(model)
        assert set(model.model_fields) <= set(hints), model.__name__
    assert typing.get_type_hints(t.Agent)["created_at"] == datetime | None
    for method in ("model_validate", "model_validate_json", "model_dump", "model_copy"):
        assert "return" in typing.get_type_hints(getattr(t.Agent, method))


# -- credentials -----------------------------------------------------------------------------


def test_repr_leaves_out_credential_fields() -> None:
    token = t.SessionTokenResponse(token=JWT, webrtc_token=JWT[::-1], room="room-1")
    trunk = t.SipTrunkCreateInput(
        pbx="generic", inbound_sip_password="sip-pass-in-1", outbound_sip_password="sip-pass-out-2"
    )
    twilio = t.TwilioPhoneNumberImportInput(
        phone_number="+15550100", account_sid="AC1", auth_token="twilio-auth-3"
    )
    for model, secrets, shown in [
        (token, [JWT, JWT[::-1]], "room='room-1'"),
        (trunk, ["sip-pass-in-1", "sip-pass-out-2"], "pbx='generic'"),
        (twilio, ["twilio-auth-3"], "account_sid='AC1'"),
    ]:
        for text in (repr(model), str(model), repr([model]), f"{model!r}"):
            assert shown in text
            for secret in secrets:
                assert secret not in text
    # The values are still there for the program, and for the wire.
    assert token.token == JWT
    assert trunk.model_dump()["inbound_sip_password"] == "sip-pass-in-1"


def test_repr_masks_unknown_members_with_secret_looking_names() -> None:
    agent = t.Agent.model_validate(
        {
            "id": "a",
            "api_key": "value-1",
            "refreshToken": "value-2",
            "client_secret": "value-3",
            "PASSWORD": "value-4",
            "Authorization": "value-5",
            "signing_key": "value-6",
            "colour": "visible-7",
        }
    )
    text = repr(agent)
    for n in range(1, 7):
        assert f"value-{n}" not in text
    assert "api_key=***" in text
    assert "colour='visible-7'" in text
    assert agent.model_extra["api_key"] == "value-1"


def test_repr_masks_secret_looking_members_nested_in_unknown_ones() -> None:
    # A graph node's tool settings, say, may carry a key some levels down.
    node = t.GraphNode.model_validate(
        {
            "type": "tool",
            "config": {
                "url": "https://hooks.example",
                "headers": [{"Authorization": "value-1"}, {"X-Trace": "visible-2"}],
                "auth": {"client_id": "value-2"},
                "nested": [[{"webhook_secret": "value-3"}]],
                "retries": (1, {"apiKey": "value-4"}),
            },
        }
    )
    text = repr(node)
    for n in range(1, 5):
        assert f"value-{n}" not in text, text
    assert "'Authorization': ***" in text and "'auth': ***" in text
    assert "'X-Trace': 'visible-2'" in text and "'url': 'https://hooks.example'" in text
    assert "(1, {'apiKey': ***})" in text
    assert node.model_extra["config"]["auth"] == {"client_id": "value-2"}  # kept as sent


def test_repr_of_a_member_that_contains_itself_ends() -> None:
    loop: dict[str, object] = {"name": "visible"}
    loop["again"] = loop
    node = t.GraphNode.model_validate({}).model_copy(update={"loop": loop})
    text = repr(node)
    assert text.startswith("GraphNode(loop={'name': 'visible', 'again': {")
    assert "{...}" in text


@pytest.mark.parametrize(
    "build",
    [
        lambda s: build(t.AgentCreateInput, name="x", status=s),
        lambda s: build(t.AgentCreateInput, name="x", summarize_calls=s),
        lambda s: build(t.AgentCreateInput, name="x", first_message_interruption_time=s),
        lambda s: build(t.SipTrunkCreateInput, pbx=s),
        lambda s: build(t.SipTrunkCreateInput, pbx="generic", inbound_sip_password=[s]),
        lambda s: build(
            t.TwilioPhoneNumberImportInput, phone_number="+1", account_sid="A", auth_token=[s]
        ),
        lambda s: build(t.GenerateSessionTokenRequest, agent_id="a", chat=s),
        lambda s: build(t.GenerateSessionTokenRequest, agent_id=[s, s]),
        lambda s: t.Agent.model_validate({"id": "a", "summarize_calls": s}),
        lambda s: t.Agent.model_validate({"id": "a", "created_at": s}),
        lambda s: t.Agent.model_validate({"id": {"nested": s}}),
        lambda s: t.TranscriptEntry.model_validate({"index": s}),
        lambda s: t.SessionTokenResponse.model_validate({"token": {"jwt": s}}),
        lambda s: t.Call.model_validate(
            {"id": "c", "extracted_variables": [{"value": nest(300, s)}]}
        ),
        lambda s: t.Agent.model_validate_json('{"id": "' + s),
        lambda s: t.Agent.model_validate(s),
    ],
)
@pytest.mark.parametrize("secret", [JWT, API_KEY, "hunter2-" + "p" * 40])
def test_a_validation_error_never_quotes_the_value(
    build: Callable[[str], object], secret: str
) -> None:
    with pytest.raises(vatel.ValidationError) as info:
        build(secret)
    error = info.value
    texts = [str(error), repr(error), repr(error.args), repr(error.errors()), repr(vars(error))]
    for text in texts:
        assert secret not in text
    assert error.__cause__ is None
    assert error.__context__ is None or secret not in repr(error.__context__)


# -- nesting ----------------------------------------------------------------------------------


@pytest.mark.parametrize("as_dict", [False, True], ids=["lists", "dicts"])
def test_an_untyped_value_may_nest_to_max_depth_and_no_deeper(as_dict: bool) -> None:
    limit = _model_checks.MAX_DEPTH
    assert limit == 200
    deepest = nest(limit, as_dict=as_dict)
    variable = t.ContextVariable(value=deepest)
    assert variable.value == deepest
    # What is kept can be dumped and copied without hitting the recursion limit.
    assert json.loads(variable.model_dump_json())["value"] == deepest
    assert copy.deepcopy(variable) == variable
    agent = t.Agent.model_validate({"id": "a", "unknown": deepest})
    assert pickle.loads(pickle.dumps(agent)) == agent

    errors = problems_of(lambda: t.ContextVariable(value=nest(limit + 1, as_dict=as_dict)))
    assert errors == [
        {"loc": ("value",), "msg": "Input is nested too deeply", "type": "recursion_loop"}
    ]
    errors = problems_of(
        lambda: t.Agent.model_validate({"id": "a", "unknown": nest(limit + 1, as_dict=as_dict)})
    )
    assert errors == [
        {"loc": ("unknown",), "msg": "Input is nested too deeply", "type": "recursion_loop"}
    ]


def test_a_too_deep_value_inside_a_typed_list_names_its_place() -> None:
    body = {"id": "c", "extracted_variables": [{"value": 1}, {"value": nest(10_000)}]}
    errors = problems_of(lambda: t.Call.model_validate(body))
    assert [(e["loc"], e["type"]) for e in errors] == [
        (("extracted_variables", 1, "value"), "recursion_loop")
    ]


@pytest.mark.parametrize(
    "text", ["{bad", "", '{"id": "a"', "[" * 100_000 + "]" * 100_000, b"\xff\xfe{", "NaN}"]
)
def test_model_validate_json_turns_bad_json_into_a_validation_error(text: str | bytes) -> None:
    errors = problems_of(lambda: t.Agent.model_validate_json(text))
    assert errors == [{"loc": (), "msg": "Invalid JSON", "type": "json_invalid"}]


def test_model_validate_json_reads_text_and_bytes() -> None:
    assert t.Agent.model_validate_json('{"id": "a", "name": "n"}') == t.Agent(id="a", name="n")
    assert t.Agent.model_validate_json(b'{"id": "a"}') == t.Agent(id="a")
    assert t.Agent.model_validate_json(bytearray(b'{"id": "a"}')) == t.Agent(id="a")
    assert [e["type"] for e in problems_of(lambda: t.Agent.model_validate_json("[1]"))] == [
        "model_type"
    ]


# -- inside pydantic ---------------------------------------------------------------------------


class Holder(pydantic.BaseModel):
    agent: t.Agent
    entries: list[t.TranscriptEntry] = []


def test_a_pydantic_model_holds_a_vatel_model_as_a_field() -> None:
    holder = Holder.model_validate(
        {
            "agent": {"id": "a", "created_at": "2024-01-02T03:04:05Z", "future": [1]},
            "entries": [{"toolCall": {"toolName": "x"}, "durationMs": "5"}],
        }
    )
    assert isinstance(holder.agent, t.Agent)
    assert holder.agent.created_at == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert holder.agent.model_extra == {"future": [1]}
    assert holder.entries[0].duration_ms == 5
    as_json = holder.model_dump(mode="json")
    assert as_json["agent"] == holder.agent.model_dump(mode="json")
    assert as_json["agent"]["created_at"] == "2024-01-02T03:04:05Z"
    assert as_json["agent"]["future"] == [1]
    assert as_json["entries"][0]["toolCall"]["toolName"] == "x"
    assert json.loads(holder.model_dump_json()) == as_json
    python = holder.model_dump()
    assert python["agent"]["created_at"] == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    # An instance is taken as it is.
    agent = t.Agent(id="b")
    assert Holder(agent=agent).agent is agent
    assert Holder.model_validate_json(holder.model_dump_json()) == holder


@pytest.mark.parametrize(
    "agent", [{"id": 5}, {"name": "no id"}, "a", {"id": "a", "deep": nest(250)}]
)
def test_a_pydantic_model_refuses_a_bad_vatel_field(agent: Any) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        Holder.model_validate({"agent": agent})
    assert [e["loc"][0] for e in info.value.errors()] == ["agent"]


# -- pydantic stays out of a REST program --------------------------------------------------

_NO_PYDANTIC = """
import asyncio, json, os, sys
if sys.argv[2] == "every-model":
    import vatel.types
import vatel

async def list_async():
    async with vatel.AsyncClient(api_key=os.environ["KEY"], base_url=os.environ["URL"]) as c:
        return await c.agents.list()

if sys.argv[1] == "sync":
    with vatel.Client(api_key=os.environ["KEY"], base_url=os.environ["URL"]) as c:
        agents = c.agents.list()
else:
    agents = asyncio.run(list_async())
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("pydantic", "pydantic_core"))
models = sorted(m for m in sys.modules if m.startswith("vatel._model"))
names = [type(a).__name__ for a in agents]
print(json.dumps({"agents": names, "pydantic": loaded, "models": models}))
"""


@pytest.mark.timeout(60)
@FLAVOURS
@pytest.mark.parametrize("loaded", ["every-model", "as-needed"])
def test_listing_agents_does_not_import_pydantic(
    flavour: str, loaded: str, server: MockServer
) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(vatel.__file__).resolve().parents[1]),
        "KEY": server.api_key,
        "URL": server.base_url,
    }
    done = subprocess.run(
        [sys.executable, "-c", _NO_PYDANTIC, flavour, loaded],
        env=env,
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["agents"]
    assert set(report["agents"]) == {"Agent"}
    assert report["pydantic"] == []
    if loaded == "as-needed":  # the agents' models, and no other group's
        assert report["models"] == [
            "vatel._model_checks",
            "vatel._models_agents",
            "vatel._models_base",
        ]


def test_a_reloaded_module_reads_nested_models_with_its_new_classes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A notebook's autoreload, a dev server's reload: the module's names are
    # rebound, and its models must read into the new classes, not the old ones.
    (tmp_path / "reloaded_models.py").write_text(
        "from __future__ import annotations\n"
        "from vatel.types import VatelModel\n\n"
        "class Inner(VatelModel):\n    x: int\n\n"
        "class Outer(VatelModel):\n    inner: Inner | None = None\n    names: list[str] = []\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "reloaded_models", raising=False)
    import reloaded_models as module  # type: ignore[import-not-found]

    first = module.Outer.model_validate({"inner": {"x": 1}, "names": ["a"]})
    old_inner = module.Inner
    importlib.reload(module)
    again = module.Outer.model_validate({"inner": {"x": "2"}, "names": ["b"]})

    assert type(first.inner) is old_inner
    assert type(again.inner) is module.Inner is not old_inner
    assert again.inner.x == 2 and again.names == ["b"]
    monkeypatch.delitem(sys.modules, "reloaded_models")
