"""Request-body validation: the contract's input schemas, written compactly.

``check(body, SPEC)`` returns the body with unknown properties dropped (or raises
:class:`ApiError` 400 for closed schemas), and names the offending field in every
error: ``"voice_settings.provider must be one of: ..."``. JSON types are checked
strictly: ``true`` is not a number and ``"1"`` is not an integer.

The mock does not reuse the SDK's own models on purpose: a test server that
validated with the client's models would hide a mistake made in both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from ._errors import ApiError
from ._util import is_uuid

Kind = Literal["string", "number", "integer", "boolean", "uuid"]

_KIND_NAMES: dict[str, str] = {
    "string": "a string",
    "number": "a number",
    "integer": "an integer",
    "boolean": "a boolean",
    "uuid": "a UUID string",
}


@dataclass(frozen=True)
class Scalar:
    """A JSON string, number, integer, boolean or UUID string, optionally an enum."""

    kind: Kind
    enum: tuple[str, ...] = ()
    nullable: bool = False


@dataclass(frozen=True)
class Array:
    """A JSON array whose items all match ``items``."""

    items: Spec
    nullable: bool = False


@dataclass(frozen=True)
class Object:
    """A JSON object; ``closed`` rejects properties not in ``fields``;
    ``null_is_absent`` drops optional members given as ``null`` (a required
    member still must not be ``null``)."""

    fields: Mapping[str, Spec]
    required: frozenset[str] = field(default_factory=frozenset)
    closed: bool = False
    nullable: bool = False
    null_is_absent: bool = False


Spec: TypeAlias = Scalar | Array | Object


def _bad(where: str, problem: str) -> ApiError:
    return ApiError(400, f"{where} {problem}")


def check(value: Any, spec: Spec, where: str = "request body") -> Any:
    """``value`` validated against ``spec``; raises :class:`ApiError` (400)."""
    if value is None:
        if spec.nullable:
            return None
        if where == "request body":
            raise _bad(where, "must be a JSON object")
        raise _bad(where, "must not be null")
    if isinstance(spec, Scalar):
        return _check_scalar(value, spec, where)
    if isinstance(spec, Array):
        if not isinstance(value, list):
            raise _bad(where, "must be an array")
        return [check(item, spec.items, f"{where}[{i}]") for i, item in enumerate(value)]
    if not isinstance(value, dict):
        raise _bad(where, "must be a JSON object")
    prefix = "" if where == "request body" else f"{where}."
    for name in sorted(spec.required):
        if name not in value:
            raise _bad(f"{prefix}{name}", "is required")
    out: dict[str, Any] = {}
    for name, item in value.items():
        sub = spec.fields.get(name)
        if sub is None:
            if spec.closed:
                raise _bad(f"{prefix}{name}", "is not an allowed property")
            continue
        if item is None and spec.null_is_absent and name not in spec.required:
            continue
        out[name] = check(item, sub, f"{prefix}{name}")
    return out


def _check_scalar(value: Any, spec: Scalar, where: str) -> Any:
    kind = spec.kind
    if kind in ("string", "uuid"):
        ok = isinstance(value, str) and (kind == "string" or is_uuid(value))
    elif kind == "boolean":
        ok = isinstance(value, bool)
    elif kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = (
            isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        )
    if not ok:
        raise _bad(where, f"must be {_KIND_NAMES[kind]}")
    if spec.enum and value not in spec.enum:
        raise _bad(where, "must be one of: " + ", ".join(spec.enum))
    return value.lower() if kind == "uuid" else value


STRING = Scalar("string")
NUMBER = Scalar("number")
INTEGER = Scalar("integer")
BOOLEAN = Scalar("boolean")
UUID = Scalar("uuid")
STRING_OR_NULL = Scalar("string", nullable=True)
BOOLEAN_OR_NULL = Scalar("boolean", nullable=True)

AGENT_STATUSES = ("active", "inactive")
TTS_PROVIDERS = ("elevenlabs", "openai", "cartesia", "hume", "minimax", "fish")
TIMEOUT_ACTIONS = ("end_call", "transfer_call")
PBX_KINDS = ("3cx", "yeastar", "webex", "generic")
SIP_AUTH_TYPES = ("digest", "acl", "none")
CALLER_TRANSFORMS = (
    "add_prefix",
    "add_suffix",
    "replace",
    "strip_digits_end",
    "strip_digits_start",
)
CALL_STATUSES = ("connected", "started", "in_progress", "auth_failed", "ended")
CALL_SOURCES = ("twilio", "sip", "simulation", "api")
CALL_OUTCOMES = ("transferred", "ended_by_agent", "ended_by_user")
LANGUAGES = ("multi", "en", "es", "fr", "de", "it", "pt", "ru", "zh", "ja", "ko", "ar", "hi")
TRANSPORTS = ("websocket", "webrtc")

VOICE_SETTINGS = Object(
    {
        "id": STRING,
        "provider": Scalar("string", TTS_PROVIDERS),
        "speed": NUMBER,
        "stability": NUMBER,
        "similarity_boost": NUMBER,
        "volume": NUMBER,
    }
)
VAD_SETTINGS = Object({"start_secs": NUMBER, "stop_secs": NUMBER, "silence_timeout_secs": NUMBER})
NOISE_CANCEL_SETTINGS = Object({"enabled": BOOLEAN, "level": NUMBER})
TIMEOUT_SETTINGS = Object(
    {
        "default_timeout": NUMBER,
        "timeout_action": Scalar("string", TIMEOUT_ACTIONS),
        "transfer_number": STRING,
        "transfer_message": STRING,
        "silence_counter": INTEGER,
        "silence_timeout_action": Scalar("string", TIMEOUT_ACTIONS),
        "silence_transfer_number": STRING,
    }
)
_AGENT_FIELDS: dict[str, Spec] = {
    "phone_number_id": Scalar("uuid", nullable=True),
    "name": STRING,
    "llm": STRING,
    "fallback_llm": STRING,
    "status": Scalar("string", AGENT_STATUSES),
    "prompt": STRING,
    "first_message": STRING,
    "first_message_interruption_time": NUMBER,
    "default_language": Scalar("string", LANGUAGES),
    "summarize_calls": BOOLEAN,
    "noise_cancel_settings": NOISE_CANCEL_SETTINGS,
    "vad_settings": VAD_SETTINGS,
    "enable_first_message_outbound": BOOLEAN,
    "timeout_settings": TIMEOUT_SETTINGS,
    "keyterms": Array(STRING),
    "voice_settings": VOICE_SETTINGS,
}
AGENT_CREATE = Object(_AGENT_FIELDS, required=frozenset({"name"}))
AGENT_UPDATE = Object(_AGENT_FIELDS)

TWILIO_IMPORT = Object(
    {"label": STRING, "phone_number": STRING, "account_sid": STRING, "auth_token": STRING},
    required=frozenset({"phone_number", "account_sid", "auth_token"}),
)
TWILIO_LABEL = Object({"label": STRING}, required=frozenset({"label"}))

CALLER_ID_TRANSFORM = Object(
    {
        "type": Scalar("string", CALLER_TRANSFORMS),
        "value": STRING,
        "value2": STRING,
        "number": INTEGER,
    },
    required=frozenset({"type"}),
)
_TRUNK_FIELDS: dict[str, Spec] = {
    "pbx": Scalar("string", PBX_KINDS),
    "caller_id_transforms": Array(CALLER_ID_TRANSFORM),
    "inbound_host": STRING_OR_NULL,
    "inbound_auth_type": Scalar("string", SIP_AUTH_TYPES, nullable=True),
    "inbound_sip_username": STRING_OR_NULL,
    "inbound_sip_password": STRING_OR_NULL,
    "outbound_host": STRING_OR_NULL,
    "outbound_sip_username": STRING_OR_NULL,
    "outbound_sip_password": STRING_OR_NULL,
    "register": BOOLEAN_OR_NULL,
    "remain_in_dialog": BOOLEAN_OR_NULL,
}
SIP_TRUNK_CREATE = Object(_TRUNK_FIELDS, required=frozenset({"pbx"}))
SIP_TRUNK_UPDATE = Object(
    {**_TRUNK_FIELDS, "caller_id_transforms": Array(CALLER_ID_TRANSFORM, nullable=True)}
)

ASSIGNMENT_CREATE = Object(
    {"agent_id": UUID, "number": STRING, "alternate_number": STRING},
    required=frozenset({"agent_id"}),
)
ASSIGNMENT_PATCH = Object({"number": STRING_OR_NULL, "alternate_number": STRING_OR_NULL})

SESSION_TOKEN_REQUEST = Object(
    {
        "agent_id": UUID,
        "version_id": UUID,
        "chat_id": UUID,
        "transport": Scalar("string", TRANSPORTS),
        "first_message": STRING,
        "prompt": STRING,
        "chat": BOOLEAN,
    },
    required=frozenset({"agent_id"}),
    closed=True,
    # The official Python SDK sends every optional member, unset ones as null.
    null_is_absent=True,
)
