"""Session tokens: HS256 JWTs signed with a secret only this server knows."""

from __future__ import annotations

import math
import secrets
import time
import uuid
from typing import Any

import jwt

ISSUER = "vatel-mock"
ALGORITHM = "HS256"


class TokenError(Exception):
    """A session token that does not verify; ``str()`` says why, never the token."""


class TokenIssuer:
    """Mints and verifies the server's session tokens.

    Claims: ``iss``, ``sub`` and ``agent_id`` (the agent), ``version_id``,
    ``organization_id``, ``scopes`` (``voice``, plus ``chat`` when asked),
    ``parameters`` (``prompt``, ``first_message``, ``chat_id`` when given),
    ``iat``, ``exp`` and a unique ``jti``.
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._secret = secrets.token_bytes(32)

    def issue(
        self,
        *,
        agent_id: str,
        version_id: str | None,
        organization_id: str,
        chat: bool = False,
        parameters: dict[str, str] | None = None,
        ttl: float | None = None,
    ) -> str:
        """A signed session token for ``agent_id``; ``ttl`` seconds (negative: already expired)."""
        now = time.time()
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "sub": agent_id,
            "agent_id": agent_id,
            "organization_id": organization_id,
            "scopes": ["voice", "chat"] if chat else ["voice"],
            "parameters": dict(parameters or {}),
            "iat": math.floor(now),
            "exp": math.floor(now + (self.ttl if ttl is None else ttl)),
            "jti": uuid.uuid4().hex,
        }
        if version_id is not None:
            claims["version_id"] = version_id
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of ``token``; raises :class:`TokenError` when it is forged,
        malformed or expired."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["exp", "iat", "jti", "agent_id", "organization_id"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("session token expired") from None
        except jwt.InvalidTokenError:
            raise TokenError("invalid session token") from None
        if not isinstance(claims.get("agent_id"), str) or not isinstance(
            claims.get("scopes"), list
        ):
            raise TokenError("invalid session token")
        return claims

    def media_token(self, *, room: str, identity: str, attributes: dict[str, str]) -> str:
        """A media-room access token shaped like a WebRTC SFU grant (the mock runs no SFU)."""
        now = math.floor(time.time())
        claims = {
            "iss": ISSUER,
            "sub": identity,
            "video": {"room": room, "roomJoin": True, "canPublish": True, "canSubscribe": True},
            "attributes": attributes,
            "iat": now,
            "exp": now + math.floor(self.ttl),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)
