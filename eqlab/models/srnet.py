"""A small PixelShuffle super-resolution net (ESPCN-style tail) and its strict C4 twin.

What is here:
    - ``SRNet``: 3x3 convs at low resolution, a last conv to ``channels * scale**2`` sub-pixel
      channels, ``nn.PixelShuffle(scale)``, plus a bicubic skip: it learns a residual over
      bicubic upsampling. The conv before the shuffle is image-valued after the shuffle, so its
      representation is ``PixelShuffle(scale, Trivial())``: a quarter turn moves sub-pixels
      inside each ``scale x scale`` block (for scale 2 the cycle (0 2 3 1): sub-pixel 0 moves to 2, 2 to
      3, 3 to 1), not a cyclic shift.
    - ``SRNetP4``: lifting conv, group convs, nearest upsampling (exact: it commutes with rot90),
      one group conv at high resolution, projection to the image, and the same bicubic skip.

The skip is ``eqlab.models.upsample.bicubic_upsample``, not ``F.interpolate``: both are
mathematically rot90-equivariant, but PyTorch's float32 coordinates drift at scale 3 (rotation
error ~1e-5 at 128 px), ours stays at round-off.

Parameter budget (``F = features / 2`` fields, see ``dncnn.py``): ``SRNet()`` at scale 2 has
224,516 parameters, ``SRNetP4()`` 221,985.

What is not here: down-scaling of the training data (``eqlab.data``).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..groups import Group, PixelShuffle, Regular, Representation, Trivial
from ..layers import GroupConv2d, GroupToImageConv2d, LiftingConv2d
from .base import RestorationNet, check_image, check_int, p4_reps, validate_reps
from .registry import register
from .upsample import BicubicUpsample

__all__ = ["SRNet", "SRNetP4"]


@register("srnet")
class SRNet(RestorationNet):
    """Super-resolution: ``depth`` 3x3 convs (the last one to sub-pixels), PixelShuffle, bicubic skip.

    Args:
        channels: image channels.
        features: width of the hidden convs (a multiple of 8 suits every group).
        depth: number of convs, ``>= 3``: ``head``, ``depth - 2`` body convs, ``upsampler``.
        scale: upscaling factor, an int ``>= 2``.

    Shape:
        ``(B, channels, H, W) -> (B, channels, H * scale, W * scale)``.

    Example:
        >>> model = SRNet(features=16, depth=4, scale=3)
        >>> model(torch.rand(2, 1, 10, 12)).shape
        torch.Size([2, 1, 30, 36])
    """

    def __init__(self, channels: int = 1, features: int = 64, depth: int = 8, scale: int = 2):
        super().__init__()
        check_int(channels, "channels")
        check_int(features, "features")
        check_int(depth, "depth", minimum=3)
        check_int(scale, "scale", minimum=2)
        self.config = dict(channels=channels, features=features, depth=depth, scale=scale)
        self.channels, self.scale = channels, scale

        self.head = nn.Conv2d(channels, features, 3, padding=1)
        self.body = nn.ModuleList(nn.Conv2d(features, features, 3, padding=1) for _ in range(depth - 2))
        self.act = nn.ReLU(inplace=True)
        self.upsampler = nn.Conv2d(features, channels * scale**2, 3, padding=1)
        self.shuffle = nn.PixelShuffle(scale)
        self.skip = BicubicUpsample(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(B, channels, H, W)`` low-resolution -> ``(B, channels, sH, sW)``."""
        check_image(x, self.channels, type(self).__name__)
        h = self.act(self.head(x))  # (B, features, H, W)
        for conv in self.body:
            h = self.act(conv(h))  # (B, features, H, W)
        residual = self.shuffle(self.upsampler(h))  # (B, channels * s^2, H, W) -> (B, channels, sH, sW)
        return self.skip(x) + residual

    def equivariance_reps(self, group: Group) -> dict[str, Representation]:
        """Hidden convs ``Regular()``; ``upsampler``: ``PixelShuffle(scale, Trivial())``.

        For a group that is not exact (C8) the sub-pixel layout has no representation, and
        ``upsampler`` is left out.

        Raises:
            ValueError: if ``features`` is not divisible by ``group.order``.
        """
        reps: dict[str, Representation] = {"head": Regular()}
        reps.update({f"body.{i}": Regular() for i in range(len(self.body))})
        if group.exact:
            reps["upsampler"] = PixelShuffle(self.scale, Trivial())
        return validate_reps(self, reps, group)


@register("srnet_p4")
class SRNetP4(RestorationNet):
    """Strictly C4-equivariant SR net: lift, group convs, nearest x``scale``, group conv, to image.

    Args:
        channels: image channels.
        fields: P4 fields of the hidden layers; ``features / 2`` matches ``SRNet``'s parameters.
        depth: number of convs, ``>= 3``: ``head``, ``depth - 3`` low-resolution group convs,
            ``refine`` (after upsampling), ``tail``.
        scale: upscaling factor, an int ``>= 2``.

    Shape:
        ``(B, channels, H, W) -> (B, channels, H * scale, W * scale)``.

    Example:
        >>> model = SRNetP4(fields=4, depth=4, scale=2)
        >>> model(torch.rand(2, 1, 10, 12)).shape
        torch.Size([2, 1, 20, 24])
    """

    def __init__(self, channels: int = 1, fields: int = 32, depth: int = 8, scale: int = 2):
        super().__init__()
        check_int(channels, "channels")
        check_int(fields, "fields")
        check_int(depth, "depth", minimum=3)
        check_int(scale, "scale", minimum=2)
        self.config = dict(channels=channels, fields=fields, depth=depth, scale=scale)
        self.channels, self.scale = channels, scale

        self.head = LiftingConv2d(channels, fields, 3)
        self.body = nn.ModuleList(GroupConv2d(fields, fields, 3) for _ in range(depth - 3))
        self.act = nn.ReLU(inplace=True)
        # nearest upsampling by an integer factor repeats pixels: it commutes exactly with rot90
        # and leaves the channel layout (regular P4 fields) untouched.
        self.upsample = nn.Upsample(scale_factor=scale, mode="nearest")
        self.refine = GroupConv2d(fields, fields, 3)
        self.tail = GroupToImageConv2d(fields, channels, 3)
        self.skip = BicubicUpsample(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(B, channels, H, W)`` low-resolution -> ``(B, channels, sH, sW)``."""
        check_image(x, self.channels, type(self).__name__)
        h = self.act(self.head(x))  # (B, 4 * fields, H, W)
        for conv in self.body:
            h = self.act(conv(h))  # (B, 4 * fields, H, W)
        h = self.upsample(h)  # (B, 4 * fields, sH, sW)
        h = self.act(self.refine(h))  # (B, 4 * fields, sH, sW)
        return self.skip(x) + self.tail(h)

    def equivariance_reps(self, group: Group) -> dict[str, Representation]:
        """P4 layers: ``Regular()`` for C4 (a shift by 2 for C2); ``tail``: ``Trivial()``.

        Raises:
            ValueError: for groups other than C4 and C2.
        """
        hidden, output = p4_reps(group)
        reps: dict[str, Representation] = {"head": hidden}
        reps.update({f"body.{i}": hidden for i in range(len(self.body))})
        reps["refine"] = hidden
        reps["tail"] = output
        return validate_reps(self, reps, group)
