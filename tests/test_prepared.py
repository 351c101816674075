"""Prepared training data: selection in bounded memory, token rows on disk, and the cache that
reuses them while nothing they depend on changed."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from arxiv_tui.bench.snapshot_sample import write_snapshot
from arxiv_tui.trainer.data.blocks import IGNORE, encode
from arxiv_tui.trainer.data.cache import clear, entries
from arxiv_tui.trainer.data.prepared import prepare
from arxiv_tui.trainer.data.records import Record
from arxiv_tui.trainer.data.selection import select
from arxiv_tui.trainer.recipe import Recipe
from tests.helpers import CORPUS, build_model, finetune_args, run_cli


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(build_model(tmp_path_factory.mktemp("prep-model")))


@pytest.fixture
def snapshot(tmp_path):
    path = tmp_path / "arxiv-metadata-oai-snapshot.json"
    write_snapshot(path, 400)
    return path


def _recipe(data, **changes) -> Recipe:
    settings = {"samples": 50, "eval_samples": 10, "max_length": 32, "categories": ("cs.AI",), **changes}
    return Recipe(data=str(data), **settings)


CHANGES = {"categories": ("cs.LG",), "seed": 7, "samples": 60, "template": "Abstract: ", "pack": False}


def test_selection_writes_only_texts_that_can_still_be_chosen(tmp_path):
    records = [Record(f"abstract number {i} " + "word " * 50) for i in range(20_000)]
    corpus = select(records, source="x", train_samples=40, eval_samples=10, seed=0, spool_dir=tmp_path)
    written = corpus.train.spooled_bytes
    everything = sum(len(" ".join(r.text.split())) for r in records)
    expected = 50 * (1 + math.log(20_000 / 50))  # texts that ever rank among the 50 smallest keys
    assert written < 3 * expected * (everything / len(records))
    assert written < everything / 20  # under 5% of the text read
    assert len(corpus.train) == 40 and corpus.stats.texts_read == 20_000


def test_fast_encoding_matches_the_tokenizer(tokenizer):
    texts = ["We study graphs.", "Neural networks, and more: 42 tests."]
    expected = tokenizer(["T: " + t for t in texts], add_special_tokens=False)["input_ids"]
    assert encode(tokenizer, texts, "T: ") == [[*ids, tokenizer.eos_token_id] for ids in expected]


def test_rows_on_disk_hold_every_text_and_pad_the_held_out_ones(tokenizer, snapshot, tmp_path):
    prepared = prepare(_recipe(snapshot), tokenizer, root=tmp_path / "cache")
    assert not prepared.reused and prepared.train.ids.dtype == np.uint16
    assert len(prepared.eval) == 10 and prepared.stats.eval_texts == 10
    input_ids, labels = prepared.train.rows(slice(0, 2))  # packed: full rows, labels the ids
    assert input_ids.shape == (2, 32) and (labels == input_ids).all()
    total_tokens = sum(len(ids) for ids in encode(tokenizer, list(_train_texts(snapshot, tokenizer)), Recipe.template))
    assert len(prepared.train) == total_tokens // 32
    ids, labels = prepared.eval.rows(slice(None))
    for row in range(len(prepared.eval)):
        length = int(prepared.eval.lengths[row])
        assert (labels[row, length:] == IGNORE).all() and (labels[row, :length] == ids[row, :length]).all()


def _train_texts(snapshot, tokenizer):
    from arxiv_tui.trainer.data.selection import load_corpus

    return load_corpus(str(snapshot), train_samples=50, eval_samples=10, seed=Recipe.seed, categories=("cs.AI",)).train


def test_the_same_inputs_reuse_the_prepared_rows(tokenizer, snapshot, tmp_path):
    root = tmp_path / "cache"
    first = prepare(_recipe(snapshot), tokenizer, root=root)
    again = prepare(_recipe(snapshot), tokenizer, root=root)
    assert again.reused and again.directory == first.directory
    assert (again.train.rows(slice(None))[0] == first.train.rows(slice(None))[0]).all()
    assert prepare(_recipe(snapshot, steps=7, lr=1e-3), tokenizer, root=root).reused  # training settings don't matter


@pytest.mark.parametrize("change", ["file", "tokenizer", "categories", "seed", "samples", "template", "pack"])
def test_a_changed_input_is_prepared_anew(tokenizer, snapshot, tmp_path, change):
    root = tmp_path / "cache"
    first = prepare(_recipe(snapshot), tokenizer, root=root)
    recipe, used_tokenizer = _recipe(snapshot), tokenizer
    if change == "file":
        text = snapshot.read_text()
        snapshot.write_text(text.replace("Study 1:", "Study X:", 1))  # same size, new content
    elif change == "tokenizer":
        from transformers import AutoTokenizer

        used_tokenizer = AutoTokenizer.from_pretrained(build_model(tmp_path / "other", corpus=CORPUS.upper()))
    else:
        recipe = _recipe(snapshot, **{change: CHANGES[change]})
    second = prepare(recipe, used_tokenizer, root=root)
    assert not second.reused and second.directory != first.directory


def test_list_and_clear_the_cache(capsys, tokenizer, snapshot, user_dirs):
    prepared = prepare(_recipe(snapshot), tokenizer)
    code, out, err = run_cli(capsys, "data", "list")
    assert code == 0, err
    assert prepared.directory.name in out and str(snapshot) in out and "60 texts" in out
    (prepared.directory.parent / ".x.partial-999").mkdir()  # left by a killed run
    listed = entries()
    assert [entry.name for entry in listed] == [prepared.directory.name]
    code, out, err = run_cli(capsys, "data", "clear", "nope")
    assert code == 2 and "no prepared data named nope" in err
    code, out, err = run_cli(capsys, "data", "clear")
    assert code == 0 and "freed" in out
    assert not entries() and not [p for p in prepared.directory.parent.iterdir() if p.suffix != ".lock"]
    assert len(prepared.train.rows(slice(0, 1))[0]) == 1  # a run still training on it keeps reading
    assert clear() == 0


def test_finetune_reports_preparation_then_reuses_it(capsys, four_layer_model, snapshot, tmp_path, user_dirs):
    def run(output: str) -> list[dict]:
        code, out, err = run_cli(
            capsys,
            *finetune_args(
                four_layer_model,
                snapshot,
                tmp_path / output,
                "--categories",
                "cs.AI",
                "--samples",
                "50",
                "--json",
                steps=2,
                eval_samples=10,
            ),
        )
        assert code == 0, err
        return [json.loads(line) for line in out.splitlines()]

    first = run("first")
    prepares = [e for e in first if e["event"] == "prepare"]
    assert {e["stage"] for e in prepares} == {"reading", "tokenizing", "indexing"}
    reading = [e for e in prepares if e["stage"] == "reading"]
    assert reading[-1]["done"] == reading[-1]["total"] == os.path.getsize(snapshot) and reading[-1]["unit"] == "bytes"
    assert [e for e in prepares if e["stage"] == "tokenizing"][-1]["done"] == 60
    (entry,) = entries()
    remembered = user_dirs / "data" / "arxiv-tui" / "prepared" / entry.name / "remembered.json"
    known = json.loads(remembered.read_text())  # the base model's held-out loss, kept for the next run
    (result,) = known.values()
    result["eval_loss"] = 123.0  # a value no model gives: seen again only if it is reused
    remembered.write_text(json.dumps(known))
    second = run("second")
    assert not [e for e in second if e["event"] == "prepare"]
    assert any("reusing the data prepared" in e.get("stage", "") for e in second)
    metrics = [json.loads((tmp_path / name / "metrics.json").read_text()) for name in ("first", "second")]
    assert metrics[0]["train_rows"] == metrics[1]["train_rows"] and metrics[0]["eval_loss"] == metrics[1]["eval_loss"]
    assert metrics[1]["base_eval_loss"] == 123.0


def test_a_damaged_entry_is_built_again_and_an_unwritable_cache_is_skipped(tokenizer, snapshot, tmp_path):
    root = tmp_path / "cache"
    first = prepare(_recipe(snapshot), tokenizer, root=root)
    (first.directory / "eval.lengths.npy").unlink()  # removed by hand
    again = prepare(_recipe(snapshot), tokenizer, root=root)
    assert not again.reused and (again.directory / "eval.lengths.npy").exists()
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    scratch = prepare(_recipe(snapshot), tokenizer, root=blocked / "cache")  # the cache can't be made
    assert not scratch.reused and len(scratch.train) == len(first.train)
