"""The REST commands, run as subprocesses against the mock server."""

from __future__ import annotations

import base64
import io
import json
import re
import socket
import wave
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

import vatel
from vatel.testing import MockServer

_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


def as_printed(value: Any) -> Any:
    """The mock's raw JSON as the CLI promises to print it: null members left out,
    timestamps compared as instants (``...:21.000Z`` and ``...:21Z`` are the same)."""
    if isinstance(value, dict):
        return {k: as_printed(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [as_printed(v) for v in value]
    if isinstance(value, str) and _INSTANT.fullmatch(value):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


def raw(server: MockServer, path: str, **params: Any) -> Any:
    """What the mock answers to ``GET path``, fetched with plain httpx."""
    response = httpx.get(
        server.base_url + path,
        params=params,
        headers={"Authorization": f"Bearer {server.api_key}"},
    )
    response.raise_for_status()
    return response.json()


def raw_calls(server: MockServer, **filters: Any) -> list[Any]:
    """Every call the mock lists for ``filters``, page after page, with plain httpx."""
    calls: list[Any] = []
    page = 1
    while True:
        body = raw(server, "/v1/calls", page=page, page_size=100, **filters)
        calls.extend(body["calls"])
        if not body["pagination"]["has_next"]:
            return calls
        page += 1


def printed(stdout: str) -> Any:
    return as_printed(json.loads(stdout))


@pytest.fixture
def client(server: MockServer) -> Iterator[vatel.Client]:
    with vatel.Client(server.api_key, base_url=server.base_url) as sdk:
        yield sdk


def assert_one_error_line(result: object, *expected: str) -> None:
    assert result.returncode == 1, result  # type: ignore[attr-defined]
    assert result.stdout == ""  # type: ignore[attr-defined]
    lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1, result.stderr  # type: ignore[attr-defined]
    assert lines[0].startswith("Error: ")
    for text in expected:
        assert text in lines[0]
    assert "Traceback" not in result.stderr  # type: ignore[attr-defined]


# -- agents ---------------------------------------------------------------------


def test_agents_list_json(cli, server) -> None:
    result = cli("agents", "list", "--json")
    assert result.returncode == 0, result.stderr
    expected = raw(server, "/v1/agents")
    assert [a["id"] for a in expected] == server.agent_ids
    assert printed(result.stdout) == as_printed(expected)


def test_agents_list_table(cli, client) -> None:
    result = cli("agents", "list")
    assert result.returncode == 0, result.stderr
    agents = client.agents.list()
    assert agents
    for agent in agents:
        row = next(line for line in result.lines if agent.id in line)
        assert agent.name is not None and agent.name in row
        assert agent.llm is not None and agent.llm in row
    assert f"{len(agents)} agent" in result.stdout


def test_agents_get(cli, client, server) -> None:
    agent_id = server.agent_ids[0]
    result, table = cli.many(("agents", "get", agent_id, "--json"), ("agents", "get", agent_id))
    assert result.returncode == 0, result.stderr
    assert printed(result.stdout) == as_printed(raw(server, f"/v1/agents/{agent_id}"))

    assert table.returncode == 0, table.stderr
    agent = client.agents.get(agent_id)
    assert agent_id in table.stdout
    assert agent.first_message and agent.first_message in table.stdout


def test_agents_create_and_delete(cli, client, server) -> None:
    result = cli(
        "--json",
        "agents",
        "create",
        "--name",
        "CLI test agent",
        "--prompt",
        "Be brief.",
        "--first-message",
        "Hello from the CLI.",
        "--llm",
        "openai/gpt-4o",
        "--voice-id",
        "verse",
        "--voice-provider",
        "openai",
    )
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert as_printed(created) == as_printed(raw(server, f"/v1/agents/{created['id']}"))
    stored = client.agents.get(created["id"])
    assert stored.name == "CLI test agent"
    assert stored.prompt == "Be brief."
    assert stored.first_message == "Hello from the CLI."
    assert stored.llm == "openai/gpt-4o"
    assert stored.voice_settings is not None
    assert (stored.voice_settings.id, stored.voice_settings.provider) == ("verse", "openai")

    deleted = cli("agents", "delete", created["id"])
    assert deleted.returncode == 0, deleted.stderr
    assert created["id"] in deleted.stdout
    with pytest.raises(vatel.NotFoundError):
        client.agents.get(created["id"])


def test_voice_options_go_together(cli) -> None:
    result = cli("agents", "create", "--name", "x", "--voice-id", "verse")
    assert result.returncode == 2
    assert "--voice-provider" in result.stderr


def test_api_error_is_one_line_with_status_and_message(cli, server) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    result = cli("agents", "get", missing)
    assert_one_error_line(result, "404", "not found")
    assert server.api_key not in result.stderr


def test_wrong_api_key_is_reported_without_echoing_it(cli) -> None:
    result = cli("agents", "list", VATEL_API_KEY="vk_wrong_key_123456")
    assert_one_error_line(result, "401")
    assert "vk_wrong_key_123456" not in result.stderr


def test_missing_api_key(bare_cli, server) -> None:
    result = bare_cli("--base-url", server.base_url, "agents", "list")
    assert_one_error_line(result, "--api-key", "VATEL_API_KEY")


def test_connection_error_names_the_base_url(bare_cli) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"
    result = bare_cli("--api-key", "vk_test", "--base-url", base_url, "llms")
    assert_one_error_line(result, base_url)


def test_bad_usage_exits_2(cli) -> None:
    result = cli("calls", "list", "--status", "bogus")
    assert result.returncode == 2
    assert "bogus" in result.stderr


# -- catalogs and tokens ----------------------------------------------------------


def test_voices(cli, client, server) -> None:
    voices = client.voices.list()
    result, table = cli.many(("voices", "--json"), ("voices",))
    assert result.returncode == 0, result.stderr
    assert printed(result.stdout) == as_printed(raw(server, "/v1/voices")["voices"])

    assert table.returncode == 0, table.stderr
    for voice in voices:
        row = next(line for line in table.lines if line.startswith(f"{voice.id} "))
        assert voice.name in row and str(voice.provider) in row


def test_llms(cli, server) -> None:
    llms = raw(server, "/v1/llms")["llms"]
    assert "openai/gpt-4o" in llms
    result, table = cli.many(("--json", "llms"), ("llms",))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"llms": llms}

    assert table.returncode == 0, table.stderr
    assert all(name in table.stdout for name in llms)


def test_token(cli, server) -> None:
    agent_id = server.agent_ids[0]
    result, as_json = cli.many(("token", agent_id), ("token", agent_id, "--json"))
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert token.count(".") == 2 and "\n" not in token

    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert data["agent_id"] == agent_id
    assert data["token"].count(".") == 2

    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["agent_id"] == agent_id


def test_token_for_a_foreign_agent_fails(cli, server) -> None:
    result = cli("token", server.foreign_agent_id)
    assert_one_error_line(result, "403")


# -- calls ------------------------------------------------------------------------


def test_calls_list_json_matches_the_api(cli, server) -> None:
    result = cli("--json", "calls", "list")
    assert result.returncode == 0, result.stderr
    expected = raw_calls(server)
    assert len(expected) > 20
    assert printed(result.stdout) == as_printed(expected)


def test_calls_list_filters(cli, client, server) -> None:
    agent_id = server.agent_ids[0]
    other = server.agent_ids[1]
    result, dated = cli.many(
        (
            "calls",
            "list",
            "--json",
            *("--agent-id", agent_id, "--agent-id", other),
            *("--status", "ended", "--inbound"),
        ),
        ("calls", "list", "--json", "--from", "2025-05-01", "--to", "2025-05-15"),
    )
    assert result.returncode == 0, result.stderr
    expected = raw_calls(server, agent_ids=f"{agent_id},{other}", status="ended", outbound="false")
    assert expected
    assert all(c["status"] == "ended" and c["outbound"] is False for c in expected)
    assert printed(result.stdout) == as_printed(expected)

    assert dated.returncode == 0, dated.stderr
    in_range = raw_calls(server, date_from="2025-05-01", date_to="2025-05-15")
    assert 0 < len(in_range) < len(raw_calls(server))
    assert printed(dated.stdout) == as_printed(in_range)


def test_calls_list_limit_fetches_only_what_it_needs(cli, client, server) -> None:
    server.clear_requests()
    result = cli("calls", "list", "--json", "--limit", "3")
    assert result.returncode == 0, result.stderr
    pages = [r for r in server.requests if r.path == "/v1/calls"]
    assert len(pages) == 1
    assert pages[0].query.get("page_size") == "3"
    assert printed(result.stdout) == as_printed(raw(server, "/v1/calls", page_size=3)["calls"])


def test_calls_list_empty_result(cli) -> None:
    result = cli("calls", "list", "--json", "--tag", "no-such-tag")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_calls_list_table(cli, client) -> None:
    result = cli("calls", "list", "--limit", "5")
    assert result.returncode == 0, result.stderr
    for call in list(client.calls.list())[:5]:
        row = next(line for line in result.lines if call.id in line)
        assert str(call.status) in row
    assert "5 calls" in result.stdout


def _call_with_transcript(client: vatel.Client) -> vatel.types.Call:
    for call in client.calls.list(status="ended"):
        full = client.calls.get(call.id)
        if full.transcript and full.transcript.entries:
            return full
    raise AssertionError("no seeded call has a transcript")


def test_calls_get_with_transcript(cli, client, server) -> None:
    call = _call_with_transcript(client)
    result, table = cli.many(("calls", "get", call.id, "--json"), ("calls", "get", call.id))
    assert result.returncode == 0, result.stderr
    assert printed(result.stdout) == as_printed(raw(server, f"/v1/calls/{call.id}"))

    assert table.returncode == 0, table.stderr
    assert call.id in table.stdout and "Transcript" in table.stdout
    assert call.transcript is not None
    for entry in call.transcript.entries:
        if entry.message:
            assert entry.message in table.stdout


def test_calls_recording_writes_a_wav(cli, client, tmp_path: Path) -> None:
    call_id = None
    for call in client.calls.list(status="ended"):
        try:
            client.calls.download_recording(call.id, io.BytesIO())
        except vatel.NotFoundError:
            continue
        call_id = call.id
        break
    assert call_id is not None
    target = tmp_path / "recording.wav"
    result, as_json = cli.many(
        ("calls", "recording", call_id, "-o", str(target)),
        ("--json", "calls", "recording", call_id, "--output", str(tmp_path / "b.wav")),
    )
    assert result.returncode == 0, result.stderr
    assert str(target) in result.stdout
    with wave.open(str(target), "rb") as wav:
        assert wav.getnframes() > 0
        assert wav.getframerate() > 0

    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert data["bytes"] == target.stat().st_size == (tmp_path / "b.wav").stat().st_size


def test_calls_recording_missing_call(cli, tmp_path: Path) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    result = cli("calls", "recording", missing, "-o", str(tmp_path / "x.wav"))
    assert_one_error_line(result, "404")
    assert not (tmp_path / "x.wav").exists()


def test_verbose_logs_to_stderr_without_the_key(cli, server) -> None:
    result = cli("-v", "--json", "agents", "list")
    assert result.returncode == 0, result.stderr
    assert "DEBUG" in result.stderr and "/v1/agents" in result.stderr
    assert server.api_key not in result.stderr + result.stdout
    json.loads(result.stdout)
