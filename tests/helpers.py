"""The tests' shared helpers: tiny real models (a tokenizer trained here on text written here),
the command line run in-process, and apps on tiny models with waits on what they show."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from arxiv_tui.cli.main import main
from arxiv_tui.runtime.model_template import write_template
from arxiv_tui.runtime.packed import can_pack_half
from arxiv_tui.runtime.settings import DEFAULT_TEMPLATE
from arxiv_tui.tui.app import ArxivApp
from arxiv_tui.tui.config import Config

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


needs_fp16 = pytest.mark.skipif(not can_pack_half(), reason="fbgemm's fp16 linears run on x86 CPUs only")


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
    directory: Path,
    corpus: str = CORPUS,
    train_steps: int = 0,
    n_positions: int = 128,
    seed: int = 0,
    n_embd: int = 32,
    with_eos: bool = True,
    n_layer: int = 2,
    template: str | None = DEFAULT_TEMPLATE,
) -> Path:
    """Save an `n_layer`-layer GPT-2 (optionally trained on `corpus` for a few steps) in `directory`.

    Without `with_eos` the tokenizer has no end token, so text only ends at the length limit. The
    model says it was trained with `template`, as the seed and `finetune`'s models do (None: a
    base model, which says nothing).
    """
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(directory, corpus, with_eos=with_eos)
    torch.manual_seed(seed)
    config = GPT2Config(
        n_layer=n_layer,
        n_head=2,
        n_embd=n_embd,
        n_positions=n_positions,
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model = GPT2LMHeadModel(config)
    if train_steps:
        _train(model, tokenizer, corpus, train_steps, block=min(128, n_positions))
    model.save_pretrained(directory)
    if template is not None:
        write_template(directory, template)
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


def run_cli(capsys, *argv, stdin: str | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, expected_code=2, mentions=""):
    assert code == expected_code
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("arxiv-tui: error: "), err
    assert mentions in lines[0]
    assert "Traceback" not in err


async def wait_for(pilot, condition, timeout: float = 15.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not reached in time")


class RecordingApp(ArxivApp):
    """The app, keeping every notice it shows, so tests read what a user saw from `notices`
    rather than from Textual's internals (a notice that timed out still counts)."""

    # Textual reads a relative CSS_PATH beside the subclass's own module: name the app's file.
    CSS_PATH = Path(sys.modules[ArxivApp.__module__].__file__).with_name("app.tcss")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.notices: list[str] = []

    def notify(self, message, *args, **kwargs) -> None:
        self.notices.append(str(message))
        super().notify(message, *args, **kwargs)


def no_model_app(tmp_path, history=None) -> ArxivApp:
    """An app whose model never loads: typing, saving and the history work all the same."""
    return RecordingApp(config=Config(model=str(tmp_path / "no-model"), precision="fp32"), history=history)


def notices(app: RecordingApp) -> str:
    """The notifications the app has shown, in one string."""
    return " | ".join(app.notices)


def make_app(model, **config) -> RecordingApp:
    return RecordingApp(config=Config(model=str(model), debounce_s=0.05, precision="fp32", **config))


def assert_ghost_of(app, text: str) -> None:
    """The editor shows `text` after the cursor as ghost text, as much as fits on the cursor's row."""
    editor = app.drafting.editor
    room = editor.content_region.right - editor.cursor_screen_offset.x
    assert room > 0 and editor.suggestion == text[:room]


async def type_and_wait(pilot, app, text: str) -> None:
    await wait_for(pilot, lambda: app.drafting.engine is not None)
    await pilot.press(*text)
    await wait_for(
        pilot,
        lambda: (
            app.drafting.status.state == "idle" and not app.drafting.session.stale and all(app.drafting.panel.texts())
        ),
    )


def written(ref):
    """An id the app got from a history write: the write's Future's value, once done."""
    return ref.result(timeout=10) if hasattr(ref, "result") else ref


def saved_history(app):
    """The app's history once every write the app submitted is done."""
    assert app.keeper.writer.flush(10)
    return app.history


def sql(path, query: str) -> list[tuple]:
    """Rows of `query` on the history file at `path`, through a connection of the test's own."""
    import sqlite3

    db = sqlite3.connect(path)
    try:
        return db.execute(query).fetchall()
    finally:
        db.close()


def fill_disk(history, full: bool) -> None:
    """Make the history's disk full (no page may be added) or give it room again. SQLite's page
    limit belongs to a connection, so this is the one place a test reaches into the history's."""
    pages = history._read("PRAGMA page_count")[0][0] if full else 1073741823
    history._read(f"PRAGMA max_page_count = {pages}")


def garbled_history(path) -> None:
    """A history of 300 requests in 12 drafts with one index page garbled: every table still
    reads, and `PRAGMA quick_check` reports the damage."""
    from arxiv_tui.bench.history import fill_history
    from arxiv_tui.store.history import History

    history = History(path)
    fill_history(history, 300)
    assert history.damage() is None
    history.close()
    ((root,),) = sql(path, "SELECT rootpage FROM sqlite_master WHERE name = 'requests_by_draft'")
    ((page_size,),) = sql(path, "PRAGMA page_size")
    with open(path, "r+b") as file:
        file.seek((root - 1) * page_size + 100)
        file.write(b"\xff" * 200)


def finetune_args(base, data, output, *extra: str, steps: int = 4, eval_samples: int = 6) -> list[str]:
    """`finetune` on a tiny model in seconds: a few steps of batch 2 x 32 tokens."""
    return [
        "finetune", "--base", str(base), "--data", str(data), "--output", str(output),
        "--steps", str(steps), "--batch-size", "2", "--max-length", "32",
        "--eval-samples", str(eval_samples), "--warmup-steps", "1", *extra,
    ]  # fmt: skip
