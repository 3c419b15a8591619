"""eqlab.experiments: the grid runner's cache, the standard job's metrics, the statistics of the report."""

import json
import math

import pytest
import torch

from eqlab import zoo
from eqlab.checkpoint import load_checkpoint
from eqlab.experiments import Run, held_share, load_records, mean_std, paired, rotated_crops, run_grid, train_and_score


def _count(run: Run) -> dict:
    """A cheap job (module level: run_grid may send it to a worker process)."""
    return dict(metrics=dict(psnr=float(run.config.seed), baseline_psnr=0.0), train=dict(s_per_step=0.1))


def test_run_grid_caches_by_spec_and_reruns_a_changed_one(tmp_path):
    runs = [Run(f"t/s{seed}", zoo.recipe("denoise", "plain", seed, steps=3), "t") for seed in (0, 1)]
    lines = []
    first = run_grid(runs, tmp_path, work=_count, workers=1, log=lines.append)
    assert set(first) == {"t/s0", "t/s1"} and first["t/s1"]["metrics"]["psnr"] == 1.0
    assert "0 cached, 2 to run" in lines[0]
    again = run_grid(runs, tmp_path, work=_count, workers=1, log=lines.append)
    assert "2 cached, 0 to run" in lines[-1] and again == load_records(tmp_path)
    changed = [runs[0], Run("t/s1", runs[1].config.replace(steps=4), "t")]
    lines.clear()
    run_grid(changed, tmp_path, work=_count, workers=1, log=lines.append)
    assert "1 cached, 1 to run" in lines[0] and len(lines) == 2  # the summary, then the one finished run
    assert not list((tmp_path / "runs").glob("*.tmp"))  # written atomically


def test_a_record_from_before_a_new_field_is_still_cached(tmp_path):
    """A record written before a TrainConfig field existed (here: without loss and ema_decay) is still a hit."""
    run = Run("t/old", zoo.recipe("denoise", "plain", 0, steps=3), "t")
    run_grid([run], tmp_path, work=_count, workers=1)
    path = tmp_path / "runs" / "t__old.json"
    record = json.loads(path.read_text())
    for name in ("loss", "ema_decay"):
        del record["spec"]["config"]["optim"][name]
    path.write_text(json.dumps(record))
    lines = []
    run_grid([run], tmp_path, work=_count, workers=1, log=lines.append)
    assert "1 cached, 0 to run" in lines[0]
    lines.clear()
    run_grid([Run("t/old", run.config.replace(loss="l1"), "t")], tmp_path, work=_count, workers=1, log=lines.append)
    assert "0 cached, 1 to run" in lines[0]  # a run that uses the new field is another run


def test_exception_run_grid_repeated_keys():
    run = Run("k", zoo.recipe("denoise", "plain", steps=1))
    with pytest.raises(ValueError, match="repeated"):
        run_grid([run, run], "/nonexistent", work=_count)


def test_statistics_pair_by_seed_and_hold_the_geometric_mean():
    def record(seed, psnr):
        return dict(spec=dict(config=dict(optim=dict(seed=seed))), metrics=dict(psnr=psnr))

    a = [record(0, 30.0), record(1, 31.0), record(2, 99.0)]
    b = [record(0, 29.0), record(1, 31.5)]  # seed 2 has no partner: left out
    mean, sd, n = paired(a, b, "psnr")
    assert n == 2 and mean == pytest.approx(0.25) and sd == pytest.approx(math.sqrt(1.125))
    assert mean_std([1.0, None, float("nan")]) == (1.0, 0.0, 1)
    assert math.isnan(mean_std([])[0])
    history = [dict(grad_share=s) for s in (1.0, 1.0, 0.05, 0.2)] + [dict(step=9)]
    assert held_share(history) == pytest.approx(0.1)  # the second half's geometric mean
    assert held_share([dict(step=1)]) is None


def test_rotated_crops_quarter_turn_is_exact_and_other_angles_avoid_padding():
    image = torch.rand(1, 80, 90)
    quarter = rotated_crops([image], 90, 32)[0]
    assert torch.equal(quarter, torch.rot90(rotated_crops([image], 0, 32)[0], 1, (-2, -1)))
    turned = rotated_crops([image], 45, 32)[0]
    assert turned.shape == (1, 32, 32) and turned.min() > 0  # no zero padding reached the crop
    with pytest.raises(ValueError, match="too small"):
        rotated_crops([torch.rand(1, 30, 30)], 45, 32)


def test_module_train_and_score_keeps_both_rotation_metrics_apart(tmp_path):
    """``psnr_rot90`` turns the same degraded input (the net's own equivariance); ``psnr_turned90``
    turns the clean crops before a new degradation. The job must not write one over the other."""
    config = zoo.recipe("denoise", "plain", steps=2, batch_size=2, patch_size=16, val_size=16)
    record = train_and_score(Run("tiny", config, options=dict(angles=[90, 45],
                                                                   model_out=str(tmp_path / "m.safetensors"))))
    m = record["metrics"]
    assert {"psnr_rot90", "psnr_turned90", "psnr_turned45", "baseline_psnr_turned45"} <= set(m)
    assert m["psnr_rot90"] != m["psnr_turned90"]
    assert m["psnr_rot90"] == pytest.approx(zoo.evaluate(record_model(tmp_path), config)["psnr_rot90"], abs=1e-4)
    assert record["train"]["steps"] == 2 and record["command"].startswith("python -m eqlab train")
    json.dumps(record, default=float)  # a record is JSON (the cache)


def test_module_train_and_score_records_the_share_the_run_held():
    """The card and the report read ``train.held_share``: the geometric mean of the second half's measurements."""
    config = zoo.recipe("denoise", "eqreg", steps=30, batch_size=2, patch_size=16, val_size=16)
    record = train_and_score(Run("tiny", config))
    assert record["train"]["held_share"] == pytest.approx(held_share(record["history"]))
    assert record["train"]["held_share"] > 0 and record["train"]["weight"] > 0


def record_model(folder):
    model, _ = load_checkpoint(folder / "m.safetensors")
    return model.eval()
