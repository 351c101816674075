"""Engine behaviour on tiny real GPT-2 models."""

from __future__ import annotations

import threading

import pytest
import torch
from transformers import AutoModelForCausalLM

from arxiv_tui.runtime.detokenize import Detokenizer
from arxiv_tui.runtime.settings import (
    FINISH_CANCELLED,
    FINISH_LENGTH,
    FINISH_STOP,
    GenerationSettings,
    SamplingParams,
)
from tests.helpers import WIDE_CHARS

GREEDY = SamplingParams(greedy=True)


def settings(**overrides) -> GenerationSettings:
    values = {"n": 3, "max_new_tokens": 12, "seed": 7, "ignore_eos": True}
    values.update(overrides)
    return GenerationSettings(**values)


def test_greedy_equals_transformers_generate(trained_model, engine_factory):
    engine = engine_factory(trained_model)
    reference = AutoModelForCausalLM.from_pretrained(trained_model).eval()
    for prompt in ("We propose", "The results show e.g.", ""):
        ids = engine.prompt_ids(prompt, 20)
        with torch.inference_mode():
            out = reference.generate(
                torch.tensor([ids]),
                do_sample=False,
                max_new_tokens=20,
                min_new_tokens=20,
                pad_token_id=engine.loaded.tokenizer.eos_token_id,
            )
        expected = out[0, len(ids) :].tolist()
        alternatives = engine.generate(prompt, settings(n=2, max_new_tokens=20, sampling=GREEDY))
        assert [a.tokens for a in alternatives] == [expected, expected]


def test_alternatives_are_distinct_samples(tiny_model, engine_factory):
    alternatives = engine_factory(tiny_model).generate("We", settings(n=4))
    assert len({tuple(a.tokens) for a in alternatives}) == 4
    assert all(len(a.tokens) == 12 and a.finish_reason == FINISH_LENGTH for a in alternatives)


def test_seed_makes_sampling_repeatable(tiny_model, engine_factory):
    engine = engine_factory(tiny_model)
    first = [a.tokens for a in engine.generate("We", settings())]
    again = [a.tokens for a in engine.generate("We", settings())]
    other = [a.tokens for a in engine.generate("We", settings(seed=8))]
    assert first == again
    assert first != other
    # Each alternative has its own random stream: alternative 0 does not depend on N.
    assert next(a.tokens for a in engine.generate("We", settings(n=1))) == first[0]


def test_deltas_add_up_to_the_text(tiny_model, engine_factory):
    engine = engine_factory(tiny_model)
    streamed = {}
    run = engine.stream("We", settings(max_new_tokens=30))
    for deltas in run:
        for delta in deltas:
            streamed[delta.index] = streamed.get(delta.index, "") + delta.text
    assert [streamed[i] for i in range(3)] == [a.text for a in run.alternatives]


def test_cancel_stops_within_one_step(tiny_model, engine_factory):
    engine = engine_factory(tiny_model)
    cancel = threading.Event()
    stream = iter(engine.stream("We", settings(max_new_tokens=100), cancel=cancel))
    next(stream)
    next(stream)
    cancel.set()
    last = next(stream)  # the step in flight may finish; then the request ends
    if all(d.finish_reason is None for d in last):
        last = next(stream)
    assert {d.finish_reason for d in last} == {FINISH_CANCELLED}
    with pytest.raises(StopIteration):
        next(stream)


def test_prefix_reuse_gives_the_same_tokens_as_a_cold_start(trained_model, engine_factory):
    engine = engine_factory(trained_model)
    greedy = settings(n=2, sampling=GREEDY)
    engine.generate("We propose a new method", greedy)
    warm = engine.generate("We propose a new method for graph", greedy)
    reused = len(engine.prompt_ids("We propose a new method for graph", 12)) - engine.last_prefill_tokens
    assert reused > 0
    engine.forget_prompt()
    cold = engine.generate("We propose a new method for graph", greedy)
    assert engine.last_prefill_tokens == len(engine.prompt_ids("We propose a new method for graph", 12))
    assert [a.tokens for a in warm] == [a.tokens for a in cold]
    # Editing inside the prompt reuses only the shared part and still matches a cold start.
    edited = engine.generate("We propose an old method for graph", greedy)
    engine.forget_prompt()
    assert [a.tokens for a in edited] == [
        a.tokens for a in engine.generate("We propose an old method for graph", greedy)
    ]


def test_long_prompts_are_cut_from_the_left_keeping_the_template(tiny_model, engine_factory):
    engine = engine_factory(tiny_model)
    text = "word " * 12000  # 60,000 characters
    ids = engine.prompt_ids(text, 12)
    template = engine.encode(engine.template.rstrip())
    assert len(ids) <= engine.context_length - 12
    assert ids[: len(template)] == template
    assert ids[-5:] == engine.encode(text)[-5:]
    alternatives = engine.generate(text, settings(max_new_tokens=12))
    assert all(len(a.tokens) == 12 for a in alternatives)


