"""``vatel`` in a pipeline: ``-o -`` writes the WAV to stdout, and a reader that goes
away early (``vatel ... | head``) ends the command quietly."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import wave
from collections.abc import Sequence
from typing import Any

import pytest

import vatel
from vatel.testing import MockServer

Cli = Any  # The runner fixture of tests/cli/conftest.py.

BROKEN_PIPE_EXIT = 141
"""128 + SIGPIPE: what a shell reports for a tool ended by a closed pipe."""

SMALL_PIPE = 4096
"""A pipe this small fills at once, so the command is still writing when the reader
goes away (the default of 64 KiB could swallow a short listing whole)."""


def recorded_call(server: MockServer) -> tuple[str, bytes]:
    """A seeded call with a recording, and the recording's bytes."""
    with vatel.Client(server.api_key, base_url=server.base_url) as client:
        for call in client.calls.list():
            try:
                return call.id, client.calls.recording_bytes(call.id)
            except vatel.NotFoundError:
                continue
    pytest.fail("the mock seeds calls with recordings")


def run_into(stdout: int, args: Sequence[str], cli: Cli) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "vatel", *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        env=cli.env(),
    )


def small_pipe() -> tuple[int, int]:
    read_end, write_end = os.pipe()
    fcntl = pytest.importorskip("fcntl")
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_size is None:
        os.close(read_end)
        os.close(write_end)
        pytest.skip("needs F_SETPIPE_SZ (Linux) for a pipe that fills at once")
    fcntl.fcntl(read_end, set_size, SMALL_PIPE)
    return read_end, write_end


# -- -o - ------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_recording_to_stdout_is_the_wav(cli: Cli, server: MockServer, tmp_path) -> None:
    call_id, expected = recorded_call(server)
    done = subprocess.run(
        [sys.executable, "-m", "vatel", "calls", "recording", call_id, "-o", "-"],
        capture_output=True,
        env=cli.env(),
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == b""
    assert done.stdout == expected
    with wave.open(io.BytesIO(done.stdout)) as wav:
        assert wav.getnframes() > 0 and wav.getframerate() > 0
    assert list(tmp_path.iterdir()) == [], "no file named '-' or CALL_ID.wav"


def test_recording_to_stdout_refuses_json(cli: Cli, server: MockServer) -> None:
    call_id, _ = recorded_call(server)
    result = cli("--json", "calls", "recording", call_id, "-o", "-")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "--json" in result.stderr


@pytest.mark.timeout(60)
def test_recording_to_a_terminal_is_refused(cli: Cli, server: MockServer) -> None:
    pty = pytest.importorskip("pty")
    call_id, _ = recorded_call(server)
    main, terminal = pty.openpty()
    try:
        process = run_into(terminal, ("calls", "recording", call_id, "-o", "-"), cli)
        os.close(terminal)
        _, stderr = process.communicate(timeout=60)
    finally:
        os.close(main)
    assert process.returncode == 2
    assert b"terminal" in stderr


# -- a reader that goes away -------------------------------------------------------------


@pytest.mark.timeout(60)
def test_json_listing_into_a_reader_that_stops_after_one_line(cli: Cli) -> None:
    read_end, write_end = small_pipe()
    process = run_into(write_end, ("--json", "calls", "list"), cli)
    os.close(write_end)
    try:
        line = b""
        while not line.endswith(b"\n"):
            byte = os.read(read_end, 1)
            assert byte, "the listing ended before its first line"
            line += byte
    finally:
        os.close(read_end)  # What `head -n 1` does once it has its line.
    _, stderr = process.communicate(timeout=60)
    assert line == b"[\n"
    assert stderr == b""
    assert process.returncode == BROKEN_PIPE_EXIT


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "args",
    [
        ("calls", "list"),
        ("--json", "agents", "get", "{agent}"),
        ("calls", "recording", "{call}", "-o", "-"),
        ("--help",),
        ("calls", "list", "--help"),
    ],
    ids=["table", "json", "recording", "help", "command-help"],
)
def test_output_into_a_reader_already_gone(
    cli: Cli, server: MockServer, args: tuple[str, ...]
) -> None:
    call_id = recorded_call(server)[0] if "{call}" in args else ""
    args = tuple(a.format(agent=server.agent_ids[0], call=call_id) for a in args)
    read_end, write_end = os.pipe()
    os.close(read_end)  # `vatel ... | true`: nobody will ever read.
    process = run_into(write_end, args, cli)
    os.close(write_end)
    _, stderr = process.communicate(timeout=60)
    assert stderr == b""
    assert process.returncode == BROKEN_PIPE_EXIT
