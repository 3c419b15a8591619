"""Run each named recipe (eqlab/recipes) for a few minutes on a generated folder; print its speed and GPU memory.

    python scripts/recipe_check.py                     # every recipe, 3 minutes each, on CUDA
    python scripts/recipe_check.py --minutes 1 swinir-sr-x2
    python scripts/recipe_check.py --steps 200 --estimate swinir-sr-x2  # 200 steps, beside --dry-run's estimate
    python scripts/recipe_check.py --tiny --device cpu --steps 3 --images 2   # a CPU smoke test of this script

The recipes as written (SwinIR with 6 stages of 6 blocks, 180 channels, their patches and batches), on a
generated folder of 2000 x 1400 colour PNGs (``benchmarks/data_pipeline.py`` makes it, outside the
repository), with their ``workers`` and a uint8 cache; no validation until the end, no checkpoints. Per
recipe: steps, training images/s (clean patches; the eqreg arm forwards twice as many), peak GPU memory
(with ``--estimate``: beside ``eqlab train --dry-run``'s estimate per rank), the task loss over the first
and the last tenth of the steps, and the final validation PSNR on the generated test images. A run ends
after ``--minutes`` of training or ``--steps`` steps, whichever comes first. Used by ``scripts/gpu_check.sh``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from data_pipeline import make_folder  # noqa: E402

from eqlab.recipes import load_recipe, names  # noqa: E402
from eqlab.train import Callback, TrainConfig, fit  # noqa: E402


class StopAfter(Callback):
    """End the run after ``seconds`` of training or ``steps`` steps."""

    def __init__(self, seconds: float, steps: int | None = None):
        self.seconds, self.steps = seconds, steps

    def on_step(self, trainer, record):
        if trainer.train_s > self.seconds or (self.steps is not None and trainer.step >= self.steps):
            trainer.request_stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipes", nargs="*", default=None, help=f"default: all of {names()}")
    parser.add_argument("--minutes", type=float, default=3.0, help="training time per recipe")
    parser.add_argument("--steps", type=int, default=None, help="stop after this many steps (default: the time cap)")
    parser.add_argument("--estimate", action="store_true", help="also print eqlab train --dry-run's memory estimate")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--folder", default="/tmp/eqlab-recipe-check")
    parser.add_argument("--images", type=int, default=40, help="generated training images of 2000 x 1400")
    parser.add_argument("--tiny", action="store_true", help="a CPU smoke test: 1 stage of 1 block, 16 channels, "
                        "batch 2 of 32-px patches, no workers")
    args = parser.parse_args(argv)
    train, test = Path(args.folder) / "train", Path(args.folder) / "test"
    make_folder(train, args.images, 1400, 2000)
    make_folder(test, 3, 256, 256)
    for name in args.recipes or names():
        config = TrainConfig.of(**{**load_recipe(name), **dict(
            data=str(train), test_data=str(test), data_cache=f"{args.folder}/npy", device=args.device,
            out_dir=None, checkpoint_every=0, val_every=0, log_every=10, val_size=256)})
        if args.tiny:
            config = config.replace(features=16, depth=1, stages=1, heads=2, batch_size=2, patch_size=32, workers=0,
                                    val_size=64)
        if args.estimate:
            from eqlab.train.dryrun import dry_run

            memory = dry_run(config).memory
            print(f"{name}: --dry-run estimates {memory['total'] / 2**30:.1f} GiB per rank in float32 "
                  f"(activations {memory['activations'] / 2**30:.1f}, EQ-Reg's terms "
                  f"{memory['eqreg_terms'] / 2**30:.1f}) at {memory['images']} images of {memory['side']} px",
                  flush=True)
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        tick = time.perf_counter()
        result = fit(config, progress=False, callbacks=[StopAfter(60 * args.minutes, args.steps)])
        wall = time.perf_counter() - tick
        last = result.history[-1]
        losses = [r["task_loss"] for r in result.history if "task_loss" in r]
        k = max(1, len(losses) // 10)
        memory = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else float("nan")
        print(f"{name}: {result.step} steps in {last['train_s']:.0f} s of training ({wall:.0f} s wall), "
              f"{last['images_seen'] / last['train_s']:.1f} images/s ({last['samples_seen'] / last['train_s']:.1f} "
              f"forwarded/s), peak GPU memory {memory:.1f} GiB, task loss {np.mean(losses[:k]):.2e} -> "
              f"{np.mean(losses[-k:]):.2e}, validation PSNR {result.metrics.get('psnr', float('nan')):.2f} dB "
              f"(input {result.metrics.get('baseline_psnr', float('nan')):.2f})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
