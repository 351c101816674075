"""The Llama-style families (Llama, Mistral, Qwen2, Qwen3) in the runtime: the same tokens as
transformers, every switch, both kinds of tokenizer, and what a model brings with it (BOS,
its end tokens, its template)."""

from __future__ import annotations

import json
import re

import pytest
import torch
from transformers import AutoModelForCausalLM

from arxiv_tui.runtime.checkpoint import load_model
from arxiv_tui.runtime.detokenize import BYTE_LEVEL, SENTENCEPIECE, Detokenizer
from arxiv_tui.runtime.engine import Engine
from arxiv_tui.runtime.families import CONTEXT_CAP
from arxiv_tui.runtime.model_template import write_template
from arxiv_tui.runtime.registry import ModelError
from arxiv_tui.runtime.settings import DEFAULT_TEMPLATE, FINISH_EOS, GenerationSettings, SamplingParams
from tests.families import VARIANTS
from tests.helpers import SENTENCES, WIDE_CHARS, needs_fp16

GREEDY = SamplingParams(greedy=True)
HOT = SamplingParams(temperature=1.5, top_k=0, top_p=1.0)


def settings(**overrides) -> GenerationSettings:
    values = {"n": 2, "max_new_tokens": 16, "seed": 7, "ignore_eos": True}
    values.update(overrides)
    return GenerationSettings(**values)


def reference_greedy(directory, ids: list[int], steps: int) -> list[int]:
    """transformers' own model, argmax over the whole vocabulary at each step (end tokens too)."""
    model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32).eval()
    sequence = list(ids)
    with torch.inference_mode():
        for _ in range(steps):
            sequence.append(int(model(torch.tensor([sequence])).logits[0, -1].argmax()))
    return sequence[len(ids) :]


@pytest.mark.parametrize("runtime", ["openvino", "torch"])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_greedy_tokens_equal_transformers(variant, runtime, family_model):
    directory = family_model(variant)
    engine = Engine(load_model(directory, "fp32", runtime))
    assert engine.loaded.runtime == runtime
    for prompt in ("We propose", "The results show e.g. that"):
        ids = engine.prompt_ids(prompt, 20)
        expected = reference_greedy(directory, ids, 20)
        alternatives = engine.generate(prompt, settings(max_new_tokens=20, sampling=GREEDY))
        assert [a.tokens for a in alternatives] == [expected, expected]


@pytest.mark.parametrize(
    "variant, precision, bound",
    [
        ("qwen3", "bf16", 0.01),
        ("llama-untied-biases", "bf16", 0.01),
        pytest.param("qwen3", "fp16", 1e-3, marks=needs_fp16),
        pytest.param("llama-untied-biases", "fp16", 1e-3, marks=needs_fp16),
    ],
)
def test_16_bit_next_token_distribution_is_close_to_fp32(variant, precision, bound, family_model):
    directory = family_model(variant)
    exact, half = Engine(load_model(directory, "fp32")), Engine(load_model(directory, precision))
    ids = torch.tensor([exact.prompt_ids(" ".join(SENTENCES[:3]), 1)])
    p = exact.loaded.model(ids, exact.loaded.model.new_cache(1, ids.shape[1]), all_positions=True).log_softmax(-1)
    q = half.loaded.model(ids, half.loaded.model.new_cache(1, ids.shape[1]), all_positions=True).log_softmax(-1)
    kl = (p.exp() * (p - q)).sum(-1).max().item()
    assert 0 < kl < bound  # 16-bit weights round, and only a little (fp16 keeps 3 more bits than bf16)


def test_the_family_and_its_parameters_are_read_from_the_config(family_model):
    loaded = load_model(family_model("qwen3"), "fp32")
    reference = AutoModelForCausalLM.from_pretrained(loaded.directory)
    assert loaded.family == "qwen3"
    assert loaded.parameters == sum(p.numel() for p in reference.parameters())  # the tied head once


