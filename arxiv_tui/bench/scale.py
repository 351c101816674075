"""Fine-tuning at scale: peak memory and time of `arxiv-tui finetune` by training-set size, run
twice (the second reuses the prepared data).

    python -m arxiv_tui.bench.scale --base /tmp/bench_model --data /tmp/snap600k.json \\
        --sizes 2000 50000 100000 --steps 5

Each run is a fresh process under `/usr/bin/time -v` (its peak RSS is the number to read), with
its own data directory, so the first run of each size prepares and the second reuses. The data
file is written by `arxiv_tui.bench.snapshot_sample` when missing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from arxiv_tui.bench.snapshot_sample import write_snapshot


def _run(command: list[str], env: dict) -> tuple[float, float, float]:
    """(wall seconds, seconds preparing the data, peak RSS in MB) of one `finetune --json` run."""
    started = time.perf_counter()
    process = subprocess.Popen(
        ["/usr/bin/time", "-v", *command], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stderr is not None  # both are PIPEs
    stages: dict[str, float] = {}
    for line in process.stdout:
        event = json.loads(line)
        if event["event"] == "stage":
            stages.setdefault(event["stage"].split()[0], time.perf_counter())
    stderr = process.stderr.read()
    seconds = time.perf_counter() - started
    if process.wait() != 0:
        sys.exit(f"failed: {' '.join(command)}\n{stderr[-2000:]}")
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    if peak is None:
        sys.exit(f"/usr/bin/time gave no peak memory for {' '.join(command)}")
    peak_kb = int(peak.group(1))
    after = stages.get("reusing", stages["evaluating"])
    return seconds, after - stages["preparing"], peak_kb / 1024


def json_pass_seconds(path: Path) -> float:
    """A bare `json.loads` of every line: the floor any reader of the file has."""
    started = time.perf_counter()
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            json.loads(line)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="a distilgpt2-shaped model (../shared/tools/make_bench_model.py)")
    parser.add_argument("--data", type=Path, required=True, help="snapshot-format JSON lines (written if missing)")
    parser.add_argument("--records", type=int, default=600_000, help="records to write when --data is missing")
    parser.add_argument("--categories", default="cs.AI", help="'' for every record")
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 50000, 100000])
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    if not args.data.exists():
        write_snapshot(args.data, args.records)
    baseline = json_pass_seconds(args.data)
    print(f"bare json.loads pass over {args.data}: {baseline:.1f} s")
    print(f"{'samples':>8} {'run':>6} {'seconds':>8} {'preparing':>10} {'x json pass':>11} {'peak RSS MB':>12}")
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as home:
            env = {**os.environ, "XDG_DATA_HOME": home}
            for run in ("first", "second"):
                output = Path(home) / f"model-{run}"
                seconds, preparing, peak = _run(
                    [
                        sys.executable,
                        "-m",
                        "arxiv_tui",
                        "finetune",
                        "--base",
                        args.base,
                        "--data",
                        str(args.data),
                        *(["--categories", args.categories] if args.categories else []),
                        "--samples",
                        str(size),
                        "--steps",
                        str(args.steps),
                        "--output",
                        str(output),
                        "--json",
                    ],
                    env,
                )
                print(
                    f"{size:>8} {run:>6} {seconds:>8.1f} {preparing:>10.1f} {preparing / baseline:>11.1f} "
                    f"{peak:>12.0f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
