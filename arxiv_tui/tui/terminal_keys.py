"""Alt with punctuation, as terminals send it.

Terminals without the kitty keyboard protocol (xterm, GNOME Terminal, tmux, screen, VS Code)
send Alt+] as ESC followed by "]". Textual's parser turns ESC+letter into alt+letter, but its
rule for that covers only one-character key names, so ESC+] arrives as a plain "]" and types
it. `install()` gives the Linux driver a parser that applies Alt to every single character that
follows a lone ESC, so Copilot's Alt+] / Alt+[ reach their bindings.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual import events
from textual._xterm_parser import XTermParser


class AltAwareParser(XTermParser):
    """Textual's input parser, with ESC + punctuation read as Alt + that key."""

    def _sequence_to_key_events(self, sequence: str, alt: bool = False) -> Iterable[events.Key]:
        for event in super()._sequence_to_key_events(sequence, alt):
            if alt and len(sequence) == 1 and not event.key.startswith("alt+"):
                event = events.Key(f"alt+{event.key}", event.character)
            yield event


def install() -> None:
    """Make the Linux driver parse input with `AltAwareParser` (idempotent)."""
    from textual.drivers import linux_driver

    linux_driver.XTermParser = AltAwareParser  # type: ignore[misc]  # the driver builds its parser from this name
