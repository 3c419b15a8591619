"""Launching the app: ``eqlab demo`` (``main``) and the ``demo.launch`` arguments it uses.

What is here: ``main(argv)`` (the flags: host, port, share, models, cache folder, torch threads,
``--prepare`` to fetch or train every first-use model and the first view, then exit; the server's own
upload folder, swept by age while it runs and removed when it ends, also on SIGTERM: ``guard.py``) and
``launch_kwargs`` (offline system fonts, the CSS, the upload cap ``MAX_FILE``). Start-up is kept short:
gradio is imported without IPython, the first view comes from its disk cache (``first.py``) and,
after the launch, a background thread warms the caches (``first.warm``): the page is served first.

What is not here: the page (``ui.build_app``), the ``eqlab`` command line that dispatches to
``main`` (``eqlab.cli``).
"""

import argparse
import contextlib
import os
import shutil
import sys
import threading
import time

WARM_DELAY_S = 3.0  # the cache warm-up starts this long after the launch, once the first pages are out


def launch_kwargs() -> dict:
    """Arguments of ``demo.launch`` that keep the page offline (system fonts) and the uploads capped."""
    import gradio as gr

    from eqlab.app.settings import MAX_FILE
    from eqlab.app.ui import CSS, MONO_FONTS, THEME_FONTS

    theme = gr.themes.Default(font=THEME_FONTS, font_mono=MONO_FONTS)
    return dict(theme=theme, css=CSS, max_file_size=MAX_FILE, show_error=True, footer_links=["api", "settings"])


@contextlib.contextmanager
def _without_ipython():
    """Keep gradio from importing IPython while the app starts as a program (it does so only to offer its
    notebook magic and to ask whether it runs in one: 0.3-0.8 s of a start). Inside IPython, nothing changes."""
    if "IPython" in sys.modules:
        yield
        return
    sys.modules["IPython"] = None  # a None entry makes every `import IPython` raise ImportError
    try:
        yield
    finally:
        if sys.modules.get("IPython", 0) is None:
            del sys.modules["IPython"]


def main(argv: list[str] | None = None) -> int:
    """``eqlab demo``: launch the app. Returns 0 when the server stops."""
    parser = argparse.ArgumentParser(prog="eqlab demo", description="Launch the eqlab Gradio app.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine "
                        "only; 0.0.0.0 serves your network, e.g. a classroom)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link (off by default)")
    parser.add_argument("--models", choices=("auto", "zoo", "quick", "random"), default="auto",
                        help="auto: eqlab.zoo, else tiny nets trained once on first use (quick); "
                             "random: untrained nets, instant start")
    parser.add_argument("--cache-dir", default=None, help="where first-use models and the first view are cached "
                        "(default $EQLAB_CACHE or ~/.cache/eqlab/app)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads per request (default: 1 on machines with 2 cores or fewer, else 2)")
    parser.add_argument("--prepare", action="store_true", help="load the zoo or train and cache the first-use models "
                        "of every task and arm and the first view now, then exit")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads or (1 if (os.cpu_count() or 1) <= 2 else 2))
    if args.prepare:
        from eqlab.app.first import first_view
        from eqlab.app.settings import TASKS
        from eqlab.app.state import App
        from eqlab.arms import ARM_NAMES

        app = App(args.models, args.cache_dir)
        for task in TASKS:
            for arm in ARM_NAMES:
                t0 = time.perf_counter()
                app.bank.get(task, arm)
                print(f"{task}/{arm}: ready ({time.perf_counter() - t0:.0f} s)")
        first_view(app)
        print("first view: cached")
        return 0
    from eqlab.app.first import warm
    from eqlab.app.guard import exit_on_signals, private_upload_folder
    from eqlab.app.ui import build_app

    exit_on_signals()  # SIGTERM / SIGHUP: the finally below runs, the folders go
    uploads = private_upload_folder()
    try:
        with _without_ipython():
            demo = build_app(args.models, args.cache_dir)
            demo.launch(server_name=args.host, server_port=args.port, share=args.share, prevent_thread_lock=True,
                        **launch_kwargs())
        threading.Thread(target=warm, args=(demo.eqlab, WARM_DELAY_S), daemon=True, name="eqlab-warm").start()
        threading.Thread(target=_sweep, args=(uploads,), daemon=True, name="eqlab-sweep").start()
        try:
            demo.block_thread()
        finally:
            demo.eqlab.close()
            demo.close()
    finally:
        shutil.rmtree(uploads, ignore_errors=True)
    return 0


def _sweep(folder) -> None:
    """Remove uploads and served files older than ``guard.UPLOAD_AGE_S``, every ``guard.SWEEP_EVERY_S``."""
    from eqlab.app.guard import SWEEP_EVERY_S, UPLOAD_AGE_S, remove_old

    while True:
        time.sleep(SWEEP_EVERY_S)
        remove_old(folder, UPLOAD_AGE_S)
