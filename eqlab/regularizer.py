"""EQ-Reg: a soft rotation-equivariance penalty that plugs into an unmodified ``nn.Module``.

The network sees a batch and its rotated copy, ``X = cat([x, g x])`` (``Group.pair``). For every
regularized layer with output ``Y = cat([y_0, y_1])``, read as maps through the layer's layout,
the penalty compares the transformed features of ``x`` with the features of the transformed input,
after the representation's channel permutation ``P_g``:

.. math:: d_l = P_g\\, \\mathrm{rot}_g(y_0) - y_1

Four norms, each a class registered in :data:`NORMS` by its name (what ``EQReg(norm=...)``,
``TrainConfig``'s ``method.norm`` and the CLI's ``--norm`` accept):

- ``norm="paper"``: :math:`R = \\sum_l \\|d_l\\|_2`, exactly the reference code (``torch.norm``,
  unsquared, unnormalised). Its scale grows with batch, width and patch size, so its weight
  (1e-9 ... 1e-6 in the paper) means something different for every model.
- ``norm="relative"``: :math:`R = \\frac{1}{L} \\sum_l \\frac{\\|d_l\\|^2}{\\|y_0\\|^2 + \\|y_1\\|^2}`
  (eqlab 0.2's default). Each term lies in [0, 2] and does not change when a layer's features are
  rescaled; the denominator is *not* detached (a detached norm collapses at once: notebook 3).
  But the whole layer is one number, and a regular field whose channels are all equal and
  isotropic satisfies it for free: trained with it, the zoo's nets kept 1--16 % of their energy in
  the part that carries orientation (strict twins: 25--53 %) and that part stayed unrelated.
- ``norm="split"`` (:data:`DEFAULT_NORM`): the same ratio for the invariant part and for the oriented
  part of each field (``eqlab.isotypic``), averaged; ``norm="components"``: for every isotypic component. Each part is
  scale-free on its own, so making a field blind no longer lowers the penalty
  (``docs/orientation.md`` measures what each learns).

What is here: the norms (``Norm``, one class each, and the table ``NORMS``) and ``EQReg`` (hooks, the
term of each layer by its norm, loss, per-layer stats, gradient share, the report of what it regularized,
the stochastic layer subset, the reference preset). Which layers, with which layout and representation,
is ``eqlab.selection``; pairing is ``eqlab.groups.Group.pair``; training is ``eqlab.train``; measuring a
trained net is ``eqlab.metrics``.

How a term is computed: for the exact groups (C2, C4, D4) every layout but ``Function`` makes the
whole action -- layout, rotation and channel permutation -- one permutation of the entries of an
image's raw output, precomputed once per (layout, shape, element, representation) as a gather
index. The term is then one gather, one subtraction and two dot products in the forward pass,
and it saves only two fresh tensors (``A y_0`` and ``d``) for the backward pass: the layer's own
output may be overwritten by a following ``ReLU(inplace=True)``, and the denominator needs both
halves. C8's odd elements interpolate, so its term is written with autograd ops on the maps.

Hooks exist only inside ``with reg.active(element):`` and only act while the model is in training
mode: outside the context the model runs exactly as if EQ-Reg did not exist.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import ClassVar

import torch
import torch.distributed as dist
import torch.nn as nn

from eqlab.checks import check_choice, check_number
from eqlab.groups import Group, Representation, get_group
from eqlab.isotypic import Component, block_energies, components
from eqlab.layouts import Layout, Map
from eqlab.selection import Layer, Selection, select

__all__ = ["EQReg", "gradient_ratio", "DEFAULT_WEIGHT", "REFERENCE_WEIGHT", "NORMS", "DEFAULT_NORM", "Norm", "Paired",
           "get_norm", "Split", "Relative", "Components", "Paper", "Layer"]

DEFAULT_NORM = "split"  # the penalty norm of EQReg, TrainConfig and the CLI (docs/orientation.md says why)
DEFAULT_WEIGHT = 1e-4  # relative norm, MSE task loss; see README "choosing the weight"
# The reference code's lambda: 1e-8 for RCDNet (yulu919/EQ-REG Derain/RCDNet_code/for_syn/src/trainer_loss.py:57),
# DICDNet and OSCNet (MAR/DICDNet_REG/train.py:54, MAR/OSCNet_REG/train.py:54); 1e-6 for ACDNet
# (MAR/ACDNet_REG/trainex.py:55); 1e-9 for SwinIR and Restormer (yulu919/EQ-REG-T KAIR_EQ/models/model_plain.py:223,
# Restormer_EQ/basicsr/models/image_restoration_model.py:168).
REFERENCE_WEIGHT = 1e-8
_EPS = 1e-12
# A part of a layer (the oriented part, an isotypic component) holding less than this fraction of the layer's
# energy holds round-off only: it has nothing to compare, and its term is 0 (as for an exactly empty part). Its
# energy is a difference of near-equal sums, which round-off can make negative on one processor and not another:
# the ratio of two round-offs was once -1862 (an isotropic field on a 60-degree turn, AMD EPYC; see the tests).
_EMPTY = 1e-6


def _part_energy(energy: torch.Tensor, total: torch.Tensor) -> torch.Tensor:
    """The denominator of a part's ratio: its energy (plus ``_EPS``), or infinity where it holds round-off only
    (below ``_EMPTY`` of ``total``), which makes the part's ratio and its gradient 0."""
    return torch.where(energy > total * _EMPTY, energy + _EPS, torch.inf)


