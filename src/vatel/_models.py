"""Typed models for every schema of the Vatel API contract.

Class names are the contract's schema names. Attributes are snake_case; where the
wire name differs (``toolCallId``, ``dataType``…) it is the field's alias, and
models accept either and serialise to the wire name.

Response models keep fields they do not know (the API grows) and accept enum
values newer than this SDK: such a field is typed ``Literal[...] | str``.
Input models (``…Input``, ``…Request``) describe what the server accepts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Agent",
    "AgentCreateInput",
    "AgentStatus",
    "AgentUpdateInput",
    "Call",
    "CallFeedback",
    "CallOutcome",
    "CallSource",
    "CallStatus",
    "CallerTransformType",
    "ContextVariable",
    "ContextVariableType",
    "DataType",
    "DialAgentResponse",
    "ErrorResponse",
    "GenerateSessionTokenRequest",
    "GraphNode",
    "GraphVersion",
    "GraphVersionDetail",
    "LLMModel",
    "LLMStringsResponse",
    "NoiseCancelSettings",
    "Organization",
    "PaginatedCallsResponse",
    "PaginationInfo",
    "Pbx",
    "RegistrationStatus",
    "SIPTrunkAuthType",
    "SessionTokenResponse",
    "SipTrunk",
    "SipTrunkAgentAssignment",
    "SipTrunkAgentAssignmentCreateInput",
    "SipTrunkAgentAssignmentPatchInput",
    "SipTrunkCallerIDTransform",
    "SipTrunkCreateInput",
    "SipTrunkUpdateInput",
    "TTSStrategy",
    "TimeoutAction",
    "TimeoutSettings",
    "Transcript",
    "TranscriptEntry",
    "TranscriptEntryType",
    "TranscriptToolCall",
    "Transport",
    "TwilioPhoneNumber",
    "TwilioPhoneNumberImportInput",
    "TwilioPhoneNumberLabelPatchInput",
    "VadSettings",
    "VatelModel",
    "VoiceCatalogEntry",
    "VoiceSessionClientInputAudioMessage",
    "VoiceSessionClientToolCallData",
    "VoiceSessionClientToolCallOutputMessage",
    "VoiceSessionEmptyData",
    "VoiceSessionInputAudioTranscriptData",
    "VoiceSessionInputVariable",
    "VoiceSessionResponseAudioData",
    "VoiceSessionResponseTextData",
    "VoiceSessionServerMessage",
    "VoiceSessionSessionStartedData",
    "VoiceSessionSpeechStartedData",
    "VoiceSettings",
    "VoicesListResponse",
]

# -- enumerations -------------------------------------------------------------

LLMModel = str
"""Language model id in ``provider/model`` form (see ``client.llms.list()``)."""

AgentStatus = Literal["active", "inactive"]
TTSStrategy = Literal["elevenlabs", "openai", "cartesia", "hume", "minimax", "fish"]
TimeoutAction = Literal["end_call", "transfer_call"]
CallerTransformType = Literal[
    "add_prefix", "add_suffix", "replace", "strip_digits_end", "strip_digits_start"
]
SIPTrunkAuthType = Literal["digest", "acl", "none"]
RegistrationStatus = Literal["not_registered", "pending", "registered", "failed", "auth_failed"]
Pbx = Literal["3cx", "yeastar", "webex", "generic"]
CallStatus = Literal["connected", "started", "in_progress", "auth_failed", "ended"]
CallSource = Literal["twilio", "sip", "simulation", "api"]
CallOutcome = Literal["transferred", "ended_by_agent", "ended_by_user"]
TranscriptEntryType = Literal["message", "tool_call", "tool_call_output", "interruption"]
Transport = Literal["websocket", "webrtc"]
ContextVariableType = Literal["system", "input", "extracted"]
DataType = Literal["string", "number", "boolean", "object", "array"]


class VatelModel(BaseModel):
    """Base of every response model: unknown fields are kept, aliases round-trip."""

    # Each model builds its validator on first use rather than at import: minting
    # a session token then builds two of them instead of all sixty (about 45 ms).
    model_config = ConfigDict(
        defer_build=True,
        extra="allow",
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


class _InputModel(BaseModel):
    """Base of request-body models: strict about types, open to extra fields
    unless the contract forbids them."""

    model_config = ConfigDict(
        defer_build=True,  # as for VatelModel
        extra="allow",
        strict=True,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


# -- agents -------------------------------------------------------------------


class VoiceSettings(VatelModel):
    """Voice and TTS provider for an agent; tuning fields, when non-zero, are 0 to 2."""

    id: str | None = None
    provider: TTSStrategy | str | None = None
    speed: float | None = None
    stability: float | None = None
    similarity_boost: float | None = None
    volume: float | None = None


class VadSettings(VatelModel):
    """Voice-activity detection timing for turn-taking, in seconds."""

    start_secs: float | None = None
    stop_secs: float | None = None
    silence_timeout_secs: float | None = None


class NoiseCancelSettings(VatelModel):
    """Inbound noise suppression; ``level`` is 0 to 100."""

    enabled: bool | None = None
    level: float | None = None


class TimeoutSettings(VatelModel):
    """Limits and escalation rules for user silence and call duration."""

    default_timeout: float | None = None
    timeout_action: TimeoutAction | str | None = None
    transfer_number: str | None = None
    transfer_message: str | None = None
    silence_counter: int | None = None
    silence_timeout_action: TimeoutAction | str | None = None
    silence_transfer_number: str | None = None


class Agent(VatelModel):
    """A voice agent of your organization."""

    id: str
    name: str | None = None
    phone_number_id: str | None = None
    llm: LLMModel | None = None
    fallback_llm: LLMModel | None = None
    status: AgentStatus | str | None = None
    prompt: str | None = None
    first_message: str | None = None
    first_message_interruption_time: float | None = None
    default_language: str | None = None
    summarize_calls: bool | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    noise_cancel_settings: NoiseCancelSettings | None = None
    vad_settings: VadSettings | None = None
    enable_first_message_outbound: bool | None = None
    voice_settings: VoiceSettings | None = None
    timeout_settings: TimeoutSettings | None = None
    keyterms: list[str] | None = None


class _AgentFieldsInput(_InputModel):
    phone_number_id: str | None = None
    llm: LLMModel | None = None
    fallback_llm: LLMModel | None = None
    status: AgentStatus | None = None
    prompt: str | None = None
    first_message: str | None = None
    first_message_interruption_time: float | None = None
    default_language: str | None = None
    summarize_calls: bool | None = None
    noise_cancel_settings: NoiseCancelSettings | None = None
    vad_settings: VadSettings | None = None
    enable_first_message_outbound: bool | None = None
    timeout_settings: TimeoutSettings | None = None
    keyterms: list[str] | None = None
    voice_settings: VoiceSettings | None = None


class AgentCreateInput(_AgentFieldsInput):
    """Body of ``POST /v1/agents``; server defaults fill omitted fields."""

    name: str


class AgentUpdateInput(_AgentFieldsInput):
    """Body of ``PATCH /v1/agents/{id}``: only the fields to change."""

    name: str | None = None


class GraphVersion(VatelModel):
    """An agent version: a tagged snapshot of the conversation flow."""

    id: str
    agent_id: str | None = None
    created_at: datetime | None = None
    published_at: datetime | None = None
    tag: str | None = None


class GraphNode(VatelModel):
    """One node of an agent version; its payload depends on its type."""


class GraphVersionDetail(VatelModel):
    """An agent version with all of its nodes."""

    version: GraphVersion
    nodes: list[GraphNode]


class DialAgentResponse(VatelModel):
    """Acknowledgement of an outbound dial request."""

    success: bool


# -- organization, LLMs, voices ----------------------------------------------


class Organization(VatelModel):
    """The organization that owns the API key."""

    id: str
    name: str | None = None
    created_at: datetime | None = None


class LLMStringsResponse(VatelModel):
    """Model ids accepted for an agent's ``llm`` and ``fallback_llm``."""

    llms: list[str]


