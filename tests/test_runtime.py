"""The PyTorch runtime (the reference, and the fallback where OpenVINO is missing) and its loader
against transformers' own GPT-2."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from arxiv_tui.runtime.checkpoint import load_model
from arxiv_tui.runtime.packed import HalfLinear
from arxiv_tui.runtime.registry import ModelError
from arxiv_tui.runtime.weights import Checkpoint
from tests.helpers import needs_fp16

TEXT = "We propose a new method for graph learning. The results show"


def _reference(directory):
    model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32).eval()
    ids = AutoTokenizer.from_pretrained(directory)(TEXT, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        return ids, model(ids).logits[0]


@pytest.mark.parametrize(
    "precision, tolerance", [("fp32", 1e-3), pytest.param("fp16", 0.02, marks=needs_fp16), ("bf16", 0.15)]
)
def test_logits_match_transformers(trained_model, precision, tolerance):
    ids, reference = _reference(trained_model)
    loaded = load_model(trained_model, precision, "torch")
    with torch.inference_mode():
        ours = loaded.model(ids, loaded.model.new_cache(1, ids.shape[1]), all_positions=True)[0]
    assert (ours - reference).abs().max() < tolerance
    assert (ours.argmax(-1) == reference.argmax(-1)).float().mean() > 0.9


@needs_fp16
def test_auto_runs_fp16_weights_with_fp32_activations_where_fbgemm_runs(trained_model):
    loaded = load_model(trained_model, "auto", "torch")
    assert loaded.precision == "fp16" and loaded.model.dtype == torch.float32
    assert isinstance(loaded.model.lm_head, HalfLinear)
    assert loaded.model.wte.weight.dtype == torch.float16  # looked up, then widened
    assert loaded.model.blocks[0].ln_1.weight.dtype == torch.float32


def test_fp16_where_fbgemm_lacks_it_is_one_line(trained_model, monkeypatch):
    monkeypatch.setattr("arxiv_tui.runtime.packed.can_pack_half", lambda: False)
    with pytest.raises(ModelError, match="fp16 needs fbgemm's fp16 kernels, which this CPU lacks; use bf16 or fp32"):
        load_model(trained_model, "fp16", "torch")
    assert load_model(trained_model, "auto", "torch").precision in ("bf16", "fp32")


def test_a_checkpoint_reads_matrices_in_their_own_dtype(trained_model):
    checkpoint = Checkpoint(trained_model, matrices=torch.float16)
    assert checkpoint.read("wte.weight", torch.float32).dtype == torch.float16
    assert checkpoint.read("ln_f.weight", torch.float32).dtype == torch.float32
    exact = Checkpoint(trained_model).read("wte.weight", torch.float32)
    assert torch.equal(checkpoint.read("wte.weight", torch.float32), exact.half())


def test_incremental_decoding_matches_one_pass(trained_model):
    ids, reference = _reference(trained_model)
    loaded = load_model(trained_model, "fp32", "torch")
    cache = loaded.model.new_cache(1, ids.shape[1])
    with torch.inference_mode():
        rows = [loaded.model(ids[:, :5], cache)]
        rows += [loaded.model(ids[:, i : i + 1], cache) for i in range(5, ids.shape[1])]
    stepwise = torch.cat(rows)
    assert torch.allclose(stepwise, reference[4:], atol=1e-3)


def test_int8_stays_close_to_fp32(trained_model):
    ids, reference = _reference(trained_model)
    loaded = load_model(trained_model, "int8", "torch")
    with torch.inference_mode():
        ours = loaded.model(ids, loaded.model.new_cache(1, ids.shape[1]), all_positions=True)[0]
    ref_lp, our_lp = reference.log_softmax(-1), ours.log_softmax(-1)
    kl = (ref_lp.exp() * (ref_lp - our_lp)).sum(-1).mean()
    assert kl < 0.05


def test_untied_lm_head_is_used(tmp_path):
    """A checkpoint with its own LM head (tie_word_embeddings false) must not be re-tied."""
    from tests.helpers import build_model

    directory = build_model(tmp_path / "m")
    model = AutoModelForCausalLM.from_pretrained(directory)
    model.config.tie_word_embeddings = False
    untied = AutoModelForCausalLM.from_config(model.config)
    untied.load_state_dict(model.state_dict(), strict=False)
    with torch.no_grad():
        untied.lm_head.weight.copy_(torch.randn_like(untied.lm_head.weight))
    untied.save_pretrained(directory)
    ids = torch.tensor([[1, 2, 3]])
    with torch.inference_mode():
        reference = untied.eval()(ids).logits[0, -1]
        loaded = load_model(directory, "fp32", "torch")
        ours = loaded.model(ids, loaded.model.new_cache(1, 3))[0]
    assert torch.allclose(ours, reference, atol=1e-3)


@needs_fp16
def test_weights_beyond_fp16s_range_are_refused_in_fp16_and_auto_takes_the_next_best(tmp_path):
    from tests.helpers import build_model

    directory = build_model(tmp_path / "m")
    model = AutoModelForCausalLM.from_pretrained(directory)
    with torch.no_grad():
        model.transformer.h[0].mlp.c_fc.weight[0, 0] = 70000.0  # fp16 tops out at 65,504
    model.save_pretrained(directory)
    with pytest.raises(ModelError, match=r"cannot run in fp16: tensor h.0.mlp.c_fc.weight holds values beyond"):
        load_model(directory, "fp16", "torch")
    loaded = load_model(directory, "auto", "torch")
    assert loaded.precision in ("bf16", "fp32")
    ids = torch.tensor([[1, 2, 3]])
    with torch.inference_mode():
        logits = loaded.model(ids, loaded.model.new_cache(1, 3))
    assert torch.isfinite(logits).all()
