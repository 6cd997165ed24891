"""Property-based tests of the REST response path: any body the server could send,
through ``parse_response`` into each model (and a list of it), gives the model or
``APIResponseValidationError``, and a contract-valid body always gives the model.

Also the tool router: whatever arguments a valid ``tool_call`` frame carries, the router
answers each call (in process, and through ``run`` on both connection flavours) with the
tool's result or a typed ``{"error": ...}`` naming the argument at fault, and nothing
escapes the receive loop."""

from __future__ import annotations

import asyncio
import collections
import json
import math
from typing import Any

import httpx
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
from websockets.asyncio.server import ServerConnection

import vatel
from _flavours import STARTED, Flavour, ScriptedServer, message, peak_memory
from vatel import _models
from vatel._base_client import APIRequest, parse_response
from vatel._protocol import decode_event

pytestmark = pytest.mark.timeout(FUZZ_TIMEOUT)

MODELS = sorted(
    name
    for name in _models.__all__
    if isinstance(getattr(_models, name), type)
    and issubclass(getattr(_models, name), _models.VatelModel)
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

DATA_TYPES = ["string", "number", "boolean", "object", "array"]
argument_dicts = st.fixed_dictionaries(
    {"name": st.sampled_from(["city", "count", "flag", "spec", "items", "other"])},
    optional={
        "value": json_values
        | st.sampled_from(
            ["1e400", "nan", "-0", "21", "3.5", "true", "False", "[1", "[1, 2]", "{}", '{"a": 1}']
        ),
        "dataType": st.sampled_from([*DATA_TYPES, "String", "date"]) | st.text(max_size=6),
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

TYPED = {"city": (str, ""), "count": (float, 0), "flag": (bool, False)}
"""``typed``'s parameters: the annotation and the default."""
TAKES: dict[str, frozenset[str] | None] = {
    "typed": frozenset(TYPED),
    "anything": None,
    "failing": None,
    "async_typed": frozenset({"spec", "items"}),
}
"""The argument names each tool takes (``None``: any, through ``**kwargs``)."""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _by_data_type(value: Any, data_type: str | None) -> tuple[str, Any]:
    """What the router must make of an unannotated argument, worked out from the
    documented rules: ``("same", value)`` passed on untouched, ``("as", type)``
    converted to that type, ``("bad", None)`` refused, ``("any", None)`` either
    way (a text number that is not finite)."""
    kind = (data_type or "").lower()
    if value is None or kind not in DATA_TYPES:
        return "same", value
    if kind == "string":
        return ("same", value) if isinstance(value, str) else ("as", str)
    if kind == "number":
        if _is_number(value):
            return "same", value
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                return "bad", None
            return ("as", (int, float)) if math.isfinite(number) else ("any", None)
        return "bad", None
    if kind == "boolean":
        if isinstance(value, bool):
            return "same", value
        text = value.lower() if isinstance(value, str) else None
        return ("as", bool) if text in ("true", "false") else ("bad", None)
    expected = dict if kind == "object" else list
    if isinstance(value, expected):
        return "same", value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return "bad", None
        return ("as", expected) if isinstance(parsed, expected) else ("bad", None)
    return "bad", None


def _by_annotation(name: str, value: Any) -> tuple[str, Any]:
    """The same for ``typed``'s annotated parameters, where only values already of
    the annotated type have a known outcome (lax conversion decides the rest)."""
    annotation, default = TYPED[name]
    if value is None:
        return "same", default
    if annotation is float and _is_number(value):
        return "same", float(value)
    if annotation is not float and type(value) is annotation:
        return "same", value
    return "maybe", annotation


def check_answer(name: str, arguments: list[dict[str, Any]], output: object) -> str:
    """Assert what the router answered to ``name(arguments)``; returns the kind of
    answer (``result``, ``argument error``, ``failed``, ``unknown``)."""
    assert isinstance(output, str)
    output.encode("utf-8")
    answer = json.loads(output)
    if name not in TAKES:
        assert answer == {"error": f"Unknown tool {name!r}."}
        return "unknown"
    takes = TAKES[name]
    in_order: list[tuple[str, tuple[str, Any]]] = []  # the arguments the tool takes
    for argument in arguments:
        key = argument["name"]
        if takes is not None and key not in takes:
            continue  # dropped
        value = argument.get("value")
        if name == "typed":
            in_order.append((key, _by_annotation(key, value)))
        else:
            in_order.append((key, _by_data_type(value, argument.get("dataType"))))
    outcomes = dict(in_order)  # the last of each name is what the tool gets
    bad = [key for key, (kind, _) in in_order if kind == "bad"]
    first_bad = bad[0] if bad else None
    if isinstance(answer, dict) and set(answer) == {"error"}:
        error = answer["error"]
        assert isinstance(error, str) and error.startswith(f"Tool {name!r}")
        if error == f"Tool {name!r} failed.":
            assert first_bad is None, f"argument {first_bad!r} is bad, yet the tool ran"
            unsendable = any(kind in ("any", "maybe") for kind, _ in outcomes.values())
            assert name == "failing" or unsendable, error
            return "failed"
        # A typed argument error naming an argument at fault: arguments are checked
        # in order, so it is one that may fail with no bad one before it.
        at_fault = set()
        for key, (kind, _) in in_order:
            if kind in ("bad", "maybe"):
                at_fault.add(key)
            if kind == "bad":
                break
        assert any(error.startswith(f"Tool {name!r}: argument {k!r}") for k in at_fault), (
            error,
            in_order,
        )
        return "argument error"
    assert first_bad is None, f"argument {first_bad!r} is bad, yet {name!r} answered {answer!r}"
    assert name != "failing"
    if name == "async_typed":
        assert isinstance(answer, list) and len(answer) == 2, answer
        answer = dict(zip(["spec", "items"], answer, strict=True))
        outcomes = {"spec": ("same", None), "items": ("same", None), **outcomes}
    elif name == "typed":
        outcomes = {k: ("same", default) for k, (_, default) in TYPED.items()} | outcomes
    assert isinstance(answer, dict) and set(answer) == set(outcomes), (answer, outcomes)
    for key, (kind, expected) in outcomes.items():
        if kind == "same":
            assert answer[key] == expected, (key, answer[key], expected)
        elif kind in ("as", "maybe"):
            assert isinstance(answer[key], expected), (key, answer[key], expected)
    return "result"


def tool_call_frame(name: str, arguments: list[dict[str, Any]], call_id: str = "call-1") -> str:
    return message("tool_call", toolCallId=call_id, toolName=name, arguments=arguments)


def _tool_call(name: str, arguments: list[dict[str, Any]]) -> vatel.ToolCall:
    event = decode_event(tool_call_frame(name, arguments))
    assert isinstance(event, vatel.ToolCall), "a valid tool_call frame decodes"
    return event


def test_the_tool_router_answers_every_call_with_its_result_or_a_typed_error() -> None:
    answers: collections.Counter[str] = collections.Counter()

    @fuzz(200)
    @given(name=tool_names, arguments=st.lists(argument_dicts, max_size=5))
    def answer(name: str, arguments: list[dict[str, Any]]) -> None:
        count("ToolRouter.call / acall")
        call = _tool_call(name, arguments)
        for output in (ROUTER.call(call), asyncio.run(ROUTER.acall(call))):
            answers[check_answer(name, arguments, output)] += 1

    answer()
    # Every kind of answer was reached, so each check above ran.
    assert set(answers) == {"result", "argument error", "failed", "unknown"}, answers


@pytest.mark.parametrize("flavour_name", ["sync", "async"])
def test_run_sends_one_answer_per_fuzzed_call_and_keeps_receiving(flavour_name: str) -> None:
    """Fuzzed tool calls through a real session: ``run`` answers each one (result or
    typed error), raises nothing, and returns at the session's end."""
    plans: list[list[tuple[str, list[dict[str, Any]]]]] = []
    reached: collections.Counter[str] = collections.Counter()

    async def script(ws: ServerConnection, server: ScriptedServer) -> None:
        calls = plans[-1]
        await ws.send(STARTED)
        for number, (name, arguments) in enumerate(calls):
            await ws.send(tool_call_frame(name, arguments, f"call-{number}"))
        answers = [json.loads(await ws.recv()) for _ in calls]
        server.received.extend(json.dumps(a) for a in answers)
        await ws.send(message("session_ended"))
        await ws.close()

    with ScriptedServer(script) as server, peak_memory(32):

        @fuzz(12)
        @given(
            calls=st.lists(
                st.tuples(tool_names, st.lists(argument_dicts, max_size=4)), min_size=1, max_size=4
            )
        )
        def session(calls: list[tuple[str, list[dict[str, Any]]]]) -> None:
            count(f"ToolRouter through run ({flavour_name})")
            plans.append(calls)
            server.received.clear()
            seen: list[str] = []
            flavour = Flavour(flavour_name)
            try:
                conn = flavour.connect(server.url(), open_timeout=5, close_timeout=2)
                conn.run(ROUTER, lambda event: seen.append(event.type))
            finally:
                flavour.finish()
            assert seen == ["session_started", *["tool_call"] * len(calls), "session_ended"]
            outputs = {}
            for frame in server.received:
                data = json.loads(frame)["data"]
                outputs[data["toolCallId"]] = data["output"]
            assert sorted(outputs) == sorted(f"call-{n}" for n in range(len(calls)))
            for number, (name, arguments) in enumerate(calls):
                reached[check_answer(name, arguments, outputs[f"call-{number}"])] += 1

        session()
    assert sum(reached.values()) >= 12, f"too few calls reached the router: {reached}"
    assert len(reached) >= 2, f"one kind of answer only: {reached}"


@pytest.mark.parametrize("depth", [300, 800])
@pytest.mark.parametrize("data_type", ["string", "object", "array", None])
def test_a_deeply_nested_tool_argument_reaches_the_router_and_is_answered(
    depth: int, data_type: str | None
) -> None:
    """A value nested hundreds of levels deep still decodes, reaches the router and
    gets its answer: the value itself, its JSON text, or a typed error."""
    argument: dict[str, Any] = {"name": "spec", "value": None}
    if data_type is not None:
        argument["dataType"] = data_type
    frame = tool_call_frame("anything", [argument]).replace("null", "[" * depth + "]" * depth)
    event = decode_event(frame)
    assert isinstance(event, vatel.ToolCall), "the frame decodes: the router is reached"
    text = "[" * depth + "]" * depth
    for output in (ROUTER.call(event), asyncio.run(ROUTER.acall(event))):
        if data_type == "object":
            answer = json.loads(output)
            assert answer["error"].startswith("Tool 'anything': argument 'spec' should be")
        elif data_type == "string":
            assert json.loads(output) == {"spec": text}
        else:  # the list itself, sent back whole
            assert output.replace(" ", "") == '{"spec":' + text + "}"
