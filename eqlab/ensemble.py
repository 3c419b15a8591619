"""Test-time averaging over a group (the "self-ensemble" of EDSR, SwinIR's ``--tile`` scripts, KAIR's ``x8``).

What is here: ``self_ensemble(model, x, group)``, which averages any image-to-image net over the
elements of an exact group, and ``SelfEnsemble``, the same as an ``nn.Module`` around a net:

.. math::

    \\bar f(x) = \\frac{1}{|G|} \\sum_{g \\in G} g^{-1} f(g\\, x)

The average is exactly equivariant, whatever ``f`` is: for any ``h`` in ``G``,
``\\bar f(h x) = h \\bar f(x)`` (substitute ``g' = g h``), up to round-off of the summation order.
It is the cheapest way to an equivariant net, paid at every inference: ``|G|`` forward passes
(C2: 2, C4: 4, D4: 8) instead of one. EQ-Reg buys (part of) that symmetry once, in training;
``eqlab eval --self-ensemble`` puts the two side by side.

What is not here: training with rotations (``eqlab.arms``), measuring equivariance
(``eqlab.metrics``), C8 (its 45-degree turns interpolate and need a mask: no exact average).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from eqlab.groups import GROUP_NAMES, Group, get_group

__all__ = ["self_ensemble", "SelfEnsemble", "ENSEMBLE_GROUPS"]

# the exact groups among those offered: every element maps the pixel grid onto itself
ENSEMBLE_GROUPS = tuple(name for name in GROUP_NAMES if get_group(name).exact)


def _exact_group(group: Group | str) -> Group:
    group = get_group(group)
    if not group.exact:
        raise ValueError(f"self_ensemble needs a group that maps the pixel grid onto itself "
                         f"({', '.join(ENSEMBLE_GROUPS)}), got {group.name}")
    return group


def self_ensemble(model: nn.Module, x: torch.Tensor, group: Group | str = "C4") -> torch.Tensor:
    """The net averaged over a group: ``mean_g g^{-1} model(g x)``.

    Convention:
        ``group.rotate``: quarter turns counter-clockwise as displayed (``torch.rot90`` on the
        last two dims), D4's reflections flip left-right before turning; no interpolation, no
        padding. The output is transformed back by the inverse element, so an SR net's larger
        output (``(B, C, sH, sW)``) is averaged in the frame of ``x`` like any other. Non-square
        inputs work: a quarter turn swaps ``H`` and ``W`` on the way in and back on the way out.

    Cost: ``|G|`` forward passes, one element at a time (the memory of one pass, not ``|G|``).
    The net's mode is left as it is (call ``model.eval()`` first for batch norm at test time) and
    gradients flow when they are enabled.

    Args:
        model: any image-to-image net whose output's sides scale with the input's.
        x: ``(B, C, H, W)`` input batch.
        group: ``"C2"``, ``"C4"``, ``"D4"`` or a ``Group`` that is exact.

    Returns:
        ``(B, C', H', W')``: the averaged output, the shape of ``model(x)``.

    Raises:
        ValueError: a group that is not exact (C8), or ``x`` not ``(B, C, H, W)``.

    Example:
        >>> model = nn.Conv2d(1, 1, 3, padding=1)
        >>> x = torch.rand(2, 1, 8, 8)
        >>> out = self_ensemble(model, x, "C4")
        >>> torch.allclose(self_ensemble(model, torch.rot90(x, 1, (-2, -1)), "C4"), torch.rot90(out, 1, (-2, -1)),
        ...                atol=1e-6)
        True
    """
    group = _exact_group(group)
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"self_ensemble: x must be (B, C, H, W), got {getattr(x, 'shape', type(x).__name__)}")
    total = None
    for element in group.elements():
        out = group.rotate(model(group.rotate(x, element)), group.inverse(element))  # g^{-1} f(g x)
        total = out if total is None else total + out
    return total / group.order


class SelfEnsemble(nn.Module):
    """A net averaged over a group at every call (see :func:`self_ensemble`).

    Args:
        model: the net (kept as ``self.model``; its weights are the wrapper's).
        group: ``"C2"``, ``"C4"``, ``"D4"`` or an exact ``Group``.

    Shape:
        the net's: ``(B, C, H, W) -> (B, C', H', W')``.

    Example:
        >>> model = SelfEnsemble(nn.Conv2d(1, 1, 3, padding=1), "D4")
        >>> model(torch.rand(2, 1, 8, 6)).shape
        torch.Size([2, 1, 8, 6])
    """

    def __init__(self, model: nn.Module, group: Group | str = "C4"):
        super().__init__()
        self.model = model
        self.group = _exact_group(group)
        self.training = model.training  # a new Module starts in training mode: take the net's, not ours
        self.config = dict(getattr(model, "config", {}))  # the net's: input multiples, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(B, C, H, W)`` -> the averaged output."""
        return self_ensemble(self.model, x, self.group)

    def extra_repr(self) -> str:
        """The group and the number of forward passes, for ``repr(module)``."""
        return f"group={self.group.name}, forward passes={self.group.order}"
