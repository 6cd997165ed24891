"""REST commands: agents, calls, voices, LLMs and session tokens."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast, get_args

import click

from ._app import Settings, json_option, pass_settings
from ._output import (
    add_row,
    counted,
    detail_table,
    dump,
    emit_json,
    emit_json_array,
    format_value,
    new_table,
    print_renderable,
    stderr_console,
)

if TYPE_CHECKING:
    from rich.table import Table

    from .._models import Call, CallOutcome, CallSource, CallStatus, TTSStrategy
    from .._params import AgentCreateParams, CallListParams

__all__ = ["COMMANDS"]

_MAX_PAGE_SIZE = 100


class _ModelChoice(click.Choice):  # type: ignore[type-arg]
    """A choice among the values of one of the SDK's ``Literal`` types, read on first use
    so that starting the command line does not import the models."""

    def __init__(self, type_name: str) -> None:
        self._type_name = type_name
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        from .. import _models

        return tuple(get_args(getattr(_models, self._type_name)))

    @choices.setter
    def choices(self, value: Any) -> None:
        pass


def when(value: Any) -> str:
    """An RFC 3339 timestamp shortened to minutes for a table cell."""
    text = format_value(value)
    return text[:16].replace("T", " ") if len(text) >= 16 and text[10:11] == "T" else text


# -- agents -------------------------------------------------------------------


@click.group()
def agents() -> None:
    """List, show, create and delete agents."""


def _agent_detail(data: dict[str, Any]) -> None:
    print_renderable(detail_table(data, title=f"Agent {data.get('id', '')}"))


@agents.command("list")
@json_option
@pass_settings
def agents_list(settings: Settings) -> None:
    """List the organization's agents."""
    with settings.client() as client:
        items = [dump(agent) for agent in client.agents.list()]
    if settings.json:
        emit_json(items)
        return
    table = new_table(
        "ID",
        "Name",
        "LLM",
        "Voice",
        "Status",
        "Created",
        no_wrap=("ID", "Status"),
        min_widths={"Name": 10, "LLM": 12, "Voice": 12, "Created": 10},
    )
    for agent in items:
        voice = agent.get("voice_settings") or {}
        add_row(
            table,
            agent["id"],
            agent.get("name"),
            agent.get("llm"),
            "/".join(str(voice[k]) for k in ("provider", "id") if voice.get(k)),
            agent.get("status"),
            when(agent.get("created_at")),
        )
    table.caption = counted(len(items), "agent")
    print_renderable(table)


@agents.command("get")
@click.argument("agent_id")
@json_option
@pass_settings
def agents_get(settings: Settings, agent_id: str) -> None:
    """Show one agent."""
    with settings.client() as client:
        data = dump(client.agents.get(agent_id))
    if settings.json:
        emit_json(data)
    else:
        _agent_detail(data)


@agents.command("create")
@click.option("--name", required=True, help="Name of the agent.")
@click.option("--prompt", help="System prompt.")
@click.option("--first-message", help="What the agent says when a session starts.")
@click.option("--llm", help="Language model id, provider/model (see `vatel llms`).")
@click.option("--voice-id", help="Voice id from `vatel voices`; needs --voice-provider.")
@click.option(
    "--voice-provider",
    type=_ModelChoice("TTSStrategy"),
    help="TTS provider of the voice; needs --voice-id.",
)
@json_option
@pass_settings
def agents_create(
    settings: Settings,
    name: str,
    prompt: str | None,
    first_message: str | None,
    llm: str | None,
    voice_id: str | None,
    voice_provider: str | None,
) -> None:
    """Create an agent; fields not given take the server's defaults."""
    params: AgentCreateParams = {"name": name}
    if prompt is not None:
        params["prompt"] = prompt
    if first_message is not None:
        params["first_message"] = first_message
    if llm is not None:
        params["llm"] = llm
    if (voice_id is None) != (voice_provider is None):
        raise click.UsageError("--voice-id and --voice-provider must be given together.")
    if voice_id is not None and voice_provider is not None:
        provider = cast("TTSStrategy", voice_provider)
        params["voice_settings"] = {"id": voice_id, "provider": provider}
    with settings.client() as client:
        data = dump(client.agents.create(**params))
    if settings.json:
        emit_json(data)
    else:
        _agent_detail(data)


