"""The default keys: what each does, by binding id (any id can be remapped in the config's
[keymap]). Each arrives intact from common terminals (xterm, GNOME Terminal, iTerm2, Windows
Terminal, tmux, screen, VS Code): Ctrl+H arrives as Backspace, so History is Ctrl+O; Alt+]
arrives as ESC + "]" and needs `terminal_keys`, with Alt+Down as its fallback."""

from __future__ import annotations

from textual.binding import Binding

MAX_ALTERNATIVES = 9

# The drafting screen's. Priority: they must beat the editor's own keys.
DRAFTING_KEYS = [
    Binding("tab", "accept", "Accept", id="accept", priority=True),
    *[
        Binding(
            str(i),
            f"accept_index({i - 1})",
            "Pick 1‥N" if i == 1 else "",
            id=f"accept_{i}",
            show=i == 1,
            key_display="1‥N",
            priority=True,
        )
        for i in range(1, MAX_ALTERNATIVES + 1)
    ],
    Binding("alt+right_square_bracket,alt+down", "cycle(1)", "Next", id="next", priority=True),
    Binding("alt+left_square_bracket,alt+up", "cycle(-1)", "Previous", id="previous", show=False, priority=True),
    Binding("ctrl+right", "accept_word", "Word", id="accept_word", priority=True),
    Binding("ctrl+down", "accept_sentence", "Sentence", id="accept_sentence", priority=True),
    Binding("ctrl+z", "undo", "Undo", id="undo", show=False, priority=True),
    Binding("escape", "dismiss_alternatives", "Cancel", id="cancel"),
    Binding("ctrl+r", "regenerate", "Regenerate", id="regenerate"),
    Binding("f2", "confidence", "Confidence", id="confidence"),
]

# The app's, on every screen.
APP_KEYS = [
    Binding("ctrl+t", "tree", "Tree", id="tree"),
    Binding("ctrl+o", "history", "History", id="history"),
    Binding("ctrl+s", "save", "Save", id="save_as", show=False),  # into the paper, or to a file
    Binding("f4", "copy_draft", "Copy", id="copy_draft", show=False),
    Binding("f3", "settings", "Settings", id="settings"),
    Binding("f1,ctrl+g", "help", "Help", id="help"),
    Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
]
