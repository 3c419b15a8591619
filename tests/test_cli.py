"""Tests for eqlab.cli: flags map one to one onto TrainConfig; train, eval and compare run in-process."""

import dataclasses
import json
import os
import shlex
import subprocess
import sys
import types
from pathlib import Path

import pytest

from eqlab import cli
from eqlab.cli import build_parser, command_for, config_from_args, main
from eqlab.train import ARMS, CHECKPOINT_NAME, SECTIONS, TrainConfig

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
    for group in SECTIONS.values():
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
    recipe_like = config.replace(skip_layers="*.attn.qkv", schedule="multistep", milestones="5,6", loss="l1")
    command = command_for(recipe_like)
    assert "--skip-layers '*.attn.qkv'" in command  # quoted: a shell would expand the pattern
    assert config_from_args(build_parser().parse_args(shlex.split(command)[3:])) == recipe_like


def test_train_then_eval(tmp_path, capsys):
    out_dir = tmp_path / "run"
    assert main(["train", "--arm", "eqreg", "--steps", "3", "--out-dir", str(out_dir), "--json", *SMALL]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["step"] == 3 and summary["paths"]["checkpoint"] == str(out_dir / CHECKPOINT_NAME)
    assert {"psnr", "baseline_psnr", "psnr_rot90", "output_error", "layer_error"} <= set(summary["metrics"])

    modes = {path.name: path.stat().st_mode & 0o777 for path in out_dir.iterdir() if path.is_file()}
    assert len(set(modes.values())) == 1 and modes[CHECKPOINT_NAME] & 0o044, modes  # 0644, not safetensors' 0600

    assert main(["eval", str(out_dir / CHECKPOINT_NAME), "--rotate", "--crop", "48"]) == 0
    out = capsys.readouterr().out
    assert "dncnn (denoise/eqreg, 3 steps), 5 images" in out and "noisy input" in out
    assert "rot 270°: PSNR" in out and "element" not in out and "mean layer error" in out
    assert main(["eval", str(out_dir / CHECKPOINT_NAME), "--crop", "48", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == 5


def test_eval_scores_the_moving_average_unless_raw(tmp_path, capsys):
    out_dir = tmp_path / "run"
    assert main(["train", "--arm", "plain", "--steps", "3", "--ema-decay", "0.5", "--loss", "l1", "--out-dir",
                 str(out_dir), "--json", *SMALL]) == 0
    trained = json.loads(capsys.readouterr().out)["metrics"]["psnr"]
    scores = {}
    for flags in ([], ["--raw"]):
        assert main(["eval", str(out_dir / CHECKPOINT_NAME), "--crop", "48", *flags]) == 0
        out = capsys.readouterr().out
        assert ("the trained weights (--raw)" if flags else "the moving average of the weights") in out
        assert main(["eval", str(out_dir / CHECKPOINT_NAME), "--crop", "48", "--json", *flags]) == 0
        scores[bool(flags)] = json.loads(capsys.readouterr().out)
    assert scores[False]["weights"] == "ema" and scores[True]["weights"] == "raw"
    assert scores[False]["psnr"] != scores[True]["psnr"]
    assert trained == pytest.approx(scores[False]["psnr"])  # training validated the average


def test_dry_run_sets_up_without_training(tmp_path, capsys):
    out_dir = tmp_path / "run"
    assert main(["train", "--arm", "eqreg", "--layers", "hidden", "--skip-layers", "body.0.*", "--schedule",
                 "multistep", "--milestones", "2,3", "--out-dir", str(out_dir), "--dry-run", *SMALL]) == 0
    text = capsys.readouterr().out
    assert 'schedule = "multistep"' in text and 'milestones = "2,3"' in text
    assert "left plain: matches skip 'body.0.*'" in text and "the bundled training images: 14 images" in text
    assert "activations saved for the backward" in text and not out_dir.exists()  # nothing written, no step
    assert main(["train", "--arm", "plain", "--dry-run", "--json", *SMALL]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert "no penalty" in plan["layers"] and plan["memory"]["images"] == 8 and plan["memory"]["eqreg_terms"] == 0
    assert main(["train", "--arm", "eqreg", "--skip-layers", "nope*", "--dry-run", *SMALL]) == 2
    assert "match no candidate" in capsys.readouterr().err


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


def test_a_bad_flag_value_is_one_line_not_the_usage(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--task", "dehaze"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1 and "usage:" not in err
    assert err.startswith("eqlab train: error: argument --task: invalid choice: 'dehaze'") and "--help" in err


def test_skipped_files_are_one_clean_line(tmp_path, capsys):
    """An unreadable image in --data is reported as ``eqlab eval: warning: skipped ...``, not as a UserWarning with
    the path and source line of eqlab's code."""
    import numpy as np
    from PIL import Image

    assert main(["train", "--steps", "1", "--out-dir", str(tmp_path / "run"), *SMALL]) == 0
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)).save(folder / "a.png")
    (folder / "broken.png").write_bytes(b"not a png")
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "run" / CHECKPOINT_NAME), "--data", str(folder), "--crop", "48"]) == 0
    err = capsys.readouterr().err
    assert "eqlab eval: warning: skipped 1 unreadable file(s)" in err and "broken.png" in err
    assert "UserWarning" not in err and ".py:" not in err


