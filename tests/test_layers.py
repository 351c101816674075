"""The package's layers and the direction of their imports (see README, Development).

Every import is counted, including those inside functions (the lazy imports that keep torch off
the start-up path): a layer may only import the layers listed for it, no module may take part in
an import cycle, and only the `bench` command imports the benchmark package."""

from __future__ import annotations

import ast
import tomllib
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The repository keeps `trainer/` at its top; it installs as `arxiv_tui.trainer` (pyproject.toml).
FOLDERS = {"arxiv_tui": ROOT / "arxiv_tui", "arxiv_tui.trainer": ROOT / "trainer"}
SHARED = {"arxiv_tui.errors", "arxiv_tui.paths", "arxiv_tui.latex", "arxiv_tui.atomic"}
RUNTIME, STORE, TUI, CLI = "arxiv_tui.runtime", "arxiv_tui.store", "arxiv_tui.tui", "arxiv_tui.cli"
TRAINER, BENCH, SERVER = "arxiv_tui.trainer", "arxiv_tui.bench", "arxiv_tui.server"
ALLOWED = {
    SERVER: {SERVER, RUNTIME} | SHARED,
    RUNTIME: {RUNTIME} | SHARED,
    STORE: {STORE} | SHARED,
    TUI: {TUI, RUNTIME, STORE} | SHARED,
    TRAINER: {TRAINER, RUNTIME, STORE} | SHARED,
    CLI: {CLI, TUI, RUNTIME, STORE, TRAINER, SERVER} | SHARED,
    BENCH: {BENCH, TUI, RUNTIME, STORE, TRAINER, SERVER} | SHARED,
}
BENCH_COMMAND = "arxiv_tui.cli.bench"  # the one product module that may import the benchmarks


def _module(path: Path) -> str:
    for package, folder in sorted(FOLDERS.items(), key=lambda item: -len(item[0])):
        if path.is_relative_to(folder):
            parts = path.relative_to(folder).with_suffix("").parts
            return ".".join((package, *parts)).removesuffix(".__init__")
    raise AssertionError(f"{path} is outside the packages")


SOURCES = sorted(p for folder in FOLDERS.values() for p in folder.rglob("*.py"))
MODULES = {_module(path): path for path in SOURCES}


def _layer(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _type_checking_only(tree: ast.AST) -> set[ast.AST]:
    """The import nodes under `if TYPE_CHECKING:`: read by the type checker, never run."""
    return {
        node
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and isinstance(block.test, ast.Name) and block.test.id == "TYPE_CHECKING"
        for statement in block.body
        for node in ast.walk(statement)
    }


def _imports(path: Path, typing: bool = True) -> set[str]:
    """The project modules `path` imports: `from a.b import c` counts as `a.b.c` where that is a
    module, else as `a.b`; relative imports (the trainer's) are resolved against `path`'s package.
    Without `typing`, imports only the type checker reads are left out."""
    package = _module(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    tree = ast.parse(path.read_text())
    skipped = set() if typing else _type_checking_only(tree)
    for node in ast.walk(tree):
        if node in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                name = f"{module}.{alias.name}"
                found.add(name if name in MODULES else module)
    return {name for name in found if name.split(".")[0] == "arxiv_tui"}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_each_layer_imports_only_the_layers_below_it(path):
    module = _module(path)
    allowed = ALLOWED.get(_layer(module))
    if allowed is None:  # arxiv_tui/__init__, __main__ and the shared modules
        assert module in SHARED | {"arxiv_tui", "arxiv_tui.__main__"}, f"{module} belongs to no layer"
        return
    if module == BENCH_COMMAND:
        allowed = allowed | {BENCH}
    wrong = sorted(
        name for name in _imports(path) if not any(name == layer or name.startswith(layer + ".") for layer in allowed)
    )
    assert not wrong, f"{module} may import only {sorted(allowed)}, not {wrong}"


def test_no_product_module_but_the_bench_command_imports_the_benchmarks():
    importers = sorted(
        module
        for module, path in MODULES.items()
        if _layer(module) != BENCH and any(_layer(name) == BENCH for name in _imports(path))
    )
    assert importers == [BENCH_COMMAND]


def test_the_data_side_of_training_imports_nothing_of_the_training_side():
    data = {module: path for module, path in MODULES.items() if module.startswith(f"{TRAINER}.data")}
    wrong = {
        module: sorted(n for n in _imports(p) if n.startswith(f"{TRAINER}.training")) for module, p in data.items()
    }
    assert not {module: names for module, names in wrong.items() if names}


def test_no_import_cycle():
    """No cycle of imports that run (a type-only import, under `if TYPE_CHECKING:`, may close one)."""
    graph = {module: {n for n in _imports(path, typing=False) if n in MODULES} for module, path in MODULES.items()}
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as error:
        pytest.fail(f"import cycle: {' -> '.join(error.args[1])}")


def test_the_shared_options_import_no_command():
    imported = _imports(ROOT / "arxiv_tui" / "cli" / "options.py")
    assert not [name for name in imported if name.startswith("arxiv_tui.cli.") and name != "arxiv_tui.cli.options"]


def test_every_package_is_installed():
    """pyproject.toml lists the packages (the trainer's folder is mapped): a new folder must join."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    packages = {_module(path) for path in SOURCES if path.name == "__init__.py"}
    assert listed == packages


def test_no_module_is_longer_than_400_lines():
    """DESIGN.md's bound ("files under ~400 lines"); 350 before `ruff format`, whose one argument
    a line where a call does not fit makes the same code ~8% longer."""
    for path in SOURCES:
        lines = len(path.read_text().splitlines())
        assert lines <= 400, f"{path.relative_to(ROOT)} has {lines} lines: split it"
