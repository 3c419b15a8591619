"""Image-quality and equivariance metrics.

What is here:
    - ``psnr`` and ``ssim`` with the conventions restoration papers use: images in [0, 1], the Y
      channel of ITU-R BT.601 for RGB (as MATLAB's ``rgb2ycbcr``), an optional border crop. SSIM is
      scikit-image's (Gaussian window, sigma 1.5, Wang et al. 2004 constants).
    - equivariance errors of a model: per layer x group element x kind, at the output, as per-pixel
      maps, and against an arbitrary rotation angle.

The equivariance error of a layer ``f`` for element ``g`` is relative and symmetric:

.. math:: e = \\frac{\\|A - B\\|}{\\sqrt{(\\|A\\|^2 + \\|B\\|^2) / 2}}, \\quad A = P\\, \\mathrm{rot}_g f(x),\\ B = f(g x)

It is 0 for an exactly equivariant layer, about 1.4 for unrelated maps of equal energy, at most 2.
Three kinds choose ``P``: ``"shift"`` the layer's representation, ``"none"`` no channel
permutation, ``"best"`` the smallest error over the permutations of every group element (did the
net learn equivariance with another channel order?). For C8 the norms run over a disk mask.

What is not here: the training penalty (``eqlab.regularizer``; its relative term equals ``e**2 / 2``).
Models are evaluated in eval mode under ``torch.no_grad``; their training flag is restored.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn as nn

from eqlab.groups import Group, Trivial, get_group, rotate_by_angle
from eqlab.regularizer import select_layers

__all__ = [
    "psnr", "ssim", "rgb_to_y", "equivariance_error", "mean_layer_error", "output_equivariance_error",
    "equivariance_error_map", "error_vs_angle", "relative_error", "layer_features", "KINDS",
]

KINDS = ("shift", "none", "best")


# -- image quality ---------------------------------------------------------------------------------

def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    for what, t in (("x", x), ("y", y)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{what} must be a torch.Tensor, got {type(t).__name__}")
        if t.dim() != 4:
            raise ValueError(f"{what} must be (B, C, H, W), got shape {tuple(t.shape)}")
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")


def rgb_to_y(x: torch.Tensor) -> torch.Tensor:
    """Luma of ITU-R BT.601 in [16/255, 235/255], as MATLAB's ``rgb2ycbcr``.

    Args:
        x: ``(B, 3, H, W)`` RGB in [0, 1].

    Returns:
        ``(B, 1, H, W)``.
    """
    weights = torch.tensor([65.481, 128.553, 24.966], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True) / 255.0 + 16.0 / 255.0


def _prepare(x, y, crop_border, y_channel):
    _check_pair(x, y)
    x, y = x.detach().float(), y.detach().float()
    if y_channel and x.shape[1] == 3:
        x, y = rgb_to_y(x), rgb_to_y(y)
    if crop_border:
        if 2 * crop_border >= min(x.shape[-2:]):
            raise ValueError(f"crop_border={crop_border} leaves nothing of a {tuple(x.shape[-2:])} image")
        x = x[..., crop_border:-crop_border, crop_border:-crop_border]
        y = y[..., crop_border:-crop_border, crop_border:-crop_border]
    return x, y


def _reduce(values: torch.Tensor, reduction: str):
    if reduction == "mean":
        return float(values.mean())
    if reduction == "none":
        return values
    raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, crop_border: int = 0,
         y_channel: bool = True, reduction: str = "mean"):
    """Peak signal-to-noise ratio in dB, per image then averaged.

    Args:
        x: ``(B, C, H, W)`` restored images in [0, 1] (not clipped here; clip first if you want).
        y: ``(B, C, H, W)`` references.
        data_range: peak value.
        crop_border: pixels dropped on each side (SR papers crop ``scale``).
        y_channel: for RGB, compare the BT.601 luma only.
        reduction: ``"mean"`` -> float, ``"none"`` -> ``(B,)`` tensor.

    Example:
        >>> y = torch.zeros(1, 1, 8, 8)
        >>> round(psnr(y + 0.1, y), 2)
        20.0
    """
    x, y = _prepare(x, y, crop_border, y_channel)
    mse = (x - y).pow(2).flatten(1).mean(dim=1)
    return _reduce(10 * torch.log10(data_range**2 / mse.clamp_min(1e-12)), reduction)


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, crop_border: int = 0,
         y_channel: bool = True, reduction: str = "mean"):
    """Structural similarity (scikit-image: Gaussian window sigma 1.5, no sample covariance).

    Args and Returns: as :func:`psnr`; channels other than the Y channel are averaged.
    """
    from skimage.metrics import structural_similarity  # the reference implementation, not a copy

    x, y = _prepare(x, y, crop_border, y_channel)
    values = []
    for xi, yi in zip(x.cpu().numpy(), y.cpu().numpy()):
        values.append(np.mean([
            structural_similarity(a, b, data_range=data_range, gaussian_weights=True, sigma=1.5,
                                  use_sample_covariance=False)
            for a, b in zip(xi, yi)
        ]))
    return _reduce(torch.tensor(values, dtype=torch.float64), reduction)


# -- equivariance ----------------------------------------------------------------------------------

def relative_error(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """``||a - b|| / sqrt((||a||^2 + ||b||^2) / 2)``, optionally over a ``(H, W)`` mask."""
    a, b = a.float(), b.float()
    if mask is not None:
        a, b = a * mask, b * mask
    denom = ((a.pow(2).sum() + b.pow(2).sum()) / 2).sqrt()
    return float((a - b).norm() / denom.clamp_min(1e-12))


@contextmanager
def _evaluating(model: nn.Module):
    was_training = model.training
    if was_training:  # an eval-mode model shared by threads is never switched
        model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        if was_training:
            model.train()


def layer_features(model: nn.Module, x: torch.Tensor, layers: list[str]) -> tuple[dict, torch.Tensor]:
    """Run ``model(x)`` once and keep a copy of the output of each named module.

    Only this thread's forward pass is recorded, so several threads may share one model (in eval
    mode) as the Gradio app does. Runs as the model is: wrap in ``torch.no_grad()`` / eval mode
    yourself, or use the error functions below, which do.

    Args:
        model: any model.
        x: its input, e.g. ``(B, C, H, W)``.
        layers: module names as in ``model.named_modules()``.

    Returns:
        ``({name: detached output}, model output)``.
    """
    modules = dict(model.named_modules())
    unknown = [name for name in layers if name not in modules]
    if unknown:
        raise ValueError(f"unknown layer name(s) {unknown}; the model has {[n for n in modules if n][:20]}...")
    features, handles, thread = {}, [], threading.get_ident()
    for name in layers:
        def hook(module, inputs, out, name=name):
            if threading.get_ident() == thread:
                features[name] = out.detach().clone()
        handles.append(modules[name].register_forward_hook(hook))
    try:
        out = model(x)
    finally:
        for handle in handles:
            handle.remove()
    return features, out


_capture = layer_features


def _check_input(x: torch.Tensor, group: Group, elements) -> list[int]:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"x must be (B, C, H, W), got shape {tuple(x.shape)}")
    elements = [e for e in group.elements() if e != group.identity] if elements is None else list(elements)
    for element in elements:
        if group.needs_square(element) and x.shape[-2] != x.shape[-1]:
            raise ValueError(f"{group.describe(element)} of {group.name} needs a square x, got shape {tuple(x.shape)}")
    return elements


def _channels_first(y: torch.Tensor, channel_dim: int) -> torch.Tensor:
    return y.movedim(-1, 1) if channel_dim == -1 else y


def equivariance_error(model: nn.Module, x: torch.Tensor, group: Group | str = "C4", layers="auto", reps=None,
                       elements=None, kinds=KINDS) -> list[dict]:
    """Equivariance error of every chosen layer, for every element and kind.

    Args:
        model: any model; run in eval mode without gradients.
        x: ``(B, C, H, W)`` inputs (square for quarter turns).
        group: the group.
        layers, reps: which layers and representations (see ``eqlab.regularizer.select_layers``).
        elements: elements to test; default every non-identity element.
        kinds: subset of ``("shift", "none", "best")``.

    Returns:
        a tidy table: one dict per (layer, element, kind) with keys
        ``layer, rep, element, angle_deg, kind, value``.
    """
    group = get_group(group)
    elements = _check_input(x, group, elements)
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise ValueError(f"unknown kind(s) {bad}; expected a subset of {KINDS}")
    chosen = select_layers(model, group, layers, reps)
    names = [layer.name for layer in chosen]
    rows = []
    with _evaluating(model):
        base, _ = _capture(model, x, names)
        for element in elements:
            rotated, _ = _capture(model, group.rotate(x, element), names)
            for layer in chosen:
                y = _channels_first(base[layer.name], layer.channel_dim)
                b = _channels_first(rotated[layer.name], layer.channel_dim)
                spatial = group.rotate(y, element)
                mask = group.mask(b.shape[-2], b.shape[-1], device=b.device)
                channels = y.shape[1]
                for kind in kinds:
                    if kind == "none":
                        value = relative_error(spatial, b, mask)
                    elif kind == "shift":
                        value = relative_error(spatial.index_select(1, layer.rep.permutation(group, element, channels, y.device)), b, mask)
                    else:
                        value = min(
                            relative_error(spatial.index_select(1, layer.rep.permutation(group, h, channels, y.device)), b, mask)
                            for h in group.elements()
                        )
                    rows.append(dict(layer=layer.name, rep=layer.rep.name, element=element,
                                     angle_deg=group.angle_deg(element), kind=kind, value=value))
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
        out = model(x)
        for element in elements:
            b = model(group.rotate(x, element))
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
        rep: the layer's representation (default: as ``select_layers`` chooses).
        kind: ``"shift"`` or ``"none"``.

    Returns:
        ``(B, 1, H', W')`` map, zero outside the mask for C8.
    """
    group = get_group(group)
    _check_input(x, group, [element])
    if kind not in ("shift", "none"):
        raise ValueError(f"kind must be 'shift' or 'none' for a map, got {kind!r}")
    with _evaluating(model):
        if layer is None:
            a, b = group.rotate(model(x), element), model(group.rotate(x, element))
        else:
            (chosen,) = select_layers(model, group, [layer], {layer: rep} if rep is not None else None)
            y, _ = _capture(model, x, [layer])
            z, _ = _capture(model, group.rotate(x, element), [layer])
            y, b = _channels_first(y[layer], chosen.channel_dim), _channels_first(z[layer], chosen.channel_dim)
            act_rep = chosen.rep if kind == "shift" else Trivial()
            a = group.act(y, element, act_rep)
    diff = (a.float() - b.float()).abs().mean(dim=1, keepdim=True)
    mask = group.mask(diff.shape[-2], diff.shape[-1], device=diff.device)
    return diff * mask if mask is not None else diff


