"""Tests for eqlab.train: learning, equal budgets, exact resume, early errors, evaluate, DDP, CUDA."""

import dataclasses
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from eqlab.checkpoint import read_meta, load_checkpoint
from eqlab.data.images import load_default
from eqlab.models import build
from eqlab.train import ARMS, CHECKPOINT_NAME, TrainConfig, evaluate, fit

ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def small(**changes) -> TrainConfig:
    """A config that trains in seconds on a CPU."""
    base = dict(features=16, depth=4, patch_size=32, batch_size=8, val_size=64, log_every=1, val_every=0,
                share_every=0)
    return TrainConfig(**{**base, **changes})


def test_smoke_and_learning():
    """Default-weight EQ-Reg on a small DnCNN: the loss falls and the output beats the noisy input."""
    result = fit(small(arm="eqreg", steps=80, val_every=40, share_every=20), progress=False)
    losses = [r["task_loss"] for r in result.history if "task_loss" in r]
    assert np.mean(losses[-10:]) < 0.5 * losses[0]
    m = result.metrics
    assert m["psnr"] > m["baseline_psnr"] + 1.0, m  # no collapse to the identity
    assert result.step == 80 and not result.stopped and result.model.training is False
    shares = [r["grad_share"] for r in result.history if "grad_share" in r]
    assert len(shares) == 4 and all(s > 0 for s in shares)
    assert [r["step"] for r in result.history if "val_psnr" in r] == [0, 40, 80]
    assert any(k.startswith("reg/") for k in result.history[-1])


def test_arms_see_the_same_images(tmp_path):
    seen, streams = {}, {}
    for arm in ARMS:
        records = []
        fit(small(arm=arm, steps=3, out_dir=str(tmp_path / arm)), progress=False, callback=records.append)
        seen[arm] = (records[-1]["images_seen"], records[-1]["samples_seen"])
        _, meta = load_checkpoint(tmp_path / arm / CHECKPOINT_NAME)
        streams[arm] = meta["rng_state"]
    assert {images for images, _ in seen.values()} == {3 * 8}
    assert seen["plain"][1] == 3 * 8 and all(seen[arm][1] == 3 * 16 for arm in ("augment", "eqreg", "strict"))
    for arm in ARMS:  # the same patch and noise draws in every arm: the same images
        for stream in ("r0.data", "r0.noise"):
            assert torch.equal(streams[arm][stream], streams["plain"][stream]), (arm, stream)


def test_resume_is_bit_exact(tmp_path):
    config = small(arm="eqreg", steps=24, val_every=8, share_every=7, checkpoint_every=8, log_every=5)
    whole = fit(dataclasses.replace(config, out_dir=str(tmp_path / "whole")), progress=False)
    first = fit(dataclasses.replace(config, steps=12, out_dir=str(tmp_path / "split")), progress=False)
    assert first.step == 12
    resumed = fit(dataclasses.replace(config, out_dir=str(tmp_path / "split"), resume=True), progress=False)
    assert resumed.step == 24
    for key, value in whole.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key

    def numbers(history):
        return [{k: v for k, v in r.items() if not k.endswith("_s") and k != "steps"} for r in history]

    resumed_by_step = {r["step"]: r for r in numbers(resumed.history)}
    for record in numbers(whole.history):  # the same numbers; the split run also logged its last step, 12
        assert resumed_by_step[record["step"]] == record
    assert set(resumed_by_step) - {r["step"] for r in whole.history} == {12}
    saved = json.loads((tmp_path / "split" / "history.json").read_text())
    assert [r["step"] for r in saved] == sorted(resumed_by_step)


def test_resume_refuses_another_run(tmp_path):
    fit(small(steps=2, out_dir=str(tmp_path)), progress=False)
    with pytest.raises(ValueError, match="config differs.*lr"):
        fit(small(steps=4, lr=1e-2, out_dir=str(tmp_path), resume=True), progress=False)


def test_should_stop_saves_and_returns(tmp_path):
    records = []
    result = fit(small(steps=50, out_dir=str(tmp_path)), progress=False, callback=records.append,
                 should_stop=lambda: len(records) >= 3)
    assert result.stopped and result.step == 3 and len(records) == 3
    assert read_meta(tmp_path / CHECKPOINT_NAME)["step"] == 3
    assert read_meta(tmp_path / CHECKPOINT_NAME)["extra"]["final"] is False


def test_history_files(tmp_path):
    result = fit(small(steps=4, out_dir=str(tmp_path), log_every=2), progress=False)
    assert set(result.paths) == {"checkpoint", "history_json", "history_csv", "config"}
    history = json.loads(Path(result.paths["history_json"]).read_text())
    assert [r["step"] for r in history] == [0, 1, 2, 4]
    header = Path(result.paths["history_csv"]).read_text().splitlines()[0].split(",")
    assert {"step", "task_loss", "reg_raw", "val_psnr", "reg/head"} <= set(header)
    assert json.loads(Path(result.paths["config"]).read_text())["steps"] == 4


