"""Voice sessions over real WebSockets against the mock server's agent, sync and async."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
import threading
import time
import typing
from collections.abc import Iterator

import pytest

import vatel
from _support import Api
from vatel.audio import FRAME_BYTES, silence, voice_like
from vatel.testing import MockServer

pytestmark = pytest.mark.anyio

to_thread = asyncio.to_thread

SPEECH = voice_like(0.8)
UTTERANCE = SPEECH + silence(0.8)


def frames(pcm: bytes) -> Iterator[bytes]:
    for start in range(0, len(pcm), FRAME_BYTES):
        yield pcm[start : start + FRAME_BYTES]


def new_agent(client: vatel.Client, **fields: object) -> str:
    return client.agents.create(name="Realtime test", **fields).id  # type: ignore[arg-type]


def types_of(events: list[vatel.Event]) -> list[str]:
    return [event.type for event in events]


class TestWalkthroughSync:
    """The Go SDK's walkthrough: token, connect, events, audio, tool call, end."""

    def test_a_full_turn(self, client: vatel.Client, server: MockServer) -> None:
        token = client.session_token(new_agent(client))
        with client.connect(token) as conn:
            first = conn.recv(timeout=5)
            assert isinstance(first, vatel.SessionStarted) and conn.session_id == first.id
            assert conn.state is vatel.SessionState.STARTED
            for chunk in frames(UTTERANCE):
                conn.send_input_audio_bytes(chunk)
            events: list[vatel.Event] = []
            while not (
                isinstance(event := conn.recv(timeout=5), vatel.ResponseAudio) and event.is_final
            ):
                events.append(event)
            events.append(event)
        kinds = types_of(events)
        assert kinds.index("speech_started") < kinds.index("speech_stopped")
        assert kinds.index("speech_stopped") < kinds.index("response_audio")
        finals = [e for e in events if isinstance(e, vatel.InputAudioTranscript) and e.is_final]
        assert len(finals) == 1 and finals[0].transcript
        texts = [e for e in events if isinstance(e, vatel.ResponseText) and e.is_final]
        assert texts and texts[-1].text
        audio = [e for e in events if isinstance(e, vatel.ResponseAudio)]
        assert all(len(e.pcm) == FRAME_BYTES for e in audio)
        assert {e.turn_id for e in audio} == {texts[-1].turn_id}
        assert [e.is_final for e in audio] == [False] * (len(audio) - 1) + [True]
        session = server.sessions[-1]
        assert session.wait_closed(5)
        assert session.received_audio == UTTERANCE

    def test_tool_call_round_trip_and_session_end(
        self, client: vatel.Client, server: MockServer
    ) -> None:
        agent_id = new_agent(client)
        server.add_client_tool(
            agent_id,
            "get_weather",
            arguments=[{"name": "city", "dataType": "string", "value": "Paris"}],
        )
        with client.connect(client.session_token(agent_id)) as conn:
            events: list[vatel.Event] = []
            for chunk in frames(UTTERANCE):
                conn.send_input_audio_bytes(chunk)
            for event in conn:
                events.append(event)
                if isinstance(event, vatel.ToolCall):
                    assert event.tool_name == "get_weather"
                    assert event.kwargs == {"city": "Paris"}
                    conn.send_tool_call_output(event.tool_call_id, {"sky": "sunny", "temp_c": 21})
                if (
                    isinstance(event, vatel.ResponseAudio)
                    and event.is_final
                    and any(isinstance(e, vatel.ToolCall) for e in events)
                ):
                    server.end_session()
            assert isinstance(events[-1], vatel.SessionEnded)
            assert conn.state is vatel.SessionState.ENDED
        spoken = " ".join(
            e.text for e in events if isinstance(e, vatel.ResponseText) and e.is_final
        )
        assert "sunny" in spoken
        outputs = server.sessions[-1].tool_outputs
        assert len(outputs) == 1 and outputs[0].known
        assert outputs[0].output == '{"sky": "sunny", "temp_c": 21}'


