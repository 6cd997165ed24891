"""The ``vatel`` command group: global options, logging and error reporting."""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from .._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    VatelError,
)
from .._version import __version__

if TYPE_CHECKING:
    from .._client import AsyncClient, Client

__all__ = ["Settings", "cli", "get_cli", "json_option", "pass_settings", "run"]

API_KEY_ENV = "VATEL_API_KEY"
BASE_URL_ENV = "VATEL_BASE_URL"

BROKEN_PIPE_EXIT = 141
"""Exit status when the reader of stdout went away (``vatel ... | head``): 128 + SIGPIPE,
what a shell reports for any classic tool ended by a closed pipe."""

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Settings:
    """The global options, shared by every command."""

    api_key: str | None = None
    base_url: str | None = None
    json: bool = False
    verbose: bool = False

    def _require_key(self) -> str:
        if not self.api_key:
            raise click.ClickException(f"no API key: pass --api-key or set {API_KEY_ENV}.")
        return self.api_key

    def client(self) -> Client:
        """A REST client for these settings."""
        from .._client import Client

        return Client(self._require_key(), base_url=self.base_url)

    def async_client(self) -> AsyncClient:
        """An asyncio client for these settings."""
        from .._client import AsyncClient

        return AsyncClient(self._require_key(), base_url=self.base_url)

    @property
    def resolved_base_url(self) -> str:
        """The base URL requests go to."""
        if self.base_url:
            return self.base_url.rstrip("/")
        from .._constants import DEFAULT_BASE_URL

        return DEFAULT_BASE_URL


pass_settings = click.make_pass_decorator(Settings, ensure=True)


def error_line(exc: APIError, base_url: str) -> str:
    """One line describing ``exc`` for the terminal."""
    if isinstance(exc, APIStatusError):
        text = f"{exc.status_code} {exc.message}"
    elif isinstance(exc, APIConnectionError):
        detail = str(exc).removeprefix("Connection error: ")
        text = f"could not reach {base_url}: {detail}"
    else:
        text = str(exc)
    return "Error: " + " ".join(text.split())


def _drop_stdout() -> None:
    """Point stdout at the null device, so that nothing still buffered for a closed
    pipe is flushed at exit (Python would print "Exception ignored ... BrokenPipeError";
    see "Note on SIGPIPE" in the documentation of the ``signal`` module)."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _broken_pipe_exit() -> click.exceptions.Exit:
    """The quiet way out once stdout's reader went away (``vatel ... | head``): it
    has all it wanted, so this is no error to report."""
    _drop_stdout()
    return click.exceptions.Exit(BROKEN_PIPE_EXIT)


# Which module defines each command. A command's module is imported only when
# that command runs (or help lists them all): ``vatel token`` then loads neither
# the voice session code, the tool router, the mock server nor the audio helpers.
_COMMAND_MODULES = {
    "agents": "_rest",
    "calls": "_rest",
    "voices": "_rest",
    "llms": "_rest",
    "token": "_rest",
    "talk": "_talk",
    "demo": "_demo",
    "mock": "_mock",
}


def _add_commands(group: click.Group, module_name: str) -> None:
    """Add every command the CLI module ``module_name`` defines to ``group``."""
    module = importlib.import_module(f".{module_name}", __package__)
    for command in module.COMMANDS:
        if command.name not in group.commands:
            group.add_command(command)


class _Group(click.Group):
    """The root group: loads each command's module on first use, and turns SDK
    errors, Ctrl-C and a closed stdout into short messages (or none) and exit codes."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *_COMMAND_MODULES})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in _COMMAND_MODULES:
            _add_commands(self, _COMMAND_MODULES[cmd_name])
        return super().get_command(ctx, cmd_name)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # --help and --version print while the arguments are parsed.
        try:
            return super().parse_args(ctx, args)
        except BrokenPipeError:
            raise _broken_pipe_exit() from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise click.exceptions.Exit(130) from None
        except BrokenPipeError:
            raise _broken_pipe_exit() from None
        except APIError as exc:
            settings = ctx.find_object(Settings) or Settings()
            click.echo(error_line(exc, settings.resolved_base_url), err=True)
            raise click.exceptions.Exit(1) from None
        except (OSError, VatelError) as exc:
            click.echo(f"Error: {exc}", err=True)
            raise click.exceptions.Exit(1) from None


def _set_json(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(Settings).json = True


def json_option(command: F) -> F:
    """Add a per-command ``--json`` flag, the same as the global one."""
    option = click.option(
        "--json",
        "json_output",
        is_flag=True,
        expose_value=False,
        callback=_set_json,
        help="Print machine-readable JSON on stdout.",
    )
    return option(command)


def _configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("vatel").setLevel(logging.DEBUG)


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--api-key",
    envvar=API_KEY_ENV,
    show_envvar=True,
    metavar="KEY",
    help="Your Vatel API key.",
)
@click.option(
    "--base-url",
    envvar=BASE_URL_ENV,
    show_envvar=True,
    metavar="URL",
    help="API base URL (default: https://api.vatel.ai).",
)
@click.option("--json", "json_output", is_flag=True, help="Print machine-readable JSON on stdout.")
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages to stderr.")
@click.version_option(__version__, "--version", prog_name="vatel")
@click.pass_context
def cli(
    ctx: click.Context,
    api_key: str | None,
    base_url: str | None,
    json_output: bool,
    verbose: bool,
) -> None:
    """Command line for the Vatel voice-agent platform.

    Start with `vatel demo`: it runs a whole voice session against a local mock
    server, with no account and no network.
    """
    settings = ctx.ensure_object(Settings)
    settings.api_key = api_key or None
    settings.base_url = base_url or None
    settings.json = json_output
    settings.verbose = verbose
    if verbose:
        _configure_logging()


def get_cli() -> click.Group:
    """The ``vatel`` group with every command added (``run`` adds only the one it runs)."""
    # Added here rather than at import time: the command modules import this one.
    for module_name in dict.fromkeys(_COMMAND_MODULES.values()):
        _add_commands(cli, module_name)
    return cli


def run(argv: Sequence[str] | None = None) -> NoReturn:
    """Run the command line; always exits."""
    try:
        try:
            cli.main(args=list(argv) if argv is not None else None, prog_name="vatel")
        finally:
            # Output still buffered for a pipe goes out now, where a reader that went
            # away can be told apart, rather than in the interpreter's last flush.
            if sys.stdout is not None and not sys.stdout.closed:
                sys.stdout.flush()
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except BrokenPipeError:
        raise SystemExit(_broken_pipe_exit().exit_code) from None
    raise SystemExit(0)  # main() exits by itself; this is for type checkers.
