"""Scripted agents on the mock server, driven by an app on the sync and the async API.

The app is what a user writes: ``client.connect(token)`` and ``conn.run(tools=...)``
with a real ``ToolRouter``; the script says what the agent does and checks what
the app answers.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

import vatel
from _flavours import Flavour
from vatel.audio import silence, voice_like
from vatel.testing import (
    MockServer,
    ScriptError,
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

pytestmark = pytest.mark.timeout(30)

_JWT = re.compile(r"eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}")


def weather_tools(sky: str) -> vatel.ToolRouter:
    tools = vatel.ToolRouter(timeout=5)

    @tools.tool()
    def get_weather(city: str) -> str:
        return f"{sky} in {city}"

    return tools


def run_app(
    flavour: Flavour, server: MockServer, agent_id: str, tools: vatel.ToolRouter | None
) -> tuple[list[vatel.Event], vatel.ConnectionClosedError | None]:
    """An app's whole session: every event it saw, and the close error if there was one."""
    client = flavour.client(server)
    token = flavour._step(client.session_token(agent_id))
    session = flavour.open(server, token)
    events: list[vatel.Event] = []
    try:
        session.run(tools, events.append)
    except vatel.ConnectionClosedError as exc:
        return events, exc
    return events, None


def seen(events: list[vatel.Event]) -> list[tuple[Any, ...]]:
    """What the app saw, audio folded to one entry per turn (its chunk count)."""
    out: list[tuple[Any, ...]] = []
    for event in events:
        if isinstance(event, vatel.ResponseAudio):
            if out and out[-1][0] == "audio" and out[-1][1] == event.turn_id and not out[-1][3]:
                out[-1] = ("audio", event.turn_id, out[-1][2] + 1, event.is_final)
            else:
                out.append(("audio", event.turn_id, 1, event.is_final))
        elif isinstance(event, vatel.ResponseText):
            out.append(("text", event.turn_id, event.text, event.is_final))
        elif isinstance(event, vatel.InputAudioTranscript):
            out.append(("transcript", event.turn_id, event.transcript, event.is_final))
        elif isinstance(event, vatel.ToolCall):
            out.append(("tool_call", event.tool_name, event.kwargs))
        else:
            out.append((event.type,))
    return out


def weather_script(server: MockServer, agent_id: str, **expect: Any) -> Any:
    return server.script(
        agent_id,
        [
            say("Hi, which city?"),
            tool_call("get_weather", city="Paris"),
            expect_tool_output(**expect),
            say("It is sunny"),
            end(),
        ],
    )


def test_an_app_whose_tool_answers_right_passes(flavour: Flavour, mock: MockServer) -> None:
    agent_id = mock.agent_ids[0]  # it has an opening line: a script replaces it
    script = weather_script(mock, agent_id, contains="sunny")

    events, closed = run_app(flavour, mock, agent_id, weather_tools("sunny"))

    script.wait()
    assert closed is None and script.passed and script.error is None
    turns = seen(events)
    assert [t[0] for t in turns] == [
        "session_started",
        "text",
        "audio",
        "tool_call",
        "text",
        "audio",
        "session_ended",
    ]
    (
        _,
        (_, hi, hi_text, hi_final),
        (_, hi_audio, hi_chunks, hi_last),
        call,
        sunny,
        sunny_audio,
        _,
    ) = turns
    assert (hi_text, hi_final, hi_last) == ("Hi, which city?", True, True)
    assert hi == hi_audio and hi_chunks >= 20  # one turn id; 0.4 s of audio at least
    assert call == ("tool_call", "get_weather", {"city": "Paris"})
    assert sunny[2:] == ("It is sunny", True) and sunny[1] == sunny_audio[1] != hi
    assert sunny_audio[3]
    tool_call_event = next(e for e in events if isinstance(e, vatel.ToolCall))
    assert [(a.name, a.value, a.type, a.data_type) for a in tool_call_event.arguments] == [
        ("city", "Paris", "static", "string")
    ]
    session = script.session
    assert session is not None and session.wait_closed()
    assert session.close_code == 1000
    assert [(o.output, o.known) for o in session.tool_outputs] == [("sunny in Paris", True)]


