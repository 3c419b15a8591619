"""Finite symmetry groups of the image plane and their representations on feature maps.

What is here:
    - Two families, each from one definition: ``CyclicGroup(n)`` (rotations by multiples of
      ``360 / n`` degrees) and ``DihedralGroup(n)`` (those rotations and ``n`` mirror images).
      ``get_group("C6")`` and ``get_group("D6")`` build any member; ``C2``, ``C4``, ``C8`` and ``D4``
      are the named members the kit's nets and zoo were built for.
    - Each group owns its elements, its action on images and its real characters. Whether an
      element acts exactly is a property of the element (``group.is_exact(element)``): a rotation by
      a multiple of 90 degrees maps the pixel grid onto itself (``torch.rot90`` / ``torch.flip``);
      any other one interpolates and is meaningful only inside ``group.mask`` (a disk).
    - Representations (how a group element permutes the channels of a layer):
      ``Regular`` (the paper's layout), ``Trivial`` (image-valued layers), ``PixelShuffle``
      (the conv before ``nn.PixelShuffle``) and ``Permutation`` (any custom table).
    - ``Group.pair``: a batch stacked with its transformed copy, the batch of every rotation arm.
    - ``rotate_by_angle``: any angle (exact at multiples of 90 degrees, else bilinear);
      ``disk_mask``: where an interpolated rotation is meaningful.
    - ``GROUP_NAMES``: the groups the CLI, the config and the app offer by name.

What is not here: anything learnable (see ``eqlab.layers``), any loss (see ``eqlab.regularizer``),
the isotypic projectors built from the characters (``eqlab.isotypic``).

Convention:
    - An element is an ``int`` in ``range(group.order)``; ``0`` is the identity.
    - Rotations are counter-clockwise *as displayed* (row 0 at the top), about the image centre:
      ``C4().rotate(x, k) == torch.rot90(x, k, dims=(-2, -1))``.
    - Dihedral element ``e = k + n * m`` acts as "mirror left-right if ``m``, then rotate by ``k``
      steps of ``360 / n`` degrees": ``g(x) = rot(flip(x, -1) if m else x, k)``.
    - Group products act on images like function composition:
      ``rotate(x, compose(a, b)) == rotate(rotate(x, b), a)`` (bit-exact for exact elements).
    - A rotation by ``a`` degrees is ``floor(a / 90)`` quarter turns (``torch.rot90``) and then, if
      a remainder is left, a bilinear turn by it with zero padding on the same ``H x W`` grid.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F

__all__ = [
    "Group", "CyclicGroup", "DihedralGroup", "C2", "C4", "D4", "C8", "get_group", "GROUP_NAMES",
    "Representation", "Regular", "Trivial", "PixelShuffle", "Permutation",
    "regular", "trivial", "pixel_shuffle", "permutation", "rotate_by_angle", "disk_mask", "field_size",
]

GROUP_NAMES = ("C2", "C4", "C6", "C8", "D4", "D6")  # offered by name (CLI, config, app); get_group builds any Cn / Dn


def _check_element(group: Group, element: int) -> int:
    if isinstance(element, torch.Tensor):
        element = int(element)
    if not isinstance(element, int) or not 0 <= element < group.order:
        raise ValueError(f"{group.name}: element must be an int in range({group.order}), got {element!r}")
    return element


def _check_map(x: torch.Tensor, what: str = "x") -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() < 2:
        raise ValueError(f"{what} must have at least 2 dims (..., H, W), got shape {tuple(x.shape)}")


def _check_n(family: str, n) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"{family} needs an int number of rotations n >= 2, got {n!r}")
    return n


def _turn(x: torch.Tensor, step: int, n: int) -> torch.Tensor:
    """Rotate ``x: (..., H, W)`` by ``step`` steps of ``360 / n`` degrees: quarter turns, then the rest bilinearly."""
    quarters, rest = divmod(4 * step, n)  # the angle is 90 * (quarters + rest / n) degrees
    x = torch.rot90(x, quarters % 4, dims=(-2, -1))
    return rotate_by_angle(x, 90.0 * rest / n) if rest else x


def _step_is_exact(step: int, n: int) -> bool:
    return (4 * step) % n == 0


class Group:
    """A finite group acting on images. Subclasses define the table, the angles and the spatial action.

    Attributes:
        name: short name, e.g. ``"C4"``.
        order: number of elements ``|G|``.
    """

    name: str = "G"
    order: int = 1

    # -- group structure -------------------------------------------------------------------------
    def elements(self) -> list[int]:
        """All elements, identity first."""
        return list(range(self.order))

    @property
    def identity(self) -> int:
        """The identity element: always ``0``."""
        return 0

    def compose(self, a: int, b: int) -> int:
        """The product ``a * b`` (apply ``b`` first, then ``a``)."""
        raise NotImplementedError

    def inverse(self, a: int) -> int:
        """The element ``a^{-1}`` with ``compose(a, inverse(a)) == identity``."""
        a = _check_element(self, a)
        for b in self.elements():
            if self.compose(a, b) == self.identity:
                return b
        raise RuntimeError(f"{self.name}: no inverse for {a}")  # unreachable for a valid table

    def sample(self, generator: torch.Generator | None = None, exclude_identity: bool = True) -> int:
        """A uniformly random element (never the identity unless ``exclude_identity=False``)."""
        low = 1 if exclude_identity else 0
        return int(torch.randint(low, self.order, (1,), generator=generator))

    def describe(self, element: int) -> str:
        """Human-readable name, e.g. ``"rot 90°"``."""
        return f"rot {self.angle_deg(element):g}°"

    def angle_deg(self, element: int) -> float:
        """Rotation angle of the element in degrees (counter-clockwise)."""
        raise NotImplementedError

    def is_reflection(self, element: int) -> bool:
        """Whether ``element`` mirrors the image (only D4 has such elements)."""
        return False

    def characters(self) -> list[tuple[str, list[float]]]:
        """The real irreducible characters times their dimension, ``[(name, [d·χ(g) for g])]``, trivial first."""
        raise ValueError(f"no character table for {self!r}")

    # -- exactness on the pixel grid ----------------------------------------------------------------
    def is_exact(self, element: int) -> bool:
        """Whether ``element`` maps the pixel grid onto itself (its rotation is a multiple of 90 degrees)."""
        return self.angle_deg(element) % 90 == 0

    @property
    def exact(self) -> bool:
        """``True`` when every element acts exactly (C2, C4, D4); ``False`` for C6, C8, D6, ..."""
        return all(self.is_exact(e) for e in self.elements())

    def needs_square(self, element: int) -> bool:
        """Whether acting with ``element`` needs a square map (an odd quarter turn, or any interpolated turn)."""
        return not self.is_exact(element) or round(self.angle_deg(element) / 90) % 2 == 1

    def summary(self) -> str:
        """The group in a few words, e.g. ``"90° turns + mirror images"`` or ``"45° turns (interpolated)"``."""
        turns = min((self.angle_deg(e) for e in self.elements() if self.angle_deg(e) > 0), default=360.0)
        mirrors = " + mirror images" if any(self.is_reflection(e) for e in self.elements()) else ""
        return f"{turns:g}° turns{mirrors}" + ("" if self.exact else " (interpolated)")

    def mask(self, height: int, width: int, device=None) -> torch.Tensor | None:
        """Where every element's action is meaningful: ``None`` (everywhere) for an exact group, else
        :func:`disk_mask`, ``(H, W)`` bool. One mask for all elements, so every comparison of a group
        looks at the same pixels."""
        return None if self.exact else disk_mask(height, width, device=device)

    # -- actions -----------------------------------------------------------------------------------
    def rotate(self, x: torch.Tensor, element: int) -> torch.Tensor:
        """Spatial action only.

        Args:
            x: ``(..., H, W)`` tensor, e.g. an image batch ``(B, C, H, W)``.
            element: group element.

        Returns:
            ``(..., H', W')`` with ``(H', W') = (W, H)`` for quarter turns.
        """
        raise NotImplementedError

    def act(self, y: torch.Tensor, element: int, rep: Representation, channel_dim: int = 1) -> torch.Tensor:
        """Spatial action plus the channel permutation of ``rep``: ``P_g rot_g(y)``.

        Args:
            y: feature map ``(B, C, H, W)`` (or channels at ``channel_dim``).
            element: group element.
            rep: the layer's representation.
            channel_dim: where the channels are (``-1`` for a channels-last ``(B, H, W, C)``).

        Returns:
            the transformed map, same layout as ``y``.
        """
        _check_map(y, "y")
        channels = y.shape[channel_dim]
        index = rep.permutation(self, element, channels, device=y.device)
        if channel_dim in (-1, y.dim() - 1):
            y = y.movedim(-1, 1)
            return self.rotate(y, element).index_select(1, index).movedim(1, -1)
        return self.rotate(y, element).index_select(channel_dim, index)

    # -- pairing ----------------------------------------------------------------------------------
    def pair(self, x: torch.Tensor, y: torch.Tensor | None = None, generator: torch.Generator | None = None,
             element: int | None = None, exclude_identity: bool = True):
        """Stack a batch with its transformed copy: the training batch of every rotation arm.

        Sampling is separate from acting: ``element`` is drawn first (uniformly among the
        non-identity elements, from ``generator``; among all of them with ``exclude_identity=False``,
        as the reference code draws) unless it is given, then applied to ``x`` and ``y`` alike.

        Args:
            x: ``(B, C, H, W)`` input batch (square when the element is a quarter turn).
            y: optional ``(B, C, H', W')`` targets (e.g. high-resolution for SR), transformed alike.
            generator: draws the element when ``element`` is ``None``.
            element: the element to use.

        Returns:
            ``(cat([x, g x]), cat([y, g y]) or None, element)``: batches of ``2B``, and the ``int`` element.

        Example:
            >>> xb, _, element = C4().pair(torch.rand(2, 1, 8, 8), element=1)
            >>> xb.shape, element
            (torch.Size([4, 1, 8, 8]), 1)
        """
        element = self.sample(generator, exclude_identity) if element is None else _check_element(self, element)
        for what, t in (("x", x), ("y", y)):
            if t is None:
                continue
            if not isinstance(t, torch.Tensor):
                raise TypeError(f"pair: {what} must be a torch.Tensor, got {type(t).__name__}")
            if t.dim() != 4:
                raise ValueError(f"pair: {what} must be (B, C, H, W), got shape {tuple(t.shape)}")
            if self.needs_square(element) and t.shape[-2] != t.shape[-1]:
                raise ValueError(f"pair: {self.describe(element)} of {self.name} needs square maps, "
                                 f"got {what} of shape {tuple(t.shape)}")
        xb = torch.cat([x, self.rotate(x, element)])  # (2B, C, H, W)
        yb = None if y is None else torch.cat([y, self.rotate(y, element)])  # (2B, C, H', W')
        return xb, yb, element

    def __repr__(self) -> str:
        return f"{self.name}()"

    def __eq__(self, other) -> bool:
        return isinstance(other, Group) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)


class CyclicGroup(Group):
    """``C_n``: the rotations by multiples of ``360 / n`` degrees; element ``k`` turns by ``360 k / n``.

    Elements whose angle is a multiple of 90 degrees act exactly (``torch.rot90``); the others
    interpolate (``is_exact`` says which). Its real characters are the field's DFT frequencies.

    Args:
        n: the number of rotations, ``>= 2``.

    Example:
        >>> g = CyclicGroup(6)
        >>> g.name, g.order, [g.is_exact(e) for e in g.elements()]
        ('C6', 6, [True, False, False, True, False, False])
    """

    def __init__(self, n: int):
        self.n = _check_n("CyclicGroup", n)
        self.order, self.name = self.n, f"C{self.n}"

    def compose(self, a: int, b: int) -> int:
        return (_check_element(self, a) + _check_element(self, b)) % self.order

    def inverse(self, a: int) -> int:
        return (-_check_element(self, a)) % self.order

    def angle_deg(self, element: int) -> float:
        return 360.0 * _check_element(self, element) / self.order

    def is_exact(self, element: int) -> bool:
        return _step_is_exact(_check_element(self, element), self.n)

    def rotate(self, x: torch.Tensor, element: int) -> torch.Tensor:
        _check_map(x)
        return _turn(x, _check_element(self, element), self.n)

    def characters(self) -> list[tuple[str, list[float]]]:
        # a complex-conjugate pair of frequencies k and n - k is one real component: 2 cos(2π k g / n)
        n, table = self.n, [("invariant", [1.0] * self.n)]
        for k in range(1, n // 2 + 1):
            if 2 * k == n:
                table.append(("sign", [float((-1) ** g) for g in range(n)]))
            else:
                table.append((f"frequency {k}", [2 * math.cos(2 * math.pi * k * g / n) for g in range(n)]))
        return table

    def __repr__(self) -> str:
        return f"CyclicGroup({self.n})" if type(self) is CyclicGroup else f"{self.name}()"


class DihedralGroup(Group):
    """``D_n``: the ``n`` rotations of ``C_n`` and ``n`` mirror images.

    Element ``e = k + n m`` mirrors left-right if ``m``, then turns by ``k`` steps of ``360 / n`` degrees.

    The mirror is exact (``torch.flip``); the turn is exact when its angle is a multiple of 90 degrees.

    Args:
        n: the number of rotations, ``>= 2``; the order is ``2 n``.

    Example:
        >>> g = DihedralGroup(6)
        >>> g.name, g.order, g.describe(7)
        ('D6', 12, 'flip, rot 60°')
    """

    def __init__(self, n: int):
        self.n = _check_n("DihedralGroup", n)
        self.order, self.name = 2 * self.n, f"D{self.n}"

    def _split(self, e: int) -> tuple[int, int]:
        return e % self.n, e // self.n

    def compose(self, a: int, b: int) -> int:
        # r^k1 s^m1 r^k2 s^m2 = r^(k1 + (-1)^m1 k2) s^(m1 + m2), since s r^k = r^-k s.
        k1, m1 = self._split(_check_element(self, a))
        k2, m2 = self._split(_check_element(self, b))
        return (k1 + (-k2 if m1 else k2)) % self.n + self.n * ((m1 + m2) % 2)

    def angle_deg(self, element: int) -> float:
        return 360.0 * self._split(_check_element(self, element))[0] / self.n

    def is_reflection(self, element: int) -> bool:
        return self._split(_check_element(self, element))[1] == 1

    def is_exact(self, element: int) -> bool:
        return _step_is_exact(self._split(_check_element(self, element))[0], self.n)

    def describe(self, element: int) -> str:
        return f"{'flip, ' if self.is_reflection(element) else ''}rot {self.angle_deg(element):g}°"

    def rotate(self, x: torch.Tensor, element: int) -> torch.Tensor:
        _check_map(x)
        k, m = self._split(_check_element(self, element))
        return _turn(torch.flip(x, dims=(-1,)) if m else x, k, self.n)

    def characters(self) -> list[tuple[str, list[float]]]:
        # 1-d characters send r to a and s to b (a = -1 only for even n); 2-d ones E_j have trace
        # 2 cos(2π j k / n) on the rotations and 0 on the mirrors.
        n = self.n

        def one_dim(a: int, b: int) -> list[float]:
            return [float(a ** (e % n) * b ** (e // n)) for e in range(2 * n)]

        table = [("invariant", one_dim(1, 1)), ("A2", one_dim(1, -1))]
        if n % 2 == 0:
            table += [("B1", one_dim(-1, 1)), ("B2", one_dim(-1, -1))]
        pairs = range(1, (n + 1) // 2)
        for j in pairs:
            name = "E" if len(pairs) == 1 else f"E{j}"
            table.append((name, [4 * math.cos(2 * math.pi * j * e / n) if e < n else 0.0 for e in range(2 * n)]))
        return table

    def __repr__(self) -> str:
        return f"DihedralGroup({self.n})" if type(self) is DihedralGroup else f"{self.name}()"


class C2(CyclicGroup):
    """Rotations by 0 and 180 degrees. Exact; works on non-square maps."""

    def __init__(self):
        super().__init__(2)


class C4(CyclicGroup):
    """Rotations by multiples of 90 degrees. Exact: ``rotate(x, k) == torch.rot90(x, k)``.

    Example:
        >>> g = C4()
        >>> x = torch.arange(4.0).reshape(1, 1, 2, 2)
        >>> g.rotate(x, 1)[0, 0]
        tensor([[1., 3.],
                [0., 2.]])
    """

    def __init__(self):
        super().__init__(4)


class C8(CyclicGroup):
    """Rotations by multiples of 45 degrees. Not exact: odd elements interpolate.

    Even elements use ``torch.rot90`` (exact). Odd elements resample bilinearly about the centre
    with zero padding; compare maps only inside :meth:`mask`, a disk one pixel inside the
    inscribed circle. Even there, bilinear resampling low-passes the map, so an error between a
    rotated map and a map of the rotated input never reaches zero: that is the interpolation
    floor that ``eqlab.metrics`` reports.
    """

    def __init__(self):
        super().__init__(8)


class D4(DihedralGroup):
    """The 8 symmetries of the square: 4 rotations, and 4 reflections ``e = k + 4`` (mirror, then rotate)."""

    def __init__(self):
        super().__init__(4)


@lru_cache(maxsize=64)
def _disk(height: int, width: int) -> torch.Tensor:
    rows = torch.arange(height, dtype=torch.float32) - (height - 1) / 2
    cols = torch.arange(width, dtype=torch.float32) - (width - 1) / 2
    radius = (min(height, width) - 1) / 2 - 1.0  # one pixel of margin for the bilinear footprint
    return (rows[:, None] ** 2 + cols[None, :] ** 2) <= radius**2


def disk_mask(height: int, width: int, device=None) -> torch.Tensor:
    """Where a rotation by any angle is meaningful: the disk one pixel inside the inscribed circle.

    Args:
        height, width: the map's size.

    Returns:
        ``(H, W)`` bool, ``True`` inside the disk.
    """
    return _disk(int(height), int(width)).to(device)


def rotate_by_angle(x: torch.Tensor, angle_deg: float) -> torch.Tensor:
    """Rotate by any angle: exactly for multiples of 90 degrees, else bilinear with zero padding.

    The one place in eqlab that turns an image by an arbitrary angle (metrics, app, report).

    Convention: counter-clockwise as displayed, about the centre. Multiples of 90 degrees are
    ``torch.rot90`` (exact, a permutation of the pixels; ``H`` and ``W`` swap for odd quarter
    turns); any other angle resamples bilinearly on the same ``H x W`` grid, and the corners
    that come from outside the image are zero (compare inside :func:`disk_mask`).

    Args:
        x: ``(..., H, W)`` map.
        angle_deg: angle in degrees.

    Returns:
        the rotated map, ``(..., H, W)`` (``(..., W, H)`` for odd quarter turns).
    """
    _check_map(x)
    angle_deg = float(angle_deg)
    if angle_deg % 90 == 0:
        return torch.rot90(x, int(angle_deg // 90) % 4, dims=(-2, -1))
    shape = x.shape
    flat = x.reshape(-1, 1, shape[-2], shape[-1])
    theta = math.radians(angle_deg)
    cos, sin = math.cos(theta), math.sin(theta)
    # affine_grid maps output coords to input coords in normalised (x right, y down) space; a
    # counter-clockwise display rotation samples the input at the clockwise-rotated location.
    aspect = shape[-2] / shape[-1]
    matrix = torch.tensor([[cos, -sin * aspect, 0.0], [sin / aspect, cos, 0.0]], dtype=flat.dtype, device=flat.device)
    grid = F.affine_grid(matrix.expand(flat.shape[0], 2, 3), list(flat.shape), align_corners=False)
    out = F.grid_sample(flat, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.reshape(shape)


_NAMED = {"C2": C2, "C4": C4, "C8": C8, "D4": D4}
_FAMILIES = {"C": CyclicGroup, "D": DihedralGroup}


def get_group(name: str | Group) -> Group:
    """A group by name: ``"C4"`` -> ``C4()``, ``"C6"`` -> ``CyclicGroup(6)``, ``"D6"`` -> ``DihedralGroup(6)``.

    A ``Group`` passes through; the names ``C2``, ``C4``, ``C8``, ``D4`` give their classes.

    Example:
        >>> get_group("c6"), get_group("D4")
        (CyclicGroup(6), D4())
    """
    if isinstance(name, Group):
        return name
    match = re.fullmatch(r"([CD])([0-9]+)", name.upper()) if isinstance(name, str) else None
    if match is None or int(match[2]) < 2:
        raise ValueError(f"unknown group {name!r}; expected Cn or Dn with n >= 2, e.g. one of {list(GROUP_NAMES)}")
    key = match[1] + str(int(match[2]))
    return _NAMED[key]() if key in _NAMED else _FAMILIES[match[1]](int(match[2]))


# ---------------------------------------------------------------------------------------------------
# Representations: how an element permutes the channels of a layer.
# ``permutation(group, element, channels)`` returns ``index`` with ``(P_g y)[:, c] = y[:, index[c]]``.
# ---------------------------------------------------------------------------------------------------


class Representation:
    """How a group element permutes a layer's channels (the ``P_g`` in ``f(g x) = P_g g f(x)``)."""

    name = "rep"

    def check(self, group: Group, channels: int) -> None:
        """Raise ``ValueError`` when ``channels`` cannot carry this representation."""

    def fits(self, group: Group, channels: int) -> bool:
        """Whether ``channels`` can carry this representation (``check`` without the error)."""
        try:
            self.check(group, channels)
        except ValueError:
            return False
        return True

    def table(self, group: Group, element: int, channels: int) -> list[int]:
        """The channel index of ``P_g`` as a list: ``(P_g y)[:, c] = y[:, table[c]]``, ``len == channels``."""
        raise NotImplementedError

    def field_size(self, group: Group, channels: int, trivial: int = 4) -> int:
        """Channels in one *field*: the block of consecutive channels this representation maps onto itself.

        A representation that permutes nothing (``Trivial``, and this default) has no fields: its
        channels are grouped ``trivial`` (4) at a time for display.
        """
        return max(1, min(channels, trivial))

    def permutation(self, group: Group, element: int, channels: int, device=None) -> torch.Tensor:
        """``P_g`` as a ``(channels,)`` long index: ``(P_g y)[:, c] = y[:, index[c]]`` (checked, cached).

        Example:
            >>> from eqlab.groups import C4, regular
            >>> regular().permutation(C4(), 1, 8).tolist()  # a quarter turn shifts each field of 4 by one
            [3, 0, 1, 2, 7, 4, 5, 6]
        """
        self.check(group, channels)
        return _index(self, group, _check_element(group, element), channels, str(device or "cpu"))

    def __repr__(self) -> str:
        return self.name


