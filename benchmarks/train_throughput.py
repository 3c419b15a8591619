"""Training throughput of the four arms on the current device, in one run.

Prints, per arm, source patches per second (the ``B`` patches every arm draws per step) and
samples per second (what the net forwards: ``B`` for plain, ``2B`` for the paired arms), then the
ratios eqreg / augment (the price of the penalty's hooks) and eqreg / plain (the price of
pairing plus the penalty). Timings exclude validation and the first ``--warmup`` steps of each
run. The arms take turns for ``--rounds`` rounds and the rate comes from the median step time
over all rounds, so a neighbour's load that comes and goes does not favour one arm. No assertions: this
measures, it does not test.

Usage:
    python benchmarks/train_throughput.py --task denoise --steps 60
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from eqlab.machine import load_average, machine_info
from eqlab.train import ARMS, TrainConfig, fit


def step_times(config: TrainConfig, warmup: int) -> tuple[list[float], int, int]:
    """Run ``fit`` (every step logged); return the seconds of every step after ``warmup`` (from the
    records' ``train_s``), and the source patches and forwarded samples of one step."""
    records = [r for r in fit(config, progress=False).history if "task_loss" in r]
    times = [b["train_s"] - a["train_s"] for a, b in zip(records, records[1:])][warmup:]
    return times, records[0]["images_seen"], records[0]["samples_seen"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="denoise")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    defaults = TrainConfig()
    parser.add_argument("--features", type=int, default=defaults.features)
    parser.add_argument("--depth", type=int, default=defaults.depth)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--patch-size", type=int, default=defaults.patch_size)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    times, per_step = {arm: [] for arm in ARMS}, {}
    for _ in range(args.rounds):
        for arm in ARMS:
            config = TrainConfig.of(task=args.task, arm=arm, features=args.features, depth=args.depth,
                                    batch_size=args.batch_size, patch_size=args.patch_size, steps=args.steps,
                                    device=args.device, val_size=32, val_every=0, share_every=0, target_share=None,
                                    log_every=1)
            seconds, patches, samples = step_times(config, args.warmup)
            times[arm] += seconds
            per_step[arm] = (patches, samples)
    rows = {}
    for arm, seconds in times.items():
        median = float(np.median(seconds))
        rows[arm] = dict(patches_per_s=per_step[arm][0] / median, samples_per_s=per_step[arm][1] / median,
                         ms_per_step=1000 * median)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    info = machine_info(device)
    where = f"{info['gpu']} (bf16 autocast)" if device.startswith("cuda") else \
        f"{info['cpu']}, {info['torch_threads']} threads, OMP_WAIT_POLICY {info['omp_wait_policy']}"
    print(f"task {args.task}, {where}, torch {info['torch']}, features {args.features}, depth {args.depth}, "
          f"B {args.batch_size}, patch {args.patch_size}, median of {args.rounds} x "
          f"{args.steps - args.warmup - 1} timed steps, load {load_average():.2f}")
    print(f"{'arm':<8} {'patches/s':>10} {'samples/s':>10} {'ms/step':>8}")
    for arm, r in rows.items():
        print(f"{arm:<8} {r['patches_per_s']:>10.1f} {r['samples_per_s']:>10.1f} {r['ms_per_step']:>8.1f}")
    eqreg = rows["eqreg"]["patches_per_s"]
    print(f"eqreg / augment patches/s: {eqreg / rows['augment']['patches_per_s']:.3f}")
    print(f"eqreg / plain   patches/s: {eqreg / rows['plain']['patches_per_s']:.3f}")


if __name__ == "__main__":
    main()
