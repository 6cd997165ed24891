"""Script steps and their checks, without sockets: what a step accepts, refuses and says."""

from __future__ import annotations

import base64
import json
import math

import pytest

from vatel.testing import (
    Message,
    MockServer,
    Script,
    caller_says,
    end,
    expect_audio,
    expect_tool_output,
    interrupt,
    listen,
    say,
    tool_call,
    wait,
)
from vatel.testing._script import describe_received


def test_steps_read_back_as_the_calls_that_made_them() -> None:
    def sky_is_clear(output: str) -> bool:
        return "clear" in output

    steps = [
        say("Hi"),
        tool_call("lookup", name="Bob", age=3, vip=True, tags=["a"], extra={"k": 1}),
        expect_tool_output(contains="ok", equals={"a": 1}, matches=sky_is_clear, timeout=0.5),
        expect_audio(seconds=0.5),
        expect_audio(),
        listen(timeout=1),
        caller_says("Hello"),
        interrupt(),
        wait(0.25),
        end(),
    ]
    assert [repr(step) for step in steps] == [
        "say('Hi')",
        "tool_call('lookup', name='Bob', age=3, vip=True, tags=['a'], extra={'k': 1})",
        "expect_tool_output(contains='ok', equals={'a': 1}, "
        "matches=test_steps_read_back_as_the_calls_that_made_them.<locals>.sky_is_clear, "
        "timeout=0.5)",
        "expect_audio(seconds=0.5)",
        "expect_audio()",
        "listen(timeout=1.0)",
        "caller_says('Hello')",
        "interrupt()",
        "wait(0.25)",
        "end()",
    ]
    assert say("Hi") == say("Hi") and say("Hi") != say("Ho")


def test_tool_call_arguments_go_out_in_the_contracts_shape() -> None:
    step = tool_call("lookup", name="Bob", age=3, ratio=0.5, vip=False, tags=[1], extra={})
    assert [(a["name"], a["dataType"], a["value"]) for a in step.wire_arguments()] == [
        ("name", "string", "Bob"),
        ("age", "number", 3),
        ("ratio", "number", 0.5),
        ("vip", "boolean", False),
        ("tags", "array", [1]),
        ("extra", "object", {}),
    ]
    assert all(
        set(a) == {"name", "type", "dataType", "description", "required", "value"}
        and a["type"] == "static"
        for a in step.wire_arguments()
    )


@pytest.mark.parametrize(
    ("expect", "output", "problem"),
    [
        (expect_tool_output(), "anything", None),
        (expect_tool_output(contains="sun"), "sunny", None),
        (expect_tool_output(contains="sun"), "rain", "it does not contain 'sun'"),
        (expect_tool_output(equals="sunny"), "sunny", None),
        (expect_tool_output(equals="sunny"), "sunny ", "it is not exactly 'sunny'"),
        (expect_tool_output(equals={"sky": "sunny"}), '{"sky": "sunny"}', None),
        (expect_tool_output(equals={"sky": "sunny"}), '{"sky": "rain"}', "its JSON value is not"),
        (expect_tool_output(equals=None), "null", None),
        (expect_tool_output(equals=3), "sunny", "it is not JSON"),
        (expect_tool_output(matches=str.isupper), "SUNNY", None),
        (expect_tool_output(matches=str.isupper), "sunny", "str.isupper returned False"),
        (expect_tool_output(contains="s", matches=str.islower), "SUNNY", "it does not contain"),
    ],
)
def test_expect_tool_output_accepts_and_refuses(
    expect: object, output: str, problem: str | None
) -> None:
    found = expect.problem(output)  # type: ignore[attr-defined]
    if problem is None:
        assert found is None
    else:
        assert found is not None and found.startswith(problem)


def test_a_predicate_that_asserts_explains_itself() -> None:
    def is_json_object(output: str) -> None:
        assert json.loads(output) == {"ok": True}, "not the object"

    expect = expect_tool_output(matches=is_json_object)
    # Only a true result accepts: ``re.match`` misses (None) must not pass.
    assert expect.problem('{"ok": true}') == f"{is_json_object.__qualname__} returned None"
    problem = expect.problem('{"ok": false}')
    assert problem is not None and "raised AssertionError: not the object" in problem
    assert expect.wanted() == "an output accepted by " + is_json_object.__qualname__


