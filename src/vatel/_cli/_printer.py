"""The live lines of a voice session in the terminal: styled text, or JSON lines."""

from __future__ import annotations

import json
from typing import Any

from ._output import stdout_console

__all__ = ["Printer"]

_STYLES = {
    "session_started": ("Session started", "dim"),
    "user": ("User:", "bold cyan"),
    "agent": ("Agent:", "bold green"),
    "tool_call": ("Tool call:", "bold yellow"),
    "tool_output": ("Tool output:", "yellow"),
    "interruption": ("[interrupted]", "bold red"),
    "session_ended": ("Session ended by the agent", "dim"),
    "session_closed": ("Session closed", "dim"),
    "latency": ("Latency:", "bold"),
    "note": ("Note:", "dim"),
}


class Printer:
    """Prints a session's lines as they happen: styled text, or JSON lines.

    Only prints: the turns themselves are kept by the connection's
    :class:`vatel.Transcript`.
    """

    def __init__(self, *, json_lines: bool = False) -> None:
        self.json_lines = json_lines
        self._console = None if json_lines else stdout_console()

    def show_json(self, data: dict[str, Any]) -> None:
        """Print one JSON object as a line."""
        print(json.dumps(data, ensure_ascii=False), flush=True)

    def show(self, kind: str, text: str = "", **extra: Any) -> None:
        """Print one line of kind ``kind`` (a key of the styles table)."""
        if self._console is None:
            self.show_json({"type": kind, "text": text, **extra})
            return
        from rich.text import Text

        label, style = _STYLES[kind]
        line = Text(label, style=style)
        if text:
            line.append(" ")
            line.append(text, style="dim" if style == "dim" else "")
        self._console.print(line, soft_wrap=True)
