"""The retry decision, without I/O: which failures are retried, and how long to wait."""

from __future__ import annotations

import email.utils

import httpx
import pytest

from vatel._base_client import (
    CappedBody,
    Deadline,
    attempt_budget,
    backoff_delay,
    parse_retry_after,
    retry_delay,
)


def response(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers)


def wire_headers(*pairs: tuple[str, str]) -> httpx.Headers:
    """Headers as they come off the wire: bytes, UTF-8 where not ASCII."""
    return httpx.Headers([(name.encode(), value.encode()) for name, value in pairs])


class TestRetryAfter:
    def test_delta_seconds(self) -> None:
        assert parse_retry_after(httpx.Headers({"Retry-After": "3"})) == 3.0
        assert parse_retry_after(httpx.Headers({"Retry-After": "0"})) == 0.0

    def test_milliseconds_header_wins(self) -> None:
        headers = httpx.Headers({"Retry-After-Ms": "250", "Retry-After": "9"})
        assert parse_retry_after(headers) == 0.25
        assert parse_retry_after(httpx.Headers({"Retry-After-Ms": "1500.5"})) == 1.5005

    @pytest.mark.parametrize(
        "value", ["1_0", "\u0661\u0660", "inf", "nan", "-1", "1e3", "+5", "0x10"]
    )
    def test_unreadable_milliseconds_fall_back_to_retry_after(self, value: str) -> None:
        headers = wire_headers(("Retry-After-Ms", value), ("Retry-After", "4"))
        assert parse_retry_after(headers) == 4.0
        assert parse_retry_after(wire_headers(("Retry-After-Ms", value))) is None

    def test_http_date(self) -> None:
        now = 1_700_000_000.0
        headers = httpx.Headers({"Retry-After": email.utils.formatdate(now + 7, usegmt=True)})
        assert parse_retry_after(headers, now=now) == pytest.approx(7, abs=1)

    @pytest.mark.parametrize(
        "value",
        [
            "soon",
            "",
            "-",
            "1_0",
            "\u0661\u0660",
            "\u0663",
            "inf",
            "nan",
            "Infinity",
            "-4",
            "0.5",
            "1e3",
            "+3",
            "9" * 5000,
            "Wed, 21 Oct 99999 07:28:00 GMT",
        ],
    )
    def test_anything_but_ascii_digits_or_a_date_counts_as_absent(self, value: str) -> None:
        assert parse_retry_after(wire_headers(("Retry-After", value))) is None

    def test_a_date_in_the_past_means_now(self) -> None:
        headers = httpx.Headers({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
        assert parse_retry_after(headers) == 0.0

    def test_an_absent_value_means_backoff_not_the_junk(self) -> None:
        delay = retry_delay("GET", 0, 2, response=response(503, **{"Retry-After": "1_0"}))
        assert delay is not None and 0.25 <= delay <= 0.5


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

    def test_a_request_that_could_not_be_built_is_never_retried(self) -> None:
        for error in (httpx.LocalProtocolError("bad header"), httpx.UnsupportedProtocol("ftp")):
            assert retry_delay("GET", 0, 2, error=error) is None
            assert retry_delay("POST", 0, 2, error=error) is None

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


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class TestAttemptDeadline:
    def test_the_budget_of_an_attempt(self) -> None:
        assert attempt_budget(0.5) == 0.5
        assert attempt_budget(None) is None
        assert attempt_budget(httpx.Timeout(30.0, connect=5.0)) == 30.0
        assert attempt_budget(httpx.Timeout(5.0, read=60.0)) == 60.0
        assert attempt_budget(httpx.Timeout(None, connect=5.0)) is None

    def test_the_deadline_is_read_off_the_clock_and_caps_every_phase(self) -> None:
        clock = FakeClock()
        deadline = Deadline.after(30.0, clock)
        assert deadline.at == 1030.0 and deadline.remaining() == 30.0
        assert deadline.cap(httpx.Timeout(30.0, connect=5.0)) == httpx.Timeout(30.0, connect=5.0)
        clock.now = 1028.0
        assert deadline.remaining() == 2.0
        assert deadline.cap(httpx.Timeout(30.0, connect=5.0)) == httpx.Timeout(2.0)
        assert deadline.cap(None) == httpx.Timeout(2.0)
        clock.now = 1031.0
        assert deadline.remaining() == 0.0

    def test_no_timeout_means_no_deadline(self) -> None:
        deadline = Deadline.after(None, FakeClock())
        assert deadline.at is None and deadline.remaining() is None
        assert deadline.cap(None) is None


class TestCappedBody:
    def test_a_plain_body_is_cut_at_the_limit(self) -> None:
        body = CappedBody(None, limit=10)
        for chunk in (b"0123", b"456789abc", b"never read"):
            body.feed(chunk)
        assert body.full and body.text() == "0123456789"

    def test_a_compressed_bomb_inflates_only_up_to_the_limit(self) -> None:
        import zlib

        squeezed = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        bomb = squeezed.compress(b"x" * 50_000_000) + squeezed.flush()
        assert len(bomb) < 100_000
        body = CappedBody("gzip", limit=64 * 1024)
        body.feed(bomb)
        assert body.full and len(body.text()) == 64 * 1024

    def test_an_unknown_encoding_keeps_nothing(self) -> None:
        body = CappedBody("br")
        body.feed(b"\x8b\x02\x80")
        assert body.full and body.text() == ""
