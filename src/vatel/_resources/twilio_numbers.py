"""Imported Twilio numbers: ``/v1/twilio/numbers``."""

from __future__ import annotations

from typing_extensions import Unpack

from .._base_client import APIRequest, path_segment
from .._models import TwilioPhoneNumber
from .._params import TwilioNumberImportParams, check_keywords
from ._base import AsyncResource, SyncResource

_LIST: APIRequest[list[TwilioPhoneNumber]] = APIRequest(
    "GET", "/v1/twilio/numbers", cast=list[TwilioPhoneNumber]
)


def _import(params: TwilioNumberImportParams) -> APIRequest[TwilioPhoneNumber]:
    check_keywords("twilio_numbers.import_number", params, TwilioNumberImportParams)
    return APIRequest("POST", "/v1/twilio/numbers", cast=TwilioPhoneNumber, body=params)


def _update(number_id: str, label: str) -> APIRequest[TwilioPhoneNumber]:
    path = f"/v1/twilio/numbers/{path_segment(number_id, 'number_id')}"
    return APIRequest("PATCH", path, cast=TwilioPhoneNumber, body={"label": label})


class TwilioNumbers(SyncResource):
    """Twilio numbers linked to the organization."""

    def list(self) -> list[TwilioPhoneNumber]:
        """Every imported number."""
        return self._request(_LIST)

    def import_number(self, **params: Unpack[TwilioNumberImportParams]) -> TwilioPhoneNumber:
        """Import a number from a Twilio account (the auth token is used once).

        Raises :class:`vatel.ConflictError` if the number is already imported.
        """
        return self._request(_import(params))

    def update(self, number_id: str, *, label: str) -> TwilioPhoneNumber:
        """Change a number's label."""
        return self._request(_update(number_id, label))


class AsyncTwilioNumbers(AsyncResource):
    """Twilio numbers linked to the organization."""

    async def list(self) -> list[TwilioPhoneNumber]:
        """Every imported number."""
        return await self._request(_LIST)

    async def import_number(self, **params: Unpack[TwilioNumberImportParams]) -> TwilioPhoneNumber:
        """Import a number from a Twilio account (the auth token is used once).

        Raises :class:`vatel.ConflictError` if the number is already imported.
        """
        return await self._request(_import(params))

    async def update(self, number_id: str, *, label: str) -> TwilioPhoneNumber:
        """Change a number's label."""
        return await self._request(_update(number_id, label))
