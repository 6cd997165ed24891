"""Shared fixtures: the embedded mock server and SDK clients pointed at it."""

from __future__ import annotations

import json
import logging
import os
import re
import traceback
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import vatel
from _flavours import Flavour
from _support import Api
from vatel import _client
from vatel.testing import MockServer

REPO_ROOT = Path(__file__).resolve().parents[1]
CONTRACT_PATH = Path(
    os.environ.get("VATEL_OPENAPI", REPO_ROOT.parent / "shared" / "vatel-openapi.json")
)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


# Session JWTs and the mock server's API keys, wherever they would show up.
_SECRET = re.compile(r"eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}|vk_test_[\w-]{16,}")


class SecretWatch(logging.Handler):
    """Sees every log record of the run, at DEBUG level, and keeps those that
    carry a credential: a session token or an API key."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.leaks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # A record that cannot format still must not leak.
            text = f"{record.msg} {record.args}"
        if record.exc_info:
            text += "".join(traceback.format_exception(*record.exc_info))
        if _SECRET.search(text):
            self.leaks.append(f"{record.name}: {_SECRET.sub('<SECRET>', text)[:300]}")


@pytest.fixture(scope="session", autouse=True)
def secret_watch() -> Iterator[SecretWatch]:
    """DEBUG logging for the whole run, watched for credentials."""
    watch = SecretWatch()
    root = logging.getLogger()
    level = root.level
    root.addHandler(watch)
    root.setLevel(logging.DEBUG)
    yield watch
    root.removeHandler(watch)
    root.setLevel(level)


@pytest.fixture(autouse=True)
def no_secret_in_logs(secret_watch: SecretWatch) -> Iterator[None]:
    """Every test fails if any log record it caused carries a credential."""
    seen = len(secret_watch.leaks)
    yield
    leaks = secret_watch.leaks[seen:]
    assert not leaks, "credentials reached the logs:\n" + "\n".join(leaks[:5])


@pytest.fixture
def server() -> Iterator[MockServer]:
    """A fresh mock server (its own state) for one test; audio as fast as possible."""
    with MockServer(pace=0) as mock:
        yield mock


@pytest.fixture(scope="session")
def shared_server() -> Iterator[MockServer]:
    """One mock server for tests that only read its seeded state."""
    with MockServer(pace=0) as mock:
        yield mock


@pytest.fixture
def client(server: MockServer) -> Iterator[vatel.Client]:
    with vatel.Client(api_key=server.api_key, base_url=server.base_url) as sdk:
        yield sdk


@pytest.fixture
async def async_client(server: MockServer) -> AsyncIterator[vatel.AsyncClient]:
    async with vatel.AsyncClient(api_key=server.api_key, base_url=server.base_url) as sdk:
        yield sdk


@pytest.fixture(params=["sync", "async"])
async def api(request: pytest.FixtureRequest, server: MockServer) -> AsyncIterator[Api]:
    """The SDK's sync and async clients, one after the other, against ``server``."""
    cls = vatel.Client if request.param == "sync" else vatel.AsyncClient
    wrapper = Api(cls(api_key=server.api_key, base_url=server.base_url))
    yield wrapper
    await wrapper.close()


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> Iterator[Flavour]:
    """The blocking API, then the asyncio one on an event loop of the test's own."""
    if "server" in request.fixturenames:
        # Set up first so it stops last: sessions close before the server does.
        request.getfixturevalue("server")
    driver = Flavour(request.param)
    try:
        yield driver
    finally:
        driver.finish()


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """The REST clients' retry waits, recorded instead of slept through."""
    recorded: list[float] = []

    async def no_async_sleep(delay: float) -> None:
        recorded.append(delay)

    monkeypatch.setattr(_client, "_sleep", recorded.append)
    monkeypatch.setattr(_client, "_async_sleep", no_async_sleep)
    yield recorded


@pytest.fixture(scope="session")
def contract() -> dict[str, Any]:
    """The API contract, when the checkout sits beside it."""
    if not CONTRACT_PATH.is_file():
        pytest.skip(
            f"The API contract is not available at {CONTRACT_PATH.name} next to the "
            "checkout (../shared/); contract conformance is checked where it is."
        )
    data: dict[str, Any] = json.loads(CONTRACT_PATH.read_text(encoding="utf-8"))
    return data


@pytest.fixture(params=["stdlib", "orjson"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Runs the test with orjson reading audio frames, then with the stdlib alone."""
    from vatel import _protocol

    if request.param == "orjson":
        orjson = pytest.importorskip("orjson", reason="the speedups extra is not installed")
        monkeypatch.setattr(_protocol, "_fast_loads", orjson.loads)
    else:
        monkeypatch.setattr(_protocol, "_fast_loads", None)
    yield request.param
