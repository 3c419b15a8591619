"""Latency of the app's events on this machine, for a 256 x 256 image: direct calls, then through the client.

    python benchmarks/app_latency.py [--repeats 5] [--models random|quick|auto] [--threads 1]

Targets (the app's issue): an Explore update <= 0.5 s, Restore & compare <= 1 s for four arms.
"Explore, knob" is what moving the layer / field / element slider costs (the rotation panel only;
the charts are cached per image); "Explore, new image" recomputes the per-layer and error-vs-angle
charts of all four arms as well. ``--models auto`` uses the shipped zoo nets (the sizes users get);
``--models random`` builds untrained nets of the same sizes (no zoo needed). Prints the median wall
time and the median CPU time (what the call costs on an idle core: on a shared machine the wall
time also counts waiting for one); asserts nothing.
"""

import argparse
import os
import socket
import statistics
import sys
import time

import torch

import eqlab.app as app


def median_s(fn, repeats: int, setup=None) -> tuple[float, float]:
    """Median wall time and median CPU time of this process (all its threads) per call, in seconds.

    On a shared machine the wall time includes waiting for a core; the CPU time is what the call
    would take on an idle one (the app runs torch with one thread per request)."""
    walls, cpus = [], []
    for _ in range(repeats):
        if setup is not None:
            setup()
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def report(name: str, target, wall: float, cpu: float) -> None:
    flag = "" if target is None else f"<= {target:g} s: wall {'ok' if wall <= target else 'OVER'}, " \
                                     f"cpu {'ok' if cpu <= target else 'OVER'}"
    print(f"{name:48s} {wall:7.3f}s {cpu:7.3f}s  {flag}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", default="auto", choices=("random", "quick", "auto", "zoo"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads (eqlab demo uses 1 on <= 2 cores)")
    parser.add_argument("--no-client", action="store_true", help="skip the gradio_client half")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    bank = app.ModelBank(args.models)
    for task in app.TASKS:
        for arm in app.ARMS:
            bank.get(task, arm)  # load (or train) outside the timings
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# eqlab app latency · {os.cpu_count()} CPUs, load average {load:.1f} · torch threads {args.threads} · "
          f"models {args.models} · image 256x256 · median of {args.repeats}")
    session: dict = {}
    explore = ("denoise", "eqreg", "camera", None, "C4", 1, "body.0.conv", 0)

    def cold():
        session.pop("errors", None)
        app._SHARED_ERRORS.clear()

    app.explore_update(bank, *explore, session)  # warm-up (imports, first convolutions)
    rows = [
        ("Explore, knob (panel; charts cached)", 0.5,
         lambda: app.explore_panel(bank, "denoise", "eqreg", "camera", None, "C4", 2, "body.1.conv", 1, session), None),
        ("Explore, knob, C8 45° (interpolated)", 0.5,
         lambda: app.explore_panel(bank, "denoise", "eqreg", "camera", None, "C8", 1, "body.1.conv", 1, session), None),
        ("Explore, new image (panel + charts, 4 arms)", 0.5, lambda: app.explore_update(bank, *explore, session), cold),
        ("Explore, new image, C8 (7 elements)", None,
         lambda: app.explore_update(bank, "denoise", "eqreg", "camera", None, "C8", 1, "body.0.conv", 0, session), cold),
    ]
    for task in app.TASKS:
        rows.append((f"Restore & compare, {task} (4 arms x 2 inputs)", 1.0,
                     lambda task=task: app.restore_update(bank, task, app.STRENGTH[task][1]["value"], "camera", None,
                                                          "90°", session), None))
    rows += [
        ("Learn 1 (rotate image + map)", None, lambda: app.learn_rotate(45, "camera"), None),
        ("Learn 2 (channels cycle)", None, lambda: app.learn_channels(1, "camera"), None),
        ("Learn 3 (only 90° is exact)", None, lambda: app.learn_grid(30), None),
    ]
    print(f"{'event (direct call)':48s} {'wall':>8s} {'cpu':>8s}  target")
    for name, target, fn, setup in rows:
        report(name, target, *median_s(fn, args.repeats, setup))

    if args.no_client:
        return 0
    from gradio_client import Client

    demo = app.build_app(args.models)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **app.launch_kwargs())
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        client.predict(*explore, api_name="/explore")
        calls = [
            ("/explore_panel (knob)", 0.5, ("denoise", "eqreg", "camera", None, "C4", 2, "body.1.conv", 1)),
            ("/explore (panel + cached charts)", 0.5, explore),
            ("/restore denoise (4 arms)", 1.0, ("denoise", 25, "camera", None, "90°", "eqreg")),
            ("/restore_show", None, ("strict",)),
            ("/learn_rotate", None, (45, "camera")),
            ("/learn_grid", None, (30,)),
        ]
        print(f"\n{'event (gradio_client: HTTP, PNG, download)':48s} {'wall':>8s} {'cpu':>8s}  target")
        for name, target, inputs in calls:
            api = name.split()[0]
            report(name, target, *median_s(lambda: client.predict(*inputs, api_name=api), args.repeats))
    finally:
        demo.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
