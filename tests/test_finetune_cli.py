"""`arxiv-tui finetune` and `arxiv-tui eval` as a user runs them: output, errors, Ctrl-C and --resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import assert_one_line_error, finetune_args, run_cli


def test_finetune_json_progress_metrics_and_registration(capsys, four_layer_model, abstracts, tmp_path):
    output = tmp_path / "ai-model"
    code, out, err = run_cli(
        capsys, *finetune_args(four_layer_model, abstracts, output, "--categories", "cs.AI", "--json")
    )
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    steps = [e for e in events if e["event"] == "step"]
    assert [e["step"] for e in steps] == [1, 2, 3, 4]
    assert {"loss", "lr", "steps_per_s", "eta_s"} <= set(steps[0])
    done = events[-1]
    assert done["event"] == "done" and done["output"] == str(output)
    metrics = json.loads((output / "metrics.json").read_text())
    for key in (
        "train_loss",
        "eval_loss",
        "perplexity",
        "base_eval_loss",
        "base_perplexity",
        "trainable_params",
        "total_params",
        "steps",
        "seconds",
        "train_seconds",
    ):
        assert key in metrics and metrics[key] == done[key]
    assert metrics["train_texts"] == 54  # the 60 cs.AI texts less the 6 held out
    assert json.loads((output / "copy-index" / "meta.json").read_text())["texts"] == 54  # the guard's index
    assert "cs.AI" in (output / "README.md").read_text()
    code, out, _ = run_cli(capsys, "models", "list")
    assert f"ai-model\t{output}" in out


def test_finetune_prints_a_table_and_eval_matches(capsys, four_layer_model, abstracts, tmp_path):
    output = tmp_path / "m"
    code, out, err = run_cli(
        capsys, *finetune_args(four_layer_model, abstracts, output, "--precision", "fp32", "--eval-samples", "8")
    )
    assert code == 0, err
    assert "eval loss" in out and "perplexity" in out and "arxiv-tui --model m" in out
    metrics = json.loads((output / "metrics.json").read_text())
    code, out, err = run_cli(
        capsys,
        "eval",
        "--model",
        "m",
        "--data",
        str(abstracts),
        "--samples",
        "8",
        "--max-length",
        "32",
        "--precision",
        "fp32",
        "--json",
    )
    assert code == 0, err
    result = json.loads(out)
    assert set(result) == {"eval_loss", "perplexity", "tokens", "samples"}
    assert result["samples"] == 8  # the held-out texts of the run above...
    assert result["eval_loss"] == pytest.approx(metrics["eval_loss"], rel=1e-6)  # ...scored the same
    # The inference runtimes score the same tokens: fp32 as the training model does, and 8 and 4
    # bits a little worse, in that order.
    scored = {}
    for runtime, precision in [("openvino", "fp32"), ("torch", "fp32"), ("auto", "int8"), ("auto", "int4")]:
        code, out, err = run_cli(
            capsys, "eval", "--model", "m", "--data", str(abstracts), "--samples", "8", "--max-length", "32",
            "--precision", precision, "--runtime", runtime, "--json",
        )  # fmt: skip
        assert code == 0, err
        scored[runtime, precision] = json.loads(out)
        assert scored[runtime, precision]["tokens"] == result["tokens"]
    for exact in [("openvino", "fp32"), ("torch", "fp32")]:
        assert scored[exact]["eval_loss"] == pytest.approx(result["eval_loss"], rel=1e-4)
    fp32, int8, int4 = (scored[key]["eval_loss"] for key in [("torch", "fp32"), ("auto", "int8"), ("auto", "int4")])
    assert fp32 != int8 and abs(int8 - fp32) < 0.02 * fp32 and abs(int4 - fp32) < 0.1 * fp32


def test_default_output_goes_to_the_data_dir(capsys, four_layer_model, abstracts, user_dirs):
    args = finetune_args(four_layer_model, abstracts, "unused")
    args = args[: args.index("--output")] + args[args.index("--output") + 2 :]
    assert run_cli(capsys, *args)[0] == 0
    assert run_cli(capsys, *args)[0] == 0  # a second run does not clobber the first
    models = user_dirs / "data" / "arxiv-tui" / "models"
    assert sorted(p.name for p in models.iterdir()) == [
        f"{four_layer_model.name}-abstracts",
        f"{four_layer_model.name}-abstracts-2",
    ]


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("make_data", "mentions", "exit_code"),
    [
        (lambda d: d / "missing.jsonl", "does not exist", 2),
        (lambda d: _write(d / "blob.txt", bytes(range(256)) * 4), "binary file", 2),
        (
            lambda d: _write(d / "bad.jsonl", b'{"abstract": "fine"}\n\n{"abstract": oops}\n'),
            "bad.jsonl:3: malformed JSON",
            2,
        ),
        (lambda d: _write(d / "blank.txt", b"  \n\n\t\n"), "no usable text", 2),
        (
            lambda d: _write(d / "cols.csv", b'title,"notes"\n"a","b\nc"\n'),
            "no 'abstract', 'text' or 'summary' column",
            2,
        ),
        (lambda d: _write(d / "refs.bib", b"@article{x, title = {Only a title}}\n"), "no entries with an abstract", 2),
        (lambda d: _write(d / "few.txt", b"One abstract.\n\nAnother one.\n\nA third.\n"), "one batch needs 2", 2),
        (lambda d: "hf:ccdv/arxiv-classification", "cannot load hf:ccdv/arxiv-classification", 1),
    ],
)
def test_bad_data_is_one_line_and_leaves_nothing(capsys, four_layer_model, tmp_path, make_data, mentions, exit_code):
    output = tmp_path / "out"
    code, _, err = run_cli(capsys, *finetune_args(four_layer_model, make_data(tmp_path), output))
    assert_one_line_error(code, err, exit_code, mentions)
    assert not output.exists() and not (tmp_path / ".out.partial").exists()


@pytest.mark.parametrize(
    ("extra", "mentions"),
    [
        (("--steps", "-5"), "argument --steps: '-5' is not a positive integer"),
        (("--lr", "0"), "argument --lr"),
        (("--warmup-steps", "9"), "--warmup-steps must be between 0 and --steps"),
        (("--train-last-blocks", "7"), "for this model's 4 blocks, not 7"),
        (("--precision", "int8"), "invalid choice"),
    ],
)
def test_bad_settings(capsys, four_layer_model, abstracts, tmp_path, extra, mentions):
    output = tmp_path / "out"
    code, _, err = run_cli(capsys, *finetune_args(four_layer_model, abstracts, output, *extra))
    assert_one_line_error(code, err, 2, mentions)
    assert not output.exists() and not (tmp_path / ".out.partial").exists()


def test_unwritable_or_existing_output(capsys, four_layer_model, abstracts, tmp_path):
    blocker = _write(tmp_path / "a-file", b"x")
    code, _, err = run_cli(capsys, *finetune_args(four_layer_model, abstracts, blocker / "model"))
    assert_one_line_error(code, err, 2, "cannot write to")
    existing = tmp_path / "existing"
    existing.mkdir()
    code, _, err = run_cli(capsys, *finetune_args(four_layer_model, abstracts, existing))
    assert_one_line_error(code, err, 2, "already exists")
    code, _, err = run_cli(capsys, *finetune_args(four_layer_model, abstracts, tmp_path / "never-started", "--resume"))
    assert_one_line_error(code, err, 2, "nothing to resume")


def test_missing_base_model(capsys, abstracts, tmp_path):
    code, _, err = run_cli(capsys, *finetune_args(tmp_path / "no-such-model", abstracts, tmp_path / "out"))
    assert_one_line_error(code, err, 2, "does not exist")


def test_ctrl_c_stops_with_a_checkpoint_and_resume_finishes(four_layer_model, abstracts, tmp_path):
    output = tmp_path / "run"
    args = [
        sys.executable,
        "-m",
        "arxiv_tui",
        *finetune_args(four_layer_model, abstracts, output, "--json", "--precision", "fp32"),
    ]
    args[args.index("--steps") + 1] = "400"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    interrupted_at = None
    for line in process.stdout:
        event = json.loads(line)
        if event["event"] == "step" and event["step"] >= 3:
            process.send_signal(signal.SIGINT)
            interrupted_at = event["step"]
            break
    remaining = process.stdout.read()
    err = process.stderr.read()
    assert process.wait(timeout=60) == 130, err
    last_step = max(
        [interrupted_at] + [json.loads(line)["step"] for line in remaining.splitlines() if '"step"' in line]
    )
    assert f"interrupted at step {last_step}/400" in err and "--resume" in err and "Traceback" not in err
    assert not output.exists() and (tmp_path / ".run.partial" / "checkpoint.pt").exists()

    done = subprocess.run([*args, "--resume"], capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    steps = [json.loads(line)["step"] for line in done.stdout.splitlines() if json.loads(line)["event"] == "step"]
    assert steps[0] == last_step + 1 and steps[-1] == 400
    assert json.loads((output / "metrics.json").read_text())["steps"] == 400


def test_eval_of_a_model_without_an_end_token_is_one_line(capsys, abstracts, tmp_path):
    from tests.helpers import build_model

    model = build_model(tmp_path / "no-eos", with_eos=False)
    code, _, err = run_cli(capsys, "eval", "--model", str(model), "--data", str(abstracts), "--samples", "4")
    assert_one_line_error(code, err, 2, "has no end-of-text token")


def test_a_few_steps_need_no_warm_up_setting(capsys, four_layer_model, abstracts, tmp_path):
    args = finetune_args(four_layer_model, abstracts, tmp_path / "short")
    args = args[: args.index("--warmup-steps")] + args[args.index("--warmup-steps") + 2 :]  # the default
    code, _, err = run_cli(capsys, *args)  # 4 steps: the warm-up is 4, not the recipe's 10
    assert code == 0, err
    assert json.loads((tmp_path / "short" / "metrics.json").read_text())["recipe"]["warmup_steps"] == 4
    code, _, err = run_cli(capsys, *finetune_args(four_layer_model, abstracts, tmp_path / "bad", "--warmup-steps", "8"))
    assert_one_line_error(code, err, 2, "--warmup-steps")  # asked for explicitly: an error


def _torchrun(*launch: str, finetune: list[str]) -> subprocess.Popen:
    """`torchrun LAUNCH -m arxiv_tui FINETUNE` (gloo on CPU; the environment, so the test's
    data directory, is inherited)."""
    return subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", *launch, "-m", "arxiv_tui", *finetune],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_torchrun_two_processes_write_one_model(four_layer_model, abstracts, tmp_path):
    output = tmp_path / "together"
    run = _torchrun("--nproc_per_node", "2", finetune=finetune_args(four_layer_model, abstracts, output, "--json"))
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, err[-3000:]
    assert json.loads((output / "metrics.json").read_text())["world_size"] == 2
    assert (output / "model.safetensors").exists() and not list(tmp_path.glob(".*.partial"))
    assert [json.loads(line)["event"] for line in out.splitlines()].count("done") == 1  # one process speaks


def test_torchrun_on_two_machines_sharing_a_file_system(four_layer_model, abstracts, tmp_path):
    import socket

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = str(free.getsockname()[1])
    output = tmp_path / "two-nodes"
    nodes = [
        _torchrun(
            "--nnodes",
            "2",
            "--node_rank",
            str(rank),
            "--nproc_per_node",
            "1",
            "--master_addr",
            "127.0.0.1",
            "--master_port",
            port,
            finetune=finetune_args(four_layer_model, abstracts, output, "--json"),
        )
        for rank in (0, 1)
    ]
    results = [node.communicate(timeout=300) for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], results[0][1][-2000:] + results[1][1][-2000:]
    assert json.loads((output / "metrics.json").read_text())["world_size"] == 2
    assert '"event": "done"' in results[0][0] and not results[1][0].strip()  # only the main machine speaks


def test_torchrun_interrupted_then_resumed(four_layer_model, abstracts, tmp_path):
    """Ctrl+C in a terminal reaches torchrun and both processes: they stop at the same step with one
    checkpoint, and the same launch with --resume finishes the run."""
    output = tmp_path / "stopped"
    args = finetune_args(four_layer_model, abstracts, output, "--json", "--precision", "fp32")
    args[args.index("--steps") + 1] = "400"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    run = subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "arxiv_tui", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    for line in run.stdout:
        if '"step"' in line and json.loads(line)["step"] >= 3:
            os.killpg(run.pid, signal.SIGINT)  # what Ctrl+C does: the whole foreground group
            break
    out, err = run.communicate(timeout=120)
    assert run.returncode != 0 and "interrupted at step" in err and "--resume" in err, err[-3000:]
    stopped_at = int(err.split("interrupted at step ")[1].split("/")[0])
    assert not output.exists() and (tmp_path / ".stopped.partial" / "checkpoint.pt").exists()

    resumed = _torchrun("--nproc_per_node", "2", finetune=[*args, "--resume"])
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-3000:]
    steps = [json.loads(line)["step"] for line in out.splitlines() if '"step"' in line]
    assert steps[0] == stopped_at + 1 and steps[-1] == 400
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["steps"] == 400 and metrics["world_size"] == 2


def test_finetune_without_the_train_extra_is_one_line(capsys, monkeypatch, four_layer_model, abstracts, tmp_path):
    monkeypatch.setitem(sys.modules, "accelerate", None)  # as an install without `[train]` has it
    code, _, err = run_cli(capsys, *finetune_args(four_layer_model, abstracts, tmp_path / "out"))
    assert_one_line_error(code, err, 1, "pip install 'arxiv-tui[train]'")
    assert not (tmp_path / "out").exists()
