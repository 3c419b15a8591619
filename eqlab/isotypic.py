"""Isotypic components of a layer's representation: which part of a field can carry orientation.

A regular field of C4 is four channels that a quarter turn cycles. Part of it cannot be seen by
that cycle at all: the mean of the four channels, which the shift leaves in place. A field whose
four channels are equal (and isotropic maps) satisfies ``f(g x) = P_g rot_g f(x)`` for free and
carries no orientation; a group CNN's fields carry it in the rest. The two parts are told apart by
the *isotypic decomposition* of the channel representation: the orthogonal projectors

.. math:: \\Pi_\\chi = \\frac{d_\\chi}{|G|} \\sum_{g \\in G} \\chi(g)\\, P_g

one per irreducible character :math:`\\chi` (real: a complex pair is one component). They sum to
the identity, are orthogonal to each other, and commute with every :math:`P_g` and with the
spatial rotation, so each component of :math:`A = P_g \\mathrm{rot}_g f(x)` is the rotated
component of :math:`f(x)`: a layer is equivariant exactly when every component is, and each
component has its own energy and its own error (``eqlab.metrics.equivariance_components``).

For C4's regular representation this is the DFT along the field: ``invariant`` (frequency 0, the
field mean), ``sign`` (frequency 2: +, −, +, −) and ``frequency 1`` (the pair cos, sin: the part
that turns with the image like a vector). Any ``C_n``: ``invariant``, ``frequency 1 .. ⌈n/2⌉−1`` and,
for even ``n``, ``sign``; D4: ``A1`` (invariant), ``A2``, ``B1``, ``B2`` and the 2-d ``E`` (``D_n``: ``E1``, ``E2``,
... when there are several). The group owns the table (``Group.characters``). The
PixelShuffle and custom permutation representations decompose by the same formula. Every component
but the invariant one is *oriented*: it changes under some element of the group.

What is here: ``Component``, ``components(rep, group, channels)`` (the projectors on one block of
channels, cached), ``project`` and ``block_energies`` (apply them to maps ``(B, C, ...)``).
What is not here: measuring a net (``eqlab.metrics``) or penalising one (``eqlab.regularizer``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
from einops import rearrange

from eqlab.groups import Group, Representation

__all__ = ["Component", "components", "block_size", "characters", "project", "block_energies"]


@dataclass(frozen=True, eq=False)
class Component:
    """One isotypic component of a representation, on one block of ``n`` consecutive channels.

    Attributes:
        name: the irreducible character's name, e.g. ``"invariant"``, ``"sign"``, ``"frequency 1"``, ``"E"``.
        projector: ``(n, n)`` orthogonal projector (symmetric, idempotent) acting on one block.
        invariant: ``True`` for the trivial character's component (the part no ``P_g`` can move).
    """

    name: str
    projector: torch.Tensor
    invariant: bool

    @property
    def dim(self) -> int:
        """Dimension of the component in one block (the projector's rank)."""
        return round(float(self.projector.trace()))


def characters(group: Group) -> list[tuple[str, list[float]]]:
    """The real irreducible characters of ``group``, times their dimension: ``[(name, [d·χ(g) for g])]``.

    The group owns its table (``Group.characters``): for ``C_n`` a complex-conjugate pair of
    frequencies ``k`` and ``n − k`` is one real component, ``χ_k + χ_{n−k} = 2 cos(2π k g / n)``;
    for ``D_n`` the 1-d characters and the 2-d ``E_j``. The trivial character comes first.

    Raises:
        ValueError: a group without a character table.
    """
    return group.characters()


def block_size(rep: Representation, group: Group, channels: int) -> int:
    """The smallest block of consecutive channels that every ``P_g`` maps onto itself, the same way in every block.

    ``|G|`` for a regular field, ``r²`` for ``pixel_shuffle(r)`` on an image, 1 for the trivial one.
    """
    tables = [rep.table(group, g, channels) for g in group.elements()]
    for size in range(1, channels + 1):
        if channels % size:
            continue
        first = [[t[c] for c in range(size)] for t in tables]
        if all(t[c] - (c // size) * size == first[i][c % size] for i, t in enumerate(tables) for c in range(channels)):
            return size
    return channels  # unreachable: the whole layer is one block


@lru_cache(maxsize=256)
def _components(rep: Representation, group: Group, channels: int) -> tuple[Component, ...]:
    size = block_size(rep, group, channels)
    result = []
    for name, weights in characters(group):
        projector = torch.zeros(size, size, dtype=torch.float64)
        for g, weight in zip(group.elements(), weights):
            table = rep.table(group, g, channels)
            matrix = torch.zeros(size, size, dtype=torch.float64)
            matrix[torch.arange(size), torch.tensor(table[:size])] = 1.0  # (P_g y)[c] = y[table[c]]
            projector += weight * matrix
        projector /= group.order
        if projector.abs().max() > 1e-9:  # the representation may lack this character
            result.append(Component(name, projector.float(), invariant=not result and name == "invariant"))
    return tuple(result)


def components(rep: Representation, group: Group, channels: int) -> list[Component]:
    """The isotypic components of ``rep`` on a layer of ``channels`` channels, invariant first.

    Args:
        rep: the layer's representation (``Regular``, ``Trivial``, ``PixelShuffle``, ``Permutation``).
        group: any group with a character table (``CyclicGroup(n)``, ``DihedralGroup(n)``).
        channels: the layer's channel count.

    Returns:
        the components with a non-zero projector; their projectors sum to the identity of one block.

    Example:
        >>> from eqlab.groups import C4, Regular
        >>> [(c.name, c.dim) for c in components(Regular(), C4(), 8)]
        [('invariant', 1), ('frequency 1', 2), ('sign', 1)]
    """
    rep.check(group, channels)
    return list(_components(rep, group, channels))


def project(y: torch.Tensor, component: Component) -> torch.Tensor:
    """The component of a map: ``Π y`` applied to every block of channels.

    Args:
        y: ``(B, C, ...)`` map whose channels are consecutive blocks of ``n = component.projector.shape[0]``.

    Returns:
        ``(B, C, ...)``, the same shape.
    """
    n = component.projector.shape[0]
    if y.shape[1] % n:
        raise ValueError(f"a component on blocks of {n} channels cannot project {y.shape[1]} channels")
    blocks = rearrange(y, "b (c n) ... -> b c n ...", n=n)
    projected = torch.einsum("mn,bcn...->bcm...", component.projector.to(y.device, y.dtype), blocks)
    return rearrange(projected, "b c n ... -> b (c n) ...")


def block_energies(y: torch.Tensor, parts: list[Component]) -> torch.Tensor:
    """``‖Π y‖²`` for every component, over the whole tensor: a ``(len(parts),)`` tensor.

    Uses ``‖Π y‖² = ⟨y, Π y⟩`` (``Π`` is an orthogonal projector), one small matrix product per block.

    Args:
        y: ``(B, C, ...)`` map (any float dtype; summed in float32 or wider).
    """
    n = parts[0].projector.shape[0]
    blocks = rearrange(y, "b (c n) ... -> (b c) n (...)", n=n)  # (B·C/n, n, S)
    blocks = blocks.to(torch.promote_types(y.dtype, torch.float32))
    gram = torch.einsum("kns,kms->nm", blocks, blocks)  # (n, n): sum over blocks and positions of y yᵀ
    return torch.stack([(gram * part.projector.to(gram.device, gram.dtype)).sum() for part in parts])
