"""The sampler keeps exactly transformers' top-k/top-p set and samples its distribution."""

from __future__ import annotations

import pytest
import torch
from transformers.generation.logits_process import TopKLogitsWarper, TopPLogitsWarper

from arxiv_tui.runtime.sampling import (
    SamplingParams,
    candidates,
    make_generators,
    nucleus,
    sample_next,
)


def _transformers_kept(logits: torch.Tensor, top_k: int, top_p: float) -> set[int]:
    scores = logits[None].clone()
    if top_k:
        scores = TopKLogitsWarper(top_k)(None, scores)
    scores = TopPLogitsWarper(top_p)(None, scores)
    return set(torch.nonzero(scores[0] > -float("inf")).flatten().tolist())


@pytest.mark.parametrize("top_k", [0, 50, 2000])
@pytest.mark.parametrize("top_p", [0.1, 0.9, 0.99, 1.0])
@pytest.mark.parametrize("spread", [0.5, 3.0, 12.0])  # flat to peaked distributions
def test_kept_set_equals_transformers(top_k, top_p, spread):
    generator = torch.Generator().manual_seed(int(spread * 100) + top_k)
    logits = torch.randn(5000, generator=generator) * spread
    indices, values = nucleus(logits, top_k, top_p)
    assert torch.equal(values, logits[indices])
    differ = set(indices.tolist()) ^ _transformers_kept(logits, top_k, top_p)
    # Only a token whose cumulative mass sits on the cut (float32 rounding) may differ.
    ranked = torch.sort(logits, descending=True).values[: top_k or None].double()
    probs = torch.softmax(ranked, -1)
    mass_before = dict(
        zip(torch.sort(logits, descending=True).indices.tolist(), (probs.cumsum(-1) - probs).tolist(), strict=False)
    )
    assert all(abs(mass_before[t] - top_p) < 1e-4 for t in differ), differ


@pytest.mark.parametrize("top_k, top_p", [(50, 0.9), (0, 0.9), (2000, 0.99), (50, 1.0)])
def test_every_rows_best_taken_at_once_keep_each_rows_own_set(top_k, top_p):
    # A flat row (its nucleus reaches past the narrowed candidates) beside a peaked one.
    logits = torch.stack([torch.randn(5000) * 0.5, torch.randn(5000) * 12.0])
    values, indices = torch.topk(logits, candidates(logits, top_k, top_p))
    for row in range(2):
        alone = nucleus(logits[row], top_k, top_p)
        together = nucleus(logits[row], top_k, top_p, (values[row], indices[row]))
        assert all(torch.equal(a, b) for a, b in zip(alone, together, strict=True))


def test_samples_follow_the_nucleus_distribution():
    logits = torch.tensor([[2.0, 1.5, 1.0, 0.0, -1.0, -5.0]])
    params = SamplingParams(temperature=1.0, top_k=0, top_p=0.95)
    indices, values = nucleus(logits[0], 0, 0.95)
    expected = torch.zeros(6)
    expected[indices] = torch.softmax(values, -1)
    counts = torch.zeros(6)
    generators = make_generators(0, 1)
    for _ in range(4000):
        counts[sample_next(logits, params, generators)] += 1
    assert counts[expected == 0].sum() == 0
    assert torch.allclose(counts / counts.sum(), expected, atol=0.03)


def test_greedy_and_zero_temperature_are_argmax():
    logits = torch.randn(3, 100)
    for params in (SamplingParams(greedy=True), SamplingParams(temperature=0.0)):
        assert torch.equal(sample_next(logits, params, make_generators(0, 3)), logits.argmax(-1))


def test_repetition_penalty_matches_transformers():
    from transformers.generation.logits_process import RepetitionPenaltyLogitsProcessor

    from arxiv_tui.runtime.sampling import apply_repetition_penalty

    logits = torch.randn(2, 50)
    history = torch.tensor([[1, 5, 7], [2, 2, 9]])
    seen = torch.zeros(2, 50, dtype=torch.bool)
    seen.scatter_(1, history, True)
    expected = RepetitionPenaltyLogitsProcessor(1.3)(history, logits.clone())
    assert torch.allclose(apply_repetition_penalty(logits, seen, 1.3), expected)


def test_unseeded_generators_differ_between_calls():
    a, b = make_generators(None, 1)[0], make_generators(None, 1)[0]
    assert torch.rand(4, generator=a).tolist() != torch.rand(4, generator=b).tolist()
