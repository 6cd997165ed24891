"""The one exception REST handlers raise to answer with a JSON error."""

from __future__ import annotations


class ApiError(Exception):
    """Answer the current request with ``status`` and ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
