"""``vatel talk``: a voice session with an agent, from a WAV file or the microphone."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import click

from .._tools import ToolRouter
from ._app import Settings, json_option, pass_settings
from ._running import on_next_ctrl_c, run
from ._session import (
    DEFAULT_LINGER,
    Printer,
    TalkReport,
    converse,
    file_source,
    summary_json,
)

if TYPE_CHECKING:
    from .._models import Agent
    from ..audio import Microphone, Speaker, WavWriter

__all__ = ["COMMANDS", "load_tools", "open_microphone", "open_speaker", "tail_seconds"]

log = logging.getLogger("vatel.cli")

_MIN_TAIL = 1.0
"""Least silence sent after the input, so the agent's voice detection ends the turn."""


# -- tool modules ---------------------------------------------------------------


def _looks_like_path(spec: str) -> bool:
    return spec.endswith(".py") or "/" in spec or os.sep in spec


def _import_file(spec: str) -> ModuleType:
    path = Path(spec)
    if not path.is_file():
        raise click.BadParameter(f"no such file: {spec}", param_hint="'--tool-module'")
    name = f"_vatel_tools_{path.stem}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise click.BadParameter(f"cannot import {spec}", param_hint="'--tool-module'")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    # Lets the file import modules that sit next to it.
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    module_spec.loader.exec_module(module)
    return module


def _import_name(spec: str) -> ModuleType:
    # The console script does not put the working directory on sys.path,
    # but a module named on the command line is most often right there.
    cwd = os.getcwd()
    if "" not in sys.path and cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (spec == exc.name or spec.startswith(exc.name + ".")):
            raise click.BadParameter(
                f"no module named {spec!r}", param_hint="'--tool-module'"
            ) from None
        raise


def load_tools(spec: str) -> ToolRouter:
    """The ``vatel.ToolRouter`` of a module (importable name or ``.py`` path): the one
    named ``tools``, else the first one defined."""
    try:
        module = _import_file(spec) if _looks_like_path(spec) else _import_name(spec)
    except click.ClickException:
        raise
    except Exception as exc:
        log.debug("Importing %s failed", spec, exc_info=True)
        raise click.ClickException(
            f"could not load tool module {spec}: {type(exc).__name__}: {exc}"
        ) from None
    named = getattr(module, "tools", None)
    if isinstance(named, ToolRouter):
        return named
    for value in vars(module).values():
        if isinstance(value, ToolRouter):
            return value
    raise click.BadParameter(
        f"{spec} defines no vatel.ToolRouter (name it `tools`).", param_hint="'--tool-module'"
    )


# -- audio devices --------------------------------------------------------------------


def open_microphone() -> Microphone:
    """The default microphone, or a one-line error naming the audio extra."""
    from ..audio import Microphone

    try:
        return Microphone()
    except ImportError as exc:
        raise click.ClickException(str(exc)) from None
    except Exception as exc:
        raise click.ClickException(f"could not open the microphone: {exc}") from None


def open_speaker() -> Speaker:
    """The default speaker, or a one-line error naming the audio extra."""
    from ..audio import Speaker

    try:
        return Speaker()
    except ImportError as exc:
        raise click.ClickException(str(exc)) from None
    except Exception as exc:
        raise click.ClickException(f"could not open the speaker: {exc}") from None


@contextlib.contextmanager
def _closing(device: Microphone | Speaker | None) -> Iterator[None]:
    try:
        yield
    finally:
        if device is not None:
            device.close()


def _stop_listening_on_ctrl_c(mic: Microphone, printer: Printer) -> None:
    """First Ctrl-C stops the microphone and lets the agent finish; the next one quits."""

    def stop() -> None:
        mic.close()
        printer.show("note", "stopped listening (Ctrl-C again to quit now).")

    on_next_ctrl_c(stop)


# -- the command -------------------------------------------------------------------------


def tail_seconds(agent: Agent) -> float:
    """Silence to send after the input: a bit longer than the agent's end-of-turn silence."""
    stop = agent.vad_settings.stop_secs if agent.vad_settings else None
    return max(_MIN_TAIL, (stop or 0.0) + 0.5)


