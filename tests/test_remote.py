"""Drafting against a completion server: the streams of vLLM-like, n-ignoring and Ollama servers
routed to their alternatives, cancelling and ending early closing the connection, and every
failure one line."""

from __future__ import annotations

import json
import threading

import pytest

from arxiv_tui.runtime.remote import openai_server
from arxiv_tui.runtime.remote.errors import RemoteError
from arxiv_tui.runtime.remote.run import RemoteRun
from arxiv_tui.runtime.remote.servers import open_server
from arxiv_tui.runtime.settings import (
    FINISH_CANCELLED,
    FINISH_EOS,
    FINISH_LENGTH,
    FINISH_STOP,
    GenerationSettings,
)
from tests.fake_servers import MODEL, StandIn, script
from tests.helpers import assert_one_line_error, run_cli
from tests.serving import serving


@pytest.fixture
def stand_in():
    fake = StandIn()
    with serving(fake.app()) as base:
        fake.base = base
        yield fake


def run_to_end(server, n=3, cancel=None, **settings) -> tuple[RemoteRun, list[str]]:
    run = RemoteRun(server, "We propose", GenerationSettings(n=n, **settings), cancel or threading.Event())
    streamed = [""] * n
    for deltas in run:
        for delta in deltas:
            streamed[delta.index] += delta.text
    return run, streamed


def test_interleaved_choices_reach_their_alternatives(stand_in):
    server = open_server(stand_in.base, None)
    assert server.model == MODEL  # the first the server lists
    run, streamed = run_to_end(server, max_new_tokens=40)
    assert streamed == ["".join(script(i)) for i in range(3)]
    assert [a.text for a in run.alternatives] == streamed
    assert {a.finish_reason for a in run.alternatives} == {FINISH_EOS}
    assert [r["n"] for r in stand_in.requests] == [3] and stand_in.requests[0]["stream"] is True
    _, _ = run_to_end(server, max_new_tokens=2)
    assert stand_in.requests[-1]["max_tokens"] == 2


def test_the_token_limit_maps_to_length(stand_in):
    run, streamed = run_to_end(open_server(stand_in.base, None), n=1, max_new_tokens=2)
    assert streamed == ["".join(script(0)[:2])] and run.alternatives[0].finish_reason == FINISH_LENGTH


def test_a_server_that_ignores_n_gets_one_request_per_alternative(stand_in):
    stand_in.honours_n = False
    server = open_server(stand_in.base, None)
    run, streamed = run_to_end(server, seed=7, max_new_tokens=40)
    assert all(streamed) and all(a.finish_reason == FINISH_EOS for a in run.alternatives)
    assert [r["n"] for r in stand_in.requests] == [3, 1, 1]  # it noticed, and asked for the rest
    run_to_end(server, seed=7, max_new_tokens=40)
    assert [r["n"] for r in stand_in.requests[3:]] == [1, 1, 1]  # and remembers
    assert sorted(r["seed"] for r in stand_in.requests[3:]) == [7, 8, 9]  # distinct streams


def test_ollama_native_streams_raw_ndjson_one_request_per_alternative():
    ollama = StandIn(ollama=True)
    with serving(ollama.app()) as base:
        for named in (f"ollama:{base.removesuffix('/v1')}", base):  # named, or detected behind its /v1
            ollama.requests.clear()
            server = open_server(named, None)
            assert server.model == "llama3.2:1b"
            _, streamed = run_to_end(server, seed=1, max_new_tokens=30, sampling=_sampling(top_k=40))
            assert sorted(streamed) == sorted("".join(script(i)) for i in range(3))
            assert all(r["raw"] is True and r["stream"] is True for r in ollama.requests)
            assert {r["options"]["num_predict"] for r in ollama.requests} == {30}
            assert {r["options"]["top_k"] for r in ollama.requests} == {40}
            assert sorted(r["options"]["seed"] for r in ollama.requests) == [1, 2, 3]


def _sampling(**values):
    from arxiv_tui.runtime.settings import SamplingParams

    return SamplingParams(**values)


def test_a_sentence_end_ends_the_alternatives_and_closes_the_stream(stand_in):
    stand_in.delay_s = 0.02
    run, streamed = run_to_end(open_server(stand_in.base, None), stop_at_sentence_end=True, max_new_tokens=40)
    assert streamed == ["".join(script(i)[:4]) for i in range(3)]  # "... finds a bound."
    assert {a.finish_reason for a in run.alternatives} == {FINISH_STOP}
    _wait_for(lambda: stand_in.dropped == 1)  # the server saw its client go: it stops generating


