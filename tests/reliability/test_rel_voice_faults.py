"""Voice-session faults injected by the mock server, through both connections: closes
mid-audio with each kind of code, a peer that stops answering pings, a slow reader
under a flood of audio, and many sessions failing in different ways at once next to
healthy ones. Nothing that arrived before a fault is lost or reordered."""

from __future__ import annotations

import asyncio
import math
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from rel_support import assert_no_secret, injected, measured, stamped_chunk

import vatel
from vatel.testing import MockServer, MockSession

pytestmark = pytest.mark.anyio

GREETING = "Hello, thanks for calling the clinic. How can I help you today? " * 3


def audio_received(events: list[vatel.Event]) -> list[tuple[str, str, bool]]:
    return [(e.turn_id, e.audio, e.is_final) for e in events if isinstance(e, vatel.ResponseAudio)]


def audio_sent(session: MockSession) -> list[tuple[str, str, bool]]:
    return [
        (m.data["turn_id"], m.data["audio"], m.data["is_final"])
        for m in session.sent
        if m.type == "response_audio" and m.error is None
    ]


@pytest.fixture
def greeter(client: vatel.Client) -> str:
    """An agent that starts talking at once and goes on for a few seconds of audio."""
    return client.agents.create(name="Greeter", first_message=GREETING).id


# -- closes mid-audio -------------------------------------------------------------------------

CLOSES = [
    (1000, "done", True),
    (1001, "going away", True),
    (1011, "agent crashed", False),
    (4000, "application closed", False),
]


@dataclass
class Outcome:
    events: list[vatel.Event] = field(default_factory=list)
    error: vatel.ConnectionClosedError | None = None
    conn: Any = None
    send_error: vatel.ConnectionClosedError | None = None


def run_sync(client: vatel.Client, token: vatel.SessionToken, how: str) -> Outcome:
    outcome = Outcome()
    with client.connect(token) as conn:
        outcome.conn = conn
        try:
            if how == "iterate":
                for event in conn:
                    outcome.events.append(event)
            else:
                conn.run(on_event=outcome.events.append)
        except vatel.ConnectionClosedError as error:
            outcome.error = error
        try:
            conn.send_input_audio_bytes(stamped_chunk(1))
        except vatel.ConnectionClosedError as error:
            outcome.send_error = error
    return outcome


async def run_async(client: vatel.AsyncClient, token: vatel.SessionToken, how: str) -> Outcome:
    outcome = Outcome()
    async with client.connect(token) as conn:
        outcome.conn = conn
        try:
            if how == "iterate":
                async for event in conn:
                    outcome.events.append(event)
            else:
                await conn.run(on_event=outcome.events.append)
        except vatel.ConnectionClosedError as error:
            outcome.error = error
        try:
            await conn.send_input_audio_bytes(stamped_chunk(1))
        except vatel.ConnectionClosedError as error:
            outcome.send_error = error
    return outcome


@pytest.mark.parametrize("how", ["iterate", "run"])
@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize(("code", "reason", "normal"), CLOSES)
async def test_a_close_mid_audio(
    server: MockServer,
    client: vatel.Client,
    async_client: vatel.AsyncClient,
    greeter: str,
    flavour: str,
    how: str,
    code: int,
    reason: str,
    normal: bool,
) -> None:
    """A normal close (1000, 1001) ends iteration and ``run()`` quietly; any other code
    raises ``ConnectionClosedError`` with it. Either way every chunk sent before the
    close was delivered, in order, and sending afterwards raises the same close."""
    token = client.session_token(greeter)
    server.faults.close_after(5, code=code, reason=reason)
    injected(f"voice close {code} mid-audio")
    if flavour == "sync":
        outcome = await asyncio.to_thread(run_sync, client, token, how)
    else:
        outcome = await run_async(async_client, token, how)
    session = server.sessions[-1]
    assert await session.wait_closed_async(10) and session.close_code == code
    assert len(audio_sent(session)) == 5
    assert audio_received(outcome.events) == audio_sent(session)
    assert isinstance(outcome.events[0], vatel.SessionStarted)
    if normal:
        assert outcome.error is None
    else:
        assert outcome.error is not None
        assert (outcome.error.code, outcome.error.reason, outcome.error.ok) == (code, reason, False)
    assert outcome.send_error is not None and outcome.send_error.code == code
    assert outcome.conn.closed and outcome.conn.close_code == code
    assert_no_secret(
        [token.token, server.api_key], outcome.conn, outcome.error or "", outcome.send_error
    )


