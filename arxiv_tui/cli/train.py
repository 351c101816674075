"""`arxiv-tui finetune` and `arxiv-tui eval`: the command-line side of the `trainer` package."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
from pathlib import Path

from arxiv_tui.cli.options import (
    add_model_option,
    comma_list,
    download_progress,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    print_notice,
)
from arxiv_tui.runtime.settings import PRECISIONS, RUNTIMES, TRAINING_PRECISIONS


def add_command(commands) -> None:
    from arxiv_tui.trainer.recipe import Recipe

    r = Recipe()
    ft = commands.add_parser(
        "finetune",
        help="fine-tune a model on arXiv abstracts (the published recipe by default)",
        description="Fine-tune DistilGPT-2 on abstracts. Defaults are the published recipe; the result is "
        "registered so `arxiv-tui --model NAME` finds it.",
    )
    ft.add_argument("--base", default=r.base, metavar="M", help=f"model to start from (default {r.base})")
    _add_data_options(ft, r)
    ft.add_argument(
        "--output",
        default=None,
        metavar="DIR",
        help="where the model goes (default: the data directory's models/BASE-DATA)",
    )
    ft.add_argument("--steps", type=positive_int, default=r.steps, metavar="N")
    ft.add_argument("--samples", type=positive_int, default=r.samples, metavar="N", help="training texts")
    ft.add_argument("--eval-samples", type=positive_int, default=r.eval_samples, metavar="N", help="held-out texts")
    ft.add_argument("--batch-size", type=positive_int, default=r.batch_size, metavar="B")
    ft.add_argument("--max-length", type=positive_int, default=r.max_length, metavar="L", help="tokens per row")
    ft.add_argument("--lr", type=positive_float, default=r.lr, metavar="X")
    ft.add_argument(
        "--warmup-steps",
        type=non_negative_int,
        default=None,
        metavar="W",
        help=f"(default {r.warmup_steps}, or --steps if fewer)",
    )
    ft.add_argument("--weight-decay", type=non_negative_float, default=r.weight_decay, metavar="X")
    ft.add_argument(
        "--train-last-blocks",
        type=non_negative_int,
        default=None,
        metavar="K",
        help=f"blocks trained (or given LoRA adapters), counted from the top (default {r.train_last_blocks}; "
        "with --lora, every block)",
    )
    ft.add_argument("--untie-lm-head", action="store_true", help="train an LM head of its own (off in the recipe)")
    ft.add_argument(
        "--lora",
        type=positive_int,
        default=0,
        metavar="RANK",
        help="train LoRA adapters of this rank (peft) instead of whole blocks; merged into the saved weights",
    )
    ft.add_argument(
        "--lora-alpha", type=positive_float, default=None, metavar="X", help="LoRA scale (default 2 x RANK)"
    )
    ft.add_argument(
        "--lora-targets",
        default=None,
        metavar="LIST",
        help="projections to adapt, comma-separated (default: every one of a block, e.g. q_proj,k_proj,v_proj,"
        "o_proj,gate_proj,up_proj,down_proj; c_attn,c_proj,c_fc for GPT-2)",
    )
    ft.add_argument(
        "--no-pack",
        dest="pack",
        action="store_false",
        help="one text per row, padded, instead of texts packed end to end",
    )
    ft.add_argument(
        "--precision",
        default="auto",
        choices=TRAINING_PRECISIONS,
        help="auto: bf16 where the hardware has it, else fp32",
    )
    ft.add_argument("--resume", action="store_true", help="continue the interrupted run for --output")
    ft.add_argument(
        "--save-every",
        type=non_negative_int,
        default=50,
        metavar="N",
        help="checkpoint every N steps (0: only when interrupted; default 50)",
    )
    ft.add_argument("--json", action="store_true", help="progress and result as JSON lines on stdout")
    ft.set_defaults(run=_finetune)

    ev = commands.add_parser(
        "eval",
        help="loss and perplexity of a model on held-out abstracts",
        description="Token-weighted loss and perplexity on the held-out part of a data source "
        "(the same texts `finetune` holds out with the same --seed).",
    )
    add_model_option(ev)
    _add_data_options(ev, r)
    ev.add_argument("--samples", type=positive_int, default=r.eval_samples, metavar="N", help="held-out texts")
    ev.add_argument("--max-length", type=positive_int, default=r.max_length, metavar="L")
    ev.add_argument(
        "--precision",
        default="auto",
        choices=PRECISIONS,
        help="auto, bf16 or fp32 score with the training model; fp16, int8 and int4 with the inference runtime "
        "(as the app runs the model)",
    )
    ev.add_argument(
        "--runtime",
        default=None,
        choices=RUNTIMES,
        help="score with an inference runtime (auto: OpenVINO where it runs) in --precision, instead of the "
        "training model",
    )
    ev.add_argument("--json", action="store_true", help='print {"eval_loss", "perplexity", "tokens", "samples"}')
    ev.set_defaults(run=_eval)


def _add_data_options(parser: argparse.ArgumentParser, r) -> None:
    parser.add_argument(
        "--data",
        default=r.data,
        metavar="SRC",
        help="hf:NAME[:CONFIG], or a .txt/.jsonl/.json/.csv/.bib file (default %(default)s)",
    )
    parser.add_argument(
        "--categories",
        default=None,
        metavar="LIST",
        help="keep texts in these categories, e.g. cs.AI,cs.LG (default: the recipe's 8 CS labels for its data)",
    )
    parser.add_argument("--seed", type=int, default=r.seed, help="split and shuffle seed (default %(default)s)")


class _InterruptGate:
    """Ctrl-C during training stops after the current step (with a checkpoint); elsewhere, or twice, at once."""

    def __init__(self) -> None:
        self.requested = False
        self.training = False

    def __enter__(self) -> _InterruptGate:
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum, frame) -> None:
        if not self.training or self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def stage(self, text: str) -> None:
        from arxiv_tui.trainer.finetune import TRAINING_STAGE

        self.training = text == TRAINING_STAGE


def default_output(recipe) -> Path:
    """data_dir/models/BASE-DATA, with -2, -3... past finished models of the same name."""
    from arxiv_tui.paths import data_dir
    from arxiv_tui.trainer.finetune import partial_path

    if recipe.data.startswith("hf:"):
        label = recipe.data[3:].split(":")[0]
    elif recipe.data.startswith("history:"):
        label = "history"
    else:
        label = Path(recipe.data).stem
    stem = f"{Path(recipe.base).name}-{Path(label).name}"
    models = data_dir() / "models"
    candidate, number = models / stem, 1
    while candidate.exists() and not partial_path(candidate).exists():
        number += 1
        candidate = models / f"{stem}-{number}"
    return candidate


def _finetune(args: argparse.Namespace) -> int:
    from arxiv_tui.cli.progress import progress_display
    from arxiv_tui.trainer.finetune import finetune
    from arxiv_tui.trainer.recipe import Recipe

    recipe = Recipe(
        base=args.base,
        data=args.data,
        categories=comma_list(args.categories),
        samples=args.samples,
        eval_samples=args.eval_samples,
        max_length=args.max_length,
        batch_size=args.batch_size,
        steps=args.steps,
        lr=args.lr,
        weight_decay=args.weight_decay,
        warmup_steps=min(Recipe.warmup_steps, args.steps) if args.warmup_steps is None else args.warmup_steps,
        train_last_blocks=_blocks_trained(args),
        untie_lm_head=args.untie_lm_head,
        lora_rank=args.lora,
        lora_alpha=args.lora_alpha,
        lora_targets=comma_list(args.lora_targets),
        pack=args.pack,
        seed=args.seed,
    )
    output = Path(args.output) if args.output else default_output(recipe)
    # Under torchrun or accelerate launch, only the global main process (RANK 0) speaks.
    main = os.environ.get("RANK", "0") == "0"
    display = progress_display(args.json, quiet=not main)
    with _InterruptGate() as gate:

        def stage(text: str) -> None:
            gate.stage(text)
            display.stage(text)

        try:
            with download_progress() as download:
                outcome = finetune(
                    recipe,
                    output,
                    precision=args.precision,
                    resume=args.resume,
                    save_every=args.save_every,
                    stage=stage,
                    report=display.step,
                    stop_requested=lambda: gate.requested,
                    on_download=download,
                    on_prepare=display.prepare,
                )
        finally:
            display.close()
    if outcome.metrics is None and main:
        print(
            f"arxiv-tui: interrupted at step {outcome.step}/{recipe.steps}; checkpoint saved. "
            f"Continue with the same command plus --resume.",
            file=sys.stderr,
        )
        return 130
    if outcome.metrics is None or not outcome.main:
        return 0
    if args.json:
        print(json.dumps({"event": "done", "output": str(outcome.output), **dataclasses.asdict(outcome.metrics)}))
    else:
        _print_summary(outcome)
    return 0


def _print_summary(outcome) -> None:
    from rich.console import Console
    from rich.table import Table

    m = outcome.metrics
    table = Table(title=f"{outcome.output.name}: {m.steps} steps in {m.train_seconds:.1f} s ({m.precision})")
    for column in ("", "base model", "fine-tuned"):
        table.add_column(column, justify="right")
    table.add_row("train loss", "-", f"{m.train_loss:.2f}")
    table.add_row("eval loss", f"{m.base_eval_loss:.2f}", f"{m.eval_loss:.2f}")
    table.add_row("perplexity", f"{m.base_perplexity:.2f}", f"{m.perplexity:.2f}")
    console = Console()
    console.print(table)
    console.print(f"trainable parameters {m.trainable_params:,} of {m.total_params:,}")
    console.print(f"saved to {outcome.output}; use it with: arxiv-tui --model {outcome.output.name}")


def _blocks_trained(args: argparse.Namespace) -> int | None:
    """--train-last-blocks as given; else the recipe's 2 blocks, or every block with --lora."""
    from arxiv_tui.trainer.recipe import Recipe

    if args.train_last_blocks is not None:
        return int(args.train_last_blocks)
    return None if args.lora else Recipe.train_last_blocks


