"""The REST clients against servers of the tests' own that misbehave on purpose:
echoing credentials back, trickling bytes, sending huge error bodies or junk
``Retry-After`` values, speaking plain HTTP to an ``https://`` client; and the
configuration that must fail before anything is sent. Sync and async alike."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hostile_rest_support import (
    ORG_JSON,
    RawServer,
    answer,
    assert_not_shown,
    raw_server,
    response,
)

import vatel
from _support import Api, memory_bound
from vatel import _http_pool
from vatel._exceptions import ClientClosedError, ConfigurationError

pytestmark = pytest.mark.anyio

KEY = "vk_test_h0stileKey1234567890"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJob3N0aWxlLXNlc3Npb24ifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


@pytest.fixture(autouse=True)
def bounded_memory() -> Iterator[None]:
    """No hostile test may make the client hold more than a few MiB."""
    with memory_bound(24):
        yield


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    param: str = request.param
    return param


def client_for(flavour: str, base_url: str, **options: Any) -> Api:
    cls = vatel.Client if flavour == "sync" else vatel.AsyncClient
    options.setdefault("api_key", KEY)
    return Api(cls(base_url=base_url, **options))


async def failure(api: Api, operation: Any) -> BaseException:
    try:
        await api(operation)
    except BaseException as exc:  # The test inspects what came out.
        return exc
    raise AssertionError("the call was expected to fail")


def sent_key(request: bytes) -> bytes | None:
    for line in request.split(b"\r\n"):
        if line.lower().startswith(b"authorization:"):
            return line.split(b":", 1)[1].strip()
    return None


# -- 1. keys read from files, and keys that cannot be sent ------------------------------


@pytest.mark.timeout(20)
@pytest.mark.parametrize("raw", [KEY + "\n", KEY + "\r\n", f"\t {KEY} \r\n\n"])
async def test_a_key_read_from_a_file_is_sent_without_its_whitespace(
    flavour: str, raw: str
) -> None:
    with raw_server(answer(response("200 OK", ORG_JSON))) as server:
        api = client_for(flavour, server.url, api_key=raw)
        assert (await api(lambda c: c.organization.get())).id == "org_1"
        await api.close()
    assert [sent_key(r) for r in server.requests] == [f"Bearer {KEY}".encode()]


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("raw", "position", "kind"),
    [
        (KEY + "\r\nX-Injected: yes", len(KEY) + 1, "control character"),
        (KEY[:10] + "\nX-Injected: yes", 11, "control character"),
        (KEY[:12] + "\x00" + KEY[12:], 13, "control character"),
        (KEY[:9] + " " + KEY[9:], 10, "space"),
        ("  " + KEY[:9] + "é" + KEY[9:], 12, "non-ASCII"),
    ],
)
async def test_a_key_that_cannot_travel_in_a_header_is_refused_before_anything_is_sent(
    flavour: str, raw: str, position: int, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with raw_server(answer(response("200 OK", ORG_JSON))) as server:
        sources = ("argument", "environment") if "\x00" not in raw else ("argument",)
        for source in sources:
            if source == "environment":
                monkeypatch.setenv("VATEL_API_KEY", raw)
            with pytest.raises(ConfigurationError) as info:
                client_for(flavour, server.url, api_key=raw if source == "argument" else None)
            error = info.value
            assert isinstance(error, ValueError) and not isinstance(error, vatel.APIError)
            assert f"position {position}" in str(error) and kind in str(error)
            assert_not_shown(KEY[:9], error)
    assert server.connections == 0, "nothing reached the wire"


@pytest.mark.timeout(20)
async def test_a_local_protocol_error_is_not_retried_and_keeps_the_key_out(
    flavour: str, waits: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    headers = {"X-Trace": f"{KEY}\r\nX-Injected: yes"}
    http: Any = httpx.Client(headers=headers) if flavour == "sync" else None
    if http is None:
        http = httpx.AsyncClient(headers=headers)
    with raw_server(answer(response("200 OK", ORG_JSON))) as server:
        api = client_for(flavour, server.url, http_client=http)
        error = await failure(api, lambda c: c.organization.get())
        if flavour == "sync":
            http.close()
        else:
            await http.aclose()
    assert isinstance(error, vatel.APIConnectionError), repr(error)
    assert waits == [], "a request that cannot be written is not sent again"
    assert server.requests == [], "no header with a line break reached the server"
    assert_not_shown(KEY, error)
    assert all(KEY not in r.getMessage() for r in caplog.records)


# -- 2. secrets echoed back, by value and by shape ----------------------------------------


def echo_handler(status: str) -> Any:
    """Echo the request's Authorization value in the body and in two headers."""

    def handle(conn: socket.socket, request: bytes) -> None:
        value = (sent_key(request) or b"").decode()
        bare = value.removeprefix("Bearer ")
        body = f'{{"error": "refused {value}", "key": "{bare}", "raw": "{bare}"}}'.encode()
        conn.sendall(
            response(
                status,
                body,
                [("X-Echo", bare), ("WWW-Authenticate", value), ("Retry-After", "0")],
            )
        )

    return handle


