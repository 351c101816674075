"""Text as the screens show it in a line or a question."""

from __future__ import annotations


def one_line(text: str, width: int = 60) -> str:
    """`text` with its whitespace collapsed, cut to `width` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
