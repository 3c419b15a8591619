"""Small restoration nets for EQ-Reg experiments, and a registry to build them by name.

One file per net (each with its strict C4 twin where there is one):

    dncnn.py      ``DnCNN`` / ``DnCNNP4``           denoising
    srnet.py      ``SRNet`` / ``SRNetP4``           super-resolution (PixelShuffle, bicubic skip)
    unet.py       ``UNet`` / ``UNetP4``             deblurring
    winattn.py    ``WindowAttentionNet``             window attention (EQ-Reg on ``nn.Linear``)
    thirdparty.py ``SwinIRNet`` (``swinir``)          spandrel's SwinIR, unmodified (optional), and small
                  ``SPANDREL`` configs              configs of many spandrel nets for tests and benchmarks
    upsample.py   ``bicubic_upsample``               rot90-exact bicubic skip
    base.py       ``RestorationNet``, ``PredictedNoise`` (what a residual net removes) and checks shared by all
    registry.py   ``build``, ``names``, ``arguments``, ``register`` (which nets serve a task: ``eqlab.tasks``)

Every model has ``model.name``, ``model.config`` (``build(model.name, **model.config)``
rebuilds it) and ``model.equivariance_reps(group)`` (which layers EQ-Reg hooks, and how).

Example:
    >>> from eqlab.models import build
    >>> plain, strict = build("dncnn", depth=5), build("dncnn_p4", depth=5)
"""

from .base import PredictedNoise, RestorationNet
from .dncnn import DnCNN, DnCNNP4
from .init import initialise
from .registry import arguments, build, names, register
from .srnet import SRNet, SRNetP4
from .thirdparty import SPANDREL, SwinIRNet, build_thirdparty, spandrel_available
from .unet import UNet, UNetP4
from .upsample import BicubicUpsample, bicubic_upsample
from .winattn import WindowAttentionNet, WindowBlock

__all__ = [
    "build", "names", "arguments", "register", "initialise", "RestorationNet", "PredictedNoise",
    "DnCNN", "DnCNNP4", "SRNet", "SRNetP4", "UNet", "UNetP4", "WindowAttentionNet", "WindowBlock",
    "bicubic_upsample", "BicubicUpsample", "SwinIRNet", "SPANDREL", "build_thirdparty", "spandrel_available",
]
