"""An exponential moving average (EMA) of a net's weights, the net that KAIR and BasicSR score.

After every optimizer step

.. math:: \\theta_{ema} \\leftarrow d\\, \\theta_{ema} + (1 - d)\\, \\theta

for every parameter (``d = 0.999`` in KAIR's and BasicSR's SwinIR options: the average spans about
1000 steps); buffers (batch-norm statistics) are copied from the net. The average starts as a copy
of the net before the first step, as KAIR's ``update_E(0)`` does.

Written here rather than taken from ``torch.optim.swa_utils.AveragedModel``: that wrapper renames
the weights (``module.``) and keeps a counter of its own, while the average must be a plain eqlab
net that checkpoints, loads and evaluates like the raw one (``eqlab.checkpoint``, ``eqlab eval``).

What is here: ``EMA``. What is not here: when it is validated or saved (``eqlab.train.callbacks``).
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn

from eqlab.checks import check_number

__all__ = ["EMA"]


class EMA:
    """The moving average of ``model``'s weights, held in a copy of the model.

    Args:
        model: the (unwrapped) net being trained; it is copied, not changed.
        decay: ``d`` in ``[0, 1)``.

    Example:
        >>> net = nn.Linear(2, 1)
        >>> ema = EMA(net, decay=0.5)
        >>> with torch.no_grad():
        ...     _ = net.weight.add_(1.0)
        >>> ema.update(net)
        >>> torch.allclose(ema.model.weight, net.weight - 0.5)
        True
    """

    def __init__(self, model: nn.Module, decay: float):
        check_number("ema_decay", decay, 0.0, 1.0, open_high=True)
        self.decay = float(decay)
        self.model = copy.deepcopy(model).eval()
        self.model.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """One averaging step towards ``model``'s current weights (call after every optimizer step)."""
        for average, current in zip(self.model.parameters(), model.parameters()):
            average.lerp_(current.detach(), 1.0 - self.decay)  # average + (1 - d) (current - average)
        for average, current in zip(self.model.buffers(), model.buffers()):
            average.copy_(current)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The averaged net's ``state_dict`` (what a checkpoint stores)."""
        return self.model.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Set the averaged net from a checkpoint's ``state_dict`` (a resumed run continues the same average)."""
        self.model.load_state_dict(state)