class VoiceCatalogEntry(VatelModel):
    """A TTS voice offered by a provider."""

    id: str
    name: str
    provider: TTSStrategy | str
    languages: list[str]
    description: str | None = None
    preview_url: str | None = None
    featured: bool | None = None


class VoicesListResponse(VatelModel):
    """The merged voice catalog."""

    voices: list[VoiceCatalogEntry]


# -- Twilio numbers -----------------------------------------------------------


class TwilioPhoneNumber(VatelModel):
    """A Twilio number linked to your organization."""

    id: str
    phone_number: str | None = None
    phone_sid: str | None = None
    label: str | None = None
    account_sid: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


class TwilioPhoneNumberImportInput(_InputModel):
    """Body of ``POST /v1/twilio/numbers``."""

    phone_number: str
    account_sid: str
    auth_token: str = Field(repr=False)
    label: str | None = None


class TwilioPhoneNumberLabelPatchInput(_InputModel):
    """Body of ``PATCH /v1/twilio/numbers/{id}``."""

    label: str


# -- SIP trunks ---------------------------------------------------------------


class SipTrunkCallerIDTransform(VatelModel):
    """A rule applied to the caller id on a trunk."""

    type: CallerTransformType | str
    value: str | None = None
    value2: str | None = None
    number: int | None = None


