"""The writer's text in the app is never lost: two windows on one history, an unwritable data
directory, a disk that fills up mid-session, and a draft changed behind the app's back."""

from __future__ import annotations

import pytest

from arxiv_tui.cli.main import main
from arxiv_tui.store.history import History
from tests.helpers import (
    fill_disk,
    garbled_history,
    no_model_app,
    notices,
    saved_history,
    wait_for,
)


async def test_two_windows_typing_alternately_keep_both_texts(tmp_path):
    alpha, beta = no_model_app(tmp_path), no_model_app(tmp_path)
    async with alpha.run_test() as a, beta.run_test() as b:
        await wait_for(a, lambda: alpha.keeper.draft_id is not None and beta.keeper.draft_id is not None)
        assert alpha.keeper.draft_id != beta.keeper.draft_id  # the second window opened a draft of its own
        for word in ("one ", "two ", "three "):
            await a.press(*f"alpha {word}")
            await b.press(*f"beta {word}")
            await wait_for(
                a,
                lambda: all(
                    app.history.draft(app.keeper.draft_id).text == app.drafting.editor.text for app in (alpha, beta)
                ),
            )  # each autosaved
        saved_history(alpha)
        saved_history(beta)
    texts = sorted(d.text for d in History().drafts())
    assert texts == ["alpha one alpha two alpha three ", "beta one beta two beta three "]


async def test_a_draft_open_in_another_window_opens_as_a_copy(tmp_path):
    alpha, beta = no_model_app(tmp_path), no_model_app(tmp_path)
    async with alpha.run_test() as a:
        await wait_for(a, lambda: alpha.keeper.draft_id is not None)
        await a.press(*"held by alpha")
        saved_history(alpha.keeper.save(alpha.drafting.editor.text) or alpha)
        async with beta.run_test() as b:
            await wait_for(b, lambda: beta.keeper.draft_id is not None)
            await beta.open_from_history(("draft", str(alpha.keeper.draft_id)))
            assert beta.drafting.editor.text == "held by alpha" and beta.keeper.draft_id != alpha.keeper.draft_id
            await wait_for(b, lambda: "another window" in notices(beta))


async def test_an_unwritable_data_directory_starts_in_memory_and_saves_to_a_file(tmp_path, monkeypatch, user_dirs):
    (user_dirs / "blocked").write_text("a file where the data folder should be")
    monkeypatch.setenv("XDG_DATA_HOME", str(user_dirs / "blocked" / "data"))
    monkeypatch.setenv("HOME", str(user_dirs / "home"))
    app = no_model_app(tmp_path)
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.keeper.draft_id is not None)
        assert "can't be saved" in notices(app) and "Not a directory" in notices(app)
        await pilot.press(*"We propose")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen.id != "_default" and app.screen.query("#save-as-path"))
        field = app.screen.query_one("#save-as-path")
        field.value = str(tmp_path / "missing-folder" / "draft.txt")
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: "No such file or directory" in str(app.screen.query_one("#save-as-error").render())
        )
        field.value = str(tmp_path / "draft.txt")
        await pilot.press("enter")
        await wait_for(pilot, lambda: (tmp_path / "draft.txt").exists())
        assert (tmp_path / "draft.txt").read_text() == "We propose"
        await wait_for(pilot, lambda: len(app.screen_stack) == 1)
        await pilot.press(*" a model")  # typed after the file was saved: rescued at the end
    assert app.rescued_to is not None and app.rescued_to.parent == user_dirs / "home"
    assert app.rescued_to.read_text() == "We propose a model"


async def test_nothing_to_rescue_when_the_file_holds_the_last_text(tmp_path, monkeypatch, user_dirs):
    (user_dirs / "blocked").write_text("")
    monkeypatch.setenv("XDG_DATA_HOME", str(user_dirs / "blocked" / "data"))
    app = no_model_app(tmp_path)
    async with app.run_test() as pilot:
        await pilot.press(*"kept")
        app.keeper.save_as(tmp_path / "kept.txt", app.drafting.editor.text)
    assert app.rescued_to is None and (tmp_path / "kept.txt").read_text() == "kept"


