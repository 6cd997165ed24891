"""Fixtures for the mock server's own tests."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from mock_support import Contract, load_contract, make_client

from vatel.testing import MockServer


@pytest.fixture
def contract() -> Contract:
    """The API contract; skips the test when it is not available."""
    return load_contract()


@pytest.fixture
def api(server: MockServer) -> Iterator[httpx.Client]:
    """An authenticated client whose every response is checked against the contract."""
    with make_client(server) as client:
        yield client
