"""EQ-Reg: a soft rotation-equivariance penalty that plugs into an unmodified ``nn.Module``.

The network sees a batch and its rotated copy, ``X = cat([x, g x])``. For every regularized layer
with output ``Y = cat([y_0, y_1])`` the penalty compares the rotated features of ``x`` with the
features of the rotated input, after the representation's channel permutation ``P_g``:

.. math:: d_l = P_g\\, \\mathrm{rot}_g(y_0) - y_1

Two norms:

- ``norm="paper"``: :math:`R = \\sum_l \\|d_l\\|_2`, exactly the reference code (``torch.norm``,
  unsquared, unnormalised). Its scale grows with batch, width and patch size, so its weight
  (1e-9 ... 1e-6 in the paper) means something different for every model.
- ``norm="relative"`` (default): :math:`R = \\frac{1}{L} \\sum_l \\frac{\\|d_l\\|^2}{\\|P_g \\mathrm{rot}_g y_0\\|^2 + \\|y_1\\|^2}`.
  Each term lies in [0, 2], does not change when a layer's features are rescaled, and the
  denominator is *not* detached: shrinking features towards zero cannot lower it, so training
  cannot satisfy the penalty by collapsing (a detached norm did collapse: notebook 3 shows it).

Pairing a batch with its rotated copy is the group's job (``eqlab.groups.Group.pair``).

What is here: ``EQReg`` (hooks, loss, per-layer stats, gradient share) and
``select_layers`` (which layers, with which representation). No training loop (``eqlab.train``)
and no evaluation metric (``eqlab.metrics``).

Hooks exist only inside ``with reg.active(element):`` and only act while the model is in
training mode: outside the context the model runs exactly as if EQ-Reg did not exist.
Each layer's term is computed inside its hook, before a following ``ReLU(inplace=True)`` can
overwrite the output, and only fresh tensors are saved for backward.
"""

from __future__ import annotations

import difflib
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn as nn

from eqlab.groups import Group, Regular, Representation, Trivial, get_group

__all__ = ["EQReg", "select_layers", "DEFAULT_WEIGHT", "NORMS"]

NORMS = ("relative", "paper")
DEFAULT_WEIGHT = 1e-4  # relative norm, MSE task loss; see README "choosing the weight"
_HOOKABLE = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
_EPS = 1e-12


@dataclass(frozen=True)
class Layer:
    """A regularized layer: its name in ``model.named_modules()``, representation, channel axis."""

    name: str
    rep: Representation
    channel_dim: int  # 1 for (B, C, H, W); -1 for channels-last (B, H, W, C), e.g. nn.Linear


def _out_channels(module: nn.Module) -> int | None:
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        return module.out_channels
    if isinstance(module, nn.Linear):
        return module.out_features
    return None


def select_layers(model: nn.Module, group: Group | str = "C4", layers="auto", reps=None) -> list[Layer]:
    """Choose the layers to regularize and their representations.

    Args:
        model: any ``nn.Module``.
        group: the symmetry group.
        layers: ``"auto"`` (the model's ``equivariance_reps(group)`` if it has one, else every
            ``Conv2d`` / ``ConvTranspose2d`` / ``Linear`` whose channels fit the regular
            representation, with a last image-valued conv as ``Trivial``), a list of module
            names, or a module type / tuple of types.
        reps: ``None``, one ``Representation`` for every chosen layer, or ``{name: rep}``
            overriding the defaults.

    Returns:
        the chosen layers, in module order.

    Raises:
        ValueError: unknown name, no layer chosen, or channels that do not fit a representation.
    """
    group = get_group(group)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    modules = dict(model.named_modules())
    overrides = reps if isinstance(reps, dict) else {}
    default = reps if isinstance(reps, Representation) else None
    if reps is not None and not isinstance(reps, (dict, Representation)):
        raise TypeError(f"reps must be None, a Representation or a dict, got {type(reps).__name__}")

    if isinstance(layers, str) and layers == "auto":
        if hasattr(model, "equivariance_reps"):
            chosen = dict(model.equivariance_reps(group))
        else:
            convs = [n for n, m in modules.items() if isinstance(m, _HOOKABLE)]
            chosen = {}
            for i, name in enumerate(convs):
                channels = _out_channels(modules[name])
                if i == len(convs) - 1 and channels in (1, 3) and not isinstance(modules[name], nn.Linear):
                    chosen[name] = Trivial()
                elif Regular().fits(group, channels):
                    chosen[name] = Regular()
        if default is not None:
            chosen = {n: default for n in chosen}
    elif isinstance(layers, type) or (isinstance(layers, tuple) and all(isinstance(t, type) for t in layers)):
        chosen = {n: default or Regular() for n, m in modules.items() if isinstance(m, layers)}
    elif isinstance(layers, (list, tuple)) and all(isinstance(n, str) for n in layers):
        unknown = [n for n in layers if n not in modules]
        if unknown:
            raise ValueError(f"unknown layer name(s) {unknown}; the model has {[n for n in modules if n][:20]}...")
        chosen = {n: default or Regular() for n in layers}
    else:
        raise TypeError(f"layers must be 'auto', a list of names or module type(s), got {layers!r}")

    unknown = [n for n in overrides if n not in modules]
    if unknown:
        hints = {n: difflib.get_close_matches(n, [m for m in modules if m], n=3) for n in unknown}
        raise ValueError("reps names unknown layer(s): " + "; ".join(
            f"{n!r}" + (f" (close: {', '.join(map(repr, close))})" if close else "") for n, close in hints.items()))
    chosen.update(overrides)
    result = []
    for name, module in modules.items():
        if name not in chosen:
            continue
        rep, channels = chosen[name], _out_channels(module)
        if channels is not None:
            try:
                rep.check(group, channels)
            except ValueError as err:
                raise ValueError(f"layer {name!r} ({type(module).__name__}, {channels} channels): {err}") from None
        result.append(Layer(name, rep, -1 if isinstance(module, nn.Linear) else 1))
    if not result:
        raise ValueError(f"no layer of {type(model).__name__} fits {group.name} with layers={layers!r}")
    return result


