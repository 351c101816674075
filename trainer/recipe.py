"""The published fine-tuning recipe as a dataclass: its defaults are the card's numbers."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from arxiv_tui.runtime.settings import DEFAULT_TEMPLATE

RECIPE_CATEGORIES = ("cs.CV", "cs.AI", "cs.SY", "cs.CE", "cs.PL", "cs.IT", "cs.DS", "cs.NE")
DEFAULT_DATA = "hf:ccdv/arxiv-classification"


@dataclass
class Recipe:
    """Everything that decides what a fine-tuning run computes (and so what resume must match)."""

    base: str = "distilgpt2"
    data: str = DEFAULT_DATA
    categories: tuple[str, ...] | None = None  # None: the recipe's 8 CS labels for the default data
    samples: int = 2000
    eval_samples: int = 200
    max_length: int = 128
    batch_size: int = 8
    steps: int = 100
    lr: float = 3e-4
    warmup_steps: int = 10
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0  # transformers' Trainer default, which the published run used
    train_last_blocks: int | None = 2  # None: every block (LoRA's default)
    untie_lm_head: bool = False
    lora_rank: int = 0  # 0: the recipe's full fine-tuning of the top blocks
    lora_alpha: float | None = None  # None: twice the rank
    lora_targets: tuple[str, ...] | None = None  # None: every projection of a block
    pack: bool = True
    seed: int = 42
    template: str = DEFAULT_TEMPLATE

    def effective_categories(self) -> tuple[str, ...] | None:
        """The category filter: the recipe's CS labels when training on the recipe's data."""
        if self.categories is None and self.data == DEFAULT_DATA:
            return RECIPE_CATEGORIES
        return self.categories

    def validate(self) -> None:
        """Raise ValueError with a one-line message for settings that cannot run."""
        for name in ("samples", "eval_samples", "max_length", "batch_size", "steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, not {getattr(self, name)}")
        if self.max_length < 2:
            raise ValueError("--max-length must be at least 2 tokens")
        if self.warmup_steps < 0 or self.warmup_steps > self.steps:
            raise ValueError(f"--warmup-steps must be between 0 and --steps ({self.steps})")
        if self.lr <= 0:
            raise ValueError(f"--lr must be above 0, not {self.lr}")
        if self.weight_decay < 0:
            raise ValueError(f"--weight-decay must be 0 or more, not {self.weight_decay}")
        if self.train_last_blocks is not None and self.train_last_blocks < 0:
            raise ValueError("--train-last-blocks must be 0 or more")
        if self.lora_rank < 0:
            raise ValueError(f"--lora must be a rank of 1 or more, not {self.lora_rank}")
        if self.lora_rank and self.untie_lm_head:
            raise ValueError("--untie-lm-head trains the head in full; it does not go with --lora")
        if self.lora_rank == 0 and (self.lora_alpha is not None or self.lora_targets is not None):
            raise ValueError("--lora-alpha and --lora-targets need --lora RANK")

    def blocks_trained(self, total: int) -> int:
        """How many top blocks train (or carry adapters) in a model of `total` blocks."""
        return total if self.train_last_blocks is None else self.train_last_blocks

    @property
    def method(self) -> str:
        return f"LoRA rank {self.lora_rank}" if self.lora_rank else "full fine-tuning of the top blocks"

    def to_dict(self) -> dict:
        data = asdict(self)
        data["categories"] = list(self.effective_categories() or []) or None
        return data
