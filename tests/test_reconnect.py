"""Opt-in reconnect: the policy and its schedule without sockets, then redials
against the mock server on the sync and the async API."""

from __future__ import annotations

import logging

import pytest

import vatel
from _flavours import Flavour
from vatel._events import Reconnected, Reconnecting
from vatel._protocol import decode_event
from vatel._reconnect import RETRYABLE_CLOSE_CODES, Reconnect, Redial, url_with_token
from vatel.audio import FRAME_BYTES
from vatel.testing import MockServer

pytestmark = pytest.mark.timeout(30)

TALK = (vatel.ResponseText, vatel.InputAudioTranscript)
"""Events beside the audio, whose number depends on the mock's wording."""

GREETING = "Hello, this is a long greeting for the caller. " * 4


class Sleeps(list[float]):
    """An injected sleep: writes down each wait instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


# -- the policy, without sockets ------------------------------------------------------


def test_backoff_doubles_up_to_the_cap_and_jitter_only_shortens() -> None:
    policy = Reconnect(backoff=0.5, max_backoff=3.0, jitter=0.5, random=lambda: 0.0)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    shortest = Reconnect(backoff=0.5, max_backoff=3.0, jitter=0.5, random=lambda: 1.0)
    assert [shortest.delay(n) for n in range(1, 5)] == [0.25, 0.5, 1.0, 1.5]
    assert Reconnect(random=lambda: 0.999).delay(10_000) == pytest.approx(10.0 * 0.5005)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"max_attempts": 0}, vatel.ConfigurationError),
        ({"max_attempts": True}, TypeError),
        ({"backoff": -1}, vatel.ConfigurationError),
        ({"jitter": 1.5}, vatel.ConfigurationError),
        ({"max_backoff": "10"}, TypeError),
        ({"token_source": "tok"}, TypeError),
    ],
)
def test_bad_policies_are_refused(options: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        Reconnect(**options)  # type: ignore[arg-type]


def test_connect_refuses_a_reconnect_that_is_not_a_policy() -> None:
    with pytest.raises(TypeError, match=r"vatel\.Reconnect"):
        vatel.connect("ws://127.0.0.1:9/v1/connection?token=t", reconnect=True)  # type: ignore[arg-type]


def test_only_abnormal_closes_are_redialled() -> None:
    redial = Redial(Reconnect())
    assert {c for c in range(1000, 1016) if redial.wants(vatel.ConnectionClosedError(c))} == {
        1001,
        1005,
        1006,
        1011,
        1012,
        1013,
        1015,
    }
    assert 1000 not in RETRYABLE_CLOSE_CODES


def test_a_round_runs_out_after_max_attempts_raising_the_original_close() -> None:
    now = [100.0]
    redial = Redial(Reconnect(max_attempts=2, clock=lambda: now[0]))
    original = vatel.ConnectionClosedError(1011, "crashed")
    assert redial.on_close(original) == Reconnecting(1, 1011)
    assert redial.failed(vatel.APIConnectionError("refused")) == Reconnecting(2, 1011)
    last = vatel.APITimeoutError("slow")
    with pytest.raises(vatel.ConnectionClosedError) as info:
        redial.failed(last)
    assert info.value is original and info.value.__cause__ is last and redial.finished


def test_a_refused_redial_ends_the_round_with_that_error() -> None:
    redial = Redial(Reconnect())
    redial.on_close(vatel.ConnectionClosedError(1006))
    refusal = vatel.AuthenticationError("expired", status_code=401, body="")
    with pytest.raises(vatel.AuthenticationError):
        redial.failed(refusal)
    assert redial.finished and not redial.down


def test_the_gap_is_measured_on_the_injected_clock() -> None:
    now = [10.0]
    redial = Redial(Reconnect(clock=lambda: now[0]))
    redial.on_close(vatel.ConnectionClosedError(1006))
    now[0] = 12.5
    assert redial.dialled() == Reconnected(2.5)
    assert not redial.down


def test_a_connection_that_drops_before_any_event_uses_up_attempts() -> None:
    redial = Redial(Reconnect(max_attempts=3))
    first = vatel.ConnectionClosedError(1006)
    assert redial.on_close(first).attempt == 1
    redial.dialled()
    assert redial.on_close(vatel.ConnectionClosedError(1011)).attempt == 2
    redial.dialled()
    assert redial.on_close(vatel.ConnectionClosedError(1011)).attempt == 3
    redial.dialled()
    with pytest.raises(vatel.ConnectionClosedError) as info:
        redial.on_close(vatel.ConnectionClosedError(1011))
    assert info.value is first
    # Once a connection delivers an event, a later drop starts a fresh round.
    again = Redial(Reconnect(max_attempts=1))
    again.on_close(first)
    again.dialled()
    again.on_event()
    assert again.on_close(vatel.ConnectionClosedError(1006)).attempt == 1


def test_the_new_token_goes_on_the_url() -> None:
    url = "wss://h/v1/connection?token=old&agentId=a1&versionId=v1"
    assert url_with_token(url, "new") == "wss://h/v1/connection?token=new&agentId=a1&versionId=v1"
    fresh = vatel.SessionToken("new2", "a2", "v2")
    assert url_with_token(url, fresh) == "wss://h/v1/connection?token=new2&agentId=a2&versionId=v2"
    with pytest.raises(TypeError):
        url_with_token(url, 42)  # type: ignore[arg-type]
    with pytest.raises(vatel.ConfigurationError):
        url_with_token(url, "")


def test_local_events_are_not_server_messages() -> None:
    assert Reconnecting(1, 1006).type == "reconnecting"
    assert Reconnected(0.5).type == "reconnected"
    # A server sending these types gets an UnknownEvent, never the local event.
    assert isinstance(decode_event('{"type": "reconnecting", "data": {}}'), vatel.UnknownEvent)
    assert isinstance(decode_event('{"type": "reconnected", "data": {}}'), vatel.UnknownEvent)


# -- against the mock ----------------------------------------------------------------


def open_with_reconnect(
    flavour: Flavour, client: vatel.Client, server: MockServer, policy: Reconnect
) -> tuple[object, str]:
    agent_id = client.agents.create(name="Reconnect", first_message=GREETING).id
    session = flavour.open(server, client.session_token(agent_id), reconnect=policy)
    return session, agent_id


def test_a_dropped_session_is_redialled_as_a_new_session(
    flavour: Flavour, client: vatel.Client, server: MockServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.faults.drop_after(2)
    sleeps = Sleeps()
    policy = Reconnect(sleep=sleeps, random=lambda: 0.0, backoff=0.25)
    session, _ = open_with_reconnect(flavour, client, server, policy)
    events: list[vatel.Event] = []
    dropped_while_down = 0
    for event in session.iterate():  # type: ignore[attr-defined]
        events.append(event)
        if isinstance(event, Reconnecting):
            # Down: audio and tool outputs are dropped, and the calls return.
            for _ in range(3):
                session.send_audio(bytes(FRAME_BYTES))  # type: ignore[attr-defined]
            session.send_tool_output("call-x", "late")  # type: ignore[attr-defined]
            dropped_while_down = session.conn.stats.audio_chunks_dropped  # type: ignore[attr-defined]
        if isinstance(event, vatel.SessionStarted) and len(events) > 1:
            break
    conn = session.conn  # type: ignore[attr-defined]
    kinds = [type(e).__name__ for e in events if not isinstance(e, TALK)]
    assert kinds[:3] == ["SessionStarted", "ResponseAudio", "ResponseAudio"]
    assert kinds[-3:] == ["Reconnecting", "Reconnected", "SessionStarted"]
    assert events[-3] == Reconnecting(1, 1006)
    first_id, second_id = events[0].id, events[-1].id  # type: ignore[union-attr]
    assert first_id != second_id and conn.session_id == second_id
    assert conn.state is vatel.SessionState.STARTED
    assert sleeps == [0.25]
    assert dropped_while_down == 3
    stats = conn.stats
    assert stats.reconnects == 1 and stats.audio_bytes_dropped == 3 * FRAME_BYTES
    assert any(
        "Dropping the output for tool call 'call-x'" in r.getMessage() for r in caplog.records
    )
    # The new session works: audio goes through again and reaches the new mock session.
    session.send_audio(bytes(FRAME_BYTES))  # type: ignore[attr-defined]
    assert stats.audio_chunks_dropped == 3
    session.close()  # type: ignore[attr-defined]
    assert len(server.sessions) == 2
    assert server.sessions[0].received_audio == b""
    assert server.sessions[1].wait_closed(5)
    assert server.sessions[1].received_audio == bytes(FRAME_BYTES)


def test_recv_delivers_the_same_events(
    flavour: Flavour, client: vatel.Client, server: MockServer
) -> None:
    server.faults.close_after(1, code=1011, reason="agent crashed")
    sleeps = Sleeps()
    session, _ = open_with_reconnect(flavour, client, server, Reconnect(sleep=sleeps))
    kinds: list[str] = []
    while kinds.count("session_started") < 2:
        event = session.recv(timeout=5)  # type: ignore[attr-defined]
        if not isinstance(event, TALK):
            kinds.append(event.type)
    assert kinds == [
        "session_started",
        "response_audio",
        "reconnecting",
        "reconnected",
        "session_started",
    ]
    assert len(sleeps) == 1 and session.conn.stats.reconnects == 1  # type: ignore[attr-defined]
    session.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize("how", ["close 1000", "session_ended"])
def test_no_redial_after_a_normal_end(
    flavour: Flavour, client: vatel.Client, server: MockServer, how: str
) -> None:
    if how == "close 1000":
        server.faults.close_after(2, code=1000)
    sleeps = Sleeps()
    session, _ = open_with_reconnect(flavour, client, server, Reconnect(sleep=sleeps))
    events = []
    for event in session.iterate():  # type: ignore[attr-defined]
        events.append(event)
        if how == "session_ended" and isinstance(event, vatel.SessionStarted):
            server.end_session()
    kinds = {type(e) for e in events}
    assert Reconnecting not in kinds and Reconnected not in kinds
    assert sleeps == [] and session.conn.stats.reconnects == 0  # type: ignore[attr-defined]
    assert len(server.sessions) == 1
    with pytest.raises((vatel.ConnectionClosedError, vatel.SessionEndedError)):
        session.send_audio(bytes(FRAME_BYTES))  # type: ignore[attr-defined]


def test_a_redial_refused_with_401_raises_it(
    flavour: Flavour, client: vatel.Client, server: MockServer
) -> None:
    agent_id = client.agents.create(name="Reconnect", first_message=GREETING).id
    expired = server.issue_token(agent_id, ttl=-1)
    server.faults.drop_after(1)
    sleeps = Sleeps()
    policy = Reconnect(token_source=lambda: expired, sleep=sleeps, random=lambda: 0.0)
    session = flavour.open(server, client.session_token(agent_id), reconnect=policy)
    events = []
    with pytest.raises(vatel.AuthenticationError) as info:
        for event in session.iterate():
            events.append(event)
    assert info.value.status_code == 401
    assert [type(e) for e in events][-1] is Reconnecting and sleeps == [0.5]
    for text in (str(info.value), repr(info.value), repr(session.conn), session.conn.url):
        assert expired not in text
    assert session.conn.stats.reconnects == 0 and len(server.sessions) == 1
    # Given up: sending raises again rather than dropping.
    with pytest.raises(vatel.ConnectionClosedError):
        session.send_audio(bytes(FRAME_BYTES))


def test_the_default_token_source_mints_a_fresh_token(
    flavour: Flavour, client: vatel.Client, server: MockServer
) -> None:
    server.faults.drop_after(0)
    session, agent_id = open_with_reconnect(flavour, client, server, Reconnect(sleep=Sleeps()))
    minted_before = sum(r.path == "/v1/session-token" for r in server.requests)
    for event in session.iterate():  # type: ignore[attr-defined]
        if isinstance(event, Reconnected):
            break
    minted = sum(r.path == "/v1/session-token" for r in server.requests) - minted_before
    assert minted == 1
    assert server.sessions[-1].agent_id == agent_id.lower()
    session.close()  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_an_async_token_source_and_sleep(server: MockServer) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async with vatel.AsyncClient(api_key=server.api_key, base_url=server.base_url) as client:
        agent = await client.agents.create(name="Reconnect", first_message=GREETING)

        async def fresh() -> vatel.SessionToken:
            return await client.session_token(agent.id)

        server.faults.drop_after(0)
        policy = Reconnect(token_source=fresh, sleep=sleep, random=lambda: 0.0)
        async with client.connect(await fresh(), reconnect=policy) as conn:
            kinds = []
            async for event in conn:
                if not isinstance(event, (*TALK, vatel.ResponseAudio)):
                    kinds.append(event.type)
                if kinds.count("session_started") == 2:
                    break
    assert kinds == ["session_started", "reconnecting", "reconnected", "session_started"]
    assert waits == [0.5]


def test_a_sync_connection_refuses_an_async_token_source(server: MockServer) -> None:
    async def fresh() -> str:
        return "never"

    with vatel.Client(api_key=server.api_key, base_url=server.base_url) as client:
        agent_id = client.agents.create(name="Reconnect", first_message=GREETING).id
        server.faults.drop_after(0)
        policy = Reconnect(token_source=fresh, sleep=Sleeps())
        conn = client.connect(client.session_token(agent_id), reconnect=policy)
        with conn, pytest.raises(TypeError, match="awaitable"):
            for _ in conn:
                pass


def test_close_from_another_thread_stops_a_waiting_redial(
    client: vatel.Client, server: MockServer
) -> None:
    import threading

    agent_id = client.agents.create(name="Reconnect", first_message=GREETING).id
    server.faults.drop_after(0)
    conn = client.connect(client.session_token(agent_id), reconnect=Reconnect(backoff=60.0))
    kinds = []
    for event in conn:
        kinds.append(event.type)
        if isinstance(event, Reconnecting):
            # The receiver waits 30-60 s next; close() from elsewhere ends that wait.
            threading.Timer(0.05, conn.close).start()
    assert kinds == ["session_started", "reconnecting"]
    assert len(server.sessions) == 1 and conn.stats.reconnects == 0


def test_logs_never_show_the_fresh_token(
    flavour: Flavour,
    client: vatel.Client,
    server: MockServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    agent_id = client.agents.create(name="Reconnect", first_message=GREETING).id
    tokens: list[str] = []

    def fresh() -> vatel.SessionToken:
        token = client.session_token(agent_id)
        tokens.append(token.token)
        return token

    server.faults.drop_after(1)
    session = flavour.open(
        server,
        client.session_token(agent_id),
        reconnect=Reconnect(token_source=fresh, sleep=Sleeps()),
    )
    for event in session.iterate():
        if isinstance(event, vatel.SessionStarted) and session.conn.stats.reconnects:
            break
    assert len(tokens) == 1
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert tokens[0] not in text and tokens[0] not in repr(session.conn)
    assert "***" in session.conn.url
    session.close()
