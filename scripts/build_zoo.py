"""Rebuild the model zoo (``eqlab/zoo/<task>/<arm>.safetensors`` + ``.json``) from scratch.

Trains one checkpoint per task (denoise, sr, deblur) and arm (plain, augment, eqreg, strict) with
``eqlab.zoo.recipe`` (seed 0), stores the weights without optimizer state, evaluates each file
*after reloading it* with ``eqlab.zoo.evaluate`` (what ``tests/test_zoo.py`` re-checks) and writes
its card. ``eqlab/zoo/build.json`` records the command, machine and wall time of the whole build.

On a CPU the runs go to ``--workers`` processes of one torch thread each (two shared cores: one
thread per process is faster and steadier than intra-op threads fighting). With CUDA they run one
after the other on the GPU (``--device auto``).

Usage:
    python scripts/build_zoo.py                      # the whole zoo: 14 min on 2 heavily shared CPU cores
    python scripts/build_zoo.py --tasks denoise --arms plain eqreg --steps 20 --out /tmp/zoo   # a quick try
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import torch

from eqlab import __version__, zoo
from eqlab.checkpoint import load_checkpoint, save_checkpoint
from eqlab.train import ARMS, fit

# The slowest runs first, so the worker pool does not end with one long run alone.
_COST = {"strict": 4, "eqreg": 2, "augment": 2, "plain": 1}
_TASK_COST = {"deblur": 3, "denoise": 2, "sr": 1}


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def build_one(task: str, arm: str, out: str, steps: int | None, device: str, built_by: str) -> dict:
    """Train, save, reload, evaluate and card one zoo checkpoint; returns its card."""
    changes = dict(device=device) if device != "auto" else {}
    if steps is not None:
        changes["steps"] = steps
    config = zoo.recipe(task, arm, seed=0, **changes)
    start = time.perf_counter()
    result = fit(config, progress=False)
    fit_s = time.perf_counter() - start
    last = result.history[-1]
    losses = [r["task_loss"] for r in result.history if "task_loss" in r]
    shares = [r["grad_share"] for r in result.history if "grad_share" in r]

    weights = Path(out) / task / f"{arm}.safetensors"
    model = result.model.cpu()
    save_checkpoint(weights, model, config=dataclasses.asdict(config), step=result.step,
                    extra=dict(zoo=f"{task}/{arm}", train_s=last["train_s"], wall_time_s=fit_s))
    reloaded, meta = load_checkpoint(weights)  # score exactly what ships
    metrics = zoo.evaluate(reloaded, config)
    card = dict(
        name=f"{task}/{arm}", task=task, arm=arm,
        command=zoo.command_for(config),
        built_by=built_by,
        train_config=dataclasses.asdict(config),
        model=meta["model"], model_config=meta["model_config"],
        parameters=sum(p.numel() for p in reloaded.parameters()),
        file_bytes=weights.stat().st_size,
        data=zoo.data_split(config),
        steps=result.step, seed=config.seed,
        machine=zoo.machine_info(next(result.model.parameters()).device),
        evaluation=zoo.evaluation_protocol(config),
        metrics={k: v for k, v in metrics.items()},
        train=dict(wall_time_s=round(fit_s, 2), train_s=round(last["train_s"], 2),
                   s_per_step=round(last["train_s"] / max(result.step, 1), 4),
                   samples_seen=last.get("samples_seen"), images_seen=last.get("images_seen"),
                   first_task_loss=losses[0] if losses else None,
                   last_task_loss=sum(losses[-5:]) / len(losses[-5:]) if losses else None,
                   grad_share=shares[-1] if shares else None),
        checksum=meta["checksum"],
        eqlab_version=__version__,
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    )
    weights.with_suffix(".json").write_text(json.dumps(card, indent=1) + "\n")
    return card


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(zoo.TASKS), choices=zoo.TASKS)
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS)
    parser.add_argument("--out", default=str(zoo.ROOT), help="zoo folder (default: the package's eqlab/zoo)")
    parser.add_argument("--steps", type=int, default=None, help="override the recipe's steps (quick tries only)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--workers", type=int, default=None,
                        help="parallel training processes (default: 2 on a CPU, 1 with CUDA)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker on a CPU (default 1)")
    args = parser.parse_args(argv)

    cuda = args.device.startswith("cuda") or (args.device == "auto" and torch.cuda.is_available())
    workers = args.workers or (1 if cuda else min(2, os.cpu_count() or 1))
    built_by = shlex.join(["python", "scripts/build_zoo.py", *(sys.argv[1:] if argv is None else argv)])
    jobs = sorted(((t, a) for t in args.tasks for a in args.arms), key=lambda j: -_COST[j[1]] * _TASK_COST[j[0]])
    print(f"building {len(jobs)} zoo checkpoints into {args.out} with {workers} worker(s)", flush=True)
    start = time.perf_counter()
    cards = []
    if workers == 1:
        _init_worker(args.threads if not cuda else torch.get_num_threads())
        for task, arm in jobs:
            cards.append(build_one(task, arm, args.out, args.steps, args.device, built_by))
            _report(cards[-1], start)
    else:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_init_worker,
                                 initargs=(args.threads,)) as pool:
            futures = [pool.submit(build_one, t, a, args.out, args.steps, args.device, built_by) for t, a in jobs]
            for future in as_completed(futures):
                cards.append(future.result())
                _report(cards[-1], start)
    total = time.perf_counter() - start
    record = dict(command=built_by, wall_time_s=round(total, 1), workers=workers, threads_per_worker=args.threads,
                  machine=zoo.machine_info("cuda" if cuda else "cpu"),
                  created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                  models={c["name"]: dict(file_bytes=c["file_bytes"], parameters=c["parameters"],
                                          psnr=c["metrics"]["psnr"], ssim=c["metrics"]["ssim"],
                                          layer_error=c["metrics"]["layer_error"],
                                          output_error=c["metrics"]["output_error"],
                                          train_s=c["train"]["train_s"])
                          for c in sorted(cards, key=lambda c: c["name"])})
    Path(args.out, "build.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"done: {len(cards)} checkpoints in {total / 60:.1f} min", flush=True)
    return 0


def _report(card: dict, start: float) -> None:
    m = card["metrics"]
    print(f"[{(time.perf_counter() - start) / 60:5.1f} min] {card['name']:<16} {card['file_bytes'] / 1024:7.1f} KiB  "
          f"PSNR {m['psnr']:.2f} (input {m['baseline_psnr']:.2f})  SSIM {m['ssim']:.4f}  "
          f"layer err {m['layer_error']:.3f}  out err {m['output_error']:.4f}  "
          f"train {card['train']['train_s']:.0f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
