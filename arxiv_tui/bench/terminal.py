"""A program in a pseudo-terminal, read back as a screen: what a person at a terminal would see.

`Terminal` starts a command on a pty of a given size, writes the bytes a terminal sends for
keys, and keeps a `pyte` screen up to date from everything the program writes. `wait_until`
returns the moment the output that made a condition on the screen hold arrived, checked after
every chunk of output (conditions read single rows: the whole screen as text costs
milliseconds), so timings are those of the frames the program drew, not of a polling interval.

`pyte` is pure Python: parsing a frame costs this process a millisecond or two, which a terminal
written in C spends in microseconds, and on a machine whose cores the measured program uses
that CPU is taken from it. So a wait may name `hints`, byte strings the awaited frame must
contain (a word of a status line): output without one is only stored, with the time it
arrived, and parsed when one comes. The benchmark of the app (`arxiv-tui bench --app`) and the
terminal tests use it.
"""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Callable, Mapping, Sequence

# A frame is written at once: the chunks of output that follow a hint within this long are its rest.
FRAME_S = 0.01
CURSOR_QUERY = b"\x1b[6n"  # a program asking where the cursor is: answered at once, so parsed at once

# What common terminals (xterm, GNOME Terminal, tmux, screen, VS Code) send for each key name.
KEY_BYTES: dict[str, bytes] = {
    "tab": b"\t",
    "enter": b"\r",
    "escape": b"\x1b",
    "backspace": b"\x7f",
    "up": b"\x1b[A",
    "down": b"\x1b[B",
    "right": b"\x1b[C",
    "left": b"\x1b[D",
    "ctrl+right": b"\x1b[1;5C",
    "ctrl+left": b"\x1b[1;5D",
    "ctrl+down": b"\x1b[1;5B",
    "ctrl+up": b"\x1b[1;5A",
    "alt+down": b"\x1b[1;3B",
    "alt+up": b"\x1b[1;3A",
    "alt+right_square_bracket": b"\x1b]",
    "alt+left_square_bracket": b"\x1b[",
    "f1": b"\x1bOP",
    "f2": b"\x1bOQ",
    "f3": b"\x1bOR",
    "f4": b"\x1bOS",
    **{f"ctrl+{c}": bytes([ord(c) - 96]) for c in "abcdefghijklmnopqrstuvwxyz"},
}


def key_bytes(key: str) -> bytes:
    """The bytes a terminal sends for a Textual key name ("ctrl+r", "f2", "a")."""
    if key in KEY_BYTES:
        return KEY_BYTES[key]
    if len(key) == 1:
        return key.encode()
    raise KeyError(f"no terminal encoding known for {key!r}")


