"""``vatel demo``: the newcomer's first command, end to end."""

from __future__ import annotations

import json
import re
import wave
from pathlib import Path

from vatel.audio import rms

WEATHER = json.dumps({"city": "Paris", "forecast": "sunny", "temperature_c": 21})


def check_wav(path: Path) -> None:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (24_000, 1, 2)
        assert wav.getnframes() > 0
        assert rms(wav.readframes(wav.getnframes())) > 0.01


def test_demo_fast(bare_cli, tmp_path: Path) -> None:
    out = tmp_path / "reply.wav"
    result = bare_cli("demo", "--fast", "--output", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.lines
    assert "Agent: Hi! Ask me about the weather." in lines
    assert "User: I said something for 1.5 seconds." in lines
    assert 'Tool call: get_weather(city="Paris")' in lines
    assert f"Tool output: {WEATHER}" in lines
    assert f"Agent: The get_weather tool returned: {WEATHER}" in lines
    round_trip = next(line for line in lines if line.startswith("Tool round trip"))
    assert "received by the agent" in round_trip
    audio = next(line for line in lines if line.startswith("Agent audio"))
    assert str(out) in audio
    assert any(line.startswith("Call ") and ": ended" in line for line in lines)
    # The demo's one user turn is answered (after the tool call): one latency of each kind.
    latency = next(line for line in lines if line.startswith("Latency"))
    assert re.fullmatch(
        r"Latency +response p50 [\d.]+ ms, p95 [\d.]+ ms \(1 turn\); "
        r"transcript p50 [\d.]+ ms, p95 [\d.]+ ms \(1 turn\)",
        latency,
    ), latency
    check_wav(out)
    assert not (tmp_path / "vatel-demo-reply.wav").exists()


def test_demo_default_output_and_json(bare_cli, tmp_path: Path) -> None:
    result = bare_cli("--json", "demo", "--fast", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.lines]
    kinds = [r["type"] for r in records]
    assert kinds[0] == "session_started" and kinds[-1] == "summary"
    assert kinds.index("user") < kinds.index("tool_call") < kinds.index("tool_output")
    summary = records[-1]
    assert summary["tool_outputs_received"] == [WEATHER]
    assert summary["tool_calls"][0]["arguments"] == {"city": "Paris"}
    assert summary["agent_audio_seconds"] > 0
    assert summary["call"]["id"] == summary["session_id"]
    assert summary["call"]["status"] == "ended"
    assert summary["output"] == "vatel-demo-reply.wav"
    latency = summary["latency"]
    assert latency["response"]["count"] == latency["transcript"]["count"] == 1
    assert latency["response"]["p50_ms"] >= latency["transcript"]["p50_ms"] >= 0
    check_wav(tmp_path / "vatel-demo-reply.wav")
