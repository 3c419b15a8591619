"""Train / eval mode that is put back exactly as it was.

``nn.Module.train(flag)`` sets the flag of *every* submodule. A guard that records only the top
module's flag and calls ``model.train()`` on exit therefore rewrites submodules that were in another
mode: a test-time average built around an eval-mode net (a new ``nn.Module`` starts in training mode)
handed back its batch-norm layers in training mode after the first image, and the next forward pass
used batch statistics and moved the running means. ``evaluation`` records the flag of each submodule
and restores each one.

What is here: ``evaluation(model)``, ``modes(model)`` / ``restore_modes(model, saved)``.
What is not here: gradients (``torch.no_grad`` is the caller's choice).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch.nn as nn

__all__ = ["evaluation", "modes", "restore_modes"]


def modes(model: nn.Module) -> dict[nn.Module, bool]:
    """The training flag of ``model`` and of every submodule, by module."""
    return {module: module.training for module in model.modules()}


def restore_modes(model: nn.Module, saved: dict[nn.Module, bool]) -> None:
    """Put back the flags of :func:`modes` (submodules added since keep theirs)."""
    for module in model.modules():
        if module in saved:
            module.training = saved[module]


@contextmanager
def evaluation(model: nn.Module) -> Iterator[nn.Module]:
    """Run a block with ``model`` in eval mode; every submodule's own flag is restored on exit.

    An eval-mode net is never switched, so a net shared by threads of a server stays untouched.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 1, 3), nn.BatchNorm2d(1))
        >>> _ = net[1].eval()  # a frozen batch norm inside a net in training mode
        >>> with evaluation(net):
        ...     net.training
        False
        >>> net.training, net[1].training
        (True, False)
    """
    if not any(module.training for module in model.modules()):
        yield model
        return
    saved = modes(model)
    model.eval()
    try:
        yield model
    finally:
        restore_modes(model, saved)
