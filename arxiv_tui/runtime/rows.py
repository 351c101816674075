"""The N alternatives of one request as their rows are sampled, step by step.

Each alternative samples from its own random stream, decodes its own bytes and ends on its own
(EOS, length, a stop string, a sentence end); a finished one leaves the batch. The engine runs
one request's rows; `serve`'s batch runs the rows of several requests in one step, each request
sampling its own slice of the logits with its own settings.
"""

from __future__ import annotations

import torch

from arxiv_tui.runtime.continuation import Alternative, extend
from arxiv_tui.runtime.detokenize import Detokenizer
from arxiv_tui.runtime.sampling import make_generators, sample_next
from arxiv_tui.runtime.settings import FINISH_EOS, FINISH_LENGTH, Delta, GenerationSettings
from arxiv_tui.runtime.vocabulary import Vocabulary


class SampledRows:
    """One request's alternatives; `active` lists the alternatives still in the batch, in row order."""

    def __init__(
        self, vocabulary: Vocabulary, settings: GenerationSettings, prompt: list[int], alternatives: list[Alternative]
    ) -> None:
        self.vocabulary, self.settings, self.alternatives = vocabulary, settings, alternatives
        n = len(alternatives)
        self.generators = make_generators(settings.seed, n)
        self.detokenizers = [Detokenizer(vocabulary.token_bytes) for _ in range(n)]
        self.seen: torch.Tensor | None = None
        if settings.sampling.repetition_penalty != 1.0:
            self.seen = torch.zeros(n, len(vocabulary.token_bytes), dtype=torch.bool)
            self.seen[:, prompt] = True
        self.active = list(range(n))
        self.tokens = torch.empty(0, dtype=torch.long)  # the last step's token of each active row

    @property
    def done(self) -> bool:
        return all(alt.finish_reason is not None for alt in self.alternatives)

    def sample(self, logits: torch.Tensor) -> list[Delta]:
        """Sample each active row's next token from its row of `logits` [rows, vocab]; return
        what becomes visible."""
        rows = [self.alternatives[i] for i in self.active]
        self.tokens = sample_next(logits, self.settings.sampling, [self.generators[i] for i in self.active], self.seen)
        deltas = []
        for alt, token in zip(rows, self.tokens.tolist(), strict=True):
            delta = self._advance(alt, token)
            if delta is not None:
                deltas.append(delta)
        return deltas

    def leave_finished(self) -> torch.Tensor | None:
        """Drop the rows that just finished; the rows that stay (indices into the last step's
        rows), or None if all do. Afterwards `tokens` holds the next step's input."""
        still = [row for row, i in enumerate(self.active) if self.alternatives[i].finish_reason is None]
        keep = None
        if len(still) < len(self.active):
            keep = torch.tensor(still, dtype=torch.long)
            self.tokens = self.tokens[keep]
            self.seen = self.seen[keep] if self.seen is not None else None
            self.active = [self.active[row] for row in still]
        if self.seen is not None:
            self.seen[torch.arange(len(self.active)), self.tokens] = True
        return keep

    def _advance(self, alt: Alternative, token: int) -> Delta | None:
        """Add `token` to `alt`; return what becomes visible (and whether it finished)."""
        settings, detokenizer = self.settings, self.detokenizers[alt.index]
        if token in self.vocabulary.end_ids and not settings.ignore_eos:
            return extend(alt, detokenizer.flush(), FINISH_EOS, settings)
        alt.tokens.append(token)
        text = detokenizer.push(token)
        if len(alt.tokens) >= settings.max_new_tokens:
            return extend(alt, text + detokenizer.flush(), FINISH_LENGTH, settings)
        return extend(alt, text, None, settings)
