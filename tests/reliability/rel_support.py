"""What the reliability tests share: fuzzing budgets and counters, the API contract
as JSON Schema (and as a source of valid data), stamped audio, and secret checks."""

from __future__ import annotations

import collections
import copy
import json
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from vatel.audio import FRAME_BYTES

# -- fuzzing budgets ------------------------------------------------------------------

_BASE = settings(
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.filter_too_much,
    ],
)
settings.register_profile("vatel-quick", _BASE, max_examples=100)
settings.register_profile("vatel-thorough", _BASE, max_examples=5000)
settings.register_profile("vatel-soak", _BASE, max_examples=50000)

PROFILE = os.environ.get("VATEL_FUZZ_PROFILE", "vatel-quick")
"""``vatel-quick`` (default, a few seconds per target), ``vatel-thorough`` (50 times
as many examples) or ``vatel-soak`` (500 times)."""

FUZZ_TIMEOUT = 120 if PROFILE == "vatel-quick" else 0
"""Seconds a fuzz test may take under pytest-timeout (0: no limit, for the long profiles)."""

EXAMPLES: collections.Counter[str] = collections.Counter()
"""Examples run per fuzz target in this process, printed at the end of the run."""


def fuzz(weight: int) -> settings:
    """Hypothesis settings running ``weight`` examples in the quick profile, scaled up
    in the others."""
    profile = settings.get_profile(PROFILE)
    scale = profile.max_examples / 100
    return settings(profile, max_examples=max(1, round(weight * scale)))


FAULTS: collections.Counter[str] = collections.Counter()
"""Faults injected per kind in this process, printed at the end of the run."""


MEASURES: dict[str, str] = {}
"""Figures the load and fault tests measured, printed at the end of the run."""


def measured(name: str, value: str) -> None:
    MEASURES[name] = value


def count(target: str) -> None:
    EXAMPLES[target] += 1


def injected(kind: str, number: int = 1) -> None:
    FAULTS[kind] += number


# -- plain JSON -----------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=25,
)
"""Any JSON document (no NaN or infinities, which strict JSON cannot carry; integers
within 64 bits, which every parser keeps exact)."""


def nested(depth: int, leaf: Any = None, *, kind: str = "list") -> Any:
    """``leaf`` wrapped ``depth`` levels deep in lists or objects, built without recursion."""
    value = leaf
    for _ in range(depth):
        value = [value] if kind == "list" else {"k": value}
    return value


def nested_text(depth: int, kind: str = "list") -> str:
    """The JSON text of :func:`nested` (``json.dumps`` itself recurses)."""
    if kind == "list":
        return "[" * depth + "null" + "]" * depth
    return '{"k":' * depth + "null" + "}" * depth


# -- the API contract -----------------------------------------------------------------

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTRACT_PATH = Path(
    os.environ.get("VATEL_OPENAPI", REPO_ROOT.parent / "shared" / "vatel-openapi.json")
)


@cache
def contract_schemas() -> dict[str, Any] | None:
    """The contract's component schemas, or ``None`` when the contract is not available."""
    if not CONTRACT_PATH.is_file():
        return None
    document = json.loads(CONTRACT_PATH.read_text(encoding="utf-8"))
    schemas: dict[str, Any] = document["components"]["schemas"]
    return schemas


def _sdk_required() -> dict[str, set[str]]:
    """Per schema, the wire names the SDK's model requires beyond the contract. The
    contract leaves ``id`` optional on resources; the SDK requires it, since a resource
    without an id cannot be used."""
    from vatel import _models

    extra: dict[str, set[str]] = {}
    for name in _models.__all__:
        model = getattr(_models, name)
        if isinstance(model, type) and issubclass(model, _models.VatelModel):
            extra[name] = {
                field.alias or key
                for key, field in model.model_fields.items()
                if field.is_required()
            }
    return extra


