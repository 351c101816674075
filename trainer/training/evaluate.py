"""Loss and perplexity of a model on held-out abstracts, weighted by token."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from ..data.blocks import IGNORE, Blocks, batches, encode, rows_in_memory, token_dtype
from .model import RecipeModel


@dataclass
class EvalResult:
    eval_loss: float  # mean cross-entropy per predicted token (nats)
    perplexity: float
    tokens: int  # predicted tokens scored
    samples: int  # texts

    def to_dict(self) -> dict:
        return asdict(self)


def perplexity(loss: float) -> float:
    """exp(loss), infinite rather than an overflow error."""
    return math.exp(loss) if loss < 700 else math.inf


def eval_blocks(tokenizer, texts: list[str], template: str, max_length: int) -> Blocks:
    """Each held-out text on its own row (as the app sees an abstract), cut to `max_length`."""
    return rows_in_memory(
        encode(tokenizer, texts, template),
        max_length,
        packed=False,
        pad_id=tokenizer.eos_token_id,
        dtype=token_dtype(len(tokenizer)),
    )


def evaluate(model: RecipeModel, blocks: Blocks, batch_size: int) -> EvalResult:
    """Token-weighted mean loss over `blocks` (no dropout, no gradients)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total, tokens = 0.0, 0
    with torch.no_grad():
        for input_ids, labels in batches(blocks, batch_size):
            count = int((labels[:, 1:] != IGNORE).sum())
            if count:
                total += model(input_ids.to(device), labels.to(device)).item() * count
                tokens += count
    model.train(was_training)
    loss = total / max(tokens, 1)
    return EvalResult(loss, perplexity(loss), tokens, len(blocks))


def evaluate_inference(model, blocks: Blocks) -> EvalResult:
    """The same loss from an inference runtime's model (`DecoderModel`: OpenVINO or the PyTorch
    engine, in the precision it was loaded in), one text at a time, so a precision's quality is
    read on exactly the tokens the training model is read on."""
    total, tokens = 0.0, 0
    with torch.inference_mode():
        for input_ids, labels in batches(blocks, 1):
            length = int((labels[0] != IGNORE).sum())
            if length < 2:
                continue
            ids = input_ids[:, :length]
            logits = model(ids, model.new_cache(1, length), all_positions=True)[0]
            targets = labels[0, 1:length]
            losses = torch.nn.functional.cross_entropy(logits[:-1].float(), targets, reduction="none")
            total += float(losses.sum())
            tokens += length - 1
    loss = total / max(tokens, 1)
    return EvalResult(loss, perplexity(loss), tokens, len(blocks))
