"""A causal LM for the recipe: a frozen trunk computed once per batch, trainable top blocks (or LoRA
adapters on them), fused head loss. GPT-2 and the Llama family (Llama, Mistral, Qwen2, Qwen3).

The recipe freezes the embeddings and the lower blocks, so no gradient ever flows into them:
they run under `no_grad`, in eval mode, and (in bf16) from a bf16 copy made once, so no weight
is cast on every step. The trainable blocks and the final LayerNorm keep fp32 master weights
and run under autocast. The LM head is the tied (frozen) embedding unless `untie_lm_head`.
Dropout stays on in the trainable blocks, as in transformers' Trainer; the frozen blocks run
without it (they learn nothing, and skipping it saves ~15% of a step; see the README).
"""

from __future__ import annotations

import copy
import os
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..recipe import Recipe
from .head_loss import lm_head_loss

# A transformers causal LM (`GPT2LMHeadModel`, `LlamaForCausalLM`, ...): its submodules are read by
# name, which nn.Module's `__getattr__` types as `Tensor | Module`, so the checker takes it as it comes.
CausalLM = Any


@dataclass
class Anatomy:
    """Where a transformers causal LM of a supported family keeps what the recipe treats apart."""

    family: str
    embedding: nn.Embedding
    positions: nn.Embedding | None  # GPT-2's learned positions; the Llama family rotates instead
    blocks: nn.ModuleList
    final_norm: nn.Module
    rotary: nn.Module | None  # the Llama family's rotary embedding (kept fp32: it holds frequencies)


def anatomy(lm: CausalLM) -> Anatomy:
    """The parts of `lm` (GPT-2, Llama, Mistral, Qwen2, Qwen3) by role."""
    if lm.config.model_type == "gpt2":
        t = lm.transformer
        return Anatomy("gpt2", t.wte, t.wpe, t.h, t.ln_f, None)
    m = lm.model
    return Anatomy(lm.config.model_type, m.embed_tokens, None, m.layers, m.norm, m.rotary_emb)


@dataclass(frozen=True)
class LoraSettings:
    rank: int
    alpha: float
    targets: tuple[str, ...]


# The projections LoRA adapts by default: every linear of a block (attention and MLP).
LORA_TARGETS = {
    "gpt2": ("c_attn", "c_proj", "c_fc"),
    "llama": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
}


def lora_settings(recipe: Recipe, lm: CausalLM) -> LoraSettings | None:
    """The recipe's LoRA adapters for `lm`'s family (None: full fine-tuning)."""
    if not recipe.lora_rank:
        return None
    family = "gpt2" if lm.config.model_type == "gpt2" else "llama"
    return LoraSettings(
        rank=recipe.lora_rank,
        alpha=recipe.lora_alpha or 2.0 * recipe.lora_rank,
        targets=recipe.lora_targets or LORA_TARGETS[family],
    )


def freeze_for_recipe(
    lm: CausalLM, train_last_blocks: int, untie_lm_head: bool, lora: LoraSettings | None = None
) -> CausalLM:
    """Set requires_grad as the recipe says, and return the model to train (`lm`, or with `lora`
    a peft model around it). Full: the last blocks, the final norm and an untied head train.
    LoRA: only adapters on the last blocks' projections train."""
    parts = anatomy(lm)
    blocks = parts.blocks
    if train_last_blocks > len(blocks) or (lora and train_last_blocks < 1):
        low = 1 if lora else 0
        raise ValueError(
            f"--train-last-blocks must be {low}..{len(blocks)} for this model's {len(blocks)} blocks, "
            f"not {train_last_blocks}"
        )
    tied = lm.lm_head.weight is parts.embedding.weight  # what the model does, whatever its config says
    if untie_lm_head and tied:
        lm.config.tie_word_embeddings = False
        lm.lm_head.weight = nn.Parameter(parts.embedding.weight.detach().clone())
    for parameter in lm.parameters():
        parameter.requires_grad_(False)
    if lora is not None:
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(
            r=lora.rank,
            lora_alpha=lora.alpha,  # type: ignore[arg-type]  # peft annotates int; it divides by r in float
            lora_dropout=0.0,
            target_modules=list(lora.targets),
            layers_to_transform=list(range(len(blocks) - train_last_blocks, len(blocks))),
            fan_in_fan_out=parts.family == "gpt2",  # GPT-2's Conv1D stores weights transposed
        )
        try:
            return get_peft_model(lm, config)
        except ValueError as exc:  # peft names the targets it could not find
            raise ValueError(f"--lora-targets: {' '.join(str(exc).split())}") from None
    trainable = [*blocks[len(blocks) - train_last_blocks :], parts.final_norm]
    if untie_lm_head or not tied:  # an untied head is the model's own: it trains with the top
        trainable.append(lm.lm_head)
    for module in trainable:
        for parameter in module.parameters():
            parameter.requires_grad_(True)
    return lm


