"""The messages between the app and the engine's child process, pickled over the child's stdin
(requests) and stdout (events). The client (`engine_client`, in the app's process) and the child
(`engine_child`) both import them from here; plain data, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from arxiv_tui.runtime.confidence import DraftScores
from arxiv_tui.runtime.copyguard.record import Copy
from arxiv_tui.runtime.fetch import FetchProgress
from arxiv_tui.runtime.native.convert import ConversionProgress
from arxiv_tui.runtime.settings import GENERATION_DEFAULTS, Delta, GenerationSettings

# Requests, app -> engine ---------------------------------------------------------------------


@dataclass(frozen=True)
class Open:
    """The first request: which model to load, the request shape to warm up for, and the draft
    to prefill while loading, so the first request reuses its cache as later ones do."""

    model: str
    precision: str
    template: str | None  # None: the one the model was trained with
    warm_n: int
    draft: str = ""
    max_new_tokens: int = GENERATION_DEFAULTS.max_new_tokens
    runtime: str = "auto"  # see RUNTIMES


@dataclass(frozen=True)
class Generate:
    """Stream N alternatives for `prompt`; stops whatever runs or waits before it."""

    request_id: int
    prompt: str
    settings: GenerationSettings


@dataclass(frozen=True)
class Cancel:
    """Stop every generation sent before this, at its next step."""


@dataclass(frozen=True)
class Score:
    """The confidence view's per-token probabilities of `text`."""

    text: str


# Events, engine -> app -----------------------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    precision: str  # "remote" for a completion server
    context_length: int
    token_table: list[bytes]  # raw bytes of each token id, to show the model's replacements
    served: str = ""  # a completion server's model and address ("model @ url"), which history records
    runtime: str = ""  # "openvino" or "torch" for a local model
    notice: str = ""  # why the local model runs on PyTorch where OpenVINO was wanted


@dataclass(frozen=True)
class LoadFailed:
    error: str


@dataclass(frozen=True)
class Fetching:
    """The model is being downloaded, or converted for OpenVINO the first time: where it stands
    (sent a few times a second)."""

    progress: FetchProgress | ConversionProgress


@dataclass(frozen=True)
class Progress:
    """Deltas of request `request_id` since the last event, with (tokens, ms) of the alternatives that
    finished; `done` on the last one, with the request's figures."""

    request_id: int
    deltas: list[Delta]
    costs: dict[int, tuple[int, float]] = field(default_factory=dict)
    done: bool = False
    tokens: list[int] | None = None
    ttft_s: float | None = None
    tokens_per_s: float | None = None
    copied: dict[int, Copy] = field(default_factory=dict)  # on `done`: training text a card repeats


@dataclass(frozen=True)
class Scored:
    scores: DraftScores
    seconds: float
    copied: list[Copy] = field(default_factory=list)  # spans of the draft found in the training texts


@dataclass(frozen=True)
class RequestFailed:
    """A request raised in the engine; the engine goes on with the next one."""

    error: str


@dataclass(frozen=True)
class EngineStopped:
    """The engine's process ended without being asked to (killed, out of memory, crashed)."""

    exit_code: int | None


class Backend(Protocol):
    """What the app talks to: the engine's process (`engine_client.EngineClient`) or a completion
    server (`remote.client.RemoteClient`); both answer with the events above."""

    token_table: list[bytes]

    def generate(self, request_id: int, prompt: str, settings: GenerationSettings) -> None: ...

    def cancel(self) -> None: ...

    def score(self, text: str) -> None: ...

    def close(self, timeout: float = 1.0) -> None: ...