class TestWalkthroughAsync:
    async def test_a_full_turn_with_a_tool(
        self, async_client: vatel.AsyncClient, server: MockServer
    ) -> None:
        agent = await async_client.agents.create(name="Async agent")
        server.add_client_tool(
            agent.id, "lookup", arguments=[{"name": "id", "dataType": "number", "value": 7}]
        )
        token = await async_client.session_token(agent.id)
        events: list[vatel.Event] = []
        async with async_client.connect(token) as conn:
            for chunk in frames(UTTERANCE):
                await conn.send_input_audio_bytes(chunk)
            async for event in conn:
                events.append(event)
                if isinstance(event, vatel.ToolCall):
                    await conn.send_tool_call_output(event.tool_call_id, "found it")
                if (
                    isinstance(event, vatel.ResponseText)
                    and event.is_final
                    and "found it" in event.text
                ):
                    server.end_session()
        assert isinstance(events[0], vatel.SessionStarted)
        assert isinstance(events[-1], vatel.SessionEnded)
        assert "tool_call" in types_of(events) and "input_audio_transcript" in types_of(events)
        assert server.sessions[-1].received_audio == UTTERANCE

    async def test_await_form_and_version_on_the_url(
        self, async_client: vatel.AsyncClient, server: MockServer
    ) -> None:
        agent = await async_client.agents.create(name="Versioned session")
        version = (await async_client.agents.versions.list(agent.id))[0]
        token = await async_client.session_token(agent.id, version_id=version.id)
        conn = await async_client.connect(token)
        try:
            assert isinstance(await conn.recv(timeout=5), vatel.SessionStarted)
        finally:
            await conn.close()
        assert conn.closed and conn.close_code == 1000
        assert server.sessions[-1].version_id == version.id


class TestInterruption:
    def test_speech_over_the_agent_interrupts_it(self) -> None:
        # At pace=0 the greeting would be sent before anyone could talk over it.
        with (
            MockServer(pace=2) as paced,
            vatel.Client(api_key=paced.api_key, base_url=paced.base_url) as client,
        ):
            agent_id = new_agent(client, first_message="Welcome to the clinic. " * 12)
            with client.connect(client.session_token(agent_id)) as conn:
                assert isinstance(conn.recv(timeout=5), vatel.SessionStarted)
                event = conn.recv(timeout=5)
                while not isinstance(event, vatel.ResponseAudio):
                    event = conn.recv(timeout=5)
                talking_turn = event.turn_id
                for chunk in frames(UTTERANCE):
                    conn.send_input_audio_bytes(chunk)
                events: list[vatel.Event] = []
                while not isinstance(event := conn.recv(timeout=5), vatel.Interruption):
                    events.append(event)
                # Nothing more of the interrupted turn arrives after the interruption.
                while not (
                    isinstance(event := conn.recv(timeout=5), vatel.ResponseAudio)
                    and event.is_final
                ):
                    events.append(event)
                    assert not (
                        isinstance(event, vatel.ResponseAudio) and event.turn_id == talking_turn
                    )
        assert event.turn_id != talking_turn, "the agent answered the interruption in a new turn"


