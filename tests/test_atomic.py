"""The one way files are replaced (`arxiv_tui.atomic`): whole or not at all, mode kept, no
temp file shared between writers or left behind."""

from __future__ import annotations

import stat
import threading

import pytest

from arxiv_tui import atomic


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_replaced_file_keeps_its_mode_and_a_new_one_is_its_owners(tmp_path):
    shared = tmp_path / "paper.tex"
    shared.write_text("old")
    shared.chmod(0o644)
    atomic.write_text(shared, "new")
    assert shared.read_text() == "new" and _mode(shared) == 0o644
    fresh = tmp_path / "rescued.txt"
    atomic.write_bytes(fresh, b"draft")
    assert fresh.read_bytes() == b"draft" and _mode(fresh) == 0o600


def test_a_failed_write_leaves_the_file_as_it_was_and_no_temp_file(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("kept")
    with pytest.raises(RuntimeError), atomic.replacing(path) as temp:
        temp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert path.read_text() == "kept" and [p.name for p in tmp_path.iterdir()] == ["config.toml"]


def test_writers_at_once_never_share_a_temp_file(tmp_path):
    path = tmp_path / "models.json"
    texts = [f"writer {i} " * 1000 for i in range(8)]
    threads = [threading.Thread(target=lambda t=t: [atomic.write_text(path, t) for _ in range(20)]) for t in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert path.read_text() in texts  # one writer's text, whole
    assert [p.name for p in tmp_path.iterdir()] == ["models.json"]
