"""The command-line contract: output shapes, and one-line errors with the right exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from arxiv_tui.runtime.checkpoint import resolve_precision
from tests.helpers import assert_one_line_error, run_cli


def test_generate_json(capsys, tiny_model):
    code, out, _ = run_cli(
        capsys,
        "generate",
        "--model",
        str(tiny_model),
        "-n",
        "2",
        "--max-new-tokens",
        "5",
        "--seed",
        "3",
        "--json",
        "We study",
    )
    assert code == 0
    result = json.loads(out)
    assert set(result) == {"model", "prompt", "settings", "alternatives", "timing"}
    assert result["prompt"] == "We study"
    assert len(result["alternatives"]) == 2
    for alt in result["alternatives"]:
        assert set(alt) == {"text", "tokens", "finish_reason"}
        assert alt["finish_reason"] in {"eos", "length"}
        assert 0 < alt["tokens"] <= 5 or alt["finish_reason"] == "eos"
    assert set(result["timing"]) == {"load_s", "ttft_s", "total_s", "tokens_per_s"}
    assert result["timing"]["total_s"] >= result["timing"]["ttft_s"] > 0


def test_generate_greedy_text_and_stdin(capsys, monkeypatch, trained_model):
    args = ("generate", "--model", str(trained_model), "-n", "2", "--greedy", "--max-new-tokens", "8")
    code, out, _ = run_cli(capsys, *args, "-", stdin="We propose", monkeypatch=monkeypatch)
    assert code == 0
    first, second = out.strip().split("\n\n")
    assert first.startswith("[1] ") and second.startswith("[2] ")
    assert first[4:] == second[4:]  # greedy: every alternative is the argmax path
    code, again, _ = run_cli(capsys, *args, "We propose")
    assert again == out


def test_generate_handles_a_60000_character_prompt(capsys, tiny_model):
    code, out, err = run_cli(
        capsys, "generate", "--model", str(tiny_model), "-n", "1", "--max-new-tokens", "4", "--json", "word " * 12000
    )
    assert code == 0, err
    assert json.loads(out)["alternatives"][0]["tokens"] > 0


@pytest.mark.parametrize(
    "args, mentions",
    [
        (["-n", "0"], "-n"),
        (["-n", "-2"], "-n"),
        (["--temperature", "-0.5"], "--temperature"),
        (["--top-p", "0"], "--top-p"),
        (["--top-p", "1.01"], "--top-p"),
        (["--max-new-tokens", "0"], "--max-new-tokens"),
        (["--max-new-tokens", "2.5"], "--max-new-tokens"),
        (["--max-new-tokens", "100000"], "max_new_tokens must be below the model's context"),
        (["--precision", "fp8"], "--precision"),
    ],
)
def test_bad_generation_options(capsys, tiny_model, args, mentions):
    code, _, err = run_cli(capsys, "generate", "--model", str(tiny_model), *args, "We")
    assert_one_line_error(code, err, 2, mentions)


def test_unknown_subcommand(capsys):
    code, _, err = run_cli(capsys, "frobnicate")
    assert_one_line_error(code, err, 2, "frobnicate")


def _broken_copy(source, target, remove=(), write=None):
    import shutil

    shutil.copytree(source, target)
    for name in remove:
        (target / name).unlink()
    for name, content in (write or {}).items():
        (target / name).write_bytes(content)
    return target


@pytest.mark.parametrize(
    "damage, mentions",
    [
        ({"remove": ["config.json"]}, "no config.json"),
        ({"write": {"config.json": b"{not json"}}, "not valid JSON"),
        ({"write": {"config.json": b'{"model_type": "bert"}'}}, "bert"),
        ({"remove": ["model.safetensors"]}, "no weights"),
        ({"remove": ["tokenizer.json"]}, "no tokenizer"),
        ({"write": {"model.safetensors": b"\x00" * 64}}, "weights"),
        ({"write": {"tokenizer.json": b"garbage"}}, "tokenizer"),
    ],
)
def test_broken_model_directories(capsys, tmp_path, tiny_model, damage, mentions):
    broken = _broken_copy(tiny_model, tmp_path / "broken", **damage)
    code, _, err = run_cli(capsys, "generate", "--model", str(broken), "We")
    assert_one_line_error(code, err, 2, mentions)


def test_missing_model_directory(capsys, tmp_path):
    code, _, err = run_cli(capsys, "generate", "--model", str(tmp_path / "nowhere"), "We")
    assert_one_line_error(code, err, 2, "does not exist")


def test_unreachable_hub_says_how_to_go_on(capsys):
    code, _, err = run_cli(capsys, "generate", "We")  # HF_HUB_OFFLINE=1, empty HF_HOME
    assert_one_line_error(code, err, 1, "arxiv-tui finetune")


def test_entry_point_runs_as_a_module(tiny_model):
    done = subprocess.run(
        [sys.executable, "-m", "arxiv_tui", "generate", "--model", str(tiny_model), "--top-p", "7", "x"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("arxiv-tui: error: ") and "Traceback" not in done.stderr


def test_models_registry(capsys, tiny_model):
    from arxiv_tui.runtime.registry import register_model, resolve_model

    register_model("mine", tiny_model)
    assert resolve_model("mine") == tiny_model.resolve()
    code, out, _ = run_cli(capsys, "models", "list")
    assert code == 0 and "mine" in out and str(tiny_model.resolve()) in out
    code, out, _ = run_cli(capsys, "generate", "--model", "mine", "-n", "1", "--max-new-tokens", "2", "We")
    assert code == 0 and out.startswith("[1]")
    code, _, _ = run_cli(capsys, "models", "rm", "mine")
    assert code == 0 and tiny_model.exists()  # outside the data dir: only forgotten
    code, _, err = run_cli(capsys, "models", "rm", "mine")
    assert_one_line_error(code, err, 2, "no registered model")


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["auto", "torch"])
def test_bench_json(capsys, tiny_model, runtime):
    code, out, err = run_cli(
        capsys, "bench", "--model", str(tiny_model), "-n", "2", "--max-new-tokens", "6", "--runs", "1", "--json",
        "--runtime", runtime,
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    keys = {"median_s", "ttft_s", "tokens_per_s", "peak_rss_mb"}
    assert keys <= set(report["engine"]) and keys <= set(report["baseline"])
    ratio = report["baseline"]["median_s"] / report["engine"]["median_s"]
    assert report["ratio"] == pytest.approx(ratio, rel=0.02, abs=0.005)  # reported to 2 decimals
    floor = report["floor"]  # k steps of reading every weight once, at the rate this machine reads now
    assert floor["bf16_s"] == pytest.approx(2 * floor["int8_s"]) and floor["read_gb_per_s"] > 0
    precision = report["settings"]["precision"]
    assert (report["settings"]["runtime"], precision) == (
        ("openvino", "int4") if runtime == "auto" else ("torch", resolve_precision("auto"))
    )
    own = {"int8": floor["int8_s"], "int4": floor["int8_s"] / 2, "fp32": 2 * floor["bf16_s"]}.get(
        precision, floor["bf16_s"]
    )
    assert report["engine_over_floor"] == pytest.approx(report["engine"]["best_s"] / own, rel=0.02, abs=0.005)
    assert report["engine"]["best_s"] <= report["engine"]["median_s"]
    if runtime == "torch":  # the linears alone are part of every step: less than the whole request
        assert 0 < report["engine"]["linears_s"] < report["engine"]["best_s"]
        linears = report["engine"]["linears_s"] / own
        assert report["linears_over_floor"] == pytest.approx(linears, rel=0.02, abs=0.005)
    else:  # OpenVINO's graph has no linear layer to call alone
        assert "linears_s" not in report["engine"] and report["linears_over_floor"] is None
    assert report["settings"]["n"] == 2 and report["settings"]["max_new_tokens"] == 6
    assert report["engine"]["tokens_per_s"] == pytest.approx(12 / report["engine"]["median_s"], rel=0.02)
    assert 0 <= report["fidelity_vs_fp32"]["kl_mean"] < 0.05
    assert report["engine"]["confidence_s"] > 0 and report["engine"]["confidence_after_append_s"] > 0


def test_history_commands(capsys):
    from arxiv_tui.store.history import History

    history = History()
    draft = history.new_draft("We study robots")
    request = history.add_request(draft, "m", "We study robots", {"n": 2})
    history.save_alternatives(request, [(" that walk.", 3, "stop"), (" that fly.", 3, "stop")])
    choice = history.add_choice(request, 1, " that fly.", "whole")
    follower = history.add_request(draft, "m", "We study robots that fly.", {"n": 1}, parent_choice=choice)
    history.save_alternatives(follower, [(" They hover.", 3, "stop")])
    history.save_draft(draft, "We study robots that fly.", 0)
    history.close()

    code, out, _ = run_cli(capsys, "history", "list")
    assert code == 0 and out.startswith(f"{draft}\t") and "robots that fly." in out
    code, out, _ = run_cli(capsys, "history", "show", str(draft))
    assert "[1] that walk." in out and "[2] that fly.  <- accepted (whole)" in out
    code, out, _ = run_cli(capsys, "history", "export", str(draft), "--format", "txt")
    assert out == "We study robots that fly.\n"
    code, out, _ = run_cli(capsys, "history", "export", str(draft))
    assert out.startswith(f"# Draft {draft}") and out.rstrip().endswith("We study robots that fly.")
    code, out, _ = run_cli(capsys, "history", "export", str(draft), "--format", "tex")
    assert out == "\\begin{abstract}\nWe study robots that fly.\n\\end{abstract}\n"
    code, out, _ = run_cli(capsys, "history", "export", str(draft), "--format", "json")
    (root,) = json.loads(out)["tree"]  # one root; the follower hangs under the accepted alternative
    assert root["alternatives"][1]["accepted"] == [{"text": " that fly.", "kind": "whole"}]
    assert root["alternatives"][1]["children"][0]["alternatives"][0]["text"] == " They hover."
    code, out, _ = run_cli(capsys, "history", "search", "walk")
    assert out.startswith("alternative\t")
    code, _, err = run_cli(capsys, "history", "show", "999")
    assert_one_line_error(code, err, 2, "no draft with id 999")