class TestHandshakeRefusals:
    def test_garbage_token_is_401(self, client: vatel.Client) -> None:
        agent_id = new_agent(client)
        with pytest.raises(vatel.AuthenticationError) as info:
            client.connect("not.a.jwt", agent_id=agent_id)
        assert info.value.status_code == 401 and "not.a.jwt" not in str(info.value)

    def test_expired_token_is_401(self, client: vatel.Client, server: MockServer) -> None:
        agent_id = new_agent(client)
        expired = server.issue_token(agent_id, ttl=-1)
        with pytest.raises(vatel.AuthenticationError) as info:
            client.connect(expired, agent_id=agent_id)
        for text in (str(info.value), repr(info.value), info.value.body or "", info.value.message):
            assert expired not in text

    def test_token_for_another_agent_is_400(self, client: vatel.Client) -> None:
        token = client.session_token(new_agent(client))
        with pytest.raises(vatel.BadRequestError):
            client.connect(token, agent_id=new_agent(client))

    def test_deleted_agent_is_404(self, client: vatel.Client) -> None:
        agent_id = new_agent(client)
        token = client.session_token(agent_id)
        client.agents.delete(agent_id)
        with pytest.raises(vatel.NotFoundError):
            client.connect(token)

    async def test_a_bare_token_string_names_its_agent_through_its_claims(
        self, api: Api, server: MockServer
    ) -> None:
        agent = await api(lambda c: c.agents.create(name="Claims"))
        token = await api(lambda c: c.session_token(agent.id))
        conn = await api(lambda c: c.connect(token.token))  # a bare string: no agent_id
        try:
            started = await (conn.recv(timeout=5) if api.is_async else to_thread(conn.recv, 5))
            assert isinstance(started, vatel.SessionStarted)
        finally:
            await (conn.close() if api.is_async else to_thread(conn.close))
        assert server.sessions[-1].agent_id == agent.id

    @pytest.mark.parametrize("flavour", ["sync", "async"])
    async def test_an_unknown_agent_is_a_local_error_before_dialing(self, flavour: str) -> None:
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            listener.setblocking(False)
            base_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
            cls = vatel.AsyncClient if flavour == "async" else vatel.Client
            api = Api(cls(api_key="vk_test_" + "k" * 24, base_url=base_url))
            try:
                with pytest.raises(ValueError, match="agent_id=") as info:
                    await api(lambda c: c.connect("opaque-token-without-claims", open_timeout=0.5))
            finally:
                await api.close()
            with pytest.raises(BlockingIOError):
                listener.accept()  # nobody dialed
        assert "opaque-token-without-claims" not in str(info.value)

    def test_agent_and_version_claims_in_either_spelling(self) -> None:
        def jwt(claims: dict[str, str]) -> str:
            def part(data: dict[str, str]) -> str:
                raw = json.dumps(data).encode()
                return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

            return f"{part({'alg': 'HS256'})}.{part(claims)}.c2lnbmF0dXJl"

        snake = vatel.Client(api_key="vk_test_" + "k" * 24, base_url="http://h")
        with snake:
            url = snake.connection_url(jwt({"agent_id": "a1", "version_id": "v1"}))
            assert "agentId=a1" in url and "versionId=v1" in url
            url = snake.connection_url(jwt({"agentId": "a2", "versionId": "v2"}))
            assert "agentId=a2" in url and "versionId=v2" in url
            url = snake.connection_url(jwt({"agentId": "a2"}), agent_id="explicit")
            assert "agentId=explicit" in url and "versionId" not in url

    async def test_async_refusal_has_the_same_classes(
        self, async_client: vatel.AsyncClient
    ) -> None:
        agent = await async_client.agents.create(name="x")
        with pytest.raises(vatel.AuthenticationError):
            await async_client.connect("bad-token", agent_id=agent.id)
        with pytest.raises(vatel.AuthenticationError):
            async with async_client.connect("bad-token", agent_id=agent.id):
                pass  # pragma: no cover

    def test_refused_tcp_is_a_connection_error(self) -> None:
        with pytest.raises(vatel.APIConnectionError):
            vatel.connect("ws://127.0.0.1:9/v1/connection?token=secret-tok", open_timeout=2)

    def test_hung_handshake_times_out(self, client: vatel.Client, server: MockServer) -> None:
        token = client.session_token(new_agent(client))
        server.faults.hang_handshake()
        with pytest.raises(vatel.APITimeoutError) as info:
            client.connect(token, open_timeout=0.5)
        assert token.token not in str(info.value)


