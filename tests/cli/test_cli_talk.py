"""``vatel talk`` against the mock server, and the session runner behind it."""

from __future__ import annotations

import base64
import json
import re
import sys
import textwrap
import wave
from array import array
from pathlib import Path

import pytest

import vatel
from vatel.audio import WavWriter, rms, silence, voice_like
from vatel.testing import MockServer, MockSession

FIRST_MESSAGE = "Hello, I am the test agent."
TOOL_OUTPUT = {"city": "Paris", "sky": "clear", "celsius": 18}

TOOL_MODULE = f"""
import vatel

router = vatel.ToolRouter()


@router.tool
def get_weather(city: str) -> dict:
    assert city == "Paris"
    return {TOOL_OUTPUT!r}
"""


@pytest.fixture(scope="module")
def agent_id(server: MockServer) -> str:
    with vatel.Client(server.api_key, base_url=server.base_url) as client:
        agent = client.agents.create(name="Talk test agent", first_message=FIRST_MESSAGE)
    server.add_client_tool(
        agent.id,
        "get_weather",
        arguments=[{"name": "city", "dataType": "string", "value": "Paris"}],
        description="Current weather in a city.",
    )
    return agent.id


def write_stereo_wav(path: Path, seconds: float) -> None:
    """Speech as a 24 kHz stereo file, so the CLI has to convert it."""
    second = voice_like(1.0)
    mono = array("h", second * int(seconds) + second[: 2 * round(24_000 * (seconds % 1))])
    stereo = array("h", bytes(4 * len(mono)))
    stereo[0::2] = mono
    stereo[1::2] = mono
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(24_000)
        out.writeframes(stereo.tobytes())


@pytest.fixture
def speech(tmp_path: Path) -> Path:
    path = tmp_path / "in.wav"
    write_stereo_wav(path, 0.5)
    return path


def session_of(server: MockServer, session_id: str) -> MockSession:
    session = next(s for s in server.sessions if s.id == session_id)
    assert session.wait_closed(10)
    return session


def sent_audio_bytes(session: MockSession) -> int:
    return sum(
        len(base64.b64decode(m.data["audio"])) for m in session.sent if m.type == "response_audio"
    )


def check_reply_wav(path: Path, session: MockSession) -> None:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (24_000, 1, 2)
        assert wav.getnframes() > 0
        pcm = wav.readframes(wav.getnframes())
    assert rms(pcm) > 0.01
    # Every chunk the agent sent is in the file, interrupted or not.
    assert len(pcm) == sent_audio_bytes(session)


def test_talk_transcript_tool_round_trip_and_wav(
    cli, server, agent_id, speech, tmp_path: Path
) -> None:
    tools = tmp_path / "my_tools.py"
    tools.write_text(TOOL_MODULE)
    reply = tmp_path / "reply.wav"
    result = cli(
        "talk",
        agent_id,
        "--input",
        str(speech),
        "--output",
        str(reply),
        "--tool-module",
        str(tools),
        "--linger",
        "0.2",
    )
    assert result.returncode == 0, result.stderr
    lines = result.lines
    started = next(line for line in lines if line.startswith("Session started "))
    session = session_of(server, started.split()[-1])

    expected_output = json.dumps(TOOL_OUTPUT)
    assert f"Agent: {FIRST_MESSAGE}" in lines
    assert "User: I said something for 0.5 seconds." in lines
    assert 'Tool call: get_weather(city="Paris")' in lines
    assert f"Tool output: {expected_output}" in lines
    assert f"Agent: The get_weather tool returned: {expected_output}" in lines
    assert lines[-3] == "Session closed"
    # One answered user turn: its response and transcript latency, once each.
    assert re.fullmatch(
        r"Latency: response p50 [\d.]+ ms, p95 [\d.]+ ms \(1 turn\); "
        r"transcript p50 [\d.]+ ms, p95 [\d.]+ ms \(1 turn\)",
        lines[-2],
    ), lines[-2]
    assert lines[-1].startswith("Saved ") and str(reply) in lines[-1]
    order = [
        lines.index(f"Agent: {FIRST_MESSAGE}"),
        lines.index("User: I said something for 0.5 seconds."),
        lines.index('Tool call: get_weather(city="Paris")'),
        lines.index(f"Tool output: {expected_output}"),
    ]
    assert order == sorted(order)

    assert [(t.output, t.known) for t in session.tool_outputs] == [(expected_output, True)]
    assert session.close_code == 1000
    check_reply_wav(reply, session)


