"""Request-body validation against the contract's input schemas.

The schemas come from ``_schemas`` (generated from the contract); this module
turns each into a compact :data:`Spec` once, at import. ``check(body, SPEC)``
returns the body with unknown properties dropped (or raises :class:`ApiError`
400 for closed schemas), and names the offending field in every error:
``"voice_settings.provider must be one of: ..."``. JSON types are checked
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
from ._schemas import QUERY_PARAMETERS, REQUEST_BODIES, SCHEMAS
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


# What the contract states only in prose, or the real service does beyond it.
LANGUAGES = ("multi", "en", "es", "fr", "de", "it", "pt", "ru", "zh", "ja", "ko", "ar", "hi")
# An enumeration for a property the contract types as a plain string.
_PROSE_ENUMS = {
    ("AgentCreateInput", "default_language"): LANGUAGES,
    ("AgentUpdateInput", "default_language"): LANGUAGES,
}
# The official Python SDK sends every optional member, unset ones as null.
_NULL_IS_ABSENT = frozenset({"GenerateSessionTokenRequest"})


def _ref(node: Mapping[str, Any]) -> str:
    return str(node["$ref"]).rsplit("/", 1)[-1]


def _spec(schema: Mapping[str, Any], owner: str = "", name: str = "") -> Spec:
    """The :data:`Spec` of an OpenAPI schema; ``owner``/``name`` locate a property."""
    nullable = bool(schema.get("nullable", False))
    if "$ref" in schema:
        target = SCHEMAS[_ref(schema)]
        if nullable:
            target = {**target, "nullable": True}
        return _spec(target, owner, name)
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        return Object(
            {key: _spec(value, owner, key) for key, value in properties.items()},
            required=frozenset(schema.get("required", ())),
            closed=schema.get("additionalProperties") is False,
            nullable=nullable,
            null_is_absent=owner in _NULL_IS_ABSENT and not name,  # the body itself
        )
    if kind == "array":
        return Array(_spec(schema["items"], owner, name), nullable=nullable)
    if kind == "string" and schema.get("format") == "uuid":
        return Scalar("uuid", nullable=nullable)
    if kind in ("string", "number", "integer", "boolean"):
        enum = tuple(schema.get("enum", ())) or _PROSE_ENUMS.get((owner, name), ())
        return Scalar(kind, enum, nullable=nullable)
    raise TypeError(f"the mock cannot validate {owner}.{name}: {dict(schema)}")


def _object_spec(schema_name: str) -> Object:
    spec = _spec(SCHEMAS[schema_name], schema_name)
    assert isinstance(spec, Object)
    return spec


def _enum(schema: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple((SCHEMAS[_ref(schema)] if "$ref" in schema else schema)["enum"])


# One spec per request body the contract defines, by schema name.
REQUEST_SPECS: dict[str, Object] = {name: _object_spec(name) for name in REQUEST_BODIES.values()}

AGENT_CREATE = REQUEST_SPECS["AgentCreateInput"]
AGENT_UPDATE = REQUEST_SPECS["AgentUpdateInput"]
TWILIO_IMPORT = REQUEST_SPECS["TwilioPhoneNumberImportInput"]
TWILIO_LABEL = REQUEST_SPECS["TwilioPhoneNumberLabelPatchInput"]
SIP_TRUNK_CREATE = REQUEST_SPECS["SipTrunkCreateInput"]
SIP_TRUNK_UPDATE = REQUEST_SPECS["SipTrunkUpdateInput"]
ASSIGNMENT_CREATE = REQUEST_SPECS["SipTrunkAgentAssignmentCreateInput"]
ASSIGNMENT_PATCH = REQUEST_SPECS["SipTrunkAgentAssignmentPatchInput"]
SESSION_TOKEN_REQUEST = REQUEST_SPECS["GenerateSessionTokenRequest"]

_CALL_FILTERS = QUERY_PARAMETERS["listCalls"]
CALL_STATUSES = _enum(_CALL_FILTERS["status"])
CALL_SOURCES = _enum(_CALL_FILTERS["source"])
CALL_OUTCOMES = _enum(_CALL_FILTERS["outcome"])
