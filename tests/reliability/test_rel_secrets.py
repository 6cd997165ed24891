"""Secrets and TLS. The API key and session tokens show in nothing a user could print
(reprs, strs, error messages) in normal use or when things fail; log records are
watched by the suite's conftest. TLS certificates are verified by default, for REST
and voice alike, and trusting a private certificate takes a deliberate step."""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from rel_support import SelfSigned, assert_no_secret, injected

import vatel
from vatel.testing import MockServer

pytestmark = pytest.mark.anyio


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_nothing_a_user_can_print_shows_a_credential(
    server: MockServer, caplog: pytest.LogCaptureFixture, waits: list[float]
) -> None:
    caplog.set_level(logging.DEBUG)
    key = server.api_key
    printed: list[object] = []
    errors: list[BaseException] = []

    def expect_error(call: Any) -> None:
        try:
            call()
        except vatel.APIError as error:
            errors.append(error)
        else:
            raise AssertionError("an error was expected")

    client = vatel.Client(api_key=key, base_url=server.base_url)
    async_client = vatel.AsyncClient(api_key=key, base_url=server.base_url)
    printed += [
        client,
        async_client,
        client.with_options(max_retries=0),
        client.with_options(timeout=1),
        async_client.with_options(max_retries=5, timeout=2),
    ]
    agent_id = server.agent_ids[1]
    token = client.session_token(agent_id)
    async_token = await async_client.session_token(agent_id)
    tokens = [token.token, async_token.token]
    printed += [token, async_token, token.expires_at]

    # Open sessions, their events, and the same sessions closed.
    conn = client.connect(token)
    printed += [conn, conn.url, conn.recv(timeout=5)]
    pending = async_client.connect(async_token)
    printed.append(pending)  # AsyncConnect, before it is awaited
    async with pending as aconn:
        printed += [aconn, aconn.url, await aconn.recv(timeout=5)]
    conn.close()
    printed += [conn, aconn, vatel.ToolRouter()]
    expect_error(lambda: conn.send_input_audio_bytes(b"\x00\x00"))

    # Refused, failed and timed-out handshakes with a token in the URL.
    expired = server.issue_token(agent_id, ttl=-1)
    foreign = server.issue_token(server.foreign_agent_id)
    tokens += [expired, foreign]
    expect_error(lambda: client.connect(expired, agent_id=agent_id))
    expect_error(lambda: client.connect(foreign, agent_id=server.foreign_agent_id))
    expect_error(lambda: client.connect(foreign, agent_id=agent_id))
    url = client.connection_url(token).replace(str(server.port), str(free_port()))
    expect_error(lambda: vatel.connect(url, open_timeout=2))
    server.faults.hang_handshake()
    injected("voice hung handshake")
    expect_error(lambda: client.connect(token, open_timeout=0.3))
    try:
        await async_client.connect(expired, agent_id=agent_id)
    except vatel.APIError as error:
        errors.append(error)

    # REST errors, including bodies that echo a credential back.
    server.fail_next(1, 401, body={"error": f"bad key {key}"})
    expect_error(lambda: client.organization.get())
    server.fail_next(1, 400, body={"error": "revoked", "token": token.token})
    expect_error(lambda: client.organization.get())
    server.fail_next(1, 500, body=f"upstream said Bearer {key}", method="POST")
    expect_error(lambda: client.agents.create(name="x"))
    server.faults.reset_next(method="POST", path="/v1/session-token")
    injected("REST reset mid-body")
    expect_error(lambda: client.session_token(agent_id))
    server.faults.truncate_next(method="POST", path="/v1/session-token")
    injected("REST truncated JSON")
    expect_error(lambda: client.session_token(agent_id))
    server.faults.delay_next(2)
    expect_error(lambda: client.with_options(timeout=0.2, max_retries=0).organization.get())
    offline = vatel.Client(api_key=key, base_url=f"http://127.0.0.1:{free_port()}")
    printed.append(offline)
    expect_error(lambda: offline.organization.get())

    client.close()
    await async_client.close()
    assert len(errors) >= 12
    assert_no_secret([key, *tokens], *printed, *errors)
    for error in errors:
        body = getattr(error, "body", None) or ""
        for secret in [key, *tokens]:
            assert secret not in body, f"a credential in the body of {type(error).__name__}"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "GET /v1/connection" in logged, "the handshakes were logged at DEBUG"
    for secret in [key, *tokens]:
        assert secret not in logged


