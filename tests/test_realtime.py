"""Voice sessions over real WebSockets, each behaviour on the sync and the async API.

Most tests talk to the mock server's agent; those that need a peer doing something
at an exact moment (a frame half sent when a time-out fires, a tool call left
unanswered while ``run`` is stopped) use a scripted server of their own.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import json
import logging
import socket
import threading
import time
import typing
from collections.abc import Callable, Iterator

import pytest
from websockets.asyncio.server import ServerConnection

import vatel
from _flavours import (
    ENDED,
    STARTED,
    TOKEN,
    Address,
    Flavour,
    ScriptedServer,
    Session,
    message,
    peak_memory,
    unmasked_text_frame,
)
from vatel.audio import FRAME_BYTES, silence, voice_like
from vatel.testing import MockServer

SPEECH = voice_like(0.8)
UTTERANCE = SPEECH + silence(0.8)


def frames(pcm: bytes) -> Iterator[bytes]:
    for start in range(0, len(pcm), FRAME_BYTES):
        yield pcm[start : start + FRAME_BYTES]


def speak(session: Session, pcm: bytes = UTTERANCE) -> None:
    for chunk in frames(pcm):
        session.send_audio(chunk)


def new_agent(client: vatel.Client, **fields: object) -> str:
    return client.agents.create(name="Realtime test", **fields).id  # type: ignore[arg-type]


def types_of(events: list[vatel.Event]) -> list[str]:
    return [event.type for event in events]


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 5) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout} s")
        time.sleep(0.01)


class TestWalkthrough:
    """The Go SDK's walkthrough: token, connect, events, audio, tool call, end."""

    def test_a_full_turn(self, flavour: Flavour, client: vatel.Client, server: MockServer) -> None:
        session = flavour.open(server, client.session_token(new_agent(client)))
        first = session.recv(timeout=5)
        assert isinstance(first, vatel.SessionStarted) and session.conn.session_id == first.id
        assert session.conn.state is vatel.SessionState.STARTED
        speak(session)
        events: list[vatel.Event] = []
        while not (
            isinstance(event := session.recv(timeout=5), vatel.ResponseAudio) and event.is_final
        ):
            events.append(event)
        events.append(event)
        session.close()
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
        mock = server.sessions[-1]
        assert mock.wait_closed(5)
        assert mock.received_audio == UTTERANCE

    def test_tool_call_round_trip_and_session_end(
        self, flavour: Flavour, client: vatel.Client, server: MockServer
    ) -> None:
        agent_id = new_agent(client)
        server.add_client_tool(
            agent_id,
            "get_weather",
            arguments=[{"name": "city", "dataType": "string", "value": "Paris"}],
        )
        session = flavour.open(server, client.session_token(agent_id))
        speak(session)
        events: list[vatel.Event] = []
        for event in session.iterate():
            events.append(event)
            if isinstance(event, vatel.ToolCall):
                assert event.tool_name == "get_weather"
                assert event.kwargs == {"city": "Paris"}
                session.send_tool_output(event.tool_call_id, {"sky": "sunny", "temp_c": 21})
            if (
                isinstance(event, vatel.ResponseAudio)
                and event.is_final
                and any(isinstance(e, vatel.ToolCall) for e in events)
            ):
                server.end_session()
        assert isinstance(events[0], vatel.SessionStarted)
        assert isinstance(events[-1], vatel.SessionEnded)
        assert session.conn.state is vatel.SessionState.ENDED
        assert session.conn.closed and session.conn.close_code == 1000
        spoken = " ".join(
            e.text for e in events if isinstance(e, vatel.ResponseText) and e.is_final
        )
        assert "sunny" in spoken
        outputs = server.sessions[-1].tool_outputs
        assert len(outputs) == 1 and outputs[0].known
        assert outputs[0].output == '{"sky": "sunny", "temp_c": 21}'
        assert server.sessions[-1].received_audio == UTTERANCE

    def test_the_version_goes_on_the_url(
        self, flavour: Flavour, client: vatel.Client, server: MockServer
    ) -> None:
        agent_id = new_agent(client)
        version = client.agents.versions.list(agent_id)[0]
        token = client.session_token(agent_id, version_id=version.id)
        session = flavour.open(server, token)
        assert isinstance(session.recv(timeout=5), vatel.SessionStarted)
        session.close()
        assert session.conn.closed and session.conn.close_code == 1000
        assert server.sessions[-1].version_id == version.id

    @pytest.mark.anyio
    async def test_the_await_form_and_the_async_with_form_agree(
        self, async_client: vatel.AsyncClient, server: MockServer
    ) -> None:
        # Only the async API has two ways to open a session.
        agent = await async_client.agents.create(name="Both forms")
        conn = await async_client.connect(await async_client.session_token(agent.id))
        try:
            assert isinstance(await conn.recv(timeout=5), vatel.SessionStarted)
        finally:
            await conn.close()
        async with async_client.connect(await async_client.session_token(agent.id)) as inner:
            assert isinstance(await inner.recv(timeout=5), vatel.SessionStarted)
        assert conn.close_code == inner.close_code == 1000
        assert len(server.sessions) == 2


