"""One encoder for tool outputs: what ToolRouter results and send_tool_call_output
turn into the frame's ``output`` text, and what they refuse."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import json
import logging
import uuid
from pathlib import PurePosixPath
from typing import Any

import pydantic
import pytest

import vatel
from vatel._protocol import encode_tool_call_output
from vatel._serialize import MAX_DEPTH, ToolOutputError, tool_output_text


class Sky(enum.Enum):
    CLEAR = "clear"
    RAIN = "rain"


class Level(enum.IntEnum):
    HIGH = 3


@dataclasses.dataclass
class Slot:
    at: datetime.time
    sky: Sky


class Booking(pydantic.BaseModel):
    id: uuid.UUID
    when: datetime.datetime
    price: decimal.Decimal


BOOKING_ID = uuid.UUID("12345678-1234-5678-1234-567812345678")


def sent(output: Any) -> Any:
    """What the agent parses from the frame built for ``output``."""
    frame = json.loads(encode_tool_call_output("tc", output))
    return json.loads(frame["data"]["output"])


def test_rich_values_are_sent_as_json() -> None:
    output = {
        "booking": Booking(
            id=BOOKING_ID,
            when=datetime.datetime(2026, 3, 1, 20, 30, tzinfo=datetime.timezone.utc),
            price=decimal.Decimal("19.99"),
        ),
        "slots": (Slot(datetime.time(20, 0), Sky.CLEAR),),
        "day": datetime.date(2026, 3, 1),
        "tags": frozenset({"window"}),
        "level": Level.HIGH,
        Sky.RAIN: decimal.Decimal("0.1000000000000000055511151231257827"),
        "file": PurePosixPath("/menus/spring.pdf"),
    }
    assert sent(output) == {
        "booking": {
            "id": str(BOOKING_ID),
            "when": "2026-03-01T20:30:00Z",
            "price": "19.99",
        },
        "slots": [{"at": "20:00:00", "sky": "clear"}],
        "day": "2026-03-01",
        "tags": ["window"],
        "level": 3,
        "rain": "0.1000000000000000055511151231257827",
        "file": "/menus/spring.pdf",
    }


def test_big_integers_stay_exact_and_lone_surrogates_keep_the_frame_valid() -> None:
    big = 2**64 + 1
    assert sent({"n": big, "m": -(10**40)}) == {"n": big, "m": -(10**40)}
    frame = encode_tool_call_output("tc", {"name": "bad \ud800 text"})
    frame.encode("utf-8")  # valid UTF-8 on the wire
    assert sent({"name": "bad \ud800 text"}) == {"name": "bad \ud800 text"}


@pytest.mark.parametrize(
    ("output", "named"),
    [
        (object(), "object"),
        ({"blob": b"\x00\x01"}, "bytes at $['blob']"),
        ([1, {2: [Sky.CLEAR, {1j}]}], "complex at $[1][2][1][0]"),
        ({(1, 2): "tuple key"}, "tuple key"),
        (float("nan"), "nan"),
        ({"x": float("inf")}, "inf"),
    ],
)
def test_what_cannot_be_sent_is_a_type_error_naming_the_type(output: Any, named: str) -> None:
    with pytest.raises(ToolOutputError) as info:
        encode_tool_call_output("tc", output)
    assert isinstance(info.value, TypeError)
    assert named in str(info.value)


def test_cycles_and_deep_nesting_are_refused_clearly() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ToolOutputError, match="contains itself"):
        tool_output_text(loop)
    deep: Any = Sky.CLEAR
    for _ in range(MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(ToolOutputError, match="nested more than"):
        tool_output_text(deep)
    plain_deep: Any = []
    for _ in range(5000):  # beyond the JSON encoder's own recursion limit
        plain_deep = [plain_deep]
    with pytest.raises(ToolOutputError, match="nested more than"):
        tool_output_text(plain_deep)


def test_plain_outputs_are_plain_json() -> None:
    assert tool_output_text("as is") == "as is"
    assert json.loads(tool_output_text({"a": [1, 2.5, None, True], "é": "ü"})) == {
        "a": [1, 2.5, None, True],
        "é": "ü",
    }


def test_the_router_sends_the_same_json_and_refuses_what_cannot_be_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tools = vatel.ToolRouter()
    tools.add("slot", lambda: Slot(datetime.time(9, 15), Sky.RAIN))

    class Secretive:
        def __repr__(self) -> str:
            return "<Secretive password=hunter2>"

    tools.add("opaque", lambda: {"value": Secretive()})
    call = vatel.ToolCall("tc-1", "slot")
    assert json.loads(tools.call(call)) == {"at": "09:15:00", "sky": "rain"}
    with caplog.at_level(logging.ERROR, logger="vatel"):
        output = tools.call(vatel.ToolCall("tc-2", "opaque"))
    assert json.loads(output) == {"error": "Tool 'opaque' failed."}
    assert "hunter2" not in output, "never a repr sent"
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "Secretive" in record.getMessage() and "$['value']" in record.getMessage()
    assert "hunter2" not in record.getMessage()
    assert tools.stats.failed == 1
