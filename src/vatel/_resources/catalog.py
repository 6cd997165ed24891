"""The catalogs an agent picks from: ``GET /v1/llms`` and ``GET /v1/voices``."""

from __future__ import annotations

from .._base_client import APIRequest
from .._models import LLMStringsResponse, VoiceCatalogEntry, VoicesListResponse
from ._base import AsyncResource, SyncResource

_LLMS: APIRequest[LLMStringsResponse] = APIRequest("GET", "/v1/llms", cast=LLMStringsResponse)
_VOICES: APIRequest[VoicesListResponse] = APIRequest("GET", "/v1/voices", cast=VoicesListResponse)


class LLMs(SyncResource):
    """Language models an agent may use."""

    def list(self) -> list[str]:
        """Sorted ``provider/model`` ids accepted for ``llm`` and ``fallback_llm``."""
        return self._request(_LLMS).llms


class AsyncLLMs(AsyncResource):
    """Language models an agent may use."""

    async def list(self) -> list[str]:
        """Sorted ``provider/model`` ids accepted for ``llm`` and ``fallback_llm``."""
        return (await self._request(_LLMS)).llms


class Voices(SyncResource):
    """The TTS voice catalog."""

    def list(self) -> list[VoiceCatalogEntry]:
        """Every voice an agent's ``voice_settings`` may reference."""
        return self._request(_VOICES).voices


class AsyncVoices(AsyncResource):
    """The TTS voice catalog."""

    async def list(self) -> list[VoiceCatalogEntry]:
        """Every voice an agent's ``voice_settings`` may reference."""
        return (await self._request(_VOICES)).voices