def test_a_bad_base_url_is_refused_before_any_token_is_used() -> None:
    from vatel._exceptions import ConfigurationError

    for cls in (vatel.Client, vatel.AsyncClient):
        with pytest.raises(ConfigurationError) as info:
            cls(api_key="vk_secret_key_value", base_url="ftp://example.invalid")
        assert "ftp" in str(info.value)
        assert_no_secret(["vk_secret_key_value"], info.value)


# -- TLS ---------------------------------------------------------------------------------------


@pytest.fixture
def tls_server(self_signed: SelfSigned) -> Iterator[MockServer]:
    """The mock API over HTTPS and WSS with a self-signed certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(self_signed.cert, self_signed.key)
    with MockServer(pace=0, ssl=context) as mock:
        yield mock


@pytest.fixture
def trusting(self_signed: SelfSigned) -> ssl.SSLContext:
    """The deliberate way: a context that trusts this one certificate, and verifies."""
    return ssl.create_default_context(cafile=str(self_signed.cert))


def test_rest_refuses_a_certificate_it_cannot_verify(
    tls_server: MockServer, waits: list[float]
) -> None:
    assert tls_server.base_url.startswith("https://")
    client = vatel.Client(api_key=tls_server.api_key, base_url=tls_server.base_url)
    with client, pytest.raises(vatel.APIConnectionError) as info:
        client.organization.get()
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)
    assert tls_server.requests == [], "the API key was never sent"
    assert_no_secret([tls_server.api_key], info.value)


async def test_async_rest_refuses_a_certificate_it_cannot_verify(
    tls_server: MockServer, waits: list[float]
) -> None:
    async with vatel.AsyncClient(
        api_key=tls_server.api_key, base_url=tls_server.base_url
    ) as client:
        with pytest.raises(vatel.APIConnectionError) as info:
            await client.agents.list()
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)
    assert tls_server.requests == []


def test_voice_refuses_a_certificate_it_cannot_verify(tls_server: MockServer) -> None:
    agent_id = tls_server.agent_ids[0]
    token = tls_server.issue_token(agent_id)
    client = vatel.Client(api_key=tls_server.api_key, base_url=tls_server.base_url)
    assert client.connection_url(token, agent_id=agent_id).startswith("wss://")
    with pytest.raises(vatel.APIConnectionError) as info:
        client.connect(token, agent_id=agent_id, open_timeout=5)
    assert not isinstance(info.value, vatel.APITimeoutError)
    assert "certificate" in str(info.value).lower()
    # A context that verifies but does not trust this certificate refuses it too.
    with pytest.raises(vatel.APIConnectionError):
        client.connect(token, agent_id=agent_id, ssl=ssl.create_default_context())
    assert tls_server.sessions == [], "the token never reached the server"
    assert_no_secret([token, tls_server.api_key], info.value)


async def test_async_voice_refuses_a_certificate_it_cannot_verify(tls_server: MockServer) -> None:
    agent_id = tls_server.agent_ids[0]
    token = tls_server.issue_token(agent_id)
    async with vatel.AsyncClient(
        api_key=tls_server.api_key, base_url=tls_server.base_url
    ) as client:
        with pytest.raises(vatel.APIConnectionError) as info:
            await client.connect(token, agent_id=agent_id, open_timeout=5)
    assert "certificate" in str(info.value).lower()
    assert tls_server.sessions == []
    assert_no_secret([token], info.value)


def test_trusting_the_certificate_deliberately_works(
    tls_server: MockServer, trusting: ssl.SSLContext
) -> None:
    with (
        httpx.Client(verify=trusting) as http,
        vatel.Client(
            api_key=tls_server.api_key, base_url=tls_server.base_url, http_client=http
        ) as client,
    ):
        assert client.organization.get().id
        token = client.session_token(tls_server.agent_ids[1])
        with client.connect(token, ssl=trusting) as conn:
            assert isinstance(conn.recv(timeout=5), vatel.SessionStarted)
            conn.send_input_audio_bytes(b"\x01\x00" * 480)
    session = tls_server.sessions[-1]
    assert session.wait_closed(5) and session.received_audio == b"\x01\x00" * 480


async def test_async_trusting_the_certificate_deliberately_works(
    tls_server: MockServer, trusting: ssl.SSLContext
) -> None:
    async with (
        httpx.AsyncClient(verify=trusting) as http,
        vatel.AsyncClient(
            api_key=tls_server.api_key, base_url=tls_server.base_url, http_client=http
        ) as client,
    ):
        token = await client.session_token(tls_server.agent_ids[1])
        async with client.connect(token, ssl=trusting) as conn:
            assert isinstance(await conn.recv(timeout=5), vatel.SessionStarted)
    assert await tls_server.sessions[-1].wait_closed_async(5)
