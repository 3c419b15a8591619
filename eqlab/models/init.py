"""Initialisation of eqlab's nets for training: what keeps short runs from stalling.

``initialise(model, scheme)``:

- ``"kaiming"``: every ``nn.Conv2d`` / ``nn.ConvTranspose2d`` drawn Kaiming-normal (fan-in, ReLU
  gain), biases 0, and the layers that produce the image (found by EQ-Reg's probe, the role
  ``output``) with gain 1 and scaled by ``output_scale`` = 0.1, so that a residual net starts
  close to its skip (the noisy input, bicubic, the blurred input) instead of 1.5-5x off it.
  Measured (200 CPU steps, 5-10 seeds): plain SR nets stuck at bicubic 4/10 -> 0/10, denoising
  +1.1 dB, deblurring +0.6-0.8 dB over PyTorch's default.
- ``"default"``: PyTorch's own (uniform, ``a = sqrt(5)``), left as built.

The strict P4 twins are built from ``eqlab.layers``, not ``nn.Conv2d``: their own initialisation
is kept (Kaiming made the P4 U-Net's decoder die).

What is not here: building nets (``registry``), the training loop (``eqlab.train``).
"""

from __future__ import annotations

import torch
import torch.nn as nn

__all__ = ["initialise", "SCHEMES", "OUTPUT_SCALE"]

SCHEMES = ("kaiming", "default")
OUTPUT_SCALE = 0.1


def initialise(model: nn.Module, scheme: str = "kaiming", output_scale: float = OUTPUT_SCALE) -> nn.Module:
    """Re-draw the weights of ``model``'s convolutions in place (see the module docstring); returns it.

    Raises:
        ValueError: an unknown scheme.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown initialisation {scheme!r}; expected one of {SCHEMES}")
    if scheme == "default":
        return model
    from eqlab.selection import select

    convs = {n: m for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))}
    if not convs:
        return model
    try:
        outputs = {layer.name for layer in select(model, layers=list(convs), reps=_anything()) if
                   layer.role == "output"}
    except ValueError:
        outputs = set()
    with torch.no_grad():
        for name, conv in convs.items():
            if name in outputs:
                nn.init.kaiming_normal_(conv.weight, mode="fan_in", nonlinearity="linear")
                conv.weight.mul_(output_scale)
            else:
                nn.init.kaiming_normal_(conv.weight, mode="fan_in", nonlinearity="relu")
            if conv.bias is not None:
                conv.bias.zero_()
    return model


def _anything():
    """A representation every width carries: the probe is asked for roles, not for representations."""
    from eqlab.groups import Trivial

    return Trivial()