@agents.command("delete")
@click.argument("agent_id")
@json_option
@pass_settings
def agents_delete(settings: Settings, agent_id: str) -> None:
    """Delete an agent."""
    with settings.client() as client:
        client.agents.delete(agent_id)
    if settings.json:
        emit_json({"id": agent_id, "deleted": True})
    else:
        click.echo(f"Deleted agent {agent_id}")


# -- calls ----------------------------------------------------------------------


@click.group()
def calls() -> None:
    """List and show calls, and download their recordings."""


def _call_row(table: Table, call: dict[str, Any], agent_names: dict[str, str]) -> None:
    outbound = call.get("outbound")
    direction = "" if outbound is None else (" (out)" if outbound else " (in)")
    seconds = call.get("duration_seconds")
    agent_id = call.get("agent_id") or ""
    add_row(
        table,
        call["id"],
        when(call.get("created_at")),
        agent_names.get(agent_id) or agent_id,
        call.get("status"),
        f"{call.get('source') or ''}{direction}",
        f"{seconds} s" if seconds is not None else "",
        call.get("termination_reason"),
    )


@calls.command("list")
@click.option(
    "--agent-id",
    "agent_ids",
    multiple=True,
    metavar="ID",
    help="Only calls of this agent; repeat for several.",
)
@click.option("--status", type=_ModelChoice("CallStatus"), help="Only calls in this state.")
@click.option("--source", type=_ModelChoice("CallSource"), help="Only calls from here.")
@click.option(
    "--from", "date_from", metavar="WHEN", help="Created at or after (RFC 3339 time or date)."
)
@click.option(
    "--to", "date_to", metavar="WHEN", help="Created at or before (RFC 3339 time or date)."
)
@click.option("--outbound/--inbound", default=None, help="Only outbound, or only inbound, calls.")
@click.option("--search", metavar="TEXT", help="Part of the other party's number.")
@click.option("--tag", help="Only calls with this tag.")
@click.option("--outcome", type=_ModelChoice("CallOutcome"), help="Only calls that ended this way.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    metavar="N",
    help="Stop after N calls (default: all; pages are fetched as needed).",
)
@json_option
@pass_settings
def calls_list(
    settings: Settings,
    agent_ids: tuple[str, ...],
    status: str | None,
    source: str | None,
    date_from: str | None,
    date_to: str | None,
    outbound: bool | None,
    search: str | None,
    tag: str | None,
    outcome: str | None,
    limit: int | None,
) -> None:
    """List calls, newest first."""
    filters: CallListParams = {}
    if agent_ids:
        filters["agent_ids"] = list(agent_ids)
    if status is not None:
        filters["status"] = cast("CallStatus", status)
    if source is not None:
        filters["source"] = cast("CallSource", source)
    if outcome is not None:
        filters["outcome"] = cast("CallOutcome", outcome)
    if date_from is not None:
        filters["date_from"] = date_from
    if date_to is not None:
        filters["date_to"] = date_to
    if outbound is not None:
        filters["outbound"] = outbound
    if search is not None:
        filters["search"] = search
    if tag is not None:
        filters["tag"] = tag
    page_size = min(limit, _MAX_PAGE_SIZE) if limit else _MAX_PAGE_SIZE
    with settings.client() as client:
        found: Iterator[Call] = client.calls.list(page_size=page_size, **filters)
        if limit is not None:
            found = itertools.islice(found, limit)
        walk = (dump(call) for call in found)
        if settings.json:
            emit_json_array(walk)
            return
        # Names read better than ids; one extra request for the whole table.
        agent_names = {a.id: a.name for a in client.agents.list() if a.name}
        table = new_table(
            "ID",
            "Created",
            "Agent",
            "Status",
            "Source",
            "Duration",
            "Outcome",
            no_wrap=("ID", "Status", "Duration"),
            min_widths={"Created": 10, "Agent": 8, "Outcome": 8},
        )
        count = 0
        for call in walk:
            _call_row(table, call, agent_names)
            count += 1
    table.caption = counted(count, "call")
    print_renderable(table)


def transcript_table(entries: list[dict[str, Any]]) -> Table:
    table = new_table("#", "Role", "Text", title="Transcript")
    for position, entry in enumerate(entries):
        kind = entry.get("type")
        role = entry.get("role") or kind or ""
        if kind == "tool_call":
            call = entry.get("toolCall") or {}
            text = f"{call.get('toolName', '?')}({call.get('arguments') or ''})"
            if call.get("output"):
                text += f" -> {call['output']}"
            role = "tool call"
        elif kind == "tool_call_output":
            text = entry.get("toolCallOutput") or ""
            role = "tool output"
        elif kind == "interruption":
            text = "[interrupted]"
        else:
            text = entry.get("message") or ""
        add_row(table, entry.get("index", position), role, text)
    return table


