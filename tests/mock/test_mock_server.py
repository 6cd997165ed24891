"""MockServer itself: lifecycle, sync and async use, logging, exports, serve()."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from mock_support import (
    connect,
    connect_url,
    final_audio,
    make_client,
    receive,
    receive_until,
    send_audio,
    speech,
)
from websockets.exceptions import ConnectionClosedOK

import vatel.testing
from vatel.testing import MockServer

SRC = Path(vatel.testing.__file__).resolve().parents[2]


def test_exports_are_sorted_and_complete() -> None:
    names = vatel.testing.__all__
    assert names == sorted(names)
    public = {n for n in dir(vatel.testing) if not n.startswith("_")}
    assert set(names) == public - {"annotations"}


def test_start_and_stop_are_idempotent() -> None:
    server = MockServer(pace=0)
    with pytest.raises(RuntimeError):
        server.base_url  # noqa: B018
    assert server.start() is server
    port = server.port
    server.start()
    assert server.port == port
    assert server.base_url == f"http://127.0.0.1:{port}"
    assert server.ws_url == f"ws://127.0.0.1:{port}/v1/connection"
    server.stop()
    server.stop()
    assert repr(server) == "<MockServer stopped>"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/v1/llms")
    # It can serve again, with the same data.
    with server, make_client(server) as api:
        assert api.get("/v1/agents").status_code == 200
    assert server.api_key not in repr(server)


def test_a_taken_port_fails_to_start() -> None:
    with MockServer(pace=0) as first:
        taken = MockServer(pace=0, port=first.port)
        with pytest.raises(OSError):
            taken.start()
        taken.stop()


def test_unseeded_servers_are_empty() -> None:
    with MockServer(pace=0, seed=False) as server, make_client(server) as api:
        assert api.get("/v1/agents").json() == []
        assert api.get("/v1/calls").json()["pagination"]["total"] == 0
        assert api.get("/v1/twilio/numbers").json() == []
        assert api.get("/v1/sip-trunks").json() == []
        assert api.get("/v1/llms").json()["llms"]  # the catalogs stay
        assert server.agent_ids == [] and server.foreign_agent_id


def test_constructor_checks() -> None:
    with pytest.raises(ValueError):
        MockServer(pace=-1)
    with pytest.raises(ValueError):
        MockServer(idle_timeout=0)


@pytest.mark.anyio
async def test_async_form_never_blocks_the_loop() -> None:
    # A task that counts every turn of the loop: an ``async with`` that blocked
    # the loop while the server starts or stops would let it count nothing.
    turns = 0

    async def count_turns() -> None:
        nonlocal turns
        while True:
            await asyncio.sleep(0)
            turns += 1

    counter = asyncio.create_task(count_turns())
    await asyncio.sleep(0)
    server = MockServer(pace=1)
    before_start = turns
    async with server:
        assert turns > before_start, "the loop stood still while the server started"
        async with connect(connect_url(server, server.agent_ids[0])) as ws:
            await receive(ws)
            await receive(ws)
            # Stopping with a session open: the server closes it (1001) itself.
            await asyncio.to_thread(server.stop)
            with pytest.raises(ConnectionClosedOK) as info:
                while True:
                    await ws.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == 1001
        before_exit = turns
    assert turns > before_exit, "the loop stood still while the server stopped"
    counter.cancel()
    assert server.sessions[0].closed and server.sessions[0].close_code == 1001


@pytest.mark.anyio
async def test_wait_for_session(server: MockServer) -> None:
    with pytest.raises(TimeoutError):
        await server.wait_for_session_async(timeout=0.05)
    async with connect(connect_url(server, server.agent_ids[1])) as ws:
        started = await receive(ws)
        session = await server.wait_for_session_async()
        assert session.id == started["data"]["id"]
        assert session.agent_id == server.agent_ids[1]
        assert not session.closed
        assert not await session.wait_closed_async(0.01)
    assert await session.wait_closed_async(5)
    assert server.wait_for_session(1) is session
    assert repr(session).endswith("closed 1000>")


def test_sync_clients_work_too(server: MockServer) -> None:
    from websockets.sync.client import connect as sync_connect

    url = connect_url(server, server.agent_ids[1])
    logger = logging.getLogger("tests.mock.websockets")
    with sync_connect(url, logger=logger) as ws:
        assert '"session_started"' in str(ws.recv(timeout=5))
    assert server.wait_for_session().wait_closed(5)


@pytest.mark.anyio
async def test_no_credentials_in_the_mock_log(
    server: MockServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="vatel.testing")
    caplog.set_level(logging.DEBUG, logger="aiohttp")
    with make_client(server) as api:
        token = api.post("/v1/session-token", json={"agent_id": server.agent_ids[1]}).json()
    async with connect(connect_url(server, server.agent_ids[1], token["token"])) as ws:
        await receive(ws)
        await ws.send("not json")
        await send_audio(ws, speech())
        await receive_until(ws, final_audio)
    assert server.sessions[0].wait_closed(5)
    server.stop()
    mock_records = [r for r in caplog.records if r.name.startswith(("vatel.testing", "aiohttp"))]
    assert mock_records
    text = "\n".join(r.getMessage() for r in mock_records)
    assert server.api_key not in text and token["token"] not in text
    assert "token=" not in text


def _python_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), *sys.path])
    return env


def test_a_missing_extra_names_the_install_command() -> None:
    code = "import sys; sys.modules['aiohttp'] = None; from vatel.testing import MockServer"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_python_env()
    )
    assert result.returncode == 1
    assert "ImportError" in result.stderr
    assert "pip install 'vatel[mock]'" in result.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")
def test_serve_prints_where_and_stops_on_ctrl_c() -> None:
    code = "from vatel.testing import serve; serve(port=0, api_key='vk_cli_demo', pace=0)"
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=_python_env()
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first.startswith("Mock Vatel API listening on http://127.0.0.1:")
    base_url = first.rsplit(" ", 1)[1].strip()
    assert process.stdout.readline().strip() == "API key: vk_cli_demo"
    response = httpx.get(f"{base_url}/v1/llms", headers={"Authorization": "Bearer vk_cli_demo"})
    assert response.status_code == 200
    process.send_signal(signal.SIGINT)
    assert process.wait(10) == 0
    process.stdout.close()