@pytest.mark.timeout(20)
@pytest.mark.parametrize("status", ["401 Unauthorized", "400 Bad Request", "500 Oops"])
async def test_a_key_echoed_in_the_error_body_and_headers_never_shows(
    flavour: str, status: str, waits: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with raw_server(echo_handler(status)) as server:
        api = client_for(flavour, server.url)
        error = await failure(api, lambda c: c.organization.get())
        await api.close()
    assert isinstance(error, vatel.APIStatusError)
    assert KEY not in (error.body or "") and "refused" in (error.body or "")
    assert_not_shown(KEY, error)
    logged = [r.getMessage() for r in caplog.records]
    assert any("X-Echo" in text for text in logged), "httpcore logged the echoing headers"
    assert all(KEY not in text for text in logged)


@pytest.mark.timeout(20)
async def test_a_key_echoed_in_a_header_of_a_retried_answer_stays_out_of_the_logs(
    flavour: str, waits: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    unavailable = response("503 Service Unavailable", b"", [("X-Echo", KEY)])
    with raw_server(answer(unavailable, response("200 OK", ORG_JSON))) as server:
        api = client_for(flavour, server.url)
        assert (await api(lambda c: c.organization.get())).id == "org_1"
        await api.close()
    logged = [r.getMessage() for r in caplog.records]
    assert any(r.startswith("Retrying GET /v1/organization") for r in logged)
    assert all(KEY not in text for text in logged)


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    "body",
    [
        f'{{"jwt": "{JWT}"}}',
        f'"{JWT}"',
        f'{{"token": "{JWT}',
        f'{{"data": {{"nested": "{JWT}"}}, "token": 5}}',
        f'{{"token": 5, "url": "wss://x/?t={JWT[:30]}',
        f"[{JWT}]",
    ],
)
async def test_a_malformed_session_token_answer_keeps_the_token_out(
    flavour: str, body: str, waits: list[float]
) -> None:
    ok = response("200 OK", body.encode(), [("Content-Type", "application/json")])
    with raw_server(answer(ok)) as server:
        api = client_for(flavour, server.url)
        error = await failure(api, lambda c: c.session_token("agent_1"))
        await api.close()
    assert isinstance(error, vatel.APIResponseValidationError), repr(error)
    assert error.body and "***" in error.body
    assert len(server.requests) == 1
    for secret in (JWT, JWT[:30], KEY):
        assert_not_shown(secret, error)


# -- 3. a deadline per attempt -------------------------------------------------------------


def trickle_body(conn: socket.socket, request: bytes) -> None:
    """Headers at once, then one byte of the body every 50 ms."""
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n"
    )
    for _ in range(400):
        conn.sendall(b" ")
        time.sleep(0.05)


