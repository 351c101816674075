"""Which running arxiv-tui this is, and whether another one is still running.

A draft's lease names the instance that edits it. A lease whose process has gone (crashed,
killed, machine rebooted) can be taken over; one whose process still runs cannot. A pid alone
could name an unrelated process started later, so on Linux its start time is compared too.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path


def process_start(pid: int) -> str | None:
    """The process's start time (clock ticks since boot, from /proc), or None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22; the name in (...) may hold spaces


@dataclass(frozen=True)
class Instance:
    """This process's identity in a lease; `token` tells apart two histories in one process."""

    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    pid_started: str | None = field(default_factory=lambda: process_start(os.getpid()))


def is_running(host: str, pid: int, pid_started: str | None) -> bool:
    """Whether the instance that took a lease still runs. One on another host is assumed to
    (nothing here can tell); its drafts stay readable and open as copies."""
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it runs, as another user
    return pid_started is None or process_start(pid) in (None, pid_started)