# -- a peer that stops answering pings ---------------------------------------------------------

PING_INTERVAL, PING_TIMEOUT = 0.5, 0.5


@pytest.fixture
def paced_server() -> Iterator[MockServer]:
    """The agent talks at real-time pace, so audio keeps flowing during a test."""
    with MockServer(pace=1) as mock:
        yield mock


@pytest.fixture
def paced_client(paced_server: MockServer) -> Iterator[vatel.Client]:
    with vatel.Client(api_key=paced_server.api_key, base_url=paced_server.base_url) as sdk:
        yield sdk


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_a_peer_ignoring_pings_is_noticed_while_audio_still_flows(
    paced_server: MockServer, paced_client: vatel.Client, flavour: str
) -> None:
    """The server keeps streaming audio but never answers a ping: the SDK closes the
    session (1011) on the keepalive's schedule, not when the audio ends (the agent
    is still talking when it gives up: the greeting lasts far longer)."""
    agent_id = paced_client.agents.create(name="Deaf", first_message="A long story. " * 12).id
    token = paced_client.session_token(agent_id)
    paced_server.faults.ignore_pings()
    injected("voice ignore_pings")
    options: dict[str, Any] = {"ping_interval": PING_INTERVAL, "ping_timeout": PING_TIMEOUT}
    events: list[vatel.Event] = []
    with pytest.raises(vatel.ConnectionClosedError) as info:
        if flavour == "sync":

            def read() -> None:
                with paced_client.connect(token, **options) as conn:
                    for event in conn:
                        events.append(event)

            await asyncio.to_thread(read)
        else:
            async with (
                vatel.AsyncClient(
                    api_key=paced_server.api_key, base_url=paced_server.base_url
                ) as async_client,
                async_client.connect(token, **options) as conn,
            ):
                async for event in conn:
                    events.append(event)
    assert info.value.code == 1011 and not info.value.ok
    assert info.value.reason == "keepalive ping timeout"
    session = paced_server.sessions[-1]
    assert await session.wait_closed_async(10)
    sent = audio_sent(session)
    assert sent and not sent[-1][2], "the agent was still talking when the SDK gave up"
    assert audio_received(events) == sent[: len(audio_received(events))]


# -- a slow consumer under a flood of audio ------------------------------------------------------

FLOOD_TEXT = "This greeting goes on and on so that the audio floods the socket. " * 40
"""About 2,700 characters: some 8,700 chunks of 20 ms, 11 MB of frames at pace 0."""


def client_held_bytes(snapshot: tracemalloc.Snapshot) -> int:
    """Bytes still allocated by the client's WebSocket library. The mock server in this
    process uses aiohttp, so nothing of it is counted; nor are the log records that
    the test run keeps of every frame at DEBUG level."""
    mine = snapshot.filter_traces(
        [
            tracemalloc.Filter(True, "*/websockets/*", all_frames=True),
            tracemalloc.Filter(False, "*/logging/*", all_frames=True),
        ]
    )
    return sum(stat.size for stat in mine.statistics("filename"))


