"""The drafting app, driven with Textual's Pilot on tiny real models."""

from __future__ import annotations

import subprocess
import sys

import pytest

from arxiv_tui.store.history import History
from arxiv_tui.tui.app import ArxivApp
from arxiv_tui.tui.config import Config, load_config
from tests.helpers import (
    assert_ghost_of,
    make_app,
    notices,
    saved_history,
    type_and_wait,
    wait_for,
)


async def test_type_stream_pick_and_everything_is_stored(trained_model):
    app = make_app(trained_model, n=3, max_new_tokens=12)
    async with app.run_test() as pilot:
        await type_and_wait(pilot, app, "We propose")
        texts = app.drafting.panel.texts()
        assert len(texts) == 3 and all(texts)
        assert_ghost_of(app, texts[0])
        await pilot.press("2")
        assert app.drafting.editor.text == "We propose" + texts[1]
        await pilot.press("ctrl+q")
    history = History()
    assert history.drafts(limit=1)[0].text == "We propose" + texts[1]
    [request] = [r for r in history.requests() if r.choices]
    assert request.prompt == "We propose"
    assert [a.text for a in request.alternatives] == texts
    assert [(c.index, c.accepted, c.kind) for c in request.choices] == [(1, texts[1], "whole")]


async def test_cycle_and_tab_accept_the_highlighted(trained_model):
    app = make_app(trained_model, n=3, max_new_tokens=8)
    async with app.run_test() as pilot:
        await type_and_wait(pilot, app, "We")
        texts = app.drafting.panel.texts()
        await pilot.press("alt+right_square_bracket", "alt+right_square_bracket", "alt+left_square_bracket")
        assert app.drafting.panel.highlighted == 1
        assert_ghost_of(app, texts[1])
        await pilot.press("tab")
        assert app.drafting.editor.text == "We" + texts[1]


async def test_digits_type_when_no_alternative_shows(trained_model):
    app = ArxivApp(config=Config(model=str(trained_model), debounce_s=30))  # no pause, no cards
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.drafting.engine is not None)
        await pilot.press(*"in 2019")
        assert app.drafting.editor.text == "in 2019"
        await pilot.press("tab")  # on demand: alternatives now show, and digits pick
        await wait_for(pilot, lambda: app.drafting.status.state == "idle" and all(app.drafting.panel.texts()))
        await pilot.press("3")
        assert app.drafting.editor.text == "in 2019" + saved_history(app).requests()[0].choices[0].accepted
        await pilot.press("escape", "7")  # Esc hides them: digits type again
        assert app.drafting.editor.text.endswith("7")


async def test_accept_word_then_sentence_keeps_the_rest(trained_model):
    app = make_app(trained_model, n=1, max_new_tokens=40)
    async with app.run_test() as pilot:
        await type_and_wait(pilot, app, "We propose")
        full = app.drafting.panel.texts()[0]
        requests_before = app.drafting.session.request_id
        await pilot.press("ctrl+right")
        word = full[: len(full) - len(app.drafting.panel.texts()[0])]
        assert word.strip() and " " not in word.strip() and full.startswith(word)
        assert app.drafting.editor.text == "We propose" + word
        await pilot.press("ctrl+down")
        # A partial accept is an edit of the app's own: no request waits to start after it.
        await app.workers.wait_for_complete([w for w in app.workers if w.group == "debounce"])
        assert app.drafting.session.request_id == requests_before  # no new request for partial accepts
        accepted = app.drafting.editor.text[len("We propose") :]
        assert full.startswith(accepted) and len(accepted) > len(word)
        assert accepted.rstrip().endswith((".", "!", "?")) or accepted == full
    choices = [c for r in History().requests() for c in r.choices]
    assert [c.kind for c in choices] == ["word", "sentence"]


async def test_escape_cancels_mid_stream(endless_model):
    # No end token and a long way to go: only Esc can end these alternatives early.
    app = make_app(endless_model, n=3, max_new_tokens=1000)
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.drafting.engine is not None)
        await pilot.press("W")
        # A tiny model's Python-bound loop can starve the UI thread, so don't wait for text.
        await wait_for(pilot, lambda: app.drafting.status.state == "generating")
        await pilot.press("escape")
        # The cards' ends come with the request's last event: nothing of it can arrive after.
        await wait_for(pilot, lambda: all(card.finish_reason for card in app.drafting.panel.cards))
        assert {card.finish_reason for card in app.drafting.panel.cards} == {"cancelled"}
        assert app.drafting.editor.suggestion == ""
        await pilot.press("1")
        assert app.drafting.editor.text == "W1"  # cancelled alternatives are not picked


