"""A tiny windowed self-attention restorer, to show EQ-Reg on ``nn.Linear`` layers.

What is here: ``WindowAttentionNet`` (conv embedding, ``depth`` Swin-like blocks, conv out,
global residual) and its block ``WindowBlock``.

Design for the regularizer: every ``nn.Linear`` (``qkv``, ``proj``, ``fc1``, ``fc2``) acts on a
channels-last feature map ``(B, H, W, C)`` *before* the map is cut into windows, so a forward
hook on it sees a spatial map ``(B, H, W, C')`` and ``group.act(y, k, rep, channel_dim=-1)``
applies. Only the attention itself works on windows.

Why attention needs nothing else to be equivariant: windows do not shift (no Swin shift) and
``H``, ``W`` are multiples of ``window``, so a quarter turn maps windows onto windows and
permutes the tokens inside each; attention without a position bias is permutation-equivariant
over tokens, and the scores ``q . k`` are unchanged when ``q`` and ``k`` permute their channels
the same way inside each head. So if the linear layers are equivariant (what EQ-Reg asks), the
whole block is, up to the per-channel affine of ``nn.LayerNorm``. Positional information comes
from the 3x3 conv embedding.

Default ``WindowAttentionNet()`` (dim 32, depth 2, window 8, heads 4): 17,697 parameters.

What is not here: a strict twin (there is no P4 attention in eqlab).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from ..groups import Group, Regular, Representation, Trivial
from .base import RestorationNet, check_image, check_int, validate_reps
from .registry import register

__all__ = ["WindowAttentionNet", "WindowBlock"]


class WindowBlock(nn.Module):
    """Pre-norm transformer block on ``(B, H, W, dim)``: window attention, then an MLP.

    Args:
        dim: channels; divisible by ``heads``.
        heads: attention heads.
        window: side of the square attention windows; ``H`` and ``W`` must be multiples of it.
        mlp_ratio: hidden width of the MLP is ``mlp_ratio * dim``.
    """

    def __init__(self, dim: int, heads: int, window: int, mlp_ratio: int = 2):
        super().__init__()
        self.heads, self.window = heads, window
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, mlp_ratio * dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(mlp_ratio * dim, dim)

    def attend(self, x: torch.Tensor) -> torch.Tensor:
        """Multi-head self-attention inside non-overlapping windows: ``(B, H, W, C) -> (B, H, W, C)``."""
        b, h, w, _ = x.shape
        qkv = self.qkv(x)  # (B, H, W, 3C): a spatial map, hooked as such
        q, k, v = rearrange(
            qkv,
            "b (nh wh) (nw ww) (three heads d) -> three (b nh nw) heads (wh ww) d",
            wh=self.window, ww=self.window, three=3, heads=self.heads,
        )  # each (B * windows, heads, window^2, d)
        y = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(d)) v
        y = rearrange(
            y,
            "(b nh nw) heads (wh ww) d -> b (nh wh) (nw ww) (heads d)",
            b=b, nh=h // self.window, nw=w // self.window, wh=self.window, ww=self.window,
        )  # (B, H, W, C)
        return self.proj(y)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attention then MLP, each residual: ``(B, H, W, dim) -> (B, H, W, dim)``."""
        x = x + self.attend(self.norm1(x))
        x = x + self.fc2(self.act(self.fc1(self.norm2(x))))
        return x


@register("winattn")
class WindowAttentionNet(RestorationNet):
    """Residual restorer: conv embedding, ``depth`` window-attention blocks, conv to the image.

    Args:
        channels: image channels.
        dim: embedding channels; divisible by ``heads`` (and ``dim / heads`` by the group order
            for the regular representation to make sense per head).
        depth: number of ``WindowBlock``s, ``>= 1``.
        window: window side; ``H`` and ``W`` must be divisible by it.
        heads: attention heads.
        mlp_ratio: MLP expansion.

    Shape:
        ``(B, channels, H, W) -> (B, channels, H, W)``.

    Example:
        >>> model = WindowAttentionNet(dim=16, depth=1, window=4, heads=2)
        >>> model(torch.rand(2, 1, 8, 12)).shape
        torch.Size([2, 1, 8, 12])
    """

    def __init__(
        self, channels: int = 1, dim: int = 32, depth: int = 2, window: int = 8, heads: int = 4, mlp_ratio: int = 2
    ):
        super().__init__()
        check_int(channels, "channels")
        check_int(dim, "dim")
        check_int(depth, "depth")
        check_int(window, "window")
        check_int(heads, "heads")
        check_int(mlp_ratio, "mlp_ratio")
        if dim % heads:
            raise ValueError(f"dim must be divisible by heads, got dim={dim}, heads={heads}")
        self.config = dict(channels=channels, dim=dim, depth=depth, window=window, heads=heads, mlp_ratio=mlp_ratio)
        self.channels, self.dim, self.heads, self.window = channels, dim, heads, window

        self.embed = nn.Conv2d(channels, dim, 3, padding=1)
        self.blocks = nn.ModuleList(WindowBlock(dim, heads, window, mlp_ratio) for _ in range(depth))
        self.tail = nn.Conv2d(dim, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(B, channels, H, W)`` degraded image -> ``(B, channels, H, W)``."""
        check_image(x, self.channels, type(self).__name__, multiple=self.window)
        h = rearrange(self.embed(x), "b c h w -> b h w c")  # (B, H, W, dim)
        for block in self.blocks:
            h = block(h)  # (B, H, W, dim)
        h = rearrange(h, "b h w c -> b c h w")
        return x + self.tail(h)

    def equivariance_reps(self, group: Group) -> dict[str, Representation]:
        """``embed`` and every ``blocks.i.{qkv, proj, fc1, fc2}``: ``Regular()``; ``tail``: ``Trivial()``.

        The linear layers' outputs are channels-last ``(B, H, W, C)``.

        Raises:
            ValueError: if ``dim / heads`` is not divisible by ``group.order`` (a field of the
                regular representation would straddle two heads).
        """
        head_dim = self.dim // self.heads
        if head_dim % group.order:
            raise ValueError(
                f"regular representation of {group.name} needs dim / heads divisible by {group.order}, "
                f"got dim={self.dim}, heads={self.heads}"
            )
        reps: dict[str, Representation] = {"embed": Regular()}
        for i in range(len(self.blocks)):
            for layer in ("qkv", "proj", "fc1", "fc2"):
                reps[f"blocks.{i}.{layer}"] = Regular()
        reps["tail"] = Trivial()
        return validate_reps(self, reps, group)
