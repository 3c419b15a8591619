"""Tests for eqlab.train: learning, equal budgets, exact resume, early errors, callbacks, DDP, CUDA."""

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

from eqlab.arms import EQRegArm
from eqlab.checkpoint import load_checkpoint, read_meta
from eqlab.data.images import load_default
from eqlab.models import build
from eqlab.regularizer import EQReg
from eqlab.train import ARMS, CHECKPOINT_NAME, Callback, TrainConfig, Trainer, evaluate, fit

ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def small(**changes) -> TrainConfig:
    """A config that trains in seconds on a CPU."""
    base = dict(features=16, depth=4, patch_size=32, batch_size=8, val_size=64, log_every=1, val_every=0,
                share_every=0, target_share=None)  # a fixed weight unless a test asks for a target share
    return TrainConfig.of(**{**base, **changes})


def test_smoke_and_learning():
    """Default-weight EQ-Reg on a small DnCNN: the loss falls and the output beats the noisy input."""
    result = fit(small(arm="eqreg", steps=80, val_every=40, share_every=20), progress=False)
    losses = [r["task_loss"] for r in result.history if "task_loss" in r]
    assert np.mean(losses[-10:]) < 0.5 * losses[0]
    m = result.metrics
    assert m["psnr"] > m["baseline_psnr"] + 1.0, m  # no collapse to the identity
    assert result.step == 80 and not result.stopped and result.model.training is False
    shares = [r["grad_share"] for r in result.history if "grad_share" in r]
    assert len(shares) == 5 and all(s > 0 for s in shares)  # step 1, then every 20 steps
    assert [r["step"] for r in result.history if "val_psnr" in r] == [0, 40, 80]
    assert any(k.startswith("reg/") for k in result.history[-1])


def test_arms_see_the_same_images(tmp_path):
    seen, streams = {}, {}
    for arm in ARMS:
        records = []
        fit(small(arm=arm, steps=3, out_dir=str(tmp_path / arm)), progress=False, callbacks=[records.append])
        seen[arm] = (records[-1]["images_seen"], records[-1]["samples_seen"])
        _, meta = load_checkpoint(tmp_path / arm / CHECKPOINT_NAME)
        streams[arm] = meta["rng_state"]
    assert {images for images, _ in seen.values()} == {3 * 8}
    assert seen["plain"][1] == 3 * 8 and all(seen[arm][1] == 3 * 16 for arm in ("augment", "eqreg", "strict"))
    for arm in ARMS:  # the same patch and noise draws in every arm: the same images
        for stream in ("r0.data", "r0.noise"):
            assert torch.equal(streams[arm][stream], streams["plain"][stream]), (arm, stream)


class StopAt(Callback):
    def __init__(self, step):
        self.step = step

    def on_step(self, trainer, record):
        if trainer.step == self.step:
            trainer.request_stop()


def test_resume_is_bit_exact(tmp_path):
    """Interrupted at step 12 and resumed: the same weights, adaptive weight and numbers as one whole run."""
    config = small(arm="eqreg", steps=24, val_every=8, share_every=7, target_share=0.1, checkpoint_every=8,
                   log_every=5)
    whole = fit(config.replace(out_dir=str(tmp_path / "whole")), progress=False)
    first = fit(config.replace(out_dir=str(tmp_path / "split")), progress=False, callbacks=[StopAt(12)])
    assert first.step == 12 and first.stopped
    resumed = fit(config.replace(out_dir=str(tmp_path / "split"), resume=True), progress=False)
    assert resumed.step == 24 and not resumed.stopped
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


def test_a_requested_stop_saves_and_returns(tmp_path):
    records = []

    class Enough(Callback):
        def on_step(self, trainer, record):
            records.append(record)
            if len(records) >= 3:
                trainer.request_stop()

    result = fit(small(steps=50, out_dir=str(tmp_path), log_every=10), progress=False, callbacks=[Enough()])
    assert result.stopped and result.step == 3 and len(records) == 3
    assert "task_loss" not in records[-1] and result.history[-1]["step"] == 3  # the last record, made after the fact
    assert "task_loss" in result.history[-1]
    assert read_meta(tmp_path / CHECKPOINT_NAME)["step"] == 3
    assert read_meta(tmp_path / CHECKPOINT_NAME)["extra"]["final"] is False


