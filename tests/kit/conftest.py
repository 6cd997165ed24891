"""Fixtures for the tests of the pytest kit: scripted agents and the plugin."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from _flavours import Flavour
from vatel.testing import MockServer


def pytest_configure(config: pytest.Config) -> None:
    # ``pytest_plugins`` is only allowed in the top-level conftest; this enables
    # the ``pytester`` fixture for these tests alone (a no-op under ``-p pytester``).
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> Iterator[Flavour]:
    """The sync API, then the async one; everything opened is closed after."""
    chosen = Flavour(request.param)
    yield chosen
    chosen.finish()


@pytest.fixture
def mock() -> Iterator[MockServer]:
    """A seeded mock server with the agent's audio as fast as possible."""
    with MockServer(pace=0) as server:
        yield server
