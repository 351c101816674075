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

from tests.helpers import SENTENCES, build_model  # noqa: E402 (after the environment is set)


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
    from arxiv_tui.runtime.checkpoint import load_model
    from arxiv_tui.runtime.engine import Engine

    engines = {}

    def make(directory: Path, precision: str = "fp32"):
        key = (directory, precision)
        if key not in engines:
            engines[key] = Engine(load_model(directory, precision))
        engines[key].forget_prompt()
        return engines[key]

    return make
