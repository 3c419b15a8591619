"""The eqlab Gradio app: explore, compare, train and learn EQ-Reg in a browser.

Launch it with ``eqlab demo`` (or ``python demos/app.py``); ``eqlab demo --help`` lists the flags.
Four tabs: Explore (does a layer rotate with its input?), Restore & compare (the arms on one
degraded image, and on its rotated copy), Train (a short, capped run, from scratch or fine-tuning a
zoo net, whose result becomes the arm "yours" of the browser session) and Learn (the group basics in
three pictures).

Models: the shipped checkpoints of ``eqlab.zoo``; tiny nets trained once on first use when the zoo
lacks a task; untrained nets with ``--models random``.

Caps (``settings.py``): uploads are area-downscaled to a long side of ``MAX_SIDE`` (512 px), then the
centre square is cropped and downscaled to ``WORK_SIDE`` (256 px, Restore) or ``EXPLORE_SIDE``
(128 px: the Explore pictures, charts and matplotlib figure); images under ``MIN_SIDE`` (32 px) or
over ``MAX_PIXELS`` are refused; training runs at most 300 steps on a CPU (3000 with CUDA) with
``0 <= weight <= WEIGHT_MAX``.

State: everything the server keeps lives in one ``App`` object per ``build_app`` (``state.py``: the
models, the caches many users share, the compute slots, the trainings and their stop flags), and
everything per user in one ``gr.State`` dict (the model trained in the Train tab, the runs of the
session, the last restoration). Nothing is module-level.

The package, one concept per module (each imports only those above it):

    settings   caps, sizes, choices (tasks and arms from eqlab.tasks / eqlab.arms), InputError
    text       the words: the relative error's definition (thresholds from eqlab.metrics), how to read the charts
    cache      a bounded, thread-safe cache that computes a missing entry once
    guard      offline (no analytics, no fetch of client URLs), private upload folders, clean-up on any exit
    bank       ModelBank (zoo / first-use training / random / spandrel's SwinIR) and Loaded
    inputs     uploads and samples -> the square working image, with notes
    render     numpy pictures: colour maps, colour bars, labelled tile grids (fast; no matplotlib figure)
    worker     the training process (python -m eqlab.app.worker)
    training   the Train tab: checks, the zoo recipe with the tab's changes, runs, stop flags
    state      App: the models, caches, compute slots and trainings of one app
    explore    the Explore pictures and words: "rotate the input", the field panel, the verdict and the
               field's components (one path per request: resolve)
    charts     the native charts' data: field spectrum, per-layer and per-angle errors, training curves
    restore    the Restore & compare computation
    learn      the Learn tab's three pictures
    first      the first Explore view, cached on disk; the warm-up after launch
    tabs       one module per tab (explore, restore, train, learn): its layout, its events, its event functions
    handlers   every tab's event functions in one namespace, by API name (make_handlers)
    ui         build_app: the tabs of TABS assembled into one gr.Blocks
    launch     main (``eqlab demo``) and launch_kwargs

What is not here: any figure code the notebooks share (``eqlab.viz``; the app draws its hot-path
pictures as numpy images and its charts as native Gradio plots) or any metric (``eqlab.metrics``).

Helpers that belong in the core library and live here for now: ``cache.Cache`` (a single-flight
bounded cache) and ``render.feature_scale`` (a robust colour scale for feature maps).
"""

import importlib.util

for _package, _requirement in (("gradio", "gradio>=5,<7"), ("cachetools", "cachetools>=6")):
    if importlib.util.find_spec(_package) is None:
        raise ModuleNotFoundError(
            f"the eqlab app needs the package '{_package}', which is not installed; install it with "
            f"`python -m pip install -e \".[app]\"` (or `pip install '{_requirement}'`)", name=_package)

from eqlab.app.guard import offline_environment  # noqa: E402

offline_environment()  # before anything imports gradio: no analytics, no version check (eqlab.app.guard)

from eqlab.app.bank import Loaded, ModelBank  # noqa: E402
from eqlab.app.inputs import load_working_image  # noqa: E402
from eqlab.app.launch import launch_kwargs, main  # noqa: E402
from eqlab.app.settings import (  # noqa: E402
    EXPLORE_SIDE,
    GROUPS,
    MAX_PIXELS,
    MAX_SIDE,
    MIN_SIDE,
    STEPS_CPU,
    STEPS_GPU,
    STEPS_MIN,
    STRENGTH,
    TASKS,
    WEIGHT_MAX,
    WORK_SIDE,
    InputError,
)
from eqlab.app.state import App  # noqa: E402
from eqlab.app.ui import build_app  # noqa: E402

__all__ = ["build_app", "main", "launch_kwargs", "App", "ModelBank", "Loaded", "load_working_image", "InputError",
           "MAX_SIDE", "WORK_SIDE", "EXPLORE_SIDE", "MIN_SIDE", "MAX_PIXELS", "STEPS_MIN", "STEPS_CPU", "STEPS_GPU",
           "WEIGHT_MAX", "STRENGTH", "TASKS", "GROUPS"]
