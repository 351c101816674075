"""Fixtures: tiny real GPT-2 models saved with `save_pretrained`, and private user directories.

Each model has a byte-level BPE tokenizer trained here, with `tokenizers`, on text written
here, so the real loading code runs end to end and nothing is downloaded.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# huggingface_hub and datasets read this once, at import, and session-scoped fixtures import them
# before the per-test `user_dirs` fixture runs: without it an offline test waits on DNS retries.
os.environ["HF_HUB_OFFLINE"] = "1"

SENTENCES = [
    "We propose a new method for graph learning.",
    "The results show e.g. large gains on Fig. 3 benchmarks.",
    "Our model improves accuracy by 3.5 points.",
    "Smith et al. study the same problem.",
    "We evaluate it on five data sets.",
    "The code is public.",
]
# Characters that byte-level BPE splits over several tokens when the vocabulary is small.
WIDE_CHARS = "中文 é ≤ ∑ 😀 naïve café ≥ 數據"
CORPUS = " ".join(SENTENCES) + " " + WIDE_CHARS


def build_tokenizer(directory: Path, corpus: str, vocab_size: int = 300, with_eos: bool = True):
    """Train a GPT-2-style byte-level BPE tokenizer on `corpus` and save it in `directory`."""
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator([corpus] * 20, trainer)
    eos = "<|endoftext|>" if with_eos else None
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token=eos, eos_token=eos, unk_token=eos)
    fast.save_pretrained(directory)
    return fast


def build_model(
    directory: Path, corpus: str = CORPUS, train_steps: int = 0, n_positions: int = 128, seed: int = 0,
    n_embd: int = 32, with_eos: bool = True, n_layer: int = 2,
) -> Path:
    """Save an `n_layer`-layer GPT-2 (optionally trained on `corpus` for a few steps) in `directory`.

    Without `with_eos` the tokenizer has no end token, so text only ends at the length limit.
    """
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(directory, corpus, with_eos=with_eos)
    torch.manual_seed(seed)
    config = GPT2Config(
        n_layer=n_layer, n_head=2, n_embd=n_embd, n_positions=n_positions, vocab_size=len(tokenizer),
        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    model = GPT2LMHeadModel(config)
    if train_steps:
        _train(model, tokenizer, corpus, train_steps, block=min(128, n_positions))
    model.save_pretrained(directory)
    return directory


def _train(model, tokenizer, corpus: str, steps: int, block: int) -> None:
    """Fit the model to a repeated corpus, so greedy text follows it (sentences, periods)."""
    import torch

    ids = tokenizer((corpus + " ") * 8, return_tensors="pt")["input_ids"][0]
    blocks = ids[: len(ids) // block * block].view(-1, block)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for step in range(steps):
        batch = blocks[step % len(blocks)][None]
        loss = model(batch, labels=batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A random-weight tiny GPT-2: fast, and its text is noise."""
    return build_model(tmp_path_factory.mktemp("tiny-random"))


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory) -> Path:
    """A tiny GPT-2 trained to repeat SENTENCES: its greedy text has real sentence ends."""
    return build_model(tmp_path_factory.mktemp("tiny-trained"), corpus=" ".join(SENTENCES), train_steps=400)


@pytest.fixture(scope="session")
def four_layer_model(tmp_path_factory) -> Path:
    """A random-weight 4-layer tiny GPT-2: the recipe's frozen/trained split has both sides."""
    return build_model(tmp_path_factory.mktemp("tiny-4-layer"), n_layer=4)


@pytest.fixture
def abstracts(tmp_path) -> Path:
    """A learnable JSONL corpus: 120 abstracts of the tokenizer's own sentences, half cs.AI."""
    import json

    path = tmp_path / "abstracts.jsonl"
    rows = [{"abstract": " ".join(SENTENCES[(i + k) % len(SENTENCES)] for k in range(4)) + f" Case {i}.",
             "categories": "cs.AI" if i % 2 else "math.ST"} for i in range(120)]
    path.write_text("\n".join(json.dumps(row) for row in rows))
    return path


@pytest.fixture(autouse=True)
def user_dirs(tmp_path, monkeypatch) -> Path:
    """Point the data, config and Hugging Face directories into the test's tmp dir, offline."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path


@pytest.fixture(scope="session")
def engine_factory():
    """Load an Engine for a model directory, once per (directory, precision)."""
    from arxiv_tui.runtime.engine import Engine
    from arxiv_tui.runtime.checkpoint import load_model

    engines = {}

    def make(directory: Path, precision: str = "fp32"):
        key = (directory, precision)
        if key not in engines:
            engines[key] = Engine(load_model(directory, precision))
        engines[key].forget_prompt()
        return engines[key]

    return make
