"""Base classes of the models that ``_models`` generates from the contract.

How the SDK validates is our choice, not a fact of the contract, so it lives
here, written by hand: responses are lenient (unknown fields kept), request
bodies strict about types.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["InputModel", "VatelModel"]


class VatelModel(BaseModel):
    """Base of every response model: unknown fields are kept, aliases round-trip."""

    # Each model builds its validator on first use rather than at import: minting
    # a session token then builds two of them instead of all of them (about 45 ms).
    model_config = ConfigDict(
        defer_build=True,
        extra="allow",
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


class InputModel(BaseModel):
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
