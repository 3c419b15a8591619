"""Grids of training runs: a process pool, a cache of finished runs, and the statistics of a comparison.

What is here (the zoo build and the report share it; ``scripts/`` only say *which* runs):
    - ``Run``: one job, a key and a ``TrainConfig`` (plus options of the standard job).
    - ``run_grid(runs, cache, work)``: run every job not already in the cache, in worker
      processes of one torch thread each on a CPU (two shared cores: one thread per process is
      faster and steadier than intra-op threads fighting), one after the other on a GPU. Each
      finished run is a JSON record in ``cache/runs/<key>.json``, written atomically: an
      interrupted grid resumes, and a record whose config changed is run again.
    - ``train_and_score``: the standard job: ``fit``, then the zoo's card evaluation
      (``eqlab.zoo.evaluate``), optionally the test crops turned by other angles before the
      degradation (``rotated_crops``), and what the training logged (time, gradient share, weight,
      stall flag, machine, command).
    - ``mean_std``, ``summarize``, ``paired``: means and spreads over seeds, and differences of
      two arms paired by seed (the honest way to compare arms that saw the same images).

What is not here: which runs a script wants, figures (``eqlab.viz``), pages (the scripts' templates).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch

from eqlab.files import write_text
from eqlab.train import TrainConfig

__all__ = ["Run", "run_grid", "train_and_score", "rotated_crops", "mean_std", "summarize", "paired", "load_records",
           "held_share"]


@dataclass(frozen=True)
class Run:
    """One job of a grid.

    Attributes:
        key: a unique name, e.g. ``"main/denoise/eqreg/s0"`` (the cache file is named after it).
        config: the run's ``TrainConfig``.
        section: which question of the report it answers (free text).
        options: options of the job function, e.g. ``{"angles": [90, 45]}`` for ``train_and_score``.
    """

    key: str
    config: TrainConfig
    section: str = ""
    options: dict = field(default_factory=dict)

    def spec(self) -> dict:
        """What decides the result (the cache is valid while it is unchanged)."""
        return dict(config=self.config.to_dict(), options=self.options)


def _cache_path(cache: Path, key: str) -> Path:
    return cache / "runs" / (key.replace("/", "__") + ".json")


def load_records(cache: str | os.PathLike) -> dict[str, dict]:
    """Every record in ``cache/runs``, ``{key: record}``."""
    records = {}
    for path in sorted(Path(cache, "runs").glob("*.json")):
        record = json.loads(path.read_text())
        records[record["key"]] = record
    return records


def _current(spec: dict | None) -> dict | None:
    """A stored spec as today's ``TrainConfig`` writes it: fields added since it was stored take their defaults
    (a new option that a run did not use does not invalidate it); ``None`` when it no longer parses."""
    if not isinstance(spec, dict) or not isinstance(spec.get("config"), dict):
        return None
    try:
        return dict(spec, config=TrainConfig.from_dict(spec["config"]).to_dict())
    except TypeError:  # a field that no longer exists
        return None


def cached_record(cache: str | os.PathLike, run: Run) -> dict | None:
    """The cached record of ``run``, or None when there is none or its spec has changed.

    Fields added to ``TrainConfig`` after a record was written compare at their defaults, so a cache
    survives a new option as long as the run leaves it at its default.
    """
    path = _cache_path(Path(cache), run.key)
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    return record if _current(record.get("spec")) == run.spec() else None


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def _do(work: Callable[[Run], dict], run: Run, cache: Path) -> dict:
    start = time.perf_counter()
    record = dict(key=run.key, section=run.section, spec=run.spec(), **work(run))
    record["job_s"] = time.perf_counter() - start
    write_text(_cache_path(cache, run.key), json.dumps(record, indent=1, default=float))
    return record


def run_grid(runs: Iterable[Run], cache: str | os.PathLike, work: Callable[[Run], dict] | None = None,
             workers: int | None = None, threads: int = 1, log: Callable[[str], None] | None = None,
             cost: Callable[[Run], float] | None = None) -> dict[str, dict]:
    """Run (or read from the cache) every job; returns ``{key: record}``.

    The workers are spawned processes: call this from a script's ``if __name__ == "__main__":``.

    Args:
        runs: the jobs; keys must be unique.
        cache: folder of the records (``cache/runs/<key>.json``).
        work: ``work(run) -> dict``, a module-level function (it is sent to worker processes);
            default :func:`train_and_score`.
        workers: processes; default 2 on a CPU (at most the cores), 1 with CUDA.
        threads: torch threads per worker on a CPU.
        log: called with one line per finished run (default: print it at once).
        cost: an estimate of each job's cost; the most expensive start first, so the pool does not
            end with one long job alone.
    """
    runs = list(runs)
    keys = [r.key for r in runs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"run keys must be unique; repeated: {sorted({k for k in keys if keys.count(k) > 1})}")
    work = work or train_and_score
    log = log if log is not None else (lambda line: print(line, flush=True))
    cache = Path(cache)
    (cache / "runs").mkdir(parents=True, exist_ok=True)
    records, todo = {}, []
    for run in runs:
        hit = cached_record(cache, run)
        if hit is None:
            todo.append(run)
        else:
            records[run.key] = hit
    if cost is not None:
        todo.sort(key=lambda r: -cost(r))
    cuda = torch.cuda.is_available()
    workers = workers or (1 if cuda else min(2, os.cpu_count() or 1))
    if log:
        log(f"{len(runs)} runs: {len(records)} cached, {len(todo)} to run with {workers} worker(s)")
    start = time.perf_counter()

    def done(record: dict) -> None:
        records[record["key"]] = record
        if log:
            log(f"[{(time.perf_counter() - start) / 60:6.1f} min] {len(records):4d}/{len(runs)} {describe(record)}")

    if workers == 1:
        _init_worker(threads if not cuda else torch.get_num_threads())
        for run in todo:
            done(_do(work, run, cache))
        return records
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_init_worker,
                             initargs=(threads,)) as pool:
        pending = {pool.submit(_do, work, run, cache) for run in todo}
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                done(future.result())
    return records


def describe(record: dict) -> str:
    """One line about a finished record (what ``run_grid`` logs)."""
    m = record.get("metrics", {})
    parts = [record["key"]]
    if "psnr" in m:
        parts.append(f"PSNR {m['psnr']:.2f} (input {m['baseline_psnr']:.2f})")
    if "layer_error" in m:
        parts.append(f"layer err {m['layer_error']:.3f}")
    if record.get("stalled"):
        parts.append("STALLED")
    parts.append(f"{record.get('job_s', 0):.0f} s")
    return "  ".join(parts)


# -- the standard job ----------------------------------------------------------------------------------

def rotated_crops(images: list[torch.Tensor], angle_deg: float, size: int) -> list[torch.Tensor]:
    """Centre ``size x size`` crops of the images turned by ``angle_deg`` before cropping.

    Convention: counter-clockwise as displayed (``eqlab.groups.rotate_by_angle``: exact for
    quarter turns, bilinear otherwise). For other angles a centre crop large enough that the final
    crop holds no padded pixel is turned, so no disk mask is needed; the interpolation smooths the
    content a little, which makes these images slightly easier than the upright ones.

    Raises:
        ValueError: an image too small for the turned crop.
    """
    from eqlab.data.patches import center_crop
    from eqlab.groups import rotate_by_angle

    out = []
    for y in images:
        theta = math.radians(angle_deg % 90)
        big = size if angle_deg % 90 == 0 else 2 * math.ceil(size * (math.cos(theta) + math.sin(theta)) / 2) + 2
        if min(y.shape[-2:]) < big:
            raise ValueError(f"an image of {tuple(y.shape[-2:])} is too small for a {size}-px crop at {angle_deg} deg")
        out.append(center_crop(rotate_by_angle(center_crop(y, big), angle_deg), size))
    return out


def _test_images(config: TrainConfig) -> list[torch.Tensor]:
    from eqlab.data.folder import load_folder
    from eqlab.data.images import load_default

    mode = config.task_spec().mode
    return load_folder(config.test_data, mode=mode).images if config.test_data else load_default("test", mode=mode)


def train_and_score(run: Run) -> dict:
    """Train ``run.config`` with ``fit`` and score it like a zoo card.

    Options (``run.options``): ``angles`` (e.g. ``[90, 45]``: also the PSNR / SSIM of the test
    crops turned by each angle before the degradation, as ``psnr_turned<angle>``: a new noise draw on
    the turned clean image, unlike ``psnr_rot90``, which turns the same degraded input), ``averages``
    (e.g. ``["C4", "D4"]``: also the PSNR / SSIM of the trained net averaged over each group at test
    time, as ``psnr_avg<group>``: what ``eqlab eval --self-ensemble <group> --crop <EVAL_SIZE>`` prints),
    ``model_out`` (a path: save the trained weights there, for the zoo).

    Returns:
        ``metrics`` (``eqlab.zoo.evaluate``), ``train`` (seconds, steps, loss, last gradient share
        and weight), ``stalled``, ``machine``, ``command``, the ``history`` and ``fit_metrics`` (the
        training's own last validation: what ``eqlab train --json`` prints as ``metrics``).
    """
    from eqlab import zoo
    from eqlab.machine import machine_info
    from eqlab.tasks import evaluate as evaluate_task
    from eqlab.train import fit
    from eqlab.train.config import command_for

    config = run.config
    result = fit(config, progress=False)
    model = result.model
    images = _test_images(config)
    if config.run.val_size == zoo.EVAL_SIZE and config.group == "C4" and result.metrics:
        metrics = dict(result.metrics, eval_size=zoo.EVAL_SIZE)  # fit's last validation *is* the card's evaluation
    else:
        metrics = zoo.evaluate(model, config, images)
    for name in run.options.get("averages", ()):  # test-time averages: the trained net evaluated again, not retrained
        averaged = evaluate_task(model, config, zoo.eval_images(config, model, images), group=config.group,
                                 equivariance=False, self_ensemble=name)
        metrics.update({f"psnr_avg{name}": averaged["psnr"], f"ssim_avg{name}": averaged["ssim"]})
    for angle in run.options.get("angles", ()):
        crops = rotated_crops(images, angle, zoo.EVAL_SIZE)
        for key, value in zoo.evaluate(model, config, crops, equivariance=False).items():
            if key in ("psnr", "ssim", "baseline_psnr"):
                metrics[f"{key}_turned{angle:g}"] = value
    if run.options.get("model_out"):
        from eqlab.checkpoint import save_checkpoint

        save_checkpoint(run.options["model_out"], model.cpu(), config.to_dict(), step=result.step,
                        extra=dict(train_s=result.history[-1]["train_s"], wall_time_s=result.wall_time_s))
    logged = [r for r in result.history if "task_loss" in r]
    shares = [r["grad_share"] for r in logged if "grad_share" in r]
    weights = [r["weight"] for r in logged if "weight" in r]
    train = dict(train_s=logged[-1]["train_s"] if logged else 0.0, wall_time_s=result.wall_time_s,
                 steps=result.step, s_per_step=(logged[-1]["train_s"] / max(result.step, 1)) if logged else 0.0,
                 first_task_loss=logged[0]["task_loss"] if logged else None,
                 last_task_loss=float(np.mean([r["task_loss"] for r in logged[-5:]])) if logged else None,
                 grad_share=shares[-1] if shares else None, held_share=held_share(result.history),
                 weight=weights[-1] if weights else None,
                 samples_seen=logged[-1]["samples_seen"] if logged else 0)
    device = next(model.parameters()).device
    return dict(metrics=metrics, train=train, stalled=result.stalled, machine=machine_info(device),
                command=command_for(config), history=result.history,
                fit_metrics={k: v for k, v in result.metrics.items() if isinstance(v, float)})


# -- statistics ----------------------------------------------------------------------------------------

def held_share(history: list[dict]) -> float | None:
    """The gradient share a run held: the geometric mean of the logged measurements of its second half.

    One measurement is a single batch's ratio of two gradient norms and scatters by about 2x either
    way; the geometric mean is the centre of that scatter (and what an adaptive weight aims at).
    """
    shares = [r["grad_share"] for r in history if r.get("grad_share")]
    late = shares[len(shares) // 2:]
    return float(np.exp(np.mean(np.log(late)))) if late else None


def mean_std(values: Iterable[float]) -> tuple[float, float, int]:
    """``(mean, sample std, n)``; the std is 0 for one value; NaNs are dropped."""
    values = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not values:
        return float("nan"), float("nan"), 0
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0, len(values)


def _get(record: dict, name: str):
    for part in ("metrics", "train"):
        if name in record.get(part, {}):
            return record[part][name]
    return record.get(name)


def summarize(records: Iterable[dict], by: Callable[[dict], object], metric: str) -> dict:
    """``{group: (mean, std, n)}`` of ``metric`` (a key of ``metrics`` or ``train``) per ``by(record)``."""
    groups: dict = {}
    for record in records:
        groups.setdefault(by(record), []).append(_get(record, metric))
    return {g: mean_std(v) for g, v in groups.items()}


def paired(a: Iterable[dict], b: Iterable[dict], metric: str, seed=lambda r: r["spec"]["config"]["optim"]["seed"]):
    """``mean_std`` of ``metric(a) - metric(b)`` over the seeds both lists hold (same images, same noise)."""
    by_seed = {seed(r): _get(r, metric) for r in b}
    return mean_std(_get(r, metric) - by_seed[seed(r)] for r in a if seed(r) in by_seed)
