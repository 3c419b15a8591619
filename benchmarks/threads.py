"""Does eqlab choose its CPU threads well by itself? ``eqlab train`` on a busy machine, in one run.

A busy laptop is simulated by ``--load`` CPU-bound processes (plain Python loops) running beside the
measurement. Each setting runs the same short ``python -m eqlab train`` in a fresh process, in
alternation, ``--rounds`` times; the median wall time of each is printed with its ratio to the tuned
setting (``OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1``):

    default        no OpenMP variable at all: what a user gets (eqlab sets PASSIVE before torch loads)
    torch first    a script that imports torch before eqlab (eqlab then falls back to one thread)
    active         OMP_WAIT_POLICY=ACTIVE: what spinning threads cost (eqlab leaves a user's choice alone)
    tuned          OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1

Usage: python benchmarks/threads.py [--steps 30] [--rounds 3] [--load 2]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import time

TRAIN = ["-m", "eqlab", "train", "--steps", "{steps}", "--val-every", "0", "--val-size", "32", "--share-every", "0",
         "--target-share", "none",
         "--no-progress", "--features", "32", "--depth", "8", "--patch-size", "48"]
TORCH_FIRST = ("import sys, torch\n"  # torch before eqlab, as an isort-ed user script does
               "from eqlab.cli import main\n"
               "sys.exit(main(sys.argv[1:]))\n")
OMP = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def burn(stop):
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def run(setting: str, steps: int) -> float:
    env = {k: v for k, v in os.environ.items() if k not in OMP}
    args = [a.format(steps=steps) for a in TRAIN]
    if setting == "tuned":
        env.update(OMP_WAIT_POLICY="PASSIVE", OMP_NUM_THREADS="1")
    elif setting == "active":
        env.update(OMP_WAIT_POLICY="ACTIVE")
    command = [sys.executable, "-c", TORCH_FIRST, *args[2:]] if setting == "torch first" else [sys.executable, *args]
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--load", type=int, default=2, help="CPU-bound processes running beside (0: an idle machine)")
    args = parser.parse_args(argv)
    stop = mp.Event()
    burners = [mp.Process(target=burn, args=(stop,), daemon=True) for _ in range(args.load)]
    for p in burners:
        p.start()
    settings = ("default", "torch first", "active", "tuned")
    times = {s: [] for s in settings}
    try:
        time.sleep(2)
        load = os.getloadavg()[0]
        for _ in range(args.rounds):
            for s in settings:
                times[s].append(run(s, args.steps))
    finally:
        stop.set()
        for p in burners:
            p.join(timeout=5)
    tuned = statistics.median(times["tuned"])
    print(f"eqlab train --steps {args.steps} (DnCNN 8x32, batch 8 x 48 px), {os.cpu_count()} cores, {args.load} "
          f"CPU-bound processes beside, load {load:.1f} at the start, median of {args.rounds} runs")
    for s in settings:
        median = statistics.median(times[s])
        print(f"{s:<12} {median:7.1f} s   ×{median / tuned:5.2f} of tuned   (runs: "
              + ", ".join(f"{t:.1f}" for t in times[s]) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
