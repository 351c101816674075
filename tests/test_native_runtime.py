"""The OpenVINO runtime: the same tokens as the PyTorch engine and transformers in fp32, 8- and
4-bit weights close to fp32, the prompt cache reused and cut as the engine's own, and a
converted graph that is cached, rebuilt when stale or broken, and never left half-written."""

from __future__ import annotations

import errno
import json
import os

import pytest
import torch

from arxiv_tui.runtime import checkpoint
from arxiv_tui.runtime.checkpoint import load_model
from arxiv_tui.runtime.engine import Engine
from arxiv_tui.runtime.native import convert
from arxiv_tui.runtime.registry import ModelError
from arxiv_tui.runtime.settings import GenerationSettings, SamplingParams
from tests.helpers import SENTENCES

GREEDY = GenerationSettings(n=2, max_new_tokens=12, sampling=SamplingParams(greedy=True), ignore_eos=True)


def next_token_log_probs(engine: Engine, text: str) -> torch.Tensor:
    ids = torch.tensor([engine.prompt_ids(text, 1)])
    model = engine.loaded.model
    return model(ids, model.new_cache(1, ids.shape[1]), all_positions=True)[0].log_softmax(-1)


def kl(p: torch.Tensor, q: torch.Tensor) -> float:
    return float((p.exp() * (p - q)).sum(-1).max())


@pytest.mark.parametrize("variant", ["qwen3", "llama-untied-biases", "llama-gqa"])
def test_openvino_fp32_scores_every_position_as_the_pytorch_engine(variant, family_model):
    directory = family_model(variant)
    native = Engine(load_model(directory, "fp32", "openvino"))
    reference = Engine(load_model(directory, "fp32", "torch"))
    assert native.loaded.runtime == "openvino" and reference.loaded.runtime == "torch"
    text = " ".join(SENTENCES[:3])
    assert kl(next_token_log_probs(reference, text), next_token_log_probs(native, text)) < 1e-5


@pytest.mark.parametrize("precision, bound", [("int8", 0.02), ("int4", 0.3), ("fp16", 0.02)])
def test_quantized_weights_stay_close_to_fp32(precision, bound, family_model):
    directory = family_model("llama-untied-biases")
    exact = Engine(load_model(directory, "fp32", "torch"))
    quantized = Engine(load_model(directory, precision, "openvino"))
    assert quantized.loaded.precision == precision
    text = " ".join(SENTENCES[:3])
    assert 0 < kl(next_token_log_probs(exact, text), next_token_log_probs(quantized, text)) < bound


def test_auto_precision_is_int4_on_openvino(tiny_model):
    loaded = load_model(tiny_model, "auto", "openvino")
    assert (loaded.runtime, loaded.precision) == ("openvino", "int4")


def test_prompt_cache_is_reused_and_cut_with_the_same_tokens_as_a_fresh_engine(tiny_model):
    engine = Engine(load_model(tiny_model, "fp32", "openvino"))
    fresh = Engine(load_model(tiny_model, "fp32", "openvino"))
    base = " ".join(SENTENCES[:2])
    engine.generate(base, GREEDY)
    for text in (base + " We also", SENTENCES[0] + " A different ending"):  # appended, then cut
        fresh.forget_prompt()
        reused = engine.generate(text, GREEDY)
        assert engine.last_prefill_tokens < len(engine.prompt_ids(text, GREEDY.max_new_tokens))
        assert [a.tokens for a in reused] == [a.tokens for a in fresh.generate(text, GREEDY)]


def test_rows_leave_the_batch_and_each_keeps_its_own_stream(tiny_model):
    engine = Engine(load_model(tiny_model, "fp32", "openvino"))
    reference = Engine(load_model(tiny_model, "fp32", "torch"))
    hot = GenerationSettings(n=3, max_new_tokens=10, seed=5, sampling=SamplingParams(temperature=1.2, top_k=0))
    for settings in (hot, GREEDY):
        ours, theirs = engine.generate("We propose", settings), reference.generate("We propose", settings)
        assert [a.tokens for a in ours] == [a.tokens for a in theirs]


def test_a_conversion_is_cached_and_reused(tiny_model):
    events = []
    load_model(tiny_model, "int4", "openvino", events.append)
    if events:  # another test may have converted it first
        assert events[-1].done == events[-1].total
    graph = convert.cached_graph(tiny_model, "int4")
    assert graph is not None
    written = graph.stat().st_mtime_ns
    events.clear()
    load_model(tiny_model, "int4", "openvino", events.append)
    assert events == [] and graph.stat().st_mtime_ns == written


