"""The fast GPT-2 runtime and loader against transformers' own GPT-2."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from arxiv_tui.runtime.checkpoint import load_model

TEXT = "We propose a new method for graph learning. The results show"


def _reference(directory):
    model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32).eval()
    ids = AutoTokenizer.from_pretrained(directory)(TEXT, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        return ids, model(ids).logits[0]


@pytest.mark.parametrize("precision, tolerance", [("fp32", 1e-3), ("bf16", 0.15)])
def test_logits_match_transformers(trained_model, precision, tolerance):
    ids, reference = _reference(trained_model)
    loaded = load_model(trained_model, precision)
    with torch.inference_mode():
        ours = loaded.model(ids, loaded.model.new_cache(1, ids.shape[1]), all_positions=True)[0]
    assert (ours - reference).abs().max() < tolerance
    assert (ours.argmax(-1) == reference.argmax(-1)).float().mean() > 0.9


def test_incremental_decoding_matches_one_pass(trained_model):
    ids, reference = _reference(trained_model)
    loaded = load_model(trained_model, "fp32")
    cache = loaded.model.new_cache(1, ids.shape[1])
    with torch.inference_mode():
        rows = [loaded.model(ids[:, :5], cache)]
        rows += [loaded.model(ids[:, i : i + 1], cache) for i in range(5, ids.shape[1])]
    stepwise = torch.cat(rows)
    assert torch.allclose(stepwise, reference[4:], atol=1e-3)


def test_int8_stays_close_to_fp32(trained_model):
    ids, reference = _reference(trained_model)
    loaded = load_model(trained_model, "int8")
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
        loaded = load_model(directory, "fp32")
        ours = loaded.model(ids, loaded.model.new_cache(1, 3))[0]
    assert torch.allclose(ours, reference, atol=1e-3)