def test_a_sliding_window_shorter_than_the_context_bounds_it(family_model, tmp_path):
    source = family_model("mistral")
    config = json.loads((source / "config.json").read_text())
    for name in source.iterdir():
        if name.is_file():
            (tmp_path / name.name).write_bytes(name.read_bytes())
    (tmp_path / "config.json").write_text(json.dumps({**config, "sliding_window": 48}))
    assert load_model(source, "fp32").context_length == 256  # Mistral's 4,096 window is longer
    engine = Engine(load_model(tmp_path, "fp32"))
    assert engine.context_length == 48  # full attention within the window is exact
    assert len(engine.prompt_ids(" ".join(SENTENCES * 4), 8)) <= 40
    assert CONTEXT_CAP >= 2048


@pytest.mark.parametrize("sentencepiece", [False, True])
def test_streaming_a_text_shows_it_whole_for_both_tokenizer_kinds(sentencepiece, family_model):
    engine = Engine(load_model(family_model("llama-gqa", sentencepiece=sentencepiece), "fp32"))
    assert engine.vocabulary.kind == (SENTENCEPIECE if sentencepiece else BYTE_LEVEL)
    text = "We propose " + WIDE_CHARS + " with a gain of 3 %."
    ids = engine.encode(text)
    if sentencepiece:
        assert any(engine.loaded.tokenizer.convert_ids_to_tokens(i).startswith("<0x") for i in ids)
    detokenizer = Detokenizer(engine.token_table)
    pieces = [detokenizer.push(i) for i in ids] + [detokenizer.flush()]
    assert all("\ufffd" not in piece for piece in pieces)
    # SentencePiece puts a space in front of a text (its decode drops it again); a continuation
    # is text after the prompt, where that space is real.
    assert "".join(pieces) == (" " + text if sentencepiece else text)
    assert engine.loaded.tokenizer.decode(ids) == text


@pytest.mark.parametrize("sentencepiece", [False, True])
def test_streamed_text_equals_the_final_decode(sentencepiece, family_model):
    engine = Engine(load_model(family_model("llama-gqa", sentencepiece=sentencepiece), "fp32"))
    tokenizer = engine.loaded.tokenizer
    prompt = "We propose"
    streamed = ["", "", ""]
    run = engine.stream(prompt, settings(n=3, max_new_tokens=40, sampling=HOT))
    for deltas in run:
        for delta in deltas:
            streamed[delta.index] += delta.text
    ids = engine.prompt_ids(prompt, 40)
    head = tokenizer.decode(ids, skip_special_tokens=True)
    for alt, text in zip(run.alternatives, streamed, strict=True):
        assert text == alt.text
        assert text == b"".join(engine.token_table[t] for t in alt.tokens).decode("utf-8", errors="replace")
        decoded = tokenizer.decode(ids + alt.tokens, skip_special_tokens=True)[len(head) :]
        if "\ufffd" not in decoded:  # random bytes: the tokenizer blanks a whole invalid run, we only its bad bytes
            assert text == decoded
        assert not text.startswith("  ")  # no doubled space after the prompt


def test_a_sentencepiece_model_gets_its_bos_and_keeps_it_when_cut(family_model):
    engine = Engine(load_model(family_model("llama-gqa", sentencepiece=True), "fp32"))
    bos = engine.loaded.tokenizer.bos_token_id
    assert engine.vocabulary.start_ids == (bos,)
    assert engine.prompt_ids("We propose", 8) == [bos, *engine.encode("We propose")]
    long = engine.prompt_ids(" ".join(SENTENCES * 30), 16)
    assert long[0] == bos and len(long) <= engine.context_length - 16
    assert long.count(bos) == 1


def test_a_byte_level_model_without_bos_gets_none(family_model):
    engine = Engine(load_model(family_model("qwen2"), "fp32"))
    assert engine.vocabulary.start_ids == ()
    assert engine.prompt_ids("We propose", 8) == engine.encode("We propose")