def parameter_counts(lm: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameters, each shared tensor counted once."""
    unique = {id(p): p for p in lm.parameters()}.values()
    return sum(p.numel() for p in unique if p.requires_grad), sum(p.numel() for p in unique)


class _Activation(nn.Module):
    """The runtime's activation (one fused torch call) as a module, to stand in for transformers':
    for "gelu_new", 7 tensor ops become one, and one in backward, ~4% of a training step here."""

    def __init__(self, name: str) -> None:
        from arxiv_tui.runtime.gpt2 import activation

        super().__init__()
        self.fn = activation(name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


def _pack_frozen_linears(block: nn.Module, family: str, dtype: torch.dtype) -> None:
    """A frozen block's projections as oneDNN-prepacked linears (the engine's; ~8% faster at 1,024
    rows); GPT-2's Conv1D layers become linears first. Left as they are where oneDNN cannot pack
    this dtype."""
    from arxiv_tui.runtime.gpt2 import conv1d_weight_as_linear
    from arxiv_tui.runtime.packed import can_pack, pack_linears

    if not can_pack(dtype, rows_hint=1024):
        return
    if family == "gpt2":
        for parent, name in (
            (block.attn, "c_attn"),
            (block.attn, "c_proj"),
            (block.mlp, "c_fc"),
            (block.mlp, "c_proj"),
        ):
            conv = getattr(parent, name)
            linear = nn.Linear(conv.weight.shape[0], conv.weight.shape[1], dtype=conv.weight.dtype)
            linear.weight = nn.Parameter(conv1d_weight_as_linear(conv.weight.detach()), requires_grad=False)
            linear.bias = nn.Parameter(conv.bias.detach(), requires_grad=False)
            setattr(parent, name, linear)
    pack_linears(block, dtype, rows_hint=1024)


def lora_record(model: RecipeModel) -> dict | None:
    """What metrics.json says of the adapters."""
    lora = model.lora
    return None if lora is None else {"rank": lora.rank, "alpha": lora.alpha, "targets": list(lora.targets)}


class RecipeModel(nn.Module):
    """Wraps a transformers causal LM (the weights that get saved) with the fast training forward."""

    trunk: Any  # the embeddings and the frozen blocks (a ModuleDict, read by name)

    def __init__(
        self,
        lm: CausalLM,
        train_last_blocks: int,
        compute_dtype: torch.dtype,
        untie_lm_head: bool = False,
        lora: LoraSettings | None = None,
    ) -> None:
        super().__init__()
        trained = freeze_for_recipe(lm, train_last_blocks, untie_lm_head, lora)
        self.lm = lm  # with LoRA, its projections hold the adapters (peft injects them in place)
        self._peft = trained if trained is not lm else None
        self.lora = lora
        self.compute_dtype = compute_dtype
        self.parts = parts = anatomy(lm)
        self.frozen_count = len(parts.blocks) - train_last_blocks
        frozen = nn.ModuleDict(
            {
                "embedding": parts.embedding,
                **({"positions": parts.positions} if parts.positions is not None else {}),
                "blocks": nn.ModuleList(parts.blocks[: self.frozen_count]),
            }
        )
        # In fp32 the trunk is the model's own modules; in bf16 a copy, cast once.
        self.trunk = copy.deepcopy(frozen).to(compute_dtype) if compute_dtype != torch.float32 else frozen
        # A frozen head of its own (LoRA on an untied model) is read every step: cast it once too.
        head = lm.lm_head.weight
        untied = head is not parts.embedding.weight
        self._frozen_head = head.detach().to(compute_dtype) if untied and not head.requires_grad else None
        block: Any
        if parts.family == "gpt2":
            for block in parts.blocks:
                block.mlp.act = _Activation(lm.config.activation_function)
        if self.trunk is not frozen:
            # accelerate takes the GPU when there is one; and oneDNN's packed weights can be neither
            # moved nor broadcast to the other processes of a distributed run.
            will_run_on_cpu = not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) == 1
            for block in self.trunk["blocks"]:
                if parts.family == "gpt2":
                    block.mlp.act = _Activation(lm.config.activation_function)
                if will_run_on_cpu:
                    _pack_frozen_linears(block, parts.family, compute_dtype)
        self.train(False)

    def train(self, mode: bool = True) -> RecipeModel:
        super().train(mode)
        self.trunk.eval()  # frozen: no dropout
        return self

    def _block_inputs(self, x: torch.Tensor) -> dict[str, Any]:
        """What a block takes beside its input: the Llama family's rotation (causal attention is
        SDPA's own when no mask is given)."""
        if self.parts.rotary is None:
            return {}
        positions = torch.arange(x.shape[1], device=x.device)[None]
        return {"position_embeddings": self.parts.rotary(x, positions), "position_ids": positions}

    def hidden_states(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Final hidden states [batch, length, width] (after the final norm)."""
        length = input_ids.shape[1]
        with torch.no_grad():
            x = self.trunk["embedding"](input_ids)
            if "positions" in self.trunk:
                x = x + self.trunk["positions"].weight[:length]
            inputs = self._block_inputs(x)
            for block in self.trunk["blocks"]:
                x = block(x, **inputs)
        with self._autocast():
            for block in self.parts.blocks[self.frozen_count :]:
                x = block(x, **inputs)
            out: torch.Tensor = self.parts.final_norm(x)
            return out

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross-entropy of `labels` (IGNORE skipped) given `input_ids`."""
        hidden = self.hidden_states(input_ids)[:, :-1].reshape(-1, self.lm.config.hidden_size)
        targets = labels[:, 1:].reshape(-1)
        return lm_head_loss(hidden.to(self.compute_dtype), self._head_weight(), targets)

    def _head_weight(self) -> torch.Tensor:
        if self.lm.lm_head.weight.requires_grad:  # untied and trained: cast the master weight
            return self.lm.lm_head.weight.to(self.compute_dtype)
        if self._frozen_head is not None:
            return self._frozen_head
        return self.trunk["embedding"].weight  # tied to the frozen embedding (bf16 copy in bf16)

    def head_role(self) -> str:
        """How the LM head took part, for the card."""
        if self.lm.lm_head.weight.requires_grad:
            return "untied and trained"
        return "untied and frozen" if self._frozen_head is not None else "tied to the frozen embedding"

    def plain_model(self) -> CausalLM:
        """The model to save: LoRA adapters merged into the weights, so `from_pretrained` and the
        app load a plain model of the base's family."""
        if self._peft is None:
            return self.lm
        return self._peft.merge_and_unload()

    def _autocast(self):
        if self.compute_dtype == torch.float32:
            return nullcontext()
        return torch.autocast(self.lm.device.type, dtype=self.compute_dtype)
