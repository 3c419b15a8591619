"""Rebuild the model zoo (``eqlab/zoo/<task>/<arm>.safetensors`` + ``.json``) from scratch.

One checkpoint per task (denoise, sr, deblur) and arm (plain, augment, eqreg, strict), trained with
``eqlab.zoo.recipe`` (seed 0) by ``eqlab.experiments.run_grid`` -- the very runs ``scripts/report.py``
counts as seed 0 of its main grid (the same cache, ``runs/report``) -- (worker processes of one torch
thread on a CPU, one after the other on a GPU), stored without optimizer state, with its card: the
exact command, data split, machine, training record and the test metrics of ``eqlab.zoo.evaluate``
(which ``tests/test_zoo.py`` re-checks). ``eqlab/zoo/build.json`` records the whole build. A run
that stalls at its degraded input is refused: the build stops with an error instead of shipping it.

Usage:
    python scripts/build_zoo.py                       # the whole zoo (about 30 min on 2 shared CPU cores)
    python scripts/build_zoo.py --tasks denoise --arms plain eqreg --steps 20 --out /tmp/zoo   # a quick try
    python scripts/build_zoo.py --rescore             # re-score every shipped card with today's zoo.evaluate
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import sys
import time
from pathlib import Path

import torch

from eqlab import __version__, zoo
from eqlab.arms import ARM_NAMES
from eqlab.checkpoint import load_checkpoint
from eqlab.experiments import Run, cached_record, run_grid
from eqlab.machine import machine_info
from eqlab.train import TrainConfig

_COST = {"strict": 4, "eqreg": 2, "augment": 2, "plain": 1}  # relative step cost, to start the slowest first
_TASK_COST = {"deblur": 3, "denoise": 2, "sr": 1}


def card(record: dict, out: Path, built_by: str) -> dict:
    """The card of one finished run (its weights are already in ``out``)."""
    config = TrainConfig.from_dict(record["spec"]["config"])
    task, arm = config.task, config.arm
    weights = out / task / f"{arm}.safetensors"
    model, meta = load_checkpoint(weights)  # the card describes exactly what ships
    return dict(
        name=f"{task}/{arm}", task=task, arm=arm, command=record["command"], built_by=built_by,
        train_config=config.to_dict(), recipe=dict(steps=config.steps, lr=config.lr, warmup=config.warmup,
                                                   schedule=config.schedule, clip=config.clip,
                                                   target_share=config.target_share, weight=config.weight),
        model=meta["model"], model_config=meta["model_config"],
        parameters=sum(p.numel() for p in model.parameters()), file_bytes=weights.stat().st_size,
        data=zoo.data_split(config), steps=record["train"]["steps"], seed=config.seed, machine=record["machine"],
        evaluation=zoo.evaluation_protocol(config), metrics=record["metrics"],
        train=record["train"],
        stalled=record["stalled"], checksum=meta["checksum"], eqlab_version=__version__,
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    )


def rescore(out: Path) -> int:
    """Re-evaluate the metrics of every card in ``out`` (the weights and the rest of the card stay as built), the
    turned crops included, and rewrite ``build.json``'s table of models from the cards."""
    from eqlab.experiments import _test_images, rotated_crops

    for weights in sorted(out.glob("*/*.safetensors")):
        path = weights.with_suffix(".json")
        info = json.loads(path.read_text())
        model, _ = load_checkpoint(weights)
        config = TrainConfig.from_dict(info["train_config"])
        size = info["evaluation"]["size"]
        metrics = zoo.evaluate(model, config, size=size)
        angles = sorted({float(k.removeprefix("psnr_turned")) for k in info["metrics"] if k.startswith("psnr_turned")})
        for angle in angles:
            crops = rotated_crops(_test_images(config), angle, size)
            for key, value in zoo.evaluate(model, config, crops, size=size, equivariance=False).items():
                if key in ("psnr", "ssim", "baseline_psnr"):
                    metrics[f"{key}_turned{angle:g}"] = value
        info["metrics"], info["evaluation"] = metrics, zoo.evaluation_protocol(config)
        path.write_text(json.dumps(info, indent=1) + "\n")
        print(f"{info['name']}: PSNR {metrics['psnr']:.2f}, layer error {metrics['layer_error']:.3f}, "
              f"oriented share {metrics['oriented_share']:.3f}", flush=True)
    build_file = out / "build.json"
    build = json.loads(build_file.read_text()) if build_file.exists() else {}
    build["models"] = models_table(out)
    build["rescored"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    build_file.write_text(json.dumps(build, indent=1) + "\n")
    return 0


def models_table(out: Path) -> dict:
    """``build.json``'s record of every shipped net, read from the cards in ``out`` (so it names only shipped nets,
    with the numbers their cards hold)."""
    cards = [json.loads(w.with_suffix(".json").read_text()) for w in out.glob("*/*.safetensors")]
    keys = ("psnr", "baseline_psnr", "ssim", "layer_error", "oriented_share", "oriented_error", "output_error")
    return {c["name"]: dict(file_bytes=c["file_bytes"], parameters=c["parameters"],
                            **{k: c["metrics"][k] for k in keys}, train_s=c["train"]["train_s"],
                            held_share=c["train"]["held_share"], weight=c["train"]["weight"])
            for c in sorted(cards, key=lambda c: c["name"])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(zoo.TASKS), choices=zoo.TASKS)
    parser.add_argument("--arms", nargs="+", default=list(ARM_NAMES), choices=ARM_NAMES)
    parser.add_argument("--out", default=str(zoo.ROOT), help="zoo folder (default: the package's eqlab/zoo)")
    parser.add_argument("--cache", default="runs/report", help="cache of finished runs (default runs/report: the "
                        "report's main grid holds the zoo as its seed 0, the same cached runs)")
    parser.add_argument("--steps", type=int, default=None, help="override the recipe's steps (quick tries only)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--workers", type=int, default=None, help="parallel training processes (default: 2 on a CPU)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker on a CPU (default 1)")
    parser.add_argument("--keep-stalled", action="store_true", help="write runs that stalled too, flagged on their "
                        "card (quick tries only; the shipped zoo never holds one)")
    parser.add_argument("--rescore", action="store_true", help="train nothing: re-evaluate every shipped card's "
                        "metrics with the current eqlab.zoo.evaluate (new metrics, same weights) and rewrite them")
    args = parser.parse_args(argv)

    out = Path(args.out)
    if args.rescore:
        return rescore(out)
    changes = {"device": args.device} | ({"steps": args.steps} if args.steps else {})
    built_by = shlex.join(["python", "scripts/build_zoo.py", *(sys.argv[1:] if argv is None else argv)])
    runs = [Run(f"main/{t}/{a}/s0", zoo.recipe(t, a, 0, **changes), "main",
                dict(angles=[90, 45], model_out=str(out / t / f"{a}.safetensors")))
            for t in args.tasks for a in args.arms]
    start = time.perf_counter()
    cached = sum(1 for run in runs if cached_record(args.cache, run) is not None)
    records = run_grid(runs, args.cache, workers=args.workers, threads=args.threads,
                       cost=lambda r: _COST[r.config.arm] * _TASK_COST[r.config.task] * r.config.steps)
    stalled = sorted(k for k, r in records.items() if r["stalled"])
    if stalled and not args.keep_stalled:
        print(f"refusing to ship runs that stalled at their degraded input: {stalled}", file=sys.stderr)
        return 1
    cards = []
    for run in runs:
        cards.append(card(records[run.key], out, built_by))
        path = out / cards[-1]["task"] / f"{cards[-1]['arm']}.json"
        path.write_text(json.dumps(cards[-1], indent=1) + "\n")
    total = time.perf_counter() - start
    cuda = args.device.startswith("cuda") or (args.device == "auto" and torch.cuda.is_available())
    build = dict(command=built_by, wall_time_s=round(total, 1), runs_from_cache=cached,
                 job_s_total=round(sum(records[run.key]["job_s"] for run in runs), 1),  # the build's compute
                 threads_per_worker=args.threads,
                 machine=machine_info("cuda" if cuda else "cpu"),
                 created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                 models=models_table(out))
    (out / "build.json").write_text(json.dumps(build, indent=1) + "\n")
    print(f"done: {len(cards)} checkpoints in {total / 60:.1f} min", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
