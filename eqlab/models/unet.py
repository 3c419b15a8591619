"""A small residual U-Net deblurrer and its strict C4 twin.

What is here:
    - ``UNet``: ``levels`` encoder stages (two 3x3 convs each, then 2x2 average pooling), a
      bottleneck, and decoder stages (nearest x2 upsampling, concatenation with the skip, two
      3x3 convs), a last conv to the image, and a global residual ``x + net(x)``.
    - ``UNetP4``: the same graph from ``eqlab.layers``. Average pooling 2x2 and nearest x2
      upsampling commute exactly with rot90 when ``H`` and ``W`` are even at every level, and
      concatenating two regular P4 maps along channels is again a regular P4 map (whole fields
      of 4 consecutive channels), so the net is exactly C4-equivariant.

Both need ``H`` and ``W`` divisible by ``2**levels`` (a ``ValueError`` names the shape
otherwise): an odd size at some level would make pooling drop a row, and which row it drops
changes under rotation.

Parameter budget (``fields = features / 2``, see ``dncnn.py``): ``UNet()`` has 471,233
parameters, ``UNetP4()`` 470,625.

What is not here: blur kernels (``eqlab.data``).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..groups import Group, Regular, Representation, Trivial
from ..layers import GroupConv2d, GroupToImageConv2d, LiftingConv2d
from .base import RestorationNet, check_image, check_int, p4_reps, validate_reps
from .registry import register

__all__ = ["UNet", "UNetP4"]


def _conv3(c_in: int, c_out: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, padding=1)


def _double(conv1: nn.Module, conv2: nn.Module) -> nn.Sequential:
    """``conv1 -> ReLU -> conv2 -> ReLU``, with the names the regularizer hooks."""
    return nn.Sequential(
        OrderedDict(conv1=conv1, act1=nn.ReLU(inplace=True), conv2=conv2, act2=nn.ReLU(inplace=True))
    )


def _unet_forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The shared graph of ``UNet`` and ``UNetP4``: encoder, bottleneck, decoder, residual."""
    check_image(x, model.channels, type(model).__name__, multiple=2**model.levels)
    skips = []
    h = x
    for level, block in enumerate(model.down):
        if level > 0:
            h = F.avg_pool2d(h, 2)  # (B, C_level, H / 2^level, W / 2^level)
        h = block(h)
        skips.append(h)
    for level in reversed(range(model.levels)):
        h = F.interpolate(h, scale_factor=2, mode="nearest")  # back to level's size
        h = torch.cat([h, skips[level]], dim=1)  # (B, C_{level+1} + C_level, ...)
        h = model.up[level](h)  # (B, C_level, ...)
    return x + model.tail(h)


@register("unet")
class UNet(RestorationNet):
    """Residual U-Net: widths ``features * 2**level``, average-pool down, nearest up.

    Args:
        channels: image channels.
        features: width at full resolution (a multiple of 8 suits every group).
        levels: number of down/up steps, ``>= 1``; ``H`` and ``W`` must be divisible by ``2**levels``.

    Shape:
        ``(B, channels, H, W) -> (B, channels, H, W)``.

    Example:
        >>> model = UNet(features=8, levels=2)
        >>> model(torch.rand(2, 1, 16, 24)).shape
        torch.Size([2, 1, 16, 24])
    """

    def __init__(self, channels: int = 1, features: int = 32, levels: int = 2):
        super().__init__()
        check_int(channels, "channels")
        check_int(features, "features")
        check_int(levels, "levels")
        self.config = dict(channels=channels, features=features, levels=levels)
        self.channels, self.levels = channels, levels
        widths = [features * 2**level for level in range(levels + 1)]

        self.down = nn.ModuleList(
            _double(_conv3(channels if i == 0 else widths[i - 1], widths[i]), _conv3(widths[i], widths[i]))
            for i in range(levels + 1)
        )
        self.up = nn.ModuleList(
            _double(_conv3(widths[i + 1] + widths[i], widths[i]), _conv3(widths[i], widths[i])) for i in range(levels)
        )
        self.tail = nn.Conv2d(widths[0], channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(B, channels, H, W)`` blurred image -> ``(B, channels, H, W)``."""
        return _unet_forward(self, x)

    def equivariance_reps(self, group: Group) -> dict[str, Representation]:
        """Every ``down.i.convj`` and ``up.i.convj``: ``Regular()``; ``tail``: ``Trivial()``.

        Raises:
            ValueError: if ``features`` is not divisible by ``group.order``.
        """
        reps: dict[str, Representation] = {}
        for part, blocks in (("down", self.down), ("up", self.up)):
            for i in range(len(blocks)):
                reps[f"{part}.{i}.conv1"] = Regular()
                reps[f"{part}.{i}.conv2"] = Regular()
        reps["tail"] = Trivial()
        return validate_reps(self, reps, group)


@register("unet_p4")
class UNetP4(RestorationNet):
    """Strictly C4-equivariant residual U-Net: fields ``fields * 2**level``.

    Args:
        channels: image channels.
        fields: P4 fields at full resolution; ``features / 2`` matches ``UNet``'s parameters.
        levels: number of down/up steps, ``>= 1``; ``H`` and ``W`` must be divisible by ``2**levels``.

    Shape:
        ``(B, channels, H, W) -> (B, channels, H, W)``.

    Example:
        >>> model = UNetP4(fields=2, levels=2)
        >>> model(torch.rand(2, 1, 16, 24)).shape
        torch.Size([2, 1, 16, 24])
    """

    def __init__(self, channels: int = 1, fields: int = 16, levels: int = 2):
        super().__init__()
        check_int(channels, "channels")
        check_int(fields, "fields")
        check_int(levels, "levels")
        self.config = dict(channels=channels, fields=fields, levels=levels)
        self.channels, self.levels = channels, levels
        widths = [fields * 2**level for level in range(levels + 1)]

        first = LiftingConv2d(channels, widths[0], 3)
        self.down = nn.ModuleList(
            _double(first if i == 0 else GroupConv2d(widths[i - 1], widths[i], 3), GroupConv2d(widths[i], widths[i], 3))
            for i in range(levels + 1)
        )
        self.up = nn.ModuleList(
            _double(GroupConv2d(widths[i + 1] + widths[i], widths[i], 3), GroupConv2d(widths[i], widths[i], 3))
            for i in range(levels)
        )
        self.tail = GroupToImageConv2d(widths[0], channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(B, channels, H, W)`` blurred image -> ``(B, channels, H, W)``."""
        return _unet_forward(self, x)

    def equivariance_reps(self, group: Group) -> dict[str, Representation]:
        """P4 layers: ``Regular()`` for C4 (a shift by 2 for C2); ``tail``: ``Trivial()``.

        Raises:
            ValueError: for groups other than C4 and C2.
        """
        hidden, output = p4_reps(group)
        reps: dict[str, Representation] = {}
        for part, blocks in (("down", self.down), ("up", self.up)):
            for i in range(len(blocks)):
                reps[f"{part}.{i}.conv1"] = hidden
                reps[f"{part}.{i}.conv2"] = hidden
        reps["tail"] = output
        return validate_reps(self, reps, group)