def test_history_files(tmp_path):
    result = fit(small(steps=4, out_dir=str(tmp_path), log_every=2), progress=False)
    assert set(result.paths) == {"checkpoint", "history_json", "history_csv", "config"}
    history = json.loads(Path(result.paths["history_json"]).read_text())
    assert [r["step"] for r in history] == [0, 1, 2, 4]
    header = Path(result.paths["history_csv"]).read_text().splitlines()[0].split(",")
    assert {"step", "task_loss", "reg_raw", "val_psnr", "reg/head"} <= set(header)
    assert json.loads(Path(result.paths["config"]).read_text())["optim"]["steps"] == 4


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
    (dict(target_share=-1.0), "target_share"),
    (dict(schedule="linear"), "schedule"),
    (dict(warmup=2.0), "warmup"),
    (dict(task="sr", patch_size=33), "divisible by the scale 2"),
    (dict(task="sr", scale=5), "scale"),
    (dict(schedule="multistep"), "milestones must be increasing"),
    (dict(schedule="multistep", milestones="10,5"), "milestones must be increasing"),
    (dict(milestones="10"), "milestones belong to schedule 'multistep'"),
    (dict(loss="l2"), "loss must be one of"),
    (dict(ema_decay=1.0), "ema_decay"),
    (dict(task="sr", data_lr="lr"), "data_lr needs data"),
    (dict(data="hr", data_lr="lr"), "task 'denoise'"),
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
            fit(config, progress=False, callbacks=[records.append])
        assert records == []


def test_augment_needs_no_representation():
    """Augmentation with D4 trains a 12-wide net (12 is not divisible by |D4| = 8: EQ-Reg could not)."""
    result = fit(small(arm="augment", group="D4", features=12, steps=2), progress=False)
    assert result.step == 2
    with pytest.raises(ValueError, match="divisible by 8"):
        fit(small(arm="eqreg", group="D4", features=12, steps=2), progress=False)


def test_config_groups_and_flat_access():
    config = TrainConfig.of(task="sr", steps=7, target_share=0.2)
    assert (config.problem.task, config.optim.steps, config.method.target_share) == ("sr", 7, 0.2)
    assert config.steps == 7 and config.replace(steps=3).optim.steps == 3 and config.steps == 7
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert TrainConfig.from_dict(config.flat()) == config  # flat dicts (eqlab 0.1 checkpoints) read too
    with pytest.raises(TypeError, match="did you mean 'steps'"):
        TrainConfig.of(stpes=3)
    assert set(config.fixed_part()) == {"problem", "net", "method", "optim"}  # run may change on resume


def test_schedule_warms_up_then_decays():
    optim = TrainConfig.of(steps=100, lr=1e-3, warmup=0.1).optim
    lrs = [optim.lr_at(step) for step in range(1, 101)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3) and lrs[-1] == pytest.approx(0.0)
    assert all(a <= b for a, b in zip(lrs[:10], lrs[1:10])) and all(a >= b for a, b in zip(lrs[10:], lrs[11:]))


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")
def test_multistep_schedule_is_pytorchs_multisteplr():
    """Step s trains at lr * gamma ** (milestones <= s): torch's MultiStepLR stepped before each step, as KAIR."""
    optim = TrainConfig.of(steps=12, lr=1e-3, warmup=0.0, schedule="multistep", milestones="4, 8", gamma=0.5).optim
    reference = torch.optim.lr_scheduler.MultiStepLR(torch.optim.SGD([torch.zeros(1)], lr=1e-3), [4, 8], 0.5)
    expected = []
    for _ in range(12):
        reference.step()  # KAIR's update_learning_rate, before the step
        expected.append(reference.get_last_lr()[0])
    assert [optim.lr_at(step) for step in range(1, 13)] == pytest.approx(expected)
    assert optim.milestone_steps() == (4, 8) and optim.lr_at(3) == 1e-3 and optim.lr_at(8) == pytest.approx(2.5e-4)