def fresh_copy(tiny_model, tmp_path):
    import shutil

    target = tmp_path / "model"
    shutil.copytree(tiny_model, target, ignore=shutil.ignore_patterns(".arxiv-tui"))
    return target


def test_a_stale_or_broken_cache_is_rebuilt(tiny_model, tmp_path):
    directory = fresh_copy(tiny_model, tmp_path)
    events = []
    load_model(directory, "int8", "openvino", events.append)
    assert events, "the first load converts"
    cache = convert.cache_dir(directory, "int8")
    for spoil in (
        lambda: (cache / "model.bin").write_bytes(b"\0" * 10),  # a truncated weights file
        lambda: (cache / convert.MANIFEST).write_text(json.dumps({"format": 0})),  # another version's
        lambda: os.utime(directory / "config.json", ns=(1, 1)),  # the model changed since
    ):
        spoil()
        events.clear()
        engine = Engine(load_model(directory, "int8", "openvino", events.append))
        assert events and events[-1].done == events[-1].total
        assert len(engine.generate("We propose", GREEDY)[0].tokens) == GREEDY.max_new_tokens


def test_an_interrupted_conversion_leaves_nothing_that_looks_finished(tiny_model, tmp_path, monkeypatch):
    import openvino

    directory = fresh_copy(tiny_model, tmp_path)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(openvino, "save_model", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_model(directory, "int8", "openvino")
    assert convert.cached_graph(directory, "int8") is None
    assert list((directory / ".arxiv-tui").iterdir()) == []  # no staging directory left behind
    monkeypatch.undo()
    assert load_model(directory, "int8", "openvino").runtime == "openvino"


def test_a_full_disk_is_one_line_or_the_pytorch_runtime(tiny_model, tmp_path, monkeypatch):
    import openvino

    directory = fresh_copy(tiny_model, tmp_path)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(openvino, "save_model", full)
    with pytest.raises(ModelError, match="No space left on device") as failed:
        load_model(directory, "int8", "openvino")
    assert "\n" not in str(failed.value)
    loaded = load_model(directory, "auto", "auto")
    assert loaded.runtime == "torch" and "No space left on device" in loaded.notice
    assert "PyTorch" in loaded.notice


@pytest.mark.parametrize("version, words", [(None, "not installed"), ("2024.6.0-1234", "2024.6.0-1234 is too old")])
def test_a_missing_or_old_openvino_is_named_and_pytorch_runs(version, words, tiny_model, monkeypatch):
    import builtins

    import openvino

    if version is None:
        real_import = builtins.__import__

        def no_openvino(name, *args, **kwargs):
            if name == "openvino" or name.startswith("openvino."):
                raise ImportError(name)
            return real_import(name, *args, **kwargs)

        monkeypatch.setattr(builtins, "__import__", no_openvino)
    else:
        monkeypatch.setattr(openvino, "__version__", version)
    assert words in checkpoint.native_runtime_missing()
    loaded = load_model(tiny_model, "fp32", "auto")
    assert loaded.runtime == "torch" and words in loaded.notice
    with pytest.raises(ModelError, match=words):
        load_model(tiny_model, "fp32", "openvino")
    with pytest.raises(ModelError, match=words):
        load_model(tiny_model, "int4", "auto")


def test_int4_on_the_pytorch_runtime_is_refused(tiny_model):
    with pytest.raises(ModelError, match="int4 needs the OpenVINO runtime"):
        load_model(tiny_model, "int4", "torch")


def test_activations_are_quantized_in_the_groups_of_the_weights(tiny_model):
    """int4's activation groups follow its smallest weight group (a larger one falls off the
    plugin's fast kernel); int8 takes 128, whatever the widths."""
    from arxiv_tui.runtime.native.graph import INT8_ACTIVATION_GROUP, group_size

    config = json.loads((tiny_model / "config.json").read_text())
    widths = [config["n_embd"], 4 * config["n_embd"]]
    expected = {"int4": min(group_size(width) for width in widths), "int8": INT8_ACTIVATION_GROUP}
    for precision, group in expected.items():
        compiled = load_model(tiny_model, precision, "openvino").model.compiled
        assert compiled.get_property("DYNAMIC_QUANTIZATION_GROUP_SIZE") == group
