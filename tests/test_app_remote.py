"""The app drafting against a completion server: the same cards, keys and history as with the
local model, the server and its model recorded with each request, and a failing server a notice
that keeps the draft."""

from __future__ import annotations

from arxiv_tui.store.history import History
from tests.fake_servers import MODEL, StandIn, script
from tests.helpers import RecordingApp, make_app, notices, type_and_wait, wait_for
from tests.serving import serving


async def test_drafting_against_a_server(tiny_model, user_dirs):
    stand_in = StandIn(delay_s=0.01)
    with serving(stand_in.app()) as base:
        app = make_app(tiny_model, api_base=base, n=2, max_new_tokens=6)
        async with app.run_test() as pilot:
            await wait_for(pilot, lambda: app.drafting.status.model == f"{MODEL} @ {base}")
            await type_and_wait(pilot, app, "We propose")
            texts = app.drafting.panel.texts()
            assert texts == ["".join(script(i)[:6]) for i in range(2)]
            assert app.drafting.status.precision == "remote"
            await pilot.press("2")
            assert app.drafting.editor.text == "We propose" + texts[1]
            await pilot.press("ctrl+q")
    assert {"prompt": "We propose", "n": 2}.items() <= next(
        r for r in stand_in.requests if r["prompt"] == "We propose"
    ).items()  # the draft as it is: no template unless the config sets one
    [request] = [r for r in History().requests() if r.choices]
    assert request.model == f"{MODEL} @ {base}" and [a.text for a in request.alternatives] == texts


async def test_the_confidence_view_says_it_needs_a_local_model(tiny_model, user_dirs):
    stand_in = StandIn()
    with serving(stand_in.app()) as base:
        app = make_app(tiny_model, api_base=base, n=1, max_new_tokens=3)
        async with app.run_test() as pilot:
            await type_and_wait(pilot, app, "We")
            await pilot.press("f2")
            await wait_for(pilot, lambda: "needs a local model" in notices(app))


async def test_an_unreachable_server_is_a_notice_and_the_draft_stays(tiny_model, user_dirs):
    import socket

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    app = make_app(tiny_model, api_base=f"http://127.0.0.1:{port}/v1")
    assert isinstance(app, RecordingApp)
    async with app.run_test() as pilot:
        await pilot.press(*"We keep this")
        await wait_for(pilot, lambda: "cannot reach" in notices(app))
        assert app.drafting.editor.text == "We keep this"
        assert app.drafting.status.state == "no model"


def test_the_status_bar_names_a_servers_model_by_its_own_name():
    from arxiv_tui.tui.widgets.status import model_label

    assert model_label("/srv/models/my-model @ http://gpu:8000/v1") == "my-model @ http://gpu:8000/v1"
    assert model_label("Qwen/Qwen2.5-7B @ http://gpu:8000/v1") == "Qwen/Qwen2.5-7B @ http://gpu:8000/v1"
