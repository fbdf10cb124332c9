"""The package's layers import downwards only: the flow sources -> engine -> strategy."""

from __future__ import annotations

import ast
from pathlib import Path

import backtrader_channels

PACKAGE = Path(backtrader_channels.__file__).parent

# a layer may not import these (relative or absolute)
FORBIDDEN = {
    "engine": {"cerebro", "explicit", "feeds", "bus", "record", "sweep", "cli", "bench", "testing"},
    "kinds": {"cerebro", "explicit", "engine", "feeds", "bus", "record", "sweep", "cli", "bench", "testing"},
    "channels": {"cerebro", "engine", "kinds", "feeds", "bus", "record", "broker"},
    "sources": {"cerebro", "engine", "kinds", "feeds", "bus", "record", "broker", "channels"},
    "broker": {"cerebro", "engine", "bus", "record", "sweep", "cli"},
    "live": {"cerebro", "engine", "kinds", "feeds", "bus", "record", "broker"},
}


def imported_modules(path: Path) -> set[str]:
    """First-level package names ``path`` imports from backtrader_channels at run time (at any
    depth; imports for type checkers only, under ``if TYPE_CHECKING:``, do not count)."""
    tree = ast.parse(path.read_text())
    typing_only = {id(inner) for node in ast.walk(tree)
                   if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"
                   for inner in ast.walk(node)}
    names: set[str] = set()
    package = path.relative_to(PACKAGE).parts[:-1]
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - node.level + 1])
                target = base + (node.module.split(".") if node.module else [])
                if not node.module:  # from .. import seam
                    target += [alias.name for alias in node.names]
            elif node.module and node.module.startswith("backtrader_channels."):
                target = node.module.split(".")[1:]
            else:
                continue
            if target:
                names.add(target[0])
        elif isinstance(node, ast.Import):
            names.update(alias.name.split(".")[1] for alias in node.names
                         if alias.name.startswith("backtrader_channels."))
    return names


def test_no_layer_imports_upwards():
    offences = []
    for layer, forbidden in FORBIDDEN.items():
        for path in sorted((PACKAGE / layer).rglob("*.py")):
            bad = imported_modules(path) & forbidden
            if bad:
                offences.append(f"{path.relative_to(PACKAGE)} imports {', '.join(sorted(bad))}")
    assert offences == []


def test_the_checker_sees_relative_and_absolute_imports(tmp_path):
    engine = PACKAGE / "engine" / "engine.py"
    assert {"seam", "kinds", "broker", "result"} <= imported_modules(engine)
