"""Throughput and memory of the training data pipeline (eqlab.data.pipeline) on a DIV2K-sized folder.

    python benchmarks/data_pipeline.py                       # 100 PNGs of 2000 x 1400 RGB in /tmp
    python benchmarks/data_pipeline.py --images 20 --batches 5

Generates the folder once (``--folder``, outside the repository), then times the ``(x, y)`` batches of
colour SR x2 (patch 96, the SwinIR recipe's) with 0 and 2 worker processes, first decoding every file
for every batch, then from the uint8 ``.npy`` cache (built before timing, not timed). Each setting runs
in a fresh process, so its peak resident memory is its own: the training process's, and the largest
worker's. Images/s counts clean training patches (the paired arms forward twice as many).

The earlier loop read the whole folder as float32 before the first step: its size is printed for
comparison (computed, not run: 100 colour images of 2000 x 1400 are 3.4 GB).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def make_folder(folder: Path, count: int, height: int, width: int) -> None:
    """``count`` smooth colour PNGs with some grain (so that they compress like photographs, not like noise).

    Four base images, each shifted and flipped into 25 different ones: generating is cheap, decoding is not.
    """
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    v, u = np.mgrid[0:height, 0:width].astype(np.float32) / max(height, width)
    bases = []
    for _ in range(min(count, 4)):
        waves = [np.sin(2 * np.pi * (f * u + g * v) + p) for f, g, p in rng.uniform(1, 12, (3, 3))]
        image = 127.5 + 90 * np.stack(waves, axis=-1) + rng.normal(0, 6, (height, width, 3))
        bases.append(image.clip(0, 255).astype(np.uint8))
    for i in range(count):
        path = folder / f"{i:04d}.png"
        if not path.exists():
            image = np.roll(bases[i % len(bases)], (37 * i, 53 * i), axis=(0, 1))
            Image.fromarray(image[:, ::-1] if i % 2 else image).save(path, compress_level=1)


def one(folder: str, workers: int, cache: str | None, batches: int, batch_size: int) -> dict:
    """One setting, in this process: images/s and peak memory."""
    import torch

    from eqlab.data.pipeline import BatchPlanner, ImageFiles, PatchPairs, patch_loader
    from eqlab.tasks import get_task

    torch.set_num_threads(1)
    task = get_task("sr", scale=2, mode="rgb")
    files = ImageFiles(folder, mode="rgb", cache_dir=cache)
    if cache:
        for index in range(len(files)):  # build the cache before timing
            files.array(index)
    planner = BatchPlanner(files.sizes, 96, batch_size, 3, task, torch.Generator().manual_seed(0),
                           torch.Generator().manual_seed(1))
    loader = iter(patch_loader(PatchPairs(files, 96, task), planner, workers))
    next(loader)  # start-up (workers fork) is not timed
    tick = time.perf_counter()
    for _ in range(batches):
        x, y = next(loader)
    seconds = time.perf_counter() - tick
    del loader
    mib = 1024.0  # ru_maxrss is in KiB on Linux
    return dict(images_per_s=batches * batch_size / seconds,
                peak_rss_main_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / mib,
                peak_rss_worker_mib=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / mib)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default="/tmp/eqlab-bench-2000x1400", help="generated once, outside the repo")
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--batches", type=int, default=10, help="timed batches per setting")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: one setting, as JSON
    args = parser.parse_args(argv)
    if args.one:
        workers, cache = json.loads(args.one)
        print(json.dumps(one(args.folder, workers, cache, args.batches, args.batch_size)))
        return 0
    folder = Path(args.folder)
    tick = time.perf_counter()
    make_folder(folder, args.images, 1400, 2000)
    files = sorted(folder.glob("*.png"))[: args.images]
    size_mb = sum(f.stat().st_size for f in files) / 1e6
    print(f"folder {folder}: {len(files)} PNGs of 2000 x 1400 RGB, {size_mb:.0f} MB on disk "
          f"(ready in {time.perf_counter() - tick:.0f} s)")
    print(f"earlier loop (whole folder as float32 before step 1): {len(files) * 3 * 1400 * 2000 * 4 / 2**20:,.0f} MiB "
          "(computed)")
    print(f"colour SR x2, patch 96, batch {args.batch_size}, {args.batches} timed batches per setting")
    baseline = subprocess.run([sys.executable, "-c", "import resource, torch, eqlab.data.pipeline; "
                               "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"],
                              capture_output=True, text=True, check=True)
    print(f"a process that only imports torch and eqlab: {int(baseline.stdout) / 1024:.0f} MiB resident")
    print(f"{'setting':<34}{'images/s':>10}{'peak RSS main':>16}{'peak RSS worker':>18}")
    cache = f"{folder}-npy"
    settings = [(f"{what}, {workers} workers", workers, cached)
                for what, cached in (("decode per batch", None), ("uint8 .npy cache", cache)) for workers in (0, 2)]
    for label, workers, cached in settings:
        out = subprocess.run([sys.executable, __file__, "--folder", str(folder), "--batches", str(args.batches),
                              "--batch-size", str(args.batch_size), "--one", json.dumps([workers, cached])],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        worker = f"{r['peak_rss_worker_mib']:.0f} MiB" if workers else "-"
        print(f"{label:<34}{r['images_per_s']:>10.1f}{r['peak_rss_main_mib']:>12.0f} MiB{worker:>18}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