class SipTrunk(VatelModel):
    """SIP connectivity profile for a PBX."""

    id: str
    created_at: datetime | None = None
    pbx: Pbx | str | None = None
    caller_id_transforms: list[SipTrunkCallerIDTransform] | None = None
    inbound_host: str | None = None
    inbound_auth_type: SIPTrunkAuthType | str | None = None
    inbound_sip_username: str | None = None
    inbound_registration_status: RegistrationStatus | str | None = None
    outbound_host: str | None = None
    outbound_sip_username: str | None = None
    # ``register`` would shadow ``BaseModel.register``; the wire name is kept as alias.
    register_: bool | None = Field(default=None, alias="register")
    outbound_registration_status: RegistrationStatus | str | None = None
    remain_in_dialog: bool | None = None


class _CallerIDTransformInput(_InputModel):
    type: CallerTransformType
    value: str | None = None
    value2: str | None = None
    number: int | None = None


class _SipTrunkFieldsInput(_InputModel):
    caller_id_transforms: list[_CallerIDTransformInput] | None = None
    inbound_host: str | None = None
    inbound_auth_type: SIPTrunkAuthType | None = None
    inbound_sip_username: str | None = None
    inbound_sip_password: str | None = Field(default=None, repr=False)
    outbound_host: str | None = None
    outbound_sip_username: str | None = None
    outbound_sip_password: str | None = Field(default=None, repr=False)
    register_: bool | None = Field(default=None, alias="register")
    remain_in_dialog: bool | None = None


class SipTrunkCreateInput(_SipTrunkFieldsInput):
    """Body of ``POST /v1/sip-trunks``; passwords are write-only."""

    pbx: Pbx


class SipTrunkUpdateInput(_SipTrunkFieldsInput):
    """Body of ``PATCH /v1/sip-trunks/{id}``: only the fields to change."""

    pbx: Pbx | None = None


class SipTrunkAgentAssignment(VatelModel):
    """Binds an agent to a SIP trunk."""

    id: str
    agent_id: str | None = None
    sip_trunk_id: str | None = None
    number: str | None = None
    alternate_number: str | None = None
    created_at: datetime | None = None


class SipTrunkAgentAssignmentCreateInput(_InputModel):
    """Body of ``POST /v1/sip-trunks/{id}/assignments``."""

    agent_id: str
    number: str | None = None
    alternate_number: str | None = None


class SipTrunkAgentAssignmentPatchInput(_InputModel):
    """Body of ``PATCH /v1/sip-trunks/assignments/{assignmentId}``; null clears a number."""

    number: str | None = None
    alternate_number: str | None = None


# -- session tokens -----------------------------------------------------------


class GenerateSessionTokenRequest(_InputModel):
    """Body of ``POST /v1/session-token``; no other fields are allowed."""

    model_config = ConfigDict(extra="forbid")

    agent_id: str
    version_id: str | None = None
    chat_id: str | None = None
    transport: Transport | None = None
    first_message: str | None = None
    prompt: str | None = None
    chat: bool | None = None


class SessionTokenResponse(VatelModel):
    """Session credentials as the server returns them (see :class:`vatel.SessionToken`)."""

    token: str = Field(repr=False)
    room: str | None = None
    identity: str | None = None
    url: str | None = None
    webrtc_token: str | None = Field(default=None, repr=False)


# -- calls --------------------------------------------------------------------


class ContextVariable(VatelModel):
    """A variable extracted during, or passed into, a call."""

    name: str | None = None
    type: ContextVariableType | str | None = None
    description: str | None = None
    value: Any = None
    data_type: DataType | str | None = Field(default=None, alias="dataType")
    rationale: str | None = None


class TranscriptToolCall(VatelModel):
    """Tool invocation metadata on a transcript row."""

    item_id: str | None = Field(default=None, alias="itemId")
    call_id: str | None = Field(default=None, alias="callId")
    tool_name: str | None = Field(default=None, alias="toolName")
    arguments: str | None = None
    output: str | None = None
    started_at: datetime | None = Field(default=None, alias="startedAt")
    ended_at: datetime | None = Field(default=None, alias="endedAt")


