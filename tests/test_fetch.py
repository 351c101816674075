"""Fetching the model from the Hub, against a stand-in Hub on 127.0.0.1 (`tests/fake_hub.py`):
byte progress on the command line and in the app, resuming a download stopped halfway, and one
clear line for a missing model or a dropped connection."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from arxiv_tui.runtime.settings import DEFAULT_MODEL
from tests.fake_hub import FakeHub
from tests.helpers import build_model, make_app, wait_for


@pytest.fixture(scope="module")
def hub_model(tmp_path_factory):
    """A tiny model with ~7.7 MB of weights: long enough to watch a throttled download."""
    return build_model(tmp_path_factory.mktemp("hub-model"), n_embd=256, n_positions=1024, train_steps=0)


@pytest.fixture
def hub(hub_model, monkeypatch, user_dirs):
    served = FakeHub({DEFAULT_MODEL: hub_model})
    monkeypatch.setenv("HF_ENDPOINT", served.endpoint)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    yield served
    served.close()


def pull(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "arxiv_tui", "models", "pull", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "120"},
    )


def partial_files(user_dirs) -> list:
    return list((user_dirs / "hf").rglob("*.partial"))


def test_pull_shows_bytes_and_a_stopped_download_resumes(hub, hub_model, user_dirs):
    hub.bytes_per_s = 2e6
    first = subprocess.Popen(
        [sys.executable, "-m", "arxiv_tui", "models", "pull"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while not any(p.stat().st_size > 1_000_000 for p in partial_files(user_dirs)):
        assert time.monotonic() < deadline, "the download never got going"
        time.sleep(0.05)
    first.kill()  # a closed window, a killed process
    first.wait()
    had = max(p.stat().st_size for p in partial_files(user_dirs))
    listed = subprocess.run([sys.executable, "-m", "arxiv_tui", "models", "list"], capture_output=True, text=True)
    assert "of a stopped download that `models pull` resumes" in listed.stdout
    done = pull()
    assert done.returncode == 0, done.stderr
    assert f"downloading {DEFAULT_MODEL}" in done.stderr and "MB" in done.stderr and "/s" in done.stderr
    assert int(hub.ranges[-1].split("=")[1].rstrip("-")) >= had  # it went on from where it stopped
    snapshot, described = done.stdout.strip().splitlines()[-1].split("\t")
    assert described.startswith("(gpt2, ") and "M parameters, stored in fp32)" in described
    weights = os.path.join(snapshot, "model.safetensors")
    assert Path(weights).read_bytes() == (hub_model / "model.safetensors").read_bytes()
    assert not partial_files(user_dirs)
    listed = subprocess.run([sys.executable, "-m", "arxiv_tui", "models", "list"], capture_output=True, text=True)
    assert f"{DEFAULT_MODEL}\t(default, from the Hugging Face Hub; 7.7 MB in the cache; gpt2, " in listed.stdout
    before = hub.file_requests
    assert pull().returncode == 0  # all cached: the head is asked for, no file
    assert hub.file_requests == before


def test_a_dropped_connection_is_one_line_and_the_next_run_resumes(hub, user_dirs):
    hub.cut_after = 2_000_000
    cut = pull()
    errors = [line for line in cut.stderr.splitlines() if line.startswith("arxiv-tui: error:")]
    assert cut.returncode == 1 and len(errors) == 1 and cut.stderr.rstrip().endswith(errors[0]), cut.stderr
    assert "was cut off" in errors[0] and "run it again to resume" in errors[0] and "Traceback" not in cut.stderr
    hub.cut_after = None
    assert pull().returncode == 0
    assert int(hub.ranges[-1].split("=")[1].rstrip("-")) >= 2_000_000 - 256 * 1024  # all but a chunk in flight


def test_a_model_the_hub_does_not_have_is_one_line(hub):
    missing = pull("nobody/no-such-model")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "nobody/no-such-model" in missing.stderr and "HF_TOKEN" in missing.stderr


async def test_the_app_shows_the_download_can_stop_it_and_resumes_it(hub, hub_model, user_dirs):
    hub.bytes_per_s = 1.5e6
    app = make_app(DEFAULT_MODEL, n=2, max_new_tokens=5)
    async with app.run_test() as pilot:
        status = app.drafting.status
        await wait_for(pilot, lambda: status.state.startswith("downloading from 127.0.0.1") and " MB/s" in status.state)
        assert " of 7.7 MB" in status.state and "s left" in status.state
        await pilot.press(*"We")  # typing works while the model downloads
        assert app.drafting.editor.text == "We"
        await wait_for(pilot, lambda: any(p.stat().st_size > 1_000_000 for p in partial_files(user_dirs)))
        await pilot.press("escape")
        await wait_for(pilot, lambda: status.state == "download stopped")
        stopped_at = max(p.stat().st_size for p in partial_files(user_dirs))
        await pilot.press("ctrl+r")  # resume now
        await wait_for(pilot, lambda: app.drafting.engine is not None, timeout=60)
        assert int(hub.ranges[-1].split("=")[1].rstrip("-")) >= stopped_at - 256 * 1024  # a chunk in flight
        await pilot.press(" ", "p")
        await wait_for(pilot, lambda: all(app.drafting.panel.texts()))