def _inline(node: Any, schemas: dict[str, Any], strict: dict[str, set[str]] | None) -> Any:
    """An OpenAPI 3.0 schema as a self-contained JSON Schema: references inlined and
    ``nullable`` turned into a ``null`` alternative. With ``strict``, object schemas
    also require what the SDK's model of the same name requires."""
    if isinstance(node, list):
        return [_inline(item, schemas, strict) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("nullable"):
        rest = {k: v for k, v in node.items() if k != "nullable"}
        return {"anyOf": [{"type": "null"}, _inline(rest, schemas, strict)]}
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        target = _named(name, schemas, strict)
        rest = {k: v for k, v in node.items() if k not in ("$ref", "description")}
        return {**target, **_inline(rest, schemas, strict)} if rest else target
    return {k: _inline(v, schemas, strict) for k, v in node.items()}


def _named(name: str, schemas: dict[str, Any], strict: dict[str, set[str]] | None) -> Any:
    schema = _inline(schemas[name], schemas, strict)
    if strict and strict.get(name) and "properties" in schema:
        needed = strict[name] & set(schema["properties"])
        schema["required"] = sorted(set(schema.get("required", ())) | needed)
    return schema


@cache
def _resolved(name: str, sdk_strict: bool) -> str:
    schemas = contract_schemas()
    assert schemas is not None
    return json.dumps(_named(name, schemas, _sdk_required() if sdk_strict else None))


def contract_schema(name: str, *, sdk_strict: bool = False) -> dict[str, Any] | None:
    """The contract's schema ``name`` as self-contained JSON Schema (``None``: no
    contract); ``sdk_strict`` adds the fields the SDK requires beyond the contract."""
    if contract_schemas() is None:
        return None
    schema: dict[str, Any] = json.loads(_resolved(name, sdk_strict))
    return schema


@cache
def validator(name: str) -> Any:
    """A JSON Schema validator for the contract's schema ``name`` (``None``: no contract)."""
    schema = contract_schema(name)
    if schema is None:
        return None
    import jsonschema

    return jsonschema.Draft7Validator(schema)


def _datetimes() -> st.SearchStrategy[str]:
    """RFC 3339 date-times as servers write them: offsets or ``Z``, 0 to 9 fraction digits."""
    offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
        lambda m: timezone(timedelta(minutes=m))
    )

    def text(parts: tuple[Any, str, str]) -> str:
        moment, fraction, zulu = parts
        offset = moment.strftime("%z")
        zone = "Z" if zulu == "Z" and offset == "+0000" else f"{offset[:3]}:{offset[3:]}"
        return (
            f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
            f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}{fraction}{zone}"
        )

    return st.tuples(
        st.datetimes(timezones=offsets),
        st.sampled_from(["", ".5", ".123", ".123456", ".123456789"]),
        st.sampled_from(["Z", "offset"]),
    ).map(text)


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values valid for a self-contained JSON Schema as :func:`contract_schema` returns them."""
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return st.one_of([from_schema(option) for option in schema[key]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        bound = 2**63 - 1 if schema.get("format") == "int64" else 2**53
        return st.integers(min_value=-bound, max_value=bound)
    if kind == "number":
        return st.integers(min_value=-(2**53), max_value=2**53) | st.floats(
            allow_nan=False, allow_infinity=False
        )
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "uuid":
            return st.uuids().map(str)
        if fmt == "date-time":
            return _datetimes()
        return st.text(max_size=30)
    if kind == "array":
        return st.lists(from_schema(schema.get("items", {})), max_size=3)
    if kind == "object" or "properties" in schema:
        properties: dict[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", ()))
        fixed = {name: from_schema(properties[name]) for name in sorted(required)}
        optional = {
            name: from_schema(sub) for name, sub in properties.items() if name not in required
        }
        known = st.fixed_dictionaries(fixed, optional=optional)
        if schema.get("additionalProperties", True) is False:
            return known
        extra = st.dictionaries(
            st.text(max_size=10).filter(lambda k: k not in properties), json_values, max_size=3
        )
        return st.tuples(known, extra).map(lambda parts: {**parts[1], **parts[0]})
    return json_values


@cache
def contract_values(name: str, *, sdk_strict: bool = False) -> st.SearchStrategy[Any]:
    """Values valid for the contract's schema ``name`` (built once per schema); with
    ``sdk_strict``, always with the fields the SDK requires beyond the contract."""
    schema = contract_schema(name, sdk_strict=sdk_strict)
    assert schema is not None, "the API contract is not available"
    return from_schema(schema)


def mutations(value: Any) -> st.SearchStrategy[Any]:
    """``value`` with one part broken: a key dropped, a value replaced by any JSON (a
    wrong type, most of the time), or a key added."""

    @st.composite
    def mutate(draw: st.DrawFn) -> Any:
        result = copy.deepcopy(value)
        paths = list(_paths(result))
        path = draw(st.sampled_from(paths))
        replacement = draw(json_values)
        if not path:
            return replacement
        parent = result
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        action = draw(st.sampled_from(["replace", "drop", "add"]))
        if action == "drop" and isinstance(parent, dict):
            del parent[last]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = replacement
        else:
            parent[last] = replacement
        return result

    return mutate()


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


# -- audio ----------------------------------------------------------------------------


def stamped_chunk(*stamp: int, voiced: bool = False) -> bytes:
    """A 20 ms PCM16 chunk whose content is unique to ``stamp`` (small integers).

    The stamp takes the first samples; the rest is a pattern derived from it. A quiet
    chunk stays far below the mock's speech threshold; a voiced one is well above it.
    """
    head = struct.pack(f"<{len(stamp)}H", *stamp)
    seed = sum((i + 1) * 7919 * s for i, s in enumerate(stamp)) % 251
    samples = (FRAME_BYTES - len(head)) // 2
    if voiced:
        # A square wave at about 600 Hz, 25 % of full scale, phase set by the stamp.
        body = [8000 if ((n + seed) // 20) % 2 else -8000 for n in range(samples)]
    else:
        body = [(n * 31 + seed) % 61 - 30 for n in range(samples)]
    return head + struct.pack(f"<{samples}h", *body)


def split_chunks(pcm: bytes) -> list[bytes]:
    return [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES)]


# -- secrets and TLS -------------------------------------------------------------------


@dataclass(frozen=True)
class SelfSigned:
    """A self-signed certificate for 127.0.0.1 and localhost, with its key."""

    cert: Path
    key: Path


# -- secrets --------------------------------------------------------------------------


def texts_of(obj: object) -> list[str]:
    """Everything a user could print of ``obj``: ``repr``, ``str`` and, for an
    exception, its message, body, args and the exceptions chained to it."""
    texts = [repr(obj), str(obj)]
    if isinstance(obj, BaseException):
        texts += [repr(arg) for arg in obj.args]
        for name in ("message", "url", "reason"):
            value = getattr(obj, name, None)
            if isinstance(value, str):
                texts.append(value)
        if obj.__cause__ is not None:
            texts += texts_of(obj.__cause__)
        elif obj.__context__ is not None and not obj.__suppress_context__:
            texts += texts_of(obj.__context__)
    return texts


def assert_no_secret(secrets: Iterable[str], *objects: object) -> None:
    """No secret appears in anything a user could print of ``objects``."""
    wanted = [s for s in secrets if s]
    assert wanted, "nothing to look for"
    for obj in objects:
        for text in texts_of(obj):
            for secret in wanted:
                assert secret not in text, f"a credential shows in {type(obj).__name__}"
