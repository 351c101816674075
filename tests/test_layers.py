"""The package's layers and the direction of their imports (see README, Development).

Every import is counted, including those inside functions (the lazy imports that keep torch off
the start-up path): a layer may only import the layers listed for it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = {"arxiv_tui.errors", "arxiv_tui.paths"}
ALLOWED = {
    "arxiv_tui.runtime": {"arxiv_tui.runtime"} | SHARED,
    "arxiv_tui.store": {"arxiv_tui.store"} | SHARED,
    "arxiv_tui.tui": {"arxiv_tui.tui", "arxiv_tui.runtime", "arxiv_tui.store"} | SHARED,
    "arxiv_tui.cli": {"arxiv_tui.cli", "arxiv_tui.tui", "arxiv_tui.runtime", "arxiv_tui.store", "trainer"} | SHARED,
    "trainer": {"trainer", "arxiv_tui.runtime", "arxiv_tui.store"} | SHARED,
}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[0] if parts[0] == "trainer" else ".".join(parts[:2])


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.split(".")[0] in ("arxiv_tui", "trainer")}


SOURCES = sorted(p for package in ("arxiv_tui", "trainer") for p in (ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_each_layer_imports_only_the_layers_below_it(path):
    module = _module(path)
    allowed = ALLOWED.get(_layer(module))
    if allowed is None:  # arxiv_tui/__init__, __main__, errors, paths
        assert module in SHARED | {"arxiv_tui", "arxiv_tui.__main__"}, f"{module} belongs to no layer"
        return
    wrong = sorted(name for name in _imports(path)
                   if not any(name == layer or name.startswith(layer + ".") for layer in allowed))
    assert not wrong, f"{module} may import only {sorted(allowed)}, not {wrong}"


def test_the_shared_options_import_no_command():
    imported = _imports(ROOT / "arxiv_tui" / "cli" / "options.py")
    assert not [name for name in imported if name.startswith("arxiv_tui.cli.")], imported



def test_no_module_is_longer_than_350_lines():
    for path in SOURCES:
        lines = len(path.read_text().splitlines())
        assert lines <= 350, f"{path.relative_to(ROOT)} has {lines} lines: split it"
