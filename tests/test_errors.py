"""One error tree: what the server or the network did is an ``APIError``, the
caller's own mistakes are not (but are ``VatelError`` and their builtin), and a
status error keeps the answer's headers, request id and a small copy of the
response, none of them holding the API key or the session token."""

from __future__ import annotations

import asyncio
import gc
import inspect
import json
import threading
import traceback
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest

import vatel
from vatel._constants import ERROR_BODY_LIMIT
from vatel.testing import MockServer

FLAVOURS = pytest.mark.parametrize("flavour", ["sync", "async"])
MiB = 2**20

KEY = "vk_test_" + "errors0key0" * 3
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJhZ2VudF9pZCI6ImFnXzEifQ.c2VjcmV0LXNpZ25hdHVyZQ"

REMOTE = {
    vatel.APIStatusError,
    vatel.BadRequestError,
    vatel.AuthenticationError,
    vatel.PermissionDeniedError,
    vatel.NotFoundError,
    vatel.ConflictError,
    vatel.RateLimitError,
    vatel.InternalServerError,
    vatel.APIConnectionError,
    vatel.APITimeoutError,
    vatel.APIResponseValidationError,
    vatel.ConnectionClosedError,
    vatel.ProtocolError,
    vatel.ResponseTooLargeError,
}
LOCAL: dict[type[Exception], type[Exception]] = {
    vatel.ConfigurationError: ValueError,
    vatel.AudioFormatError: ValueError,
    vatel.ClientClosedError: RuntimeError,
    vatel.SessionEndedError: RuntimeError,
    vatel.ToolOutputError: TypeError,
    vatel.ValidationError: ValueError,
}
# Raised by a tool's own code to answer the agent, never by the SDK.
RAISED_BY_TOOLS = {vatel.ToolError}


def public_exceptions() -> set[type[BaseException]]:
    found = {getattr(vatel, name) for name in vatel.__all__}
    return {c for c in found if inspect.isclass(c) and issubclass(c, BaseException)}


# -- the tree ---------------------------------------------------------------------------


def test_every_public_exception_is_sorted_into_remote_or_local() -> None:
    unsorted = public_exceptions() - REMOTE - set(LOCAL) - RAISED_BY_TOOLS
    unsorted -= {vatel.VatelError, vatel.APIError}
    assert unsorted == set(), "a new exception class must be placed in the tree"


@pytest.mark.parametrize("cls", sorted(public_exceptions() - RAISED_BY_TOOLS, key=str))
def test_every_public_exception_the_sdk_raises_is_a_vatel_error(cls: type) -> None:
    assert issubclass(cls, vatel.VatelError)


@pytest.mark.parametrize("cls", sorted(REMOTE, key=str))
def test_what_the_server_or_network_did_is_an_api_error(cls: type) -> None:
    assert issubclass(cls, vatel.APIError)


@pytest.mark.parametrize("cls", sorted(LOCAL, key=str))
def test_a_local_error_is_its_builtin_and_no_api_error(cls: type) -> None:
    assert issubclass(cls, vatel.VatelError) and issubclass(cls, LOCAL[cls])
    assert not issubclass(cls, vatel.APIError)


def test_the_tool_signal_stays_outside_the_tree() -> None:
    # ``except vatel.VatelError`` around a session must not swallow the
    # exception a tool raises to answer the agent.
    assert not issubclass(vatel.ToolError, vatel.VatelError)


def test_status_errors_built_the_old_way_still_work() -> None:
    error = vatel.NotFoundError("agent not found", status_code=404, body="{}")
    assert (error.headers, error.request_id, error.response) == (httpx.Headers(), None, None)
    assert str(error) == "404 agent not found"


# -- helpers ----------------------------------------------------------------------------


async def run(call: Callable[[], Any]) -> Any:
    """``call()``'s result; an awaitable one is awaited (the async flavour)."""
    result = call()
    if inspect.isawaitable(result):
        return await result
    return result


