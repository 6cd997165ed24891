"""The retry decision, without I/O: which failures are retried, and how long to wait."""

from __future__ import annotations

import email.utils

import httpx
import pytest

from vatel._base_client import backoff_delay, parse_retry_after, retry_delay


def response(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers)


class TestRetryAfter:
    def test_delta_seconds(self) -> None:
        assert parse_retry_after(httpx.Headers({"Retry-After": "3"})) == 3.0
        assert parse_retry_after(httpx.Headers({"Retry-After": "0.5"})) == 0.5

    def test_milliseconds_header_wins(self) -> None:
        headers = httpx.Headers({"Retry-After-Ms": "250", "Retry-After": "9"})
        assert parse_retry_after(headers) == 0.25

    def test_http_date(self) -> None:
        now = 1_700_000_000.0
        headers = httpx.Headers({"Retry-After": email.utils.formatdate(now + 7, usegmt=True)})
        assert parse_retry_after(headers, now=now) == pytest.approx(7, abs=1)

    @pytest.mark.parametrize("value", ["soon", "", "-"])
    def test_unreadable_values_are_ignored(self, value: str) -> None:
        assert parse_retry_after(httpx.Headers({"Retry-After": value})) is None

    def test_negative_or_past_means_now(self) -> None:
        assert parse_retry_after(httpx.Headers({"Retry-After": "-4"})) == 0.0


class TestDecision:
    @pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
    def test_idempotent_requests_retry_transient_statuses(self, status: int) -> None:
        assert retry_delay("GET", 0, 2, response=response(status)) is not None
        assert retry_delay("DELETE", 0, 2, response=response(status)) is not None

    @pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
    def test_client_errors_are_not_retried(self, status: int) -> None:
        assert retry_delay("GET", 0, 2, response=response(status)) is None

    @pytest.mark.parametrize(
        ("status", "retried"),
        [(500, False), (502, False), (504, False), (408, True), (429, True), (503, True)],
    )
    def test_post_is_repeated_only_when_the_status_says_it_was_not_processed(
        self, status: int, retried: bool
    ) -> None:
        assert (retry_delay("POST", 0, 2, response=response(status)) is not None) is retried
        assert (retry_delay("PATCH", 0, 2, response=response(status)) is not None) is retried

    def test_retry_after_is_honoured(self) -> None:
        assert retry_delay("POST", 0, 2, response=response(429, **{"Retry-After": "2"})) == 2.0

    def test_retry_after_beyond_a_minute_stops_retrying(self) -> None:
        assert retry_delay("GET", 0, 2, response=response(429, **{"Retry-After": "120"})) is None

    def test_budget_is_respected(self) -> None:
        assert retry_delay("GET", 2, 2, response=response(503)) is None
        assert retry_delay("GET", 0, 0, response=response(503)) is None

    def test_connect_failures_are_retried_for_every_method(self) -> None:
        error = httpx.ConnectError("refused")
        assert retry_delay("POST", 0, 2, error=error) is not None
        assert retry_delay("POST", 0, 2, error=httpx.ConnectTimeout("slow")) is not None

    def test_failures_after_sending_are_retried_only_when_idempotent(self) -> None:
        for error in (httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("cut")):
            assert retry_delay("GET", 0, 2, error=error) is not None
            assert retry_delay("POST", 0, 2, error=error) is None


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    for attempt, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        delays = [backoff_delay(attempt) for _ in range(200)]
        assert min(delays) >= ceiling / 2
        assert max(delays) <= ceiling
        assert len(set(delays)) > 1  # jittered, so clients do not retry in lockstep