@lru_cache(maxsize=1024)
def _index(rep: Representation, group: Group, element: int, channels: int, device: str) -> torch.Tensor:
    return torch.tensor(rep.table(group, element, channels), dtype=torch.long, device=device)


@dataclass(frozen=True)
class Regular(Representation):
    """The paper's layout: ``C / |G|`` fields of ``|G|`` consecutive channels, one per element.

    .. math:: (P_g y)_{c, h} = y_{c, g^{-1} h}

    For C4 this is a cyclic shift by ``k`` inside each group of 4 channels:
    ``rearrange(y, "b (c g) h w -> b c g h w", g=4).roll(k, dims=2)``.
    """

    @property
    def name(self) -> str:
        return "regular"

    def check(self, group: Group, channels: int) -> None:
        if channels % group.order:
            raise ValueError(
                f"regular representation of {group.name} needs channels divisible by {group.order}, got {channels}"
            )

    def field_size(self, group: Group, channels: int, trivial: int = 4) -> int:
        return group.order

    def table(self, group: Group, element: int, channels: int) -> list[int]:
        inv = group.inverse(element)
        within = [group.compose(inv, h) for h in group.elements()]
        return [c + within[h] for c in range(0, channels, group.order) for h in range(group.order)]


@dataclass(frozen=True)
class Trivial(Representation):
    """No channel permutation: image-valued layers (the last conv of a restoration net)."""

    @property
    def name(self) -> str:
        return "trivial"

    def table(self, group: Group, element: int, channels: int) -> list[int]:
        return list(range(channels))


