"""What a fine-tuning run measured: written as `metrics.json` beside the model, shown in its
card and by `arxiv-tui finetune`."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass


@dataclass
class Metrics:
    train_loss: float  # mean over the steps
    eval_loss: float  # token-weighted, on held-out texts
    perplexity: float
    base_eval_loss: float  # the base model's, on the same texts
    base_perplexity: float
    trainable_params: int
    total_params: int
    total_blocks: int
    steps: int
    train_seconds: float
    train_tokens_per_s: float
    eval_tokens: int
    eval_samples: int
    train_texts: int
    train_rows: int
    precision: str
    device: str
    recipe: dict
    method: str = "full"  # "full" (the top blocks) or "lora" (adapters, merged into the saved weights)
    lora: dict | None = None  # rank, alpha and targets of the adapters
    lm_head: str = "tied to the frozen embedding"  # or "untied and trained", "untied and frozen"
    family: str = "gpt2"
    world_size: int = 1  # processes that trained together (torchrun, accelerate launch)
    seconds: float = 0.0  # the whole run, set once the model is written

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2) + "\n"
