"""REST models build their checks on first use, without pydantic, and each still
validates what the contract (``../shared/vatel-openapi.json``) requires of it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import vatel
from vatel import types

# Fields every response carries although the contract leaves them optional: the
# SDK requires them, so that ``agent.id`` is a ``str`` and never ``None``.
SDK_REQUIRED_EXTRAS = {"id"}


# Where the root conftest looks for it too.
CONTRACT_PATH = Path(
    os.environ.get(
        "VATEL_OPENAPI",
        Path(__file__).resolve().parents[1].parent / "shared" / "vatel-openapi.json",
    )
)


def contract_schemas() -> dict[str, Any]:
    path = CONTRACT_PATH
    if not path.exists():
        pytest.skip(f"the API contract is not at {path}")
    schemas: dict[str, Any] = json.loads(path.read_text())["components"]["schemas"]
    return schemas


def model_names() -> list[str]:
    return sorted(
        name
        for name in types.__all__
        if isinstance(getattr(types, name), type)
        and issubclass(getattr(types, name), types.VatelModel)
        and name != "VatelModel"
    )


def minimal(schema: dict[str, Any], schemas: dict[str, Any]) -> Any:
    """The smallest value the contract accepts for ``schema``: required keys only."""
    if "$ref" in schema:
        return minimal(schemas[schema["$ref"].rsplit("/", 1)[1]], schemas)
    for key in ("allOf", "oneOf", "anyOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            return minimal(options[0], schemas)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next(k for k in kind if k != "null")
    if kind == "object":
        props = schema.get("properties", {})
        keys = [*schema.get("required", []), *(k for k in SDK_REQUIRED_EXTRAS if k in props)]
        return {name: minimal(props.get(name, {}), schemas) for name in dict.fromkeys(keys)}
    if kind == "array":
        return []
    if kind == "string":
        return {
            "date-time": "2026-01-02T03:04:05Z",
            "uuid": "7f1c1a52-6d55-4c8e-9a0e-2b7b8a0f6c11",
        }.get(schema.get("format", ""), "x")
    return {"integer": 1, "number": 1.5, "boolean": True}[kind]


def test_importing_the_models_builds_no_check_and_loads_no_pydantic() -> None:
    # A fresh interpreter: within this one other tests have used models already.
    script = textwrap.dedent(
        """
        import sys
        from vatel import _models, types
        models = [
            m for n in _models.__all__
            if isinstance(m := getattr(_models, n), type)
            and issubclass(m, _models.VatelModel) and m is not _models.VatelModel
        ]
        def built_any(m):
            return m._name_plan is not None or m._wire_plan is not None
        built = [m.__name__ for m in models if built_any(m)]
        token = _models.SessionTokenResponse.model_validate({"token": "t"})
        after = [m.__name__ for m in models if built_any(m)]
        print(len(models), built, after, token.token, "pydantic" in sys.modules)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split(" ", 1)
    count, rest = int(out[0]), out[1]
    assert count >= 35  # every model the operations take or return
    assert rest.strip() == "[] ['SessionTokenResponse'] t False"


def schema_of(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    schemas = contract_schemas()
    if name not in schemas:
        pytest.skip(f"{name} is not a schema of the contract")
    schema = schemas[name]
    if "properties" not in schema and "oneOf" in schema:  # messages: the first shape
        schema = schema["oneOf"][0]
    return schema, schemas


def minimal_body(model: type[types.VatelModel], name: str) -> dict[str, Any]:
    """The contract's required keys, plus those the SDK insists on (``id``)."""
    schema, schemas = schema_of(name)
    body: dict[str, Any] = minimal(schema, schemas)
    props = schema.get("properties", {})
    for field_name, field in model.model_fields.items():
        key = field.alias or field_name
        if field.is_required() and key not in body:
            body[key] = minimal(props[key], schemas)
    return body


@pytest.mark.parametrize("name", model_names())
def test_every_model_validates_the_contracts_minimal_body(name: str) -> None:
    model: type[types.VatelModel] = getattr(types, name)
    body = minimal_body(model, name)

    value = model.model_validate(body)

    assert value.model_dump(by_alias=True, exclude_unset=True) == body


@pytest.mark.parametrize("name", model_names())
def test_every_required_field_of_the_contract_is_required(name: str) -> None:
    schema, _ = schema_of(name)
    model: type[types.VatelModel] = getattr(types, name)
    body = minimal_body(model, name)
    fields = {f.alias or n: f for n, f in model.model_fields.items()}
    declared = {key for key, f in fields.items() if f.is_required()}
    contract = set(schema.get("required", []))

    assert declared - contract <= SDK_REQUIRED_EXTRAS
    for key in contract:
        if not fields[key].is_required():
            # Only a constant the SDK fills in itself (a message's ``type``).
            assert [fields[key].default] == schema["properties"][key]["enum"]
            continue
        with pytest.raises(vatel.ValidationError):
            model.model_validate({k: v for k, v in body.items() if k != key})
