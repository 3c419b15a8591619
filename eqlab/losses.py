"""The task losses of a training step: how far the net's output is from the clean target.

=============  ===========================================  =====================================
name           per pixel, averaged over every element        used by
=============  ===========================================  =====================================
mse            ``(out - y)^2``                               eqlab's zoo and notebooks (the default)
l1             ``|out - y|``                                 SwinIR's SR training (KAIR, BasicSR)
charbonnier    ``sqrt((out - y)^2 + eps)``                   SwinIR's denoising training
=============  ===========================================  =====================================

Charbonnier is written as BasicSR writes it (``basicsr/losses/basic_loss.py``: ``eps`` inside the
square root, not squared, default ``1e-12``); the EQ-Reg reference code's SwinIR denoising option
sets ``G_charbonnier_eps`` to ``1e-9``. Every loss is computed in float32, also under autocast.

What is here: ``LOSSES`` (the names), ``TaskLoss`` (a loss by name, a callable), ``task_loss``.
What is not here: the EQ-Reg penalty (``eqlab.regularizer``), what an arm adds to it (``eqlab.arms``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from eqlab.checks import check_choice, check_number

__all__ = ["LOSSES", "CHARBONNIER_EPS", "TaskLoss", "task_loss"]

LOSSES = ("mse", "l1", "charbonnier")
CHARBONNIER_EPS = 1e-12  # BasicSR's CharbonnierLoss default


def task_loss(out: torch.Tensor, y: torch.Tensor, name: str = "mse", eps: float = CHARBONNIER_EPS) -> torch.Tensor:
    """The mean task loss between an output and its target, in float32.

    Args:
        out: ``(B, C, H, W)`` the net's output (any float dtype).
        y: ``(B, C, H, W)`` the clean target.
        name: one of ``LOSSES``.
        eps: Charbonnier's ``eps`` (inside the square root); ignored by the others.

    Returns:
        a scalar tensor.

    Example:
        >>> out, y = torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 0.5)
        >>> [round(float(task_loss(out, y, name)), 4) for name in LOSSES]
        [0.25, 0.5, 0.5]
    """
    out, y = out.float(), y.float()
    if out.shape != y.shape:
        raise ValueError(f"task_loss: output {tuple(out.shape)} and target {tuple(y.shape)} differ in shape")
    if name == "mse":
        return F.mse_loss(out, y)
    if name == "l1":
        return F.l1_loss(out, y)
    if name == "charbonnier":
        return torch.sqrt((out - y).square() + eps).mean()
    raise ValueError(f"unknown loss {name!r}; expected one of {LOSSES}")


class TaskLoss:
    """A task loss chosen by name: ``TaskLoss("l1")(out, y)``.

    Args:
        name: one of ``LOSSES``.
        eps: Charbonnier's ``eps`` (> 0).

    Raises:
        ValueError: an unknown name or an ``eps`` out of range.
    """

    def __init__(self, name: str = "mse", eps: float = CHARBONNIER_EPS):
        check_choice("loss", name, LOSSES)
        check_number("charbonnier_eps", eps, 0.0, 1.0, open_low=True)
        self.name, self.eps = name, float(eps)

    def __call__(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return task_loss(out, y, self.name, self.eps)

    def __repr__(self) -> str:
        return f"TaskLoss({self.name!r}" + (f", eps={self.eps:g})" if self.name == "charbonnier" else ")")
