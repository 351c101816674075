"""Helpers for the app's tests: build an app on a tiny model and wait for what it shows."""

from __future__ import annotations

from arxiv_tui.tui.app import ArxivApp
from arxiv_tui.tui.config import Config


async def wait_for(pilot, condition, timeout: float = 15.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not reached in time")


def make_app(model, **config) -> ArxivApp:
    return ArxivApp(config=Config(model=str(model), debounce_s=0.05, precision="fp32", **config))


def assert_ghost_of(app, text: str) -> None:
    """The editor shows `text` after the cursor as ghost text, as much as fits on the cursor's row."""
    editor = app.drafting.editor
    room = editor.content_region.right - editor.cursor_screen_offset.x
    assert 0 < room and editor.suggestion == text[:room]


async def type_and_wait(pilot, app, text: str) -> None:
    await wait_for(pilot, lambda: app.drafting.engine is not None)
    await pilot.press(*text)
    await wait_for(pilot, lambda: app.drafting.status.state == "idle" and not app.drafting.session.stale and all(app.drafting.panel.texts()))


def written(ref):
    """An id the app got from a history write: the write's Future's value, once done."""
    return ref.result(timeout=10) if hasattr(ref, "result") else ref


def saved_history(app):
    """The app's history once every write the app submitted is done."""
    assert app.keeper.writer.flush(10)
    return app.history


def garbled_history(path) -> None:
    """A history of 300 requests in 12 drafts with one index page garbled: every table still
    reads, and `PRAGMA quick_check` reports the damage."""
    from arxiv_tui.store.bench import fill_history
    from arxiv_tui.store.history import History

    history = History(path)
    fill_history(history, 300)
    root = history._read("SELECT rootpage FROM sqlite_master WHERE name = 'requests_by_draft'")[0][0]
    page_size = history._read("PRAGMA page_size")[0][0]
    assert history.damage() is None
    history.close()
    with open(path, "r+b") as file:
        file.seek((root - 1) * page_size + 100)
        file.write(b"\xff" * 200)
