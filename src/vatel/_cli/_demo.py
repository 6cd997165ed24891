"""``vatel demo``: a whole voice session against the built-in mock server."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .._exceptions import APIError
from .._tools import ToolRouter
from ._app import Settings, json_option, pass_settings
from ._output import add_row, stdout_console
from ._running import run
from ._session import (
    DEFAULT_LINGER,
    Printer,
    TalkReport,
    converse,
    file_source,
    format_call,
    summary_json,
)

if TYPE_CHECKING:
    from rich.console import Console

    from ..testing import MockServer

__all__ = ["COMMANDS", "demo_tools"]

DEFAULT_OUTPUT = Path("vatel-demo-reply.wav")
AGENT_NAME = "Demo weather agent"
AGENT_PROMPT = "You are a friendly weather assistant. Use the get_weather tool to answer."
AGENT_FIRST_MESSAGE = "Hi! Ask me about the weather."
TOOL_CITY = "Paris"
USER_SPEECH_SECONDS = 1.5
USER_SILENCE_SECONDS = 1.0
FAST_LINGER = 0.3
"""At full speed the mock answers at once, so a short quiet time is enough."""


def demo_tools() -> ToolRouter:
    """The demo's client tools: ``get_weather(city)``."""
    tools = ToolRouter()

    @tools.tool
    def get_weather(city: str) -> dict[str, Any]:
        return {"city": city, "forecast": "sunny", "temperature_c": 21}

    return tools


class _Status:
    """Progress lines for people; silent when the output is JSON."""

    def __init__(self, quiet: bool) -> None:
        self.console: Console | None = None if quiet else stdout_console()

    def __call__(self, text: str) -> None:
        if self.console is not None:
            from rich.text import Text

            self.console.print(Text(text, style="dim"), soft_wrap=True)


async def _run_session(
    server: MockServer, agent_id: str, output: Path, printer: Printer, fast: bool
) -> TalkReport:
    from .._client import AsyncClient
    from ..audio import WavWriter, voice_like

    speech = voice_like(USER_SPEECH_SECONDS)
    source = file_source(speech, tail=USER_SILENCE_SECONDS, speed=0.0 if fast else 1.0)
    async with AsyncClient(server.api_key, base_url=server.base_url) as client:
        with WavWriter(output) as wav:
            return await converse(
                client,
                agent_id,
                source,
                printer=printer,
                tools=demo_tools(),
                wav=wav,
                wait_for_greeting=True,
                linger=FAST_LINGER if fast else DEFAULT_LINGER,
            )


def _summary(
    status: _Status,
    report: TalkReport,
    output: Path,
    call: dict[str, Any] | None,
    received: list[str],
    seconds: float,
) -> None:
    console = status.console
    if console is None:
        return
    from rich.table import Table

    from ._rest import transcript_table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    add_row(grid, "Events", ", ".join(f"{kind} {n}" for kind, n in report.events.items()))
    for tool in report.tools:
        where = "received by the agent" if tool.output in received else "not received"
        took = f"{tool.duration * 1000:.1f} ms" if tool.duration is not None else "?"
        add_row(
            grid,
            "Tool round trip",
            f"{format_call(tool.name, tool.arguments)} -> {tool.output} "
            f"(answered in {took}, {where})",
        )
    add_row(grid, "Agent audio", f"{report.agent_audio_seconds:.1f} s saved to {output}")
    add_row(grid, "Latency", report.latency.format())
    if call is not None:
        entries = (call.get("transcript") or {}).get("entries") or []
        add_row(
            grid,
            "Call",
            f"{call['id']}: {call.get('status', '?')}, {call.get('duration_seconds', '?')} s, "
            f"{len(entries)} transcript entries",
        )
    add_row(grid, "Took", f"{seconds:.1f} s")
    console.print()
    console.print("[bold]Summary[/]")
    console.print(grid)
    if call is not None:
        entries = (call.get("transcript") or {}).get("entries") or []
        if entries:
            console.print()
            table = transcript_table(entries)
            table.title = "The call as `vatel calls get` reports it"
            console.print(table)
    console.print()
    console.print(
        "Next: `vatel mock` serves this mock API for your own code; set VATEL_API_KEY "
        "to talk to your real agents with `vatel talk`.",
        style="dim",
        markup=False,
    )


@click.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_OUTPUT,
    show_default=True,
    metavar="WAV",
    help="Where to save the agent's reply audio.",
)
@click.option("--fast", is_flag=True, help="Run as fast as possible instead of in real time.")
@json_option
@pass_settings
def demo(settings: Settings, output: Path, fast: bool) -> None:
    """Try Vatel with no account and no network.

    Starts a mock Vatel server in this process, creates an agent with a client
    tool through the REST API, talks to it with generated speech, answers its
    tool call, prints the transcript and saves the agent's reply to a WAV file.
    """
    try:
        from ..testing import MockServer
    except ImportError as exc:
        raise click.ClickException(str(exc)) from None
    from .._client import Client
    from ._output import dump

    began = time.monotonic()
    status = _Status(quiet=settings.json)
    printer = Printer(json_lines=settings.json)
    with MockServer(pace=0.0 if fast else 1.0) as server:
        speed = "as fast as possible" if fast else "in real time"
        status(f"Started a mock Vatel server at {server.base_url} ({speed}).")
        with Client(server.api_key, base_url=server.base_url) as client:
            agent = client.agents.create(
                name=AGENT_NAME, prompt=AGENT_PROMPT, first_message=AGENT_FIRST_MESSAGE
            )
            status(f"Created the agent {agent.name!r} ({agent.id}) through the REST API.")
            server.add_client_tool(
                agent.id,
                "get_weather",
                arguments=[
                    {
                        "name": "city",
                        "dataType": "string",
                        "value": TOOL_CITY,
                        "description": "The city to report on.",
                    }
                ],
                description="Current weather in a city.",
            )
            status("Gave it a client tool, get_weather(city), that this program answers.")
            status(f"Talking to it with {USER_SPEECH_SECONDS:g} s of generated speech...")
            report = run(_run_session(server, agent.id, output, printer, fast))
            received: list[str] = []
            call: dict[str, Any] | None = None
            for session in server.sessions:
                if session.id == report.session_id:
                    session.wait_closed()
                    received = [t.output for t in session.tool_outputs if t.known]
            if report.session_id is not None:
                try:
                    call = dump(client.calls.get(report.session_id))
                except APIError:
                    call = None
    seconds = time.monotonic() - began
    if settings.json:
        summary = summary_json(report, output)
        summary.update(call=call, tool_outputs_received=received, seconds=round(seconds, 3))
        printer.show_json(summary)
    else:
        _summary(status, report, output, call, received, seconds)
    problems = []
    if not report.tools or not received:
        problems.append("no tool round trip")
    if report.agent_audio_bytes == 0:
        problems.append("no agent audio")
    if problems:
        raise click.ClickException("the demo session was incomplete: " + ", ".join(problems))


COMMANDS: list[click.Command] = [demo]
