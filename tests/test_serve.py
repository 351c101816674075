"""`arxiv-tui serve` as its users' clients see it: the official `openai` client streaming and not,
`n`, echo with logprobs, a client that leaves mid-stream, bad requests, a key, a full queue."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import httpx2
import openai
import pytest

from arxiv_tui.runtime.checkpoint import load_model
from arxiv_tui.runtime.engine import Engine
from arxiv_tui.runtime.settings import FINISH_CANCELLED
from arxiv_tui.server.app import CompletionsApi
from arxiv_tui.server.worker import BatchWorker, EngineWorker, engine_worker
from tests.helpers import assert_one_line_error, run_cli
from tests.serving import serving


class Served:
    """A served model, its engine, and the generations the engine ran (their alternatives)."""

    def __init__(self, directory, api_key=None, max_waiting=16, runtime="auto", max_rows=16) -> None:
        self.engine = Engine(load_model(directory, "fp32", runtime))
        self.done: list[list] = []
        self.finished = threading.Condition()
        self.worker = engine_worker(self.engine, max_waiting, on_done=self._done, max_rows=max_rows)
        threading.Thread(target=self.worker.run, daemon=True).start()
        self.api = CompletionsApi(self.worker, "tiny", api_key)

    def _done(self, alternatives, seconds) -> None:
        with self.finished:
            self.done.append(alternatives)
            self.finished.notify_all()

    def wait_done(self, count: int) -> list:
        with self.finished:
            assert self.finished.wait_for(lambda: len(self.done) >= count, timeout=60)
            return self.done[count - 1]


@pytest.fixture(params=["openvino", "torch"])
def served(tiny_model, request):
    state = Served(tiny_model, runtime=request.param)  # random weights: samples differ
    # OpenVINO batches the requests of several clients; PyTorch runs them in turn.
    assert isinstance(state.worker, BatchWorker) == (request.param == "openvino")
    assert isinstance(state.worker, EngineWorker)
    with serving(state.api.app()) as base:
        state.base = base
        state.client = openai.OpenAI(base_url=base, api_key="unused", max_retries=0)
        yield state
    state.worker.stop()


def test_models_lists_the_served_model(served):
    assert [m.id for m in served.client.models.list().data] == ["tiny"]


def test_streams_n_alternatives_one_choice_per_chunk(served):
    stream = served.client.completions.create(
        model="tiny", prompt="We propose", max_tokens=12, n=3, seed=5, temperature=0.9, stream=True,
        stream_options={"include_usage": True},
    )  # fmt: skip
    texts, reasons, usage = ["", "", ""], [None, None, None], None
    for chunk in stream:
        if not chunk.choices:
            usage = chunk.usage
            continue
        assert len(chunk.choices) == 1  # as vLLM sends them
        c = chunk.choices[0]
        assert reasons[c.index] is None  # nothing after an alternative's end
        texts[c.index] += c.text
        reasons[c.index] = c.finish_reason
    assert all(reasons) and set(reasons) <= {"stop", "length"}
    assert len(set(texts)) == 3  # three distinct samples
    whole = served.client.completions.create(model="tiny", prompt="We propose", max_tokens=12, n=3, seed=5,
                                             temperature=0.9)  # fmt: skip
    assert [c.text for c in sorted(whole.choices, key=lambda c: c.index)] == texts  # the seed decides
    assert usage.prompt_tokens == whole.usage.prompt_tokens > 0
    assert usage.completion_tokens == whole.usage.completion_tokens > 0


def test_stop_strings_and_top_k_are_honoured(served):
    free = served.client.completions.create(model="tiny", prompt="We propose", max_tokens=30, temperature=0)
    text = free.choices[0].text
    stop = text[8:10]
    cut = served.client.completions.create(
        model="tiny", prompt="We propose", max_tokens=30, temperature=0, stop=[stop], extra_body={"top_k": 5}
    )
    assert cut.choices[0].text == text[: text.index(stop)] and cut.choices[0].finish_reason == "stop"


def test_echo_with_logprobs_scores_the_prompt(served):
    prompt = "We propose a new method for graphs."
    out = served.client.completions.create(model="tiny", prompt=prompt, max_tokens=0, echo=True, logprobs=3)
    choice = out.choices[0]
    assert choice.text == prompt
    logprobs = choice.logprobs
    assert "".join(logprobs.tokens) == prompt
    assert logprobs.text_offset == sorted(logprobs.text_offset) and logprobs.text_offset[0] == 0
    assert all(lp is None or lp <= 0 for lp in logprobs.token_logprobs)
    assert all(top is None or (len(top) <= 3 and all(v <= 0 for v in top.values())) for top in logprobs.top_logprobs)


def test_a_client_that_leaves_mid_stream_stops_its_generation(fast_endless_model):
    state = Served(fast_endless_model)
    with serving(state.api.app()) as base:
        client = openai.OpenAI(base_url=base, api_key="unused", max_retries=0)
        stream = client.completions.create(model="tiny", prompt="We", max_tokens=200, n=2, stream=True)
        for _ in zip(range(3), stream, strict=False):  # a few chunks, then the editor moves on
            pass
        stream.close()
        alternatives = state.wait_done(1)
        assert {alt.finish_reason for alt in alternatives} == {FINISH_CANCELLED}
        assert all(len(alt.tokens) < 200 for alt in alternatives)
        again = client.completions.create(model="tiny", prompt="We", max_tokens=3)  # it goes on serving
        assert again.choices[0].finish_reason == "length"
    state.worker.stop()


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b'{"model": "tiny", "prompt": ', 400, "not valid JSON"),
        (b'["tiny"]', 400, "must be a JSON object"),
        (json.dumps({"model": "tiny", "prompt": "We", "n": "3"}).encode(), 422, "n: Input should be a valid integer"),
        (json.dumps({"model": "tiny", "prompt": "We", "n": 0}).encode(), 422, "n: Input should be greater than"),
        (json.dumps({"model": "tiny", "prompt": "We", "n": 99}).encode(), 422, "n: Input should be less than"),
        (json.dumps({"model": "tiny", "prompt": "We", "max_tokens": -1}).encode(), 422, "max_tokens"),
        (json.dumps({"model": "tiny", "prompt": "We", "max_tokens": 0}).encode(), 400, "0 only with echo"),
        (json.dumps({"model": "other", "prompt": "We"}).encode(), 404, "model 'other' is not served here"),
        (json.dumps({"model": "tiny", "prompt": "We " * 400}).encode(), 400, "the model's context holds"),
        (json.dumps({"prompt": "We"}).encode(), 422, "model: Field required"),
    ],
)
def test_bad_requests_get_openai_errors_and_the_server_goes_on(served, body, status, says):
    response = httpx2.post(served.base + "/completions", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    error = response.json()["error"]
    assert says in error["message"] and set(error) == {"message", "type", "param", "code"}
    assert served.client.completions.create(model="tiny", prompt="We", max_tokens=2).choices[0].text is not None


def test_the_openai_client_raises_its_own_errors(served):
    with pytest.raises(openai.NotFoundError):
        served.client.completions.create(model="gpt-4", prompt="We", max_tokens=2)
    with pytest.raises(openai.UnprocessableEntityError):
        served.client.completions.create(model="tiny", prompt="We", max_tokens=2, n=50)


def test_a_key_is_asked_for_when_set(trained_model):
    state = Served(trained_model, api_key="s3cret")
    with serving(state.api.app()) as base:
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=base, api_key="wrong", max_retries=0).models.list()
        assert httpx2.get(base + "/models").status_code == 401
        keyed = openai.OpenAI(base_url=base, api_key="s3cret", max_retries=0)
        assert keyed.completions.create(model="tiny", prompt="We", max_tokens=2).choices
    state.worker.stop()


def test_past_the_queue_bound_requests_get_503_with_retry_after(endless_model):
    state = Served(endless_model, max_waiting=1, max_rows=1)  # one row a step: the second request waits
    with serving(state.api.app()) as base:
        client = openai.OpenAI(base_url=base, api_key="unused", max_retries=0)
        running = client.completions.create(model="tiny", prompt="We", max_tokens=900, stream=True)
        next(iter(running))  # it runs: the engine is busy
        waiting = threading.Thread(
            target=lambda: client.completions.create(model="tiny", prompt="We", max_tokens=1), daemon=True
        )
        waiting.start()
        body = {"model": "tiny", "prompt": "We", "max_tokens": 1}
        for _ in range(200):  # until the waiting one is queued
            refused = httpx2.post(base + "/completions", json=body)
            if refused.status_code == 503:
                break
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
        assert "busy" in refused.json()["error"]["message"]
        running.close()
        waiting.join(60)
    state.worker.stop()


def test_serve_on_a_taken_port_is_one_line(capsys, tiny_model):
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    code, _, err = run_cli(capsys, "serve", "--model", str(tiny_model), "--port", str(taken.getsockname()[1]))
    assert_one_line_error(code, err, 1, "cannot listen on 127.0.0.1:")
    taken.close()


@pytest.mark.slow
@pytest.mark.parametrize("stop", ["ctrl+c", "sigterm"])
def test_serve_answers_and_stops_cleanly_on_ctrl_c(tiny_model, stop):
    import socket

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    process = subprocess.Popen(
        [sys.executable, "-m", "arxiv_tui", "serve", "--model", str(tiny_model), "--port", str(port)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        # As from a terminal: a shell that runs this suite in the background ignores SIGINT for
        # its children, and a server started that way rightly keeps ignoring it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    line = process.stderr.readline()
    if line.startswith("converting for OpenVINO"):  # the model's first use in this precision: its bar first
        line = process.stderr.readline()
    assert f"at http://127.0.0.1:{port}/v1" in line, line
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0)
    answer = client.completions.create(model=str(tiny_model), prompt="We", max_tokens=3)
    assert answer.choices and answer.usage is not None
    process.send_signal(signal.SIGINT if stop == "ctrl+c" else signal.SIGTERM)
    assert process.wait(30) == 0
    rest = process.stderr.read()
    # The request's log line (the tiny model may end it early with its EOS).
    assert "Traceback" not in rest and f"{answer.usage.completion_tokens} tokens in" in rest


@pytest.mark.slow
def test_bench_serve_reports_each_number_of_clients(capsys, tiny_model):
    code, out, err = run_cli(
        capsys, "bench", "--serve", "--model", str(tiny_model), "-n", "2", "--max-new-tokens", "4", "--runs", "2",
        "--clients", "1,3", "--precision", "fp32", "--json",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert set(report["serve"]) == {"1", "3"} and report["serve"]["3"]["requests"] == 6
    for figures in [report["engine_alone"], *report["serve"].values()]:
        assert 0 < figures["first_token"]["p50_ms"] <= figures["request"]["p50_ms"]
        assert figures["request"]["p50_ms"] <= figures["request"]["p95_ms"]
    alone, one = report["engine_alone"]["request"]["p50_ms"], report["serve"]["1"]["request"]["p50_ms"]
    assert report["http_overhead_one_client"] == pytest.approx(one / alone - 1, abs=0.001)


def test_bench_serve_with_bad_clients_is_one_line(capsys, tiny_model):
    code, _, err = run_cli(capsys, "bench", "--serve", "--model", str(tiny_model), "--clients", "1,x")
    assert_one_line_error(code, err, 2, "--clients must be numbers")


def test_the_confidence_view_scores_a_draft_through_the_server(served):
    import queue

    from arxiv_tui.runtime.protocol import Loaded, Scored
    from arxiv_tui.runtime.remote.client import RemoteClient

    events: queue.Queue = queue.Queue()
    client = RemoteClient(served.base, None, None, "", events.put)
    assert isinstance(events.get(timeout=30), Loaded)
    draft = "We propose a new method for graphs."
    client.score(draft)
    scored = events.get(timeout=30)
    assert isinstance(scored, Scored) and scored.scores.text == draft
    local = served.engine.score(draft)  # the same model, scored here
    assert [(t.start, t.end) for t in scored.scores.tokens] == [(t.start, t.end) for t in local.tokens]
    assert [t.prob for t in scored.scores.tokens] == pytest.approx([t.prob for t in local.tokens], rel=1e-4)
    best = scored.scores.tokens[0].top[0]
    assert client.token_table[best[0]] == served.engine.token_table[local.tokens[0].top[0][0]]
    client.close()


@pytest.mark.slow
def test_bench_app_against_serve(capsys, trained_model):
    state = Served(trained_model)
    with serving(state.api.app()) as base:
        code, out, err = run_cli(
            capsys, "bench", "--app", "--api-base", base, "--model", str(trained_model), "-n", "2",
            "--max-new-tokens", "6", "--runs", "1", "--keys", "2", "--json",
        )  # fmt: skip
    state.worker.stop()
    assert code == 0, err
    report = json.loads(out)
    assert report["app"]["median_s"] > 0 and report["headless"]["median_s"] > 0
    assert report["app"]["key_ms_streaming"]["count"] == 2
    assert len(state.done) >= 3  # the headless and the app's requests all reached the server