@lru_cache(maxsize=256)
def _gather(layout: Layout, raw: tuple, aspect: float, group: Group, element: int, rep: Representation,
            device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(G, G^{-1})``: one image's raw output ``y`` maps to ``(P_g rot_g y)`` in the same raw layout by ``y[G]``.

    With ``M`` the raw index of every map entry (``layout.index_map``), the acted map is
    ``act(M)`` (the same permutation applied to indices); entry ``M[c, h, w]`` of the result comes
    from entry ``act(M)[c, h, w]`` of the input.
    """
    index = layout.index_map(raw, aspect)  # (C, H, W)
    acted = group.act(index[None], element, rep)[0]  # (C, H', W')
    if acted.shape != index.shape:
        raise ValueError(f"{group.describe(element)} of {group.name} needs square maps, got {tuple(index.shape)}")
    forward = torch.empty(index.numel(), dtype=torch.long)
    forward[index.flatten()] = acted.flatten()
    inverse = torch.empty_like(forward)
    inverse[forward] = torch.arange(forward.numel())
    small = torch.int32 if forward.numel() < 2**31 else torch.long  # half the index traffic (measured: -20 %)
    return forward.to(device, small), inverse.to(device, small)


def _acted_halves(raw: torch.Tensor, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.dtype]:
    """``(A y_0, y_1, dtype of the sums)`` of a paired raw output ``(2B, K)``; ``A y_0`` is a fresh tensor.

    Under bf16 / fp16 autocast both halves come back in float32, so the sums are taken there (no copy
    for float32).
    """
    half = raw.shape[0] // 2
    y0, y1 = raw[:half], raw[half:]  # (B, K) views
    a = y0.index_select(1, index)  # (B, K): A y_0, fresh
    compute = torch.promote_types(raw.dtype, torch.float32)
    if a.dtype != compute:
        a, y1 = a.to(compute), y1.to(compute)
    return a, y1, compute


class _GatherTerm(torch.autograd.Function):
    """The penalty of one layer for the exact groups, fused.

    With ``A`` the action as a gather (a permutation of entries, so ``A^{-1} = A^T``),
    ``d = A y_0 - y_1``, ``N = ||d||^2`` and ``S = ||y_0||^2 + ||y_1||^2``:

    .. math:: \\partial_{y_0} \\tfrac{N}{S} = \\tfrac{2}{S} A^T (d - L\\, A y_0), \\quad
              \\partial_{y_1} \\tfrac{N}{S} = \\tfrac{2}{S} ((L - 1)\\, d - L\\, A y_0), \\quad L = N / S

    and for the paper norm ``||d||``: ``A^T d / ||d||`` and ``-d / ||d||``; which one is the norm's
    (``relative``: the ``scale_free`` of :class:`Relative` or :class:`Paper`, the classes that apply it).
    ``A y_0`` and ``d`` are the only tensors saved: the backward needs both halves (the denominator is not
    detached), and the layer output itself must not be saved (an in-place activation may overwrite it).
    ``tests/test_regularizer.py`` checks values and gradients against the term written plainly.
    """

    @staticmethod
    def forward(ctx, raw, index, inverse, relative):
        a, y1, compute = _acted_halves(raw, index)
        d = a - y1
        num = torch.dot(d.view(-1), d.view(-1))
        if relative:
            energy = torch.linalg.vector_norm(raw, dtype=compute).square() + _EPS
            value = num / energy
        else:
            energy = torch.ones((), device=raw.device)
            value = num.sqrt()
        ctx.save_for_backward(a, d, value, energy)
        ctx.inverse, ctx.relative, ctx.dtype = inverse, relative, raw.dtype  # the index: a cached constant
        return value

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        a, d, value, energy = ctx.saved_tensors
        inverse = ctx.inverse
        half = a.shape[0]
        grad_raw = torch.empty((2 * half, a.shape[1]), dtype=a.dtype, device=a.device)  # (2B, K)
        if ctx.relative:
            scale = 2 * grad / energy
            torch.index_select(torch.addcmul(d, a, -value).mul_(scale), 1, inverse, out=grad_raw[:half])
            torch.mul(d, scale * (value - 1), out=grad_raw[half:])
            grad_raw[half:].addcmul_(a, -scale * value)  # (2/S) ((L - 1) d - L a)
        else:
            scale = grad / value.clamp_min(_EPS)
            torch.index_select(d * scale, 1, inverse, out=grad_raw[:half])
            torch.mul(d, -scale, out=grad_raw[half:])
        return grad_raw.to(ctx.dtype), None, None, None


def _compared_maps(y0: torch.Tensor, y1: torch.Tensor, group: Group, element: int,
                   rep: Representation) -> tuple[torch.Tensor, torch.Tensor]:
    """``(P_g rot_g y_0, y_1)`` as fresh float32 maps, zero outside the group's mask (C8)."""
    a = group.act(y0, element, rep).float()  # fresh
    b = y1.float() if y1.dtype != torch.float32 else y1.clone()  # fresh: a later in-place op may change y1
    mask = group.mask(a.shape[-2], a.shape[-1], device=a.device)
    return (a * mask, b * mask) if mask is not None else (a, b)


def _plain_term(y0: torch.Tensor, y1: torch.Tensor, group: Group, element: int, rep: Representation,
                relative: bool) -> torch.Tensor:
    """The penalty written with autograd ops on maps ``(B, C, H, W)``: C8, ``Function`` layouts, and the tests."""
    a, b = _compared_maps(y0, y1, group, element, rep)
    d = a - b
    if not relative:
        return torch.linalg.vector_norm(d)
    return d.pow(2).sum() / (a.pow(2).sum() + b.pow(2).sum() + _EPS)


class _SplitTerm(torch.autograd.Function):
    """The split norm of one layer, fused, for layers whose fields average to their invariant part.

    With ``A`` the action as a gather (as in :class:`_GatherTerm`), ``d = A y_0 - y_1``, ``Q`` the
    invariant projector (each field of ``n`` channels replaced by its mean, which ``A`` commutes
    with) and ``I - Q`` the oriented one, every part ``k`` has ``N_k = ||Π_k d||^2``,
    ``S_k = ||Π_k y_0||^2 + ||Π_k y_1||^2``, ``L_k = N_k / S_k``, and ``R = (L_inv + L_or) / 2``:

    .. math:: \\partial_{A y_0} R = \\sum_k \\tfrac{1}{S_k} \\Pi_k (d - L_k A y_0), \\quad
              \\partial_{y_1} R = \\sum_k \\tfrac{1}{S_k} \\Pi_k ((L_k - 1) d - L_k A y_0)

    Both are ``d W_d + A y_0 W_a`` with ``W = alpha I + gamma Q``, a small block-diagonal matrix acting on
    every block of channels (:class:`_Fields`): two matrix products per half, in which the field means,
    the scaling and the sum are one pass. The forward pass needs four energies, read from two Gram
    matrices of the channels (one of the whole output, one of ``d``): ``||y||^2`` is their trace and
    ``||Q y||^2`` their sum against ``Q``. Like the whole-layer term it saves ``A y_0`` and ``d`` only.
    A raw output holds its channels first (maps ``(C, H, W)``) or last (tokens, windows, channels-last
    maps: ``(..., C)``); ``fields`` reads it either way.
    ``tests/test_regularizer.py`` checks values and gradients against the term written with projectors.
    """

    @staticmethod
    def forward(ctx, raw, index, inverse, fields):
        with torch.autocast(raw.device.type, enabled=False):  # the Gram matrices stay in float32 under autocast
            a, y1, compute = _acted_halves(raw, index)
            d = a - y1
            energy, s_inv = fields.energies(raw if raw.dtype == compute else raw.to(compute))  # both halves
            s_or = _part_energy((energy - s_inv).clamp_min(0), energy)
            s_inv = _part_energy(s_inv, energy)  # ||Q y_0||^2 + ||Q y_1||^2 (= ||Q A y_0||^2)
            n_all, n_inv = fields.energies(d)  # ||d||^2, ||Q d||^2
            n_or = (n_all - n_inv).clamp_min(0)
            l_inv, l_or = n_inv.clamp_min(0) / s_inv, n_or / s_or
        ctx.save_for_backward(a, d, torch.stack([l_inv, l_or, s_inv, s_or]))
        ctx.inverse, ctx.fields, ctx.dtype = inverse, fields, raw.dtype
        return (l_inv + l_or) / 2

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        a, d, scalars = ctx.saved_tensors
        l_inv, l_or, s_inv, s_or = scalars.unbind()
        fields, half = ctx.fields, a.shape[0]
        c_inv, c_or = grad / s_inv, grad / s_or  # d L_k = (2 / S_k)(...), and R is the mean of the two parts
        w_a = fields.matrix(-c_or * l_or, -c_inv * l_inv + c_or * l_or, a)  # the same for both halves
        grad_raw = torch.empty((2 * half, a.shape[1]), dtype=a.dtype, device=a.device)  # (2B, K)
        grad_a = fields.combine(d, fields.matrix(c_or, c_inv - c_or, a), a, w_a, torch.empty_like(a))
        torch.index_select(grad_a, 1, ctx.inverse, out=grad_raw[:half])
        w_d = fields.matrix(c_or * (l_or - 1), c_inv * (l_inv - 1) - c_or * (l_or - 1), a)
        fields.combine(d, w_d, a, w_a, grad_raw[half:])
        return grad_raw.to(ctx.dtype), None, None, None


BLOCKS = {False: 4, True: 16}  # channels per matrix product in _Fields, channels first / last (the fastest on
#                                 CPU, 8 x 2304 positions x 32 channels, Gram matrices and gradients)


@dataclass(frozen=True)
class _Fields:
    """How one image's raw output ``(K,)`` holds its fields of ``size`` channels: channels first or last.

    The split term's energies and its gradient act on blocks of ``block`` channels (whole fields, at
    most ``BLOCKS[last]`` channels) by small matrix products: on CPU they run at the speed of an elementwise
    pass, where a reduction or a broadcast over the ``n`` channels of a field runs 2-6x slower (measured, 8 x 2304
    positions x 32 channels; channels last, the ``n`` channels are the innermost axis).
    """

    channels: int
    size: int
    last: bool

    @cached_property
    def block(self) -> int:
        """The largest multiple of ``size`` that divides ``channels`` and is at most ``max(size, BLOCKS[last])``."""
        largest = max(self.size, BLOCKS[self.last])
        return max(b for b in range(self.size, largest + 1, self.size) if self.channels % b == 0)

    def _blocks(self, t: torch.Tensor) -> torch.Tensor:
        """``(B, K)`` as rows of one block: ``(rows, block)`` (channels last) or ``(rows, block, S)`` (first)."""
        if self.last:
            return t.view(-1, self.block)
        return t.view(-1, self.block, t.shape[1] // self.channels)

    def energies(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(||t||^2, ||Q t||^2)`` of a ``(B, K)`` tensor, from the Gram matrix of its blocks' channels."""
        blocks = self._blocks(t)
        gram = blocks.T @ blocks if self.last else torch.bmm(blocks, blocks.transpose(1, 2)).sum(0)  # (block, block)
        mean = _basis(self.block, self.size, t.device, t.dtype)[1]
        return gram.diagonal().sum(), (gram * mean).sum()

    def matrix(self, alpha: torch.Tensor, gamma: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """``alpha I + gamma Q`` on one block, ``(block, block)``, with ``Q`` the field mean (symmetric)."""
        eye, mean = _basis(self.block, self.size, like.device, like.dtype)
        return eye * alpha + mean * gamma

    def combine(self, d: torch.Tensor, w_d: torch.Tensor, a: torch.Tensor, w_a: torch.Tensor,
                out: torch.Tensor) -> torch.Tensor:
        """``out = d W_d + a W_a`` on every block of channels (``(B, K)`` tensors, ``W`` symmetric)."""
        if self.last:
            torch.mm(self._blocks(d), w_d, out=self._blocks(out)).addmm_(self._blocks(a), w_a)
            return out
        blocks = self._blocks(out)
        torch.matmul(w_d, self._blocks(d), out=blocks)
        blocks.baddbmm_(w_a.expand(blocks.shape[0], -1, -1), self._blocks(a))
        return out


@lru_cache(maxsize=64)
def _basis(block: int, size: int, device: torch.device, dtype: torch.dtype):
    """``(I, Q)`` on one block of ``block`` channels: the identity and the field mean ``Q`` (each field of
    ``size`` channels replaced by its mean, a symmetric projector)."""
    mean = torch.kron(torch.eye(block // size), torch.full((size, size), 1.0 / size))
    return torch.eye(block, device=device, dtype=dtype), mean.to(device, dtype)


@lru_cache(maxsize=256)
def _uniform_field(rep: Representation, group: Group, channels: int) -> int:
    """``n`` when the invariant part of ``rep`` is each block's mean over its ``n`` channels (one orbit), else 0."""
    invariant = components(rep, group, channels)[0].projector
    n = invariant.shape[0]
    return n if n > 1 and torch.allclose(invariant, torch.full_like(invariant, 1.0 / n), atol=1e-6) else 0


@lru_cache(maxsize=256)
def _parts(rep: Representation, group: Group, channels: int, norm: _ByComponent) -> tuple[tuple[int, ...], ...]:
    """The groups of components a component norm normalises separately: indices into ``components(...)``."""
    return norm.grouping(components(rep, group, channels))


def _component_term(y0: torch.Tensor, y1: torch.Tensor, group: Group, element: int, rep: Representation,
                    norm: str) -> torch.Tensor:
    """The penalty normalised per isotypic component (``eqlab.isotypic``), on maps ``(B, C, H, W)``.

    With :math:`\\Pi_k` the projector of a group of components (``norm``, the name of a component norm:
    ``"split"``: the invariant part and the oriented part; ``"components"``: every isotypic component on
    its own),

    .. math:: R_l = \\frac{1}{K} \\sum_k \\frac{\\|\\Pi_k d\\|^2}{\\|\\Pi_k A y_0\\|^2 + \\|\\Pi_k y_1\\|^2}

    Each part is scale-free on its own, so shrinking the oriented part towards zero (making every
    channel of a field equal, which the whole-layer norm rewards) no longer lowers the penalty.
    """
    a, b = _compared_maps(y0, y1, group, element, rep)
    parts = components(rep, group, a.shape[1])
    diff = block_energies(a - b, parts).clamp_min(0)  # (P,); a projector's energy is >= 0 but for round-off
    energy = (block_energies(a, parts) + block_energies(b, parts)).clamp_min(0)
    grouping = _parts(rep, group, a.shape[1], get_norm(norm))
    terms = [diff[list(k)].sum() / _part_energy(energy[list(k)].sum(), energy.sum()) for k in grouping]
    return torch.stack(terms).mean()


# -- the penalty norms ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Paired:
    """One paired forward pass as a norm's term reads it.

    Args:
        group: the group whose ``element`` turned the second half of the batch.
        element: the element compared (``d = P_g rot_g y_0 - y_1``).
        images: the model input's batch ``2B`` (a layer's output may hold more rows: windows, tokens).
        aspect: the input's height / width (how a token or window layout unfolds into maps).
    """

    group: Group
    element: int
    images: int
    aspect: float = 1.0

    def raw(self, out: torch.Tensor, layer: Layer) -> tuple | None:
        """One image's raw output shape where the layer's layout permutes entries (a fused term gathers), else None."""
        return layer.layout.per_image(out, self.images) if layer.layout.permutes else None

    def gather(self, out: torch.Tensor, layer: Layer, raw: tuple) -> tuple[torch.Tensor, torch.Tensor]:
        """The cached gather index of the whole action on one image's raw output and its inverse, ``(K,)`` each."""
        return _gather(layer.layout, raw, self.aspect, self.group, self.element, layer.rep, str(out.device))

    def halves(self, out: torch.Tensor, layer: Layer) -> tuple[torch.Tensor, torch.Tensor]:
        """``(y_0, y_1)``: the layer's paired output as two map batches ``(B, C, H, W)``."""
        maps = layer.layout.to_map(out, self.images, self.aspect)  # (2B, C, H, W)
        half = self.images // 2
        return maps[:half], maps[half:]


class Norm(ABC):
    """A penalty norm: one layer's term from its paired output, and how the layers' terms add up.

    A new norm is one subclass (its ``name``, what it ``normalises``, whether it is ``scale_free``, and
    :meth:`term`, with its fused gradient where it has one) and one entry of :data:`NORMS`; it is then a
    choice of ``EQReg(norm=...)``, of ``TrainConfig``'s ``method.norm`` and of the CLI's ``--norm``.
    """

    name: ClassVar[str]  # its key in NORMS: the public argument ``norm=...``
    normalises: ClassVar[str]  # what the squared difference is divided by, in words (the config's help)
    scale_free: ClassVar[bool]  # unchanged when a layer's features are rescaled; the layers' terms are then averaged

    @abstractmethod
    def term(self, out: torch.Tensor, layer: Layer, paired: Paired) -> torch.Tensor:
        """The term of one layer: a scalar float32 tensor in the graph.

        Args:
            out: the layer's paired output in its layout (``(2B, C, H, W)`` for a map), first half from ``x``.
            layer: its representation and layout.
            paired: the group element and the input batch of the pass.
        """

    def total(self, terms: list[torch.Tensor], chosen: int) -> torch.Tensor:
        """The unweighted penalty from the terms computed in a pass, out of ``chosen`` regularized layers.

        A scale-free norm takes their mean, the others their sum times ``chosen / len(terms)``: unbiased
        either way when a layer subset was drawn (``EQReg(layer_fraction=...)``).
        """
        total = torch.stack(terms).sum()
        return total / len(terms) if self.scale_free else total * (chosen / len(terms))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class _WholeLayer(Norm):
    """A norm of the whole layer's difference: one gather for the exact groups (:class:`_GatherTerm`), autograd
    ops on the maps otherwise (C8, ``Function`` layouts)."""

    def term(self, out: torch.Tensor, layer: Layer, paired: Paired) -> torch.Tensor:
        """:math:`\\|d\\|^2 / (\\|y_0\\|^2 + \\|y_1\\|^2)` when scale-free, else :math:`\\|d\\|`."""
        raw = paired.raw(out, layer)
        if paired.group.exact and raw is not None:
            index, inverse = paired.gather(out, layer, raw)
            return _GatherTerm.apply(out.reshape(paired.images, -1), index, inverse, self.scale_free)
        y0, y1 = paired.halves(out, layer)
        return _plain_term(y0, y1, paired.group, paired.element, layer.rep, self.scale_free)


class Relative(_WholeLayer):
    """``norm="relative"``: :math:`\\|d\\|^2 / (\\|y_0\\|^2 + \\|y_1\\|^2)` per layer, in [0, 2] (eqlab 0.2's)."""

    name = "relative"
    normalises = "the whole layer: eqlab 0.2's, met by orientation-blind fields"
    scale_free = True


class Paper(_WholeLayer):
    """``norm="paper"``: :math:`\\|d\\|_2` per layer, summed: the reference code's ``torch.norm``."""

    name = "paper"
    normalises = "nothing: unnormalised torch.norm, the reference formula"
    scale_free = False


class _ByComponent(Norm):
    """A norm normalised per group of isotypic components (:func:`_component_term`): the mean of their ratios."""

    scale_free = True

    @abstractmethod
    def grouping(self, parts: list[Component]) -> tuple[tuple[int, ...], ...]:
        """The groups of ``parts`` (indices) normalised separately."""

    def fused(self, out: torch.Tensor, layer: Layer, paired: Paired, raw: tuple, channels: int) -> torch.Tensor | None:
        """The term by a fused path where the norm has one for this layer; None: written with projectors."""
        return None

    def term(self, out: torch.Tensor, layer: Layer, paired: Paired) -> torch.Tensor:
        """The mean over the groups of components ``k`` of
        :math:`\\|\\Pi_k d\\|^2 / (\\|\\Pi_k A y_0\\|^2 + \\|\\Pi_k y_1\\|^2)`."""
        raw = paired.raw(out, layer)
        if raw is not None:
            channels = layer.layout.map_shape(raw, paired.aspect)[0]
            if len(_parts(layer.rep, paired.group, channels, self)) == 1:
                return Relative().term(out, layer, paired)  # one part (an image-valued, trivial layer): the same value
            fused = self.fused(out, layer, paired, raw, channels)
            if fused is not None:
                return fused
        y0, y1 = paired.halves(out, layer)
        return _component_term(y0, y1, paired.group, paired.element, layer.rep, self.name)


class Split(_ByComponent):
    """``norm="split"`` (the default): the invariant part and the oriented part of every field, each normalised
    on its own; fused (:class:`_SplitTerm`) for the exact groups where a field's invariant part is its mean."""

    name = "split"
    normalises = "the invariant and the oriented part of every field normalised apart"

    def grouping(self, parts: list[Component]) -> tuple[tuple[int, ...], ...]:
        """``(invariant, oriented)``, each the indices of its components (an empty one left out)."""
        invariant = tuple(i for i, part in enumerate(parts) if part.invariant)
        oriented = tuple(i for i, part in enumerate(parts) if not part.invariant)
        return tuple(p for p in (invariant, oriented) if p)

    def fused(self, out: torch.Tensor, layer: Layer, paired: Paired, raw: tuple, channels: int) -> torch.Tensor | None:
        """One gather and the field means (:class:`_SplitTerm`): regular fields, pixel-shuffle blocks, exact groups."""
        if not paired.group.exact:
            return None
        last = not isinstance(layer.layout, Map)  # tokens, windows, channels-last maps: (..., C)
        field = _uniform_field(layer.rep, paired.group, channels)
        if not field or (raw[-1] if last else raw[0]) != channels:
            return None
        index, inverse = paired.gather(out, layer, raw)
        return _SplitTerm.apply(out.reshape(paired.images, -1), index, inverse, _Fields(channels, field, last))


class Components(_ByComponent):
    """``norm="components"``: every isotypic component normalised on its own (no fused path)."""

    name = "components"
    normalises = "every isotypic component apart"

    def grouping(self, parts: list[Component]) -> tuple[tuple[int, ...], ...]:
        """Every component alone."""
        return tuple((i,) for i in range(len(parts)))


NORMS: dict[str, Norm] = {norm.name: norm for norm in (Split(), Relative(), Components(), Paper())}  # the one table


def get_norm(name: str) -> Norm:
    """The penalty norm registered in :data:`NORMS` as ``name``.

    Example:
        >>> get_norm("paper").scale_free, get_norm(DEFAULT_NORM)
        (False, Split())
    """
    if not isinstance(name, str):
        raise TypeError(f"norm must be a name in {tuple(NORMS)}, got {type(name).__name__}")
    check_choice("norm", name, NORMS)
    return NORMS[name]


def gradient_ratio(total: torch.Tensor, penalty: torch.Tensor, weight: float, params: list[nn.Parameter],
                   backward: bool = False) -> float:
    """The gradient ratio :math:`\\rho = \\|\\nabla R\\| / \\|\\nabla L_{task}\\|` over ``params``.

    The penalty's gradient costs one backward pass through the retained graph; the task's is read
    from the gradient of ``total = task + weight * penalty`` minus ``weight`` times the penalty's.
    The gradient share of the penalty is ``weight * rho``.

    Args:
        total: the scalar loss ``task + weight * penalty`` of the step.
        penalty: the unweighted penalty ``R`` (a scalar in the graph).
        weight: the ``lambda`` inside ``total``.
        params: the trainable parameters the ratio is taken over.
        backward: also backpropagate ``total`` into ``p.grad`` (the training step's own backward,
            averaged over ranks under DDP; the penalty's gradient is averaged the same way). Without
            it ``p.grad`` is left as it was and the total's gradient costs a second pass.
    """
    penalty_grads = torch.autograd.grad(penalty, params, retain_graph=True, allow_unused=True)
    penalty_grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, penalty_grads)]
    if backward:
        total.backward()  # p.grad = grad(task) + weight * grad(R)
        total_grads = [p.grad for p in params]
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            for g in penalty_grads:
                dist.all_reduce(g)
                g /= dist.get_world_size()
    else:
        total_grads = torch.autograd.grad(total, params, retain_graph=True, allow_unused=True)
    penalty_norm = torch.sqrt(sum(g.float().pow(2).sum() for g in penalty_grads))
    task_norm = torch.sqrt(sum((t.float() - weight * g.float()).pow(2).sum()
                               for t, g in zip(total_grads, penalty_grads) if t is not None))
    return float(penalty_norm / (task_norm + _EPS))


class EQReg:
    """The EQ-Reg penalty attached to an unmodified model.

    Args:
        model: the network; it is not modified (no layer replacement, no parameters added). It is
            probed once, dry (``eqlab.selection``), to choose the layers.
        group: ``"C4"`` (default), ``"C2"``, ``"D4"``, ``"C8"`` or a ``Group``.
        weight: multiplier ``lambda`` of the penalty in :meth:`loss`.
        layers, reps, layouts, example, skip: see ``eqlab.selection.select`` (``skip``: name patterns
            of layers left plain, e.g. ``"*.attn.qkv"``).
        norm: the name of a penalty norm in :data:`NORMS`: ``"split"`` (:data:`DEFAULT_NORM`: the invariant
            and the oriented part of each field, scale-free apart), ``"relative"`` (the whole layer,
            scale-free), ``"components"`` or ``"paper"`` (the reference formula). The object is
            ``penalty_norm``; assigning ``reg.norm = name`` swaps it.
        layer_fraction: the share of the chosen layers whose term is computed in each paired pass,
            drawn at random (``generator``) and scaled so that the penalty stays unbiased; ``1``
            (default) computes every layer.
        generator: draws the layer subset.

    Example:
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(inplace=True),
        ...                             torch.nn.Conv2d(8, 1, 3, padding=1))
        >>> reg = EQReg(model, weight=1e-3)
        >>> x = torch.rand(4, 1, 16, 16)
        >>> xb, yb, element = reg.group.pair(x, x, generator=torch.Generator().manual_seed(0))
        >>> with reg.active(element):
        ...     out = model(xb)
        >>> loss = torch.nn.functional.mse_loss(out, yb) + reg.loss()
        >>> sorted(reg.stats())
        ['0', '2']
    """

    def __init__(self, model: nn.Module, group: Group | str = "C4", weight: float = DEFAULT_WEIGHT,
                 layers="auto", reps=None, norm: str = DEFAULT_NORM, layouts=None, example=None,
                 layer_fraction: float = 1.0, generator: torch.Generator | None = None, skip=None):
        self.penalty_norm: Norm = get_norm(norm)
        check_number("weight", weight, 0)
        check_number("layer_fraction", layer_fraction, 0, 1, open_low=True)
        self.model = model
        self.group = get_group(group)
        self.weight = float(weight)
        self.layer_fraction = float(layer_fraction)
        self.generator = generator
        self.selection: Selection = select(model, self.group, layers, reps, layouts, example, mode="train",
                                           skip=skip)
        self.layers: list[Layer] = self.selection.layers
        self._handles: list = []
        self._terms: dict[str, list[torch.Tensor]] = {}
        self._element: int | None = None
        self._images: int | None = None  # the model input's batch (2B) and aspect, read by a pre-hook
        self._aspect = 1.0
        self._removed = False

    @classmethod
    def reference(cls, model: nn.Module, group: Group | str = "C4", weight: float = REFERENCE_WEIGHT,
                  **options) -> EQReg:
        """eqlab's reading of the reference code (yulu919/EQ-REG) for nets it did not write: the paper norm,
        the reference's lambda, hidden layers only.

        What matches: the norm (``torch.norm`` of the difference, p = 2, summed over layers:
        ``F_Conv_YL.MyConv.forward``), the weight (:data:`REFERENCE_WEIGHT`: 1e-8 RCDNet / DICDNet /
        OSCNet, 1e-6 ACDNet, 1e-9 SwinIR / Restormer in EQ-REG-T; the files are cited beside it), and the
        identity drawn in a quarter of the steps (``n`` from 0..3: ``Group.pair(..., exclude_identity=False)``,
        ``eqlab.arms.EQRegArm`` with ``identity_draws``).

        Where it differs, and why:
            - *Which layers.* The reference regularizes every conv it wrapped in its ``MyConv`` class, and
              nothing else: in RCDNet (``model/rcdnet_loss_xnet.py``) that includes the last conv of
              ``fxnet``, before its BatchNorm and the residual add, while the convs that map to the image
              are plain ``nn.Conv2d``. It hand-picks per net; eqlab cannot know which convs a person would
              have wrapped, so it takes every layer the probe can read except the ones that produce the
              output (``layers="hidden"``): the image-valued convs the reference never wraps. Pass
              ``layers=[...]`` to reproduce a hand-picked set exactly.
            - *A layer called twice* (RCDNet calls ``fxnet`` once per stage): the reference keeps the
              term of the last call only (``self.rot_eq_loss = ...`` is overwritten at each forward);
              eqlab sums the terms of every call and divides by their number, so that every use of the
              shared weights is asked to be equivariant. For a layer called once the two agree.
        """
        return cls(model, group, weight=weight, layers="hidden", norm="paper", **options)

    @property
    def norm(self) -> str:
        """The name of the penalty norm (``penalty_norm.name``); set it to another name of :data:`NORMS` to swap."""
        return self.penalty_norm.name

    @norm.setter
    def norm(self, name: str) -> None:
        self.penalty_norm = get_norm(name)

    @property
    def element(self) -> int | None:
        """The group element of the open ``active()`` block (or of the last one): what a ``term`` compares."""
        return self._element

    # -- hooks ---------------------------------------------------------------------------------------
    @contextmanager
    def active(self, element: int):
        """Within this block, forward passes of a paired batch record the penalty for ``element``."""
        if self._removed:
            raise RuntimeError("this EQReg was removed; create a new one")
        if self._handles:
            raise RuntimeError("EQReg.active() is already open")
        self._element = int(element)
        self._terms = {}
        layers = self.layers
        if self.layer_fraction < 1:
            k = max(1, round(self.layer_fraction * len(layers)))
            keep = set(torch.randperm(len(layers), generator=self.generator)[:k].tolist())
            layers = [layer for i, layer in enumerate(layers) if i in keep]
        self._handles.append(self.model.register_forward_pre_hook(self._read_input))
        for layer in layers:
            module = self.model.get_submodule(layer.name)
            self._handles.append(module.register_forward_hook(self._hook_for(layer)))
        try:
            yield self
        finally:
            for handle in self._handles:
                handle.remove()
            self._handles = []

    def _read_input(self, module, args):
        x = args[0] if args else None
        if isinstance(x, torch.Tensor) and x.dim() == 4:
            self._images, self._aspect = x.shape[0], x.shape[-2] / x.shape[-1]

    def _hook_for(self, layer: Layer):
        def hook(module, inputs, out):
            if self.model.training and self._element != self.group.identity:
                self._terms.setdefault(layer.name, []).append(self.term(out, layer))
        return hook

    def term(self, out: torch.Tensor, layer: Layer) -> torch.Tensor:
        """The penalty of one layer for a paired output ``out`` (its first half from ``x``, the second from ``g x``),
        by the norm (``penalty_norm.term``).

        Args:
            out: the layer's output, in the layer's layout (``(2B, C, H, W)`` for a map).
            layer: which layer (its representation, layout, and name for error messages).

        Returns:
            a scalar float32 tensor.
        """
        if not isinstance(out, torch.Tensor):
            raise ValueError(f"layer {layer.name!r}: expected a tensor output, got {type(out).__name__}")
        images = self._images if self._images is not None else out.shape[0]
        if images % 2 or out.shape[0] % images:
            raise ValueError(f"layer {layer.name!r}: a batch of {images} images cannot be paired; build it with "
                             "group.pair()")
        return self.penalty_norm.term(out, layer, Paired(self.group, self._element, images, self._aspect))

    # -- results -------------------------------------------------------------------------------------
    def terms(self) -> dict[str, torch.Tensor]:
        """Per-layer terms of the last paired forward pass, as tensors in the graph (a layer called
        several times per forward: the mean of its calls)."""
        return {name: ts[0] if len(ts) == 1 else torch.stack(ts).mean() for name, ts in self._terms.items()}

    def raw_loss(self) -> torch.Tensor:
        """Unweighted penalty of the last paired forward pass (0 when nothing was recorded).

        With ``layer_fraction < 1`` only a subset was computed: a scale-free norm takes the mean
        of the terms computed, the paper norm their sum times ``L / k`` -- unbiased either way (``Norm.total``).
        """
        terms = list(self.terms().values())
        if not terms:
            return torch.zeros(())
        return self.penalty_norm.total(terms, len(self.layers))

    def loss(self) -> torch.Tensor:
        """``weight * raw_loss()``: add it to the task loss."""
        return self.weight * self.raw_loss()

    def stats(self) -> dict[str, float]:
        """Per-layer terms of the last paired forward pass, ``{layer name: value}`` (floats)."""
        return {name: float(t.detach()) for name, t in self.terms().items()}

    def gradient_share(self, task_loss: torch.Tensor, params=None) -> float:
        """``||grad(weight * R)|| / ||grad(task_loss)||`` over ``params`` (default: all trainable).

        Costs two extra backward passes through the retained graph (``gradient_ratio``; the training
        arm folds one of them into its own backward): measure it every few steps.
        """
        params = [p for p in (params if params is not None else self.model.parameters()) if p.requires_grad]
        if not self._terms or self.weight == 0:
            return 0.0
        penalty = self.raw_loss()
        return self.weight * gradient_ratio(task_loss + self.weight * penalty, penalty, self.weight, params)

    def report(self) -> str:
        """Every candidate layer -- chosen or skipped, layout, representation, reason -- as a table."""
        return self.selection.table()

    def remove(self) -> None:
        """Detach from the model for good; the model is left exactly as it was."""
        for handle in self._handles:
            handle.remove()
        self._handles, self._terms, self._removed = [], {}, True

    def __repr__(self) -> str:
        names = ", ".join(f"{layer.name}:{layer.rep.name}" for layer in self.layers)
        extra = f", layer_fraction={self.layer_fraction:g}" if self.layer_fraction < 1 else ""
        return f"EQReg({self.group.name}, weight={self.weight:g}, norm={self.norm!r}{extra}, layers=[{names}])"
