"""The campaign tool is a client of the public API: no module of herald/campaign imports
any other part of Herald. The import-linter contract lists Herald's packages by name; this
check reads every import instead, so a package Herald adds later is covered too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import herald.campaign

PACKAGE = "herald.campaign"
DIRECTORY = Path(herald.campaign.__file__).parent
MODULES = sorted(DIRECTORY.rglob("*.py"))
IMPORTERS = {"import_module", "__import__"}


def foreign_imports(source: str, module: str) -> list[str]:
    """The Herald modules outside herald.campaign that `source` (the module `module`)
    imports, relative and dynamic imports included."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module)
            found += (
                [f"{base}.{alias.name}" for alias in node.names] if base == "herald" else [base]
            )
        elif isinstance(node, ast.Call) and _callee(node.func) in IMPORTERS and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.append(first.value)
    return [name for name in found if _is_foreign(name)]


def _absolute(node: ast.ImportFrom, module: str) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".")[: -node.level]
    return ".".join([*parts, node.module] if node.module else parts)


def _callee(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _is_foreign(name: str) -> bool:
    is_herald = name == "herald" or name.startswith("herald.")
    return is_herald and not (name == PACKAGE or name.startswith(PACKAGE + "."))


def _module_name(path: Path) -> str:
    parts = path.relative_to(DIRECTORY).with_suffix("").parts
    return ".".join([PACKAGE, *parts])


def test_the_package_is_all_here() -> None:
    names = {path.name for path in MODULES}
    assert {"__init__.py", "settings.py", "send.py", "cli.py"} <= names
    assert len(MODULES) >= 20


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(DIRECTORY)))
def test_imports_nothing_of_herald_but_itself(path: Path) -> None:
    found = foreign_imports(path.read_text(encoding="utf-8"), _module_name(path))
    assert not found, f"{path.name} imports {found}: the campaign tool speaks the public API only"


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("import herald.config", ["herald.config"]),
        ("import herald", ["herald"]),
        ("from herald.domain.encoding import encode_body", ["herald.domain.encoding"]),
        ("from herald import config, campaign", ["herald.config"]),
        ("from .. import config", ["herald.config"]),
        ("from ..store import db", ["herald.store"]),
        ("def f():\n    import herald.newpackage", ["herald.newpackage"]),
        ("importlib.import_module('herald.runtime')", ["herald.runtime"]),
        ("__import__('herald.api')", ["herald.api"]),
        ("from herald.campaign import times\nfrom . import keywords\nimport heraldic", []),
        ("from .settings import load\nimport herald.campaign.send", []),
    ],
)
def test_the_check_catches_every_kind_of_import(source: str, found: list[str]) -> None:
    assert foreign_imports(source, "herald.campaign.example") == found