@pytest.mark.parametrize("changes, message", [
    (dict(task="inpaint"), "task"),
    (dict(arm="both"), "arm"),
    (dict(model="resnet"), "model"),
    (dict(steps=0), "steps"),
    (dict(lr=0.0), "lr"),
    (dict(weight=-1.0), "weight"),
    (dict(group="C5"), "group"),
    (dict(norm="l1"), "norm"),
    (dict(device="tpu"), "device"),
    (dict(resume=True), "out_dir"),
    (dict(task="sr", patch_size=33), "divisible by the scale 2"),
    (dict(task="sr", scale=5), "scale"),
])
def test_exception_config(changes, message):
    with pytest.raises(ValueError, match=message):
        small(**changes).validate()


def write_png(path: Path, size: int) -> None:
    from PIL import Image

    Image.fromarray(np.full((size, size), 128, dtype=np.uint8)).save(path)


def test_exception_data_before_any_step(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    write_png(tiny / "a.png", 16)
    cases = [
        (small(data=str(empty)), "holds no image file"),
        (small(data=str(tmp_path / "missing")), "does not exist"),
        (small(data=str(tiny)), "smaller than the patch size"),
        (small(task="deblur", patch_size=30), "divisible by 4"),
        (small(arm="strict", group="D4"), "C4 and C2 only"),
        (small(features=12, group="D4"), "divisible by 8"),
    ]
    for config, message in cases:
        records = []
        with pytest.raises(ValueError, match=message):
            fit(config, progress=False, callback=records.append)
        assert records == []


def test_evaluate_strict_twin_is_equivariant():
    torch.manual_seed(0)
    model = build("dncnn_p4", fields=4, depth=3)
    images = [y[:, :40, :56] for y in load_default("test")[:2]]  # non-square on purpose
    result = evaluate(model, "denoise", images, rotations=True)
    assert result["images"] == 2
    assert result["output_error"] < 1e-5 and result["layer_error"] < 1e-5
    assert abs(result["psnr_rot90"] - result["psnr"]) < 1e-3
    assert set(result["psnr_rot"]) == {0, 1, 2, 3}
    assert 19 < result["baseline_psnr"] < 22  # sigma 25 on [0, 1]: about 20.2 dB
    plain = evaluate(build("dncnn", features=8, depth=3), small(), images)
    assert plain["layer_error"] > 0.1


def test_evaluate_sr_baseline_is_bicubic():
    model = build("srnet", features=8, depth=3, scale=2)
    result = evaluate(model, "sr", [y[:, :48, :48] for y in load_default("test")[:2]])
    assert result["baseline_psnr"] > 20 and result["psnr"] > 15


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CHILD = textwrap.dedent("""
    import sys, torch
    from eqlab.train import TrainConfig, fit
    config = TrainConfig(task="denoise", arm="eqreg", features=16, depth=4, patch_size=32, batch_size=4,
                         steps=4, val_size=32, val_every=0, share_every=2, log_every=1)
    result = fit(config, progress=False)
    torch.save({k: v.cpu() for k, v in result.model.state_dict().items()}, sys.argv[1])
""")


@pytest.mark.slow  # two fresh Python processes importing torch: 15-60 s on two shared cores
def test_ddp_two_cpu_processes_end_identical(tmp_path):
    port = free_port()
    procs = []
    for rank in range(2):
        env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(rank),
                   LOCAL_RANK=str(rank), OMP_NUM_THREADS="1",
                   PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
        procs.append(subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / f"rank{rank}.pt")], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    for proc in procs:
        out, _ = proc.communicate(timeout=240)
        assert proc.returncode == 0, out
    weights = [torch.load(tmp_path / f"rank{rank}.pt") for rank in range(2)]
    assert weights[0].keys() == weights[1].keys()
    for key in weights[0]:  # each rank drew other patches (seed + rank): only DDP keeps them equal
        assert torch.equal(weights[0][key], weights[1][key]), key


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_autocast_training_and_cpu_loading(tmp_path):
    result = fit(small(steps=20, device="cuda", amp=True, out_dir=str(tmp_path), share_every=10), progress=False)
    assert next(result.model.parameters()).device.type == "cuda"
    losses = [r["task_loss"] for r in result.history if "task_loss" in r]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    model, meta = load_checkpoint(tmp_path / CHECKPOINT_NAME, map_location="cpu")
    for key, value in result.model.state_dict().items():
        assert torch.equal(model.state_dict()[key], value.cpu()), key
    assert meta["step"] == 20