class TranscriptEntry(VatelModel):
    """One transcript row: a message, a tool call, a tool output or an interruption."""

    index: int | None = None
    role: str | None = None
    message: str | None = None
    type: TranscriptEntryType | str | None = None
    tool_call: TranscriptToolCall | None = Field(default=None, alias="toolCall")
    tool_call_output: str | None = Field(default=None, alias="toolCallOutput")
    created_at: datetime | None = Field(default=None, alias="createdAt")
    duration_ms: int | None = Field(default=None, alias="durationMs")
    turn_id: str | None = Field(default=None, alias="turnId")


class Transcript(VatelModel):
    """The ordered transcript of a call."""

    entries: list[TranscriptEntry]


class CallFeedback(VatelModel):
    """Post-call feedback."""

    stars: int
    notes: str


class Call(VatelModel):
    """A call record; ``cost`` is the customer-facing total."""

    id: str
    agent_id: str | None = None
    graph_version_id: str | None = None
    organization_id: str | None = None
    party_number: str | None = None
    status: CallStatus | str | None = None
    source: CallSource | str | None = None
    termination_reason: str | None = None
    extracted_variables: list[ContextVariable] | None = None
    outbound: bool | None = None
    outbound_contact_id: str | None = None
    outbound_list_run_id: str | None = None
    created_at: str | None = None
    connected_at: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    summary: str | None = None
    transcript: Transcript | None = None
    cost: float | None = None
    tags: list[str] | None = None
    duration_seconds: int | None = None
    feedback: CallFeedback | None = None


class PaginationInfo(VatelModel):
    """Where a page sits in the whole result."""

    page: int
    page_size: int
    total: int
    total_pages: int
    has_next: bool
    has_prev: bool


class PaginatedCallsResponse(VatelModel):
    """One page of calls with its pagination info."""

    calls: list[Call]
    pagination: PaginationInfo


class ErrorResponse(VatelModel):
    """The ``{"error": ...}`` body of most error responses."""

    error: str


# -- voice session messages ----------------------------------------------------
# The connections decode frames into the lighter event classes of ``vatel``;
# these models describe the same messages for validation and documentation.


class VoiceSessionSessionStartedData(VatelModel):
    """``data`` of ``session_started``."""

    id: str


class VoiceSessionResponseAudioData(VatelModel):
    """``data`` of ``response_audio``: a base64 PCM16 chunk of the agent's speech."""

    turn_id: str
    audio: str
    is_final: bool


class VoiceSessionResponseTextData(VatelModel):
    """``data`` of ``response_text``."""

    turn_id: str
    text: str
    is_final: bool


class VoiceSessionInputAudioTranscriptData(VatelModel):
    """``data`` of ``input_audio_transcript``."""

    transcript: str
    is_final: bool
    turn_id: str | None = None


class VoiceSessionSpeechStartedData(VatelModel):
    """``data`` of ``speech_started``."""

    emulated: bool


class VoiceSessionEmptyData(VatelModel):
    """``data`` of signalling-only messages (``speech_stopped``, ``interruption``,
    ``session_ended``)."""


class VoiceSessionInputVariable(VatelModel):
    """An argument of a client tool call."""

    name: str | None = None
    type: str | None = None
    data_type: str | None = Field(default=None, alias="dataType")
    description: str | None = None
    required: bool | None = None
    value: Any = None


class VoiceSessionClientToolCallData(VatelModel):
    """``data`` of ``tool_call``."""

    tool_call_id: str = Field(alias="toolCallId")
    tool_name: str = Field(alias="toolName")
    arguments: list[VoiceSessionInputVariable]


class VoiceSessionServerMessage(VatelModel):
    """A server-to-client message: ``{"type": ..., "data": {...}}``."""

    type: str
    data: dict[str, Any]


class _InputAudioData(VatelModel):
    audio: str


class VoiceSessionClientInputAudioMessage(VatelModel):
    """Client-to-server ``input_audio`` message."""

    type: Literal["input_audio"] = "input_audio"
    data: _InputAudioData


class _ToolCallOutputData(VatelModel):
    tool_call_id: str = Field(alias="toolCallId")
    output: str


class VoiceSessionClientToolCallOutputMessage(VatelModel):
    """Client-to-server ``tool_call_output`` message."""

    type: Literal["tool_call_output"] = "tool_call_output"
    data: _ToolCallOutputData
