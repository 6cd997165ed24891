"""The tool router: registration, argument conversion, error outputs, and whole
sessions run with ``Connection.run`` / ``AsyncConnection.run``."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

import pytest

import vatel
from vatel._tools import ToolError
from vatel.audio import FRAME_BYTES, silence, voice_like
from vatel.testing import MockServer

pytestmark = pytest.mark.anyio

UTTERANCE = voice_like(0.8) + silence(0.8)


def call(name: str, *arguments: tuple[str, str | None, Any]) -> vatel.ToolCall:
    return vatel.ToolCall(
        "tc-1",
        name,
        tuple(vatel.ToolCallArgument(n, value=v, data_type=t) for n, t, v in arguments),
    )


class TestRegistration:
    def test_decorator_forms_and_add(self) -> None:
        tools = vatel.ToolRouter()

        @tools.tool
        def bare() -> str:
            return "b"

        @tools.tool()
        def called() -> str:
            return "c"

        @tools.tool("renamed")
        def original() -> str:
            return "r"

        tools.add("added", lambda: "a")
        assert sorted(tools) == ["added", "bare", "called", "renamed"]
        assert "renamed" in tools and "original" not in tools and len(tools) == 4
        assert bare() == "b"  # the decorator hands the function back unchanged

    def test_bad_registrations(self) -> None:
        tools = vatel.ToolRouter()
        with pytest.raises(ValueError):
            tools.add("", lambda: None)
        with pytest.raises(TypeError):
            tools.add("x", "not callable")  # type: ignore[arg-type]
        tools.add("taken", lambda: None)
        with pytest.raises(ValueError, match="'taken' is already registered"):
            tools.add("taken", lambda: None)
        for bad in (0, -1, float("nan"), float("inf")):
            with pytest.raises(ValueError, match="timeout"):
                tools.add(f"t{bad}", lambda: None, timeout=bad)
            with pytest.raises(ValueError, match="timeout"):
                vatel.ToolRouter(timeout=bad)
        with pytest.raises(TypeError, match="timeout"):
            tools.add("s", lambda: None, timeout="5")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="positional-only"):
            tools.add("p", lambda a, /: a)
        assert sorted(tools) == ["taken"], "a refused registration leaves nothing behind"

    def test_timeouts_default_to_the_router_and_can_be_set_per_tool(self) -> None:
        tools = vatel.ToolRouter()
        assert tools.timeout == 30.0
        tools.add("default", lambda: None)
        tools.add("quick", lambda: None, timeout=5)
        tools.add("unlimited", lambda: None, timeout=None)
        limits = {name: tools._tools[name].timeout for name in tools}
        assert limits == {"default": 30.0, "quick": 5.0, "unlimited": None}
        assert vatel.ToolRouter(timeout=None).timeout is None


class TestCall:
    def test_arguments_arrive_as_keywords_converted_by_data_type(self) -> None:
        tools = vatel.ToolRouter()
        seen: dict[str, Any] = {}

        @tools.tool()
        def book(**kwargs: Any) -> str:
            seen.update(kwargs)
            return "booked"

        output = tools.call(
            call(
                "book",
                ("name", "string", "Ada"),
                ("party", "number", "4"),
                ("price", "number", "12.5"),
                ("vip", "boolean", "true"),
                ("prefs", "object", '{"window": true}'),
                ("dates", "array", ["mon", "tue"]),
                ("note", None, 7),
                ("future", "uuid", "x"),
            )
        )
        assert output == "booked"
        assert seen == {
            "name": "Ada",
            "party": 4,
            "price": 12.5,
            "vip": True,
            "prefs": {"window": True},
            "dates": ["mon", "tue"],
            "note": 7,
            "future": "x",
        }
        assert type(seen["party"]) is int

    def test_results_other_than_str_are_sent_as_json(self) -> None:
        tools = vatel.ToolRouter()
        tools.add("obj", lambda: {"temp": 21, "sky": "sunny"})
        tools.add("none", lambda: None)
        tools.add("text", lambda: "plain text")
        assert json.loads(tools.call(call("obj"))) == {"temp": 21, "sky": "sunny"}
        assert tools.call(call("none")) == "null"
        assert tools.call(call("text")) == "plain text"

    def test_undeclared_arguments_are_dropped(self) -> None:
        tools = vatel.ToolRouter()
        tools.add("weather", lambda city: f"sunny in {city}")
        output = tools.call(call("weather", ("city", "string", "Oslo"), ("unit", "string", "C")))
        assert output == "sunny in Oslo"

    def test_failures_answer_with_an_error_the_agent_can_speak(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        tools = vatel.ToolRouter()

        @tools.tool()
        def explode() -> str:
            raise RuntimeError("connection to db-prod-3 refused")

        tools.add("count", lambda n: n)
        failed = json.loads(tools.call(call("explode")))
        assert failed == {"error": "Tool 'explode' failed."}, "no internal detail for the agent"
        (logged,) = [r for r in caplog.records if "explode" in r.getMessage()]
        assert logged.levelno == logging.ERROR and logged.exc_info, "the full failure is logged"
        assert "db-prod-3" in str(logged.exc_info[1])
        unknown = json.loads(tools.call(call("nope")))
        assert unknown == {"error": "Unknown tool 'nope'."}
        bad = json.loads(tools.call(call("count", ("n", "number", "many"))))
        assert "should be a number" in bad["error"]
        missing = json.loads(tools.call(call("count")))
        assert missing == {"error": "Tool 'count' is missing required argument(s): 'n'."}
        assert tools.stats.failed == 1 and tools.stats.started == 1

    def test_a_tool_error_speaks_to_the_agent_and_on_error_chooses_the_rest(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        seen: list[tuple[str, str]] = []

        def on_error(failed: vatel.ToolCall, exc: Exception) -> object:
            seen.append((failed.tool_name, type(exc).__name__))
            return {"error": "Sorry, the booking system is down.", "retry": True}

        tools = vatel.ToolRouter(on_error=on_error)

        @tools.tool()
        def book() -> str:
            raise ToolError("No table is free at eight; try nine.")

        @tools.tool()
        def crash() -> str:
            raise KeyError("internal")

        assert json.loads(tools.call(call("book"))) == {
            "error": "No table is free at eight; try nine."
        }
        assert json.loads(tools.call(call("crash"))) == {
            "error": "Sorry, the booking system is down.",
            "retry": True,
        }
        assert seen == [("crash", "KeyError")], "on_error sees failures, not ToolError"

        def broken_on_error(failed: vatel.ToolCall, exc: Exception) -> object:
            raise RuntimeError("handler bug")

        fallback = vatel.ToolRouter(on_error=broken_on_error)
        fallback.add("crash", crash)
        with caplog.at_level(logging.ERROR, logger="vatel"):
            assert json.loads(fallback.call(call("crash"))) == {"error": "Tool 'crash' failed."}
        assert any("on_error" in r.getMessage() for r in caplog.records)

    def test_a_coroutine_handler_works_from_sync_code(self) -> None:
        tools = vatel.ToolRouter()

        @tools.tool()
        async def lookup(key: str) -> str:
            await asyncio.sleep(0)
            return key.upper()

        assert tools.call(call("lookup", ("key", "string", "abc"))) == "ABC"

    @pytest.mark.timeout(30)
    async def test_acall_awaits_coroutines_and_threads_plain_functions(self) -> None:
        tools = vatel.ToolRouter()
        loop_thread = threading.get_ident()

        @tools.tool()
        async def fast() -> int:
            return threading.get_ident()

        released = threading.Event()

        @tools.tool()
        def blocking() -> int:
            # Only a task on the event loop sets this: run on the loop's own
            # thread, the tool would wait here with the loop stuck behind it.
            if not released.wait(10):
                raise RuntimeError("the event loop did not run while the tool blocked")
            return threading.get_ident()

        async def release() -> None:
            released.set()

        assert json.loads(await tools.acall(call("fast"))) == loop_thread
        releaser = asyncio.create_task(release())
        worker_thread = json.loads(await tools.acall(call("blocking")))
        assert isinstance(worker_thread, int), worker_thread  # not the tool's error output
        assert worker_thread != loop_thread
        assert releaser.done()


def send(conn: vatel.Connection, pcm: bytes) -> None:
    for start in range(0, len(pcm), FRAME_BYTES):
        conn.send_input_audio_bytes(pcm[start : start + FRAME_BYTES])


def _agent_with_tool(server: MockServer, client: vatel.Client, name: str = "slow_lookup") -> str:
    agent_id = client.agents.create(name="Tool runner", first_message="").id
    server.add_client_tool(
        agent_id, name, arguments=[{"name": "q", "dataType": "string", "value": "status"}]
    )
    return agent_id


class TestRun:
    @pytest.mark.timeout(60)
    def test_sync_run_answers_tools_without_stalling_the_audio(
        self, client: vatel.Client, server: MockServer
    ) -> None:
        agent_id = _agent_with_tool(server, client)
        timeline: list[str] = []
        heard_again = threading.Event()
        tools = vatel.ToolRouter()

        @tools.tool()
        def slow_lookup(q: str) -> dict[str, str]:
            # Busy until the caller's next words have come through as events:
            # a run that waited for the tool before reading on never gets there.
            if not heard_again.wait(10):
                raise RuntimeError("no event arrived while the tool was working")
            timeline.append("tool done")
            return {"q": q, "answer": "all good"}

        with client.connect(client.session_token(agent_id)) as conn:

            def on_event(event: vatel.Event) -> None:
                timeline.append(event.type)
                if isinstance(event, vatel.ToolCall):
                    # The caller speaks again while the tool is still working.
                    send(conn, UTTERANCE)
                if isinstance(event, vatel.SpeechStarted) and "tool_call" in timeline:
                    heard_again.set()
                if (
                    isinstance(event, vatel.ResponseText)
                    and event.is_final
                    and "slow_lookup tool returned" in event.text
                ):
                    server.end_session()

            send(conn, UTTERANCE)
            conn.run(tools=tools, on_event=on_event)
        assert timeline[-1] == "session_ended"
        tool_at = timeline.index("tool_call")
        done_at = timeline.index("tool done")
        assert "speech_started" in timeline[tool_at:done_at], "events kept flowing during the tool"
        outputs = server.sessions[-1].tool_outputs
        assert [json.loads(o.output) for o in outputs] == [{"q": "status", "answer": "all good"}]

    async def test_async_run_with_async_on_event_and_a_failing_tool(
        self, async_client: vatel.AsyncClient, server: MockServer
    ) -> None:
        agent = await async_client.agents.create(name="Async runner", first_message="")
        server.add_client_tool(agent.id, "flaky", arguments=[])
        tools = vatel.ToolRouter()

        @tools.tool()
        async def flaky() -> str:
            raise ValueError("upstream timeout")

        seen: list[str] = []

        async def on_event(event: vatel.Event) -> None:
            seen.append(event.type)
            if isinstance(event, vatel.ResponseText) and event.is_final and "error" in event.text:
                server.end_session()

        async with async_client.connect(await async_client.session_token(agent.id)) as conn:
            for start in range(0, len(UTTERANCE), FRAME_BYTES):
                await conn.send_input_audio_bytes(UTTERANCE[start : start + FRAME_BYTES])
            await conn.run(tools=tools, on_event=on_event)
        assert seen[0] == "session_started" and seen[-1] == "session_ended"
        (output,) = server.sessions[-1].tool_outputs
        assert json.loads(output.output) == {"error": "Tool 'flaky' failed."}

    async def test_run_without_tools_leaves_tool_calls_to_on_event(
        self, async_client: vatel.AsyncClient, server: MockServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        agent = await async_client.agents.create(name="Manual", first_message="")
        server.add_client_tool(agent.id, "manual", arguments=[])
        async with async_client.connect(await async_client.session_token(agent.id)) as conn:

            async def answer(event: vatel.Event) -> None:
                if isinstance(event, vatel.ToolCall):
                    await conn.send_tool_call_output(event.tool_call_id, "by hand")
                    await asyncio.sleep(0)
                if (
                    isinstance(event, vatel.ResponseText)
                    and event.is_final
                    and "by hand" in event.text
                ):
                    server.end_session()

            for start in range(0, len(UTTERANCE), FRAME_BYTES):
                await conn.send_input_audio_bytes(UTTERANCE[start : start + FRAME_BYTES])
            with caplog.at_level(logging.WARNING, logger="vatel"):
                await conn.run(on_event=answer)
        assert [o.output for o in server.sessions[-1].tool_outputs] == ["by hand"]
        assert not [r for r in caplog.records if "not pending" in r.getMessage()]
