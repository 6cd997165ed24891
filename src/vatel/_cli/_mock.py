"""``vatel mock``: serve the mock Vatel API for local development."""

from __future__ import annotations

import click

__all__ = ["COMMANDS"]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="TCP port."
)
@click.option(
    "--api-key",
    "mock_api_key",
    metavar="KEY",
    help="API key the server accepts (default: a random one, printed at start).",
)
@click.option(
    "--pace",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Speed of the agent's audio relative to real time (0: as fast as possible).",
)
def mock(host: str, port: int, mock_api_key: str | None, pace: float) -> None:
    """Serve a mock Vatel API locally until Ctrl-C.

    The REST API and voice sessions, with sample agents and calls; point the
    SDK or this command line at it with the base URL and API key it prints.
    """
    try:
        from ..testing import serve
    except ImportError as exc:
        raise click.ClickException(str(exc)) from None
    serve(host=host, port=port, api_key=mock_api_key, pace=pace)


COMMANDS: list[click.Command] = [mock]
