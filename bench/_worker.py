"""Runs one client measurement in a fresh interpreter: ``python -m bench._worker MOD FUNC SPEC``.

Prints ``RESULT <json>`` on its last line, so the parent can read the figures
without sharing CPU accounting (or an event loop) with the measurement.
"""

from __future__ import annotations

import importlib
import json
import sys


def main() -> None:
    module, function, spec = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    result = getattr(importlib.import_module(f"bench.{module}"), function)(spec)
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
