"""Launching the app: ``eqlab demo`` (``main``) and the ``demo.launch`` arguments it uses.

What is here: ``main(argv)`` (the flags: host, port, share, models, cache folder, torch threads,
``--prepare`` to fetch or train every first-use model and exit) and ``launch_kwargs`` (offline
system fonts, the CSS, the upload cap ``MAX_FILE``).

What is not here: the page (``ui.build_app``), the ``eqlab`` command line that dispatches to
``main`` (``eqlab.cli``).
"""

import argparse
import os
import time

import torch

from eqlab.app.models import ModelBank
from eqlab.app.settings import MAX_FILE, TASKS
from eqlab.app.ui import CSS, MONO_FONTS, THEME_FONTS, build_app
from eqlab.train import ARMS


def launch_kwargs() -> dict:
    """Arguments of ``demo.launch`` that keep the page offline (system fonts) and the uploads capped."""
    import gradio as gr

    theme = gr.themes.Default(font=THEME_FONTS, font_mono=MONO_FONTS)
    return dict(theme=theme, css=CSS, max_file_size=MAX_FILE, show_error=True, footer_links=["api", "settings"])


def main(argv: list[str] | None = None) -> int:
    """``eqlab demo``: launch the app. Returns 0 when the server stops."""
    parser = argparse.ArgumentParser(prog="eqlab demo", description="Launch the eqlab Gradio app.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine "
                        "only; 0.0.0.0 serves your network)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link (off by default)")
    parser.add_argument("--models", choices=("auto", "zoo", "quick", "random"), default="auto",
                        help="auto: eqlab.zoo when installed, else tiny nets trained once on first use (quick); "
                             "random: untrained nets, instant start")
    parser.add_argument("--cache-dir", default=None, help="where first-use models are cached "
                        "(default $EQLAB_CACHE or ~/.cache/eqlab/app)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads per request (default: 1 on machines with 2 cores or fewer, else 2)")
    parser.add_argument("--prepare", action="store_true", help="load the zoo or train and cache the first-use models "
                        "of every task and arm now (a few minutes on a CPU), then exit")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads or (1 if (os.cpu_count() or 1) <= 2 else 2))
    if args.prepare:
        bank = ModelBank(args.models, args.cache_dir)
        for task in TASKS:
            for arm in ARMS:
                t0 = time.perf_counter()
                bank.get(task, arm)
                print(f"{task}/{arm}: ready ({time.perf_counter() - t0:.0f} s)")
        return 0
    demo = build_app(args.models, args.cache_dir)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, **launch_kwargs())
    return 0
