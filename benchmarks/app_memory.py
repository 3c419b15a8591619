"""The app server's resident memory after trainings in the Train tab.

    python benchmarks/app_memory.py [--trainings 3] [--steps 60] [--models auto]

Starts ``python demos/app.py`` in a process of its own, then, through ``gradio_client``, runs
``--trainings`` trainings one after the other (the Train tab's default: fine-tuning the zoo's augment net
with EQ-Reg at a target share), and prints the server's resident memory (``VmRSS``) and its peak
(``VmHWM``) after the start and after each training. The training runs in the app's training process;
the server loads its result, validates it and draws the charts. Asserts nothing.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run by path or by `eqlab bench` (runpy): _server beside
from _server import app_server, machine_line, status_mib, wait_for  # noqa: E402

TRAIN = ("denoise", "eqreg", "zoo augment", "C4", "target share", 1e-3, 0.1)


def memory_mib(pid: int) -> tuple[float, float]:
    """``(VmRSS, VmHWM)`` of process ``pid`` in MiB: resident now and its peak."""
    return status_mib(pid, "VmRSS"), status_mib(pid, "VmHWM")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trainings", type=int, default=3)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--models", default="auto", choices=("auto", "zoo", "random"))
    args = parser.parse_args(argv)
    from gradio_client import Client

    print(machine_line("before"))
    with app_server(args.models) as (url, server):
        if not wait_for(url, 300):
            print("the server did not answer within 300 s")
            return 1
        client = Client(url, verbose=False)
        rss, peak = memory_mib(server.pid)
        print(f"started: RSS {rss:.0f} MiB (peak {peak:.0f})")
        for i in range(args.trainings):
            start = time.perf_counter()
            client.predict(*TRAIN, args.steps, i, "task's net", api_name="/train")
            time.sleep(2.0)  # the server finishes the run's bookkeeping
            rss, peak = memory_mib(server.pid)
            print(f"after training {i + 1} ({args.steps} steps, {time.perf_counter() - start:.0f} s): RSS "
                  f"{rss:.0f} MiB (peak {peak:.0f})", flush=True)
    print(machine_line("after"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
