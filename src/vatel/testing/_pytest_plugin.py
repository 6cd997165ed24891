"""pytest fixtures for testing an app against the mock Vatel server.

pytest loads this plugin wherever vatel is installed (entry point ``pytest11``
named ``vatel``); the fixtures need the ``mock`` extra. Importing it costs
next to nothing: the mock server, aiohttp and httpx are imported only when a
test uses a fixture, and a test that does without the extra fails with the
install command.

``vatel_mock``
    A running :class:`~vatel.testing.MockServer` for one test: seeded, agent
    audio at ``pace=0``. Options for this test come from the marker
    ``@pytest.mark.vatel_mock(pace=1, seed=False, idle_timeout=..., ...)``
    (any keyword of ``MockServer``; on a module or class too, where the
    closest marker wins option by option). After the test, every script given
    to ``vatel_mock.script(...)`` is checked: one that failed, did not finish
    or never ran fails the test with its :class:`~vatel.testing.ScriptError`,
    unless the test already saw that error from ``script.wait()`` or
    ``script.check()``. Scripts still running get their remaining time-out
    budget first; then the server stops.

``vatel_client``
    A :class:`vatel.Client` for that server (its ``base_url`` and
    ``api_key``, ``trust_env=False`` so no proxy from the environment gets in
    the way), closed after the test.

``vatel_async_client``
    A :class:`vatel.AsyncClient` for that server, made the same way. It is a
    plain fixture, not an async one, so it works the same under pytest-asyncio,
    anyio's plugin, or a test that calls ``asyncio.run`` itself: the client
    binds to the event loop that first uses it, and is closed after the test on
    an event loop of its own (a connection pool left on the test's finished
    loop is dropped with it).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import vatel
    from vatel.testing import MockServer, Script, ScriptError

_MARKER = "vatel_mock"
_DEFAULTS: dict[str, Any] = {"pace": 0.0}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(**options): MockServer options for the vatel_mock fixture "
        "(pace, seed, idle_timeout, token_ttl, api_key, ...).",
    )


def _mock_server_class() -> type[MockServer]:
    __tracebackhide__ = True
    try:
        from vatel.testing import MockServer
    except ImportError as exc:
        pytest.fail(f"the vatel_mock fixture cannot start: {exc}", pytrace=False)
    return MockServer


def _options(node: pytest.Item) -> dict[str, Any]:
    """The marker options in force for ``node``, the closest marker winning."""
    __tracebackhide__ = True
    options = dict(_DEFAULTS)
    for marker in reversed(list(node.iter_markers(_MARKER))):
        if marker.args:
            pytest.fail(
                f"@pytest.mark.{_MARKER} takes keyword options only, got {marker.args!r}",
                pytrace=False,
            )
        options.update(marker.kwargs)
    return options


def _verdicts(scripts: list[Script]) -> list[ScriptError]:
    """The failures of ``scripts`` that no test has seen yet."""
    __tracebackhide__ = True
    from vatel.testing import ScriptError

    failures = []
    for script in scripts:
        if script._reported:
            continue
        try:
            script.check()
        except ScriptError as exc:
            failures.append(exc)
    return failures


def _settle(scripts: list[Script]) -> None:
    """Give the scripts still running their remaining budget to finish."""
    for script in scripts:
        if script.started and not script.done:
            script._done.wait(script.budget())


@pytest.fixture
def vatel_mock(request: pytest.FixtureRequest) -> Iterator[MockServer]:
    """A running mock Vatel server for this test; its scripts are checked afterwards."""
    __tracebackhide__ = True
    server_class = _mock_server_class()
    options = _options(request.node)
    refused: Exception | None = None
    try:
        server = server_class(**options)
    except (TypeError, ValueError) as exc:
        refused = exc
    if refused is not None:  # outside the except: the report needs no chained traceback
        given = ", ".join(f"{key}={value!r}" for key, value in options.items())
        pytest.fail(f"vatel_mock({given}): {refused}", pytrace=False)
    server.start()
    try:
        yield server
        _settle(server.scripts)
    finally:
        server.stop()
    failures = _verdicts(server.scripts)
    if len(failures) == 1:
        raise failures[0]
    if failures:
        from vatel.testing import ScriptError

        joined = "\n\n".join(str(failure) for failure in failures)
        raise ScriptError(f"{len(failures)} scripts failed:\n\n{joined}")


@pytest.fixture
def vatel_client(vatel_mock: MockServer) -> Iterator[vatel.Client]:
    """A ``vatel.Client`` bound to ``vatel_mock``, closed after the test."""
    import vatel

    with vatel.Client(
        api_key=vatel_mock.api_key, base_url=vatel_mock.base_url, trust_env=False
    ) as client:
        yield client


@pytest.fixture
def vatel_async_client(vatel_mock: MockServer) -> Iterator[vatel.AsyncClient]:
    """A ``vatel.AsyncClient`` bound to ``vatel_mock``, closed after the test."""
    import vatel

    client = vatel.AsyncClient(
        api_key=vatel_mock.api_key, base_url=vatel_mock.base_url, trust_env=False
    )
    try:
        yield client
    finally:
        _close_async(client)


def _close_async(client: vatel.AsyncClient) -> None:
    """Close ``client`` on an event loop of its own, in a thread of its own.

    The test's loop is finished (or belongs to its test runner) by now; a fresh
    thread also leaves the calling thread's current-loop setting alone.
    """
    import asyncio

    failure: list[BaseException] = []

    def close() -> None:
        try:
            asyncio.run(client.close())
        except BaseException as exc:  # handed to the test's thread below
            failure.append(exc)

    thread = threading.Thread(target=close, name="vatel-async-client-close")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