@click.command()
@click.argument("agent_id")
@click.option(
    "-i",
    "--input",
    "input_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="WAV",
    help="WAV file to say to the agent, streamed in real time (any common WAV format).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="WAV",
    help="Save the agent's audio to this WAV file (24 kHz, mono, 16-bit).",
)
@click.option(
    "--tool-module",
    metavar="MODULE",
    help="Module name or .py file with a vatel.ToolRouter (named `tools`, else the first "
    "found) that answers the agent's tool calls.",
)
@click.option(
    "--mic",
    is_flag=True,
    help="Speak through the microphone instead of --input; Ctrl-C stops listening "
    "(needs vatel[audio]).",
)
@click.option("--speaker", is_flag=True, help="Play the agent's voice (needs vatel[audio]).")
@click.option(
    "--version-id", metavar="ID", help="Agent version to talk to (default: the published one)."
)
@click.option(
    "--linger",
    type=click.FloatRange(min=0),
    default=DEFAULT_LINGER,
    show_default=True,
    metavar="SECONDS",
    help="Quiet time after the agent's last turn before the session is closed.",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    metavar="FACTOR",
    help="Send --input this many times faster than real time (0: as fast as possible; "
    "for testing against the mock server).",
)
@json_option
@pass_settings
def talk(
    settings: Settings,
    agent_id: str,
    input_path: Path | None,
    output: Path | None,
    tool_module: str | None,
    mic: bool,
    speaker: bool,
    version_id: str | None,
    linger: float,
    speed: float,
) -> None:
    """Talk to an agent and print the live transcript.

    Streams --input (or the microphone) to the agent, answers its tool calls
    with --tool-module, saves its voice to --output, and ends the session once
    the agent has finished answering.
    """
    if input_path is None and not mic:
        raise click.UsageError("give --input WAV or --mic.")
    if input_path is not None and mic:
        raise click.UsageError("give --input or --mic, not both.")
    if mic and speed != 1.0:
        raise click.UsageError("--speed applies to --input only.")
    tools = load_tools(tool_module) if tool_module else None
    pcm = b""
    if input_path is not None:
        from ..audio import read_wav

        pcm = read_wav(input_path)
    printer = Printer(json_lines=settings.json)
    microphone = open_microphone() if mic else None
    with _closing(microphone):
        playback = open_speaker() if speaker else None
        with _closing(playback):
            report = run(
                _talk(
                    settings,
                    agent_id,
                    pcm=pcm,
                    microphone=microphone,
                    speaker=playback,
                    output=output,
                    tools=tools,
                    version_id=version_id,
                    linger=linger,
                    speed=speed,
                    printer=printer,
                )
            )
    if settings.json:
        printer.show_json(summary_json(report, output))
        return
    printer.show("latency", report.latency.format())
    if output is not None:
        click.echo(f"Saved {report.agent_audio_seconds:.1f} s of agent audio to {output}")


async def _talk(
    settings: Settings,
    agent_id: str,
    *,
    pcm: bytes,
    microphone: Microphone | None,
    speaker: Speaker | None,
    output: Path | None,
    tools: ToolRouter | None,
    version_id: str | None,
    linger: float,
    speed: float,
    printer: Printer,
) -> TalkReport:
    async with settings.async_client() as client:
        agent = await client.agents.get(agent_id)
        source: AsyncIterator[bytes]
        if microphone is not None:
            _stop_listening_on_ctrl_c(microphone, printer)
            source = microphone.__aiter__()
        else:
            source = file_source(pcm, tail=tail_seconds(agent), speed=speed)
        with _wav_writer(output) as wav:
            return await converse(
                client,
                agent_id,
                source,
                printer=printer,
                tools=tools,
                version_id=version_id,
                wav=wav,
                speaker=speaker,
                wait_for_greeting=bool(agent.first_message),
                linger=linger,
            )


@contextlib.contextmanager
def _wav_writer(path: Path | None) -> Iterator[WavWriter | None]:
    if path is None:
        yield None
        return
    from ..audio import WavWriter

    with WavWriter(path) as writer:
        yield writer


COMMANDS: list[click.Command] = [talk]
