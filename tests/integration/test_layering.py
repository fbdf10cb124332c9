"""The package's layers import downwards only: the flow sources -> engine -> strategy."""

from __future__ import annotations

import ast
import re
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


def _typing_only(tree: ast.AST) -> set[int]:
    """ids of the nodes under ``if TYPE_CHECKING:`` (imports for type checkers, never run)."""
    return {id(inner) for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for inner in ast.walk(node)}


def imported_modules(path: Path) -> set[str]:
    """First-level package names ``path`` imports from backtrader_channels at run time (at any
    depth; imports for type checkers only, under ``if TYPE_CHECKING:``, do not count)."""
    tree = ast.parse(path.read_text())
    typing_only = _typing_only(tree)
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


# -- import circles --------------------------------------------------------------------------
def module_graph(package: Path) -> dict[str, set[str]]:
    """Which modules of ``package`` (a directory) each of its modules imports at run time:
    ``import``/``from`` statements at module level and inside functions, not those under
    ``if TYPE_CHECKING:``. Importing ``a.b.c`` also runs the package ``a.b`` (its
    ``__init__``) unless the importer is inside it, so that counts as importing ``a.b`` too."""
    root = package.name
    modules: dict[str, Path] = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def known(name: str) -> str:  # the module a dotted name is in: 'a.b.Class' -> 'a.b'
        while name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        skip = _typing_only(tree)
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        targets: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.ImportFrom):
                base = here[: len(here) - node.level + 1] if node.level else []
                module = ".".join(base + (node.module.split(".") if node.module else []))
                if module != root and not module.startswith(root + "."):
                    continue
                targets.update(known(f"{module}.{alias.name}") for alias in node.names)
            elif isinstance(node, ast.Import):
                targets.update(known(alias.name) for alias in node.names
                               if alias.name == root or alias.name.startswith(root + "."))
        mine = {".".join(name.split(".")[:n]) for n in range(1, name.count(".") + 2)}
        for target in list(targets):
            parts = target.split(".")
            targets.update(parent for n in range(1, len(parts))
                           if (parent := ".".join(parts[:n])) not in mine)
        targets.discard(name)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One import circle ``[a, b, ..., a]`` per group of modules that import each other
    (each strongly connected component of more than one module, Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(_circle(graph, group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _circle(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A shortest circle through the first module of ``group`` (breadth first)."""
    start = min(group)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node] & group):
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if target not in came_from:
                    came_from[target] = node
                    following.append(target)
        frontier = following
    raise AssertionError(f"no circle in {sorted(group)}")


def test_no_module_imports_itself_round_a_circle():
    circles = [" -> ".join(circle) for circle in cycles(module_graph(PACKAGE))]
    assert circles == []


def test_the_circle_finder_names_a_circle_through_a_function_import_and_a_package(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from .inner import Thing\n")
    (package / "sub" / "inner.py").write_text("from ..top import helper\nThing = 1\n")
    (package / "top.py").write_text("def helper():\n    from pkg.sub.inner import Thing\n    return Thing\n")
    (package / "typed.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                      "    from .top import helper\n")
    (package / "other.py").write_text("from . import typed\n")
    graph = module_graph(package)
    assert graph["pkg.top"] == {"pkg.sub", "pkg.sub.inner"}  # the package sub runs first
    assert graph["pkg.typed"] == set() and graph["pkg.other"] == {"pkg.typed"}
    assert cycles(graph) == [["pkg.sub", "pkg.sub.inner", "pkg.top", "pkg.sub"]]


# -- one name, one module --------------------------------------------------------------------
# Names more than one module still has, each with why. Delete a line when its twins are renamed.
SHARED_NAMES = {
    # the base classes of a package, named for their package (channels.base.Channel,
    # feeds.base.CCXTFeedBase, sources.base.Source...): a convention; each is imported as
    # <package>.base
    "base.py": {"channels", "feeds", "kinds", "sources"},
    # kinds/ is being reworked on the kinds branch (with the sources' kind vocabulary):
    # its trades/books/funding modules get their names there
    "trades.py": {"kinds", "sources"},
    "books.py": {"kinds", "sources"},
    "funding.py": {"feeds", "kinds", "sources"},
}


def shared_module_names(package: Path) -> dict[str, set[str]]:
    """Module file names (``__init__.py`` aside) that more than one module of ``package``
    has, to the folders (relative to ``package``) that have one."""
    folders: dict[str, set[str]] = {}
    for path in package.rglob("*.py"):
        if path.name != "__init__.py":
            folders.setdefault(path.name, set()).add(path.parent.relative_to(package).as_posix())
    return {name: where for name, where in folders.items() if len(where) > 1}


def test_no_two_modules_share_a_name():
    """A traceback, a log line or a doc naming ``table.py`` means one module."""
    assert shared_module_names(PACKAGE) == SHARED_NAMES


def test_the_name_check_sees_twins_in_different_folders(tmp_path):
    for folder in ("a", "b", "b/c"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / folder / "__init__.py").write_text("")
    for module in ("a/table.py", "b/c/table.py", "b/runner.py", "runner2.py"):
        (tmp_path / module).write_text("")
    assert shared_module_names(tmp_path) == {"table.py": {"a", "b/c"}}


# test folders that are not a part of the package: the plan's phase tests, cross-cutting checks,
# the docs' and examples' runs, and the benchmarks
NOT_MIRRORS = {"phase1", "phase4", "integration", "docs", "examples", "benchmarks", "compat"}  # compat: backtrader's samples


def test_test_folders_mirror_the_package():
    """tests/X is about backtrader_channels/X (a package or a module), so a module's tests are
    found by its name."""
    tests = Path(__file__).parents[1]
    parts = {path.stem for path in PACKAGE.iterdir() if path.suffix == ".py" or (path / "__init__.py").exists()}
    folders = {path.name for path in tests.iterdir() if (path / "__init__.py").exists()}
    assert sorted(folders - NOT_MIRRORS - parts) == []
    nested = {path.relative_to(tests).as_posix() for path in tests.glob("*/*/") if (path / "__init__.py").exists()}
    assert all((PACKAGE / folder.split("/")[0]).is_dir() for folder in nested)


def documented_imports() -> dict[str, set[str]]:
    """The 'Who imports whom' block of docs/architecture.md: package -> what it imports."""
    text = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    block = text.split("## Who imports whom", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    arrows = {}
    for line in block.strip().splitlines():
        source, _, targets = line.partition("->")
        arrows[source.strip()] = {name.strip() for name in targets.split(",") if name.strip()}
    return arrows


def package_imports(top: str) -> set[str]:
    """The first-level parts of the package that ``top`` (a package or module) imports at run time."""
    paths = sorted((PACKAGE / top).rglob("*.py")) if (PACKAGE / top).is_dir() else [PACKAGE / f"{top}.py"]
    return set().union(*(imported_modules(path) for path in paths)) - {top}


def test_the_architecture_docs_arrows_are_the_imports_there_are():
    arrows = documented_imports()
    assert len(arrows) >= 10
    assert {top: package_imports(top) for top in arrows} == arrows


def test_every_module_the_architecture_docs_name_exists():
    text = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"\b((?:[a-z_]+/)*[a-z_]+\.py)\b", text))
    roots = (PACKAGE, PACKAGE.parent)
    missing = sorted(name for name in named if not any((root / name).exists() for root in roots)
                     and not list(PACKAGE.rglob(name)))
    assert len(named) > 20 and missing == []
