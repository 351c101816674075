"""`arxiv-tui finetune` from start to finish: data, base eval, training, eval, card, register.

The model is written to a hidden sibling directory (`.NAME.partial`, which also holds the
resume checkpoint) and renamed to its final name only when complete, so a half-written model
never looks finished. Every input problem is found before anything is written.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from arxiv_tui.runtime.copyguard.index import INDEX_DIR
from arxiv_tui.runtime.fetch import FetchProgress
from arxiv_tui.runtime.model_template import write_template
from arxiv_tui.runtime.settings import GENERATION_DEFAULTS

from .data.prepared import Prepared, PrepareReport, prepare, remembered
from .errors import TrainerError
from .recipe import Recipe
from .training.card import render_card
from .training.evaluate import EvalResult, evaluate
from .training.loop import CHECKPOINT_FILE, StepReport, train
from .training.metrics import Metrics
from .training.model import RecipeModel, anatomy, lora_record, lora_settings, parameter_counts

TRAINING_STAGE = "training"  # the stage in which Ctrl-C stops after the step, with a checkpoint
SAMPLE_PROMPTS = ("We propose", "In this paper, we study", "Deep neural networks")


@dataclass
class Outcome:
    output: Path
    metrics: Metrics | None  # None when interrupted
    step: int
    main: bool = True  # False in the other processes of a distributed run: they wrote nothing


def partial_path(output: Path) -> Path:
    """Where an unfinished run lives until it is complete."""
    return output.parent / f".{output.name}.partial"


def check_output(output: Path, resume: bool) -> None:
    """Fail early, before any work, if the output cannot be written or would clobber something."""
    partial = partial_path(output)
    if output.exists():
        raise TrainerError(f"{output} already exists; choose another --output or remove it")
    if partial.exists() and not resume:
        raise TrainerError(
            f"an interrupted run is in {partial}: add --resume to continue it, or delete it to start over"
        )
    if resume and not partial.exists():
        raise TrainerError(f"nothing to resume: no interrupted run for {output}")
    ancestor = output.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        raise TrainerError(f"cannot write to {output}: {ancestor} is not a writable directory")


def choose_dtype(precision: str) -> torch.dtype:
    """The dtype training computes in: the runtime's choice for the device it runs on."""
    from arxiv_tui.runtime.checkpoint import compute_dtype, native_precision

    return compute_dtype(native_precision(cuda=torch.cuda.is_available()) if precision == "auto" else precision)


def load_base(name: str, on_download: Callable[[FetchProgress], None] | None = None):
    """(causal LM in fp32, tokenizer) for a local dir, registered name or Hub id of a supported family."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from arxiv_tui.runtime.registry import resolve_model

    hf_logging.disable_progress_bar()  # our own display reports progress

    directory = resolve_model(name, on_download)
    # SDPA: the recipe's forward calls blocks without a mask, which SDPA makes causal.
    lm = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32, attn_implementation="sdpa")
    tokenizer = AutoTokenizer.from_pretrained(directory)
    if tokenizer.eos_token_id is None:
        raise TrainerError(f"the tokenizer of {name} has no end-of-text token")
    return lm, tokenizer


def _base_identity(lm, model: RecipeModel, recipe: Recipe) -> dict:
    """What the base model's held-out loss depends on, beyond the rows: its files and how it runs."""
    directory = Path(lm.config.name_or_path)
    files = sorted(
        (path.name, path.stat().st_size, path.stat().st_mtime_ns) for path in directory.glob("*") if path.is_file()
    )
    return {
        "base": str(directory.resolve()),
        "files": files,
        "dtype": str(model.compute_dtype),
        "batch_size": recipe.batch_size,
        "device": str(lm.device),
    }


def check_enough(prepared: Prepared, recipe: Recipe) -> None:
    """One batch of training rows at least, or a line that says how much text there was."""
    blocks = prepared.train
    if len(blocks) < recipe.batch_size:
        raise TrainerError(
            f"too little text in {recipe.data}: {prepared.stats.train_texts} training texts make "
            f"{len(blocks)} rows of {recipe.max_length} tokens; one batch needs {recipe.batch_size}"
        )


def sample_continuations(lm, tokenizer, template: str, seed: int) -> list[tuple[str, str]]:
    """A continuation of each sample prompt, sampled as the app does (T 0.8, top-p 0.9, top-k 50)."""
    torch.manual_seed(seed)
    lm.eval()
    d = GENERATION_DEFAULTS
    samples = []
    for prompt in SAMPLE_PROMPTS:
        ids = tokenizer(template + prompt, return_tensors="pt").input_ids.to(lm.device)
        with torch.no_grad():
            out = lm.generate(
                ids,
                do_sample=True,
                temperature=d.temperature,
                top_p=d.top_p,
                top_k=d.top_k,
                max_new_tokens=d.max_new_tokens,
                pad_token_id=tokenizer.eos_token_id,
            )
        samples.append((prompt, tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)))
    return samples