async def wait_for_stall(session: MockSession, timeout: float = 60.0) -> int:
    """Wait until the server can send no more (its socket is full); the count sent."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = len(session.sent)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > 2.0:
            return now
        await asyncio.sleep(0.1)
    raise AssertionError(f"the server never stopped sending ({last} messages)")


def wire(event: vatel.Event) -> tuple[Any, ...]:
    if isinstance(event, vatel.ResponseAudio):
        return ("response_audio", event.turn_id, event.audio, event.is_final)
    if isinstance(event, vatel.ResponseText):
        return ("response_text", event.turn_id, event.text, event.is_final)
    if isinstance(event, vatel.SessionStarted):
        return ("session_started", event.id)
    return (event.type,)


def wire_sent(session: MockSession) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for m in session.sent:
        data = m.data or {}
        if m.type == "response_audio":
            out.append((m.type, data["turn_id"], data["audio"], data["is_final"]))
        elif m.type == "response_text":
            out.append((m.type, data["turn_id"], data["text"], data["is_final"]))
        elif m.type == "session_started":
            out.append((m.type, data["id"]))
        else:
            out.append((m.type,))
    return out


@pytest.fixture
def patient_server() -> Iterator[MockServer]:
    """Audio as fast as possible, and no idle time-out: a stalled session stays up."""
    with MockServer(pace=0, idle_timeout=None) as mock:
        yield mock


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_a_slow_reader_holds_about_max_queue_frames_and_loses_none(
    patient_server: MockServer, flavour: str
) -> None:
    """The reader sleeps while the agent floods audio as fast as it can: the SDK stops
    reading from the socket once ``max_queue`` frames wait, so the server stalls and
    the client holds a bounded amount; once reading resumes every frame arrives, in
    the order sent."""
    server = patient_server
    client = vatel.Client(api_key=server.api_key, base_url=server.base_url)
    agent_id = client.agents.create(name="Flood", first_message=FLOOD_TEXT).id
    token = client.session_token(agent_id)
    max_queue = 16
    async_client = vatel.AsyncClient(api_key=server.api_key, base_url=server.base_url)
    conn: Any = None
    events: list[tuple[Any, ...]] = []
    # A first, short session imports and sets up everything a connection needs, so
    # that what is measured below is the session's buffers, not that one-off cost.
    quiet = client.agents.create(name="Quiet", first_message="").id
    if flavour == "sync":
        with client.connect(client.session_token(quiet), max_queue=max_queue) as warm:
            warm.recv(timeout=10)
    else:
        async with async_client.connect(await async_client.session_token(quiet)) as awarm:
            await awarm.recv(timeout=10)
    try:
        tracemalloc.start(12)
        try:
            baseline = client_held_bytes(tracemalloc.take_snapshot())
            if flavour == "sync":
                conn = client.connect(token, max_queue=max_queue)
            else:
                conn = await async_client.connect(token, max_queue=max_queue)
            session = await server.wait_for_session_async(2)
            stalled_at = await wait_for_stall(session)
            held = client_held_bytes(tracemalloc.take_snapshot()) - baseline
        finally:
            tracemalloc.stop()
        first_audio = next(m for m in session.sent if m.type == "response_audio")
        frame_size = len(first_audio.data["audio"]) + 70
        total_chunks = math.ceil(len(FLOOD_TEXT) * 0.065 * 1000 / 20)
        pushed = stalled_at * frame_size
        measured(
            f"slow {flavour} reader: client held (KiB, ~frames)",
            f"{held // 1024} KiB, ~{held // frame_size} frames (max_queue {max_queue})",
        )
        measured(
            f"slow {flavour} reader: server pushed before stalling",
            f"{pushed / 2**20:.1f} MiB of {total_chunks * frame_size / 2**20:.1f} MiB",
        )
        assert stalled_at < total_chunks / 2, "backpressure reached the server"
        assert pushed > 2 * 2**20, "megabytes were pushed before the server stalled"
        # max_queue frames, plus the frames parsed from the socket read that filled the
        # queue (64 KiB), plus that read buffer: a few hundred KiB at most, where reading
        # on regardless would hold all the megabytes the server pushed.
        assert held < 256 * 1024, f"the client held {held} bytes ({held // frame_size} frames)"
        while True:
            event = conn.recv(timeout=20) if flavour == "sync" else await conn.recv(timeout=20)
            events.append(wire(event))
            if isinstance(event, vatel.ResponseAudio) and event.is_final:
                break
    finally:
        if conn is not None:
            if flavour == "sync":
                conn.close()
            else:
                await conn.close()
        await async_client.close()
        client.close()
    assert await session.wait_closed_async(10)
    assert events == wire_sent(session), "every frame, in the order sent"
    assert sum(1 for e in events if e[0] == "response_audio") == total_chunks


# -- many sessions, each hit by a different fault, next to healthy ones --------------------------

FAULT_GREETING = "Thanks for calling, this is the front desk. " * 2 + "One moment please."
"""About 7 s of audio at real-time pace, so a keepalive failure comes well before its end."""
FAULT_AT = 60
"""The chunk after which each fault fires: about 1.2 s into the greeting."""


@dataclass
class Plan:
    name: str
    arm: Callable[[MockServer], None] | None
    options: dict[str, Any]
    check: Callable[[Result], None]


@dataclass
class Result:
    events: list[vatel.Event] = field(default_factory=list)
    error: BaseException | None = None
    session: MockSession | None = None
    sent_audio: bytes = b""


def _closed_with(
    code: int, *, everything: bool = True, at_least: int = 0
) -> Callable[[Result], None]:
    """Closed with ``code``; the audio received is what was sent, in order: all of it,
    or (a reset connection, or one the client closed while the server still talked)
    the beginning of it, of at least ``at_least`` chunks."""

    def check(result: Result) -> None:
        assert isinstance(result.error, vatel.ConnectionClosedError), repr(result.error)
        assert result.error.code == code, (code, result.error)
        assert result.session is not None
        sent = audio_sent(result.session)
        got = audio_received(result.events)
        if everything:
            assert got == sent and len(sent) == FAULT_AT
        else:
            assert got == sent[: len(got)] and len(got) >= at_least

    return check


def _completed(result: Result) -> None:
    """The whole greeting arrived, in order, and all of the caller's audio with it."""
    assert result.error is None, repr(result.error)
    assert result.session is not None
    sent = audio_sent(result.session)
    assert sent and sent[-1][2], "the greeting was finished"
    assert audio_received(result.events) == sent
    assert result.session.received_audio == result.sent_audio


