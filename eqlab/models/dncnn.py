"""DnCNN-style residual denoiser (Zhang et al. 2017) and its strict C4 twin.

What is here:
    - ``DnCNN``: plain ``nn.Conv2d`` layers with ``nn.ReLU(inplace=True)``; it predicts the
      noise and returns ``x - noise``. This is the net EQ-Reg regularizes. The in-place ReLU
      after ``head`` (and after every conv when ``batch_norm=False``) overwrites the very tensor
      a forward hook on the conv receives: the case the regularizer must survive.
    - ``DnCNNP4``: the same shape of net built from ``eqlab.layers`` (lifting conv, group convs,
      group batch norm, projection to the image), exactly C4-equivariant by construction.

Parameter budget: a 3x3 group conv between ``F``-field maps has ``36 F^2`` weights, a plain
3x3 conv between ``C``-channel maps ``9 C^2``; ``F = C / 2`` matches them exactly (while the
P4 map is twice as wide, ``4F = 2C`` channels, and costs 4x the multiply-adds). Defaults:
``DnCNN()`` 556,096 parameters, ``DnCNNP4()`` (32 fields) 554,528.

What is not here: training (``eqlab.train``) or noise models (``eqlab.data``).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn

from ..groups import Group, Regular, Representation, Trivial
from ..layers import GroupBatchNorm2d, GroupConv2d, GroupToImageConv2d, LiftingConv2d
from .base import RestorationNet, check_image, check_int, p4_reps, validate_reps
from .registry import register

__all__ = ["DnCNN", "DnCNNP4"]


@register("dncnn")
class DnCNN(RestorationNet):
    """Residual denoiser: ``depth`` 3x3 convs, ``conv-ReLU``, ``(depth-2) x conv-BN-ReLU``, ``conv``.

    Args:
        channels: image channels (1 grey, 3 colour).
        features: width of the hidden convs; a multiple of 8 lets every group (up to D4/C8)
            use the regular representation.
        depth: number of convs, ``>= 2`` (17 in the paper's DnCNN-S).
        batch_norm: batch norm after the hidden convs (then they have no bias).

    Shape:
        ``(B, channels, H, W) -> (B, channels, H, W)``, any ``H, W``.

    Example:
        >>> model = DnCNN(features=16, depth=5)
        >>> model(torch.rand(2, 1, 24, 24)).shape
        torch.Size([2, 1, 24, 24])
    """

    def __init__(self, channels: int = 1, features: int = 64, depth: int = 17, batch_norm: bool = True):
        super().__init__()
        check_int(channels, "channels")
        check_int(features, "features")
        check_int(depth, "depth", minimum=2)
        self.config = dict(channels=channels, features=features, depth=depth, batch_norm=bool(batch_norm))
        self.channels = channels

        self.head = nn.Conv2d(channels, features, 3, padding=1)
        self.head_act = nn.ReLU(inplace=True)
        self.body = nn.ModuleList()
        for _ in range(depth - 2):
            layers = OrderedDict(conv=nn.Conv2d(features, features, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers["norm"] = nn.BatchNorm2d(features)
            layers["act"] = nn.ReLU(inplace=True)
            self.body.append(nn.Sequential(layers))
        self.tail = nn.Conv2d(features, channels, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(B, channels, H, W)`` noisy image -> ``(B, channels, H, W)`` denoised."""
        check_image(x, self.channels, type(self).__name__)
        h = self.head_act(self.head(x))  # (B, features, H, W)
        for block in self.body:
            h = block(h)  # (B, features, H, W)
        noise = self.tail(h)  # (B, channels, H, W)
        return x - noise

    def equivariance_reps(self, group: Group) -> dict[str, Representation]:
        """``head`` and ``body.i.conv``: ``Regular()``; ``tail`` (the noise image): ``Trivial()``.

        Raises:
            ValueError: if ``features`` is not divisible by ``group.order``.
        """
        reps: dict[str, Representation] = {"head": Regular()}
        reps.update({f"body.{i}.conv": Regular() for i in range(len(self.body))})
        reps["tail"] = Trivial()
        return validate_reps(self, reps, group)


@register("dncnn_p4")
class DnCNNP4(RestorationNet):
    """Strictly C4-equivariant DnCNN: lifting conv, ``depth - 2`` group convs, projection to the image.

    Args:
        channels: image channels.
        fields: P4 fields of the hidden layers (each ``4`` channels); ``fields = features / 2``
            matches the parameter count of ``DnCNN(features)``.
        depth: number of convs, ``>= 2``.
        batch_norm: ``GroupBatchNorm2d`` (one statistic per field) after the hidden convs.

    Shape:
        ``(B, channels, H, W) -> (B, channels, H, W)``; hidden maps are ``(B, 4 * fields, H, W)``.

    Example:
        >>> model = DnCNNP4(fields=8, depth=5).eval()
        >>> x = torch.rand(1, 1, 16, 16)
        >>> torch.allclose(model(x.rot90(1, (2, 3))), model(x).rot90(1, (2, 3)), atol=1e-5)
        True
    """

    def __init__(self, channels: int = 1, fields: int = 32, depth: int = 17, batch_norm: bool = True):
        super().__init__()
        check_int(channels, "channels")
        check_int(fields, "fields")
        check_int(depth, "depth", minimum=2)
        self.config = dict(channels=channels, fields=fields, depth=depth, batch_norm=bool(batch_norm))
        self.channels = channels

        self.head = LiftingConv2d(channels, fields, 3)
        self.head_act = nn.ReLU(inplace=True)
        self.body = nn.ModuleList()
        for _ in range(depth - 2):
            layers = OrderedDict(conv=GroupConv2d(fields, fields, 3, bias=not batch_norm))
            if batch_norm:
                layers["norm"] = GroupBatchNorm2d(fields)
            layers["act"] = nn.ReLU(inplace=True)
            self.body.append(nn.Sequential(layers))
        self.tail = GroupToImageConv2d(fields, channels, 3, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(B, channels, H, W)`` noisy image -> ``(B, channels, H, W)`` denoised."""
        check_image(x, self.channels, type(self).__name__)
        h = self.head_act(self.head(x))  # (B, 4 * fields, H, W)
        for block in self.body:
            h = block(h)  # (B, 4 * fields, H, W)
        noise = self.tail(h)  # (B, channels, H, W)
        return x - noise

    def equivariance_reps(self, group: Group) -> dict[str, Representation]:
        """P4 layers: ``Regular()`` for C4 (a shift by 2 for C2); ``tail``: ``Trivial()``.

        Raises:
            ValueError: for groups other than C4 and C2 (see ``base.p4_reps``).
        """
        hidden, output = p4_reps(group)
        reps: dict[str, Representation] = {"head": hidden}
        reps.update({f"body.{i}.conv": hidden for i in range(len(self.body))})
        reps["tail"] = output
        return validate_reps(self, reps, group)
