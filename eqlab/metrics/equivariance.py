"""Equivariance of a trained (or untrained) net: per layer, at the output, per pixel, per angle.

The equivariance error of a layer ``f`` for element ``g`` is relative and symmetric:

.. math:: e = \\frac{\\|A - B\\|}{\\sqrt{(\\|A\\|^2 + \\|B\\|^2) / 2}},
          \\quad A = P\\, \\mathrm{rot}_g f(x),\\ B = f(g x)

Layer maps are *centred* first (each channel's spatial mean removed, inside the disk for C8), so
the scale reads true: 0 for an exactly equivariant layer, about 1.41 (the square root of 2) for two
unrelated maps (centred, they are nearly orthogonal), at most 2 (``A = -B``). Uncentred, a ReLU
layer's positive maps read only 0.7--1.2 when unrelated (``centre=False`` gives that number; the
output-level error compares images and is not centred). The error of a whole layer does not say
*which* equivariance: a field whose channels are all equal is equivariant for free;
``eqlab.metrics.components`` splits it by isotypic component. Three kinds choose ``P``: ``"shift"`` the layer's
representation, ``"none"`` no channel permutation, ``"best"`` the smallest error over the
permutations of every group element (did the net learn equivariance with another channel order?).
For C8 the norms run over a disk mask. The training penalty's relative term is ``e**2 / 2``.

Layers are chosen and read exactly as EQ-Reg chooses and reads them (``eqlab.selection``, with
the layouts of ``eqlab.layouts``), probed in eval mode: the layers that run at test time. Models
run in eval mode under ``torch.no_grad`` (their training flag is restored) and every forward gets a
copy of the input, so a net that scales its input in place cannot change the caller's tensor.

What is here: ``equivariance_error`` (the tidy table), ``equivariance_components`` (the same, per
isotypic component: which equivariance), ``mean_layer_error``,
``output_equivariance_error``, ``equivariance_error_map``, ``error_vs_angle`` (with the
interpolation floor), ``rotation_view`` (everything a rotation panel shows, for ``eqlab.viz`` and
the app), ``layer_features`` / ``layer_maps`` (the one feature capture of the kit),
``viewable_layers`` and ``relative_error``.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from eqlab.data.kernels import filter2d, gaussian_kernel
from eqlab.groups import Group, Representation, Trivial, disk_mask, get_group, rotate_by_angle
from eqlab.metrics.components import centred, component_rows, summarize_components
from eqlab.metrics.quality import check_images
from eqlab.modes import evaluation
from eqlab.selection import Layer, Selection, cached_select

__all__ = ["equivariance_components", "relative_error", "layer_features", "layer_maps", "viewable_layers",
           "equivariance_error", "mean_layer_error", "output_equivariance_error", "equivariance_error_map",
           "error_vs_angle", "rotation_view", "RotationView", "KINDS", "FLOOR_SIGMA"]

KINDS = ("shift", "none", "best")
FLOOR_SIGMA = 1.0  # px: the isotropic blur whose measured error is the interpolation floor of error_vs_angle


def relative_error(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """``||a - b|| / sqrt((||a||^2 + ||b||^2) / 2)``, optionally over a ``(H, W)`` mask.

    ``a`` and ``b`` must have the same shape (no broadcasting: a map compared with a smaller one is a
    mistake, not a number). Two all-zero maps read 0. NaN in either map gives NaN (reported, not hidden).

    Raises:
        TypeError: a non-tensor.
        ValueError: shapes that differ, an empty map, or a mask that is not ``(H, W)`` of the maps.
    """
    for what, t in (("a", a), ("b", b)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{what} must be a torch.Tensor, got {type(t).__name__}")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.numel() == 0:
        raise ValueError(f"a and b are empty: shape {tuple(a.shape)}")
    if mask is not None and (a.dim() < 2 or tuple(mask.shape) != tuple(a.shape[-2:])):
        raise ValueError(f"mask must be (H, W) = {tuple(a.shape[-2:])} of the maps, got {tuple(mask.shape)}")
    a, b = a.float(), b.float()
    if mask is not None:
        a, b = a * mask, b * mask
    denom = ((a.pow(2).sum() + b.pow(2).sum()) / 2).sqrt()
    return float((a - b).norm() / denom.clamp_min(1e-12))


@contextmanager
def _evaluating(model: nn.Module):
    """Eval mode without gradients; every submodule's own mode is restored (``eqlab.modes.evaluation``)."""
    with evaluation(model), torch.no_grad():
        yield