def test_talk_json_lines_with_a_module_name(cli, server, agent_id, speech, tmp_path: Path) -> None:
    (tmp_path / "weather_tools.py").write_text(
        TOOL_MODULE + "\ntools = router  # the name the CLI looks for first\n"
    )
    result = cli(
        "--json",
        "talk",
        agent_id,
        "-i",
        str(speech),
        "--tool-module",
        "weather_tools",
        "--linger",
        "0.2",
        "--speed",
        "0",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.lines]
    kinds = [r["type"] for r in records]
    assert kinds[0] == "session_started"
    assert kinds[-2:] == ["session_closed", "summary"]
    assert kinds.index("user") < kinds.index("tool_call") < kinds.index("tool_output")
    call = records[kinds.index("tool_call")]
    assert (call["name"], call["arguments"]) == ("get_weather", {"city": "Paris"})
    summary = records[-1]
    assert summary["tool_calls"][0]["output"] == json.dumps(TOOL_OUTPUT)
    assert summary["agent_audio_seconds"] > 0
    assert summary["output"] is None
    latency = summary["latency"]
    assert latency["response"]["count"] == latency["transcript"]["count"] == 1
    assert 0 <= latency["response"]["p50_ms"] == latency["response"]["max_ms"]
    assert latency["unanswered"] == 0
    session = session_of(server, summary["session_id"])
    assert [t.known for t in session.tool_outputs] == [True]


def test_talk_usage_errors(cli, agent_id, speech, tmp_path: Path) -> None:
    empty = tmp_path / "empty_tools.py"
    empty.write_text("X = 1\n")
    neither, both, no_router, missing, unknown = cli.many(
        ("talk", agent_id),
        ("talk", agent_id, "--input", str(speech), "--mic"),
        ("talk", agent_id, "--input", str(speech), "--tool-module", str(empty)),
        ("talk", agent_id, "--input", str(speech), "--tool-module", "no_such_mod_xyz"),
        ("talk", "00000000-0000-4000-8000-000000000000", "--input", str(speech)),
    )
    assert neither.returncode == 2 and "--input" in neither.stderr
    assert both.returncode == 2
    assert no_router.returncode == 2
    assert "ToolRouter" in no_router.stderr and "Traceback" not in no_router.stderr
    assert missing.returncode == 2 and "no_such_mod_xyz" in missing.stderr
    assert unknown.returncode == 1
    assert unknown.stderr.strip().splitlines() == ["Error: 404 agent not found"]


def test_audio_devices_need_the_audio_extra(cli, agent_id, speech) -> None:
    try:
        import sounddevice  # noqa: F401
    except (ImportError, OSError):
        pass
    else:
        pytest.skip("sounddevice is installed")
    results = cli.many(
        ("talk", agent_id, "--mic"), ("talk", agent_id, "--input", str(speech), "--speaker")
    )
    for result in results:
        assert result.returncode == 1
        assert "pip install 'vatel[audio]'" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals")
def test_ctrl_c_exits_130_quietly_and_closes_the_session(
    cli, agent_id, server: MockServer, tmp_path: Path
) -> None:
    long_input = tmp_path / "long.wav"
    write_stereo_wav(long_input, 20.0)
    with cli.running("talk", agent_id, "--input", str(long_input)) as process:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("Session started"):
                break
        result = cli.ctrl_c(process, timeout=30)
    assert result.returncode == 130
    assert "Traceback" not in result.stderr
    assert "Aborted" not in result.stderr
    assert "Fatal error" not in result.stderr
    session = server.sessions[-1]
    assert session.wait_closed(5)
    assert session.close_code == 1000, "the session was closed, not dropped"


# -- the session runner, in-process ------------------------------------------------


class FakeSpeaker:
    def __init__(self) -> None:
        self.played = 0
        self.flushes = 0

    def play(self, pcm: bytes) -> None:
        self.played += len(pcm)

    def flush(self) -> float:
        self.flushes += 1
        return 0.0

    async def adrain(self) -> None:
        pass


