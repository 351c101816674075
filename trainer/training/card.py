"""The model card (README.md) written beside a fine-tuned model."""

from __future__ import annotations

from ..data.selection import CorpusStats
from ..recipe import Recipe
from .metrics import Metrics

PUBLISHED = {"train_loss": 3.82, "eval_loss": 3.48, "perplexity": 32.59}


def _recipe_rows(recipe: Recipe, metrics: Metrics) -> list[str]:
    blocks = recipe.blocks_trained(metrics.total_blocks)
    first = metrics.total_blocks - blocks
    span = f"blocks {first}-{metrics.total_blocks - 1}"
    if metrics.lora:
        lora = metrics.lora
        trained = (
            f"LoRA adapters (rank {lora['rank']}, alpha {lora['alpha']:g}) on {', '.join(lora['targets'])} of "
            f"{span}, merged into the saved weights"
        )
    else:
        trained = f"{span} and the final norm" if blocks else "the final norm only"
    share = 100 * metrics.trainable_params / metrics.total_params
    return [
        f"| base model | `{recipe.base}` ({metrics.family}) |",
        f"| trained | {trained}; LM head {metrics.lm_head} |",
        f"| trainable parameters | {metrics.trainable_params:,} of {metrics.total_params:,} ({share:.1f}%) |",
        f"| optimiser | AdamW, lr {recipe.lr:g}, weight decay {recipe.weight_decay:g} (not on biases/LayerNorms), "
        f"grad clip {recipe.max_grad_norm:g} |",
        f"| schedule | {recipe.steps} steps, {recipe.warmup_steps} warm-up, cosine decay |",
        f"| batch | {recipe.batch_size} x {recipe.max_length} tokens, "
        f"{'packed' if recipe.pack else 'one text per row, padded'} |",
        f"| prompt format | `{recipe.template}...` |",
        f"| precision | {metrics.precision} on {metrics.device} |",
        f"| seed | {recipe.seed} |",
    ]


def _data_lines(corpus: CorpusStats, recipe: Recipe) -> list[str]:
    categories = recipe.effective_categories()
    lines = [
        f"- Source: `{corpus.source}`" + (f", categories {', '.join(categories)}" if categories else ""),
        (
            f"- {corpus.train_texts:,} training texts, {corpus.eval_texts:,} held-out texts (never trained on), "
            f"chosen by a seeded hash of each text from {corpus.texts_read:,} read; "
            f"{corpus.duplicates:,} duplicates dropped."
        ),
    ]
    if corpus.abstracts_extracted or corpus.openings_used:
        lines.append(
            f"- The source holds whole papers: the abstract was found in {corpus.abstracts_extracted:,} of them; "
            f"for {corpus.openings_used:,} the opening words were used instead."
        )
    lines += [f"- Note: {note}" for note in corpus.notes]
    return lines


def render_card(
    name: str, recipe: Recipe, corpus: CorpusStats, metrics: Metrics, samples: list[tuple[str, str]]
) -> str:
    """Markdown for README.md: recipe, data, metrics table, sample continuations."""

    def row(label: str, key: str, base_key: str | None) -> str:
        base = f"{getattr(metrics, base_key):.2f}" if base_key else "-"
        return f"| {label} | {base} | {getattr(metrics, key):.2f} | {PUBLISHED[key]:.2f} |"

    parts = [
        f"# {name}",
        "",
        "DistilGPT-2 fine-tuned on arXiv abstracts with `arxiv-tui finetune`, for drafting abstracts in "
        f"`arxiv-tui --model {name}`.",
        "",
        "## Recipe",
        "",
        "| | |",
        "|---|---|",
        *_recipe_rows(recipe, metrics),
        "",
        "## Data",
        "",
        *_data_lines(corpus, recipe),
        "",
        "## Results",
        "",
        "| | base model | fine-tuned | published card |",
        "|---|---|---|---|",
        row("train loss (mean over steps)", "train_loss", None),
        row("eval loss", "eval_loss", "base_eval_loss"),
        row("perplexity", "perplexity", "base_perplexity"),
        "",
        (
            f"Eval: token-weighted mean over {metrics.eval_tokens:,} tokens of {metrics.eval_samples:,} "
            "held-out texts. "
            f"Training: {metrics.steps} steps in {metrics.train_seconds:.1f} s ({metrics.seconds:.0f} s in all)."
        ),
        "",
        "## Sample continuations",
        "",
    ]
    for prompt, continuation in samples:
        parts += [f"> **{prompt}**{continuation}", ""]
    return "\n".join(parts)
