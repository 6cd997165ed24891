"""``session_token()`` reads its answer by hand, without pydantic or the models.

Against the mock, against a raw asyncio server of the test's own that answers
with bodies breaking the contract (each must give ``APIResponseValidationError``
with neither token anywhere in it), and in fresh interpreters that must mint a
token (SDK and ``vatel token``) without importing pydantic or any REST model
(``vatel._models``, its group modules and what they are built on).
Sync and async alike.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

import vatel
from _support import Api, memory_bound
from vatel.testing import MockServer

pytestmark = pytest.mark.anyio

# The interpreters run the vatel this test imported.
SRC = Path(vatel.__file__).resolve().parents[1]
KEY = "vk_test_sessionTokenParse1234567"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6InBhcnNlIn0.c2lnbmF0dXJlLXBhcnNlLXRlc3Q"
MEDIA_JWT = (
    "eyJhbGciOiJIUzI1NiJ9.eyJyb29tIjoicm9vbS0xIiwic3ViIjoibWVkaWEifQ.bWVkaWEtc2lnbmF0dXJlLXh5eg"
)
# A token that does not look like a JWT: only knowing it lets the SDK hide it.
PLAIN = "plain-session-credential-0f9e8d7c"


class TokenServer:
    """An HTTP/1.1 server on an asyncio loop in a thread of its own (so a sync
    client blocking the test's thread still gets its answer): every request is
    read in full and answered ``200`` with ``body``, then the connection closes."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.requests: list[bytes] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._server: asyncio.base_events.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __enter__(self) -> TokenServer:
        self._thread.start()
        assert self._ready.wait(10), "the test server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0)
        )
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            self._loop.run_until_complete(self._server.wait_closed())

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            self.requests.append(head + await reader.readexactly(length))
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(self.body)}\r\nConnection: close\r\n\r\n".encode()
                + self.body
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def texts_of(error: BaseException) -> list[str]:
    """All a user could print of ``error``, with everything chained to it."""
    texts = [repr(error), str(error), *map(repr, error.args)]
    texts += [str(getattr(error, name, "") or "") for name in ("message", "body")]
    texts.append("".join(traceback.format_exception(type(error), error, error.__traceback__)))
    for chained in (error.__cause__, error.__context__):
        if chained is not None:
            texts += texts_of(chained)
    return texts


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    param: str = request.param
    return param


def client_for(flavour: str, base_url: str) -> Api:
    cls = vatel.Client if flavour == "sync" else vatel.AsyncClient
    return Api(cls(api_key=KEY, base_url=base_url, max_retries=0))


async def mint(flavour: str, body: bytes, **options: Any) -> vatel.SessionToken | BaseException:
    """What ``session_token("agent_1")`` gives when the answer is ``body``."""
    with TokenServer(body) as server:
        api = client_for(flavour, server.url)
        try:
            return await api(lambda c: c.session_token("agent_1", **options))
        except vatel.VatelError as exc:
            return exc
        finally:
            await api.close()
            assert len(server.requests) == 1


# -- against the mock --------------------------------------------------------------


@pytest.mark.timeout(20)
async def test_a_minted_token_from_the_mock(api: Api, server: MockServer) -> None:
    agent_id = server.agent_ids[0]
    token = await api(lambda c: c.session_token(agent_id))
    assert type(token) is vatel.SessionToken
    assert token.agent_id == agent_id and token.version_id is None
    assert token.token.count(".") == 2
    assert token.room is None and token.webrtc_token is None and token.extra == {}
    assert token.expires_at is not None and token.expires_at > datetime.now(timezone.utc)
    assert token.token not in repr(token) and token.token not in str(token)
    # What ``vatel token --json`` prints: wire names, no empty members.
    assert token.model_dump(mode="json", by_alias=True, exclude_none=True) == {
        "token": token.token,
        "agent_id": agent_id,
    }


@pytest.mark.timeout(20)
async def test_a_webrtc_token_keeps_the_media_credentials_hidden(
    api: Api, server: MockServer
) -> None:
    token = await api(lambda c: c.session_token(server.agent_ids[0], transport="webrtc"))
    assert token.room and token.identity and token.url and token.webrtc_token
    assert token.room in repr(token)
    for secret in (token.token, token.webrtc_token):
        assert secret not in repr(token)


# -- against a server of the test's own ----------------------------------------------


@pytest.mark.timeout(20)
async def test_every_member_of_the_answer_is_read(flavour: str) -> None:
    body = {
        "token": JWT,
        "room": "room-1",
        "identity": "caller",
        "url": "wss://media.example/rtc",
        "webrtc_token": MEDIA_JWT,
        "region": "eu-west",
        "limits": {"minutes": 30},
    }
    with memory_bound(8):
        token = await mint(flavour, json.dumps(body).encode(), version_id="v1")
    assert isinstance(token, vatel.SessionToken), repr(token)
    assert (token.token, token.agent_id, token.version_id) == (JWT, "agent_1", "v1")
    assert (token.room, token.identity, token.url) == (
        "room-1",
        "caller",
        "wss://media.example/rtc",
    )
    assert token.webrtc_token == MEDIA_JWT
    assert token.extra == {"region": "eu-west", "limits": {"minutes": 30}}
    assert token.model_extra == token.extra
    assert token.expires_at == datetime(2100, 1, 1, tzinfo=timezone.utc)
    # Unknown members may be new credentials: repr names them, never their values.
    assert "region" in repr(token) and "eu-west" not in repr(token)
    for secret in (JWT, MEDIA_JWT):
        assert secret not in repr(token)
    assert token.model_dump() == {**body, "agent_id": "agent_1", "version_id": "v1"}