def test_loss_is_the_configs():
    """loss=l1: the arm's task loss is the L1 distance; recorded as task_loss."""
    trainer = Trainer(small(arm="plain", loss="l1", steps=1), progress=False)
    assert trainer.arm.criterion.name == "l1"
    result = fit(small(arm="plain", loss="charbonnier", charbonnier_eps=1e-9, steps=3), progress=False)
    assert all(r["task_loss"] > 0 for r in result.history if "task_loss" in r)


def test_ema_is_the_average_validation_scores_and_resume_keeps():
    """ema_decay d: the average is d^k w0 + sum (1 - d) d^(k-i) w_i; validated; resumed bit for bit."""
    snapshots = []

    class Snap(Callback):
        def on_start(self, trainer, record):
            snapshots.append({k: v.clone() for k, v in trainer.model.state_dict().items()})

        def on_step(self, trainer, record):
            snapshots.append({k: v.clone() for k, v in trainer.model.state_dict().items()})

    d = 0.7
    result = fit(small(arm="plain", steps=3, ema_decay=d), progress=False, callbacks=[Snap()])
    name = next(n for n, _ in result.model.named_parameters())
    w = [s[name] for s in snapshots]
    expected = d**3 * w[0] + (1 - d) * (d**2 * w[1] + d * w[2] + w[3])
    assert torch.allclose(result.ema.state_dict()[name], expected, atol=1e-6)
    assert not torch.equal(result.ema.state_dict()[name], result.model.state_dict()[name])
    trainer = Trainer(small(arm="plain", steps=3), progress=False)  # the same validation crops
    assert result.metrics["psnr"] == pytest.approx(evaluate(result.ema, trainer.task, trainer.val_images)["psnr"])


def test_ema_resume_is_bit_exact(tmp_path):
    config = small(arm="eqreg", steps=8, ema_decay=0.9, checkpoint_every=4, target_share=0.1, share_every=3)
    whole = fit(config.replace(out_dir=str(tmp_path / "whole")), progress=False)
    fit(config.replace(out_dir=str(tmp_path / "split")), progress=False, callbacks=[StopAt(4)])
    resumed = fit(config.replace(out_dir=str(tmp_path / "split"), resume=True), progress=False)
    for mine, theirs in ((resumed.model, whole.model), (resumed.ema, whole.ema)):
        for key, value in theirs.state_dict().items():
            assert torch.equal(mine.state_dict()[key], value), key
    assert resumed.metrics["psnr"] == whole.metrics["psnr"]
    plain = small(arm="eqreg", steps=8, checkpoint_every=4, target_share=0.1, share_every=3)
    with pytest.raises(ValueError, match="config differs.*ema_decay"):
        fit(plain.replace(out_dir=str(tmp_path / "split"), resume=True), progress=False)


def test_target_share_is_held():
    """The adaptive weight brings the measured gradient share near its target (within a factor of 2)."""
    result = fit(small(arm="eqreg", steps=60, target_share=0.1, share_every=5, log_every=5), progress=False)
    shares = [r["grad_share"] for r in result.history if "grad_share" in r]
    weights = {r["weight"] for r in result.history if "weight" in r}
    assert len(shares) == 13 and len(weights) > 2  # measured at step 1 and every 5 steps; lambda moved
    assert all(0.05 <= s <= 0.2 for s in shares[-5:]), shares


class DetachedNorm(EQReg):
    """A user's variant: the relative term with a detached denominator (the collapse of notebook 3)."""

    def term(self, out, layer):
        half = out.shape[0] // 2
        a = self.group.act(out[:half], self._element, layer.rep)
        d = a - out[half:]
        return d.pow(2).sum() / (a.detach().pow(2).sum() + out[half:].detach().pow(2).sum() + 1e-12)


def test_a_custom_regularizer_trains_through_fit():
    arm = EQRegArm(weight=1e-2, regularizer=DetachedNorm)
    result = fit(small(arm="eqreg", steps=4), arm=arm, progress=False)
    assert isinstance(arm.reg, DetachedNorm) and result.step == 4
    assert {"reg_raw", "reg/head"} <= set(result.history[-1])


