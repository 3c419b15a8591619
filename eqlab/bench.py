"""``eqlab bench``: run the scripts of ``benchmarks/`` from a source checkout.

The benchmarks print ratios measured in one run (never timed assertions). They live beside the
package, not in it, so this only works from a clone of the repository:

    eqlab bench overhead     # benchmarks/reg_overhead.py: EQ-Reg over augmentation (exact, stochastic), memory
    eqlab bench throughput   # benchmarks/train_throughput.py: patches/s per arm
    eqlab bench threads      # benchmarks/threads.py: eqlab train on a busy machine, against a tuned setting
    eqlab bench thirdparty   # benchmarks/thirdparty.py: EQ-Reg on spandrel's nets (needs spandrel)
    eqlab bench app          # benchmarks/app_latency.py: first panel, Explore change, Restore
    eqlab bench load         # benchmarks/app_load.py: a classroom of clients while one training runs

Further arguments go to the script (``eqlab bench overhead --quick``).
"""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

SCRIPTS = {"overhead": "reg_overhead.py", "throughput": "train_throughput.py", "threads": "threads.py",
           "thirdparty": "thirdparty.py", "app": "app_latency.py", "load": "app_load.py"}
FOLDER = Path(__file__).resolve().parents[1] / "benchmarks"


def main(argv: list[str] | None = None) -> int:
    """Run one benchmark script with the remaining arguments; 2 when it cannot be found."""
    parser = argparse.ArgumentParser(prog="eqlab bench", description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(SCRIPTS), help="which benchmark")
    args, rest = parser.parse_known_args(argv)
    script = FOLDER / SCRIPTS[args.name]
    if not script.is_file():
        print(f"eqlab bench: {script} not found; the benchmarks ship with the source repository, "
              "not with the installed package", file=sys.stderr)
        return 2
    saved = sys.argv
    sys.argv = [str(script), *rest]
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv = saved
    return 0