def test_demo_delegates(monkeypatch, capsys):
    calls = []
    monkeypatch.setitem(sys.modules, "eqlab.app", types.SimpleNamespace(main=lambda args: calls.append(args)))
    assert main(["demo", "--port", "7860", "--share"]) == 0
    assert calls == [["--port", "7860", "--share"]]
    monkeypatch.setitem(sys.modules, "eqlab.app", None)  # as if the module were not installed
    assert main(["demo"]) == 2
    assert "eqlab.app is not available" in capsys.readouterr().err


def test_bench_runs_a_script_of_benchmarks_and_prints_ratios(capsys):
    assert main(["bench", "overhead", "--quick", "--threads", "1", "--patch", "16", "--batch", "2"]) == 0
    out = capsys.readouterr().out
    assert "ratios over augment" in out and out.count("DnCNN") == 2  # one row per net of the quick run


def test_exception_bench(monkeypatch, capsys, tmp_path):
    with pytest.raises(SystemExit):
        main(["bench", "nope"])
    assert "invalid choice" in capsys.readouterr().err
    monkeypatch.setattr(cli, "BENCHMARK_DIR", tmp_path)  # an installed package: no benchmarks/ beside it
    assert main(["bench", "overhead"]) == 2
    assert "not found" in capsys.readouterr().err


def test_docs_serves_the_site_on_the_loopback(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(cli.subprocess, "call", lambda command, cwd: calls.append((command, cwd)) or 0)
    monkeypatch.setattr(cli.importlib.util, "find_spec", lambda name: object())  # mkdocs "installed"
    assert main(["docs", "--port", "8123"]) == 0
    (command, cwd), = calls
    assert command[1:4] == ["-m", "mkdocs", "serve"] and "127.0.0.1:8123" in command
    assert command[-1] == str(cli.DOCS_CONFIG) and cwd == cli.DOCS_CONFIG.parent
    assert "http://127.0.0.1:8123" in capsys.readouterr().err
    assert main(["docs", "--build"]) == 0 and calls[-1][0][3:5] == ["build", "--strict"]


def test_exception_docs(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(cli.importlib.util, "find_spec", lambda name: None)  # no mkdocs
    assert main(["docs"]) == 2
    assert ".[docs]" in capsys.readouterr().err
    monkeypatch.setattr(cli, "DOCS_CONFIG", tmp_path / "mkdocs.yml")  # an installed package: no checkout
    assert main(["docs"]) == 2
    assert "not found" in capsys.readouterr().err


def test_python_dash_m():
    done = subprocess.run([sys.executable, "-m", "eqlab", "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and "compare" in done.stdout


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # two fresh Python processes importing torch: 15-60 s on two shared cores
def test_torchrun_two_ranks_exit_0(tmp_path):
    out_dir = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH",
                                                                                                         "")]))
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), "-m", "eqlab", "train",
                           "--task", "denoise", "--arm", "eqreg", "--steps", "4", "--out-dir", str(out_dir), "--json",
                           *SMALL], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout)  # one document: only rank 0 prints
    assert summary["step"] == 4 and summary["paths"]["checkpoint"] == str(out_dir / CHECKPOINT_NAME)
    assert (out_dir / CHECKPOINT_NAME).is_file() and "psnr" in summary["metrics"]
    assert main(["eval", str(out_dir / CHECKPOINT_NAME), "--crop", "32", "--json"]) == 0


def _png_folder(folder, sizes=((50, 61), (43, 38))):
    import numpy as np
    from PIL import Image

    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate(sizes):
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        Image.fromarray(image).save(folder / f"im{i}.png")
    return folder