class Terminal:
    """`command` running on a `columns`×`rows` pseudo-terminal, its output kept as a screen."""

    def __init__(
        self, command: Sequence[str], columns: int = 130, rows: int = 45, env: Mapping[str, str] | None = None
    ) -> None:
        import pyte

        self.screen = pyte.Screen(columns, rows)
        self._stream = pyte.ByteStream(self.screen)
        self._changed = threading.Condition()
        # Output not yet applied to the screen, with when each chunk arrived (see `hints` in `wait_until`)
        self._unparsed: list[tuple[float, bytes]] = []
        self._hints: tuple[bytes, ...] = ()  # output without one of these waits in `_unparsed`
        self._tail = b""  # the end of the last chunk, for a hint split between two chunks
        self._eager_until = 0.0  # after a hint, the rest of its frame: parsed as it comes
        self._arrived = 0.0  # when the output now on the screen arrived
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.process = subprocess.Popen(
            list(command),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            preexec_fn=_own_terminal,
            env={
                **os.environ,
                "TERM": "xterm-256color",
                "COLORTERM": "truecolor",
                "COLUMNS": str(columns),
                "LINES": str(rows),
                **(env or {}),
            },
        )
        os.close(slave)
        self._master = master
        self._closed = False
        self._reader = threading.Thread(target=self._read, name="terminal-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self._master, 65536)
            except OSError:  # the program exited and the pty closed
                data = b""
            arrived = time.perf_counter()
            with self._changed:
                self._unparsed.append((arrived, data))
                seen, self._tail = self._tail + data, data[-32:]  # hints are shorter than 32 bytes
                if any(hint in seen for hint in self._hints):
                    self._eager_until = arrived + FRAME_S
                if not self._hints or arrived < self._eager_until or not data or CURSOR_QUERY in data:
                    self._parse()
                    self._changed.notify_all()
            if not data:
                return

    def _parse(self) -> None:
        """Apply the output stored so far to the screen (the lock held)."""
        for arrived, data in self._unparsed:
            self._stream.feed(data)
            self._answer_queries(data)
            self._arrived = arrived
        self._unparsed.clear()

    def _answer_queries(self, data: bytes) -> None:
        """Answer the device-status query (cursor position) as a terminal would."""
        if CURSOR_QUERY in data:
            y, x = self.screen.cursor.y + 1, self.screen.cursor.x + 1
            self.write(f"\x1b[{y};{x}R".encode())

    def write(self, data: bytes) -> float:
        """Send raw bytes, as typed; returns the time they were sent."""
        sent = time.perf_counter()
        os.write(self._master, data)
        return sent

    def press(self, *keys: str) -> float:
        """Send each key's terminal bytes; returns when the last was sent."""
        sent = 0.0
        for key in keys:
            sent = self.write(key_bytes(key))
        return sent

    def row(self, y: int) -> str:
        """Row `y` of the screen as text (negative counts from the bottom); cheaper than `text()`,
        which matters when a condition is checked after every chunk of output."""
        line = self.screen.buffer[y % self.screen.lines]
        return "".join(line[x].data for x in range(self.screen.columns))

    def text(self) -> str:
        """The whole screen as lines of text."""
        with self._changed:
            return "\n".join(self.screen.display)

    def find_row(self, text: str) -> int | None:
        """The first row that contains `text`."""
        with self._changed:
            return next((y for y in range(self.screen.lines) if text in self.row(y)), None)

    def wait_until(
        self, condition: Callable[[Terminal], bool], timeout: float = 30.0, hints: tuple[bytes, ...] = ()
    ) -> float:
        """Block until `condition(self)` holds; returns when the output that made it hold arrived.
        With `hints`, output is parsed only once one of them arrives (see the module's docstring).
        TimeoutError (with the screen) if it does not within `timeout` seconds."""
        deadline = time.perf_counter() + timeout
        with self._changed:
            self._parse()
            self._hints = hints
            while True:
                if condition(self):
                    self._hints = ()
                    return self._arrived
                left = deadline - time.perf_counter()
                if left <= 0 or (self.process.poll() is not None and not self._reader.is_alive()):
                    self._hints = ()
                    self._parse()
                    raise TimeoutError(
                        "the screen never showed what was waited for:\n" + "\n".join(self.screen.display)
                    )
                self._changed.wait(left)

    def process_tree_rss_mb(self) -> float:
        """Resident memory of the program and every process it started, in MB."""
        return sum(_rss_kb(pid) for pid in _tree(self.process.pid)) / 1024

    def close(self, timeout: float = 10.0) -> int | None:
        """Stop the program (SIGTERM to its session, then SIGKILL) and release the pty."""
        if self.process.poll() is None:
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._reader.join(timeout=2)
        if not self._closed:
            os.close(self._master)
            self._closed = True
        return self.process.returncode

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        self.close()


def _own_terminal() -> None:
    """In the child, before it runs: lead a new session whose controlling terminal is the pty, as
    a shell in a terminal window would, so closing the window (the master) hangs it up (SIGHUP)."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (Linux /proc)."""
    pids, index = [pid], 0
    while index < len(pids):
        try:
            with open(f"/proc/{pids[index]}/task/{pids[index]}/children") as f:
                pids.extend(int(child) for child in f.read().split())
        except OSError:
            pass
        index += 1
    return pids


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
