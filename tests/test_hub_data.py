"""`--data hf:NAME[:CONFIG]` against the stand-in Hub (`tests/fake_hub.py`): the data set's files
arrive with a bar of bytes, only the chosen configuration's, in the standard HF cache, and
`datasets` reads them (labels by name) from there; bad names are one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.fake_hub import FakeHub
from tests.helpers import SENTENCES, finetune_args

LABELS = ("math.AC", "cs.CV", "cs.AI")
CARD = """---
configs:
- config_name: default
  default: true
  data_files:
  - split: train
    path: data/train-*
  - split: test
    path: data/test-*
- config_name: other
  data_files: other/*.jsonl
dataset_info:
  features:
  - name: abstract
    dtype: string
  - name: label
    dtype:
      class_label:
        names:
          '0': math.AC
          '1': cs.CV
          '2': cs.AI
---
# A data set of abstracts
"""


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    """A card with two configurations; the default's files (labels as ints) and a big other one."""
    folder = tmp_path_factory.mktemp("hub-dataset")
    (folder / "README.md").write_text(CARD)
    (folder / "data").mkdir()
    (folder / "other").mkdir()
    for split, count in (("train", 90), ("test", 10)):
        rows = [
            {
                "abstract": " ".join(SENTENCES[(i + k) % len(SENTENCES)] for k in range(4)) + f" {split} {i}.",
                "label": i % 3,
            }
            for i in range(count)
        ]
        (folder / "data" / f"{split}-00000-of-00001.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (folder / "other" / "big.jsonl").write_text(json.dumps({"abstract": "x " * 3_000_000, "label": 0}))
    return folder


@pytest.fixture
def hub(dataset_dir, monkeypatch, user_dirs):
    served = FakeHub({"datasets/someone/abstracts": dataset_dir})
    monkeypatch.setenv("HF_ENDPOINT", served.endpoint)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    yield served
    served.close()


def finetune(model, data: str, output, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "arxiv_tui",
            *finetune_args(model, data, output, *extra, steps=2),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "120"},
        check=False,
    )


def test_a_hub_data_set_arrives_with_byte_progress_and_labels_by_name(hub, four_layer_model, tmp_path, user_dirs):
    hub.bytes_per_s = 200_000  # a bar is drawn (rich draws on a refresh, not on every update)
    done = finetune(four_layer_model, "hf:someone/abstracts", tmp_path / "m", "--categories", "cs.AI", "--json")
    assert done.returncode == 0, done.stderr
    assert "downloading someone/abstracts" in done.stderr and "kB" in done.stderr and "/s" in done.stderr
    metrics = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert metrics["train_texts"] == 30 - 3  # the train split's cs.AI rows (label 2) less a tenth held out
    cache = user_dirs / "hf" / "hub" / "datasets--someone--abstracts"
    fetched = {p.name for p in (cache / "snapshots").rglob("*") if p.is_file() or p.is_symlink()}
    assert fetched == {"README.md", "train-00000-of-00001.jsonl", "test-00000-of-00001.jsonl"}  # not other/
    before = hub.file_requests
    again = finetune(four_layer_model, "hf:someone/abstracts", tmp_path / "m2", "--categories", "cs.AI")
    assert again.returncode == 0, again.stderr
    assert hub.file_requests == before  # the files are in the cache; only the head is asked for


@pytest.mark.parametrize(
    ("data", "code", "mentions"),
    [
        ("hf:someone/abstracts:nope", 2, "hf:someone/abstracts has no configuration 'nope' (it has: default, other)"),
        (
            "hf:someone/missing",
            1,
            "cannot load hf:someone/missing from the Hugging Face Hub: no data set someone/missing",
        ),
    ],
)
def test_a_bad_hub_data_set_is_one_line(hub, four_layer_model, tmp_path, data, code, mentions):
    done = finetune(four_layer_model, data, tmp_path / "m")
    assert done.returncode == code and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("arxiv-tui: error: ") and mentions in done.stderr