@pytest.mark.parametrize(("scale", "arm"), [(3, "strict"), (4, "eqreg")])
def test_sr_scales_then_eval_on_test_sets(tmp_path, capsys, scale, arm):
    out_dir = tmp_path / "run"
    assert main(["train", "--task", "sr", "--scale", str(scale), "--arm", arm, "--steps", "2", "--out-dir",
                 str(out_dir), *SMALL, "--patch-size", "48"]) == 0
    capsys.readouterr()
    sets = [str(_png_folder(tmp_path / "SetA")), str(_png_folder(tmp_path / "SetB", sizes=((40, 40),)))]
    checkpoint = str(out_dir / CHECKPOINT_NAME)
    assert main(["eval", checkpoint, "--test-data", *sets, "--self-ensemble", "D4"]) == 0
    out = capsys.readouterr().out
    assert f"SetA: 2 whole images, sr x{scale}; PSNR / SSIM on the gray images, border {scale} px" in out
    assert "SetB: 1 whole images" in out and "PSNR+D4" in out and "bicubic PSNR" in out
    assert main(["eval", checkpoint, "--test-data", sets[0], "--test-data", sets[1], "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert list(result["test_sets"]) == ["SetA", "SetB"]
    set_a = result["test_sets"]["SetA"]
    assert [r["image"] for r in set_a["images"]] == ["im0.png", "im1.png"]
    assert set_a["self_ensemble"] is None and "psnr_plus" not in set_a["mean"]


def test_eval_self_ensemble_is_exactly_equivariant(tmp_path, capsys):
    out_dir = tmp_path / "run"
    assert main(["train", "--arm", "plain", "--steps", "2", "--out-dir", str(out_dir), *SMALL]) == 0
    capsys.readouterr()
    assert main(["eval", str(out_dir / CHECKPOINT_NAME), "--crop", "32", "--self-ensemble", "C4", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["output_error"] > 1e-3 and result["self_ensemble"]["output_error"] < 1e-5
    assert result["self_ensemble"]["group"] == "C4"


# -- nothing lost, nothing silently wrong ----------------------------------------------------------------

def test_out_dir_holding_a_run_is_refused_before_any_model_is_built(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    assert main(["train", "--arm", "plain", "--steps", "2", "--out-dir", str(run), *SMALL]) == 0
    before = {name: (run / name).read_bytes() for name in (CHECKPOINT_NAME, "config.json", "history.json")}
    capsys.readouterr()

    import eqlab.train.loop as loop

    def no_model(*args, **kwargs):
        raise AssertionError("a model was built")

    monkeypatch.setattr(loop, "build", no_model)
    assert main(["train", "--arm", "plain", "--steps", "3", "--out-dir", str(run), *SMALL]) == 2
    err = capsys.readouterr().err
    assert "holds a run" in err and "--resume" in err and "--overwrite" in err
    assert {name: (run / name).read_bytes() for name in before} == before  # nothing replaced
    (tmp_path / "file").write_text("not a folder")
    assert main(["train", "--steps", "2", "--out-dir", str(tmp_path / "file"), *SMALL]) == 2
    assert "is a file" in capsys.readouterr().err
    if os.path.isdir("/proc/self"):
        assert main(["train", "--steps", "2", "--out-dir", "/proc/eqlab-run", *SMALL]) == 2
        assert "cannot be written" in capsys.readouterr().err
    assert main(["train", "--steps", "2", "--out-dir", str(run), "--resume", "--overwrite", *SMALL]) == 2
    assert "exclude each other" in capsys.readouterr().err
    monkeypatch.undo()
    assert main(["train", "--arm", "plain", "--steps", "3", "--out-dir", str(run), "--overwrite", "--json",
                 *SMALL]) == 0
    assert json.loads(capsys.readouterr().out)["step"] == 3  # replaced, as asked


def test_blur_length_inf_is_a_clear_error(capsys):
    assert main(["train", "--task", "deblur", "--blur-length", "inf", *SMALL]) == 2
    assert "blur_length" in capsys.readouterr().err
    assert main(["train", "--task", "deblur", "--blur-length", "nan", *SMALL]) == 2


def test_eval_of_a_nan_net_exits_3_with_a_message(tmp_path, capsys):
    import torch

    from eqlab.checkpoint import save_checkpoint
    from eqlab.models import build

    net = build("dncnn", features=8, depth=3)
    with torch.no_grad():
        next(net.parameters()).fill_(float("nan"))  # the checksum is of these weights: a valid file
    path = save_checkpoint(tmp_path / "nan.safetensors", net, TrainConfig.of(features=8, depth=3).to_dict())
    assert main(["eval", str(path), "--crop", "32"]) == 3
    captured = capsys.readouterr()
    assert "PSNR nan" in captured.out and "NaN or infinite values on 5 of 5 images" in captured.err