def _completed_with_unknown(result: Result) -> None:
    _completed(result)
    assert any(isinstance(e, vatel.UnknownEvent) for e in result.events)


def _ok_close(result: Result) -> None:
    assert result.error is None, repr(result.error)
    assert result.session is not None
    sent = audio_sent(result.session)
    assert audio_received(result.events) == sent and len(sent) == FAULT_AT


def plans() -> list[Plan]:
    keepalive = {"ping_interval": 0.3, "ping_timeout": 0.3}
    faulty = [
        Plan(
            "close 1011",
            lambda s: s.faults.close_after(FAULT_AT, code=1011),
            {},
            _closed_with(1011),
        ),
        Plan(
            "close 4000",
            lambda s: s.faults.close_after(FAULT_AT, code=4000),
            {},
            _closed_with(4000),
        ),
        Plan("close 1001", lambda s: s.faults.close_after(FAULT_AT, code=1001), {}, _ok_close),
        Plan(
            "drop",
            lambda s: s.faults.drop_after(FAULT_AT),
            {},
            _closed_with(1006, everything=False),
        ),
        Plan(
            "silence", lambda s: s.faults.go_silent_after(FAULT_AT), keepalive, _closed_with(1011)
        ),
        Plan(
            "ignore pings",
            lambda s: s.faults.ignore_pings(after_chunks=FAULT_AT),
            keepalive,
            _closed_with(1011, everything=False),
        ),
        Plan(
            "oversized frame",
            lambda s: s.faults.send_oversized(64 * 1024, after_chunks=FAULT_AT),
            {"max_size": 16 * 1024},
            # Every chunk before the oversized frame arrives; the server may send
            # another before it hears the client's close.
            _closed_with(1009, everything=False, at_least=FAULT_AT),
        ),
    ]
    for kind in ("non_json", "binary", "wrong_data", "not_object", "missing_type"):
        faulty.append(
            Plan(
                f"malformed {kind}",
                lambda s, k=kind: s.faults.send_malformed(k, after_chunks=FAULT_AT),  # type: ignore[misc]
                {},
                _completed,
            )
        )
    faulty.append(
        Plan(
            "unknown type",
            lambda s: s.faults.send_malformed("unknown_type", after_chunks=FAULT_AT),
            {},
            _completed_with_unknown,
        )
    )
    healthy = [Plan(f"healthy {n}", None, {}, _completed) for n in range(8)]
    # Interleave, so that healthy sessions sit between failing ones.
    mixed: list[Plan] = []
    for i in range(max(len(faulty), len(healthy))):
        mixed += faulty[i : i + 1] + healthy[i : i + 1]
    return mixed