def _eval(args: argparse.Namespace) -> int:
    from arxiv_tui.runtime.model_template import model_template
    from arxiv_tui.runtime.settings import DEFAULT_MODEL
    from arxiv_tui.trainer.data.selection import load_corpus
    from arxiv_tui.trainer.finetune import choose_dtype, load_base
    from arxiv_tui.trainer.recipe import Recipe
    from arxiv_tui.trainer.training.evaluate import eval_blocks, evaluate
    from arxiv_tui.trainer.training.model import RecipeModel

    recipe = Recipe(data=args.data, categories=comma_list(args.categories), seed=args.seed)
    with download_progress() as download:
        corpus = load_corpus(
            recipe.data,
            train_samples=recipe.samples,
            eval_samples=args.samples,
            seed=recipe.seed,
            categories=recipe.effective_categories(),
            on_download=download,
        )
        lm, tokenizer = load_base(args.model or DEFAULT_MODEL, download)
    template = model_template(Path(lm.config.name_or_path))  # as the app prompts this model
    blocks = eval_blocks(tokenizer, list(corpus.eval), template, args.max_length)
    runtime = args.runtime or (None if args.precision in TRAINING_PRECISIONS else "auto")
    if runtime is None:
        result = evaluate(RecipeModel(lm, 0, choose_dtype(args.precision)), blocks, recipe.batch_size)
    else:
        from arxiv_tui.runtime.checkpoint import load_model
        from arxiv_tui.trainer.training.evaluate import evaluate_inference

        directory = Path(lm.config.name_or_path)
        del lm
        with download_progress() as converting:
            loaded = load_model(directory, args.precision, runtime, converting)
        print_notice(loaded.notice)
        result = evaluate_inference(loaded.model, blocks)
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print(
            f"eval loss {result.eval_loss:.4f}  perplexity {result.perplexity:.2f}  "
            f"({result.tokens:,} tokens, {result.samples:,} texts)"
        )
    return 0
