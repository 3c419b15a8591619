"""Layouts: how to read a layer's output as a feature map on the image grid.

A convolution's output is already a map ``(B, C, H, W)``. A Transformer's ``nn.Linear`` sees the
same map in other arrangements: channels last ``(B, H, W, C)``, raster tokens ``(B, H*W, C)`` or
windows of tokens ``(B*nW, s*s, C)``. EQ-Reg and the equivariance metrics compare *maps*, so each
regularized layer has a layout beside its representation:

=================  ========================  ==============================================
layout             per-image output          the map it holds
=================  ========================  ==============================================
``Map()``          ``(C, H, W)``             itself
``ChannelsLast()`` ``(H, W, C)``             ``permute(2, 0, 1)``
``Tokens()``       ``(H*W, C)``, raster      rows of ``W`` tokens, row-major
``Windows(s)``     ``nW`` windows of         windows in raster order, tokens in raster
                   ``(s*s, C)`` (or 4-d)     order inside each (Swin's ``window_partition``)
``Windows(s, k)``  the same, after           as above, then rolled back by ``k``
                   ``torch.roll(-k)``        (Swin's shifted windows)
``Function(f)``    anything                  ``f(out) -> (B, C, H, W)``, your own reading
=================  ========================  ==============================================

Every layout but ``Function`` is a *permutation of entries*: :meth:`Layout.index_map` says, for each
entry ``(c, h, w)`` of the map, where it sits in the layer's raw output of one image. That lets
EQ-Reg act on the raw output with one precomputed gather (rotation, channel permutation and
layout in a single index) instead of copying it into a map first.

Convention: the batch is the leading dimension, and for windows every image's ``nW`` windows are
consecutive (``(b, nh, nw)`` order), as in Swin, SwinIR, HAT and DRCT. Token grids have the
aspect ratio of the net's input (square for quarter turns).

What is not here: which layer gets which layout (``eqlab.selection``), the penalty
(``eqlab.regularizer``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from einops import rearrange

__all__ = ["Layout", "Map", "ChannelsLast", "Tokens", "Windows", "Function", "ProbeShapes", "grid_for"]


def grid_for(count: int, aspect: float = 1.0) -> tuple[int, int]:
    """``(h, w)`` with ``h * w == count`` and ``h / w == aspect`` (the input's), else ``ValueError``."""
    h = round(math.sqrt(count * aspect))
    w = count // h if h else 0
    if h < 1 or h * w != count or abs(h / w - aspect) > 1e-6:
        raise ValueError(f"{count} tokens do not form a grid with the input's aspect ratio {aspect:g}")
    return h, w


@dataclass(frozen=True)
class ProbeShapes:
    """A layer's output shapes at two probe inputs, what :meth:`Layout.read` recognises a layout from.

    Attributes:
        square: the output's shape at a ``side x side`` input of ``images`` images.
        wide: its shape at a ``side x width`` input, or None (one probe input only).
        images: the batch of the probe inputs.
        side, width: the probe inputs' sides (``eqlab.probe``: 64 and 128).
        channels_first: the layer's features are dimension 1 of a 4-d output (a convolution), not the last.
    """

    square: tuple[int, ...]
    wide: tuple[int, ...] | None
    images: int
    side: int
    width: int
    channels_first: bool

    def grows(self, i: int) -> bool:
        """Dimension ``i`` scales with the input's width (True without a wide probe)."""
        return self.wide is None or self.wide[i] == round(self.square[i] * self.width / self.side)

    def fixed(self, *dims: int) -> bool:
        """Dimensions ``dims`` do not change with the input's width (True without a wide probe)."""
        return self.wide is None or all(self.wide[i] == self.square[i] for i in dims)

    def on_grid(self, length: int) -> bool:
        """A map side that is the probe's side times 2**k or an integer factor (not padded, not cropped)."""
        ratio = length / self.side
        if ratio >= 1:
            return ratio == int(ratio)
        return math.log2(self.side / length) == int(math.log2(self.side / length)) and self.side % length == 0

    def windows(self) -> bool:
        """The leading dimension counts windows: a multiple of the images, larger than them."""
        return self.square[0] > self.images and self.square[0] % self.images == 0


class Layout:
    """Base class. Subclasses say how one image's raw output is arranged."""

    permutes = True  # an arrangement of entries (index_map exists); False for Function

    @classmethod
    def read(cls, shapes: ProbeShapes) -> Layout | None:
        """The layout of this kind that a layer with these probe shapes has; None: not of this kind.

        Raises:
            ValueError: of this kind, but not on the input's grid (padded or cropped), with the reason.
        """
        return None

    def map_shape(self, raw: tuple[int, ...], aspect: float = 1.0) -> tuple[int, int, int]:
        """``(C, H, W)`` of the map held by one image's raw output of shape ``raw``."""
        raise NotImplementedError

    def index_map(self, raw: tuple[int, ...], aspect: float = 1.0) -> torch.Tensor:
        """``(C, H, W)`` long tensor: the flat index, in one image's raw output, of every map entry."""
        raise NotImplementedError

    def per_image(self, out: torch.Tensor, images: int) -> tuple[int, ...]:
        """One image's raw shape, from the layer's output holding ``images`` images."""
        if out.shape[0] % images:
            raise ValueError(f"{self}: leading dimension {out.shape[0]} is not a multiple of {images} images")
        k = out.shape[0] // images
        return tuple(out.shape[1:]) if k == 1 else (k, *out.shape[1:])

    def to_map(self, out: torch.Tensor, images: int, aspect: float = 1.0) -> torch.Tensor:
        """The maps ``(images, C, H, W)`` held by ``out`` (a gather: a new tensor, unless ``Map``)."""
        raw = self.per_image(out, images)
        index = self.index_map(raw, aspect).to(out.device)
        return out.reshape(images, -1)[:, index.flatten()].view(images, *index.shape)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


@dataclass(frozen=True, repr=False)
class Map(Layout):
    """``(B, C, H, W)``: convolutions."""

    @classmethod
    def read(cls, shapes):
        square, side = shapes.square, shapes.side
        if not shapes.channels_first or square[0] != shapes.images:
            return None
        h, w = square[2], square[3]
        if h != w or not shapes.on_grid(h) or not (shapes.fixed(2) and shapes.grows(3)):
            raise ValueError(f"a map of {h}x{w} at a {side}x{side} input is not on the input's grid "
                             "(padded or cropped)")
        return cls()

    def map_shape(self, raw, aspect=1.0):
        return tuple(raw)

    def index_map(self, raw, aspect=1.0):
        return torch.arange(math.prod(raw)).view(*raw)

    def to_map(self, out, images, aspect=1.0):
        return out


@dataclass(frozen=True, repr=False)
class ChannelsLast(Layout):
    """``(B, H, W, C)``: an ``nn.Linear`` applied to a map in channels-last order."""

    @classmethod
    def read(cls, shapes):
        square, side = shapes.square, shapes.side
        if shapes.channels_first or len(square) != 4 or square[0] != shapes.images or square[1] != square[2] \
                or not shapes.grows(2):
            return None
        if not shapes.on_grid(square[1]):
            raise ValueError(f"a {square[1]}x{square[2]} grid at a {side}x{side} input is not on the input's grid")
        return cls()

    def map_shape(self, raw, aspect=1.0):
        h, w, c = raw
        return c, h, w

    def index_map(self, raw, aspect=1.0):
        return rearrange(torch.arange(math.prod(raw)).view(*raw), "h w c -> c h w")


@dataclass(frozen=True, repr=False)
class Tokens(Layout):
    """``(B, H*W, C)``: raster tokens (``x.flatten(2).transpose(1, 2)`` of a map), e.g. ViT, SwinIR's MLP."""

    @classmethod
    def read(cls, shapes):
        square, side = shapes.square, shapes.side
        if shapes.channels_first or len(square) != 3 or square[0] != shapes.images or not shapes.grows(1):
            return None
        length = math.isqrt(square[1])
        if length * length != square[1] or not shapes.on_grid(length):
            raise ValueError(f"{square[1]} tokens at a {side}x{side} input are not a grid on the input's")
        return cls()

    def map_shape(self, raw, aspect=1.0):
        n, c = raw
        return (c, *grid_for(n, aspect))

    def index_map(self, raw, aspect=1.0):
        n, c = raw
        h, w = grid_for(n, aspect)
        return rearrange(torch.arange(n * c), "(h w c) -> c h w", h=h, w=w)


@dataclass(frozen=True, repr=False)
class Windows(Layout):
    """Windows of ``size x size`` tokens: ``(B*nW, size*size, C)``, ``(B*nW, size, size, C)`` or
    ``(B*nW, C, size, size)``; ``shift``: the map was rolled by ``-shift`` before it was cut
    (Swin's shifted windows), so the reading rolls it back.

    Args:
        size: the window side.
        shift: the cyclic shift of the shifted-window blocks (0: plain windows).
        channels_first: 4-d windows ``(B*nW, C, s, s)`` (a convolution applied per window).
    """

    size: int
    shift: int = 0
    channels_first: bool = False

    def __post_init__(self):
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 1:
            raise ValueError(f"Windows: size must be a positive int, got {self.size!r}")
        if isinstance(self.shift, bool) or not isinstance(self.shift, int) or not 0 <= self.shift < self.size:
            raise ValueError(f"Windows: shift must be an int in [0, size), got {self.shift!r}")

    def _raw(self, raw: tuple[int, ...]) -> tuple[int, ...]:
        """One image's raw shape with its window count first: ``(nW, s*s, C)``, ``(nW, s, s, C)`` or
        ``(nW, C, s, s)``; a shape without the count (one window per image) gets ``nW = 1``."""
        s = self.size
        if self.channels_first:
            shape = raw if len(raw) == 4 else (1, *raw)
            ok = len(shape) == 4 and shape[2] == shape[3] == s
        elif len(raw) >= 2 and raw[-2] == s * s and len(raw) in (2, 3):  # tokens
            shape = raw if len(raw) == 3 else (1, *raw)
            ok = True
        else:  # 4-d windows, channels last
            shape = raw if len(raw) == 4 else (1, *raw)
            ok = len(shape) == 4 and shape[1] == shape[2] == s
        if not ok:
            raise ValueError(f"{self}: an image's output of shape {raw} is not made of {s}x{s} windows")
        return shape

    def __repr__(self) -> str:
        extra = f", shift={self.shift}" if self.shift else ""
        extra += ", channels_first=True" if self.channels_first else ""
        return f"Windows({self.size}{extra})"

    @classmethod
    def read(cls, shapes):
        """Unshifted windows (a traced roll makes them shifted: ``eqlab.selection``)."""
        square, counted = shapes.square, shapes.windows() and shapes.grows(0)
        if shapes.channels_first:  # (B*nW, C, s, s)
            if counted and square[2] == square[3] and shapes.fixed(2, 3):
                return cls(square[2], channels_first=True)
            return None
        if len(square) == 4 and square[0] == shapes.images and shapes.wide is not None and shapes.grows(1):
            tokens = square[2]  # (B, nW, s*s, C)
        elif len(square) == 4 and shapes.windows() and square[1] == square[2]:  # (B*nW, s, s, C)
            return cls(square[1])
        elif len(square) == 3 and counted and shapes.fixed(1):  # (B*nW, s*s, C)
            tokens = square[1]
        else:
            return None
        size = math.isqrt(tokens)
        if size * size != tokens:
            raise ValueError(f"windows of {tokens} tokens are not square")
        return cls(size)

    def map_shape(self, raw, aspect=1.0):
        raw, s = self._raw(tuple(raw)), self.size
        nh, nw = grid_for(raw[0], aspect)
        c = raw[1] if self.channels_first else raw[-1]
        return c, nh * s, nw * s

    def index_map(self, raw, aspect=1.0):
        raw, s = self._raw(tuple(raw)), self.size
        nh, nw = grid_for(raw[0], aspect)
        ids = torch.arange(math.prod(raw))
        if self.channels_first:
            grid = rearrange(ids.view(nh, nw, raw[1], s, s), "nh nw c wh ww -> c (nh wh) (nw ww)")
        else:
            c = raw[-1]
            grid = rearrange(ids.view(nh, nw, s, s, c), "nh nw wh ww c -> c (nh wh) (nw ww)")
        if self.shift:  # the windows were cut from roll(map, -shift): the map is roll(windows' map, +shift)
            grid = torch.roll(grid, shifts=(self.shift, self.shift), dims=(1, 2))
        return grid


@dataclass(frozen=True)
class Function(Layout):
    """Your own reading: ``to_map(out) -> (B, C, H, W)`` (differentiable; no fast gather).

    Args:
        fn: the function from the layer's output to the maps.
        name: what the report calls it.
    """

    fn: Callable[[torch.Tensor], torch.Tensor]
    name: str = "function"

    permutes = False

    def map_shape(self, raw, aspect=1.0):
        raise ValueError(f"a Function layout ({self.name}) has no fixed map shape; it is computed from the output")

    def index_map(self, raw, aspect=1.0):
        raise ValueError(f"a Function layout ({self.name}) is not a permutation of entries")

    def per_image(self, out, images):
        return tuple(out.shape)

    def to_map(self, out, images, aspect=1.0):
        y = self.fn(out)
        if not isinstance(y, torch.Tensor) or y.dim() != 4 or y.shape[0] != images:
            shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
            raise ValueError(f"layout {self.name}: expected maps of shape ({images}, C, H, W), got {shape}")
        return y

    def __repr__(self) -> str:
        return f"Function({self.name})"
