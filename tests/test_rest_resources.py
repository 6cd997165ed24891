"""Every REST operation, through the sync and the async client, against the mock server."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import pytest

import vatel
from _support import Api
from vatel.testing import MockServer
from vatel.types import (
    Agent,
    GraphVersion,
    GraphVersionDetail,
    Organization,
    PaginatedCallsResponse,
    SipTrunk,
    SipTrunkAgentAssignment,
    TwilioPhoneNumber,
    VoiceCatalogEntry,
    VoiceSettings,
)

pytestmark = pytest.mark.anyio


def last_body(server: MockServer, method: str, path_prefix: str) -> object:
    matching = [r for r in server.requests if r.method == method and r.path.startswith(path_prefix)]
    assert matching, f"no {method} {path_prefix} reached the server"
    return matching[-1].json


class TestCatalog:
    async def test_organization(self, api: Api) -> None:
        org = await api(lambda c: c.organization.get())
        assert isinstance(org, Organization)
        assert org.id and org.name

    async def test_llms_are_sorted_provider_model_strings(self, api: Api) -> None:
        llms = await api(lambda c: c.llms.list())
        assert llms and llms == sorted(llms)
        assert all("/" in llm for llm in llms)

    async def test_voices(self, api: Api) -> None:
        voices = await api(lambda c: c.voices.list())
        assert voices and all(isinstance(v, VoiceCatalogEntry) for v in voices)
        assert all(v.id and v.name and v.provider for v in voices)


class TestAgents:
    async def test_create_get_list_update_delete(self, api: Api, server: MockServer) -> None:
        voice = (await api(lambda c: c.voices.list()))[0]
        created = await api(
            lambda c: c.agents.create(
                name="Front desk",
                prompt="You answer the phone.",
                first_message="Hello!",
                keyterms=("Vatel", "booking"),
                voice_settings={"id": voice.id, "provider": voice.provider, "speed": 1.1},
                vad_settings={"stop_secs": 0.6},
            )
        )
        assert isinstance(created, Agent)
        assert created.name == "Front desk" and created.first_message == "Hello!"
        assert created.voice_settings is not None and created.voice_settings.speed == 1.1
        body = last_body(server, "POST", "/v1/agents")
        assert body == {
            "name": "Front desk",
            "prompt": "You answer the phone.",
            "first_message": "Hello!",
            "keyterms": ["Vatel", "booking"],
            "voice_settings": {"id": voice.id, "provider": voice.provider, "speed": 1.1},
            "vad_settings": {"stop_secs": 0.6},
        }

        fetched = await api(lambda c: c.agents.get(created.id))
        assert fetched.id == created.id and fetched.prompt == "You answer the phone."
        assert created.id in [a.id for a in await api(lambda c: c.agents.list())]

        updated = await api(
            lambda c: c.agents.update(
                created.id,
                prompt="Be brief.",
                voice_settings=VoiceSettings(id=voice.id, provider=voice.provider),
            )
        )
        assert updated.prompt == "Be brief." and updated.name == "Front desk"
        # Only the fields given are sent; a model sends only the fields it was given.
        assert last_body(server, "PATCH", f"/v1/agents/{created.id}") == {
            "prompt": "Be brief.",
            "voice_settings": {"id": voice.id, "provider": voice.provider},
        }

        assert await api(lambda c: c.agents.delete(created.id)) is None
        with pytest.raises(vatel.NotFoundError) as info:
            await api(lambda c: c.agents.get(created.id))
        assert info.value.status_code == 404 and info.value.message

    async def test_none_is_sent_as_null_to_clear_a_field(
        self, api: Api, server: MockServer
    ) -> None:
        agent = await api(lambda c: c.agents.create(name="Clearable"))
        await api(lambda c: c.agents.update(agent.id, phone_number_id=None))
        assert last_body(server, "PATCH", f"/v1/agents/{agent.id}") == {"phone_number_id": None}

    async def test_invalid_body_is_a_bad_request_with_the_server_message(self, api: Api) -> None:
        with pytest.raises(vatel.BadRequestError) as info:
            await api(lambda c: c.agents.create(name="x", status="paused"))  # type: ignore[arg-type]
        assert info.value.status_code == 400
        assert "status" in info.value.message

    async def test_unknown_and_malformed_ids(self, api: Api) -> None:
        with pytest.raises(vatel.NotFoundError):
            await api(lambda c: c.agents.get("00000000-0000-4000-8000-000000000000"))
        with pytest.raises(vatel.BadRequestError):
            await api(lambda c: c.agents.get("not-a-uuid"))
        with pytest.raises(ValueError):
            await api(lambda c: c.agents.get(""))

    async def test_ids_cannot_escape_their_path_segment(self, api: Api, server: MockServer) -> None:
        with pytest.raises(vatel.APIStatusError):
            await api(lambda c: c.agents.get("../organization"))
        assert server.requests[-1].path.startswith("/v1/agents/")

    async def test_versions_and_publish(self, api: Api, server: MockServer) -> None:
        # The seeded "Front Desk" agent has its published v1 and an unpublished draft.
        agent_id = server.agent_ids[0]
        versions = await api(lambda c: c.agents.versions.list(agent_id))
        assert all(isinstance(v, GraphVersion) for v in versions)
        by_tag = {v.tag: v for v in versions}
        assert sorted(by_tag) == ["v1", "v2-draft"]
        published, draft = by_tag["v1"], by_tag["v2-draft"]
        assert published.published_at is not None and draft.published_at is None
        detail = await api(lambda c: c.agents.versions.get(agent_id, draft.id))
        assert isinstance(detail, GraphVersionDetail) and detail.version.id == draft.id
        assert detail.nodes, "the seeded draft has its conversation flow"

        with pytest.raises(vatel.ConflictError) as info:
            await api(lambda c: c.agents.versions.publish(agent_id, published.id))
        assert info.value.status_code == 409
        now_published = await api(lambda c: c.agents.versions.publish(agent_id, draft.id))
        assert now_published.id == draft.id and now_published.published_at is not None
        with pytest.raises(vatel.ConflictError):
            await api(lambda c: c.agents.versions.publish(agent_id, draft.id))

    async def test_a_new_agent_has_one_published_version(self, api: Api) -> None:
        agent = await api(lambda c: c.agents.create(name="Versioned"))
        versions = await api(lambda c: c.agents.versions.list(agent.id))
        assert [v.tag for v in versions] == ["v1"]
        assert versions[0].published_at is not None
        with pytest.raises(vatel.ConflictError):
            await api(lambda c: c.agents.versions.publish(agent.id, versions[0].id))

    async def test_dial_sends_the_contract_query_names(self, api: Api, server: MockServer) -> None:
        agent = await api(lambda c: c.agents.create(name="Caller", status="active"))
        with pytest.raises(vatel.BadRequestError):
            # No Twilio number assigned to the agent.
            await api(lambda c: c.agents.dial(agent.id, number="+15550100", first_message="Hi"))
        request = server.requests[-1]
        assert request.method == "POST" and request.path.endswith("/dial")
        assert request.query == {"number": "+15550100", "firstMessage": "Hi"}

    async def test_dial_over_an_unassigned_trunk_is_denied(self, api: Api) -> None:
        agent = await api(lambda c: c.agents.create(name="Trunk caller", status="active"))
        trunk = await api(
            lambda c: c.sip_trunks.create(pbx="generic", outbound_host="pbx.example.com")
        )
        with pytest.raises(vatel.PermissionDeniedError):
            await api(lambda c: c.agents.dial(agent.id, number="100", sip_trunk_id=trunk.id))
        await api(
            lambda c: c.sip_trunks.assignments.create(trunk.id, agent_id=agent.id, number="100")
        )
        result = await api(
            lambda c: c.agents.dial(agent.id, destination="200", sip_trunk_id=trunk.id)
        )
        assert result.success is True


class TestCalls:
    async def test_one_page_with_its_pagination(self, api: Api) -> None:
        page = await api(lambda c: c.calls.list_page(page=2, page_size=10))
        assert isinstance(page, PaginatedCallsResponse)
        info = page.pagination
        assert info.page == 2 and info.page_size == 10 and info.has_prev
        assert info.total_pages == -(-info.total // 10)
        assert len(page.calls) == min(10, info.total - 10)

    async def test_list_walks_every_page_lazily(self, api: Api, server: MockServer) -> None:
        total = (await api(lambda c: c.calls.list_page(page_size=1))).pagination.total
        assert total > 25, "the mock seeds enough calls for several pages"
        before = len(server.requests)
        iterator = await api(lambda c: c.calls.list(page_size=10))
        assert len(server.requests) == before, "nothing is fetched before iterating"
        calls = await api.collect(iterator)
        assert len(calls) == total
        assert len({call.id for call in calls}) == total
        pages = [r for r in server.requests[before:] if r.path == "/v1/calls"]
        assert [r.query["page"] for r in pages] == [str(n) for n in range(1, len(pages) + 1)]
        assert len(pages) == -(-total // 10)

    async def test_filters_reach_the_server_and_filter(self, api: Api, server: MockServer) -> None:
        calls = await api.collect(await api(lambda c: c.calls.list(status="ended", outbound=False)))
        assert calls and all(call.status == "ended" and call.outbound is False for call in calls)
        assert server.requests[-1].query["status"] == "ended"
        assert server.requests[-1].query["outbound"] == "false"

    async def test_agent_ids_filter_is_comma_joined(self, api: Api, server: MockServer) -> None:
        agent_ids = sorted(
            {c.agent_id for c in await api.collect(await api(lambda c: c.calls.list()))}
        )
        wanted = agent_ids[:1]
        calls = await api.collect(await api(lambda c: c.calls.list(agent_ids=wanted)))
        assert calls and {c.agent_id for c in calls} == set(wanted)

    async def test_bad_page_arguments_fail_before_any_request(self, api: Api) -> None:
        with pytest.raises(ValueError):
            await api(lambda c: c.calls.list(page_size=500))
        with pytest.raises(ValueError):
            await api(lambda c: c.calls.list_page(page=0))

    async def test_get_call_with_transcript(self, api: Api) -> None:
        calls = await api.collect(await api(lambda c: c.calls.list()))
        with_transcript = [c for c in calls if c.transcript is not None]
        assert with_transcript
        call = await api(lambda c: c.calls.get(with_transcript[0].id))
        assert call.id == with_transcript[0].id
        assert call.transcript is not None and call.transcript.entries

    async def test_recording_streams_to_a_path(self, api: Api, tmp_path: Path) -> None:
        call_id = await self._call_with_recording(api)
        target = tmp_path / "recording.wav"
        progress: list[tuple[int, int | None]] = []
        written = await api(
            lambda c: c.calls.download_recording(
                call_id, target, on_progress=lambda n, total: progress.append((n, total))
            )
        )
        assert written == target.stat().st_size > 44
        assert progress[-1] == (written, written)
        assert [n for n, _ in progress] == sorted(n for n, _ in progress)
        with wave.open(str(target)) as wav:
            assert wav.getframerate() > 0 and wav.getnframes() > 0
        assert list(tmp_path.iterdir()) == [target], "no temporary file is left behind"

    async def test_recording_streams_to_a_file_object(self, api: Api) -> None:
        call_id = await self._call_with_recording(api)
        buffer = io.BytesIO()
        written = await api(lambda c: c.calls.download_recording(call_id, buffer))
        assert written == len(buffer.getvalue()) and buffer.getvalue()[:4] == b"RIFF"

    async def test_missing_recording_leaves_no_file(self, api: Api, tmp_path: Path) -> None:
        calls = await api.collect(await api(lambda c: c.calls.list()))
        target = tmp_path / "none.wav"
        for call in calls:
            try:
                await api(lambda c, call_id=call.id: c.calls.download_recording(call_id, target))
            except vatel.NotFoundError:
                assert list(tmp_path.iterdir()) == []
                return
            target.unlink()
        pytest.fail("the mock seeds at least one call without a recording")

    @staticmethod
    async def _call_with_recording(api: Api) -> str:
        for call in await api.collect(await api(lambda c: c.calls.list())):
            try:
                await api(
                    lambda c, call_id=call.id: c.calls.download_recording(call_id, io.BytesIO())
                )
            except vatel.NotFoundError:
                continue
            return str(call.id)
        pytest.fail("the mock seeds calls with recordings")


class TestTwilioNumbers:
    async def test_import_list_update_and_conflict(self, api: Api, server: MockServer) -> None:
        number = await api(
            lambda c: c.twilio_numbers.import_number(
                phone_number="+15550199", account_sid="AC" + "1" * 32, auth_token="twilio-secret"
            )
        )
        assert isinstance(number, TwilioPhoneNumber) and number.phone_number == "+15550199"
        assert number.id in [n.id for n in await api(lambda c: c.twilio_numbers.list())]
        relabelled = await api(lambda c: c.twilio_numbers.update(number.id, label="Support line"))
        assert relabelled.label == "Support line"
        assert last_body(server, "PATCH", "/v1/twilio/numbers/") == {"label": "Support line"}
        with pytest.raises(vatel.ConflictError):
            await api(
                lambda c: c.twilio_numbers.import_number(
                    phone_number="+15550199",
                    account_sid="AC" + "1" * 32,
                    auth_token="twilio-secret",
                )
            )

    async def test_bad_account_sid(self, api: Api) -> None:
        with pytest.raises(vatel.BadRequestError):
            await api(
                lambda c: c.twilio_numbers.import_number(
                    phone_number="+15550123", account_sid="XX1", auth_token="t"
                )
            )


class TestSipTrunks:
    async def test_trunk_lifecycle(self, api: Api, server: MockServer) -> None:
        trunk = await api(
            lambda c: c.sip_trunks.create(
                pbx="generic",
                inbound_auth_type="digest",
                inbound_sip_username="frontdesk",
                inbound_sip_password="s3cret",
                outbound_host="sbc.example.com",
                register=True,
                caller_id_transforms=[{"type": "add_prefix", "value": "+1"}],
            )
        )
        assert isinstance(trunk, SipTrunk) and trunk.register_ is True
        assert "s3cret" not in trunk.model_dump_json()
        assert last_body(server, "POST", "/v1/sip-trunks")["register"] is True  # type: ignore[index]
        assert (await api(lambda c: c.sip_trunks.get(trunk.id))).outbound_host == "sbc.example.com"
        assert trunk.id in [t.id for t in await api(lambda c: c.sip_trunks.list())]
        updated = await api(
            lambda c: c.sip_trunks.update(trunk.id, outbound_host=None, remain_in_dialog=True)
        )
        assert updated.remain_in_dialog is True
        assert last_body(server, "PATCH", f"/v1/sip-trunks/{trunk.id}") == {
            "outbound_host": None,
            "remain_in_dialog": True,
        }
        with pytest.raises(vatel.ConflictError):
            await api(lambda c: c.sip_trunks.create(pbx="3cx", inbound_sip_username="frontdesk"))
        await api(lambda c: c.sip_trunks.delete(trunk.id))
        with pytest.raises(vatel.NotFoundError):
            await api(lambda c: c.sip_trunks.get(trunk.id))

    async def test_assignments(self, api: Api, server: MockServer) -> None:
        agent = await api(lambda c: c.agents.create(name="On trunk"))
        other = await api(lambda c: c.agents.create(name="Also on trunk"))
        trunk = await api(lambda c: c.sip_trunks.create(pbx="yeastar"))
        created = await api(
            lambda c: c.sip_trunks.assignments.create(trunk.id, agent_id=agent.id, number="201")
        )
        assert isinstance(created, SipTrunkAgentAssignment) and created.number == "201"
        listed = await api(lambda c: c.sip_trunks.assignments.list(trunk.id))
        assert [a.id for a in listed] == [created.id]
        assert (await api(lambda c: c.sip_trunks.assignments.get(created.id))).agent_id == agent.id
        with pytest.raises(vatel.ConflictError):
            await api(
                lambda c: c.sip_trunks.assignments.create(trunk.id, agent_id=other.id, number="201")
            )
        cleared = await api(
            lambda c: c.sip_trunks.assignments.update(
                created.id, number=None, alternate_number="9201"
            )
        )
        # None is sent as null, which clears; the contract's answer holds a string.
        assert last_body(server, "PATCH", "/v1/sip-trunks/assignments/") == {
            "number": None,
            "alternate_number": "9201",
        }
        assert cleared.number == "" and cleared.alternate_number == "9201"
        await api(lambda c: c.sip_trunks.assignments.delete(created.id))
        with pytest.raises(vatel.NotFoundError):
            await api(lambda c: c.sip_trunks.assignments.get(created.id))


class TestSessionToken:
    async def test_token_remembers_agent_and_version(self, api: Api) -> None:
        agent = (await api(lambda c: c.agents.list()))[0]
        version = (await api(lambda c: c.agents.versions.list(agent.id)))[0]
        token = await api(lambda c: c.session_token(agent.id, version_id=version.id, chat=True))
        assert isinstance(token, vatel.SessionToken)
        assert token.agent_id == agent.id and token.version_id == version.id
        assert token.token.count(".") == 2
        assert token.token not in repr(token) and token.token not in str(token)
        assert token.expires_at is not None

    async def test_only_given_options_are_sent(self, api: Api, server: MockServer) -> None:
        agent = (await api(lambda c: c.agents.list()))[0]
        await api(lambda c: c.session_token(agent.id, prompt="Speak French."))
        assert last_body(server, "POST", "/v1/session-token") == {
            "agent_id": agent.id,
            "prompt": "Speak French.",
        }

    async def test_webrtc_transport_returns_room_details(self, api: Api) -> None:
        agent = (await api(lambda c: c.agents.list()))[0]
        token = await api(lambda c: c.session_token(agent.id, transport="webrtc"))
        assert token.room and token.identity and token.url

    async def test_unknown_and_foreign_agents(self, api: Api, server: MockServer) -> None:
        with pytest.raises(vatel.NotFoundError):
            await api(lambda c: c.session_token("00000000-0000-4000-8000-000000000001"))
        with pytest.raises(vatel.PermissionDeniedError):
            await api(lambda c: c.session_token(server.foreign_agent_id))
