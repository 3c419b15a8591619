"""The app's caps, sizes and choices, shared by every tab, and the user-facing error type.

What is here: the upload and working-image caps (``MAX_SIDE``, ``WORK_SIDE``, ``MIN_SIDE``,
``MAX_PIXELS``, ``MAX_FILE``), the probe crop and angles of the Explore charts, the training caps
of the Train tab (``STEPS_CAP``, ``STEPS_MIN``, ``WEIGHT_MAX``), the tasks, groups and arms the UI
offers with their colours and one-line help, the strength slider of each task, the sample images,
``InputError`` and the fall-backs for unknown tasks and groups.

What is not here: the first-use training budget (``QUICK_STEPS``, ``QUICK_WEIGHT``: ``models.py``,
which owns it) and anything that computes.
"""

import os

import torch

from eqlab.data import ALL_IMAGES, TEST_IMAGES
from eqlab.groups import Group, get_group
from eqlab.train import ARMS

# -- caps and sizes ----------------------------------------------------------------------------------
MAX_SIDE = 512  # uploads: long side area-downscaled to this first
WORK_SIDE = 256  # every tab works on a centre square of at most this side
MIN_SIDE = 32  # smaller images are refused (the nets and the crops need room)
MAX_PIXELS = 40_000_000  # larger images are refused before decoding (40 MP: a 6000x4000 photo is 24 MP)
MAX_FILE = "50mb"  # upload size limit passed to launch()
ARM_WORKERS = min(4, os.cpu_count() or 1)  # threads that run the arms of one Restore request side by side
PROBE_SIDE = 64  # per-layer errors and error-vs-angle are measured on this centre crop (speed)
ANGLES = [22.5 * i for i in range(9)]  # 0 ... 180 degrees for the error-vs-angle curve
CUDA = torch.cuda.is_available()
STEPS_CAP = 3000 if CUDA else 300  # training steps allowed in the Train tab
STEPS_MIN = 10
WEIGHT_MAX = 1.0  # EQ-Reg weight allowed in the Train tab (relative norm: >= 1e-2 already destroys denoising)

# -- choices -----------------------------------------------------------------------------------------
TASKS = ("denoise", "sr", "deblur")
GROUPS = ("C4", "D4", "C8")
YOURS = "yours"
ARM_CHOICES = list(ARMS) + [YOURS]
# Net sizes of the app's own models and of the Train tab (tiny: every tab must answer in about a second).
SIZES = {"denoise": dict(features=16, depth=5), "sr": dict(features=16, depth=5), "deblur": dict(features=8, levels=2)}
ARM_COLORS = {"plain": "#7f7f7f", "augment": "#1f77b4", "eqreg": "#d62728", "strict": "#2ca02c", YOURS: "#9467bd",
              "interpolation floor": "#444444"}
ARM_HELP = {
    "plain": "ordinary CNN, no rotations in training",
    "augment": "same CNN, trained on x and a rotated copy (EQ-Reg weight 0)",
    "eqreg": "same CNN and batches, plus the EQ-Reg penalty",
    "strict": "group CNN (P4): C4-equivariant by construction",
    YOURS: "the model you trained in the Train tab",
}
# What the strength slider of the Restore tab means for each task: (TrainConfig/Task field, slider kwargs).
STRENGTH = {
    "denoise": ("sigma", dict(label="Noise σ (0-255 scale; the models were trained at σ = 25)", minimum=0, maximum=75,
                              step=5, value=25)),
    "sr": ("sigma", dict(label="Extra noise σ on the low-resolution input (trained at 0; scale ×2)", minimum=0,
                         maximum=30, step=1, value=0)),
    "deblur": ("blur_length", dict(label="Motion-blur length in px (trained at 9 px, 30°)", minimum=3, maximum=21,
                                   step=2, value=9)),
}
SAMPLES = list(TEST_IMAGES) + [n for n in ALL_IMAGES if n not in TEST_IMAGES]
SAMPLE_CHOICES = [(f"{n} (test)" if n in TEST_IMAGES else f"{n} (train)", n) for n in SAMPLES]


class InputError(ValueError):
    """A problem with what the user gave; its message is shown to the user as is."""


def known_task(task) -> str:
    """``task`` when the app offers it, else ``"denoise"`` (a stale or hand-made API call)."""
    return task if task in TASKS else "denoise"


def known_group(group_name) -> Group:
    """The group named ``group_name`` when the app offers it, else C4."""
    return get_group(group_name if group_name in GROUPS else "C4")
