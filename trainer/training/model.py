"""GPT-2 for the recipe: a frozen trunk computed once per batch, trainable top blocks, fused head loss.

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
from typing import Any

import torch
from torch import nn

from .head_loss import lm_head_loss

# A transformers GPT-2 LM (`GPT2LMHeadModel`): its submodules are read by name, which nn.Module's
# `__getattr__` types as `Tensor | Module`, so the checker takes the model as it comes.
CausalLM = Any


def freeze_for_recipe(lm: CausalLM, train_last_blocks: int, untie_lm_head: bool) -> None:
    """Set requires_grad as the recipe says: the last blocks, ln_f (and an untied head) train."""
    blocks = lm.transformer.h
    if train_last_blocks > len(blocks):
        raise ValueError(f"--train-last-blocks {train_last_blocks} is more than the model's {len(blocks)} blocks")
    if untie_lm_head:
        lm.config.tie_word_embeddings = False
        lm.lm_head.weight = nn.Parameter(lm.transformer.wte.weight.detach().clone())
    for parameter in lm.parameters():
        parameter.requires_grad_(False)
    trainable = [*blocks[len(blocks) - train_last_blocks :], lm.transformer.ln_f]
    if untie_lm_head:
        trainable.append(lm.lm_head)
    for module in trainable:
        for parameter in module.parameters():
            parameter.requires_grad_(True)


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


def _pack_frozen_linears(block: nn.Module) -> None:
    """Frozen Conv1D layers as oneDNN-prepacked linears (the engine's; ~8% faster at 1,024 rows).
    Left as they are where oneDNN cannot pack this dtype."""
    from arxiv_tui.runtime.gpt2 import PackedLinear, conv1d_weight_as_linear

    if not torch.backends.mkldnn.is_available():
        return
    for parent, name in ((block.attn, "c_attn"), (block.attn, "c_proj"), (block.mlp, "c_fc"), (block.mlp, "c_proj")):
        conv = getattr(parent, name)
        linear = nn.Linear(conv.weight.shape[0], conv.weight.shape[1], dtype=conv.weight.dtype)
        linear.weight = nn.Parameter(conv1d_weight_as_linear(conv.weight.detach()), requires_grad=False)
        linear.bias = nn.Parameter(conv.bias.detach(), requires_grad=False)
        try:
            setattr(parent, name, PackedLinear(linear, rows_hint=1024))
        except RuntimeError:
            return


class RecipeModel(nn.Module):
    """Wraps a `GPT2LMHeadModel` (the weights that get saved) with the fast training forward."""

    trunk: Any  # wte, wpe and the frozen blocks (a ModuleDict, read by name)

    def __init__(
        self, lm: CausalLM, train_last_blocks: int, compute_dtype: torch.dtype, untie_lm_head: bool = False
    ) -> None:
        super().__init__()
        freeze_for_recipe(lm, train_last_blocks, untie_lm_head)
        self.lm = lm
        self.compute_dtype = compute_dtype
        self.frozen_count = len(lm.transformer.h) - train_last_blocks
        transformer = lm.transformer
        frozen = nn.ModuleDict(
            {
                "wte": transformer.wte,
                "wpe": transformer.wpe,
                "blocks": nn.ModuleList(transformer.h[: self.frozen_count]),
            }
        )
        # In fp32 the trunk is the model's own modules; in bf16 a copy, cast once.
        self.trunk = copy.deepcopy(frozen).to(compute_dtype) if compute_dtype != torch.float32 else frozen
        act = lm.config.activation_function
        for block in transformer.h:
            block.mlp.act = _Activation(act)
        if self.trunk is not frozen:
            # accelerate takes the GPU when there is one; and oneDNN's packed weights can be neither
            # moved nor broadcast to the other processes of a distributed run.
            will_run_on_cpu = not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) == 1
            for block in self.trunk["blocks"]:
                block.mlp.act = _Activation(act)
                if will_run_on_cpu:
                    _pack_frozen_linears(block)
        self.train(False)

    def train(self, mode: bool = True) -> RecipeModel:
        super().train(mode)
        self.trunk.eval()  # frozen: no dropout
        return self

    def hidden_states(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Final hidden states [batch, length, width] (after ln_f)."""
        length = input_ids.shape[1]
        with torch.no_grad():
            x = self.trunk["wte"](input_ids) + self.trunk["wpe"].weight[:length]
            for block in self.trunk["blocks"]:
                x = block(x)
        with self._autocast():
            for block in self.lm.transformer.h[self.frozen_count :]:
                x = block(x)
            return self.lm.transformer.ln_f(x)

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross-entropy of `labels` (IGNORE skipped) given `input_ids`."""
        hidden = self.hidden_states(input_ids)[:, :-1].reshape(-1, self.lm.config.n_embd)
        targets = labels[:, 1:].reshape(-1)
        return lm_head_loss(hidden.to(self.compute_dtype), self._head_weight(), targets)

    def _head_weight(self) -> torch.Tensor:
        if self.lm.lm_head.weight.requires_grad:  # untied and trained: cast the master weight
            return self.lm.lm_head.weight.to(self.compute_dtype)
        return self.trunk["wte"].weight  # tied to the frozen embedding (bf16 copy in bf16)

    def _autocast(self):
        if self.compute_dtype == torch.float32:
            return nullcontext()
        return torch.autocast(self.lm.device.type, dtype=self.compute_dtype)
