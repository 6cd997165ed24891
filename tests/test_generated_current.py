"""The generated models, keyword TypedDicts and mock schemas match the API contract
(``../shared/vatel-openapi.json``), and the mock validates with nothing else.

``scripts/generate_models.py --check`` is what CI runs; these tests run it too, so
that a stale checkout fails with the diff. Skipped, with the reason, when the
contract is not beside the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from vatel.testing import _schemas, _validation

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "generate_models.py"
GENERATED = (
    "src/vatel/_models.py",
    # The models of each group of operations (GROUPS in the script).
    *sorted(
        path.relative_to(REPO).as_posix()
        for path in (REPO / "src" / "vatel").glob("_models_*.py")
        if path.name != "_models_base.py"
    ),
    "src/vatel/_generated_params.py",
    "src/vatel/testing/_schemas.py",
)
# Where the root conftest and tests/test_conformance.py look for it too.
CONTRACT_PATH = Path(os.environ.get("VATEL_OPENAPI", REPO.parent / "shared" / "vatel-openapi.json"))

pytestmark = pytest.mark.timeout(120)


def contract() -> dict[str, Any]:
    if not CONTRACT_PATH.is_file():
        pytest.skip(f"contract not found at {CONTRACT_PATH}")
    document: dict[str, Any] = json.loads(CONTRACT_PATH.read_text(encoding="utf-8"))
    return document


def run_script(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=100,
        cwd=REPO,
    )


def checked_in() -> dict[str, bytes]:
    return {name: (REPO / name).read_bytes() for name in GENERATED}


def request_body_names(document: dict[str, Any]) -> dict[str, str]:
    """operationId -> request-body schema name, read from the contract itself."""
    found = {}
    for item in document["paths"].values():
        for operation in item.values():
            for media in operation.get("requestBody", {}).get("content", {}).values():
                found[operation["operationId"]] = media["schema"]["$ref"].rsplit("/", 1)[-1]
    return found


def test_the_generated_files_are_current() -> None:
    contract()
    done = run_script("--check", "--contract", CONTRACT_PATH)
    assert done.returncode == 0, (
        f"stale; run scripts/generate_models.py\n{done.stdout}{done.stderr}"
    )
    assert done.stdout == ""


def test_a_renamed_field_in_the_contract_makes_the_check_fail(tmp_path: Path) -> None:
    document = contract()
    agent = document["components"]["schemas"]["Agent"]["properties"]
    agent["system_prompt"] = agent.pop("prompt")
    changed = tmp_path / "vatel-openapi.json"
    changed.write_text(json.dumps(document), encoding="utf-8")
    before = checked_in()

    done = run_script("--check", "--contract", changed)

    assert done.returncode == 1, done.stdout + done.stderr
    assert "+++ src/vatel/_models_agents.py (from the contract)" in done.stdout
    assert "+    system_prompt: str | None = None" in done.stdout
    assert "stale" in done.stderr
    assert checked_in() == before, "--check never writes"


def test_a_group_gone_from_the_contract_leaves_a_stale_module(tmp_path: Path) -> None:
    document = contract()
    for path in [p for p in document["paths"] if p.startswith("/v1/twilio/")]:
        del document["paths"][path]
    changed = tmp_path / "vatel-openapi.json"
    changed.write_text(json.dumps(document), encoding="utf-8")
    before = checked_in()

    done = run_script("--check", "--contract", changed)

    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        "src/vatel/_models_twilio_numbers.py is generated but no group of the contract has it"
        in done.stdout
    )
    assert "-from ._models_twilio_numbers import TwilioPhoneNumber" in done.stdout
    assert checked_in() == before, "--check never writes"


def test_the_check_skips_when_there_is_no_contract(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "vatel-openapi.json"
    before = checked_in()

    done = run_script("--check", "--contract", missing)

    assert done.returncode == 0
    assert done.stdout.strip() == f"contract not found at {missing}: skipped"
    assert checked_in() == before


def test_the_generated_files_are_formatted_as_ruff_formats_them() -> None:
    ruff = shutil.which("ruff") or shutil.which("ruff", path=str(Path(sys.executable).parent))
    if ruff is None:
        pytest.skip("ruff is not installed")
    for name in GENERATED:
        text = (REPO / name).read_text(encoding="utf-8")
        formatted = subprocess.run(
            [ruff, "format", "--stdin-filename", name, "-"],
            input=text,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
            check=True,
        ).stdout
        assert formatted == text, name


def test_the_generated_files_say_so() -> None:
    for name in GENERATED:
        first = (REPO / name).read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# Generated by scripts/generate_models.py"), name


def test_the_mock_validates_every_request_body_with_the_generated_schemas() -> None:
    bodies = request_body_names(contract())

    assert bodies == _schemas.REQUEST_BODIES
    assert set(_validation.REQUEST_SPECS) == set(bodies.values())
    # Every spec the validation module holds is one built from the generated data:
    # no hand-written copy of a schema is left beside them.
    specs = [
        value
        for name, value in vars(_validation).items()
        if isinstance(value, _validation.Object) and not name.startswith("_")
    ]
    built = [id(spec) for spec in _validation.REQUEST_SPECS.values()]
    assert specs and all(id(spec) in built for spec in specs)


def test_the_mock_schemas_are_the_contracts() -> None:
    schemas = contract()["components"]["schemas"]
    for name, reduced in _schemas.SCHEMAS.items():
        original = schemas[name]
        for key in ("type", "enum", "required", "additionalProperties"):
            assert reduced.get(key) == original.get(key), (name, key)
        assert list(reduced.get("properties", {})) == list(original.get("properties", {})), name
        for prop, value in reduced.get("properties", {}).items():
            for key in ("$ref", "type", "format", "enum", "nullable"):
                assert value.get(key) == original["properties"][prop].get(key), (name, prop)


@pytest.mark.parametrize(
    ("constant", "schema"),
    [("CALL_STATUSES", "CallStatus"), ("CALL_SOURCES", "CallSource")],
)
def test_the_mocks_call_filters_are_the_contracts_enums(constant: str, schema: str) -> None:
    enum = contract()["components"]["schemas"][schema]["enum"]
    assert list(getattr(_validation, constant)) == enum


def test_a_body_field_the_contract_types_is_refused_by_the_mock() -> None:
    # The generated data reaches the validator: a wrong type on a field the contract
    # declares is named in a 400, an unknown field is dropped.
    bodies = request_body_names(contract())
    spec = _validation.REQUEST_SPECS[bodies["createAgent"]]
    with pytest.raises(_validation.ApiError) as caught:
        _validation.check({"name": "A", "vad_settings": {"stop_secs": "1"}}, spec)
    assert caught.value.status == 400
    assert "vad_settings.stop_secs must be a number" in str(caught.value)
    assert _validation.check({"name": "A", "extra": 1}, spec) == {"name": "A"}