def trickle_headers(conn: socket.socket, request: bytes) -> None:
    """The status line, then one byte of a header every 50 ms."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    for _ in range(400):
        conn.sendall(b"a")
        time.sleep(0.05)


@pytest.mark.timeout(15)
@pytest.mark.parametrize("handler", [trickle_body, trickle_headers])
async def test_a_trickling_server_cannot_outlast_the_time_out(
    flavour: str, handler: Any, waits: list[float]
) -> None:
    with raw_server(handler) as server:
        api = client_for(flavour, server.url, timeout=0.2, max_retries=0)
        error = await failure(api, lambda c: c.organization.get())
        assert isinstance(error, vatel.APITimeoutError), repr(error)
        assert "0.2 s" in str(error)
        # An idempotent GET is tried again, a POST (maybe carried out) is not.
        retried = api.client.with_options(max_retries=1)
        again = await failure(Api(retried), lambda c: c.organization.get())
        assert isinstance(again, vatel.APITimeoutError) and len(waits) == 1
        once = await failure(Api(retried), lambda c: c.agents.create(name="slow"))
        assert isinstance(once, vatel.APITimeoutError) and len(waits) == 1
        await api.close()
    assert server.connections == 1 + 2 + 1


# -- 4. huge error bodies ----------------------------------------------------------------

HUGE = 50 * 1024 * 1024


def huge_error(conn: socket.socket, request: bytes) -> None:
    """A 500 whose 50 MB body is one JSON error string (with credential-like words
    all along, for the redaction to chew on), sent until the client hangs up."""
    conn.sendall(
        b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % HUGE
    )
    conn.sendall(b'{"error": "')
    chunk = b"token=abc Bearer xyz " * 3120
    for _ in range(HUGE // len(chunk)):
        conn.sendall(chunk)


@pytest.mark.timeout(30)
async def test_a_50_mb_error_body_is_read_only_up_to_the_cap(
    flavour: str, waits: list[float]
) -> None:
    ticks = 0
    stop = asyncio.Event()

    async def heartbeat() -> None:
        nonlocal ticks
        while not stop.is_set():
            await asyncio.sleep(0.001)
            ticks += 1

    with raw_server(huge_error) as server:
        api = client_for(flavour, server.url, max_retries=0)
        beat = asyncio.create_task(heartbeat()) if flavour == "async" else None
        with memory_bound(8):
            error = await failure(api, lambda c: c.organization.get())
        stop.set()
        if beat is not None:
            await beat
        await api.close()
    assert isinstance(error, vatel.InternalServerError)
    assert error.body and len(error.body) <= 64 * 1024
    assert error.body.startswith('{"error": "token=***')
    assert len(str(error)) <= 1100 and len(error.message) <= 1024
    if beat is not None:
        assert ticks >= 3, "the event loop kept running while the error was produced"


@pytest.mark.timeout(20)
async def test_a_long_error_string_gives_a_short_message(flavour: str, waits: list[float]) -> None:
    body = b'{"error": "' + b"e" * 5_000 + b'"}'
    with raw_server(answer(response("400 Bad Request", body))) as server:
        api = client_for(flavour, server.url)
        error = await failure(api, lambda c: c.organization.get())
        await api.close()
    assert isinstance(error, vatel.BadRequestError)
    assert len(error.message) == 1024 and error.message.endswith("…")
    assert error.body == body.decode(), "the body is under the cap: kept whole"


# -- 5. Retry-After junk -------------------------------------------------------------------


@pytest.mark.timeout(20)
@pytest.mark.parametrize("value", ["1_0", "\u0661\u0660", "inf", "nan", "1e9"])
async def test_a_junk_retry_after_counts_as_absent(
    flavour: str, value: str, waits: list[float]
) -> None:
    busy = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n"
    busy += b"Retry-After: " + value.encode() + b"\r\n\r\n"
    with raw_server(answer(busy, response("200 OK", ORG_JSON))) as server:
        api = client_for(flavour, server.url)
        assert (await api(lambda c: c.organization.get())).id == "org_1"
        await api.close()
    assert len(waits) == 1 and 0.25 <= waits[0] <= 0.5, "the backoff, not the junk"


# -- 6. base URLs ----------------------------------------------------------------------


@pytest.mark.timeout(20)
async def test_a_bare_host_means_https_and_never_sends_the_key_in_clear(
    flavour: str, waits: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    with raw_server(answer(response("200 OK", ORG_JSON))) as server:
        with caplog.at_level(logging.WARNING, logger="vatel"):
            api = client_for(flavour, f"127.0.0.1:{server.port}", max_retries=0)
        assert api.client.base_url == f"https://127.0.0.1:{server.port}"
        assert any("Write http://" in r.getMessage() for r in caplog.records)
        error = await failure(api, lambda c: c.organization.get())
        await api.close()
    assert isinstance(error, vatel.APIConnectionError)
    assert server.raw_first_bytes and server.raw_first_bytes[0][:1] == b"\x16", "TLS hello"
    assert server.requests == [], "no plain-text request, so no key in clear"


@pytest.mark.parametrize(
    ("base_url", "says"),
    [
        ("ftp://api.example.com", "not ftp://"),
        ("wss://api.example.com", "not wss://"),
        ("https://api example.com", "space"),
        ("https://api.example.com\n", None),
        ("https://", "no host"),
        ("https://:8443", "no host"),
        ("https://api.example.com?x=1", "query"),
        ("https://api.example.com/#top", "fragment"),
        (f"https://user:{KEY}@api.example.com", "password"),
        (f"{KEY}@api.example.com", "http:// or https://"),
        ("http:/api.example.com", "http:// or https://"),
        ("https://api.example.com:99999", "host and port"),
        ("https://api.example.com:port", "host and port"),
        ("https://[::1", "host and port"),
    ],
)
def test_a_base_url_that_cannot_be_right_fails_at_construction(
    base_url: str, says: str | None
) -> None:
    for cls in (vatel.Client, vatel.AsyncClient):
        if says is None:  # Surrounding whitespace only: dropped like a key's.
            assert cls(api_key=KEY, base_url=base_url).base_url == base_url.strip()
            continue
        with pytest.raises(ConfigurationError) as info:
            cls(api_key=KEY, base_url=base_url)
        assert says in str(info.value)
        assert_not_shown(KEY, info.value)


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("api.vatel.ai", "https://api.vatel.ai"),
        ("api.example.com:8443/base/", "https://api.example.com:8443/base"),
        ("HTTPS://Api.Example.com", "https://Api.Example.com"),
        ("http://localhost:8000/", "http://localhost:8000"),
        ("[::1]:8443", "https://[::1]:8443"),
    ],
)
def test_a_bare_host_or_odd_case_is_understood(given: str, used: str) -> None:
    assert vatel.Client(api_key=KEY, base_url=given).base_url == used
    assert vatel.AsyncClient(api_key=KEY, base_url=given).base_url == used


# -- 7. proxies ------------------------------------------------------------------------

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.mark.timeout(20)
@pytest.mark.parametrize("variable", ["HTTP_PROXY", "ALL_PROXY"])
async def test_rest_follows_the_proxy_environment_unless_told_not_to(
    flavour: str, variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    ok = answer(response("200 OK", ORG_JSON))
    with raw_server(ok) as target, raw_server(ok) as proxy:
        monkeypatch.setenv(variable, proxy.url)
        proxied = client_for(flavour, target.url)
        direct = client_for(flavour, target.url, trust_env=False)
        assert proxied.client.trust_env and not direct.client.trust_env
        await proxied(lambda c: c.organization.get())
        assert [r.split(b"\r\n")[0] for r in proxy.requests] == [
            f"GET {target.url}/v1/organization HTTP/1.1".encode()
        ], "the proxy got the absolute URL"
        assert target.requests == []
        await direct(lambda c: c.organization.get())
        assert len(target.requests) == 1 and len(proxy.requests) == 1
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        bypassing = client_for(flavour, target.url)
        await bypassing(lambda c: c.organization.get())
        assert len(target.requests) == 2 and len(proxy.requests) == 1
        for api in (proxied, direct, bypassing):
            await api.close()


def header_lists(request: bytes) -> dict[str, list[str]]:
    """Each header of a raw request, by lower-case name, with every value sent."""
    found: dict[str, list[str]] = {}
    for line in request.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        found.setdefault(name.strip().lower(), []).append(value.strip())
    return found


@pytest.mark.timeout(20)
@pytest.mark.parametrize("path", ["transport", "httpx client"])
async def test_each_request_has_the_usual_headers_once_and_no_cookie(
    flavour: str, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK's own pool sends straight to its transport, past httpx's client
    layers (or through them, with an httpx that cannot name the transport): a
    request still carries httpx's defaults under the SDK's headers, each once, and
    a cookie an answer sets is not sent back (the key authenticates)."""
    if path == "httpx client":
        monkeypatch.setattr(_http_pool, "_transport_of", lambda http, url: None)
    sets_cookie = response("200 OK", ORG_JSON, [("Set-Cookie", "route=b1; Path=/")])
    with raw_server(answer(sets_cookie)) as server:
        host = server.url.split("://", 1)[1]
        api = client_for(flavour, server.url)
        for _ in range(2):
            assert (await api(lambda c: c.organization.get())).id == "org_1"
        await api.close()
    assert len(server.requests) == 2
    for request in server.requests:
        assert request.startswith(b"GET /v1/organization HTTP/1.1\r\n")
        headers = header_lists(request)
        assert headers["host"] == [host]
        assert headers["authorization"] == [f"Bearer {KEY}"]
        assert headers["accept"] == ["application/json"]
        assert headers["user-agent"] == [f"vatel-python/{vatel.__version__}"]
        assert len(headers["accept-encoding"]) == 1 and "gzip" in headers["accept-encoding"][0]
        assert headers["connection"] == ["keep-alive"]
        assert "cookie" not in headers