def test_template_is_added_once(tiny_model, engine_factory):
    engine = engine_factory(tiny_model)
    assert engine.prompt_ids("We", 5) == engine.encode("arXiv Abstract: We")
    assert engine.prompt_ids("arXiv Abstract: We", 5) == engine.encode("arXiv Abstract: We")
    assert engine.prompt_ids("We", 5, raw=True) == engine.encode("We")


def test_split_characters_never_show_as_replacement(tiny_model, engine_factory):
    engine = engine_factory(tiny_model)
    ids = engine.encode(WIDE_CHARS)
    assert len(ids) > len(WIDE_CHARS) // 2  # the wide characters really are split
    detokenizer = Detokenizer(engine.token_table)
    pieces = [detokenizer.push(i) for i in ids]
    assert all("\ufffd" not in piece for piece in pieces)
    assert "".join(pieces) + detokenizer.flush() == WIDE_CHARS


def test_streaming_decodes_like_whole_text_decoding(tiny_model, engine_factory):
    """A split character never shows as U+FFFD mid-stream: the deltas of a random model's
    byte soup add up to exactly what decoding all its bytes at once gives."""
    engine = engine_factory(tiny_model)
    table = engine.token_table
    hot = SamplingParams(temperature=1.5, top_k=0, top_p=1.0)
    streamed = ["", "", "", ""]
    run = engine.stream("中", settings(n=4, max_new_tokens=60, sampling=hot))
    for deltas in run:
        for delta in deltas:
            streamed[delta.index] += delta.text
    for alt, text in zip(run.alternatives, streamed, strict=True):
        raw = b"".join(table[t] for t in alt.tokens)
        assert text == raw.decode("utf-8", errors="replace")
        assert any(len(table[t]) and table[t][0] >= 0x80 for t in alt.tokens)


def test_stop_at_sentence_end(trained_model, engine_factory):
    engine = engine_factory(trained_model)
    alternatives = engine.generate(
        "We propose", settings(n=2, max_new_tokens=60, sampling=GREEDY, stop_at_sentence_end=True)
    )
    for alt in alternatives:
        assert alt.finish_reason == FINISH_STOP
        assert alt.text.endswith(".")
        full = engine.generate("We propose", settings(n=1, max_new_tokens=60, sampling=GREEDY))[0].text
        assert full.startswith(alt.text) and len(full) > len(alt.text)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("We use e.g. graphs. Then we", "We use e.g. graphs."),
        ("See Fig. 3 for details", None),
        ("It is 3.5 times faster. We", "It is 3.5 times faster."),
        ("Smith et al. show it. The", "Smith et al. show it."),
        ("as in Fig. 3. We", "as in Fig. 3."),
        ("the i.e. case", None),
        ("a b. and c", None),
        ("done.\nnext", "done."),
        ("Ends here. ", None),  # not confirmed until the next word arrives
        ("Really? Yes", "Really?"),
        ('He said "no." Then', 'He said "no."'),
        ("J. Smith wrote it. A", "J. Smith wrote it."),
        ("see No. 5 and Eq. (2) here. We", "see No. 5 and Eq. (2) here."),
        ("the U.S. market grew. A", "the U.S. market grew."),
    ],
)
def test_sentence_end_rule(text, expected):
    from arxiv_tui.runtime.sentences import sentence_end

    end = sentence_end(text)
    assert (text[:end] if end is not None else None) == expected


@pytest.mark.parametrize(
    "bad",
    [
        {"n": 0},
        {"max_new_tokens": 0},
        {"max_new_tokens": 10_000},
        {"sampling": SamplingParams(temperature=-1)},
        {"sampling": SamplingParams(top_p=0)},
        {"sampling": SamplingParams(top_p=1.5)},
    ],
)
def test_invalid_settings_are_refused(tiny_model, engine_factory, bad):
    with pytest.raises(ValueError):
        engine_factory(tiny_model).generate("We", settings(**bad))


def test_a_stop_string_ends_an_alternative_and_is_never_shown(trained_model, engine_factory):
    engine = engine_factory(trained_model)
    free = engine.generate("We propose", settings(n=1, max_new_tokens=40, sampling=GREEDY))[0].text
    stop = free[10:13]  # three characters the greedy text reaches, likely split over tokens
    streamed = ""
    run = engine.stream("We propose", settings(n=1, max_new_tokens=40, sampling=GREEDY, stop=(stop, "never")))
    for deltas in run:
        streamed += "".join(delta.text for delta in deltas)
    alt = run.alternatives[0]
    assert streamed == alt.text == free[: free.index(stop)]
    assert alt.finish_reason == FINISH_STOP


def test_stop_string_helpers():
    from arxiv_tui.runtime.stops import stop_at, undecided_tail

    assert stop_at("a\n\nb", ["\n\n"]) == 1
    assert stop_at("abc. def", ["def", "c."]) == 2
    assert stop_at("abcabc", ["abc"], since=4) == 3  # only matches ending after what was checked
    assert stop_at("abc", []) is None
    assert undecided_tail("text\n", ["\n\n"]) == 1
    assert undecided_tail("the en", ["end.", "n"]) == 2
    assert undecided_tail("plain", ["\n\n"]) == 0
