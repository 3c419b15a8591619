"""Tests for eqlab.cli: flags map one to one onto TrainConfig; train, eval and compare run in-process."""

import dataclasses
import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

from eqlab.cli import build_parser, command_for, config_from_args, main
from eqlab.train import ARMS, CHECKPOINT_NAME, GROUPS, TrainConfig

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--features", "16", "--depth", "4", "--patch-size", "32", "--val-size", "48", "--val-every", "0",
         "--share-every", "0", "--target-share", "none", "--no-progress"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for command in ("train", "eval", "compare", "demo", "bench"):
        assert command in out
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())  # undo argparse's line wrapping
    for group in GROUPS.values():
        assert group.__doc__.splitlines()[0] in out  # one argument group per config group
        for f in dataclasses.fields(group):
            assert "--" + f.name.replace("_", "-") in out, f.name
            assert " ".join(f.metadata["help"].split()) in out, f.name  # the field's metadata is its help text
    with pytest.raises(SystemExit) as exit_:
        main(["eval", "--help"])
    assert exit_.value.code == 0 and "--rotate" in capsys.readouterr().out


def test_flags_map_one_to_one_onto_train_config():
    parser = build_parser()
    assert config_from_args(parser.parse_args(["train"])) == TrainConfig()
    args = parser.parse_args(["train", "--task", "sr", "--arm", "strict", "--batch-size", "4", "--sigma", "none",
                              "--blur-angle-deg", "45", "--no-amp", "--resume", "--out-dir", "x", "--weight", "1e-3",
                              "--target-share", "0.1", "--clip", "none"])
    config = config_from_args(args)
    assert config == TrainConfig.of(task="sr", arm="strict", batch_size=4, sigma=None, blur_angle_deg=45.0, amp=False,
                                    resume=True, out_dir="x", weight=1e-3, target_share=0.1, clip=None)
    compare = parser.parse_args(["compare", "--seeds", "0", "1", "--arms", "plain", "eqreg"])
    assert compare.seeds == [0, 1] and compare.arms == ["plain", "eqreg"] and not hasattr(compare, "arm")


def test_command_for_is_the_inverse_of_the_parser():
    config = TrainConfig.of(task="deblur", arm="eqreg", target_share=0.05, blur_random=True, clip=None, steps=7)
    words = command_for(config).split()
    assert words[:4] == ["python", "-m", "eqlab", "train"]
    assert config_from_args(build_parser().parse_args(words[3:])) == config


def test_train_then_eval(tmp_path, capsys):
    out_dir = tmp_path / "run"
    assert main(["train", "--arm", "eqreg", "--steps", "3", "--out-dir", str(out_dir), "--json", *SMALL]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["step"] == 3 and summary["paths"]["checkpoint"] == str(out_dir / CHECKPOINT_NAME)
    assert {"psnr", "baseline_psnr", "psnr_rot90", "output_error", "layer_error"} <= set(summary["metrics"])

    assert main(["eval", str(out_dir / CHECKPOINT_NAME), "--rotate", "--crop", "48"]) == 0
    out = capsys.readouterr().out
    assert "dncnn (denoise/eqreg, 3 steps), 5 images" in out and "noisy input" in out
    assert "element 3" in out and "mean layer error" in out
    assert main(["eval", str(out_dir / CHECKPOINT_NAME), "--crop", "48", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == 5


def test_compare_prints_a_row_per_arm(capsys):
    assert main(["compare", "--task", "denoise", "--steps", "2", "--batch-size", "2", *SMALL]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "PSNR rot90" in lines[1] and "wall s" in lines[1]
    assert [line.split()[0] for line in lines[2:]] == [*ARMS, "baseline"]


def test_exception_bad_input_exits_2(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "missing"), *SMALL]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["train", "--task", "sr", "--patch-size", "33", "--no-progress"]) == 2
    assert "divisible by the scale" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "none.safetensors")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--arm", "nope"])
    assert "invalid choice" in capsys.readouterr().err


def test_demo_and_bench_delegate(monkeypatch, capsys):
    calls = []
    monkeypatch.setitem(sys.modules, "eqlab.app", types.SimpleNamespace(main=lambda args: calls.append(args)))
    assert main(["demo", "--port", "7860", "--share"]) == 0
    assert calls == [["--port", "7860", "--share"]]
    monkeypatch.setitem(sys.modules, "eqlab.bench", None)  # as if the module were not installed
    assert main(["bench"]) == 2
    assert "eqlab.bench is not available" in capsys.readouterr().err


def test_python_dash_m():
    done = subprocess.run([sys.executable, "-m", "eqlab", "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and "compare" in done.stdout
