"""Every default key, as the bytes a terminal sends, through the input parser the app's driver uses.

Pilot's `press()` builds key events by name and skips the terminal's encoding (where Ctrl+H is
Backspace and Alt+] is ESC + "]"), so these tests start from bytes.
"""

from __future__ import annotations

import io
import time

import pytest
from rich.console import Console
from textual import constants, events
from textual.drivers import linux_driver

from arxiv_tui.bench.terminal import key_bytes
from arxiv_tui.tui import terminal_keys
from arxiv_tui.tui.app import ArxivApp
from arxiv_tui.tui.screens.draft import DraftScreen
from tests.helpers import make_app, type_and_wait, wait_for


def parse(data: bytes) -> list[events.Key]:
    """Key events the Linux driver's parser makes of `data`, after the escape delay has passed."""
    terminal_keys.install()
    parser = linux_driver.XTermParser()
    parsed = list(parser.feed(data.decode()))
    time.sleep(constants.ESCAPE_DELAY * 1.5)  # a lone ESC is only known as one after this
    parsed += list(parser.tick())
    return [event for event in parsed if isinstance(event, events.Key)]


BINDINGS = DraftScreen.BINDINGS + ArxivApp.BINDINGS  # the drafting screen's keys, then the app's
DEFAULT_KEYS = sorted({key for binding in BINDINGS for key in binding.key.split(",")})


@pytest.mark.parametrize("key", DEFAULT_KEYS)
def test_each_default_key_arrives_from_its_bytes(key):
    assert [event.key for event in parse(key_bytes(key))] == [key]


def test_ctrl_h_is_backspace_in_a_terminal_so_no_binding_uses_it():
    assert [event.key for event in parse(b"\x08")] == ["backspace"]
    assert "ctrl+h" not in DEFAULT_KEYS


async def test_each_default_key_reaches_its_action(trained_model):
    app = make_app(trained_model, n=9, max_new_tokens=8)
    async with app.run_test() as pilot:
        await type_and_wait(pilot, app, "We")  # nine alternatives show: every key is usable
        active = app.screen.active_bindings
        for binding in BINDINGS:
            for key in binding.key.split(","):
                [event] = parse(key_bytes(key))
                assert active[event.key].binding.action == binding.action, key


async def test_alt_bracket_bytes_cycle_and_never_type(trained_model):
    app = make_app(trained_model, n=3, max_new_tokens=8)
    async with app.run_test() as pilot:
        await type_and_wait(pilot, app, "We")
        for event in parse(b"\x1b]") + parse(b"\x1b]") + parse(b"\x1b["):
            app.post_message(event)  # what the driver's input thread does with a parsed key
        await wait_for(pilot, lambda: app.drafting.panel.highlighted == 1)
        assert app.drafting.editor.text == "We"
        await pilot.press("escape")  # nothing to cycle now: the chord still types nothing
        for event in parse(b"\x1b]") + parse(b"x"):
            app.post_message(event)
        # Keys are handled in order: once the "x" shows, the chord before it has been handled.
        await wait_for(pilot, lambda: app.drafting.editor.text != "We")
        assert app.drafting.editor.text == "Wex"


async def test_help_lists_the_apps_keys_before_the_editors(trained_model):
    app = make_app(trained_model, keymap={"history": "f4"})
    async with app.run_test() as pilot:
        for event in parse(key_bytes("ctrl+g")):
            app.post_message(event)
        await wait_for(pilot, lambda: hasattr(app.screen, "table"))
        console = Console(width=100, file=io.StringIO(), record=True)
        console.print(app.screen.table)
        text = console.export_text()
        order = [
            text.index(word) for word in ("Accept", "Pick", "Next", "Word", "Sentence", "Undo", "History", "Editor")
        ]
        assert order == sorted(order)
        assert "f4" in text.split("History")[0].splitlines()[-1].lower()  # as remapped