@pytest.mark.parametrize(
    ("make", "error", "text"),
    [
        (lambda: say(3), TypeError, "say(): text must be a str"),
        (lambda: tool_call(""), ValueError, "non-empty str name"),
        (lambda: tool_call("t", when=object()), TypeError, "argument 'when' is not a JSON value"),
        (lambda: tool_call("t", x=math.nan), TypeError, "argument 'x' is not a JSON value"),
        (lambda: expect_tool_output(contains=3), TypeError, "contains must be a str"),
        (lambda: expect_tool_output(matches="x"), TypeError, "matches must be callable"),
        (lambda: expect_tool_output(equals={1, 2}), TypeError, "equals must be a str or a JSON"),
        (lambda: expect_tool_output(timeout=0), ValueError, "timeout must be positive"),
        (lambda: expect_tool_output(timeout="1"), TypeError, "timeout must be a number"),
        (lambda: listen(timeout=math.inf), ValueError, "positive and finite"),
        (lambda: expect_audio(seconds=-1), ValueError, "seconds must be zero or more"),
        (lambda: wait(True), TypeError, "seconds must be a number"),
    ],
)
def test_a_step_that_cannot_work_is_refused_at_once(make: object, error: type, text: str) -> None:
    with pytest.raises(error, match=text.replace("(", r"\(").replace(")", r"\)")):
        make()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("steps", "error", "text"),
    [
        (
            [say("Hi"), expect_tool_output()],
            ValueError,
            "step 2, expect_tool_output(): there is no",
        ),
        (
            [tool_call("a"), expect_tool_output(), expect_tool_output()],
            ValueError,
            "step 3",
        ),
        ([end(), say("Hi")], ValueError, "step 1: end() must be the last step"),
        ([say("Hi"), "Bye"], TypeError, "step 2 is not a step"),
        ("say hi", TypeError, "a script is a list of steps"),
    ],
)
def test_a_script_that_cannot_run_is_refused_at_once(steps: object, error: type, text: str) -> None:
    with pytest.raises(error) as caught:
        Script("agent", steps, timeout=1.0)  # type: ignore[arg-type]
    assert text in str(caught.value)


def test_tool_calls_and_their_checks_pair_in_order() -> None:
    script = Script(
        None,
        [tool_call("a"), tool_call("b"), expect_tool_output(), expect_tool_output()],
        timeout=1.0,
    )
    assert len(script.steps) == 4 and not script.started and not script.done


def test_scripting_an_agent_the_server_does_not_have_raises_key_error(mock: MockServer) -> None:
    with pytest.raises(KeyError):
        mock.script("00000000-0000-4000-8000-000000000000", [say("Hi")])
    upper = mock.script(mock.agent_ids[0].upper(), [say("Hi")])
    assert upper.agent_id == mock.agent_ids[0]
    with pytest.raises(ValueError, match="positive"):
        mock.script(None, [], timeout=-1)
    assert mock.scripts == [upper]  # the refused ones were not queued


def test_client_messages_are_listed_briefly_with_audio_folded() -> None:
    audio = base64.b64encode(bytes(4800)).decode()  # 0.1 s
    messages = [
        Message("input_audio", {"audio": audio}),
        Message("input_audio", {"audio": audio}),
        Message("tool_call_output", {"toolCallId": "call_1", "output": "x" * 10_000}),
        Message(None, None, error="not valid JSON", raw="{oops"),
        Message("input_audio", {"audio": audio}),
    ]
    lines = describe_received(messages)
    assert lines[0] == "input_audio x 2 (0.20 s of audio)"
    assert lines[1].startswith("tool_call_output for 'call_1': 'xxx") and len(lines[1]) < 200
    assert lines[2:] == [
        "rejected frame (not valid JSON): '{oops'",
        "input_audio x 1 (0.10 s of audio)",
    ]
    many = [Message(None, None, error="e", raw=str(i)) for i in range(1000)]
    shown = describe_received(many, limit=5)
    assert shown == ["... 995 earlier lines"] + [
        f"rejected frame (e): '{i}'" for i in range(995, 1000)
    ]
