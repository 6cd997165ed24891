"""Property-based tests of the REST response path: any body the server could send,
through ``parse_response`` into each model (and a list of it), gives the model or
``APIResponseValidationError``, and a contract-valid body always gives the model.

Also the tool router: whatever arguments a tool call carries, it answers with a string
and never raises."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rel_support import (
    FUZZ_TIMEOUT,
    contract_schema,
    contract_values,
    count,
    fuzz,
    json_values,
    mutations,
    nested,
    validator,
)

import vatel
from vatel import _models
from vatel._base_client import APIRequest, parse_response
from vatel._protocol import decode_event

pytestmark = pytest.mark.timeout(FUZZ_TIMEOUT)

MODELS = sorted(
    name
    for name in _models.__all__
    if isinstance(getattr(_models, name), type)
    and issubclass(getattr(_models, name), pydantic.BaseModel)
    and name != "VatelModel"
)


@st.composite
def bodies(draw: st.DrawFn, name: str, as_list: bool) -> bytes:
    """A response body for model ``name``: contract-valid, broken in one place, any
    JSON, cut short, not UTF-8, or not JSON at all."""
    kind = draw(st.sampled_from(["valid", "mutated", "mutated", "any", "cut", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300) | st.sampled_from([b"", b"\xff\xfe{}", b"null"]))
    if kind == "any" or contract_schema(name) is None:
        value = draw(json_values)
    else:
        valid = contract_values(name, sdk_strict=True)
        value = draw(st.lists(valid, max_size=3) if as_list else valid)
        if kind in ("mutated", "cut"):
            value = draw(mutations(value))
    text = json.dumps(value, ensure_ascii=draw(st.booleans())).encode()
    if kind == "cut":
        text = text[: draw(st.integers(0, max(0, len(text) - 1)))]
    return text


def exercise_model(model: Any) -> None:
    """What a user does with a parsed model must work."""
    repr(model), str(model)
    model.model_dump()
    model.model_dump(mode="json", by_alias=True)
    model.model_dump_json()
    for name in type(model).model_fields:
        getattr(model, name)


@pytest.mark.parametrize("name", MODELS)
@fuzz(20)
@given(data=st.data())
def test_any_body_gives_the_model_or_a_validation_error(name: str, data: st.DataObject) -> None:
    count("parse_response: every model")
    model = getattr(_models, name)
    as_list = data.draw(st.booleans())
    body = data.draw(bodies(name, as_list))
    request = APIRequest("GET", "/v1/fuzzed", cast=list[model] if as_list else model)
    try:
        result = parse_response(request, httpx.Response(200, content=body))
    except vatel.APIResponseValidationError as error:
        assert error.status_code == 200
        assert error.body is not None and len(error.body) <= 2000
        assert "/v1/fuzzed" in str(error)
        repr(error)
        result = None
    except Exception as error:
        raise AssertionError(f"{type(error).__name__} escaped parse_response: {error}") from None
    if result is None:
        return
    if as_list:
        assert isinstance(result, list)
    for item in result if as_list else [result]:
        assert isinstance(item, model)
        exercise_model(item)


@pytest.mark.parametrize("name", MODELS)
@fuzz(12)
@given(data=st.data())
def test_contract_valid_bodies_always_parse(name: str, data: st.DataObject) -> None:
    if contract_schema(name) is None:
        pytest.skip("the API contract is not available next to the checkout")
    count("parse_response: contract-valid bodies")
    model = getattr(_models, name)
    value = data.draw(contract_values(name, sdk_strict=True))
    validator(name).validate(value)
    body = json.dumps(value).encode()
    try:
        parsed = parse_response(
            APIRequest("GET", "/v1/x", cast=model), httpx.Response(200, content=body)
        )
    except vatel.APIResponseValidationError as error:
        raise AssertionError(f"a contract-valid {name} was refused: {error}") from None
    exercise_model(parsed)
    # Every field the contract sent is kept, by its wire name.
    dumped = parsed.model_dump(mode="json", by_alias=True, exclude_unset=True)
    assert set(dumped) == set(value)


def test_a_body_nested_past_the_parser_limit_is_a_validation_error() -> None:
    body = json.dumps({"id": "a", "extra": nested(150)}).replace("null", "[" * 500 + "]" * 500)
    with pytest.raises(vatel.APIResponseValidationError):
        parse_response(
            APIRequest("GET", "/v1/agents/a", cast=_models.Agent),
            httpx.Response(200, content=body.encode()),
        )


def test_a_new_field_spelt_like_a_python_name_stays_an_extra() -> None:
    # Found by fuzzing: ``tool_name`` is our name for the wire's ``toolName``; a server
    # field of that spelling is not ours to validate, and must not fail the response.
    body = {"entries": [{"toolCall": {"tool_name": []}}, {"toolCall": {"toolName": "get_weather"}}]}
    parsed = parse_response(
        APIRequest("GET", "/v1/calls/c/transcript", cast=_models.Transcript),
        httpx.Response(200, content=json.dumps(body).encode()),
    )
    first, second = (entry.tool_call for entry in parsed.entries)
    assert first is not None and first.tool_name is None
    assert first.model_extra == {"tool_name": []}
    assert second is not None and second.tool_name == "get_weather"
    assert _models.TranscriptToolCall(tool_name="x").tool_name == "x", "Python names still build"


# -- the tool router --------------------------------------------------------------------------

argument_dicts = st.fixed_dictionaries(
    {"name": st.sampled_from(["city", "count", "flag", "spec", "items", "other"])},
    optional={
        "value": json_values | st.sampled_from(["1e400", "nan", "-0", "true", "[1", "{}"]),
        "dataType": st.sampled_from(["string", "number", "boolean", "object", "array", "date"])
        | st.text(max_size=6),
    },
)
tool_names = st.sampled_from(["typed", "anything", "failing", "async_typed", "missing"])


def _router() -> vatel.ToolRouter:
    tools = vatel.ToolRouter()

    @tools.tool()
    def typed(city: str = "", count: float = 0, flag: bool = False) -> dict[str, Any]:
        return {"city": city, "count": count, "flag": flag}

    @tools.tool()
    def anything(**kwargs: Any) -> Any:
        return kwargs

    @tools.tool()
    def failing(**kwargs: Any) -> str:
        raise RuntimeError(f"failed with {sorted(kwargs)}")

    @tools.tool()
    async def async_typed(spec: Any = None, items: Any = None) -> list[Any]:
        return [spec, items]

    return tools


ROUTER = _router()


def _tool_call(name: str, arguments: list[dict[str, Any]]) -> vatel.ToolCall:
    frame = json.dumps(
        {
            "type": "tool_call",
            "data": {"toolCallId": "call-1", "toolName": name, "arguments": arguments},
        }
    )
    event = decode_event(frame)
    assert isinstance(event, vatel.ToolCall)
    return event


@fuzz(200)
@given(name=tool_names, arguments=st.lists(argument_dicts, max_size=5))
def test_the_tool_router_always_answers_with_a_string(
    name: str, arguments: list[dict[str, Any]]
) -> None:
    count("ToolRouter.call / acall")
    call = _tool_call(name, arguments)
    for output in (ROUTER.call(call), asyncio.run(ROUTER.acall(call))):
        assert isinstance(output, str)
        output.encode("utf-8")


@pytest.mark.parametrize("data_type", ["string", "object", "array", None])
def test_a_deeply_nested_tool_argument_is_answered_not_raised(data_type: str | None) -> None:
    """A value nested about as deep as a decoder accepts is refused with a typed error
    or, once decoded, still answered."""
    argument: dict[str, Any] = {"name": "spec", "value": None}
    if data_type is not None:
        argument["dataType"] = data_type
    frame = json.dumps(
        {
            "type": "tool_call",
            "data": {"toolCallId": "c", "toolName": "anything", "arguments": [argument]},
        }
    ).replace("null", "[" * 1000 + "]" * 1000)
    try:
        event = decode_event(frame)
    except vatel.ProtocolError:
        return  # Refused as too deep to decode: a typed error, and the session goes on.
    assert isinstance(event, vatel.ToolCall)
    for output in (ROUTER.call(event), asyncio.run(ROUTER.acall(event))):
        answer = json.loads(output)
        assert isinstance(answer, dict) and "error" in answer, "the agent hears what went wrong"
