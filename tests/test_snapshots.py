"""Runs the screen snapshots (tests/snapshot_screens.py) in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_screens_match_their_snapshots(tmp_path):
    cases = Path(__file__).with_name("snapshot_screens.py")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider", str(cases)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-3000:]