def test_a_wrong_tool_output_fails_naming_the_step_and_what_the_app_sent(
    flavour: Flavour, mock: MockServer
) -> None:
    agent_id = mock.agent_ids[1]
    script = weather_script(mock, agent_id, contains="sunny")

    events, closed = run_app(flavour, mock, agent_id, weather_tools("rain"))

    # The app notices: the session ends abnormally, the reason naming the step.
    assert closed is not None and closed.code == 4000
    assert closed.reason == "script step 3 failed: expect_tool_output"
    with pytest.raises(ScriptError) as caught:
        script.wait()
    error = caught.value
    assert isinstance(error, AssertionError)
    assert error.index == 2 and error.step == script.steps[2]
    message = str(error)
    assert "step 3 of 5, expect_tool_output(contains='sunny')" in message
    assert "the app sent: 'rain in Paris'" in message
    assert "tool_call_output for 'call_" in message  # the client messages, listed
    # Nothing after the failed step was played.
    assert "It is sunny" not in [t[2] for t in seen(events) if t[0] == "text"]
    assert not script.passed and script.error is error
    # No credential in what a failing test prints.
    for text in (message, repr(error), repr(error.args), repr(script)):
        assert mock.api_key not in text and not _JWT.search(text)
    assert error.__cause__ is None and error.__context__ is None


def test_a_missing_tool_output_reports_nothing_within_the_timeout(
    flavour: Flavour, mock: MockServer
) -> None:
    agent_id = mock.agent_ids[1]
    script = weather_script(mock, agent_id, equals="sunny", timeout=0.2)

    events, closed = run_app(flavour, mock, agent_id, None)  # no tools: it never answers

    assert closed is not None and closed.code == 4000
    with pytest.raises(ScriptError, match=r"(?s)exactly 'sunny'.*nothing within 0\.2 s") as caught:
        script.wait()
    assert "client messages received (0)" in str(caught.value)
    assert ("tool_call", "get_weather", {"city": "Paris"}) in seen(events)


def test_the_callers_side_interruptions_and_pauses_arrive_in_script_order(
    flavour: Flavour, mock: MockServer
) -> None:
    agent_id = mock.agent_ids[1]
    script = mock.script(
        agent_id,
        [
            say("Let me tell you about the weather in every city of Europe"),
            interrupt(),
            caller_says("What about Rome today?"),
            wait(0.01),
            say("Rome is rainy"),
            end(),
        ],
    )

    events, closed = run_app(flavour, mock, agent_id, None)

    script.wait()
    assert closed is None
    turns = seen(events)
    assert turns[1:4] == [
        ("text", "turn-1", "Let me tell", False),
        ("text", "turn-1", "Let me tell you about the", False),
        ("text", "turn-1", "Let me tell you about the weather in every", False),
    ]
    finals = [(t[0], t[1], t[3]) if t[0] == "audio" else t for t in turns[4:]]
    assert finals == [
        ("text", "turn-1", "Let me tell you about the weather in every city of Europe", True),
        ("audio", "turn-1", True),
        ("speech_started",),
        ("interruption",),
        ("speech_started",),
        ("speech_stopped",),
        ("transcript", "turn-2", "What about Rome", False),
        ("transcript", "turn-2", "What about Rome today?", True),
        ("text", "turn-3", "Rome is rainy", True),
        ("audio", "turn-3", True),
        ("session_ended",),
    ]


def test_expect_audio_and_listen_wait_for_the_apps_speech(
    flavour: Flavour, mock: MockServer
) -> None:
    agent_id = mock.agent_ids[1]
    script = mock.script(
        agent_id,
        [say("Go ahead"), expect_audio(seconds=0.2), listen(), say("Heard you"), end()],
    )
    client = flavour.client(mock)
    session = flavour.open(mock, flavour._step(client.session_token(agent_id)))
    speech = voice_like(0.4) + silence(0.6)  # silence ends the turn
    texts: list[str] = []
    kinds: list[str] = []
    for event in session.iterate():
        kinds.append(event.type)
        if isinstance(event, vatel.ResponseText) and event.is_final:
            texts.append(event.text)
            if event.text == "Go ahead":
                for start in range(0, len(speech), 960):
                    session.send_audio(speech[start : start + 960])

    script.wait()
    assert texts == ["Go ahead", "Heard you"]
    assert kinds.index("speech_started") < kinds.index("speech_stopped")
    assert kinds.index("speech_stopped") < kinds.index("input_audio_transcript")
    assert kinds[-1] == "session_ended"
    heard = script.session.received_audio if script.session else b""
    # What the session heard is the app's audio, up to the end of its turn at least.
    assert len(heard) >= len(voice_like(0.4) + silence(0.45)) and speech.startswith(heard)


