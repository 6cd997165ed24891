"""The package's three lists of public names agree: ``__all__``, the table the
lazy ``__getattr__`` imports from, and the imports type checkers read."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import vatel

INIT = Path(vatel.__file__)


def _type_checking_names() -> set[str]:
    tree = ast.parse(INIT.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            return {
                alias.asname or alias.name
                for stmt in node.body
                if isinstance(stmt, ast.ImportFrom) and stmt.level > 0
                for alias in stmt.names
            }
    raise AssertionError("vatel/__init__.py has no TYPE_CHECKING block")


def test_every_public_name_is_lazily_importable_and_typed() -> None:
    public = set(vatel.__all__) - {"__version__"}
    assert public == set(vatel._LOCATIONS), "__all__ and the lazy table differ"
    assert public == _type_checking_names(), "__all__ and the TYPE_CHECKING imports differ"


def test_each_name_comes_from_the_module_the_table_names() -> None:
    for name, module in vatel._LOCATIONS.items():
        value = getattr(importlib.import_module(module, "vatel"), name)
        assert getattr(vatel, name) is value, name


def test_exceptions_and_events_are_listed_in_full() -> None:
    from vatel import _events, _exceptions

    assert set(vatel._EXCEPTIONS) == set(_exceptions.__all__) - {"status_error_class"}
    for name in vatel._EVENTS:
        assert name in _events.__all__ or hasattr(_events, name), name


def test_dir_lists_the_public_names_and_submodules() -> None:
    assert set(dir(vatel)) >= set(vatel.__all__) | {"audio", "testing", "types"}