def _reference_term(y0, y1, group, element, rep, relative: bool) -> torch.Tensor:
    """The penalty written with autograd ops; the definition, used for interpolated groups (C8).

    Only fresh tensors are saved for backward, so a later in-place op on the layer output is safe.
    """
    a = group.act(y0, element, rep).float()  # fresh
    d = a - y1
    mask = group.mask(d.shape[-2], d.shape[-1], device=d.device)
    if mask is not None:
        d = d * mask
    if not relative:
        return torch.linalg.vector_norm(d)
    b = y1.float() if y1.dtype != torch.float32 else y1.clone()  # fresh copy of a view
    if mask is not None:
        a, b = a * mask, b * mask
    return d.pow(2).sum() / (a.pow(2).sum() + b.pow(2).sum() + _EPS)


class _ExactTerm(torch.autograd.Function):
    """The same penalty for exact groups, fused: fewer passes over memory, half the saved tensors.

    With ``A = P_g rot_g`` (a permutation of entries, so ``A^{-1} = A^T = act(g^{-1})``),
    ``d = A y_0 - y_1``, ``N = ||d||^2`` and ``S = ||y_0||^2 + ||y_1||^2``:

    .. math:: \\partial_{y_0} \\tfrac{N}{S} = \\tfrac{2}{S} A^T (d - L\\, A y_0), \\quad
              \\partial_{y_1} \\tfrac{N}{S} = \\tfrac{2}{S} ((L - 1)\\, d - L\\, A y_0), \\quad L = N / S

    and for the paper norm ``||d||``: ``A^T d / ||d||`` and ``-d / ||d||``. Only ``A y_0`` and
    ``d`` (fresh tensors) are saved; the layer output itself is not, so an in-place activation
    after the layer cannot invalidate the backward pass. ``tests/test_regularizer.py`` checks
    values and gradients against :func:`_reference_term`.
    """

    @staticmethod
    def forward(ctx, out, group, element, rep, relative):
        half = out.shape[0] // 2
        y0, y1 = out[:half], out[half:]
        compute = torch.promote_types(out.dtype, torch.float32)  # bf16 / fp16 under autocast -> float32
        a = group.act(y0, element, rep).to(compute)  # (B, C, H, W), fresh
        d = a - y1
        num = torch.dot(d.reshape(-1), d.reshape(-1))
        if relative:
            energy = torch.dot(a.reshape(-1), a.reshape(-1)) + torch.linalg.vector_norm(y1, dtype=compute) ** 2 + _EPS
            value = num / energy
        else:
            energy = torch.ones((), device=out.device)
            value = num.sqrt()
        ctx.save_for_backward(a, d, value, energy)
        ctx.group, ctx.element, ctx.rep, ctx.relative, ctx.dtype = group, element, rep, relative, out.dtype
        return value

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        a, d, value, energy = ctx.saved_tensors
        inverse = ctx.group.inverse(ctx.element)
        half = a.shape[0]
        grad_out = torch.empty((2 * half, *a.shape[1:]), dtype=a.dtype, device=a.device)  # (2B, C, H, W)
        if ctx.relative:
            scale = 2 * grad / energy
            grad_out[:half] = ctx.group.act(torch.addcmul(d, a, -value), inverse, ctx.rep)  # A^T (d - L a)
            torch.mul(d, value - 1, out=grad_out[half:])
            grad_out[half:].addcmul_(a, -value)  # (L - 1) d - L a
            grad_out.mul_(scale)
        else:
            scale = grad / value.clamp_min(_EPS)
            grad_out[:half] = ctx.group.act(d, inverse, ctx.rep)
            torch.neg(d, out=grad_out[half:])
            grad_out.mul_(scale)
        return grad_out.to(ctx.dtype), None, None, None, None


