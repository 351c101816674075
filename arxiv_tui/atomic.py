"""Write a file whole or not at all: the one way every writer of the project replaces a file.

The data goes to a uniquely named temp file in the same folder (so two processes writing the same
file never share a temp file, and the rename never crosses file systems), is flushed and fsynced
(so a power cut after the rename cannot leave an empty file), takes the replaced file's mode, and
is renamed over the target with `os.replace`, which is atomic. A new file stays as mkstemp makes
it, readable by its owner alone (0600): a draft rescued to the temp folder is nobody else's. (Reading
the umask to do otherwise means setting it, which races with every thread that creates files.)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temp path beside `path` to write to (with any library's own writer); when the block ends
    without an error, the written file is synced and takes `path`'s place. Raises OSError."""
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    temp = Path(name)
    try:
        yield temp
        with open(temp, "rb+") as written:
            os.fsync(written.fileno())
        if path.exists():
            shutil.copymode(path, temp)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def write_bytes(path: Path, data: bytes) -> None:
    """Replace `path` with `data` (see the module docstring). Raises OSError."""
    with replacing(path) as temp:
        temp.write_bytes(data)


def write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` in UTF-8 (see the module docstring). Raises OSError."""
    write_bytes(path, text.encode("utf-8"))