async def test_many_sessions_each_with_its_own_fault_beside_healthy_ones(
    paced_server: MockServer, paced_client: vatel.Client
) -> None:
    server = paced_server
    agent_id = paced_client.agents.create(name="Front desk", first_message=FAULT_GREETING).id
    the_plans = plans()
    results = [Result() for _ in the_plans]
    tokens: list[str] = []

    async with vatel.AsyncClient(api_key=server.api_key, base_url=server.base_url) as client:

        async def talk(conn: vatel.AsyncConnection, chunks: list[bytes]) -> None:
            for chunk in chunks:
                await conn.send_input_audio_bytes(chunk)

        async def drive(n: int, conn: vatel.AsyncConnection) -> None:
            result = results[n]
            chunks: list[bytes] = []
            if the_plans[n].arm is None:
                # A healthy caller talks (quietly) while the agent speaks.
                chunks = [stamped_chunk(n, i) for i in range(100)]
                result.sent_audio = b"".join(chunks)
            talking = asyncio.create_task(talk(conn, chunks))
            try:
                async for event in conn:
                    result.events.append(event)
                    if isinstance(event, vatel.ResponseAudio) and event.is_final:
                        break
            except vatel.APIError as error:
                result.error = error
            finally:
                await talking
                await conn.close()

        tasks: list[asyncio.Task[None]] = []
        for n, plan in enumerate(the_plans):
            token = await client.session_token(agent_id)
            tokens.append(token.token)
            if plan.arm is not None:
                plan.arm(server)
                injected(f"voice {plan.name} (among many)")
            conn = await client.connect(token, **plan.options)
            results[n].session = await server.wait_for_session_async(n + 1)
            tasks.append(asyncio.create_task(drive(n, conn)))

        # And one more connection whose handshake is never answered, meanwhile.
        server.faults.hang_handshake()
        injected("voice hung handshake (among many)")
        hung_token = await client.session_token(agent_id)
        tokens.append(hung_token.token)
        with pytest.raises(vatel.APITimeoutError) as hung:
            await client.connect(hung_token, open_timeout=1.0)
        await asyncio.wait_for(asyncio.gather(*tasks), 60)

    failures = []
    for plan, result in zip(the_plans, results, strict=True):
        try:
            plan.check(result)
        except AssertionError as exc:
            failures.append(f"{plan.name}: {exc}")
    assert not failures, "\n".join(failures)
    errors = [r.error for r in results if r.error is not None] + [hung.value]
    assert_no_secret([*tokens, server.api_key], *errors)
    assert sum(1 for p in the_plans if p.arm is None) == 8