class EQReg:
    """The EQ-Reg penalty attached to an unmodified model.

    Args:
        model: the network; it is not modified (no layer replacement, no parameters added).
        group: ``"C4"`` (default), ``"C2"``, ``"D4"``, ``"C8"`` or a ``Group``.
        weight: multiplier ``lambda`` of the penalty in :meth:`loss`.
        layers, reps: see :func:`select_layers`.
        norm: ``"relative"`` (scale-free, default) or ``"paper"`` (reference formula).

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
                 layers="auto", reps=None, norm: str = "relative"):
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        if not isinstance(weight, (int, float)) or weight < 0:
            raise ValueError(f"weight must be a number >= 0, got {weight!r}")
        self.model = model
        self.group = get_group(group)
        self.weight = float(weight)
        self.norm = norm
        self.layers = select_layers(model, self.group, layers, reps)
        self._handles: list = []
        self._terms: dict[str, torch.Tensor] = {}
        self._element: int | None = None
        self._removed = False

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
        for layer in self.layers:
            module = self.model.get_submodule(layer.name)
            self._handles.append(module.register_forward_hook(self._hook_for(layer)))
        try:
            yield self
        finally:
            for handle in self._handles:
                handle.remove()
            self._handles = []

    def _hook_for(self, layer: Layer):
        def hook(module, inputs, out):
            if self.model.training:
                self._terms[layer.name] = self.term(out, layer)
        return hook

    def term(self, out: torch.Tensor, layer: Layer) -> torch.Tensor:
        """The penalty of one layer for a paired output ``out = cat([y_0, y_1])``.

        Args:
            out: ``(2B, C, H, W)``, or ``(2B, H, W, C)`` for a channels-last layer.
            layer: which layer (for its representation and error messages).

        Returns:
            a scalar float32 tensor.
        """
        if not isinstance(out, torch.Tensor) or out.dim() != 4:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"layer {layer.name!r}: expected a 4-d feature map, got {shape}")
        if out.shape[0] % 2:
            raise ValueError(f"layer {layer.name!r}: batch of {out.shape[0]} cannot be paired; build it with group.pair()")
        if layer.channel_dim == -1:
            out = out.movedim(-1, 1)  # (2B, H, W, C) -> (2B, C, H, W), a view
        half = out.shape[0] // 2
        y0, y1 = out[:half], out[half:]  # views: used only by ops that do not save them for backward
        if self.group.needs_square(self._element) and y0.shape[-2] != y0.shape[-1]:
            raise ValueError(f"layer {layer.name!r}: {self.group.describe(self._element)} needs square maps, "
                             f"got features of shape {tuple(out.shape)}")
        if self.group.exact:
            return _ExactTerm.apply(out, self.group, self._element, layer.rep, self.norm == "relative")
        return _reference_term(y0, y1, self.group, self._element, layer.rep, self.norm == "relative")

    # -- results -------------------------------------------------------------------------------------
    def raw_loss(self) -> torch.Tensor:
        """Unweighted penalty of the last paired forward pass (0 when nothing was recorded)."""
        if not self._terms:
            return torch.zeros(())
        total = torch.stack(list(self._terms.values())).sum()
        return total / len(self._terms) if self.norm == "relative" else total

    def loss(self) -> torch.Tensor:
        """``weight * raw_loss()``: add it to the task loss."""
        return self.weight * self.raw_loss()

    def stats(self) -> dict[str, float]:
        """Per-layer terms of the last paired forward pass, ``{layer name: value}`` (floats)."""
        return {name: float(t.detach()) for name, t in self._terms.items()}

    def terms(self) -> dict[str, torch.Tensor]:
        """Per-layer terms of the last paired forward pass, as tensors in the graph."""
        return dict(self._terms)

    def gradient_share(self, task_loss: torch.Tensor, params=None) -> float:
        """``||grad(weight * R)|| / ||grad(task_loss)||`` over ``params`` (default: all trainable).

        Costs two extra backward passes through the retained graph: measure it every few steps.
        """
        params = [p for p in (params if params is not None else self.model.parameters()) if p.requires_grad]
        if not self._terms:
            return 0.0

        def grad_norm(loss):
            grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
            return torch.sqrt(sum(g.float().pow(2).sum() for g in grads if g is not None))

        reg_norm = grad_norm(self.loss()) if self.weight > 0 else torch.zeros(())
        return float(reg_norm / (grad_norm(task_loss) + _EPS))

    def remove(self) -> None:
        """Detach from the model for good; the model is left exactly as it was."""
        for handle in self._handles:
            handle.remove()
        self._handles, self._terms, self._removed = [], {}, True

    def __repr__(self) -> str:
        names = ", ".join(f"{l.name}:{l.rep.name}" for l in self.layers)
        return f"EQReg({self.group.name}, weight={self.weight:g}, norm={self.norm!r}, layers=[{names}])"
