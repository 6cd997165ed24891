"""The ``vatel`` command line.

Needs the ``cli`` extra (click and rich). Both are imported only when a
command runs, never by ``import vatel``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]

INSTALL_HINT = "The vatel command line needs click and rich: pip install 'vatel[cli]'"


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``vatel`` command line with ``argv`` (default: ``sys.argv[1:]``); exits."""
    try:
        import click  # noqa: F401
        import rich  # noqa: F401
    except ImportError:
        print(INSTALL_HINT, file=sys.stderr)
        raise SystemExit(1) from None

    from ._app import run

    run(argv)