@dataclass(frozen=True)
class PixelShuffle(Representation):
    """The conv before ``nn.PixelShuffle(factor)``: blocks of ``factor**2`` sub-pixel channels.

    Rotating the upsampled image moves sub-pixels inside each ``factor x factor`` block (for a
    counter-clockwise quarter turn with factor 2, sub-pixel 0 moves to 2, 2 to 3, 3 to 1 and 1 to 0:
    the cycle (0 2 3 1). Under C4 that is the regular representation with the channels in another
    order (``Regular`` cycles 0 1 2 3); under D4 it is the permutation of a square's four corners,
    not D4's regular representation) and permutes the blocks by
    ``base`` (the representation of the upsampled feature map, ``Trivial`` for an image).
    The table is derived by pushing channel ids through ``pixel_shuffle``, the spatial action
    and ``pixel_unshuffle``, so it is right for every element, reflections included.
    """

    factor: int = 2
    base: Representation = Trivial()

    @property
    def name(self) -> str:
        return f"pixel_shuffle({self.factor}, {self.base.name})"

    def check(self, group: Group, channels: int) -> None:
        if not group.exact:
            raise ValueError(f"pixel_shuffle representation needs an exact group, got {group.name}")
        if channels % self.factor**2:
            raise ValueError(f"pixel_shuffle({self.factor}) needs channels divisible by {self.factor ** 2}, "
                             f"got {channels}")
        self.base.check(group, channels // self.factor**2)

    def field_size(self, group: Group, channels: int, trivial: int = 4) -> int:
        # sub-pixel blocks of r**2 channels, permuted by the base representation
        return self.factor**2 * self.base.field_size(group, channels // self.factor**2, trivial=1)

    def table(self, group: Group, element: int, channels: int) -> list[int]:
        r2 = self.factor**2
        ids = torch.arange(r2, dtype=torch.float32).reshape(1, r2, 1, 1)
        block = F.pixel_shuffle(ids, self.factor)  # (1, 1, r, r)
        sub = F.pixel_unshuffle(group.rotate(block, element), self.factor).flatten().long().tolist()
        outer = self.base.table(group, element, channels // r2)
        return [outer[c] * r2 + s for c in range(channels // r2) for s in sub]


@dataclass(frozen=True)
class Permutation(Representation):
    """A custom representation: ``tables[element]`` is the index for one block of channels.

    Args:
        tables: one permutation of ``range(block)`` per group element, identity first; the
            layer's channels are read as consecutive blocks of that size.
    """

    tables: tuple[tuple[int, ...], ...] = ()

    @property
    def name(self) -> str:
        return "permutation"

    def check(self, group: Group, channels: int) -> None:
        if len(self.tables) != group.order:
            raise ValueError(f"permutation needs {group.order} tables for {group.name}, got {len(self.tables)}")
        block = len(self.tables[0])
        if any(sorted(t) != list(range(block)) for t in self.tables):
            raise ValueError(f"permutation tables must each be a permutation of range({block}), got {self.tables}")
        if channels % block:
            raise ValueError(f"permutation blocks of {block} do not divide {channels} channels")

    def field_size(self, group: Group, channels: int, trivial: int = 4) -> int:
        return len(self.tables[0])

    def table(self, group: Group, element: int, channels: int) -> list[int]:
        block = len(self.tables[0])
        return [c + i for c in range(0, channels, block) for i in self.tables[element]]


def field_size(rep: Representation, group: Group, channels: int, trivial: int = 4) -> int:
    """``rep.field_size(group, channels, trivial)`` (``Representation.field_size``): ``|G|`` for
    ``Regular``, ``r**2`` for ``pixel_shuffle(r)`` (times the base's field), the table length for
    ``Permutation``, ``trivial`` (4) channels at a time for ``Trivial``."""
    return rep.field_size(group, channels, trivial)


def regular() -> Regular:
    """The regular representation (``Regular``): fields of ``|G|`` consecutive channels, shifted."""
    return Regular()


def trivial() -> Trivial:
    """The trivial representation (``Trivial``): no channel permutation, for image-valued layers."""
    return Trivial()


def pixel_shuffle(factor: int = 2, base: Representation | None = None) -> PixelShuffle:
    """The representation of a conv before ``nn.PixelShuffle(factor)`` (``PixelShuffle``).

    Args:
        factor: the upscaling factor ``r``; the conv's channels are blocks of ``r**2`` sub-pixels.
        base: the representation of the upsampled map (``Trivial()`` when it is an image).
    """
    if not isinstance(factor, int) or factor < 1:
        raise ValueError(f"pixel_shuffle factor must be a positive int, got {factor!r}")
    return PixelShuffle(factor, base if base is not None else Trivial())


def permutation(tables) -> Permutation:
    """A custom representation (``Permutation``) from one permutation of ``range(block)`` per element.

    Example:
        >>> from eqlab.groups import C2, permutation
        >>> permutation([[0, 1], [1, 0]]).permutation(C2(), 1, 4).tolist()  # swap inside blocks of 2
        [1, 0, 3, 2]
    """
    return Permutation(tuple(tuple(int(i) for i in t) for t in tables))