class TestInterruption:
    def test_speech_over_the_agent_interrupts_it(self, flavour: Flavour) -> None:
        # At pace=0 the greeting would be sent before anyone could talk over it.
        with (
            MockServer(pace=2) as paced,
            vatel.Client(api_key=paced.api_key, base_url=paced.base_url) as client,
        ):
            agent_id = new_agent(client, first_message="Welcome to the clinic. " * 12)
            session = flavour.open(paced, client.session_token(agent_id))
            assert isinstance(session.recv(timeout=5), vatel.SessionStarted)
            event = session.recv(timeout=5)
            while not isinstance(event, vatel.ResponseAudio):
                event = session.recv(timeout=5)
            talking_turn = event.turn_id
            speak(session)
            while not isinstance(event := session.recv(timeout=5), vatel.Interruption):
                pass
            # Nothing more of the interrupted turn arrives after the interruption.
            while not (
                isinstance(event := session.recv(timeout=5), vatel.ResponseAudio) and event.is_final
            ):
                assert not (
                    isinstance(event, vatel.ResponseAudio) and event.turn_id == talking_turn
                )
            session.close()
        assert event.turn_id != talking_turn, "the agent answered the interruption in a new turn"


class TestHandshakeRefusals:
    def test_garbage_token_is_401(
        self, flavour: Flavour, client: vatel.Client, server: MockServer
    ) -> None:
        agent_id = new_agent(client)
        with pytest.raises(vatel.AuthenticationError) as info:
            flavour.open(server, "not.a.jwt", agent_id=agent_id)
        assert info.value.status_code == 401 and "not.a.jwt" not in str(info.value)

    def test_expired_token_is_401(
        self, flavour: Flavour, client: vatel.Client, server: MockServer
    ) -> None:
        agent_id = new_agent(client)
        expired = server.issue_token(agent_id, ttl=-1)
        with pytest.raises(vatel.AuthenticationError) as info:
            flavour.open(server, expired, agent_id=agent_id)
        for text in (str(info.value), repr(info.value), info.value.body or "", info.value.message):
            assert expired not in text

    def test_token_for_another_agent_is_400(
        self, flavour: Flavour, client: vatel.Client, server: MockServer
    ) -> None:
        token = client.session_token(new_agent(client))
        with pytest.raises(vatel.BadRequestError):
            flavour.open(server, token, agent_id=new_agent(client))

    def test_deleted_agent_is_404(
        self, flavour: Flavour, client: vatel.Client, server: MockServer
    ) -> None:
        agent_id = new_agent(client)
        token = client.session_token(agent_id)
        client.agents.delete(agent_id)
        with pytest.raises(vatel.NotFoundError):
            flavour.open(server, token)

    def test_a_bare_token_string_names_its_agent_through_its_claims(
        self, flavour: Flavour, client: vatel.Client, server: MockServer
    ) -> None:
        agent_id = new_agent(client)
        token = client.session_token(agent_id)
        session = flavour.open(server, token.token)  # a bare string: no agent_id
        assert isinstance(session.recv(timeout=5), vatel.SessionStarted)
        session.close()
        assert server.sessions[-1].agent_id == agent_id

    def test_an_unknown_agent_is_a_local_error_before_dialing(self, flavour: Flavour) -> None:
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            listener.setblocking(False)
            port = listener.getsockname()[1]
            nobody = Address("vk_test_" + "k" * 24, f"http://127.0.0.1:{port}")
            with pytest.raises(ValueError, match="agent_id=") as info:
                flavour.open(nobody, "opaque-token-without-claims", open_timeout=0.5)
            with pytest.raises(BlockingIOError):
                listener.accept()  # nobody dialed
        assert "opaque-token-without-claims" not in str(info.value)

    def test_agent_and_version_claims_in_either_spelling(self) -> None:
        # URL building only: no I/O, the same code for both clients.
        def jwt(claims: dict[str, str]) -> str:
            def part(data: dict[str, str]) -> str:
                raw = json.dumps(data).encode()
                return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

            return f"{part({'alg': 'HS256'})}.{part(claims)}.c2lnbmF0dXJl"

        for cls in (vatel.Client, vatel.AsyncClient):
            sdk = cls(api_key="vk_test_" + "k" * 24, base_url="http://h")
            url = sdk.connection_url(jwt({"agent_id": "a1", "version_id": "v1"}))
            assert "agentId=a1" in url and "versionId=v1" in url
            url = sdk.connection_url(jwt({"agentId": "a2", "versionId": "v2"}))
            assert "agentId=a2" in url and "versionId=v2" in url
            url = sdk.connection_url(jwt({"agentId": "a2"}), agent_id="explicit")
            assert "agentId=explicit" in url and "versionId" not in url

    def test_refused_tcp_is_a_connection_error(self, flavour: Flavour) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]  # closed again: nothing listens there
        url = f"ws://127.0.0.1:{port}/v1/connection?token=secret-tok&agentId=a"
        with pytest.raises(vatel.APIConnectionError) as info:
            flavour.connect(url, open_timeout=2)
        assert not isinstance(info.value, vatel.APITimeoutError)
        assert "secret-tok" not in str(info.value)

    @pytest.mark.timeout(20)
    def test_hung_handshake_times_out(
        self, flavour: Flavour, client: vatel.Client, server: MockServer
    ) -> None:
        token = client.session_token(new_agent(client))
        server.faults.hang_handshake()
        with pytest.raises(vatel.APITimeoutError) as info:
            flavour.open(server, token, open_timeout=0.5)
        assert token.token not in str(info.value)
        assert not server.sessions, "the handshake was never answered"


