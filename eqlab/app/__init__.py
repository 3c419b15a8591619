"""The eqlab Gradio app: explore, compare, train and learn EQ-Reg in a browser.

Launch it with ``eqlab demo`` (or ``python demos/app.py``); ``eqlab demo --help`` lists the flags.
Four tabs: Explore (does a layer rotate with its input?), Restore & compare (the arms on one
degraded image, and on its rotated copy), Train (a short, capped run whose result becomes the arm
"yours" of the browser session) and Learn (the group basics in three pictures).

Models: the shipped checkpoints of ``eqlab.zoo`` when it is installed; otherwise tiny nets trained
once on first use (cached on disk, see ``ModelBank``), or untrained nets with ``--models random``.

Caps (``settings.py``): uploads are area-downscaled to a long side of ``MAX_SIDE`` (512 px), then the
centre square is cropped and downscaled to ``WORK_SIDE`` (256 px) -- the image every tab works on;
images under ``MIN_SIDE`` (32 px) or over ``MAX_PIXELS`` are refused; per-layer errors and the
error-versus-angle curve are measured on the centre ``PROBE_SIDE`` (64 px) crop; training runs at most
``STEPS_CAP`` steps (300 on a CPU, 3000 with CUDA) with ``0 <= weight <= WEIGHT_MAX`` (1).

Users never share state: everything per user lives in one ``gr.State`` dict (decoded images, cached
errors, the model trained in the Train tab). The only module-level objects are the read-only model
cache, one lock per cached model (forward hooks must not interleave), the shared error cache of the
read-only models and the stop flags of running trainings, keyed by session.

The package, one concept per module (each imports only those above it):

    settings   caps, sizes, choices of tasks / groups / arms, InputError
    models     ModelBank (zoo / first-use training / random), per-model locks, the training recipe
    inputs     uploads and samples -> the square working image, with notes
    render     numpy pictures: colour maps, labelled tile grids (fast; no matplotlib figure)
    explore    the Explore tab: rotation panel, per-layer and per-angle errors
    restore    the Restore & compare tab
    train_tab  the Train tab: a capped run in a thread, stop flags
    learn      the Learn tab's three pictures
    handlers   the event functions (one per API endpoint) and the DataFrames of the native plots
    ui         build_app: the gr.Blocks layout and the event wiring
    launch     main (``eqlab demo``) and launch_kwargs

What is not here: any figure code the notebooks share (``eqlab.viz``; the app draws its hot-path
pictures as numpy images and its charts as native Gradio plots, because a matplotlib figure of the
rotation panel takes seconds), or any metric (``eqlab.metrics``).
"""

from eqlab.app.explore import _SHARED_ERRORS  # noqa: F401 - benchmarks/app_latency.py clears it for cold timings
from eqlab.app.explore import (explore_charts, explore_controls, explore_figure, explore_panel, explore_update,
                               rotation_panel_image)
from eqlab.app.inputs import load_working_image
from eqlab.app.launch import launch_kwargs, main
from eqlab.app.learn import learn_channels, learn_grid, learn_rotate
from eqlab.app.models import Loaded, ModelBank, net_summary
from eqlab.app.restore import restore_update
from eqlab.app.settings import (ARM_CHOICES, GROUPS, MAX_PIXELS, MAX_SIDE, MIN_SIDE, STEPS_CAP, STEPS_MIN, STRENGTH,
                                TASKS, WEIGHT_MAX, WORK_SIDE, InputError)
from eqlab.app.train_tab import stop_training, train_run
from eqlab.app.ui import build_app
from eqlab.train import ARMS

__all__ = ["build_app", "main", "ModelBank", "load_working_image", "explore_update", "explore_panel",
           "explore_charts", "restore_update",
           "train_run", "MAX_SIDE", "WORK_SIDE", "MIN_SIDE", "MAX_PIXELS", "STEPS_CAP", "WEIGHT_MAX"]