def test_cancel_closes_the_connection(stand_in):
    stand_in.delay_s = 0.05
    cancel = threading.Event()
    run = RemoteRun(open_server(stand_in.base, None), "We", GenerationSettings(n=2, max_new_tokens=40), cancel)
    for deltas in run:
        if any(d.text for d in deltas):
            cancel.set()
    assert {a.finish_reason for a in run.alternatives} == {FINISH_CANCELLED}
    _wait_for(lambda: stand_in.dropped == 1)


def _wait_for(condition, timeout: float = 10) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)


@pytest.mark.parametrize(
    ("status", "says", "code"),
    [
        (401, "refused the API key (401)", 2),
        (403, "does not let this key use", 2),
        (404, "has no model 'lab/big-model' or no text-completion API (404): no such model", 2),
        (429, "is rate-limiting requests (429)", 1),
        (500, "failed (500): the GPU fell over", 1),
    ],
)
def test_a_status_is_one_line(stand_in, status, says, code):
    stand_in.status = status
    with pytest.raises(RemoteError) as raised:
        run_to_end(open_server(stand_in.base, MODEL))
    assert says in str(raised.value) and "\n" not in str(raised.value)
    assert raised.value.exit_code == code


def test_a_stream_cut_midway_is_one_line(stand_in):
    stand_in.cut_after = 4
    with pytest.raises(RemoteError, match="was cut off"):
        run_to_end(open_server(stand_in.base, None))


def test_a_server_that_never_answers_times_out(stand_in, monkeypatch):
    monkeypatch.setattr(openai_server, "READ_S", 0.5)
    stand_in.hang_s = 3
    with pytest.raises(RemoteError, match="did not answer in time"):
        run_to_end(open_server(stand_in.base, MODEL))


def test_an_unreachable_host_and_tls_are_one_line(stand_in):
    import socket

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(RemoteError, match=f"cannot reach http://127.0.0.1:{port}/v1"):
        open_server(f"http://127.0.0.1:{port}/v1", None)
    with pytest.raises(RemoteError, match="TLS with https://"):
        open_server(stand_in.base.replace("http://", "https://"), None)


def test_the_key_comes_from_the_environment(stand_in, monkeypatch):
    monkeypatch.setenv("ARXIV_TUI_API_KEY", "sk-lab")
    run_to_end(open_server(stand_in.base, None), n=1)
    assert stand_in.headers[-1]["authorization"] == "Bearer sk-lab"
    monkeypatch.delenv("ARXIV_TUI_API_KEY")
    monkeypatch.setenv("MY_KEY", "sk-other")
    run_to_end(open_server(stand_in.base, None, key_env="MY_KEY"), n=1)
    assert stand_in.headers[-1]["authorization"] == "Bearer sk-other"


def test_generate_against_a_server(capsys, stand_in, user_dirs):
    code, out, err = run_cli(capsys, "generate", "--api-base", stand_in.base, "-n", "2", "--json", "We propose")
    assert code == 0, err
    result = json.loads(out)
    assert result["model"] == MODEL and result["settings"]["server"] == stand_in.base
    assert [a["text"] for a in result["alternatives"]] == ["".join(script(i)) for i in range(2)]
    assert stand_in.requests[-1]["prompt"] == "We propose"  # no template: the config sets none


def test_generate_against_a_failing_server_is_one_line(capsys, stand_in, user_dirs):
    stand_in.status = 401
    code, _, err = run_cli(capsys, "generate", "--api-base", stand_in.base, "We")
    assert_one_line_error(code, err, 2, "refused the API key")


def test_bench_against_a_server(capsys, stand_in, user_dirs):
    code, out, err = run_cli(capsys, "bench", "--api-base", stand_in.base, "-n", "2", "--runs", "2", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["model"] == MODEL and report["median_s"] > 0 and 0 < report["ttft_s"] <= report["median_s"]
    assert [r["n"] for r in stand_in.requests] == [2, 2, 2]  # a warm-up, then the timed runs


def test_the_confidence_view_against_ollama_says_it_needs_a_local_model():
    import queue

    from arxiv_tui.runtime.protocol import Loaded, RequestFailed
    from arxiv_tui.runtime.remote.client import NO_SCORES, RemoteClient

    ollama = StandIn(ollama=True)
    with serving(ollama.app()) as base:
        events: queue.Queue = queue.Queue()
        client = RemoteClient(f"ollama:{base.removesuffix('/v1')}", None, None, "", events.put)
        assert isinstance(events.get(timeout=30), Loaded)
        client.score("We propose a method.")
        assert events.get(timeout=30) == RequestFailed(NO_SCORES)
        client.close()