class TestServerMisbehaviour:
    def test_unknown_event_types_arrive_as_unknown_events(
        self, flavour: Flavour, client: vatel.Client, server: MockServer
    ) -> None:
        server.faults.send_malformed("unknown_type", after_chunks=0)
        session = flavour.open(server, client.session_token(new_agent(client)))
        assert isinstance(session.recv(timeout=5), vatel.SessionStarted)
        event = session.recv(timeout=5)
        assert isinstance(event, vatel.UnknownEvent) and event.type
        session.send_audio(bytes(FRAME_BYTES))  # the session goes on
        session.close()
        assert server.sessions[-1].received_audio == bytes(FRAME_BYTES)

    @pytest.mark.parametrize(
        "kind", ["non_json", "not_object", "missing_type", "wrong_data", "binary"]
    )
    def test_a_malformed_frame_is_a_typed_error_and_the_session_goes_on(
        self, flavour: Flavour, client: vatel.Client, server: MockServer, kind: str
    ) -> None:
        server.faults.send_malformed(kind, after_chunks=0)  # type: ignore[arg-type]
        session = flavour.open(server, client.session_token(new_agent(client)))
        assert isinstance(session.recv(timeout=5), vatel.SessionStarted)
        with pytest.raises(vatel.ProtocolError) as info:
            session.recv(timeout=5)
        assert info.value.frame is not None
        speak(session)
        assert isinstance(session.recv(timeout=5), vatel.SpeechStarted)

    def test_iteration_logs_and_skips_a_malformed_frame(
        self,
        flavour: Flavour,
        client: vatel.Client,
        server: MockServer,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        server.faults.send_malformed("non_json", after_chunks=0)
        session = flavour.open(server, client.session_token(new_agent(client)))
        events: list[vatel.Event] = []
        with caplog.at_level(logging.WARNING, logger="vatel"):
            for event in session.iterate():
                events.append(event)
                if isinstance(event, vatel.SessionStarted):
                    server.end_session()
        assert types_of(events) == ["session_started", "session_ended"]
        assert [m.error is not None for m in server.sessions[-1].sent[:2]] == [False, True]
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len([w for w in warnings if "malformed" in w]) == 1

    def test_abnormal_close_mid_audio_raises(
        self, flavour: Flavour, client: vatel.Client, server: MockServer
    ) -> None:
        server.faults.close_after(3, code=1011, reason="agent crashed")
        agent_id = new_agent(client, first_message="Hello, this is a long greeting. " * 4)
        session = flavour.open(server, client.session_token(agent_id))
        received: list[vatel.Event] = []
        with pytest.raises(vatel.ConnectionClosedError) as info:
            for event in session.iterate():
                received.append(event)
        with pytest.raises(vatel.ConnectionClosedError) as sending:
            session.send_audio(bytes(FRAME_BYTES))
        assert info.value.code == 1011 and info.value.reason == "agent crashed"
        assert not info.value.ok and sending.value.code == 1011
        assert sum(isinstance(e, vatel.ResponseAudio) for e in received) == 3

    def test_normal_close_mid_audio_ends_iteration_cleanly(
        self, flavour: Flavour, client: vatel.Client, server: MockServer
    ) -> None:
        server.faults.close_after(2, code=1001, reason="going away")
        agent_id = new_agent(client, first_message="Hello, this is a long greeting. " * 4)
        session = flavour.open(server, client.session_token(agent_id))
        events = list(session.iterate())
        assert sum(isinstance(e, vatel.ResponseAudio) for e in events) == 2
        assert session.conn.close_code == 1001 and session.conn.close_reason == "going away"

    def test_dropped_connection_is_1006(
        self, flavour: Flavour, client: vatel.Client, server: MockServer
    ) -> None:
        agent_id = new_agent(client, first_message="A long greeting. " * 6)
        server.faults.drop_after(2)
        session = flavour.open(server, client.session_token(agent_id))
        received: list[vatel.Event] = []
        with pytest.raises(vatel.ConnectionClosedError) as info:
            for event in session.iterate():
                received.append(event)
        assert info.value.code == 1006 and not info.value.ok
        assert sum(isinstance(e, vatel.ResponseAudio) for e in received) == 2

    def test_send_after_close_raises_with_code_and_reason(
        self, flavour: Flavour, client: vatel.Client, server: MockServer
    ) -> None:
        session = flavour.open(server, client.session_token(new_agent(client)))
        session.close(4000, "done here")
        with pytest.raises(vatel.ConnectionClosedError) as info:
            session.send_audio(bytes(FRAME_BYTES))
        assert info.value.code == 4000 and info.value.reason == "done here"
        # What arrived before the close is still delivered, then the close is reported.
        delivered: list[vatel.Event] = []
        with pytest.raises(vatel.ConnectionClosedError) as receiving:
            while True:
                delivered.append(session.recv(timeout=1))
        assert receiving.value.code == 4000
        assert server.sessions[-1].wait_closed(5)
        assert server.sessions[-1].close_code == 4000
        assert server.sessions[-1].received_audio == b""

    def test_send_after_server_end(
        self, flavour: Flavour, client: vatel.Client, server: MockServer
    ) -> None:
        session = flavour.open(server, client.session_token(new_agent(client)))
        assert isinstance(session.recv(timeout=5), vatel.SessionStarted)
        server.end_session()
        assert [e.type for e in session.iterate()] == ["session_ended"]
        assert server.sessions[-1].wait_closed(5)
        # The session ended: refused locally, before the socket is looked at.
        with pytest.raises(vatel.SessionEndedError) as info:
            session.send_audio(bytes(FRAME_BYTES))
        assert info.value.code == 1000 and info.value.ok

    @pytest.mark.timeout(20)
    def test_silent_peer_is_noticed_within_the_keepalive_timeout(
        self, flavour: Flavour, client: vatel.Client, server: MockServer
    ) -> None:
        server.faults.go_silent_after(0)
        session = flavour.open(
            server, client.session_token(new_agent(client)), ping_interval=0.2, ping_timeout=0.3
        )
        assert isinstance(session.recv(timeout=5), vatel.SessionStarted)
        with pytest.raises(vatel.ConnectionClosedError) as info:
            session.recv(timeout=5)
        assert info.value.code in (1006, 1011)

    def test_frame_over_max_size_closes_with_1009(
        self, flavour: Flavour, client: vatel.Client, server: MockServer
    ) -> None:
        server.faults.send_oversized(64 * 1024, after_chunks=0)
        session = flavour.open(server, client.session_token(new_agent(client)), max_size=16 * 1024)
        assert isinstance(session.recv(timeout=5), vatel.SessionStarted)
        with pytest.raises(vatel.ConnectionClosedError) as info:
            session.recv(timeout=5)
        assert info.value.code == 1009


class TestClosing:
    def test_close_with_unread_frames_completes_the_handshake(
        self, flavour: Flavour, client: vatel.Client, server: MockServer
    ) -> None:
        # The greeting floods the receive buffer (pace=0) and nobody reads it.
        agent_id = new_agent(client, first_message="A rather long greeting. " * 20)
        session = flavour.open(server, client.session_token(agent_id), close_timeout=3)
        assert isinstance(session.recv(timeout=5), vatel.SessionStarted)
        wait_until(
            lambda: len(server.sessions[-1].sent) >= 40, "the server sending 40 unread frames"
        )
        session.close()
        assert session.conn.close_code == 1000, "a clean close, not a timed-out one (1006)"
        assert server.sessions[-1].wait_closed(5)
        assert server.sessions[-1].close_code == 1000


def send_first_half(kind: str) -> Callable[[ServerConnection, ScriptedServer, str], typing.Any]:
    """A script step that puts ``frame`` on the wire in two parts, the second only
    once the test opens the ``rest`` gate: as a fragmented message (the first
    fragment whole) or as one frame whose bytes stop half-way."""

    async def fragmented(ws: ServerConnection, server: ScriptedServer, frame: str) -> None:
        middle = len(frame) // 2

        async def parts() -> typing.AsyncIterator[str]:
            yield frame[:middle]
            server.mark("half sent")
            await server.gate("rest")
            yield frame[middle:]

        await ws.send(parts())

    async def half_frame(ws: ServerConnection, server: ScriptedServer, frame: str) -> None:
        data = unmasked_text_frame(frame)
        ws.transport.write(data[: len(data) // 2])
        server.mark("half sent")
        await server.gate("rest")
        ws.transport.write(data[len(data) // 2 :])

    return {"fragment": fragmented, "half_frame": half_frame}[kind]


class TestLocalErrors:
    def test_odd_pcm_is_rejected_and_nothing_is_sent(
        self, flavour: Flavour, client: vatel.Client, server: MockServer
    ) -> None:
        session = flavour.open(server, client.session_token(new_agent(client)))
        with pytest.raises(vatel.AudioFormatError, match="even number"):
            session.send_audio(b"\x01\x02\x03")
        with pytest.raises(vatel.AudioFormatError):
            session.send_audio_base64("%%%")
        session.send_audio(b"\x01\x02")
        session.close()
        mock = server.sessions[-1]
        assert mock.wait_closed(5)
        assert mock.received_audio == b"\x01\x02"
        assert mock.rejected == []

    @pytest.mark.timeout(20)
    @pytest.mark.parametrize("in_flight", ["fragment", "half_frame"])
    def test_recv_timeout_loses_nothing(self, flavour: Flavour, in_flight: str) -> None:
        """A frame that is half on the wire when ``recv`` times out is the next
        ``recv``'s whole frame."""
        text = "Half of this arrives before the time-out, the rest after it. " * 40
        frame = message("response_text", turn_id="turn-7", text=text, is_final=True)
        send_in_two = send_first_half(in_flight)

        async def script(ws: ServerConnection, server: ScriptedServer) -> None:
            await ws.send(STARTED)
            await send_in_two(ws, server, frame)
            await ws.send(ENDED)
            await server.serve_until_closed(ws)

        with ScriptedServer(script) as server, peak_memory(8):
            session = flavour.connect(server.url(), open_timeout=5)
            assert isinstance(session.recv(timeout=5), vatel.SessionStarted)
            server.wait_mark("half sent")
            with pytest.raises(TimeoutError):
                session.recv(timeout=0.2)
            server.open_gate("rest")
            event = session.recv(timeout=5)
            assert event == vatel.ResponseText(turn_id="turn-7", text=text, is_final=True)
            assert isinstance(session.recv(timeout=5), vatel.SessionEnded)
            session.close()

    @pytest.mark.timeout(20)
    def test_recv_after_the_server_closed_reports_the_close_every_time(
        self, flavour: Flavour
    ) -> None:
        async def script(ws: ServerConnection, server: ScriptedServer) -> None:
            await ws.send(STARTED)
            await ws.send(message("speech_started", emulated=False))
            await ws.close(4001, "bye for now")

        with ScriptedServer(script) as server:
            session = flavour.connect(server.url())
            # What arrived before the close is still delivered, in order.
            assert isinstance(session.recv(timeout=5), vatel.SessionStarted)
            assert isinstance(session.recv(timeout=5), vatel.SpeechStarted)
            for _ in range(2):
                with pytest.raises(vatel.ConnectionClosedError) as info:
                    session.recv(timeout=5)
                assert (info.value.code, info.value.reason) == (4001, "bye for now")
            assert session.conn.closed and session.conn.close_code == 4001

    @pytest.mark.parametrize(
        ("value", "error"), [(0, ValueError), (-1, ValueError), ("5", TypeError)]
    )
    def test_a_bad_send_timeout_is_refused_before_dialing(
        self, flavour: Flavour, value: object, error: type[Exception]
    ) -> None:
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            listener.setblocking(False)
            port = listener.getsockname()[1]
            url = f"ws://127.0.0.1:{port}/v1/connection?token=secret-tok&agentId=a"
            with pytest.raises(error, match="send_timeout"):
                flavour.connect(url, send_timeout=value)
            with pytest.raises(BlockingIOError):
                listener.accept()  # nobody dialed

    def test_tls_verification_cannot_be_switched_off_with_a_boolean(
        self, flavour: Flavour, server: MockServer
    ) -> None:
        with pytest.raises(TypeError, match="SSLContext"):
            flavour.open(server, "t", agent_id="a", ssl=False)
        with pytest.raises(TypeError, match="Unknown connect option"):
            flavour.open(server, "t", agent_id="a", verify=False)
        assert not server.sessions


class TestModuleLevelConnect:
    def test_custom_headers_reach_the_server(self, flavour: Flavour) -> None:
        seen: list[str | None] = []

        async def script(ws: ServerConnection, server: ScriptedServer) -> None:
            assert ws.request is not None
            seen.append(ws.request.headers.get("X-Call-Ref"))
            await ws.send(STARTED)
            await server.serve_until_closed(ws)

        with ScriptedServer(script) as server:
            session = flavour.connect(
                server.url(), additional_headers={"X-Call-Ref": "abc"}, open_timeout=5
            )
            assert isinstance(session.recv(timeout=5), vatel.SessionStarted)
            session.close()
        assert seen == ["abc"]
        assert "***" in session.conn.url and "token=" in session.conn.url
        assert TOKEN not in session.conn.url and TOKEN not in repr(session.conn)
        expected = "<AsyncConnection" if flavour.is_async else "<Connection"
        assert repr(session.conn).startswith(expected)


class TestRun:
    @pytest.mark.timeout(20)
    def test_run_answers_every_tool_call_and_returns_when_the_session_ends(
        self, flavour: Flavour
    ) -> None:
        calls = [
            ("c1", "double", [{"name": "n", "dataType": "number", "value": "21"}]),
            ("c2", "double", [{"name": "n", "dataType": "number", "value": "many"}]),
            ("c3", "nowhere", []),
        ]

        async def script(ws: ServerConnection, server: ScriptedServer) -> None:
            await ws.send(STARTED)
            for call_id, name, arguments in calls:
                await ws.send(
                    message("tool_call", toolCallId=call_id, toolName=name, arguments=arguments)
                )
            while len(server.received) < len(calls):
                server.received.append(await ws.recv())
            await ws.send(ENDED)
            await ws.close()

        tools = vatel.ToolRouter()

        @tools.tool()
        def double(n: int) -> int:
            return n * 2

        seen: list[str] = []
        with ScriptedServer(script) as server:
            session = flavour.connect(server.url())
            session.run(tools, lambda event: seen.append(event.type))
        assert seen == ["session_started", "tool_call", "tool_call", "tool_call", "session_ended"]
        answers = {
            m["data"]["toolCallId"]: json.loads(m["data"]["output"])
            for m in server.received_messages()
        }
        assert answers["c1"] == 42
        assert "error" in answers["c2"] and "'n'" in answers["c2"]["error"]
        assert answers["c3"] == {"error": "Unknown tool 'nowhere'."}
        assert session.conn.closed and session.conn.close_code == 1000

    @pytest.mark.timeout(20)
    def test_interrupting_run_stops_it_and_loses_no_frame(self, flavour: Flavour) -> None:
        """Ctrl-C (sync) or cancelling the task (async) while a tool call is in
        flight: ``run`` ends with the interruption, the tool's late answer never
        goes out, the next frame waits for ``recv`` and the session closes cleanly."""
        tool_running = "the tool is running"

        async def script(ws: ServerConnection, server: ScriptedServer) -> None:
            await ws.send(STARTED)
            await ws.send(message("tool_call", toolCallId="c1", toolName="stall", arguments=[]))
            await server.gate(tool_running)
            await ws.send(message("response_text", turn_id="t1", text="One moment.", is_final=True))
            await server.gate("run stopped")
            await ws.send(message("speech_started", emulated=True))
            await server.serve_until_closed(ws)

        release = threading.Event()
        tools = vatel.ToolRouter(timeout=10)

        with ScriptedServer(script) as server, peak_memory(8):

            @tools.tool()
            def stall() -> str:
                server.open_gate(tool_running)
                release.wait(10)
                return "too late"

            session = flavour.connect(server.url(), close_timeout=2)
            interrupted = session.run_interrupted(
                tools, lambda event: isinstance(event, vatel.ResponseText)
            )
            assert interrupted, "run ended by the interruption, not on its own"
            server.open_gate("run stopped")
            assert session.recv(timeout=5) == vatel.SpeechStarted(emulated=True)
            session.close()
            release.set()  # the tool finishes only now, after the close
            wait_until(lambda: server.close_codes == [1000], "the server seeing a clean close")
        assert server.received == [], "no tool output after run was stopped"
        assert tools.stats.started == 1
        assert session.conn.close_code == 1000


class TestSecrets:
    def test_no_token_in_logs_during_a_session(
        self,
        flavour: Flavour,
        client: vatel.Client,
        server: MockServer,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.DEBUG)
        token = client.session_token(new_agent(client))
        session = flavour.open(server, token)
        speak(session)
        session.recv(timeout=5)
        texts = [repr(session.conn), str(session.conn), session.conn.url]
        session.close()
        texts += [record.getMessage() for record in caplog.records]
        assert any("GET /v1/connection" in t for t in texts), "websockets logged the handshake"
        assert not [t for t in texts if token.token in t]


# A hundred handshakes queued on one busy loop (the mock's, sharing two cores
# with the client and coverage) can take longer than the 10 s default; this
# test is about losing nothing, so opening gets a minute.
OPEN_ALL_AT_ONCE = 60.0


class TestLoad:
    @pytest.mark.timeout(300)
    @pytest.mark.parametrize("sessions", [20, pytest.param(100, marks=pytest.mark.slow)])
    def test_many_sessions_at_once_lose_and_reorder_nothing(
        self, flavour: Flavour, client: vatel.Client, server: MockServer, sessions: int
    ) -> None:
        """Sessions opened together, each sending one second of its own audio:
        threads on the sync API, tasks on one event loop on the async one."""
        agent_id = new_agent(client)
        tokens = [client.session_token(agent_id) for _ in range(sessions)]

        def audio_of(n: int) -> bytes:
            return bytes((n + i) % 256 for i in range(FRAME_BYTES)) * 50

        def one_sync(n: int) -> tuple[str, bytes]:
            with client.connect(tokens[n], open_timeout=OPEN_ALL_AT_ONCE) as conn:
                started = conn.recv(timeout=OPEN_ALL_AT_ONCE)
                assert isinstance(started, vatel.SessionStarted)
                for chunk in frames(audio_of(n)):
                    conn.send_input_audio_bytes(chunk)
            return started.id, audio_of(n)

        async def one_async(sdk: vatel.AsyncClient, n: int) -> tuple[str, bytes]:
            async with sdk.connect(tokens[n], open_timeout=OPEN_ALL_AT_ONCE) as conn:
                started = await conn.recv(timeout=OPEN_ALL_AT_ONCE)
                assert isinstance(started, vatel.SessionStarted)
                for chunk in frames(audio_of(n)):
                    await conn.send_input_audio_bytes(chunk)
            return started.id, audio_of(n)

        if flavour.is_async:
            sdk = typing.cast(vatel.AsyncClient, flavour.client(server))

            async def all_at_once() -> list[tuple[str, bytes]]:
                return list(await asyncio.gather(*(one_async(sdk, n) for n in range(sessions))))

            results = flavour._step(all_at_once())
        else:
            with concurrent.futures.ThreadPoolExecutor(sessions) as pool:
                results = list(pool.map(one_sync, range(sessions)))
        by_id = {session.id: session for session in server.sessions}
        assert len(by_id) == sessions
        for session_id, pcm in results:
            mock = by_id[session_id]
            assert mock.wait_closed(OPEN_ALL_AT_ONCE)
            assert mock.received_audio == pcm

    def test_one_reader_several_senders(
        self, flavour: Flavour, client: vatel.Client, server: MockServer
    ) -> None:
        """Sending is safe from several threads (sync) or tasks (async): every chunk
        arrives whole, and each sender's chunks in its own order."""
        senders, per_sender = 4, 100
        session = flavour.open(server, client.session_token(new_agent(client)))
        assert isinstance(session.recv(timeout=5), vatel.SessionStarted)

        def chunk(n: int, i: int) -> bytes:
            # Each chunk says who sent it and in which order.
            return bytes([n, i % 256]) * (FRAME_BYTES // 2)

        if isinstance(session.conn, vatel.AsyncConnection):
            conn = session.conn

            async def send_async(n: int) -> None:
                for i in range(per_sender):
                    await conn.send_input_audio_bytes(chunk(n, i))
                    await asyncio.sleep(0)

            async def read_forever() -> None:
                while True:
                    await conn.recv()

            async def read_while_sending() -> None:
                reader = asyncio.create_task(read_forever())
                await asyncio.gather(*(send_async(n) for n in range(senders)))
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)

            flavour._step(read_while_sending())
        else:
            sync_conn = session.conn
            stop = threading.Event()

            def read() -> None:
                while not stop.is_set():
                    try:
                        sync_conn.recv(timeout=0.1)
                    except TimeoutError:
                        continue
                    except vatel.ConnectionClosedError:
                        return

            def send(n: int) -> None:
                for i in range(per_sender):
                    sync_conn.send_input_audio_bytes(chunk(n, i))

            reader = threading.Thread(target=read)
            reader.start()
            threads = [threading.Thread(target=send, args=(n,)) for n in range(senders)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            stop.set()
            reader.join()
        session.close()
        mock = server.sessions[-1]
        assert mock.wait_closed(5)
        audio = mock.received_audio
        chunks = [audio[i : i + FRAME_BYTES] for i in range(0, len(audio), FRAME_BYTES)]
        assert len(chunks) == senders * per_sender
        for n in range(senders):
            mine = [c for c in chunks if c[0] == n]
            assert [c[1] for c in mine] == [i % 256 for i in range(per_sender)]
            assert all(c == c[:2] * (FRAME_BYTES // 2) for c in mine)


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
        assert resolved["AsyncConnection.run"]["return"] is vatel.SessionReport
        assert "send_timeout" in resolved["ConnectOptions"]
        assert "trust_env" in resolved["ConnectOptions"]


def test_the_voice_client_stays_light_to_import() -> None:
    # A program that only dials sessions (with tokens minted elsewhere) never
    # loads the REST plumbing: httpx alone is some 130 ms of start-up.
    import subprocess
    import sys

    probe = (
        "import sys, vatel; vatel.connect; vatel.connect_async; vatel.Reconnect; "
        "vatel.SessionToken; vatel.Connection; vatel.AsyncConnection; "
        "heavy = [m for m in sys.modules if m in ('httpx', 'pydantic', 'vatel._base_client') "
        "or m.startswith('vatel._model')]; print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_a_blocking_voice_client_does_not_import_asyncio() -> None:
    # asyncio is some 20 ms of start-up that a blocking session has no use for.
    import subprocess
    import sys

    probe = (
        "import sys, vatel; vatel.connect; vatel.Connection; vatel.Reconnect; "
        "vatel.ToolRouter; vatel.ToolContext; vatel.SessionToken; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'asyncio'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