def test_listen_reports_how_much_audio_came_when_no_turn_ends(
    flavour: Flavour, mock: MockServer
) -> None:
    agent_id = mock.agent_ids[1]
    script = mock.script(agent_id, [say("Go ahead"), listen(timeout=0.2)])
    client = flavour.client(mock)
    session = flavour.open(mock, flavour._step(client.session_token(agent_id)))
    closed = None
    try:
        for event in session.iterate():
            if isinstance(event, vatel.ResponseText) and event.is_final:
                session.send_audio(silence(0.1))  # sound, but no speech
    except vatel.ConnectionClosedError as exc:
        closed = exc
    assert closed is not None and closed.reason == "script step 2 failed: listen"
    with pytest.raises(ScriptError) as caught:
        script.wait()
    message = str(caught.value)
    assert "no finished turn within 0.2 s (0.10 s of audio in all" in message
    assert "input_audio x 1 (0.10 s of audio)" in message


def test_a_session_the_app_closes_early_fails_the_script(
    flavour: Flavour, mock: MockServer
) -> None:
    agent_id = mock.agent_ids[1]
    script = mock.script(agent_id, [say("Hello"), wait(30), say("Still there?")])
    client = flavour.client(mock)
    session = flavour.open(mock, flavour._step(client.session_token(agent_id)))
    for event in session.iterate():
        if isinstance(event, vatel.ResponseAudio) and event.is_final:
            break
    session.close()

    with pytest.raises(ScriptError) as caught:
        script.wait()
    message = str(caught.value)
    assert "step 2 of 3, wait(30.0), did not finish" in message
    assert "the session closed first (code 1000, closed by the app)" in message
    assert caught.value.index == 1


def test_scripts_queue_per_agent_and_unscripted_sessions_are_unchanged(
    flavour: Flavour, mock: MockServer
) -> None:
    front_desk, order_status = mock.agent_ids
    first = mock.script(front_desk, [say("First"), end()])
    anyone = mock.script(None, [say("Anyone"), end()])
    second = mock.script(front_desk, [say("Second"), end()])
    assert mock.scripts == [first, anyone, second]

    heard = []
    for agent_id in (front_desk, order_status, front_desk):
        events, _ = run_app(flavour, mock, agent_id, None)
        heard.append([t[2] for t in seen(events) if t[0] == "text" and t[3]])
    # A session with no script left greets as before, and is ended by the test.
    client = flavour.client(mock)
    session = flavour.open(mock, flavour._step(client.session_token(front_desk)))
    greeting = next(
        e.text for e in session.iterate() if isinstance(e, vatel.ResponseText) and e.is_final
    )
    session.close()

    assert heard == [["First"], ["Anyone"], ["Second"]]
    assert all(script.passed for script in (first, anyone, second))
    assert greeting == mock.sessions[-1].first_message != ""


def test_a_script_no_session_took_never_ran(mock: MockServer) -> None:
    script = mock.script(mock.agent_ids[0], [say("Hi")])
    with pytest.raises(ScriptError, match="never ran: no voice session took it"):
        script.check()
    with pytest.raises(ScriptError, match=r"within 0\.05 s"):
        script.wait(0.05)
    mock.clear_scripts()
    assert mock.scripts == []


def test_an_empty_script_keeps_the_agent_silent(flavour: Flavour, mock: MockServer) -> None:
    agent_id = mock.agent_ids[0]
    script = mock.script(agent_id, [])
    client = flavour.client(mock)
    session = flavour.open(mock, flavour._step(client.session_token(agent_id)))
    assert isinstance(session.recv(timeout=2), vatel.SessionStarted)
    script.wait()
    with pytest.raises(TimeoutError):
        session.recv(timeout=0.2)  # no greeting: the agent does only what it is told
    session.close()