def test_the_history_command_on_an_unwritable_directory_is_one_line(monkeypatch, user_dirs, capsys):
    (user_dirs / "blocked").write_text("")
    monkeypatch.setenv("XDG_DATA_HOME", str(user_dirs / "blocked" / "data"))
    assert main(["history", "list"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("arxiv-tui: error: the history can't be opened:") and err.count("\n") == 1


async def test_a_disk_that_fills_mid_session_keeps_the_text_and_saves_it_later(tmp_path):
    app = no_model_app(tmp_path)
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.keeper.draft_id is not None)
        await pilot.press(*"Saved before")
        history = saved_history(app.keeper.save(app.drafting.editor.text) or app)
        fill_disk(history, full=True)
        app.drafting.editor.insert(" and then a long passage" * 400)
        await wait_for(pilot, lambda: "can't be written" in notices(app))
        assert history.draft(app.keeper.draft_id).text == "Saved before"  # what was saved is still whole
        await pilot.press("ctrl+o")  # reading waits for the writes a second at most, then reads what was saved
        await wait_for(
            pilot, lambda: app.screen.query("#history-list") and app.screen.query_one("#history-list").option_count
        )
        await pilot.press("escape")
        await app.action_new_draft()  # switching drafts waits for the disk: refused, the draft stays
        await wait_for(pilot, lambda: "stays open" in notices(app))
        fill_disk(history, full=False)
        await wait_for(pilot, lambda: "saved again" in notices(app), timeout=20)
        assert history.draft(app.keeper.draft_id).text == app.drafting.editor.text


async def test_a_draft_changed_behind_the_apps_back_keeps_both_texts(tmp_path):
    app = no_model_app(tmp_path)
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.keeper.draft_id is not None)
        draft = app.keeper.draft_id
        other = History()  # another writer, who took the draft over (its lease looked abandoned)
        assert other.save_draft(draft, "their newer text", other.draft(draft).revision).revision == 1
        await pilot.press(*"my text")
        await wait_for(pilot, lambda: app.keeper.draft_id != draft, timeout=5)
        assert "changed in another window" in notices(app)
        history = saved_history(app)
        assert history.draft(draft).text == "their newer text"
        # The save that met the other writer's text kept what was typed by then (on a loaded
        # machine the half-second autosave can come mid-word); the new draft holds all of it.
        recovered = [r.text for r in history.revisions(draft) if r.recovered]
        assert len(recovered) == 1 and recovered[0] and "my text".startswith(recovered[0])
        await wait_for(pilot, lambda: saved_history(app).draft(app.keeper.draft_id).text == "my text", timeout=5)
        await pilot.press(*" goes on")
    assert History().draft(app.keeper.draft_id).text == "my text goes on"


@pytest.mark.parametrize("kind", ["revision", "draft"])
async def test_the_history_screen_lists_and_opens_revisions(tmp_path, kind):
    history = History()
    draft = history.new_draft("first words")
    history.save_draft(draft, "first words, rewritten", 0)
    history.close()
    app = no_model_app(tmp_path)
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.keeper.draft_id == draft)
        await pilot.press("ctrl+o")
        await wait_for(
            pilot, lambda: app.screen.query("#history-list") and app.screen.query_one("#history-list").option_count
        )
        if kind == "revision":
            await pilot.press("f4")  # the highlighted draft's revisions
            await wait_for(
                pilot, lambda: app.screen.query_one("#history-list").get_option_at_index(0).id.startswith("r")
            )
        await pilot.press("enter")
        expected = "first words" if kind == "revision" else "first words, rewritten"
        await wait_for(pilot, lambda: app.drafting.editor.text == expected)
        assert (app.keeper.draft_id != draft) == (kind == "revision")  # a revision opens as a new draft


async def test_a_damaged_history_file_is_reported_and_still_used(tmp_path, user_dirs):
    garbled_history(user_dirs / "data" / "arxiv-tui" / "history.db")
    app = no_model_app(tmp_path)
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: "is damaged" in notices(app))
        assert app.keeper.draft_id is not None and app.drafting.editor.text  # the latest draft opened as usual


async def test_search_hits_keep_the_texts_own_brackets_and_up_down_move_through_them(tmp_path):
    history = History()
    for text in ("We cite [12] for graphs.", "Graphs again, with [Smith 2020]."):
        history.new_draft(text)
    history.close()
    app = no_model_app(tmp_path)
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.keeper.draft_id is not None)
        await pilot.press("ctrl+o", *"graphs")
        options = app.screen.query_one("#history-list")
        await wait_for(pilot, lambda: options.option_count == 2 and options.highlighted == 0)
        labels = [str(options.get_option_at_index(i).prompt) for i in range(2)]
        assert any("[12]" in label for label in labels) and any("[Smith 2020]" in label for label in labels)
        await pilot.press("down")  # the search field keeps the focus
        assert options.highlighted == 1 and app.screen.focused.id == "history-search"
