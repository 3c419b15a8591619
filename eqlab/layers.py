"""Strictly C4-equivariant building blocks: the "EQ-CNN" (a P4 group CNN, Cohen & Welling 2016).

What is here: a lifting conv (image -> P4 feature map), a group conv (P4 -> P4), a projection conv
(P4 -> image), group batch norm, group pooling, and ``p4_rotate_kernels`` which builds the
filter banks. Every layer is equivariant by construction: for a quarter turn ``k``

.. math:: f(\\mathrm{rot}_k x) = P_k\\, \\mathrm{rot}_k f(x)

with ``P_k`` the cyclic shift of ``eqlab.groups.Regular`` (fields of 4 consecutive channels, the
orientation index fastest). Output ``(B, fields * 4, H, W)``.

What is not here: reflections (D4) or 45-degree steps; restoration nets built from these blocks
live in ``eqlab.models``.

Convention: odd kernel sizes and ``padding = kernel_size // 2`` keep the centre of rotation on a
pixel, which is what makes ``conv(rot x, rot w) == rot conv(x, w)`` exact.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

__all__ = ["LiftingConv2d", "GroupConv2d", "GroupToImageConv2d", "GroupBatchNorm2d", "GroupPool", "ORDER"]

ORDER = 4  # |C4|: channels per field


def _check_kernel(kernel_size: int) -> None:
    if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd int (rotation about a pixel), got {kernel_size!r}")


def _check_fields(x: torch.Tensor, fields: int, layer: str) -> None:
    if x.dim() != 4 or x.shape[1] != fields * ORDER:
        raise ValueError(f"{layer}: expected (B, {fields * ORDER}, H, W) = {fields} fields x 4, got {tuple(x.shape)}")


def _init(weight: torch.Tensor, fan_in: int) -> None:
    nn.init.kaiming_uniform_(weight.view(weight.shape[0], -1), a=math.sqrt(5))
    # kaiming on the viewed weight uses the view's fan-in; rescale to the real one
    weight.data.mul_(math.sqrt(weight[0].numel() / fan_in))


class LiftingConv2d(nn.Module):
    """Image ``(B, C_in, H, W)`` -> P4 map ``(B, fields * 4, H, W)``: one kernel, four rotated copies.

    Args:
        in_channels: image channels.
        fields: output fields; the layer outputs ``4 * fields`` channels.
        kernel_size: odd.
        bias: one bias per field, shared by its 4 orientations.

    Example:
        >>> conv = LiftingConv2d(1, 8, 3)
        >>> conv(torch.rand(2, 1, 16, 16)).shape
        torch.Size([2, 32, 16, 16])
    """

    def __init__(self, in_channels: int, fields: int, kernel_size: int = 3, bias: bool = True):
        super().__init__()
        _check_kernel(kernel_size)
        self.in_channels, self.fields, self.kernel_size = in_channels, fields, kernel_size
        self.weight = nn.Parameter(torch.empty(fields, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(fields)) if bias else None
        _init(self.weight, in_channels * kernel_size**2)

    @property
    def out_channels(self) -> int:
        """Channels of the output map: ``fields * 4`` (one per orientation)."""
        return self.fields * ORDER

    def filter_bank(self) -> torch.Tensor:
        """``(fields * 4, C_in, k, k)``: orientation ``j`` uses the kernel rotated ``j`` quarter turns."""
        bank = torch.stack([torch.rot90(self.weight, j, dims=(-2, -1)) for j in range(ORDER)], dim=1)
        return rearrange(bank, "o g i kh kw -> (o g) i kh kw")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Lift an image ``(B, C_in, H, W)`` to a P4 map ``(B, fields * 4, H, W)`` (same padding)."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"LiftingConv2d: expected (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        bias = self.bias.repeat_interleave(ORDER) if self.bias is not None else None
        return F.conv2d(x, self.filter_bank(), bias, padding=self.kernel_size // 2)

    def extra_repr(self) -> str:
        """The constructor's arguments, for ``repr(module)``."""
        return f"{self.in_channels}, fields={self.fields}, kernel_size={self.kernel_size}"


