"""The footer: the keys that work now, on one line.

Textual's `Footer` rebuilds one widget per key whenever the bindings change, which costs the UI
thread tens of milliseconds; here the usable keys change with every request (the picking keys
show only while there is something to pick), so this footer is one widget that repaints its
line instead. Each key stays clickable.
"""

from __future__ import annotations

from functools import lru_cache

from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.widget import Widget


class KeyBar(Widget):
    """One line of `key description` pairs for the screen's shown, usable bindings."""

    DEFAULT_CSS = """
    KeyBar {
        height: 1;
        background: $footer-background;
        color: $footer-foreground;
    }
    """

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen) -> None:
        if screen is self.screen:
            self.refresh()

    def render(self) -> Content:
        shown: dict[str, Content] = {}  # one entry per action, in the screen's binding order
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if binding.show and active.enabled and binding.action not in shown:
                shown[binding.action] = self._key(binding, binding.description)
        palette = self.screen.active_bindings.get(self.app.COMMAND_PALETTE_BINDING)
        if self.app.ENABLE_COMMAND_PALETTE and palette is not None:
            shown["command_palette"] = self._key(palette.binding, "palette")
        return Content("  ").join(shown.values())

    def _key(self, binding: Binding, description: str) -> Content:
        """`key description`, which runs the binding's action when clicked (parsed once: the
        footer redraws twice a request, as the picking keys go and come back)."""
        return _key_content(binding.action, self.app.get_key_display(binding), description)


@lru_cache(maxsize=256)
def _key_content(action: str, key: str, description: str) -> Content:
    return Content.from_markup(
        f"[@click=app.{action}][b $footer-key-foreground]$key[/] $description[/]",
        key=key,
        description=description,
    )