BAD_BODIES = [
    pytest.param(b"[]", "body: Input should be an object", id="array"),
    pytest.param(b"null", "body: Input should be an object", id="null"),
    pytest.param(f'"{JWT}"'.encode(), "body: Input should be an object", id="string"),
    pytest.param(b"{}", "token: Field required", id="no-token"),
    pytest.param(b'{"token": null}', "token: Input should be a valid string", id="null-token"),
    pytest.param(b'{"token": 5}', "token: Input should be a valid string", id="number-token"),
    pytest.param(
        f'{{"token": ["{JWT}"]}}'.encode(), "token: Input should be a valid string", id="list"
    ),
    pytest.param(
        f'{{"token": "{JWT}", "room": 7}}'.encode(),
        "room: Input should be a valid string (1 error(s))",
        id="bad-room",
    ),
    pytest.param(
        f'{{"token": "{PLAIN}", "webrtc_token": "{MEDIA_JWT}", "url": 1, "room": []}}'.encode(),
        "room: Input should be a valid string (2 error(s))",
        id="plain-token-two-errors",
    ),
    pytest.param(
        f'{{"token": "{PLAIN}", "identity": false}}'.encode(),
        "identity: Input should be a valid string",
        id="plain-token",
    ),
    pytest.param(f'{{"token": "{JWT}"'.encode(), "body: Invalid JSON", id="cut-short"),
    pytest.param(f"{{'token': '{JWT}'}}".encode(), "body: Invalid JSON", id="single-quotes"),
    pytest.param(b"\xff\xfe" + JWT.encode(), "body: Invalid JSON", id="not-utf8"),
    pytest.param(b"", "body: Invalid JSON", id="empty"),
    pytest.param(b"[" * 200_000, "body: Invalid JSON", id="nested-too-deep"),
    pytest.param(b'{"token": ' + b"[" * 200_000, "body: Invalid JSON", id="token-nested-too-deep"),
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("body", "expected"), BAD_BODIES)
async def test_a_body_breaking_the_contract_is_refused_without_the_token(
    flavour: str, body: bytes, expected: str
) -> None:
    with memory_bound(16):
        error = await mint(flavour, body)
    assert isinstance(error, vatel.APIResponseValidationError), repr(error)
    assert str(error).startswith(
        "Response to POST /v1/session-token does not match the contract: " + expected
    )
    assert error.status_code == 200
    for secret in (JWT, MEDIA_JWT, PLAIN, KEY):
        for text in texts_of(error):
            assert secret not in text, text[:300]


# -- what a cold process imports ----------------------------------------------------


_MODULES_AT_EXIT = """
import atexit, sys
def _report():
    loaded = sorted(m for m in sys.modules if m == "pydantic" or m.startswith("vatel._model"))
    sys.stderr.write("LOADED=" + ",".join(loaded) + "\\n")
atexit.register(_report)
"""

_SYNC = """
import os, vatel
with vatel.Client(base_url=os.environ["VATEL_BASE_URL"]) as client:
    print(client.session_token(os.environ["AGENT_ID"]).agent_id)
"""

_ASYNC = """
import asyncio, os, vatel
async def main():
    async with vatel.AsyncClient(base_url=os.environ["VATEL_BASE_URL"]) as client:
        print((await client.session_token(os.environ["AGENT_ID"])).agent_id)
asyncio.run(main())
"""

_CLI = """
import sys
from vatel._cli import main
main(["token", sys.argv[1]])
"""


@pytest.mark.timeout(60)
def test_a_cold_process_mints_a_token_without_pydantic(shared_server: MockServer) -> None:
    agent_id = shared_server.agent_ids[0]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
        "VATEL_API_KEY": shared_server.api_key,
        "VATEL_BASE_URL": shared_server.base_url,
        "AGENT_ID": agent_id,
    }
    scripts = {"sync": _SYNC, "async": _ASYNC, "cli": _CLI}
    processes = {
        name: subprocess.Popen(
            [sys.executable, "-c", _MODULES_AT_EXIT + script, agent_id],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, script in scripts.items()
    }
    for name, process in processes.items():
        try:
            stdout, stderr = process.communicate(timeout=45)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        assert process.returncode == 0, f"{name}: {stderr[-2000:]}"
        if name == "cli":
            assert stdout.strip().count(".") == 2, name
        else:
            assert stdout.strip() == agent_id, name
        assert "LOADED=\n" in stderr, f"{name} imported {stderr.rpartition('LOADED=')[2]}"