class GroupConv2d(nn.Module):
    """P4 map -> P4 map: ``(B, in_fields * 4, H, W) -> (B, out_fields * 4, H, W)``.

    Output orientation ``j`` correlates input orientation ``s`` with kernel ``W[:, :, s - j]``
    rotated by ``j`` quarter turns: the input axis shifts with the output rotation, which is
    exactly where the cyclic channel shift of EQ-Reg comes from.

    Example:
        >>> conv = GroupConv2d(8, 8, 3)
        >>> conv(torch.rand(2, 32, 16, 16)).shape
        torch.Size([2, 32, 16, 16])
    """

    def __init__(self, in_fields: int, out_fields: int, kernel_size: int = 3, bias: bool = True):
        super().__init__()
        _check_kernel(kernel_size)
        self.in_fields, self.out_fields, self.kernel_size = in_fields, out_fields, kernel_size
        self.weight = nn.Parameter(torch.empty(out_fields, in_fields, ORDER, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_fields)) if bias else None
        _init(self.weight, in_fields * ORDER * kernel_size**2)

    @property
    def out_channels(self) -> int:
        """Channels of the output map: ``out_fields * 4``."""
        return self.out_fields * ORDER

    def filter_bank(self) -> torch.Tensor:
        """``(out_fields * 4, in_fields * 4, k, k)``."""
        bank = [
            torch.rot90(torch.roll(self.weight, shifts=j, dims=2), j, dims=(-2, -1))  # (o, i, s, k, k)
            for j in range(ORDER)
        ]
        return rearrange(torch.stack(bank, dim=1), "o g i s kh kw -> (o g) (i s) kh kw")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Group-correlate a P4 map: ``(B, in_fields * 4, H, W) -> (B, out_fields * 4, H, W)``."""
        _check_fields(x, self.in_fields, "GroupConv2d")
        bias = self.bias.repeat_interleave(ORDER) if self.bias is not None else None
        return F.conv2d(x, self.filter_bank(), bias, padding=self.kernel_size // 2)

    def extra_repr(self) -> str:
        """The constructor's arguments, for ``repr(module)``."""
        return f"{self.in_fields}, {self.out_fields}, kernel_size={self.kernel_size}"


class GroupToImageConv2d(nn.Module):
    """P4 map ``(B, in_fields * 4, H, W)`` -> image ``(B, C_out, H, W)`` (trivial representation).

    One kernel ``V``; orientation ``s`` is read with ``V`` rotated ``s`` quarter turns and the four
    results are summed, so rotating the input rotates the output and nothing else.
    """

    def __init__(self, in_fields: int, out_channels: int, kernel_size: int = 3, bias: bool = True):
        super().__init__()
        _check_kernel(kernel_size)
        self.in_fields, self.out_channels, self.kernel_size = in_fields, out_channels, kernel_size
        self.weight = nn.Parameter(torch.empty(out_channels, in_fields, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        _init(self.weight, in_fields * ORDER * kernel_size**2)

    def filter_bank(self) -> torch.Tensor:
        """``(C_out, in_fields * 4, k, k)``."""
        bank = torch.stack([torch.rot90(self.weight, s, dims=(-2, -1)) for s in range(ORDER)], dim=2)
        return rearrange(bank, "o i s kh kw -> o (i s) kh kw")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Project a P4 map ``(B, in_fields * 4, H, W)`` to an image ``(B, C_out, H, W)``."""
        _check_fields(x, self.in_fields, "GroupToImageConv2d")
        return F.conv2d(x, self.filter_bank(), self.bias, padding=self.kernel_size // 2)

    def extra_repr(self) -> str:
        """The constructor's arguments, for ``repr(module)``."""
        return f"{self.in_fields}, {self.out_channels}, kernel_size={self.kernel_size}"


class GroupBatchNorm2d(nn.Module):
    """Batch norm with one mean/variance/affine per field, shared by its 4 orientations."""

    def __init__(self, fields: int, **kwargs):
        super().__init__()
        self.fields = fields
        self.norm = nn.BatchNorm3d(fields, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise a P4 map ``(B, fields * 4, H, W)``; the output has the input's shape."""
        _check_fields(x, self.fields, "GroupBatchNorm2d")
        y = self.norm(rearrange(x, "b (c g) h w -> b c g h w", g=ORDER))
        return rearrange(y, "b c g h w -> b (c g) h w")


class GroupPool(nn.Module):
    """P4 map ``(B, fields * 4, H, W)`` -> invariant map ``(B, fields, H, W)`` by max or mean over orientations."""

    def __init__(self, reduction: str = "max"):
        super().__init__()
        if reduction not in ("max", "mean"):
            raise ValueError(f"reduction must be 'max' or 'mean', got {reduction!r}")
        self.reduction = reduction

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pool over orientations: ``(B, fields * 4, H, W) -> (B, fields, H, W)``."""
        if x.dim() != 4 or x.shape[1] % ORDER:
            raise ValueError(f"GroupPool: expected (B, fields * 4, H, W), got {tuple(x.shape)}")
        y = rearrange(x, "b (c g) h w -> b c g h w", g=ORDER)
        return y.amax(dim=2) if self.reduction == "max" else y.mean(dim=2)