@pytest.mark.anyio
async def test_interruption_is_marked_and_no_audio_is_dropped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from vatel._cli._session import Printer, converse, file_source

    greeting = "Welcome! This greeting is long enough that the caller talks over it."
    # The caller starts after 0.2 s of silence, well inside the greeting.
    audio = silence(0.2) + voice_like(0.6)
    speaker = FakeSpeaker()
    async with MockServer(pace=2.0) as server:
        async with vatel.AsyncClient(server.api_key, base_url=server.base_url) as client:
            agent = await client.agents.create(name="Interrupted", first_message=greeting)
            server.add_client_tool(agent.id, "get_weather", arguments=[{"name": "city"}])
            with WavWriter(tmp_path / "reply.wav") as wav:
                report = await converse(
                    client,
                    agent.id,
                    file_source(audio, tail=1.0),
                    printer=Printer(json_lines=True),
                    wav=wav,
                    speaker=speaker,  # type: ignore[arg-type]
                    wait_for_greeting=False,
                    linger=0.2,
                )
        assert report.session_id is not None
        session = session_of(server, report.session_id)
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    kinds = [r["type"] for r in records]
    assert report.interruptions == 1
    assert kinds.index("interruption") < kinds.index("user")
    assert records[kinds.index("agent")]["text"] == greeting
    # With no tool router every tool call is answered with an error, and the agent goes on.
    assert kinds.index("user") < kinds.index("tool_call") < kinds.index("tool_output")
    error = json.loads(records[kinds.index("tool_output")]["text"])
    assert "Unknown tool" in error["error"]
    assert [(t.output, t.known) for t in session.tool_outputs] == [(json.dumps(error), True)]
    assert kinds.count("agent") == 2  # the greeting, then the answer to the caller
    assert speaker.flushes == 1
    assert speaker.played == report.agent_audio_bytes == sent_audio_bytes(session)
    check_reply_wav(tmp_path / "reply.wav", session)


def test_load_tools_prefers_the_name_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import click

    from vatel._cli._talk import load_tools

    source = textwrap.dedent(
        """
        import vatel
        first = vatel.ToolRouter()
        tools = vatel.ToolRouter()
        tools.add("ping", lambda: "pong")
        """
    )
    (tmp_path / "routers_mod.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    router = load_tools("routers_mod")
    assert list(router) == ["ping"]
    assert list(load_tools(str(tmp_path / "routers_mod.py"))) == ["ping"]

    (tmp_path / "broken_mod.py").write_text("raise RuntimeError('boom')\n")
    with pytest.raises(click.ClickException, match="boom"):
        load_tools(str(tmp_path / "broken_mod.py"))
    with pytest.raises(click.BadParameter, match="no such file"):
        load_tools(str(tmp_path / "absent.py"))


def test_talk_with_a_file_that_is_not_audio_says_so_in_one_line(
    cli, agent_id, tmp_path: Path
) -> None:
    not_audio = tmp_path / "notes.wav"
    not_audio.write_bytes(b"these are notes, not a RIFF file" * 4)
    done = cli.many(("talk", agent_id, "--input", str(not_audio)))[0]
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    assert "Traceback" not in done.stderr


# -- the transcript: the connection's, fed once ------------------------------------------

CHUNK = base64.b64encode(bytes(960)).decode()
CALL = vatel.ToolCall(tool_call_id="c1", tool_name="get_weather")
EVENTS: list[vatel.Event] = [
    vatel.SessionStarted(id="s1"),
    vatel.SpeechStarted(emulated=False),
    vatel.SpeechStopped(),
    vatel.InputAudioTranscript(transcript="Weather?", is_final=True, turn_id="u1"),
    CALL,
    vatel.ResponseText(turn_id="a1", text="Sunny.", is_final=True),
    vatel.ResponseAudio(turn_id="a1", audio=CHUNK, is_final=True),
]


def test_the_session_loop_reads_the_transcript_the_connection_feeds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from vatel._cli._session import Printer, _Conversation

    transcript = vatel.Transcript()
    conversation = _Conversation(Printer(json_lines=True), transcript, None, None)
    for event in EVENTS:
        transcript._on_event(event)  # as a connection does, before it delivers the event
        conversation.on_event(event)
        if event is CALL:
            transcript._on_tool_output(CALL.tool_call_id, "sunny")
            conversation.tool_answered(CALL, "sunny")
    transcript._on_input_audio(960)
    conversation.input_sent(960)
    assert [turn.kind for turn in transcript.turns] == ["user", "tool_call", "agent"]
    assert transcript.agent_turns[0].audio_seconds == 0.02  # each chunk counted once
    assert transcript.tool_calls[0].output == "sunny"
    assert transcript.input_audio_seconds == 0.02
    assert transcript.latency.response.count == 1
    assert conversation.report.latency == transcript.latency
    printed = [json.loads(line)["type"] for line in capsys.readouterr().out.splitlines()]
    assert printed == ["session_started", "user", "tool_call", "tool_output", "agent"]
