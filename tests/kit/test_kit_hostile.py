"""Scripted agents against apps that misbehave: frozen, deaf, or flooding.

The apps here are the tests' own WebSocket clients (``websockets`` directly,
never the SDK), some in a child process that freezes itself with SIGSTOP.
What holds: a script's verdict comes within its time-outs whatever the app
does, the report stays short, and the mock's memory stays bounded.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from _support import memory_bound
from vatel.testing import MockServer, ScriptError, expect_tool_output, say, tool_call

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="freezes a child with SIGSTOP")

# The test's own client logs its handshake, token included, at DEBUG: not to the test's logs.
_QUIET = logging.getLogger("kit.hostile.app")
_QUIET.propagate = False
_QUIET.addHandler(logging.NullHandler())

# Reads the voice URL from stdin, connects, reads until the message named in
# argv[1] arrives, says so on stdout, then freezes itself: it neither answers nor reads.
_FREEZING_APP = """
import json, os, signal, sys
from websockets.sync.client import connect
ws = connect(sys.stdin.readline().strip(), max_size=None)
while json.loads(ws.recv())["type"] != sys.argv[1]:
    pass
print("frozen", flush=True)
os.kill(os.getpid(), signal.SIGSTOP)
"""


@pytest.fixture
def frozen_app(mock: MockServer) -> Iterator[list[subprocess.Popen[str]]]:
    """Child apps started with :func:`freeze_after`; killed after the test."""
    children: list[subprocess.Popen[str]] = []
    yield children
    for child in children:
        child.kill()
        child.communicate(timeout=10)  # reaps it and closes its pipes


def freeze_after(
    children: list[subprocess.Popen[str]], mock: MockServer, agent_id: str, message: str
) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", _FREEZING_APP, message],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    children.append(child)
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(f"{mock.ws_url}?token={mock.issue_token(agent_id)}\n")
    child.stdin.flush()
    assert child.stdout.readline() == "frozen\n"
    return child


@pytest.mark.timeout(20)
def test_a_frozen_app_fails_the_expectation_within_its_timeout(
    mock: MockServer, frozen_app: list[subprocess.Popen[str]]
) -> None:
    agent_id = mock.agent_ids[1]
    script = mock.script(agent_id, [tool_call("get_weather"), expect_tool_output(timeout=0.3)])
    with memory_bound(4):
        child = freeze_after(frozen_app, mock, agent_id, "tool_call")
        with pytest.raises(ScriptError, match=r"the app sent: nothing within 0\.3 s"):
            script.wait()
    os.kill(child.pid, signal.SIGKILL)
    session = script.session
    assert session is not None and session.wait_closed(10)
    assert session.close_code == 4000  # what the server closed with, though nobody answered


@pytest.mark.timeout(20)
def test_an_app_that_stops_reading_cannot_hang_the_script_or_grow_the_mock(
    mock: MockServer, frozen_app: list[subprocess.Popen[str]]
) -> None:
    agent_id = mock.agent_ids[1]
    # About 85 MB of audio frames: far more than the socket buffers hold.
    script = mock.script(agent_id, [say("x" * 20_000), say("never reached")])
    with memory_bound(8):
        child = freeze_after(frozen_app, mock, agent_id, "session_started")
        with pytest.raises(ScriptError) as caught:
            script.wait(timeout=0.5)
    message = str(caught.value)
    assert "step 1 of 2, say('xxxxxxxx" in message and "has not finished after 0.5 s" in message
    assert len(message) < 2_000  # the 20,000-character line is cut short
    os.kill(child.pid, signal.SIGKILL)
    session = script.session
    assert session is not None and session.wait_closed(10)
    assert script.error is not None and "did not finish" in str(script.error)


@pytest.mark.timeout(20)
def test_a_flooding_app_gets_a_short_report(mock: MockServer) -> None:
    agent_id = mock.agent_ids[1]
    script = mock.script(
        agent_id, [tool_call("get_weather"), expect_tool_output(contains="sunny", timeout=10)]
    )
    url = f"{mock.ws_url}?token={mock.issue_token(agent_id)}"
    with memory_bound(16), connect(url, max_size=None, logger=_QUIET) as ws:
        while (message := json.loads(ws.recv()))["type"] != "tool_call":
            pass
        for _ in range(1_000):
            ws.send("garbage " * 128)  # 1 kB, not JSON
        data = {"toolCallId": message["data"]["toolCallId"], "output": "y" * 500_000}
        ws.send(json.dumps({"type": "tool_call_output", "data": data}))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        with pytest.raises(ScriptError) as caught:
            script.wait()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4000
    report = str(caught.value)
    assert "the app sent: 'yyyy" in report and "(it does not contain 'sunny')" in report
    assert "client messages received (1001)" in report and "... 981 earlier lines" in report
    assert "rejected frame (not valid JSON): 'garbage garbage" in report
    assert len(report) < 5_000
    assert len(caught.value.received) == 1_001
