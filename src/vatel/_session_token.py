"""The credentials of one voice session."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from typing import Any

from ._base_client import APIRequest
from ._models import SessionTokenResponse, Transport


class SessionToken(SessionTokenResponse):
    """A short-lived session JWT, with the agent (and version) it was minted for.

    Pass it to ``client.connect()``; the connection takes ``agent_id`` and
    ``version_id`` from here. The token itself is left out of ``repr()``.
    """

    agent_id: str
    version_id: str | None = None

    @property
    def expires_at(self) -> datetime | None:
        """When the token expires, read from its ``exp`` claim (not verified)."""
        exp = _jwt_claims(self.token).get("exp")
        if isinstance(exp, (int, float)) and not isinstance(exp, bool):
            return datetime.fromtimestamp(exp, tz=timezone.utc)
        return None


def _jwt_claims(token: str) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except ValueError:
        return {}
    return claims if isinstance(claims, dict) else {}


def session_token_request(
    agent_id: str,
    *,
    version_id: str | None,
    chat_id: str | None,
    prompt: str | None,
    first_message: str | None,
    chat: bool | None,
    transport: Transport | None,
) -> APIRequest[SessionTokenResponse]:
    """The ``POST /v1/session-token`` request; options left at ``None`` are not sent."""
    if not isinstance(agent_id, str) or not agent_id:
        raise ValueError(f"agent_id must be a non-empty string, got {agent_id!r}")
    options = {
        "version_id": version_id,
        "chat_id": chat_id,
        "prompt": prompt,
        "first_message": first_message,
        "chat": chat,
        "transport": transport,
    }
    body = {"agent_id": agent_id, **{k: v for k, v in options.items() if v is not None}}
    return APIRequest("POST", "/v1/session-token", cast=SessionTokenResponse, body=body)


def to_session_token(
    response: SessionTokenResponse, agent_id: str, version_id: str | None
) -> SessionToken:
    """Attach the agent and version a token was minted for."""
    data = response.model_dump(by_alias=True)
    data.update(agent_id=agent_id, version_id=version_id)
    return SessionToken.model_validate(data)