def outcome(make: Callable[[], Awaitable[Any] | Any]) -> BaseException:
    """The exception ``make()`` raises, run on a fresh event loop for async."""

    async def main() -> Any:
        return await run(make)

    try:
        asyncio.run(main())
    except BaseException as exc:  # The test inspects what came out.
        return exc
    raise AssertionError("the call was expected to fail")


def texts_of(obj: object) -> list[str]:
    """Everything a user could print of an error, its attributes and its response."""
    texts = [repr(obj), str(obj)]
    if isinstance(obj, BaseException):
        texts += [repr(arg) for arg in obj.args]
        texts += [repr(value) for value in vars(obj).values()]
        texts.append("".join(traceback.format_exception(type(obj), obj, obj.__traceback__)))
        for chained in (obj.__cause__, obj.__context__):
            if chained is not None:
                texts += texts_of(chained)
    headers = getattr(obj, "headers", None)
    if isinstance(headers, httpx.Headers):
        texts += [repr(headers), repr(headers.raw), json.dumps(dict(headers))]
    response = getattr(obj, "response", None)
    if isinstance(response, httpx.Response):
        texts += [repr(response), response.text, repr(response.headers.raw)]
        request = response.request
        texts += [repr(request), str(request.url), repr(request.headers.raw), repr(request.content)]
    return texts


def assert_not_shown(secret: str, error: BaseException) -> None:
    leaks = [text[:200] for text in texts_of(error) if secret in text]
    assert not leaks, f"the secret shows in {type(error).__name__}: {leaks[0]!r}"


class RawServer:
    """An asyncio server of the test's own, on its own loop in a thread: it reads
    a request head, writes what ``reply(head)`` yields, and hangs up."""

    def __init__(self, reply: Callable[[bytes], Iterator[bytes]]) -> None:
        self.reply = reply
        self.heads: list[bytes] = []
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.heads.append(head)
            for chunk in self.reply(head):
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # The client hung up once it had read enough.
        finally:
            writer.close()

    def __enter__(self) -> RawServer:
        self._thread.start()
        assert self._ready.wait(5), "the test server did not start"
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)


def header_of(head: bytes, name: bytes) -> bytes:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    return b""


def answer(status: str, body: bytes, *headers: tuple[bytes, bytes]) -> bytes:
    lines = [b"HTTP/1.1 " + status.encode(), *(k + b": " + v for k, v in headers)]
    lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def rest_client(flavour: str, port: int, **options: Any) -> vatel.Client | vatel.AsyncClient:
    cls = vatel.Client if flavour == "sync" else vatel.AsyncClient
    return cls(api_key=KEY, base_url=f"http://127.0.0.1:{port}", max_retries=0, **options)


def rest_failure(
    flavour: str,
    client: vatel.Client | vatel.AsyncClient,
    http_client: httpx.Client | httpx.AsyncClient | None = None,
) -> BaseException:
    """The exception ``client.organization.get()`` raises; the clients are closed
    on the loop that used them."""

    async def scenario() -> None:
        try:
            await run(client.organization.get)
        finally:
            await run(client.close)
            if isinstance(http_client, httpx.AsyncClient):
                await http_client.aclose()
            elif http_client is not None:
                http_client.close()

    return outcome(scenario)


# -- local errors over loopback ---------------------------------------------------------


@pytest.mark.timeout(20)
@FLAVOURS
def test_bad_audio_is_no_api_error_but_a_vatel_and_value_error(flavour: str) -> None:
    caught: list[str] = []

    async def scenario(server: MockServer) -> None:
        agent_id = server.agent_ids[0]
        token = server.issue_token(agent_id)
        url = f"ws://127.0.0.1:{server.port}/v1/connection?token={token}&agentId={agent_id}"
        conn: Any = vatel.connect(url) if flavour == "sync" else await vatel.connect_async(url)
        for bad in (b"\x01\x02\x03", "%%%"):
            send = conn.send_input_audio_bytes if isinstance(bad, bytes) else conn.send_input_audio
            try:
                try:
                    await run(lambda send=send, bad=bad: send(bad))
                except vatel.APIError:
                    caught.append("APIError")
            except vatel.VatelError as error:
                caught.append("VatelError")
                assert isinstance(error, ValueError)
                assert isinstance(error, vatel.AudioFormatError)
        try:
            await run(lambda: conn.send_input_audio_bytes(b"\x07\x00"))
        finally:
            await run(conn.close)

    with MockServer(pace=0) as server:
        asyncio.run(scenario(server))
        session = server.sessions[-1]
        assert session.wait_closed(5)
    assert caught == ["VatelError", "VatelError"], "except APIError caught bad audio"
    assert session.received_audio == b"\x07\x00", "nothing of the bad audio was sent"


