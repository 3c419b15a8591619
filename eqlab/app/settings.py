"""The app's caps, sizes and choices, shared by every tab, and the user-facing error type.

What is here: the upload and image caps (``MAX_SIDE``, ``WORK_SIDE``, ``EXPLORE_SIDE``, ``MIN_SIDE``,
``MAX_PIXELS``, ``MAX_FILE``), how much runs at once (``COMPUTE_SLOTS``, ``DECODE_SLOTS``, ``REQUEST_SLOTS``
and the Gradio arguments of the Explore and Restore events, ``EXPLORE_SLOTS``, ``RESTORE_SLOTS``), the
angles of the Explore chart, the training caps of the Train tab (``STEPS_CAP``, ``STEPS_MIN``,
``WEIGHT_MAX``, ``SHARE_RANGE``), the choices the UI offers (tasks and arms read from ``eqlab.tasks`` and
``eqlab.arms``, groups, the strength slider of each task, the sample images), the colours of the series that
are not arms, ``InputError`` and the fall-backs for unknown tasks and groups.

What is not here: the arms' colours and summaries (``eqlab.arms``: ``ARMS[name].color``,
``.summary``), the words that explain the numbers (``text.py``) and anything that computes.
"""

import os

from eqlab.arms import ARM_NAMES, ARMS, MAX_SHARE
from eqlab.data import ALL_IMAGES, TEST_IMAGES
from eqlab.groups import GROUP_NAMES, Group, get_group
from eqlab.tasks import TASKS

# -- caps and sizes ----------------------------------------------------------------------------------
MAX_SIDE = 512  # uploads: long side area-downscaled to this first
WORK_SIDE = 256  # Restore & compare works on a centre square of at most this side
EXPLORE_SIDE = 128  # Explore (panel, charts and the matplotlib figure alike) downscales that square to this
MIN_SIDE = 32  # smaller images are refused (the nets and the crops need room)
MAX_PIXELS = 40_000_000  # larger images are refused before decoding (a 6000 x 4000 photo is 24 MP)
MAX_FILE = "50mb"  # upload size limit passed to launch()
COMPUTE_SLOTS = max(1, min(2, os.cpu_count() or 1))  # computations at once (cache hits never wait for one)
DECODE_SLOTS = 1  # uploads decoded at once: each takes a few hundred MB while it is decoded (a 36-MP PNG: ~0.3 GB)
REQUEST_SLOTS = 8  # Explore or Restore events served at once (each tab its own); more wait in Gradio's queue
EXPLORE_SLOTS = dict(concurrency_limit=REQUEST_SLOTS, concurrency_id="explore")  # the events' Gradio arguments
RESTORE_SLOTS = dict(concurrency_limit=REQUEST_SLOTS, concurrency_id="restore")
ANGLES = [22.5 * i for i in range(9)]  # 0 ... 180 degrees for the error-vs-angle chart
STEPS_MIN = 10
STEPS_GPU, STEPS_CPU = 3000, 300  # training steps allowed in the Train tab (the CPU cap keeps a run near a minute)
WEIGHT_MAX = 1.0  # EQ-Reg weight allowed in the Train tab (relative norm: >= 1e-2 already hurts denoising)
SHARE_RANGE = (1e-4, MAX_SHARE)  # target gradient shares allowed in the Train tab (up to the kit's share cap)

# -- choices -----------------------------------------------------------------------------------------
GROUPS = tuple(name for name in GROUP_NAMES if get_group(name).order > 2)  # Explore (C2 is C4's half turn)
TRAIN_GROUPS = GROUP_NAMES  # the Train tab: every group eqlab.groups offers by name
TRAIN_COLORS = ("gray", "rgb")  # the Train tab's --color (eqlab.data.convert.MODES); the zoo's nets are gray
YOURS = "yours"  # the arm of the model trained in this browser session
ARM_CHOICES = list(ARM_NAMES) + [YOURS]
EXTRA_NET = "swinir"  # a registered third-party net (spandrel's SwinIR), offered untrained when spandrel is there
SERIES_COLORS = {YOURS: "#9467bd", "interpolation floor": "#bbbbbb"}


def arm_color(name: str) -> str:
    """The colour of an arm (``eqlab.arms``) or of one of the app's own series."""
    return ARMS[name].color if name in ARMS else SERIES_COLORS.get(name, "#17becf")


def arm_help(name: str) -> str:
    """One line on an arm (``eqlab.arms``), on "yours", or on an extra zoo net (e.g. ``eqreg-relative``)."""
    if name in ARMS:
        return ARMS[name].summary
    if name == YOURS:
        return "the model you trained in the Train tab (this browser session)"
    base = name.split("-")[0]
    return f"a zoo net beside the arms, a variant of {base}" if base in ARMS else "a zoo net beside the arms"


# What the strength slider of the Restore tab means for each task: (Task field, slider kwargs), from eqlab.tasks.
STRENGTH = {name: (task.strength.field, task.strength.slider(task)) for name, task in TASKS.items()}
SAMPLES = list(TEST_IMAGES) + [n for n in ALL_IMAGES if n not in TEST_IMAGES]
SAMPLE_CHOICES = [(f"{n} (test)" if n in TEST_IMAGES else f"{n} (train)", n) for n in SAMPLES]
DEFAULT_SAMPLE = "camera"


class InputError(ValueError):
    """A problem with what the user gave; its message is shown to the user as is."""


def known_task(task) -> str:
    """``task`` when the app offers it, else ``"denoise"`` (a stale or hand-made API call)."""
    return task if task in TASKS else "denoise"


def known_group(group_name) -> Group:
    """The group named ``group_name`` when the app offers it, else C4."""
    return get_group(group_name if group_name in GROUPS else "C4")


def steps_cap(cuda: bool) -> int:
    """The Train tab's step cap on this device."""
    return STEPS_GPU if cuda else STEPS_CPU
