"""Terminal output: rich tables for people, JSON for programs."""

from __future__ import annotations

import errno
import functools
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import click

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

__all__ = [
    "add_row",
    "detail_table",
    "dump",
    "emit_json",
    "emit_json_array",
    "format_value",
    "new_table",
    "print_renderable",
    "stderr_console",
    "stdout_console",
]

_PIPE_WIDTH = 200
"""Width of tables written to a pipe or file: wide enough that ids are not cut."""


class _Dumpable(Protocol):
    """A REST model, or a :class:`vatel.SessionToken` (no model, but it dumps like one)."""

    def model_dump(self, *, mode: str, by_alias: bool, exclude_none: bool) -> dict[str, Any]: ...


def dump(model: _Dumpable) -> dict[str, Any]:
    """A model as the API writes it: wire names, JSON types, unset fields left out."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def emit_json(data: Any) -> None:
    """Write ``data`` to stdout as indented JSON."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def emit_json_array(items: Iterable[Any]) -> int:
    """Write ``items`` to stdout as a JSON array, each as it comes; returns how many."""
    count = 0
    out = sys.stdout
    for item in items:
        out.write("[\n  " if count == 0 else ",\n  ")
        out.write(json.dumps(item, indent=2, ensure_ascii=False).replace("\n", "\n  "))
        out.flush()
        count += 1
    out.write("[]\n" if count == 0 else "\n]\n")
    out.flush()
    return count


@functools.cache
def _console_class() -> type[Console]:
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            # rich would exit with status 1 itself; raising lets the command group
            # end every command the same quiet way when stdout's reader went away.
            self.quiet = True
            raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))

    return _Console


def _console(stderr: bool) -> Console:
    console_class = _console_class()
    console = console_class(stderr=stderr, highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = console_class(stderr=stderr, highlight=False, width=_PIPE_WIDTH)
    return console


def stdout_console() -> Console:
    """A console for stdout."""
    return _console(stderr=False)


def stderr_console() -> Console:
    """A console for stderr: progress bars and status lines stay out of stdout."""
    return _console(stderr=True)


def print_renderable(renderable: Any) -> None:
    """Print a rich renderable on stdout."""
    stdout_console().print(renderable)


def format_value(value: Any) -> str:
    """A JSON-ish value as short text for a table cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={format_value(v)}" for k, v in value.items() if v is not None)
    if isinstance(value, Sequence) and not isinstance(value, str):
        return ", ".join(format_value(v) for v in value)
    return str(value)


def new_table(
    *columns: str,
    title: str | None = None,
    no_wrap: Sequence[str] = (),
    min_widths: Mapping[str, int] | None = None,
) -> Table:
    """A borderless table with bold headers; columns named in ``no_wrap`` are never
    folded, the others are not squeezed below ``min_widths`` (default: their header)."""
    from rich.table import Table

    table = Table(
        title=title,
        title_justify="left",
        caption_justify="left",
        header_style="bold underline",
        box=None,
        pad_edge=False,
    )
    widths = min_widths or {}
    for name in columns:
        table.add_column(
            name,
            no_wrap=name in no_wrap,
            overflow="fold",
            min_width=widths.get(name, len(name)),
        )
    return table


def add_row(table: Table, *values: Any) -> None:
    """Add a row of plain-text cells: text from the API is never read as rich markup."""
    from rich.text import Text

    table.add_row(*(Text(format_value(v)) for v in values))


def counted(count: int, noun: str) -> str:
    """``"1 agent"``, ``"3 agents"``: a table caption."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def detail_table(data: Mapping[str, Any], *, title: str | None = None) -> Table:
    """A two-column table of a record's fields (nested records flattened to one cell)."""
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("Field", style="bold", no_wrap=True)
    table.add_column("Value", overflow="fold")
    for key, value in data.items():
        if format_value(value):
            add_row(table, key, value)
    return table