def test_stall_check_flags_a_net_that_learned_nothing():
    """lr 1e-8: the net stays where it started, far below its noisy input; the run is flagged."""
    result = fit(small(arm="plain", steps=8, lr=1e-8, val_every=4), progress=False)
    assert result.stalled and result.history[-1]["stalled"] is True
    assert not fit(small(arm="plain", steps=80, lr=2e-3), progress=False).stalled


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
    config = TrainConfig.of(task="denoise", arm="eqreg", features=16, depth=4, patch_size=32, batch_size=4,
                            steps=4, val_size=32, val_every=0, share_every=2, target_share=0.1, log_every=1)
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


def test_colour_net_trains_and_beats_its_input(tmp_path, rgb_folder):
    """--color rgb on an RGB folder: a 3-channel net, read lazily by 2 workers, beats its noisy input."""
    config = small(color="rgb", arm="plain", steps=40, data=str(rgb_folder), test_data=str(rgb_folder), workers=2,
                   out_dir=str(tmp_path / "run"), data_cache=str(tmp_path / "cache"))
    result = fit(config, progress=False)
    assert result.model.channels == 3
    assert result.metrics["psnr"] > result.metrics["baseline_psnr"] + 1.0, result.metrics
    meta = read_meta(tmp_path / "run" / CHECKPOINT_NAME)
    assert meta["config"]["problem"]["color"] == "rgb" and meta["model_config"]["channels"] == 3


def test_resume_with_workers_is_bit_exact(tmp_path):
    """Workers prefetch batches; a checkpoint still stores the streams of the last batch trained on."""
    config = small(steps=6, checkpoint_every=3, workers=2)
    whole = fit(config.replace(out_dir=str(tmp_path / "whole")), progress=False)
    fit(config.replace(out_dir=str(tmp_path / "split")), progress=False, callbacks=[StopAt(3)])
    resumed = fit(config.replace(out_dir=str(tmp_path / "split"), resume=True, workers=0), progress=False)
    for key, value in whole.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key


def test_gray_checkpoint_refuses_an_rgb_config(tmp_path):
    fit(small(steps=1, out_dir=str(tmp_path / "gray")), progress=False)
    with pytest.raises(ValueError, match=r"is a gray net \(1 channel\(s\)\), this run is --color rgb"):
        fit(small(steps=1, color="rgb", init=str(tmp_path / "gray" / CHECKPOINT_NAME)), progress=False)
    with pytest.raises(ValueError, match="config differs.*color"):
        fit(small(steps=2, color="rgb", out_dir=str(tmp_path / "gray"), resume=True), progress=False)


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


def test_a_nan_run_stops_and_is_flagged(tmp_path):
    """Weights that go NaN stop the run and flag it; the NaN run resumed is flagged too (NaN < x is False)."""
    class Poison(Callback):
        def on_step(self, trainer, record):
            if trainer.step == 3:
                with torch.no_grad():
                    next(trainer.model.parameters()).fill_(float("nan"))

    config = small(arm="plain", steps=40, log_every=2, out_dir=str(tmp_path))
    result = fit(config, progress=False, callbacks=[Poison()])
    assert "task_loss is nan" in result.non_finite and result.stalled and result.stopped and result.step == 4
    assert result.metrics["non_finite"] == 1.0 and result.metrics["psnr"] != result.metrics["psnr"]
    resumed = fit(config.replace(resume=True), progress=False)
    assert resumed.non_finite and resumed.stalled and resumed.step == 6


def test_stall_check_reads_nan_as_stalled():
    from types import SimpleNamespace

    from eqlab.train.callbacks import StallCheck

    trainer = SimpleNamespace(non_finite="", stalled=False)
    assert StallCheck()._check(trainer, float("nan"), 20.0) and trainer.stalled is True
    assert not StallCheck()._check(trainer, 25.0, 20.0)


def test_out_dir_checks(tmp_path):
    from eqlab.train.callbacks import check_out_dir

    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="holds a run \\(config.json\\)"):
        check_out_dir(small(out_dir=str(tmp_path)).run)
    check_out_dir(small(out_dir=str(tmp_path), resume=True).run)
    check_out_dir(small(out_dir=str(tmp_path / "new" / "deeper")).run)  # could be created, and is writable
    assert not (tmp_path / "new").exists()  # the check leaves nothing behind