@pytest.mark.timeout(10)
@FLAVOURS
def test_a_malformed_session_url_is_a_configuration_error(flavour: str) -> None:
    url = f"ws://127.0.0.1:99999/v1/connection?token={TOKEN}"
    opener = vatel.connect if flavour == "sync" else vatel.connect_async
    error = outcome(lambda: opener(url))
    assert isinstance(error, vatel.ConfigurationError) and isinstance(error, ValueError)
    assert not isinstance(error, vatel.APIError), "nothing went to the network"
    assert_not_shown(TOKEN, error)


@pytest.mark.timeout(10)
@FLAVOURS
def test_a_missing_api_key_is_a_configuration_error(
    flavour: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VATEL_API_KEY", raising=False)
    cls = vatel.Client if flavour == "sync" else vatel.AsyncClient
    with pytest.raises(vatel.ConfigurationError, match="VATEL_API_KEY") as info:
        cls(base_url="http://127.0.0.1:9")
    assert not isinstance(info.value, vatel.APIError)


@pytest.mark.timeout(10)
@FLAVOURS
def test_a_request_on_a_closed_client_is_no_api_error(flavour: str) -> None:
    def reply(head: bytes) -> Iterator[bytes]:
        yield answer("200 OK", b'{"id":"org_1","name":"o"}', (b"Content-Type", b"application/json"))

    with RawServer(reply) as server:
        client = rest_client(flavour, server.port)
        asyncio.run(run(client.close))
        error = rest_failure(flavour, client)
    assert isinstance(error, vatel.ClientClosedError) and isinstance(error, RuntimeError)
    assert not isinstance(error, vatel.APIError)
    assert server.heads == [], "nothing was sent"


# -- status errors keep their response --------------------------------------------------


@pytest.mark.timeout(15)
@FLAVOURS
@pytest.mark.parametrize(
    ("status", "cls"),
    [
        ("401 Unauthorized", vatel.AuthenticationError),
        ("503 Unavailable", vatel.InternalServerError),
    ],
)
def test_a_rest_status_error_carries_headers_request_id_and_response(
    flavour: str, status: str, cls: type
) -> None:
    def reply(head: bytes) -> Iterator[bytes]:
        sent = header_of(head, b"authorization")  # "Bearer <key>", echoed back
        body = json.dumps({"error": f"bad credentials {sent.decode()}"}).encode()
        yield answer(
            status,
            body,
            (b"Content-Type", b"application/json"),
            (b"X-Request-Id", b"req_7f3a"),
            (b"X-Echo-Authorization", sent),
            (b"X-Echo-Key", sent.removeprefix(b"Bearer ")),
            (b"X-Note", b"caf\xe9"),
        )

    with RawServer(reply) as server:
        error = rest_failure(flavour, rest_client(flavour, server.port))
    assert header_of(server.heads[0], b"authorization") == b"Bearer " + KEY.encode()
    assert isinstance(error, cls), repr(error)
    assert error.headers["x-request-id"] == "req_7f3a" and error.request_id == "req_7f3a"
    assert [v for k, v in error.headers.raw if k.lower() == b"x-note"] == [b"caf\xe9"]
    assert KEY not in error.headers["x-echo-key"] and "***" in error.headers["x-echo-key"]
    response = error.response
    assert isinstance(response, httpx.Response)
    assert response.status_code == error.status_code == int(status[:3])
    assert response.headers["x-request-id"] == "req_7f3a"
    assert response.text == error.body and "bad credentials" in response.text
    assert (response.request.method, response.request.url.path) == ("GET", "/v1/organization")
    assert response.request.headers["authorization"] == "***"
    assert_not_shown(KEY, error)


def body_of(size: int) -> Callable[[bytes], Iterator[bytes]]:
    def reply(head: bytes) -> Iterator[bytes]:
        yield (
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
            b"Content-Length: " + str(size).encode() + b"\r\n\r\n"
        )
        for _ in range(size // (64 * 1024)):
            yield b"x" * (64 * 1024)

    return reply


def reading_http_client(flavour: str) -> httpx.Client | httpx.AsyncClient:
    """An ``http_client`` whose event hook reads every body before the SDK sees it."""
    if flavour == "sync":
        return httpx.Client(event_hooks={"response": [lambda r: r.read()]})

    async def read(response: httpx.Response) -> None:
        await response.aread()

    return httpx.AsyncClient(event_hooks={"response": [read]})


@pytest.mark.timeout(20)
@FLAVOURS
@pytest.mark.parametrize("hook", [False, True], ids=["streamed", "read-by-event-hook"])
def test_a_status_error_keeps_at_most_the_capped_body(flavour: str, hook: bool) -> None:
    size = 4 * MiB
    http_client = reading_http_client(flavour) if hook else None
    gc.collect()
    tracemalloc.start()
    try:
        with RawServer(body_of(size)) as server:
            client = rest_client(flavour, server.port, http_client=http_client)
            error = rest_failure(flavour, client, http_client)
            del client, http_client
        assert isinstance(error, vatel.InternalServerError), repr(error)
        assert error.response is not None
        assert len(error.response.content) == len(error.body) == ERROR_BODY_LIMIT
        gc.collect()
        with_error, peak = tracemalloc.get_traced_memory()
        del error
        gc.collect()
        without, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    kept = with_error - without
    assert kept < MiB / 2, f"the error keeps {kept / MiB:.1f} MiB alive"
    bound = 3 * size if hook else 2 * MiB  # a streamed body is never read past the cap
    assert peak < bound, f"peak {peak / MiB:.1f} MiB"


# -- a refused voice handshake ------------------------------------------------------------


@pytest.mark.timeout(15)
@FLAVOURS
@pytest.mark.parametrize(
    ("status", "cls"),
    [
        ("403 Forbidden", vatel.PermissionDeniedError),
        ("401 Unauthorized", vatel.AuthenticationError),
        ("302 Found", vatel.APIStatusError),
    ],
)
def test_a_refused_handshake_carries_headers_and_request_id(
    flavour: str, status: str, cls: type
) -> None:
    def reply(head: bytes) -> Iterator[bytes]:
        target = head.split(b" ")[1]  # the request target, token and all, echoed back
        body = json.dumps({"error": f"refused {target.decode()}"}).encode()
        yield answer(
            status,
            body,
            (b"Content-Type", b"application/json"),
            (b"X-Request-Id", b"ws_req_91"),
            (b"X-Echo-Target", target),
            (b"X-Echo-Token", TOKEN.encode()),
            (b"X-Note", b"caf\xe9"),
            (b"Location", b"ws://127.0.0.1:9/elsewhere?token=" + TOKEN.encode()),
        )

    with RawServer(reply) as server:
        url = f"ws://127.0.0.1:{server.port}/v1/connection?token={TOKEN}&agentId=ag_1"
        opener = vatel.connect if flavour == "sync" else vatel.connect_async
        error = outcome(lambda: opener(url, open_timeout=5))
    assert TOKEN.encode() in server.heads[0], "the token was really sent, and echoed"
    assert type(error) is cls, repr(error)
    assert error.status_code == int(status[:3])
    assert error.headers["x-request-id"] == "ws_req_91" and error.request_id == "ws_req_91"
    assert [v for k, v in error.headers.raw if k.lower() == b"x-note"] == [b"caf\xe9"]
    assert "***" in error.headers["x-echo-token"]
    assert error.response is None, "only a REST answer is kept as a response"
    assert_not_shown(TOKEN, error)
