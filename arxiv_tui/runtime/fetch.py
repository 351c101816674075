"""Fetching a model (or a data set) from the Hugging Face Hub with byte-level progress, resumable.

The cache is huggingface_hub's (`HF_HOME`), and `HF_ENDPOINT`, `HF_TOKEN` and `HF_HUB_OFFLINE`
mean what they mean there. Two things it does not do are done here, before `snapshot_download`
lays out the snapshot:
- progress in bytes: its own bar counts files, and sits at 6/7 while the weights arrive;
- resuming: since huggingface_hub 2.4 each download writes a temporary file of its own and
  deletes it on failure, so a download stopped halfway (Esc, a closed window, a lost link)
  started over. Here each file goes to `blobs/<etag>.partial` in the cache, which a later run
  continues with a Range request, then takes its place as the blob `snapshot_download` finds.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

CHUNK_BYTES = 256 * 1024  # a slow link still reports a few times a second
RATE_WINDOW_S = 3.0


@dataclass(frozen=True)
class FetchProgress:
    """Where a download stands: `done` of `total` bytes (`total` grows as each file starts)."""

    repo_id: str
    endpoint: str
    done: int
    total: int
    bytes_per_s: float  # over the last few seconds, resumed bytes left out

    @property
    def seconds_left(self) -> float | None:
        if self.bytes_per_s <= 0 or self.total <= self.done:
            return None
        return (self.total - self.done) / self.bytes_per_s

    def describe(self) -> str:
        """One line for a status bar (which names the model): from where, how much, how fast,
        how long."""
        mb = 1e6  # decimal, as rich's download bar counts
        host = urlparse(self.endpoint).netloc or self.endpoint
        line = f"downloading from {host}: {self.done / mb:.1f} of {self.total / mb:.1f} MB"
        if self.bytes_per_s > 0:
            line += f", {self.bytes_per_s / mb:.1f} MB/s"
        if (left := self.seconds_left) is not None:
            line += f", {left:.0f} s left"
        return line


class _Tracker:
    """Adds up the bytes every file's download reports (they run in threads)."""

    def __init__(self, repo_id: str, endpoint: str, report: Callable[[FetchProgress], None], every_s: float) -> None:
        self.repo_id, self.endpoint, self.report, self.every_s = repo_id, endpoint, report, every_s
        self.done = self.total = 0
        self.window: deque[tuple[float, int]] = deque()  # (time, bytes) of recent chunks
        self.last_report = 0.0
        self.lock = threading.Lock()

    def grow(self, total: int) -> None:
        with self.lock:
            self.total += total
        self._report()

    def add(self, n: int, resumed: bool = False) -> None:
        """`n` more bytes on disk; `resumed` ones were there before this run (no part of the rate)."""
        now = time.monotonic()
        with self.lock:
            self.done += n
            if not resumed:
                self.window.append((now, n))
            while self.window and now - self.window[0][0] > RATE_WINDOW_S:
                self.window.popleft()
        self._report()

    def progress(self) -> FetchProgress:
        with self.lock:
            span = time.monotonic() - self.window[0][0] if len(self.window) > 1 else 0.0
            rate = sum(n for _, n in list(self.window)[1:]) / span if span > 0 else 0.0
            return FetchProgress(self.repo_id, self.endpoint, self.done, self.total, rate)

    def report_now(self) -> None:
        self._report(force=True)

    def _report(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last_report >= self.every_s:
            self.last_report = now
            self.report(self.progress())


def _missing_blobs(repo_id: str, allow_patterns: list[str], repo_type: str) -> list[tuple[str, Path, int]]:
    """(url, blob path, size) of each file of the repo's head that the cache lacks. One request
    for the repo's head, and one more only for each file its snapshot does not hold yet."""
    from fnmatch import fnmatch

    from huggingface_hub import HfApi, constants, get_hf_file_metadata, hf_hub_url
    from huggingface_hub.file_download import repo_folder_name

    info = HfApi().repo_info(repo_id, repo_type=repo_type)
    storage = Path(constants.HF_HUB_CACHE) / repo_folder_name(repo_id=repo_id, repo_type=repo_type)
    blobs, snapshot = storage / "blobs", storage / "snapshots" / str(info.sha)
    missing = []
    for sibling in getattr(info, "siblings", None) or []:
        if not any(fnmatch(sibling.rfilename, pattern) for pattern in allow_patterns):
            continue
        if (snapshot / sibling.rfilename).exists():
            continue
        meta = get_hf_file_metadata(hf_hub_url(repo_id, sibling.rfilename, repo_type=repo_type, revision=info.sha))
        if meta.etag is None:  # the Hub names every file's blob by its etag
            raise FetchFailed(f"the Hub gave no etag for {sibling.rfilename}")
        blob = blobs / meta.etag
        if not blob.exists():
            missing.append((meta.location, blob, meta.size or 0))
    return missing


def _download(url: str, blob: Path, tracker: _Tracker) -> None:
    """Fetch `url` into `blob`, continuing `blob.partial` where an earlier run stopped (under a
    lock: two instances fetching at once take turns, and the second finds the blob there)."""
    from filelock import FileLock

    partial = blob.with_name(blob.name + ".partial")
    blob.parent.mkdir(parents=True, exist_ok=True)
    locks = blob.parents[2] / ".locks" / blob.parents[1].name  # where huggingface_hub keeps its own
    locks.mkdir(parents=True, exist_ok=True)
    with FileLock(locks / f"{partial.name}.lock"):
        if not blob.exists():
            _continue(url, blob, partial, tracker)


def _continue(url: str, blob: Path, partial: Path, tracker: _Tracker) -> None:
    from huggingface_hub.utils import build_hf_headers, get_session

    have = partial.stat().st_size if partial.exists() else 0
    tracker.add(have, resumed=True)
    tracker.report_now()  # what a stopped download left shows at once
    headers = build_hf_headers()
    if have:
        headers["Range"] = f"bytes={have}-"
    with get_session().stream("GET", url, headers=headers, follow_redirects=True, timeout=30) as response:
        response.raise_for_status()
        if have and response.status_code != 206:  # the server ignored the range: start over
            tracker.add(-have, resumed=True)
            have = 0
        with open(partial, "ab" if have else "wb") as file:
            for chunk in response.iter_bytes(CHUNK_BYTES):
                file.write(chunk)
                tracker.add(len(chunk))
    partial.replace(blob)


def cached_models() -> dict[str, tuple[int, int]]:
    """Hub models in the Hugging Face cache: repo id -> (bytes complete, bytes of downloads
    stopped halfway, which the next fetch resumes)."""
    from huggingface_hub import constants

    found = {}
    for folder in sorted(Path(constants.HF_HUB_CACHE).glob("models--*")):
        blobs = [p for p in (folder / "blobs").glob("*") if p.is_file()]
        partial = sum(p.stat().st_size for p in blobs if p.suffix == ".partial")
        complete = sum(p.stat().st_size for p in blobs if p.suffix not in (".partial", ".incomplete"))
        found[folder.name.removeprefix("models--").replace("--", "/")] = (complete, partial)
    return found


class FetchFailed(Exception):
    """Why a fetch failed, for the caller to phrase: `reason` is "gated" (a licence to accept,
    and no token of an account that did), "unreadable" (no such repository, or a private one),
    "offline" (no network and not in the cache), or "broken" (a dropped connection or a full
    disk: `message` says which and what to do)."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(message or reason)
        self.reason = reason


def fetch_repo(
    repo_id: str,
    allow_patterns: list[str],
    on_progress: Callable[[FetchProgress], None] | None = None,
    every_s: float = 0.25,
    repo_type: str = "model",
) -> Path:
    """Download the files of `repo_id` that match `allow_patterns` (or find them in the cache) and
    return its snapshot folder. Raises `FetchFailed`."""
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        return _fetch(repo_id, allow_patterns, on_progress, every_s, repo_type)
    except GatedRepoError:  # a subclass of RepositoryNotFoundError: caught first
        raise FetchFailed("gated") from None
    except (RepositoryNotFoundError, RevisionNotFoundError):
        raise FetchFailed("unreadable") from None
    except LocalEntryNotFoundError:
        raise FetchFailed("offline") from None
    except OSError as exc:
        raise FetchFailed("broken", f"cannot download {repo_id}: {exc}") from None
    except Exception as exc:  # the connection dropped and its retries ran out (httpx's errors)
        if type(exc).__module__.split(".")[0] not in ("httpx", "httpx2", "httpcore", "httpcore2"):
            raise
        raise FetchFailed(
            "broken",
            f"the download of {repo_id} was cut off ({type(exc).__name__}: {exc}); "
            "run it again to resume where it stopped",
        ) from None


def _fetch(
    repo_id: str,
    allow_patterns: list[str],
    on_progress: Callable[[FetchProgress], None] | None,
    every_s: float,
    repo_type: str,
) -> Path:
    import httpx2
    from huggingface_hub import constants, snapshot_download
    from tqdm.auto import tqdm

    tracker = _Tracker(repo_id, constants.ENDPOINT, on_progress or (lambda _: None), every_s)
    if not constants.HF_HUB_OFFLINE:
        try:
            missing = _missing_blobs(repo_id, allow_patterns, repo_type)
        except (httpx2.ConnectError, httpx2.TimeoutException):
            missing = []  # no network: snapshot_download serves the cache, or says it can't
        if missing:  # nothing to fetch shows no progress at all
            tracker.grow(sum(size for _, _, size in missing))
            for url, blob, _ in missing:
                _download(url, blob, tracker)
            tracker.report_now()

    class Silent(tqdm):  # type: ignore[type-arg]  # tqdm[T] is generic only in its stubs  # its bars count files; the bytes were reported above
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **{**kwargs, "disable": True})

    return Path(snapshot_download(repo_id, repo_type=repo_type, allow_patterns=allow_patterns, tqdm_class=Silent))
