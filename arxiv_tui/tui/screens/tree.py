"""The tree of choices of one draft: every request, its alternatives, which were accepted, and
what followed each acceptance. Enter jumps to a request (or one of its alternatives)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Static, Tree
from textual.widgets.tree import TreeNode

from arxiv_tui.store.history import History
from arxiv_tui.store.records import Node

_KIND_MARKS = {"whole": "✓", "sentence": "✓ sentence", "word": "✓ word"}


def _tail(text: str, width: int = 50) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else "…" + flat[-(width - 1) :]


def _head(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


class TreeScreen(ModalScreen[tuple[int, int] | None]):
    """Returns (request id, alternative index) to jump to, or None."""

    BINDINGS = [Binding("escape", "close", "Close")]

    def __init__(self, history: History, read: Callable[..., Awaitable[Any]], draft_id: int | None) -> None:
        super().__init__()
        self.history = history
        self.read = read  # runs a History method in a worker thread
        self.draft_id = draft_id

    def compose(self) -> ComposeResult:
        yield Static(
            "Tree of choices: Enter jumps to a request (its text and alternatives), Esc closes", id="tree-help"
        )
        yield Tree(f"draft {self.draft_id}", id="choices-tree")

    async def on_mount(self) -> None:
        tree = self.query_one("#choices-tree", Tree)
        tree.show_root = False
        roots = await self.read(self.history.tree, self.draft_id) if self.draft_id is not None else []
        for root in roots:
            self._add_node(tree.root, root)
        if not roots:
            tree.root.add_leaf("no alternatives have been shown for this draft yet")
        tree.root.expand_all()
        tree.focus()

    def _add_node(self, parent: TreeNode, node: Node) -> None:
        request = node.request
        label = Text.assemble(
            ("… " if request.prompt else "", "dim"),
            _tail(request.prompt) or "(empty draft)",
            (f"  #{request.id}", "dim"),
        )
        shown = parent.add(label, data=(request.id, 0))
        for branch in node.branches:
            alternative = branch.alternative
            marks = " ".join(_KIND_MARKS[c.kind] for c in branch.accepted)
            label = Text.assemble(
                (f"{alternative.index + 1} ", "bold"),
                _head(alternative.text) or "(empty)",
                (f"  {marks}" if marks else "", "green"),
            )
            data = (request.id, alternative.index)
            if branch.children:
                child = shown.add(label, data=data)
                for follower in branch.children:
                    self._add_node(child, follower)
            else:
                shown.add_leaf(label, data=data)

    def on_tree_node_selected(self, event: Tree.NodeSelected) -> None:
        if event.node.data is not None:
            self.dismiss(event.node.data)

    def action_close(self) -> None:
        self.dismiss(None)

    DEFAULT_CSS = """
    TreeScreen { background: $background 60%; }
    #tree-help { margin: 1 2 0 2; color: $text-muted; }
    #choices-tree { margin: 0 2 1 2; height: 1fr; border: round $panel-lighten-2; background: $surface; }
    """
