"""Tool arguments follow the handler's annotations (lax: agents send text), and a
value that does not fit answers the agent with an error naming the argument."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import enum
import json
from typing import Any, Literal, Optional

import pydantic
import pytest

import vatel


class Unit(enum.Enum):
    C = "celsius"
    F = "fahrenheit"


class Guest(pydantic.BaseModel):
    name: str
    party: int


class Opaque:
    """A type pydantic has no schema for."""


@dataclasses.dataclass
class Window:
    start: datetime.time
    end: datetime.time


def tool_call(tool: str, /, **values: Any) -> vatel.ToolCall:
    return vatel.ToolCall(
        "tc-1", tool, tuple(vatel.ToolCallArgument(k, value=v) for k, v in values.items())
    )


@pytest.fixture(params=["sync", "async"])
def answer(request: pytest.FixtureRequest) -> Any:
    """``ToolRouter.call`` or ``ToolRouter.acall``, as the same function."""
    if request.param == "sync":
        return lambda tools, call: tools.call(call)
    return lambda tools, call: asyncio.run(tools.acall(call))


def router() -> tuple[vatel.ToolRouter, dict[str, Any]]:
    tools = vatel.ToolRouter()
    seen: dict[str, Any] = {}

    @tools.tool
    def book(
        party: int,
        price: float,
        vip: bool,
        unit: Unit,
        size: Literal["small", "large"],
        seats: list[int],
        notes: dict[str, str],
        day: datetime.date,
        at: datetime.datetime,
        guest: Guest,
        window: Window,
        room: Optional[str] = None,  # noqa: UP045 - the older spelling works too
        floor: int | None = None,
        name: str = "guest",
        anything: Any = None,
        raw=None,  # unannotated: converted by its dataType
    ) -> str:
        seen.update(locals())
        return "booked"

    return tools, seen


GOOD = {
    "party": "4",
    "price": "12.5",
    "vip": "true",
    "unit": "celsius",
    "size": "large",
    "seats": "[1, 2, 3]",
    "notes": {"diet": "vegan"},
    "day": "2026-03-01",
    "at": "2026-03-01T20:30:00+00:00",
    "guest": '{"name": "Ada", "party": "2"}',
    "window": {"start": "20:00", "end": "22:00"},
    "room": None,
    "name": 42,
    "anything": {"kept": [1]},
}


def test_arguments_are_converted_by_the_annotations(answer: Any) -> None:
    tools, seen = router()
    assert answer(tools, tool_call("book", **GOOD)) == "booked"
    assert seen["party"] == 4 and type(seen["party"]) is int
    assert seen["price"] == 12.5 and seen["vip"] is True
    assert seen["unit"] is Unit.C and seen["size"] == "large"
    assert seen["seats"] == [1, 2, 3] and seen["notes"] == {"diet": "vegan"}
    assert seen["day"] == datetime.date(2026, 3, 1)
    assert seen["at"] == datetime.datetime(2026, 3, 1, 20, 30, tzinfo=datetime.timezone.utc)
    assert seen["guest"] == Guest(name="Ada", party=2)
    assert seen["window"] == Window(datetime.time(20), datetime.time(22))
    assert seen["room"] is None and seen["floor"] is None
    assert seen["name"] == "42", "a number is taken as text for a str parameter"
    assert seen["anything"] == {"kept": [1]}


@pytest.mark.parametrize(
    ("argument", "value", "says"),
    [
        ("party", "many", "valid integer"),
        ("unit", "kelvin", "'celsius' or 'fahrenheit'"),
        ("size", "x" * 100_000, "'small' or 'large'"),
        ("seats", [1, "two"], "at 1"),
        ("guest", {"name": "Ada"}, "Field required (at party)"),
        ("floor", "third", "floor"),
    ],
)
def test_a_value_that_does_not_fit_answers_with_an_error_naming_it(
    answer: Any, argument: str, value: Any, says: str
) -> None:
    tools, seen = router()
    output = answer(tools, tool_call("book", **{**GOOD, argument: value}))
    error = json.loads(output)["error"]
    assert error.startswith(f"Tool 'book': argument {argument!r} is not valid")
    assert says in error
    assert len(output) < 400, "the value is not echoed back"
    assert not seen, "the handler did not run"


def test_missing_required_arguments_are_named(answer: Any) -> None:
    tools, seen = router()
    values = {k: v for k, v in GOOD.items() if k not in ("party", "guest")}
    output = json.loads(answer(tools, tool_call("book", **values)))
    assert output == {"error": "Tool 'book' is missing required argument(s): 'guest', 'party'."}
    assert not seen


def test_null_for_a_parameter_with_a_default_means_the_default(answer: Any) -> None:
    tools, seen = router()
    assert answer(tools, tool_call("book", **{**GOOD, "name": None})) == "booked"
    assert seen["name"] == "guest"


def test_string_annotations_resolve_and_bad_ones_fail_at_registration() -> None:
    tools = vatel.ToolRouter()
    namespace: dict[str, Any] = {}
    exec(  # a handler from a module with postponed annotations
        "from __future__ import annotations\n"
        "def count(n: int, unit: Unit) -> str:\n"
        "    return f'{n + 1} {unit.value}'\n",
        {"Unit": Unit},
        namespace,
    )
    tools.add("count", namespace["count"])
    assert tools.call(tool_call("count", n="2", unit="fahrenheit")) == "3 fahrenheit"

    def unresolvable(n: NoSuchType) -> None:  # type: ignore[name-defined]  # noqa: F821
        return None

    with pytest.raises(TypeError, match="annotations cannot be resolved"):
        tools.add("unresolvable", unresolvable)

    def strange(thing: Opaque) -> None:
        return None

    with pytest.raises(TypeError, match=r"'thing'.*cannot be validated"):
        tools.add("strange", strange)
    assert sorted(tools) == ["count"]


class Strict(pydantic.BaseModel):
    code: str

    @pydantic.field_validator("code")
    @classmethod
    def no_lookups(cls, value: str) -> str:
        raise LookupError("validator bug")  # not a ValueError: pydantic lets it through


def test_a_validator_that_breaks_still_answers_the_agent(answer: Any) -> None:
    tools = vatel.ToolRouter()

    def check(item: Strict) -> str:
        return "ok"

    tools.add("check", check)
    output = json.loads(answer(tools, tool_call("check", item={"code": "x"})))
    expected = "Tool 'check': argument 'item' could not be validated (LookupError)."
    assert output == {"error": expected}
