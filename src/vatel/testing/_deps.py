"""Fails early, with the install command, when the mock extra is missing."""

from __future__ import annotations

try:
    import aiohttp  # noqa: F401
    import jwt  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "vatel.testing needs aiohttp and PyJWT; install them with: pip install 'vatel[mock]'"
    ) from exc