async def test_restart_restores_the_draft(trained_model):
    app = make_app(trained_model)
    async with app.run_test() as pilot:
        await pilot.press(*"Deep nets")
        await wait_for(pilot, lambda: app.history.draft(app.keeper.draft_id).text == "Deep nets")  # autosaved
    assert History().drafts(limit=1)[0].text == "Deep nets"
    app = make_app(trained_model)
    async with app.run_test() as pilot:
        assert app.drafting.editor.text == "Deep nets"
        assert app.drafting.editor.cursor_location == app.drafting.editor.document.end


async def test_a_corrupt_history_is_kept_and_reported(trained_model, user_dirs):
    path = user_dirs / "data" / "arxiv-tui" / "history.db"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage" * 500)
    app = make_app(trained_model)
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: "kept as" in notices(app))
    assert list(path.parent.glob("history.db.corrupt-*"))


async def open_settings(pilot) -> None:
    from arxiv_tui.tui.screens.settings import SettingsScreen

    await pilot.press("f3")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, SettingsScreen))


async def test_settings_are_saved_and_used(trained_model):
    app = make_app(trained_model)
    async with app.run_test() as pilot:
        await open_settings(pilot)
        app.screen.query_one("#set-n").value = "2"
        app.screen.query_one("#set-temperature").value = "0.5"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.config.n == 2)
    saved, warnings = load_config()
    assert (saved.n, saved.temperature, warnings) == (2, 0.5, [])


async def test_invalid_settings_are_refused_in_the_dialog(trained_model):
    app = make_app(trained_model)
    async with app.run_test() as pilot:
        await open_settings(pilot)
        app.screen.query_one("#set-top_p").value = "3"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "top_p" in str(app.screen.query_one("#settings-error").render()))
        await pilot.press("escape")
        assert app.config.top_p == 0.9


async def test_history_screen_restores_a_draft(trained_model):
    history = History()
    old = history.new_draft("An older abstract about robots")
    history.new_draft("A newer one")
    history.close()  # gives back its leases: the app opens the newer, unowned draft
    app = make_app(trained_model)
    async with app.run_test() as pilot:
        assert app.drafting.editor.text == "A newer one"
        await pilot.press("ctrl+o", *"robots")
        await wait_for(
            pilot, lambda: app.screen.query("#history-list") and app.screen.query_one("#history-list").option_count == 1
        )
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.drafting.editor.text == "An older abstract about robots")
        assert app.keeper.draft_id == old


async def test_a_model_that_fails_to_load_is_a_notice(tmp_path):
    app = make_app(tmp_path / "missing")
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.drafting.status.state == "no model")
        await pilot.press(*"still typing")
        assert app.drafting.editor.text == "still typing"
        assert "could not be loaded" in notices(app)
        (tmp_path / "missing").mkdir()  # the user fixes the path, then Ctrl+R tries again
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: sum("could not be loaded" in notice for notice in app.notices) == 2)
        assert "has no config.json" in notices(app)


def test_importing_the_app_leaves_torch_out():
    code = (
        "import sys, arxiv_tui.tui.app, arxiv_tui.cli.main; "
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    "content, expected_warning", [("n = 'three'", "n should be"), ("top_p = 7", "top_p"), ("[[", "not read")]
)
def test_bad_config_files_fall_back_to_defaults(user_dirs, content, expected_warning):
    from arxiv_tui.tui.config import config_path

    config_path().parent.mkdir(parents=True)
    config_path().write_text(content)
    config, warnings = load_config()
    assert config == Config()
    assert any(expected_warning in w for w in warnings)


async def test_the_model_field_completes_registered_fine_tuned_models(trained_model):
    from arxiv_tui.runtime.registry import register_model

    register_model("my-tuned", trained_model)
    app = make_app(trained_model)
    async with app.run_test() as pilot:
        await open_settings(pilot)
        field = app.screen.query_one("#set-model")
        field.value = ""
        field.focus()
        await pilot.press("m", "y")
        for _ in range(100):  # Right accepts the completion, once it is offered (a worker finds it)
            await pilot.press("right")
            if field.value != "my":
                break
        assert field.value == "my-tuned"


def test_the_status_bar_names_a_local_model_by_its_folder():
    from arxiv_tui.tui.widgets.status import model_label

    assert model_label("/tmp/pytest-of-root/pytest-9/popen-gw0/tiny-trained0") == "tiny-trained0"
    assert model_label("./models/mine") == "mine"
    assert model_label("Arcoson/distilgpt2-arxiv-csai") == "Arcoson/distilgpt2-arxiv-csai"  # a Hub id
    assert model_label("my-tuned") == "my-tuned"  # a registered name