class TestServerMisbehaviour:
    def test_unknown_event_types_arrive_as_unknown_events(
        self, client: vatel.Client, server: MockServer
    ) -> None:
        server.faults.send_malformed("unknown_type", after_chunks=0)
        with client.connect(client.session_token(new_agent(client))) as conn:
            assert isinstance(conn.recv(timeout=5), vatel.SessionStarted)
            event = conn.recv(timeout=5)
            assert isinstance(event, vatel.UnknownEvent) and event.type
            conn.send_input_audio_bytes(bytes(FRAME_BYTES))  # the session goes on

    @pytest.mark.parametrize(
        "kind", ["non_json", "not_object", "missing_type", "wrong_data", "binary"]
    )
    def test_a_malformed_frame_is_a_typed_error_and_the_session_goes_on(
        self, client: vatel.Client, server: MockServer, kind: str
    ) -> None:
        server.faults.send_malformed(kind, after_chunks=0)  # type: ignore[arg-type]
        with client.connect(client.session_token(new_agent(client))) as conn:
            assert isinstance(conn.recv(timeout=5), vatel.SessionStarted)
            with pytest.raises(vatel.ProtocolError) as info:
                conn.recv(timeout=5)
            assert info.value.frame is not None
            for chunk in frames(UTTERANCE):
                conn.send_input_audio_bytes(chunk)
            event = conn.recv(timeout=5)
            assert isinstance(event, vatel.SpeechStarted)

    async def test_iteration_logs_and_skips_a_malformed_frame(
        self, async_client: vatel.AsyncClient, server: MockServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        agent = await async_client.agents.create(name="x")
        server.faults.send_malformed("non_json", after_chunks=0)
        events: list[vatel.Event] = []
        async with async_client.connect(await async_client.session_token(agent.id)) as conn:
            async for event in conn:
                events.append(event)
                if isinstance(event, vatel.SessionStarted):
                    server.end_session()
        assert types_of(events) == ["session_started", "session_ended"]
        assert any(
            "malformed" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
        )

    def test_abnormal_close_mid_audio_raises(
        self, client: vatel.Client, server: MockServer
    ) -> None:
        server.faults.close_after(3, code=1011, reason="agent crashed")
        agent_id = new_agent(client, first_message="Hello, this is a long greeting. " * 4)
        received: list[vatel.Event] = []
        with client.connect(client.session_token(agent_id)) as conn:
            with pytest.raises(vatel.ConnectionClosedError) as info:
                for event in conn:
                    received.append(event)
            with pytest.raises(vatel.ConnectionClosedError):
                conn.send_input_audio_bytes(bytes(FRAME_BYTES))
        assert info.value.code == 1011 and info.value.reason == "agent crashed"
        assert sum(isinstance(e, vatel.ResponseAudio) for e in received) == 3

    def test_normal_close_mid_audio_ends_iteration_cleanly(
        self, client: vatel.Client, server: MockServer
    ) -> None:
        server.faults.close_after(2, code=1001, reason="going away")
        agent_id = new_agent(client, first_message="Hello, this is a long greeting. " * 4)
        with client.connect(client.session_token(agent_id)) as conn:
            events = list(conn)
        assert sum(isinstance(e, vatel.ResponseAudio) for e in events) == 2

    async def test_dropped_connection_is_1006(
        self, async_client: vatel.AsyncClient, server: MockServer
    ) -> None:
        agent = await async_client.agents.create(name="x", first_message="A long greeting. " * 6)
        server.faults.drop_after(2)
        async with async_client.connect(await async_client.session_token(agent.id)) as conn:
            with pytest.raises(vatel.ConnectionClosedError) as info:
                async for _ in conn:
                    pass
        assert info.value.code == 1006 and not info.value.ok

    def test_send_after_close_raises_with_code_and_reason(self, client: vatel.Client) -> None:
        conn = client.connect(client.session_token(new_agent(client)))
        conn.close(4000, "done here")
        with pytest.raises(vatel.ConnectionClosedError) as info:
            conn.send_input_audio_bytes(bytes(FRAME_BYTES))
        assert info.value.code == 4000 and info.value.reason == "done here"
        # What arrived before the close is still delivered, then the close is reported.
        with pytest.raises(vatel.ConnectionClosedError):
            while True:
                conn.recv(timeout=1)

    async def test_async_send_after_server_end(
        self, async_client: vatel.AsyncClient, server: MockServer
    ) -> None:
        agent = await async_client.agents.create(name="x")
        async with async_client.connect(await async_client.session_token(agent.id)) as conn:
            assert isinstance(await conn.recv(timeout=5), vatel.SessionStarted)
            server.end_session()
            assert [e.type async for e in conn] == ["session_ended"]
            await server.sessions[-1].wait_closed_async()
            # The session ended: refused locally, before the socket is looked at.
            with pytest.raises(vatel.SessionEndedError) as info:
                await conn.send_input_audio_bytes(bytes(FRAME_BYTES))
            assert info.value.code == 1000 and info.value.ok

    def test_silent_peer_is_noticed_within_the_keepalive_timeout(
        self, client: vatel.Client, server: MockServer
    ) -> None:
        server.faults.go_silent_after(0)
        with client.connect(
            client.session_token(new_agent(client)), ping_interval=0.2, ping_timeout=0.3
        ) as conn:
            assert isinstance(conn.recv(timeout=5), vatel.SessionStarted)
            with pytest.raises(vatel.ConnectionClosedError) as info:
                conn.recv(timeout=5)
        assert info.value.code == 1011 or info.value.code == 1006

    def test_frame_over_max_size_closes_with_1009(
        self, client: vatel.Client, server: MockServer
    ) -> None:
        server.faults.send_oversized(64 * 1024, after_chunks=0)
        with client.connect(client.session_token(new_agent(client)), max_size=16 * 1024) as conn:
            assert isinstance(conn.recv(timeout=5), vatel.SessionStarted)
            with pytest.raises(vatel.ConnectionClosedError) as info:
                conn.recv(timeout=5)
        assert info.value.code == 1009


class TestClosing:
    def test_close_with_unread_frames_completes_the_handshake(
        self, client: vatel.Client, server: MockServer
    ) -> None:
        # The greeting floods the receive buffer (pace=0) and nobody reads it.
        agent_id = new_agent(client, first_message="A rather long greeting. " * 20)
        conn = client.connect(client.session_token(agent_id), close_timeout=3)
        assert isinstance(conn.recv(timeout=5), vatel.SessionStarted)
        deadline = time.monotonic() + 5
        while len(server.sessions[-1].sent) < 40 and time.monotonic() < deadline:
            time.sleep(0.01)
        conn.close()
        assert conn.close_code == 1000, "a clean close, not a timed-out one (1006)"
        assert server.sessions[-1].wait_closed(5)
        assert server.sessions[-1].close_code == 1000

    async def test_async_close_with_unread_frames_completes_the_handshake(
        self, async_client: vatel.AsyncClient, server: MockServer
    ) -> None:
        agent = await async_client.agents.create(name="x", first_message="A long greeting. " * 20)
        conn = await async_client.connect(
            await async_client.session_token(agent.id), close_timeout=3
        )
        assert isinstance(await conn.recv(timeout=5), vatel.SessionStarted)
        while len(server.sessions[-1].sent) < 40:
            await asyncio.sleep(0.01)
        await conn.close()
        assert conn.close_code == 1000


class TestLocalErrors:
    def test_odd_pcm_is_rejected_and_nothing_is_sent(
        self, client: vatel.Client, server: MockServer
    ) -> None:
        with client.connect(client.session_token(new_agent(client))) as conn:
            with pytest.raises(vatel.AudioFormatError, match="even number"):
                conn.send_input_audio_bytes(b"\x01\x02\x03")
            with pytest.raises(vatel.AudioFormatError):
                conn.send_input_audio("%%%")
            conn.send_input_audio_bytes(b"\x01\x02")
        session = server.sessions[-1]
        session.wait_closed(5)
        assert session.received_audio == b"\x01\x02"
        assert session.rejected == []

    def test_recv_timeout_loses_nothing(self, client: vatel.Client) -> None:
        with client.connect(client.session_token(new_agent(client))) as conn:
            assert isinstance(conn.recv(timeout=5), vatel.SessionStarted)
            with pytest.raises(TimeoutError):
                conn.recv(timeout=0.05)
            for chunk in frames(UTTERANCE):
                conn.send_input_audio_bytes(chunk)
            assert isinstance(conn.recv(timeout=5), vatel.SpeechStarted)

    @pytest.mark.parametrize(
        ("value", "error"), [(0, ValueError), (-1, ValueError), ("5", TypeError)]
    )
    def test_a_bad_send_timeout_is_refused_before_dialing(
        self, value: object, error: type[Exception]
    ) -> None:
        url = "ws://127.0.0.1:9/v1/connection?token=secret-tok&agentId=a"
        with pytest.raises(error, match="send_timeout"):
            vatel.connect(url, send_timeout=value)  # type: ignore[arg-type]
        with pytest.raises(error, match="send_timeout"):
            vatel.connect_async(url, send_timeout=value)  # type: ignore[arg-type]

    def test_tls_verification_cannot_be_switched_off_with_a_boolean(
        self, client: vatel.Client
    ) -> None:
        with pytest.raises(TypeError, match="SSLContext"):
            client.connect("t", agent_id="a", ssl=False)  # type: ignore[typeddict-item]
        with pytest.raises(TypeError, match="Unknown connect option"):
            client.connect("t", agent_id="a", verify=False)  # type: ignore[call-arg]


class TestModuleLevelConnect:
    def test_custom_headers_through_vatel_connect(
        self, client: vatel.Client, server: MockServer
    ) -> None:
        url = client.connection_url(client.session_token(new_agent(client)))
        with vatel.connect(url, additional_headers={"X-Call-Ref": "abc"}, open_timeout=5) as conn:
            assert isinstance(conn.recv(timeout=5), vatel.SessionStarted)
            assert "***" in conn.url and "token=" in conn.url

    async def test_connect_async(self, client: vatel.Client) -> None:
        url = client.connection_url(client.session_token(new_agent(client)))
        async with vatel.connect_async(url) as conn:
            assert isinstance(await conn.recv(timeout=5), vatel.SessionStarted)
            assert repr(conn).startswith("<AsyncConnection")


class TestSecrets:
    def test_no_token_in_logs_during_a_session(
        self, client: vatel.Client, server: MockServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        token = client.session_token(new_agent(client))
        with client.connect(token) as conn:
            for chunk in frames(UTTERANCE):
                conn.send_input_audio_bytes(chunk)
            conn.recv(timeout=5)
            texts = [repr(conn), str(conn), conn.url]
        texts += [record.getMessage() for record in caplog.records]
        assert any("GET /v1/connection" in t for t in texts), "websockets logged the handshake"
        assert not [t for t in texts if token.token in t]


class TestLoad:
    async def test_100_sessions_at_once_lose_and_reorder_nothing(
        self, async_client: vatel.AsyncClient, server: MockServer
    ) -> None:
        agent = await async_client.agents.create(name="Load")

        async def one_session(n: int) -> tuple[str, bytes]:
            pcm = bytes((n + i) % 256 for i in range(FRAME_BYTES)) * 50  # 1 s, unique per session
            token = await async_client.session_token(agent.id)
            async with async_client.connect(token) as conn:
                started = await conn.recv(timeout=10)
                assert isinstance(started, vatel.SessionStarted)
                for chunk in frames(pcm):
                    await conn.send_input_audio_bytes(chunk)
            return started.id, pcm

        results = await asyncio.gather(*(one_session(n) for n in range(100)))
        by_id = {session.id: session for session in server.sessions}
        for session_id, pcm in results:
            session = by_id[session_id]
            assert await session.wait_closed_async(10)
            assert session.received_audio == pcm

    def test_one_reader_several_sender_threads(
        self, client: vatel.Client, server: MockServer
    ) -> None:
        senders, per_sender = 4, 100
        with client.connect(client.session_token(new_agent(client))) as conn:
            assert isinstance(conn.recv(timeout=5), vatel.SessionStarted)
            received: list[vatel.Event] = []
            stop = threading.Event()

            def read() -> None:
                while not stop.is_set():
                    try:
                        received.append(conn.recv(timeout=0.1))
                    except TimeoutError:
                        continue
                    except vatel.ConnectionClosedError:
                        return

            def send(n: int) -> None:
                for i in range(per_sender):
                    # Each chunk says who sent it and in which order.
                    conn.send_input_audio_bytes(bytes([n, i % 256]) * (FRAME_BYTES // 2))

            reader = threading.Thread(target=read)
            reader.start()
            threads = [threading.Thread(target=send, args=(n,)) for n in range(senders)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            stop.set()
            reader.join()
        session = server.sessions[-1]
        assert session.wait_closed(5)
        audio = session.received_audio
        chunks = [audio[i : i + FRAME_BYTES] for i in range(0, len(audio), FRAME_BYTES)]
        assert len(chunks) == senders * per_sender
        for n in range(senders):
            mine = [chunk for chunk in chunks if chunk[0] == n]
            assert [chunk[1] for chunk in mine] == [i % 256 for i in range(per_sender)]
            assert all(chunk == chunk[:2] * (FRAME_BYTES // 2) for chunk in mine)


class TestTypeHints:
    def test_public_signatures_resolve_at_run_time(self) -> None:
        targets: list[typing.Any] = [
            vatel.connect,
            vatel.connect_async,
            vatel.ConnectOptions,
            vatel.AsyncConnect.__init__,
            vatel.AsyncConnect.__aenter__,
        ]
        for cls in (vatel.Connection, vatel.AsyncConnection):
            for name, member in vars(cls).items():
                if not name.startswith("_") or name in ("__iter__", "__aiter__", "__enter__"):
                    targets.append(getattr(member, "fget", member))
        for name in ("session_id", "state", "closed", "close_code", "close_reason"):
            targets.append(getattr(vatel.Connection, name).fget)
        resolved = {getattr(t, "__qualname__", repr(t)): typing.get_type_hints(t) for t in targets}
        assert resolved["Connection.run"]["tools"] == (vatel.ToolRouter | None)
        assert resolved["AsyncConnection.run"]["return"] is type(None)
        assert "send_timeout" in resolved["ConnectOptions"]
        assert "trust_env" in resolved["ConnectOptions"]
