"""Fixtures: tiny real GPT-2 models saved with `save_pretrained`, and private user directories.

Each model has a byte-level BPE tokenizer trained here, with `tokenizers`, on text written
here, so the real loading code runs end to end and nothing is downloaded.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The suite is hermetic: whatever Hugging Face settings the caller's shell holds (a token, an
# endpoint, TRANSFORMERS_OFFLINE as a researcher working offline has it, a cache elsewhere) are
# dropped here, for this process and the processes the tests start; each test sets what it needs.
for _name in [
    name for name in os.environ if name.startswith(("HF_", "HUGGINGFACE_", "HUGGING_FACE_", "TRANSFORMERS_"))
]:
    del os.environ[_name]
# huggingface_hub and datasets read this once, at import, and session-scoped fixtures import them
# before the per-test `user_dirs` fixture runs: without it an offline test waits on DNS retries.
os.environ["HF_HUB_OFFLINE"] = "1"

from tests.helpers import SENTENCES, build_model  # noqa: E402 (after the environment is set)


def built_once(tmp_path_factory, name: str, builder=build_model, **shape) -> Path:
    """A tiny model built once for the whole run (by `builder`, GPT-2 by default): under xdist the
    first worker to ask builds it (the others wait on its lock) in the folder the workers of this
    run share."""
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # pytest-N/popen-gwK: pytest-N is this run's, and every worker's
    directory = shared / "models" / name
    directory.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(directory) + ".lock"):
        if not (directory / ".built").exists():
            builder(directory, **shape)
            (directory / ".built").touch()
    return directory


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A random-weight tiny GPT-2: fast, and its text is noise."""
    return built_once(tmp_path_factory, "tiny-random")


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory) -> Path:
    """A tiny GPT-2 trained to repeat SENTENCES: its greedy text has real sentence ends."""
    return built_once(tmp_path_factory, "tiny-trained", corpus=" ".join(SENTENCES), train_steps=400)


@pytest.fixture(scope="session")
def four_layer_model(tmp_path_factory) -> Path:
    """A random-weight 4-layer tiny GPT-2: the recipe's frozen/trained split has both sides."""
    return built_once(tmp_path_factory, "tiny-4-layer", n_layer=4)


@pytest.fixture(scope="session")
def endless_model(tmp_path_factory) -> Path:
    """Wide enough to take a while per step, and no end token: only length or a cancel ends it."""
    return built_once(tmp_path_factory, "endless-wide", n_positions=1024, n_embd=256, with_eos=False)


@pytest.fixture(scope="session")
def fast_endless_model(tmp_path_factory) -> Path:
    """No end token, and quick steps: every alternative runs to max_new_tokens, soon."""
    return built_once(tmp_path_factory, "endless-narrow", n_positions=256, with_eos=False)


@pytest.fixture
def abstracts(tmp_path) -> Path:
    """A learnable JSONL corpus: 120 abstracts of the tokenizer's own sentences, half cs.AI."""
    import json

    path = tmp_path / "abstracts.jsonl"
    rows = [
        {
            "abstract": " ".join(SENTENCES[(i + k) % len(SENTENCES)] for k in range(4)) + f" Case {i}.",
            "categories": "cs.AI" if i % 2 else "math.ST",
        }
        for i in range(120)
    ]
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


@pytest.fixture(scope="session")
def family_model(tmp_path_factory):
    """A tiny Llama-family model of a variant in `tests.families.VARIANTS`, built once per run:
    `family_model("qwen3")`, `family_model("llama-gqa", sentencepiece=True)`."""
    from tests.families import build_family_model

    def make(variant: str = "llama-gqa", **options) -> Path:
        name = "-".join([variant, *(f"{key}={value}" for key, value in sorted(options.items()))])
        return built_once(tmp_path_factory, name, build_family_model, variant=variant, **options)

    return make
