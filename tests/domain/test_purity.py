"""domain/ is a functional core: no I/O, clock, randomness or logging may be imported."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import herald.domain

FORBIDDEN = {
    "asyncio",
    "sqlalchemy",
    "httpx",
    "os",
    "time",
    "random",
    "secrets",
    "logging",
    "socket",
    "starlette",
    "uvicorn",
    "pathlib",
    "subprocess",
    "threading",
    "io",
    "herald.store",
    "herald.api",
    "herald.runtime",
    "herald.clock",
    "herald.config",
}
MODULES = sorted(Path(herald.domain.__file__).parent.glob("*.py"))


def imported(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_no_forbidden_imports(path: Path) -> None:
    names = imported(ast.parse(path.read_text()))
    bad = {n for n in names if n in FORBIDDEN or n.split(".")[0] in FORBIDDEN}
    assert not bad, f"{path.name} imports {bad}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_no_clock_or_file_calls(path: Path) -> None:
    source = path.read_text()
    for call in ("datetime.now", "datetime.utcnow", "date.today", "open("):
        assert call not in source, f"{path.name} calls {call}"


def test_the_check_catches_a_forbidden_import() -> None:
    assert imported(ast.parse("import os\nfrom time import time")) == {"os", "time"}