NOTEBOOK_3 = dict(features=16, depth=5, steps=150, patch_size=32, val_size=64, val_every=50, share_every=25,
                  log_every=10, sigma=25)  # notebook 3's fixed-lambda runs in quick mode (what CI runs)


@pytest.mark.parametrize("weight", [0.2, 1.0])
def test_a_strong_fixed_weight_is_capped_and_says_so(weight):
    """Notebook 3's lambda = 0.2 (and 1.0) without a cap returned the noisy input; the share cap keeps it denoising
    and every lowered step is in the history and in a warning that names the weight and the share."""
    with pytest.warns(UserWarning, match=f"lambda = {weight:g} the penalty drove"):
        result = fit(small(arm="eqreg", weight=weight, **NOTEBOOK_3), progress=False)
    measured = [r for r in result.history if "grad_share" in r]
    assert measured[0]["grad_share"] > 0.3 and measured[0]["share_capped"] == 1.0  # step 1: above the cap
    assert all(r["weight"] < weight for r in measured[1:])  # lambda lowered from then on
    assert result.metrics["psnr"] > result.metrics["baseline_psnr"] + 2.0, result.metrics  # still denoising
    assert not result.stalled and result.collapse is None and "max_share = 0.3" in result.warnings[0]


def test_an_uncapped_collapse_is_stopped_with_a_message():
    """The same run at lambda = 0.2 with the cap off: stopped at the validation that finds the noisy input."""
    with pytest.warns(UserWarning, match="EQ-Reg collapsed the net"):
        result = fit(small(arm="eqreg", weight=0.2, max_share=None, **NOTEBOOK_3), progress=False)
    assert result.stopped and result.stalled and result.step < 150
    assert "lambda = 0.2" in result.collapse and "drove up to" in result.collapse and "target_share" in result.collapse
    assert result.warnings == [result.collapse]


def test_a_collapse_at_a_target_share_gives_advice_for_a_share():
    """The cap acts on a fixed weight only: a run that holds a share is told to lower the share, not about the cap
    (the regime grid's SR runs from an equivariant start: 'drove up to 2e5 of the update (step 10)')."""
    arm = EQRegArm(target_share=0.3)
    arm.measured_once, arm.peak = True, (206979.78, 10)
    message = arm.collapse(1000, 29.20, 29.19, 0.1)
    assert "target share 0.3" in message and "drove up to 206979.78 of the update (step 10)" in message
    assert "max_share" not in message and message.endswith("Lower the share (the kit's default is target_share=0.1).")


def test_a_stall_without_a_penalty_is_only_flagged():
    """A plain run that learns nothing is flagged, not stopped: only the penalty's collapse stops a run."""
    result = fit(small(arm="plain", steps=8, lr=1e-8, val_every=2), progress=False)
    assert result.stalled and not result.stopped and result.step == 8 and result.collapse is None


def test_max_share_below_a_target_share_is_refused():
    with pytest.raises(ValueError, match="above max_share"):
        small(arm="eqreg", target_share=0.5).validate()
    with pytest.raises(ValueError, match="above max_share"):
        EQRegArm(target_share=0.5)
    assert small(arm="eqreg", target_share=0.5, max_share=None).validate()


def test_nested_and_paired_folders_train(paired):
    """--recursive reads the sub-folders; --data-lr trains SR on the files' own inputs."""
    config = small(task="sr", color="rgb", arm="eqreg", steps=3, data=str(paired / "HR"), recursive=True,
                   test_data=str(paired / "HR"))
    assert fit(config, progress=False).step == 3
    result = fit(config.replace(data_lr=str(paired / "LR"), dihedral_patches=True), progress=False)
    assert result.step == 3 and np.isfinite(result.history[-1]["task_loss"])
    (paired / "LR" / "sub" / "0002x2.png").unlink()
    with pytest.raises(ValueError, match="without input: 'sub/0002.png'"):
        fit(config.replace(data_lr=str(paired / "LR")), progress=False)
