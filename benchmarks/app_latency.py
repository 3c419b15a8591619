"""Latency of the app on this machine: launch to the first usable panel, an Explore change, a four-arm Restore.

    python benchmarks/app_latency.py [--repeats 5] [--models auto|random] [--skip-launch]

Goals (the app's issues, on a quiet 2-core machine): first usable panel <= 5 s after launch, an Explore
change <= 0.5 s, Restore & compare for four arms <= 1 s.

1. Launch: ``python demos/app.py`` in a subprocess, timed from the start of the process to the first
   HTTP answer and to the first usable panel (the page's config names the Explore panel, and the
   panel's PNG has been fetched: what a browser needs to show it). Twice: "cold" with an empty cache
   folder (the first view is computed), "warm" with the folder the cold launch filled (the usual
   case). The server's CPU seconds until the panel (the wall time of an idle core: the start is
   single-threaded), and those of ``import eqlab`` and ``import gradio`` alone, are printed beside them.
2. Explore change, through ``gradio_client`` (HTTP, PNG, download included) and as direct calls: a
   layer or element change (one ``rotation_view``, computed: its cache is cleared before each
   repeat), a channel change (a redraw from the cached view) and a repeated view (a cache hit, what
   a classroom's default view costs).
3. Restore & compare, four arms x (x, g·x), 256 x 256, with the arms' outputs recomputed each repeat.

Every section prints the machine and the 1-minute load average: on a shared machine the wall time
also counts waiting for a core. Medians of ``--repeats``; asserts nothing.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from eqlab.machine import process_cpu_s  # (imports torch in this process; the server is another)

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run by path or by `eqlab bench` (runpy): _server beside
from _server import ROOT, app_server, free_port  # noqa: E402


def header(title: str) -> None:
    from eqlab.machine import load_average, machine_info

    info = machine_info()
    load = load_average()
    print(f"\n# {title} · {info['cpu']} x {info['cpu_count']} · torch {info['torch']}, {info['torch_threads']} "
          f"thread(s) · load average {load if load is None else round(load, 2)}")


def report(name: str, target, seconds: float) -> None:
    flag = "" if target is None else f"goal <= {target:g} s: {'ok' if seconds <= target else 'OVER'}"
    print(f"  {name:58s} {seconds:7.3f} s  {flag}")


def median_s(fn, repeats: int, setup=None) -> float:
    walls = []
    for _ in range(repeats):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - start)
    return statistics.median(walls)


def _get(url: str, timeout: float = 2.0) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.read()
    except OSError:
        return None


def _panel_url(config: dict, base: str) -> str | None:
    for component in config.get("components", []):
        props = component.get("props", {})
        if props.get("elem_id") == "explore-panel" and props.get("value"):
            value = props["value"]
            url = value.get("url") or f"{base}gradio_api/file={value['path']}"
            return url if url.startswith("http") else base + url.lstrip("/")
    return None


def launch_once(models: str, cache: str, limit_s: float = 180.0) -> tuple[float, float, float]:
    """Seconds from process start to the first HTTP answer and to the first panel's PNG, and the CPU seconds
    the server used until then (what the start takes on an idle core)."""
    http = panel = cpu = float("nan")
    start = time.perf_counter()
    with app_server(models, cache) as (base, process):
        while time.perf_counter() - start < limit_s and process.poll() is None:
            config = _get(base + "config")
            if config is not None:
                http = time.perf_counter() - start
                url = _panel_url(json.loads(config), base)
                if url and _get(url, timeout=10):
                    panel = time.perf_counter() - start
                    cpu = process_cpu_s(process.pid)
                break
            time.sleep(0.05)
    return http, panel, cpu


def import_cpu_s(module: str) -> float:
    """CPU seconds of a fresh ``python -c "import module"`` (user + system of the child)."""
    before = os.times()
    subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT, check=True)
    after = os.times()
    return (after.children_user - before.children_user) + (after.children_system - before.children_system)


def launch_section(models: str) -> None:
    header("launch: python demos/app.py -> first usable panel")
    print(f"  import eqlab (torch):  {import_cpu_s('eqlab'):.2f} s CPU;  import gradio: "
          f"{import_cpu_s('gradio'):.2f} s CPU")
    with tempfile.TemporaryDirectory(prefix="eqlab-bench-") as cache:
        for kind in ("cold (first view computed)", "warm (first view from disk)", "warm, again"):
            http, panel, cpu = launch_once(models, cache)
            report(f"{kind}: first HTTP answer", None, http)
            report(f"{kind}: first usable panel", 5.0 if kind.startswith("warm") else None, panel)
            report(f"{kind}: CPU time of the server until then", 5.0 if kind.startswith("warm") else None, cpu)


def direct_section(models: str, repeats: int) -> None:
    import torch

    from eqlab.app.explore import explore_view, resolve
    from eqlab.app.restore import restore_update
    from eqlab.app.settings import STRENGTH
    from eqlab.app.state import App

    torch.set_num_threads(1)
    app = App(models)
    view = ("denoise", "eqreg", "camera", None, "C4")

    def explore(*choices, channel=0):  # one request of the tab: resolve the choices, then draw
        return explore_view(app, resolve(app, *choices), channel)

    explore(*view, 1, None)  # load the nets, probe the layers
    for task in ("denoise", "sr", "deblur"):
        restore_update(app, task, STRENGTH[task][1]["value"], "camera", None, "90°")

    def fresh():
        app.views.clear()
        app.pictures.clear()

    header(f"Explore and Restore, direct calls (models {models}, 1 torch thread per request)")
    report("Explore: layer change (one rotation_view, drawn)", 0.5,
           median_s(lambda: explore(*view, 1, "body.2.conv"), repeats, fresh))
    report("Explore: element change, C8 45° (interpolated)", 0.5,
           median_s(lambda: explore("denoise", "eqreg", "camera", None, "C8", 1, "body.2.conv"), repeats, fresh))
    channel = iter(range(1000))
    report("Explore: channel change (redraw from the cached view)", 0.5,
           median_s(lambda: explore(*view, 1, "body.2.conv", channel=next(channel) % 16), repeats))
    report("Explore: the same view again (cache hit)", None,
           median_s(lambda: explore(*view, 1, "body.2.conv"), repeats))
    for task in ("denoise", "sr", "deblur"):
        strength = STRENGTH[task][1]["value"]

        def cold():
            app.restores.clear()
            app.pictures.clear()

        report(f"Restore & compare, {task} (4 arms x 2 inputs, computed)", 1.0,
               median_s(lambda task=task, strength=strength: restore_update(app, task, strength, "camera", None,
                                                                            "90°"), repeats, cold))
    app.close()


def client_section(models: str, repeats: int) -> None:
    import torch
    from gradio_client import Client

    import eqlab.app as eqapp

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="eqlab-bench-") as cache:
        demo = eqapp.build_app(models, cache)
        port = free_port()
        demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                    **eqapp.launch_kwargs())
        app = demo.eqlab
        try:
            client = Client(f"http://127.0.0.1:{port}/", verbose=False)
            panel = ("denoise", "eqreg", "camera", None, "C4", 1)
            client.predict(*panel, "body.2.conv", 0, api_name="/explore_panel")
            client.predict("denoise", 25, "camera", None, "90°", "eqreg", api_name="/restore")

            def fresh():
                app.views.clear()
                app.pictures.clear()

            def cold():
                app.restores.clear()
                app.pictures.clear()

            header(f"through gradio_client (HTTP, PNG, download; models {models})")
            report("/explore_panel: layer change (computed)", 0.5,
                   median_s(lambda: client.predict(*panel, "body.1.conv", 0, api_name="/explore_panel"), repeats,
                            fresh))
            channel = iter(range(1000))
            report("/explore_panel: channel change (redraw)", 0.5,
                   median_s(lambda: client.predict(*panel, "body.1.conv", next(channel) % 16,
                                                   api_name="/explore_panel"), repeats))
            report("/explore_panel: the default view (cache hit)", None,
                   median_s(lambda: client.predict(*panel, "body.1.conv", 0, api_name="/explore_panel"), repeats))
            report("/restore denoise, 4 arms (computed)", 1.0,
                   median_s(lambda: client.predict("denoise", 25, "camera", None, "90°", "eqreg",
                                                   api_name="/restore"), repeats, cold))
            report("/restore denoise, 4 arms (cache hit)", None,
                   median_s(lambda: client.predict("denoise", 25, "camera", None, "90°", "eqreg",
                                                   api_name="/restore"), repeats))
        finally:
            demo.close()
            app.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", default="auto", choices=("random", "quick", "auto", "zoo"))
    parser.add_argument("--skip-launch", action="store_true", help="skip the launch timings (three app starts)")
    parser.add_argument("--no-client", action="store_true", help="skip the gradio_client half")
    args = parser.parse_args(argv)
    if not args.skip_launch:
        launch_section(args.models)
    direct_section(args.models, args.repeats)
    if not args.no_client:
        client_section(args.models, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
