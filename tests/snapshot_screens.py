"""Snapshots of the main screen and the history screen (pytest-textual-snapshot).

Run by tests/test_snapshots.py in a fresh interpreter: the SVG's ids hash render state that
earlier tests in the same process change. Regenerate after an intended change of looks:
`python -m pytest tests/snapshot_screens.py --snapshot-update`.
"""

from __future__ import annotations

import sqlite3
import time

import pytest

from arxiv_tui.store.history import History
from arxiv_tui.tui.config import Config
from tests.helpers import RecordingApp, notices, wait_for

SIZE = (100, 30)


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    """The history list shows local times: render them in UTC wherever the tests run."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _app() -> RecordingApp:
    # A model that cannot load keeps the screen free of random text and timings.
    return RecordingApp(config=Config(model="/no-such-model"))


async def _settle(pilot) -> None:
    app = pilot.app
    # The load fails in the engine's process, however long a loaded machine takes to start it: wait
    # for its notice, then clear it (a notice still to come would show in the picture). `notify`
    # only posts the notice: wait for its toast on the screen, or a busy machine clears the
    # notices before this one has joined them and it shows up after all.
    await wait_for(pilot, lambda: "could not be loaded" in notices(app), timeout=120)
    await wait_for(pilot, lambda: bool(app.screen.query("Toast")))
    app.clear_notifications()
    await wait_for(pilot, lambda: not app.screen.query("Toast"))
    app.drafting.editor.cursor_blink = False  # else the cursor's blink phase decides the picture
    await pilot.pause(0.1)
    # With blink off, TextArea's line cache key ignores whether the cursor is drawn, so a line
    # cached before focus could be reused without it: clear the cache, then draw.
    app.drafting.editor.notify_style_update()
    app.drafting.editor.refresh()
    await pilot.pause(0.1)


def _fixed_history() -> None:
    history = History()
    for text in ("We study sparse attention for long documents.", "Graph neural networks fail on heterophily."):
        history.new_draft(text)
    history.close()
    db = sqlite3.connect(history.path)  # fixed timestamps, so the list renders the same every day
    with db:
        db.execute("UPDATE drafts SET updated_at = 1700000000 + id * 60")
    db.close()


def test_main_screen(snap_compare):
    _fixed_history()

    async def run_before(pilot) -> None:
        await _settle(pilot)

    assert snap_compare(_app(), terminal_size=SIZE, run_before=run_before)


def test_history_screen(snap_compare):
    _fixed_history()

    async def run_before(pilot) -> None:
        await _settle(pilot)
        await pilot.press("ctrl+o")
        # The list is read in a worker thread: wait for both drafts and the preview of the first.
        await wait_for(
            pilot,
            lambda: (
                pilot.app.screen.query("#history-list")
                and pilot.app.screen.query_one("#history-list").option_count == 2
                and str(pilot.app.screen.query_one("#history-preview").content)
            ),
        )
        await pilot.pause(0.2)

    assert snap_compare(_app(), terminal_size=SIZE, run_before=run_before)