class _ImportWatch:
    """A meta path finder that only notes what is searched for: a module already
    imported is never searched for, a missing one is searched for every time."""

    def __init__(self) -> None:
        self.searched: list[str] = []

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        self.searched.append(name)


@pytest.mark.timeout(20)
async def test_a_request_searches_for_no_module(flavour: str) -> None:
    """Once a first call has loaded what it needs, later ones import nothing: no
    failed import (httpcore asking for sniffio, a dependency for that reason)
    searching the file system on every request."""
    with raw_server(answer(response("200 OK", ORG_JSON))) as server:
        api = client_for(flavour, server.url)
        await api(lambda c: c.organization.get())
        watch = _ImportWatch()
        sys.meta_path.insert(0, watch)
        try:
            for _ in range(5):
                assert (await api(lambda c: c.organization.get())).id == "org_1"
        finally:
            sys.meta_path.remove(watch)
        await api.close()
    assert watch.searched == []


_IDNA_PROBE = """
import asyncio, sys, vatel
url, flavour = sys.argv[1], sys.argv[2]
if flavour == "sync":
    with vatel.Client(api_key="vk_test_probe", base_url=url, max_retries=0) as client:
        org = client.organization.get()
else:
    async def main():
        options = dict(api_key="vk_test_probe", base_url=url, max_retries=0)
        async with vatel.AsyncClient(**options) as client:
            return await client.organization.get()
    org = asyncio.run(main())
print(org.id, "encodings.idna" in sys.modules)
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_first_request_connects_without_loading_the_idna_codec(flavour: str, host: str) -> None:
    """Looking a host up from a str loads the idna codec, about a millisecond of
    a program's first request; the SDK's pool resolves the ASCII host it already
    has, by name or by address, without it."""
    import subprocess

    with raw_server(answer(response("200 OK", ORG_JSON))) as server:
        url = f"http://{host}:{server.port}"
        out = subprocess.run(
            [sys.executable, "-c", _IDNA_PROBE, url, flavour],
            capture_output=True,
            text=True,
            timeout=50,
        )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["org_1", "False"]
    assert len(server.requests) == 1


# -- 8. closed clients -------------------------------------------------------------------


@pytest.mark.timeout(20)
async def test_a_closed_client_says_so(flavour: str) -> None:
    with raw_server(answer(response("200 OK", ORG_JSON))) as server:
        api = client_for(flavour, server.url)
        clone = Api(api.client.with_options(max_retries=0))
        assert (await api(lambda c: c.organization.get())).id == "org_1"
        await api.close()
        for closed in (api, clone):
            error = await failure(closed, lambda c: c.organization.get())
            assert isinstance(error, ClientClosedError), repr(error)
            assert isinstance(error, RuntimeError) and not isinstance(error, vatel.APIError)
            assert "closed" in str(error)
        own: Any = httpx.Client() if flavour == "sync" else httpx.AsyncClient()
        theirs = client_for(flavour, server.url, http_client=own)
        if flavour == "sync":
            own.close()
        else:
            await own.aclose()
        error = await failure(theirs, lambda c: c.organization.get())
        assert isinstance(error, ClientClosedError)
    assert len(server.requests) == 1


@pytest.mark.timeout(20)
def test_an_async_client_works_across_two_asyncio_runs() -> None:
    def keep_alive(conn: socket.socket, request: bytes) -> None:
        # Keep-alive answers, so the first loop's pool holds a live connection.
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(ORG_JSON) + ORG_JSON)
        while True:
            more = conn.recv(65536)
            if not more:
                return
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(ORG_JSON) + ORG_JSON
            )

    with RawServer(keep_alive) as server:
        client = vatel.AsyncClient(api_key=KEY, base_url=server.url)
        first = asyncio.run(client.organization.get())
        second = asyncio.run(client.organization.get())
        asyncio.run(client.close())
        assert first.id == second.id == "org_1"
        assert server.connections == 2, "a new pool for the second loop"
        with pytest.raises(ClientClosedError):
            asyncio.run(client.organization.get())
