"""Fine-tuning the Llama family: the recipe's freezing generalised, LoRA adapters through peft
merged into a plain checkpoint, and the loss the fast forward computes equal to transformers'."""

from __future__ import annotations

import csv
import json
import random

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from arxiv_tui.runtime.checkpoint import load_model
from arxiv_tui.runtime.engine import Engine
from arxiv_tui.runtime.settings import DEFAULT_TEMPLATE
from arxiv_tui.trainer.data.blocks import encode
from arxiv_tui.trainer.training.model import LoraSettings, RecipeModel, parameter_counts
from tests.helpers import SENTENCES, assert_one_line_error, finetune_args, run_cli


@pytest.fixture
def abstracts_csv(tmp_path):
    """A CSV of 80 abstracts made of the tokenizer's own sentences, as a user's export would be."""
    rng = random.Random(0)
    path = tmp_path / "abstracts.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["title", "abstract"])
        for i in range(80):
            writer.writerow([f"Paper {i}", " ".join(rng.sample(SENTENCES, 4))])
    return path


def load(directory):
    return AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32, attn_implementation="sdpa")


@pytest.mark.parametrize("variant", ["llama-gqa", "qwen3", "mistral"])
def test_the_fast_forward_computes_transformers_loss(variant, family_model):
    directory = family_model(variant)
    ids = torch.tensor([AutoTokenizer.from_pretrained(directory)(" ".join(SENTENCES))["input_ids"][:48]] * 2)
    expected = load(directory).eval()(ids, labels=ids).loss
    ours = RecipeModel(load(directory), 1, torch.float32).eval()(ids, ids)
    assert torch.allclose(ours, expected, atol=1e-5)


def test_full_fine_tuning_trains_the_top_blocks_and_the_norm(family_model):
    lm = load(family_model("qwen3", n_layer=4))
    RecipeModel(lm, 2, torch.float32)
    trainable = {name for name, p in lm.named_parameters() if p.requires_grad}
    assert trainable and all(
        name.startswith(("model.layers.2.", "model.layers.3.", "model.norm.")) for name in trainable
    )
    assert lm.lm_head.weight is lm.model.embed_tokens.weight and not lm.lm_head.weight.requires_grad


def test_an_untied_head_trains_with_the_top(family_model):
    lm = load(family_model("llama-untied-biases"))
    model = RecipeModel(lm, 1, torch.float32)
    assert lm.lm_head.weight.requires_grad and not lm.model.embed_tokens.weight.requires_grad
    assert model.head_role() == "untied and trained"


def test_lora_trains_only_adapters_on_the_chosen_blocks(family_model):
    lm = load(family_model("llama-gqa", n_layer=4))
    total_before = parameter_counts(lm)[1]
    model = RecipeModel(lm, 2, torch.float32, lora=LoraSettings(4, 8.0, ("q_proj", "v_proj")))
    trainable = [name for name, p in lm.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name for name in trainable)
    assert all(name.startswith(("model.layers.2.", "model.layers.3.")) for name in trainable)
    # rank 4 on q (64 -> 64) and v (64 -> 32) of two blocks: A is r x in, B is out x r
    assert parameter_counts(lm)[0] == 2 * (4 * 64 + 64 * 4 + 4 * 64 + 32 * 4)
    merged = model.plain_model()
    assert not any("lora_" in name for name, _ in merged.named_parameters())
    assert parameter_counts(merged)[1] == total_before


def test_a_sentencepiece_models_training_rows_start_with_its_bos(family_model):
    tokenizer = AutoTokenizer.from_pretrained(family_model("llama-gqa", sentencepiece=True))
    rows = encode(tokenizer, SENTENCES[:2], DEFAULT_TEMPLATE)
    assert all(row[0] == tokenizer.bos_token_id and row[-1] == tokenizer.eos_token_id for row in rows)
    assert rows[0][1:-1] == tokenizer(DEFAULT_TEMPLATE + SENTENCES[0], add_special_tokens=False)["input_ids"]


def test_finetune_lora_writes_a_plain_model_the_app_loads(capsys, family_model, abstracts_csv, tmp_path):
    base = family_model("llama-gqa", sentencepiece=True)
    output = tmp_path / "lora-model"
    code, _, err = run_cli(capsys, *finetune_args(base, abstracts_csv, output, "--lora", "4", "--json"))
    assert code == 0, err
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["method"] == "lora" and metrics["family"] == "llama"
    assert metrics["lora"] == {"rank": 4, "alpha": 8.0, "targets": list(metrics["lora"]["targets"])}
    assert "q_proj" in metrics["lora"]["targets"] and metrics["trainable_params"] < metrics["total_params"] / 5
    card = (output / "README.md").read_text()
    assert "LoRA adapters (rank 4, alpha 8)" in card and "merged into the saved weights" in card
    plain = load(output)
    assert not any("lora" in name for name in plain.state_dict())
    assert not torch.equal(
        plain.model.layers[0].self_attn.q_proj.weight, load(base).model.layers[0].self_attn.q_proj.weight
    )
    engine = Engine(load_model(output, "fp32"))
    assert engine.template == DEFAULT_TEMPLATE  # it was trained with the template: the app prompts it so
    assert engine.generate("We propose", engine_settings())[0].tokens


def engine_settings():
    from arxiv_tui.runtime.settings import GenerationSettings

    return GenerationSettings(n=1, max_new_tokens=4, seed=1)


@pytest.mark.parametrize(("blocks", "says"), [("0", "must be 1..2"), ("3", "must be 1..2")])
def test_lora_with_blocks_out_of_range_is_one_line(capsys, family_model, abstracts_csv, tmp_path, blocks, says):
    base = family_model("llama-gqa", sentencepiece=True)
    extra = ("--lora", "4", "--train-last-blocks", blocks)
    code, _, err = run_cli(capsys, *finetune_args(base, abstracts_csv, tmp_path / "m", *extra))
    assert_one_line_error(code, err, mentions=says)


def test_lora_targets_a_model_lacks_are_one_line(capsys, family_model, abstracts_csv, tmp_path):
    base = family_model("qwen2")
    extra = ("--lora", "4", "--lora-targets", "c_attn")
    code, _, err = run_cli(capsys, *finetune_args(base, abstracts_csv, tmp_path / "m", *extra))
    assert_one_line_error(code, err, mentions="--lora-targets")