def _output(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = model(x.clone())  # a copy: some nets scale their input in place (RCAN: x *= 255)
    if not isinstance(out, torch.Tensor):
        raise ValueError(f"{type(model).__name__} returned a {type(out).__name__}, not a tensor; measure a module "
                         "whose output is the image (for escnn, the torch module of its export())")
    return out


def layer_features(model: nn.Module, x: torch.Tensor, layers: list[str]) -> tuple[dict, torch.Tensor]:
    """Run ``model(x)`` once and keep a copy of the (first) output of each named module.

    Only this thread's forward pass is recorded, so several threads may share one model (in eval
    mode) as the Gradio app does. Runs as the model is: wrap in ``torch.no_grad()`` / eval mode
    yourself, or use the error functions below, which do. The caller's ``x`` is never changed.

    Args:
        model: any model.
        x: its input, e.g. ``(B, C, H, W)``.
        layers: module names as in ``model.named_modules()``.

    Returns:
        ``({name: detached output, as the layer returned it}, model output)``.

    Raises:
        ValueError: an unknown name, or a layer that did not run.
    """
    modules = dict(model.named_modules())
    unknown = [name for name in layers if name not in modules]
    if unknown:
        raise ValueError(f"unknown layer name(s) {unknown}; the model has {[n for n in modules if n][:20]}...")
    features, handles, thread = {}, [], threading.get_ident()
    for name in layers:
        def hook(module, inputs, out, name=name):
            if threading.get_ident() == thread and name not in features:
                features[name] = out.detach().clone()  # a clone: a following in-place ReLU would overwrite it
        handles.append(modules[name].register_forward_hook(hook))
    try:
        out = _output(model, x)
    finally:
        for handle in handles:
            handle.remove()
    missing = [name for name in layers if name not in features]
    if missing:
        raise ValueError(f"layer(s) {missing} did not run in this forward pass (train-only branches?)")
    return features, out


def layer_maps(model: nn.Module, x: torch.Tensor, layers: list[Layer]) -> tuple[dict, torch.Tensor]:
    """``layer_features`` read through each layer's layout: ``({name: (B, C, H, W) map}, model output)``."""
    features, out = layer_features(model, x, [layer.name for layer in layers])
    aspect = x.shape[-2] / x.shape[-1]
    return {layer.name: layer.layout.to_map(features[layer.name], x.shape[0], aspect).float()
            for layer in layers}, out


def viewable_layers(model: nn.Module, group: Group | str = "C4") -> tuple[Selection, str]:
    """The layers a figure or the app can show for ``group``, and a note (``""`` when there is none).

    Normally EQ-Reg's own selection (probed in eval mode). A net whose layers carry no
    representation of the group (a P4 group CNN under D4 or C8) is shown with its C4 layers
    compared without a channel permutation, and the note says so.
    """
    group = get_group(group)
    try:
        return cached_select(model, group, mode="eval"), ""
    except ValueError as err:
        try:
            names = cached_select(model, "C4", mode="eval").names()
        except ValueError:
            raise err from None
        note = (f"this net's channels carry no {group.name} representation (a P4 group CNN is built for C4): "
                "its layers are compared without a channel permutation")
        return cached_select(model, group, layers=names, reps=Trivial(), mode="eval"), note


def _check_input(x: torch.Tensor, group: Group, elements) -> list[int]:
    check_images(x, "x")  # an empty batch would read 0 for every layer: "perfectly equivariant"
    elements = [e for e in group.elements() if e != group.identity] if elements is None else list(elements)
    for element in elements:
        if group.needs_square(element) and x.shape[-2] != x.shape[-1]:
            raise ValueError(f"{group.describe(element)} of {group.name} needs a square x, got shape {tuple(x.shape)}")
    return elements


def _layers(model, group, layers, reps, layouts, x) -> list[Layer]:
    return cached_select(model, group, layers, reps, layouts, example=x.shape[1], mode="eval").layers


def _comparisons(model: nn.Module, x: torch.Tensor, group: Group, elements, chosen: list[Layer]):
    """For every element and chosen layer: ``(element, layer, f(x), f(g x))`` as maps ``(B, C, H, W)``.

    The model runs once on ``x`` and once per element, in eval mode without gradients.
    """
    with _evaluating(model):
        base, _ = layer_maps(model, x, chosen)
        for element in elements:
            rotated, _ = layer_maps(model, group.rotate(x, element), chosen)
            for layer in chosen:
                yield element, layer, base[layer.name], rotated[layer.name]


def equivariance_error(model: nn.Module, x: torch.Tensor, group: Group | str = "C4", layers="auto", reps=None,
                       elements=None, kinds=KINDS, layouts=None, centre: bool = True) -> list[dict]:
    """Equivariance error of every chosen layer, for every element and kind.

    Args:
        model: any model; run in eval mode without gradients.
        x: ``(B, C, H, W)`` inputs (square for quarter turns).
        group: the group.
        layers, reps, layouts: which layers, representations and layouts (``eqlab.selection.select``).
        elements: elements to test; default every non-identity element.
        kinds: subset of ``("shift", "none", "best")``.
        centre: remove each channel's spatial mean first (the default: unrelated maps then read √2).

    Returns:
        a tidy table: one dict per (layer, element, kind) with keys
        ``layer, rep, element, angle_deg, kind, value``.
    """
    group = get_group(group)
    elements = _check_input(x, group, elements)
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise ValueError(f"unknown kind(s) {bad}; expected a subset of {KINDS}")
    rows = []
    chosen = _layers(model, group, layers, reps, layouts, x)
    for element, layer, y, b in _comparisons(model, x, group, elements, chosen):
        spatial = group.rotate(y, element)
        mask = group.mask(b.shape[-2], b.shape[-1], device=b.device)
        if centre:
            spatial, b = centred(spatial, mask), centred(b, mask)
        channels = y.shape[1]

        def error(h, layer=layer, spatial=spatial, b=b, mask=mask, channels=channels):
            return relative_error(spatial.index_select(1, layer.rep.permutation(group, h, channels, b.device)),
                                  b, mask)

        for kind in kinds:
            value = relative_error(spatial, b, mask) if kind == "none" else error(element) \
                if kind == "shift" else min(error(h) for h in group.elements())
            rows.append(dict(layer=layer.name, rep=layer.rep.name, element=element,
                             angle_deg=group.angle_deg(element), kind=kind, value=value))
    return rows


def equivariance_components(model: nn.Module, x: torch.Tensor, group: Group | str = "C4", layers="auto",
                            reps=None, elements=None, layouts=None) -> list[dict]:
    """Energy and relative error of every isotypic component, per chosen layer and element.

    Args:
        model: any model; run in eval mode without gradients.
        x: ``(B, C, H, W)`` inputs (square for quarter turns).
        group: the group.
        layers, reps, layouts: which layers (``eqlab.selection.select``; probed in eval mode).
        elements: elements to test; default every non-identity element.

    Returns:
        a tidy table, one dict per (layer, element, component): ``layer, rep, element, angle_deg,
        component, oriented`` (every component but the invariant one), ``energy``
        (``‖Π A‖² + ‖Π B‖²``, centred maps), ``diff`` (``‖Π (A - B)‖²``), ``share`` (``energy`` over
        the layer's energy for that element; the shares of a layer and element add up to 1) and
        ``value`` (the component's relative error). Sums of ``diff`` and ``energy`` over components
        are the whole layer's (the projectors are orthogonal).

    Example:
        >>> from eqlab.models import build
        >>> rows = equivariance_components(build("dncnn", features=8, depth=3), torch.rand(1, 1, 16, 16))
        >>> sorted({r["component"] for r in rows})
        ['frequency 1', 'invariant', 'sign']
    """
    group = get_group(group)
    elements = _check_input(x, group, elements)
    rows = []
    chosen = _layers(model, group, layers, reps, layouts, x)
    for element, layer, y, b in _comparisons(model, x, group, elements, chosen):
        a = group.act(y, element, layer.rep)
        mask = group.mask(b.shape[-2], b.shape[-1], device=b.device)
        for row in component_rows(a, b, layer.rep, group, mask):
            rows.append(dict(layer=layer.name, rep=layer.rep.name, element=element,
                             angle_deg=group.angle_deg(element), **row))
    return rows


def mean_layer_error(rows: list[dict], kind: str = "shift") -> float:
    """Mean of ``value`` over the rows of one kind (all layers and elements)."""
    values = [r["value"] for r in rows if r["kind"] == kind]
    if not values:
        raise ValueError(f"no rows of kind {kind!r}")
    return float(np.mean(values))


def output_equivariance_error(model: nn.Module, x: torch.Tensor, group: Group | str = "C4",
                              elements=None) -> dict[int, float]:
    """``{element: e}`` comparing ``model(g x)`` with ``g model(x)`` (trivial representation).

    Args:
        model: an image-to-image model.
        x: ``(B, C, H, W)`` inputs.
    """
    group = get_group(group)
    elements = _check_input(x, group, elements)
    errors = {}
    with _evaluating(model):
        out = _output(model, x)
        for element in elements:
            b = _output(model, group.rotate(x, element))
            mask = group.mask(b.shape[-2], b.shape[-1], device=b.device)
            errors[element] = relative_error(group.rotate(out, element), b, mask)
    return errors


def equivariance_error_map(model: nn.Module, x: torch.Tensor, group: Group | str, element: int,
                           layer: str | None = None, rep=None, kind: str = "shift") -> torch.Tensor:
    """Per-pixel error ``|A - B|`` averaged over channels, in the frame of the rotated input.

    Args:
        model: the model.
        x: ``(B, C, H, W)``.
        group, element: the transformation.
        layer: a module name, or ``None`` for the output (trivial representation).
        rep: the layer's representation (default: as the selection chooses).
        kind: ``"shift"`` or ``"none"``.

    Returns:
        ``(B, 1, H', W')`` map, zero outside the mask for C8.
    """
    group = get_group(group)
    _check_input(x, group, [element])
    if kind not in ("shift", "none"):
        raise ValueError(f"kind must be 'shift' or 'none' for a map, got {kind!r}")
    if layer is None:
        with _evaluating(model):
            a, b = group.rotate(_output(model, x), element), _output(model, group.rotate(x, element))
    else:
        view = rotation_view(model, x, group, element, layer, rep)
        a, b = (view.shifted if kind == "shift" else view.rotated), view.rotated_input
    diff = (a.float() - b.float()).abs().mean(dim=1, keepdim=True)
    mask = group.mask(diff.shape[-2], diff.shape[-1], device=diff.device)
    return diff * mask if mask is not None else diff


def error_vs_angle(model: nn.Module, x: torch.Tensor, angles_deg) -> list[dict]:
    """Output equivariance error for arbitrary angles, with ``rotate_by_angle`` and a disk mask.

    Multiples of 90 degrees are exact; other angles interpolate, so even an exactly equivariant
    model shows an error there. ``floor`` is the same measurement for an operation that is
    rotation-equivariant before discretisation, an isotropic Gaussian blur of ``FLOOR_SIGMA`` px:
    what interpolation alone costs a smooth, equivariant map (a net's curve can lie below it only
    by being smoother than the blur).

    Returns:
        one dict per angle: ``angle_deg, value, floor``.
    """
    _check_input(x, get_group("C4"), [])
    if x.shape[-2] != x.shape[-1]:
        raise ValueError(f"error_vs_angle needs a square x, got shape {tuple(x.shape)}")
    kernel = gaussian_kernel(FLOOR_SIGMA)
    rows = []
    with _evaluating(model):
        out = _output(model, x)
        blurred = filter2d(x.float(), kernel)
        for angle in angles_deg:
            angle = float(angle)
            b = _output(model, rotate_by_angle(x, angle))
            mask = disk_mask(b.shape[-2], b.shape[-1], device=b.device) if angle % 90 else None
            at_input = disk_mask(x.shape[-2], x.shape[-1], device=x.device) if angle % 90 else None
            floor = relative_error(rotate_by_angle(blurred, angle), filter2d(rotate_by_angle(x.float(), angle), kernel),
                                   at_input)  # the input's size: an SR net's output is larger
            rows.append(dict(angle_deg=angle, value=relative_error(rotate_by_angle(out, angle), b, mask), floor=floor))
    return rows


@dataclass
class RotationView:
    """One layer under one group element: what a rotation panel shows (all maps ``(B, C, H, W)``)."""

    layer: Layer
    features: torch.Tensor  # f(x)
    rotated: torch.Tensor  # rot_g f(x)
    shifted: torch.Tensor  # P_g rot_g f(x)
    rotated_input: torch.Tensor  # f(g x)
    index: torch.Tensor  # P_g as a channel index: shifted[:, c] = rotated[:, index[c]]
    mask: torch.Tensor | None  # where the comparison looks (C8), else None
    with_shift: float  # relative error with P_g (centred maps)
    without: float  # relative error without a channel permutation (centred maps)
    group: Group | None = None  # the group of the comparison

    def components(self) -> list[dict]:
        """Energy share and relative error per isotypic component of the layer's representation.

        Returns:
            one dict per component: ``component, oriented, energy, diff, share, value``
            (``eqlab.metrics.components``); their ``energy`` and ``diff`` add up to the layer's.
        """
        return component_rows(self.shifted, self.rotated_input, self.layer.rep, self.group, self.mask)

    def summary(self) -> dict:
        """This view's two parts: ``error``, ``oriented_share``, ``oriented_error``, ``invariant_error``, ``blind``,
        ``verdict`` (``eqlab.metrics.components.summarize_components``)."""
        return summarize_components(self.components())

    @property
    def difference(self) -> torch.Tensor:
        """``|P_g rot_g f(x) - f(g x)|``, zero outside the mask."""
        diff = (self.shifted - self.rotated_input).abs()
        return diff * self.mask if self.mask is not None else diff


def rotation_view(model: nn.Module, x: torch.Tensor, group: Group | str, element: int, layer: str,
                  rep: Representation | None = None) -> RotationView:
    """Does rotating the input rotate (and permute) one layer's feature maps? Everything to show it.

    Args:
        model: any model; run in eval mode without gradients.
        x: ``(B, C, H, W)`` input (square for quarter turns).
        group, element: the transformation ``g``.
        layer: a module name among ``viewable_layers(model, group)``.
        rep: the representation to test; default the layer's own.

    Raises:
        ValueError: an unknown layer (the message lists the viewable ones) or a non-square ``x``.
    """
    group = get_group(group)
    _check_input(x, group, [element])
    selection, _ = viewable_layers(model, group)
    chosen = next((layer_ for layer_ in selection if layer_.name == layer), None)
    if chosen is None:
        what = "cannot be shown" if layer in dict(model.named_modules()) else "is an unknown layer name"
        raise ValueError(f"layer {layer!r} {what} for {type(model).__name__}; viewable layers: {selection.names()}")
    if rep is not None:
        chosen = Layer(chosen.name, rep, chosen.layout, chosen.role, chosen.channels)
    with _evaluating(model):
        y = layer_maps(model, x, [chosen])[0][chosen.name]  # (B, C, H, W)
        z = layer_maps(model, group.rotate(x, element), [chosen])[0][chosen.name]
    spatial = group.rotate(y, element)
    index = chosen.rep.permutation(group, element, y.shape[1], device=y.device)
    shifted = spatial.index_select(1, index)
    if shifted.shape != z.shape:
        raise ValueError(f"layer {layer!r}: rotated features {tuple(shifted.shape)} do not match the features of "
                         f"the rotated input {tuple(z.shape)}; use a square x")
    mask = group.mask(z.shape[-2], z.shape[-1], device=z.device)
    a, b = centred(shifted, mask), centred(z, mask)
    return RotationView(chosen, y, spatial, shifted, z, index, mask, relative_error(a, b, mask),
                        relative_error(centred(spatial, mask), b, mask), group)
