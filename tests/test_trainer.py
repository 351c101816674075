"""Fine-tuning on tiny real models: parameter sets, fused loss, schedule, learning, resume, output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from arxiv_tui.trainer.data.blocks import IGNORE
from arxiv_tui.trainer.finetune import finetune, partial_path
from arxiv_tui.trainer.recipe import Recipe
from arxiv_tui.trainer.training.head_loss import CHUNK_ROWS, lm_head_loss
from arxiv_tui.trainer.training.model import RecipeModel, freeze_for_recipe, parameter_counts


def small_recipe(base: Path, data: Path, **changes) -> Recipe:
    settings = {
        "base": str(base),
        "data": str(data),
        "samples": 100,
        "eval_samples": 12,
        "max_length": 32,
        "batch_size": 4,
        "steps": 12,
        "warmup_steps": 3,
        "lr": 3e-3,
    }
    return Recipe(**{**settings, **changes})


def test_distilgpt2_shape_trains_the_published_parameter_count():
    from transformers import GPT2Config, GPT2LMHeadModel

    lm = GPT2LMHeadModel(GPT2Config(n_layer=6))  # distilgpt2's shape
    freeze_for_recipe(lm, train_last_blocks=2, untie_lm_head=False)
    assert parameter_counts(lm) == (14_177_280, 81_912_576)


def test_frozen_and_trainable_sets(four_layer_model):
    from transformers import GPT2LMHeadModel

    lm = GPT2LMHeadModel.from_pretrained(four_layer_model)
    RecipeModel(lm, train_last_blocks=2, compute_dtype=torch.float32)
    trainable = {name for name, p in lm.named_parameters() if p.requires_grad}
    assert trainable == {
        name
        for name, _ in lm.named_parameters()
        if name.startswith(("transformer.h.2.", "transformer.h.3.", "transformer.ln_f."))
    }
    assert lm.lm_head.weight is lm.transformer.wte.weight and not lm.lm_head.weight.requires_grad


def test_untied_head_trains_its_own_copy(four_layer_model):
    from transformers import GPT2LMHeadModel

    tied = GPT2LMHeadModel.from_pretrained(four_layer_model)
    freeze_for_recipe(tied, 2, untie_lm_head=False)
    lm = GPT2LMHeadModel.from_pretrained(four_layer_model)
    freeze_for_recipe(lm, 2, untie_lm_head=True)
    assert lm.lm_head.weight is not lm.transformer.wte.weight
    assert lm.lm_head.weight.requires_grad and not lm.transformer.wte.weight.requires_grad
    head = lm.lm_head.weight.numel()
    assert parameter_counts(lm) == (parameter_counts(tied)[0] + head, parameter_counts(tied)[1] + head)
    assert not lm.config.tie_word_embeddings


@pytest.mark.parametrize("train_weight", [False, True])
def test_fused_head_loss_matches_cross_entropy(train_weight):
    torch.manual_seed(0)
    rows = CHUNK_ROWS + 44  # two chunks, the second short
    hidden = torch.randn(rows, 16, requires_grad=True)
    weight = torch.randn(50, 16, requires_grad=train_weight)
    targets = torch.randint(0, 50, (rows,))
    targets[::7] = IGNORE
    loss = lm_head_loss(hidden, weight, targets)
    loss.backward()
    ref_hidden, ref_weight = (
        hidden.detach().clone().requires_grad_(),
        weight.detach().clone().requires_grad_(train_weight),
    )
    reference = torch.nn.functional.cross_entropy(ref_hidden @ ref_weight.t(), targets, ignore_index=IGNORE)
    reference.backward()
    assert torch.allclose(loss, reference, atol=1e-5)
    assert torch.allclose(hidden.grad, ref_hidden.grad, atol=1e-6)
    if train_weight:
        assert torch.allclose(weight.grad, ref_weight.grad, atol=1e-6)
    with torch.no_grad():
        assert torch.allclose(lm_head_loss(hidden, weight, targets), reference, atol=1e-5)


def test_recipe_forward_equals_transformers_loss(four_layer_model):
    from transformers import GPT2LMHeadModel

    lm = GPT2LMHeadModel.from_pretrained(four_layer_model).eval()
    ids = torch.randint(0, lm.config.vocab_size, (3, 20))
    with torch.no_grad():
        reference = lm(input_ids=ids, labels=ids).loss
        ours = RecipeModel(lm, 2, torch.float32).eval()(ids, ids)
    assert torch.allclose(ours, reference, atol=1e-5)


def test_schedule_is_transformers_cosine_with_warmup(four_layer_model, abstracts, tmp_path):
    from transformers import get_cosine_schedule_with_warmup

    reports = []
    finetune(small_recipe(four_layer_model, abstracts), tmp_path / "out", precision="fp32", report=reports.append)
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=3e-3)
    schedule = get_cosine_schedule_with_warmup(optimizer, 3, 12)
    expected = []
    for _ in range(12):
        expected.append(schedule.get_last_lr()[0])
        optimizer.step()
        schedule.step()
    assert [r.step for r in reports] == list(range(1, 13))
    assert [r.lr for r in reports] == pytest.approx(expected)


def test_loss_falls_and_output_is_a_complete_registered_model(four_layer_model, abstracts, tmp_path, engine_factory):
    from transformers import GPT2LMHeadModel

    from arxiv_tui.runtime.engine import GenerationSettings
    from arxiv_tui.runtime.registry import resolve_model

    output = tmp_path / "my-model"
    # With the tiny model's random embedding frozen as the head, learning is slow: train a head too.
    outcome = finetune(small_recipe(four_layer_model, abstracts, steps=40, lr=1e-2, untie_lm_head=True), output)
    metrics = outcome.metrics
    assert metrics.eval_loss < metrics.base_eval_loss - 1.0
    assert metrics.steps == 40 and metrics.train_seconds > 0
    written = json.loads((output / "metrics.json").read_text())
    assert written["eval_loss"] == metrics.eval_loss
    for key in ("train_loss", "perplexity", "base_perplexity", "trainable_params", "total_params", "seconds"):
        assert written[key] == getattr(metrics, key)
    card = (output / "README.md").read_text()
    assert "## Results" in card and f"{metrics.eval_loss:.2f}" in card and "We propose" in card
    assert not partial_path(output).exists() and not (output / "checkpoint.pt").exists()
    reloaded = GPT2LMHeadModel.from_pretrained(output)
    assert not reloaded.config.tie_word_embeddings
    assert not torch.equal(reloaded.lm_head.weight, reloaded.transformer.wte.weight)
    assert resolve_model("my-model") == output.absolute()
    engine = engine_factory(output)
    result = engine.generate("We propose", GenerationSettings(n=2, max_new_tokens=5, seed=1))
    assert len(result) == 2 and all(alt.tokens for alt in result)


def test_resume_after_interrupt_continues_to_the_same_model(four_layer_model, abstracts, tmp_path):
    recipe = small_recipe(four_layer_model, abstracts)
    straight = finetune(recipe, tmp_path / "straight", precision="fp32").metrics

    output = tmp_path / "interrupted"
    reports = []
    first = finetune(recipe, output, precision="fp32", report=reports.append, stop_requested=lambda: len(reports) >= 5)
    assert first.metrics is None and first.step == 5
    assert not output.exists() and (partial_path(output) / "checkpoint.pt").exists()

    resumed_reports = []
    second = finetune(recipe, output, precision="fp32", resume=True, report=resumed_reports.append)
    assert [r.step for r in resumed_reports] == list(range(6, 13))
    assert second.metrics.steps == 12
    assert second.metrics.eval_loss == pytest.approx(straight.eval_loss, rel=1e-5)
    assert second.metrics.train_loss == pytest.approx(straight.train_loss, rel=1e-5)


def test_resume_refuses_changed_settings(four_layer_model, abstracts, tmp_path):
    from arxiv_tui.trainer.errors import TrainerError

    output = tmp_path / "out"
    reports = []
    finetune(
        small_recipe(four_layer_model, abstracts),
        output,
        precision="fp32",
        report=reports.append,
        stop_requested=lambda: len(reports) >= 2,
    )
    with pytest.raises(TrainerError, match="other settings"):
        finetune(small_recipe(four_layer_model, abstracts, lr=1e-3), output, precision="fp32", resume=True)