def show_call(data: dict[str, Any]) -> None:
    """Print a call's fields and its transcript."""
    fields = {k: v for k, v in data.items() if k != "transcript"}
    print_renderable(detail_table(fields, title=f"Call {data.get('id', '')}"))
    entries = (data.get("transcript") or {}).get("entries") or []
    if entries:
        print_renderable(transcript_table(entries))


@calls.command("get")
@click.argument("call_id")
@json_option
@pass_settings
def calls_get(settings: Settings, call_id: str) -> None:
    """Show one call with its transcript."""
    with settings.client() as client:
        data = dump(client.calls.get(call_id))
    if settings.json:
        emit_json(data)
    else:
        show_call(data)


@calls.command("recording")
@click.argument("call_id")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, allow_dash=True, path_type=Path),
    help="WAV file to write (default: CALL_ID.wav); - writes it to standard output.",
)
@json_option
@pass_settings
def calls_recording(settings: Settings, call_id: str, output: Path | None) -> None:
    """Download a call's recording as a WAV file."""
    if output is not None and str(output) == "-":
        _recording_to_stdout(settings, call_id)
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    destination = output or Path(f"{call_id}.wav")
    console = stderr_console()
    # A bar is only useful on a terminal, and it is removed once done so that an
    # error, if any, is the one line left.
    progress = Progress(
        TextColumn("[bold]Recording[/]"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    with settings.client() as client, progress:
        task = progress.add_task("download", total=None)

        def on_progress(written: int, total: int | None) -> None:
            progress.update(task, completed=written, total=total)

        size = client.calls.download_recording(call_id, destination, on_progress=on_progress)
    if settings.json:
        emit_json({"call_id": call_id, "path": str(destination), "bytes": size})
    else:
        click.echo(f"Saved the recording of call {call_id} to {destination} ({size:,} bytes)")


def _recording_to_stdout(settings: Settings, call_id: str) -> None:
    """Stream the WAV to stdout and print nothing else there."""
    if settings.json:
        raise click.UsageError("-o - writes the recording itself to stdout; drop --json.")
    stdout = sys.stdout.buffer
    if stdout.isatty():
        raise click.UsageError(
            "-o - would write binary audio to the terminal; pipe or redirect it."
        )
    with settings.client() as client:
        client.calls.download_recording(call_id, stdout)


# -- catalogs and tokens -------------------------------------------------------------


@click.command()
@json_option
@pass_settings
def voices(settings: Settings) -> None:
    """List the TTS voices an agent can use."""
    with settings.client() as client:
        items = [dump(voice) for voice in client.voices.list()]
    if settings.json:
        emit_json(items)
        return
    table = new_table(
        "ID",
        "Name",
        "Provider",
        "Languages",
        "Featured",
        "Description",
        no_wrap=("ID", "Featured"),
        min_widths={"Name": 8, "Languages": 10, "Description": 16},
    )
    for voice in items:
        add_row(
            table,
            voice["id"],
            voice.get("name"),
            voice.get("provider"),
            voice.get("languages"),
            voice.get("featured"),
            voice.get("description"),
        )
    table.caption = counted(len(items), "voice")
    print_renderable(table)


@click.command()
@json_option
@pass_settings
def llms(settings: Settings) -> None:
    """List the language models an agent can use."""
    with settings.client() as client:
        items = client.llms.list()
    if settings.json:
        emit_json({"llms": items})
        return
    table = new_table("LLM")
    for name in items:
        add_row(table, name)
    table.caption = counted(len(items), "model")
    print_renderable(table)


@click.command()
@click.argument("agent_id")
@click.option("--version-id", metavar="ID", help="Agent version (default: the published one).")
@json_option
@pass_settings
def token(settings: Settings, agent_id: str, version_id: str | None) -> None:
    """Mint a voice-session token for an agent and print it.

    The token is a secret: it opens a voice session with the agent until it expires.
    """
    with settings.client() as client:
        minted = client.session_token(agent_id, version_id=version_id)
    if settings.json:
        emit_json(dump(minted))
    else:
        click.echo(minted.token)


COMMANDS: list[click.Command] = [agents, calls, voices, llms, token]