def finetune(
    recipe: Recipe,
    output: Path,
    *,
    precision: str = "auto",
    resume: bool = False,
    save_every: int = 50,
    stage: Callable[[str], None] = lambda _: None,
    report: Callable[[StepReport], None] = lambda _: None,
    stop_requested: Callable[[], bool] = lambda: False,
    on_download: Callable[[FetchProgress], None] | None = None,
    on_prepare: Callable[[PrepareReport], None] = lambda _: None,
) -> Outcome:
    """Run the whole recipe; see the module docstring. Under `torchrun` or `accelerate launch`
    every process trains on its share of each batch, and only the global main process writes
    (the output, checkpoints, card, metrics, registry); the others wait for it."""
    try:
        from accelerate import PartialState
    except ImportError:  # the app's install lacks the trainer's extra
        raise TrainerError(
            "fine-tuning needs the `accelerate` package: pip install 'arxiv-tui[train]'", exit_code=1
        ) from None

    started = time.perf_counter()
    try:
        recipe.validate()
    except ValueError as exc:
        raise TrainerError(str(exc)) from None
    output = output.expanduser().absolute()
    # Joins the process group of a distributed launch (one process otherwise). Without a GPU,
    # accelerate forms a group of CPU processes (gloo) only when told `cpu`: else each process of
    # a torchrun would train alone and all of them would write the output.
    processes = PartialState(cpu=not torch.cuda.is_available())
    main = processes.is_main_process
    if main:
        check_output(output, resume)
    stage(f"loading {recipe.base}")
    lm, tokenizer = load_base(recipe.base, on_download)
    stage(f"preparing {recipe.data}")
    prepared = prepare(recipe, tokenizer, report=on_prepare, on_download=on_download)
    if prepared.reused:
        stage(f"reusing the data prepared in {prepared.directory}")
    check_enough(prepared, recipe)
    blocks, held_out = prepared.train, prepared.eval
    try:
        model = RecipeModel(
            lm,
            recipe.blocks_trained(len(anatomy(lm).blocks)),
            choose_dtype(precision),
            recipe.untie_lm_head,
            lora_settings(recipe, lm),
        )
    except ValueError as exc:
        raise TrainerError(str(exc)) from None
    partial = partial_path(output)
    if main:
        try:
            partial.mkdir(parents=True, exist_ok=resume)
        except OSError as exc:
            raise TrainerError(f"cannot write to {output}: {exc.strerror or exc}") from None
    processes.wait_for_everyone()

    try:
        stage("evaluating the base model")
        base = EvalResult(
            **remembered(
                prepared,
                _base_identity(lm, model, recipe),
                lambda: evaluate(model, held_out, recipe.batch_size).to_dict(),
            )
        )
        stage(TRAINING_STAGE)
        result = train(
            model,
            blocks,
            recipe,
            partial,
            resume=resume,
            save_every=save_every,
            report=report,
            stop_requested=stop_requested,
        )
    except BaseException:
        if main and not (partial / CHECKPOINT_FILE).exists():  # nothing worth resuming: leave no trace
            shutil.rmtree(partial, ignore_errors=True)
        raise
    if result.interrupted:
        return Outcome(output, None, result.step)
    stage("evaluating the fine-tuned model")
    tuned = evaluate(model, held_out, recipe.batch_size)
    trainable, total = parameter_counts(lm)
    metrics = Metrics(
        train_loss=result.train_loss,
        eval_loss=tuned.eval_loss,
        perplexity=tuned.perplexity,
        base_eval_loss=base.eval_loss,
        base_perplexity=base.perplexity,
        trainable_params=trainable,
        total_params=total,
        total_blocks=len(model.parts.blocks),
        steps=result.step,
        train_seconds=result.seconds,
        train_tokens_per_s=result.step * recipe.batch_size * recipe.max_length / max(result.seconds, 1e-9),
        eval_tokens=tuned.tokens,
        eval_samples=tuned.samples,
        train_texts=prepared.stats.train_texts,
        train_rows=len(blocks),
        precision="bf16" if model.compute_dtype == torch.bfloat16 else "fp32",
        device=str(lm.device),
        recipe=recipe.to_dict(),
        method="lora" if recipe.lora_rank else "full",
        lora=lora_record(model),
        lm_head=model.head_role(),
        family=model.parts.family,
        world_size=processes.num_processes,
    )
    if not main:
        processes.wait_for_everyone()  # the main process writes the model
        return Outcome(output, metrics, result.step, main=False)
    stage("writing the model")
    samples = sample_continuations(lm, tokenizer, recipe.template, recipe.seed)
    model.plain_model().save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    write_template(partial, recipe.template)  # the app prompts it as it was trained
    _link_or_copy(prepared.directory / INDEX_DIR, partial / INDEX_DIR)  # the copied-text guard's index
    (partial / CHECKPOINT_FILE).unlink(missing_ok=True)
    metrics.seconds = time.perf_counter() - started
    (partial / "metrics.json").write_text(metrics.to_json())
    (partial / "README.md").write_text(render_card(output.name, recipe, prepared.stats, metrics, samples))
    if output.exists():  # appeared while training
        raise TrainerError(f"{output} appeared while training; the model is in {partial}")
    os.replace(partial, output)
    _register(output)
    processes.wait_for_everyone()
    return Outcome(output, metrics, result.step)


def _link_or_copy(source: Path, target: Path) -> None:
    """`source`'s files at `target`: hard links where the file system allows (an index of a big run
    is gigabytes; the model keeps it if the prepared data is cleared), copies elsewhere."""

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=link)


def _register(output: Path) -> None:
    from arxiv_tui.runtime.registry import register_model

    register_model(output.name, output)
