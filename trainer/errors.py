"""The one error type the trainer raises for the command line."""

from arxiv_tui.errors import ReportedError


class TrainerError(ReportedError):
    """Input or settings that cannot be used (exit 2), or the network failing (exit 1)."""