def error_vs_angle(model: nn.Module, x: torch.Tensor, angles_deg) -> list[dict]:
    """Output equivariance error for arbitrary angles, with bilinear rotation and a disk mask.

    Multiples of 90 degrees use ``torch.rot90`` (exact); other angles interpolate, so even an
    exactly equivariant model shows an error there. ``floor`` is that interpolation floor for the
    input itself: the error of rotating ``x`` by the angle and back (bilinear both ways).

    Returns:
        one dict per angle: ``angle_deg, value, floor``.
    """
    _check_input(x, get_group("C4"), [])
    if x.shape[-2] != x.shape[-1]:
        raise ValueError(f"error_vs_angle needs a square x, got shape {tuple(x.shape)}")
    disk = get_group("C8").mask(x.shape[-2], x.shape[-1], device=x.device)
    rows = []
    with _evaluating(model):
        out = model(x)
        for angle in angles_deg:
            angle = float(angle)
            if angle % 90 == 0:
                k = int(angle // 90) % 4
                rot = lambda t, k=k: torch.rot90(t, k, dims=(-2, -1))  # noqa: E731
                back = lambda t, k=k: torch.rot90(t, -k, dims=(-2, -1))  # noqa: E731
            else:
                rot = lambda t, a=angle: rotate_by_angle(t, a)  # noqa: E731
                back = lambda t, a=angle: rotate_by_angle(t, -a)  # noqa: E731
            b = model(rot(x))
            mask = get_group("C8").mask(b.shape[-2], b.shape[-1], device=b.device)
            rows.append(dict(angle_deg=angle, value=relative_error(rot(out), b, mask),
                             floor=relative_error(back(rot(x)), x, disk)))
    return rows