def test_every_end_token_the_generation_config_lists_ends_a_row(family_model):
    directory = family_model("qwen2")
    engine = Engine(load_model(directory, "fp32"))
    first = engine.generate("We propose", settings(n=1, max_new_tokens=12, sampling=HOT))[0].tokens
    cut = next(k for k in range(1, len(first)) if first[k] not in first[:k])  # a token new at step k
    listed = family_model("qwen2", eos_ids=[engine.loaded.tokenizer.eos_token_id, first[cut]])
    ending = Engine(load_model(listed, "fp32"))
    assert first[cut] in ending.vocabulary.end_ids
    alt = ending.generate("We propose", settings(n=1, max_new_tokens=12, sampling=HOT, ignore_eos=False))[0]
    assert alt.finish_reason == FINISH_EOS and alt.tokens == first[:cut]


def test_the_template_belongs_to_the_model(family_model, tmp_path):
    base = family_model("qwen2")
    engine = Engine(load_model(base, "fp32"))
    assert engine.template == ""  # a base model was not trained with the seed's template
    assert engine.prompt_ids("We", 4) == engine.encode("We")
    assert Engine(load_model(base, "fp32"), template="Abstract: ").prompt_ids("We", 4) == engine.encode("Abstract: We")
    for name in base.iterdir():
        if name.is_file():
            (tmp_path / name.name).write_bytes(name.read_bytes())
    write_template(tmp_path, DEFAULT_TEMPLATE)  # as finetune does
    assert Engine(load_model(tmp_path, "fp32")).template == DEFAULT_TEMPLATE


def test_the_confidence_view_spans_the_words_of_a_sentencepiece_draft(family_model):
    engine = Engine(load_model(family_model("llama-gqa", sentencepiece=True), "fp32"))
    draft = "We propose a new method."
    scores = engine.score(draft)
    words = {draft[t.start : t.end].strip() for t in scores.tokens}
    assert "propose" in words and "We" in words  # BOS in front: the first word is scored too
    assert all(0 <= t.start < t.end <= len(draft) and 0 < t.prob <= 1 for t in scores.tokens)


def copy_model(source, target) -> None:
    target.mkdir(exist_ok=True)
    for name in source.iterdir():
        if name.is_file():
            (target / name.name).write_bytes(name.read_bytes())


def test_a_config_that_does_not_match_its_weights_is_one_line(family_model, tmp_path):
    copy_model(family_model("qwen2"), tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "intermediate_size": 128}))
    with pytest.raises(ModelError, match=r"mlp.gate_proj.weight has shape \[96, 64\], the config asks for \[128, 64\]"):
        load_model(tmp_path, "fp32")


def test_weights_that_lack_a_tensor_are_one_line(family_model, tmp_path):
    from safetensors.torch import load_file, save_file

    copy_model(family_model("qwen3"), tmp_path)
    tensors = load_file(tmp_path / "model.safetensors")
    del tensors["model.layers.1.self_attn.k_norm.weight"]
    save_file(tensors, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(
        ModelError, match=re.escape("lack 'layers.1.self_attn.k_norm.weight'; is it a qwen3 checkpoint")
    ):
        load_model(tmp_path, "fp32")


def test_an_unsupported_family_names_the_supported_ones(family_model, tmp_path):
    copy_model(family_model("qwen2"), tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "model_type": "phi3"}))
    with pytest.raises(ModelError, match="holds a phi3 model; arxiv-tui runs gpt2, llama, mistral, qwen2, qwen3"):
        load_model(tmp_path, "fp32")


def test_a_rope_scaling_that_changes_with_length_is_refused(family_model, tmp_path):
    copy_model(family_model("llama-gqa"), tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["rope_scaling"] = config["rope_parameters"] = {"rope_type": "dynamic", "factor": 2.0, "rope_theta": 1e4}
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="rope_scaling type 'dynamic' is not supported"):
        load_model(tmp_path, "fp32")


def test_a_broken_tokenizer_is_one_line(family_model, tmp_path):
    copy_model(family_model("llama-gqa"), tmp_path)
    (tmp_path / "tokenizer.json").write_text('{"model": {"type": "BPE", "vocab": ')
    with pytest.raises(ModelError, match="cannot load the tokenizer in") as raised:
        load_model(tmp_path, "fp32")
    assert "\n" not in str(raised.value)
