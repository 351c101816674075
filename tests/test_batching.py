"""Several requests sharing each decode step (`serve` on OpenVINO): each gets what it would get
alone, whenever it joins; the bound holds; a request whose client left frees its rows at the
next step."""

from __future__ import annotations

import pytest

from arxiv_tui.runtime.batching import Batch, BatchedRequest, can_batch
from arxiv_tui.runtime.checkpoint import load_model
from arxiv_tui.runtime.engine import Engine
from arxiv_tui.runtime.settings import FINISH_CANCELLED, FINISH_LENGTH, GenerationSettings, SamplingParams

GREEDY = SamplingParams(greedy=True)
SAMPLED = SamplingParams(temperature=1.3, top_k=0, top_p=1.0)
PENALISED = SamplingParams(temperature=0.9, top_k=20, repetition_penalty=1.3)

REQUESTS = [
    ("We propose a new method for", GenerationSettings(n=2, max_new_tokens=12, sampling=GREEDY, ignore_eos=True)),
    ("Deep learning has", GenerationSettings(n=3, max_new_tokens=8, sampling=SAMPLED, seed=11, ignore_eos=True)),
    (
        "In this paper we study the problem of learning from few examples, and",
        GenerationSettings(n=1, max_new_tokens=15, sampling=PENALISED, seed=3, ignore_eos=True),
    ),
    ("Results", GenerationSettings(n=2, max_new_tokens=10, sampling=SAMPLED, seed=5)),  # may end at an EOS
]


def alone(engine: Engine, text: str, settings: GenerationSettings) -> list[tuple[list[int], str, str | None]]:
    engine.forget_prompt()
    return [(a.tokens, a.text, a.finish_reason) for a in engine.generate(text, settings)]


def outcome(request: BatchedRequest) -> list[tuple[list[int], str, str | None]]:
    return [(a.tokens, a.text, a.finish_reason) for a in request.alternatives]


@pytest.fixture(params=["gpt2", "llama-gqa", "qwen3"])
def engine(request, tiny_model, family_model) -> Engine:
    directory = tiny_model if request.param == "gpt2" else family_model(request.param)
    loaded = Engine(load_model(directory, "fp32", "openvino"))
    assert can_batch(loaded)
    return loaded


def test_requests_joining_at_any_step_get_what_they_would_alone(engine):
    expected = [alone(engine, text, settings) for text, settings in REQUESTS]
    batch = Batch(engine, max_rows=16)
    requests = [BatchedRequest(text, settings) for text, settings in REQUESTS]
    streamed = {id(r): {} for r in requests}

    def collect(request, deltas):
        for delta in deltas:
            streamed[id(request)][delta.index] = streamed[id(request)].get(delta.index, "") + delta.text

    collect(requests[0], batch.admit(requests[0]))
    for joining in requests[1:]:  # each joins a batch already under way, with other lengths
        for request, deltas in batch.step():
            collect(request, deltas)
        collect(joining, batch.admit(joining))
    peak = batch.rows
    while batch.requests:
        for request, deltas in batch.step():
            collect(request, deltas)
    assert peak > max(s.n for _, s in REQUESTS)  # rows of several requests shared the steps
    for request, wanted in zip(requests, expected, strict=True):
        assert outcome(request) == wanted
        assert [streamed[id(request)].get(i, "") for i in range(request.settings.n)] == [text for _, text, _ in wanted]
    assert batch.rows == 0


def test_the_bound_keeps_a_request_waiting_until_rows_are_free(engine):
    batch = Batch(engine, max_rows=4)
    first = BatchedRequest("We", GenerationSettings(n=3, max_new_tokens=3, sampling=GREEDY, ignore_eos=True))
    second = BatchedRequest("We", GenerationSettings(n=3, max_new_tokens=3, sampling=GREEDY, ignore_eos=True))
    wide = BatchedRequest("We", GenerationSettings(n=6, max_new_tokens=2, sampling=GREEDY, ignore_eos=True))
    assert batch.fits(first)
    batch.admit(first)
    assert not batch.fits(second)
    while batch.requests:
        assert batch.rows <= 4
        batch.step()
    assert batch.fits(second) and batch.fits(wide)  # a request wider than the bound runs alone


def test_a_cancelled_request_frees_its_rows_at_the_next_step(engine):
    batch = Batch(engine, max_rows=16)
    staying_text, staying_settings = REQUESTS[0]
    leaving = BatchedRequest("We", GenerationSettings(n=3, max_new_tokens=50, sampling=SAMPLED, ignore_eos=True))
    staying = BatchedRequest(staying_text, staying_settings)
    batch.admit(leaving)
    batch.admit(staying)
    batch.step()
    assert batch.rows == 5
    leaving.cancel.set()
    events = {id(r): d for r, d in batch.step()}
    assert {d.finish_reason for d in events[id(leaving)]} == {FINISH_CANCELLED}
    assert batch.rows == 2 and batch.requests == [staying]
    while batch.requests:
        batch.step()
    assert {a.finish_reason for a in staying.alternatives} == {FINISH_LENGTH}
    assert outcome(staying) == alone(engine, staying_text, staying_settings)
