"""One request to a completion server, as the engine's `Run` is one to the local model.

A server streams pieces of text, each for one alternative (`index`), each stream on a thread of
its own (the app sends N alternatives as one `n` request, or as N requests where a server
ignores `n`); this merges them in arrival order, applies the rules every backend shares (stop
strings, sentence ends: `runtime.continuation`), and closes every stream the moment the request
is cancelled or all alternatives have ended (the server stops generating when its client goes).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from arxiv_tui.runtime.continuation import Alternative, extend, finish_all
from arxiv_tui.runtime.remote.errors import RemoteError, describe
from arxiv_tui.runtime.settings import FINISH_CANCELLED, FINISH_EOS, FINISH_LENGTH, Delta, GenerationSettings

if TYPE_CHECKING:
    from arxiv_tui.runtime.confidence import DraftScores

Piece = tuple[int, str, str | None]  # (alternative, new text, the server's finish_reason or None)
POLL_S = 0.05  # how soon a cancel is noticed while no piece arrives


class PieceStream(Protocol):
    """One open streamed response: its pieces, and a way to drop the connection."""

    def __iter__(self) -> Iterator[Piece]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Request:
    """One streamed request of a run: the alternatives it carries, and how to open it."""

    indexes: list[int]
    open: Callable[[], PieceStream]


class CompletionServer(Protocol):
    """What a run needs of a server (OpenAI-compatible, or Ollama's own API)."""

    name: str  # the base URL, for messages
    model: str

    def plan(self, prompt: str, settings: GenerationSettings, indexes: list[int]) -> list[Request]:
        """Requests that together stream the alternatives `indexes` (each opened on its own thread)."""
        ...

    def ignores_n(self) -> None:
        """The server answered an `n` request with one choice: ask for one alternative per request from now on."""
        ...

    def score(self, draft: str, template: str, intern: Callable[[str], int]) -> DraftScores:
        """The confidence view's scores of `draft` (`intern` names each likely token by an id);
        RemoteError, exit status 2, where the server does not give them."""
        ...


def resolve_model(server: str, requested: str, list_models: Callable[[], list[str]], none_listed: str) -> str:
    """`requested`, or else the first model the server lists (asked either way: it checks that the
    server answers); RemoteError in one line, `none_listed` if it lists none."""
    try:
        listed = list_models()
    except Exception as exc:  # noqa: BLE001 - every failure becomes one line
        raise describe(exc, server, requested or "any model") from None
    if requested:
        return requested
    if not listed:
        raise RemoteError(none_listed, 2)
    return listed[0]


def server_reason(reason: str | None) -> str | None:
    """Our finish reason for a server's: "length" at the limit, any other end an end of text."""
    if reason is None:
        return None
    return FINISH_LENGTH if reason == "length" else FINISH_EOS


@dataclass(frozen=True)
class _Ended:
    stream: int
    seen: frozenset[int]


@dataclass(frozen=True)
class _Failed:
    error: BaseException


class RemoteRun:
    """Iterate for each arrival's deltas; `alternatives` holds each one's text and end."""

    def __init__(
        self, server: CompletionServer, prompt: str, settings: GenerationSettings, cancel: threading.Event
    ) -> None:
        self.server, self.prompt, self.settings, self.cancel = server, prompt, settings, cancel
        self.alternatives = [Alternative(i) for i in range(settings.n)]
        self._inbox: queue.Queue[tuple[int, Piece] | _Ended | _Failed] = queue.Queue()
        self._streams: dict[int, PieceStream] = {}  # the open ones, by number
        self._indexes: dict[int, list[int]] = {}  # the alternatives each stream carries
        self._lock = threading.Lock()
        self._closed = False

    def __iter__(self) -> Iterator[list[Delta]]:
        self._open(list(range(self.settings.n)))
        try:
            while any(alt.finish_reason is None for alt in self.alternatives):
                if self.cancel.is_set():
                    yield finish_all(self.alternatives, FINISH_CANCELLED)
                    return
                try:
                    item = self._inbox.get(timeout=POLL_S)
                except queue.Empty:
                    continue
                deltas = self._take(item)
                if deltas:
                    yield deltas
        finally:
            self._close_all()

    def _take(self, item: tuple[int, Piece] | _Ended | _Failed) -> list[Delta]:
        if isinstance(item, _Failed):
            raise describe(item.error, self.server.name, self.server.model)
        if isinstance(item, _Ended):
            return self._ended(item)
        _, (index, text, reason) = item
        if not 0 <= index < len(self.alternatives) or self.alternatives[index].finish_reason is not None:
            return []  # past a client-side end (a sentence, a stop string): the rest is dropped
        alt = self.alternatives[index]
        alt.tokens.append(-1)
        delta = extend(alt, text, server_reason(reason), self.settings)
        return [delta] if delta else []

    def _ended(self, item: _Ended) -> list[Delta]:
        """A stream ended. Alternatives it was to carry but never did mean the server ignored `n`
        (Ollama's /v1 does): they get a request each. Any it left open have simply ended."""
        carried = self._indexes[item.stream]
        missing = [i for i in carried if i not in item.seen]
        if missing and item.seen:
            self.server.ignores_n()
            self._open(missing)
            return []
        deltas = []
        for i in carried:
            if self.alternatives[i].finish_reason is None:
                delta = extend(self.alternatives[i], "", FINISH_EOS, self.settings)
                deltas += [delta] if delta else []
        return deltas

    def _open(self, indexes: list[int]) -> None:
        for request in self.server.plan(self.prompt, self.settings, indexes):
            number = len(self._indexes)
            self._indexes[number] = request.indexes
            threading.Thread(target=self._read, args=(number, request.open), name="remote-stream", daemon=True).start()

    def _read(self, number: int, opener: Callable[[], PieceStream]) -> None:
        """Stream `number`'s pieces into the inbox, on its own thread."""
        seen: set[int] = set()
        try:
            stream = opener()
            with self._lock:
                self._streams[number] = stream
                closed = self._closed
            if closed:  # the run ended while this request was being opened
                stream.close()
                return
            for piece in stream:
                seen.add(piece[0])
                self._inbox.put((number, piece))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            with self._lock:
                closed = self._closed
            if not closed:  # a stream closed on purpose ends with an error of its own: not news
                self._inbox.put(_Failed(exc))
            return
        self._inbox.put(_Ended(number, frozenset(seen)))

    def _close_all(self) -> None:
        """Drop every connection: each server stops generating for a client that has gone."""
        with self._lock:
            self._closed = True
            streams = list(self._streams.values())
        for stream in streams:
            stream.close()
