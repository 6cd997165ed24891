"""Tool outputs as the text a ``tool_call_output`` frame carries."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["tool_output_text"]


def tool_output_text(output: Any) -> str:
    """``output`` as the frame's ``output`` string: a str as is, anything else as JSON."""
    if isinstance(output, str):
        return output
    try:
        return json.dumps(output)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"Tool output is not JSON-serialisable: {exc}") from None
    except RecursionError:
        raise ValueError("Tool output is nested too deeply to send as JSON.") from None
