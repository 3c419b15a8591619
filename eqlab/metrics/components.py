"""Which equivariance? A layer's error and energy per isotypic component of its representation.

A small layer error can mean two things. A group CNN's fields *carry orientation* and turn with the
input; a field whose |G| channels are equal and isotropic satisfies ``f(g x) = P_g rot_g f(x)`` for
free and carries none (it is *orientation-blind*). The isotypic components of the representation
(``eqlab.isotypic``: for C4's regular fields the DFT along the field -- invariant, sign, frequency
1) tell them apart: each has its own share of the layer's energy and its own relative error.

.. math:: e_\\chi = \\frac{\\|\\Pi_\\chi (A - B)\\|}{\\sqrt{(\\|\\Pi_\\chi A\\|^2 + \\|\\Pi_\\chi B\\|^2) / 2}},
          \\qquad A = P_g \\mathrm{rot}_g f(x),\\ B = f(g x)

Maps are centred (each channel's spatial mean removed, inside the disk for C8) before anything is
measured: a ReLU layer's maps are positive, and uncentred unrelated maps then read 0.7--1.2 instead of
√2 (``UNRELATED``). Centred, two unrelated maps are nearly orthogonal and read about √2; 0 is
equivariant; 2 is ``A = -B``.

What is here: ``equivariance_components`` (the tidy table: layer x element x component),
``orientation_summary`` (per layer: the oriented share of the energy, the error of the oriented part,
the error of the invariant part, the blind flag, a verdict), ``verdict`` and its thresholds
(``ROUND_OFF``, ``EQUIVARIANT``, ``PARTLY``, ``BLIND_SHARE``), used by the figures, the app and the
notebooks, and ``centred``.
What is not here: the per-layer error without components (``equivariance.equivariance_error``).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from eqlab.groups import Group, get_group
from eqlab.isotypic import block_energies, components
from eqlab.metrics.equivariance import _check_input, _evaluating, _layers, centred, layer_maps

__all__ = ["equivariance_components", "component_rows", "orientation_summary", "summarize_components", "verdict",
           "UNRELATED", "ROUND_OFF", "EQUIVARIANT", "PARTLY", "BLIND_SHARE"]

UNRELATED = math.sqrt(2)  # the relative error of two centred, unrelated maps (tests/test_metrics.py measures it)
ROUND_OFF = 0.02  # below: equal to floating-point round-off
EQUIVARIANT = 0.3  # below: the maps agree up to a small residue ("nearly equivariant")
PARTLY = 1.0  # below: partly equivariant; above, as unrelated as two random maps (√2) or anti-correlated
BLIND_SHARE = 0.1  # oriented share of the energy below which a layer is called orientation-blind


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
    chosen = _layers(model, group, layers, reps, layouts, x)
    rows = []
    with _evaluating(model):
        base, _ = layer_maps(model, x, chosen)
        for element in elements:
            rotated, _ = layer_maps(model, group.rotate(x, element), chosen)
            for layer in chosen:
                b = rotated[layer.name]
                a = group.act(base[layer.name], element, layer.rep)
                mask = group.mask(b.shape[-2], b.shape[-1], device=b.device)
                for row in component_rows(a, b, layer.rep, group, mask):
                    rows.append(dict(layer=layer.name, rep=layer.rep.name, element=element,
                                     angle_deg=group.angle_deg(element), **row))
    return rows


def component_rows(a: torch.Tensor, b: torch.Tensor, rep, group: Group, mask: torch.Tensor | None = None) -> list[dict]:
    """The components of one comparison ``A = P_g rot_g f(x)`` against ``B = f(g x)``, both ``(B, C, H, W)``.

    Returns:
        one dict per isotypic component of ``rep``: ``component, oriented, energy, diff, share, value``
        (centred maps, inside ``mask``; see :func:`equivariance_components`).
    """
    parts = components(rep, group, a.shape[1])
    a, b = centred(a.float(), mask), centred(b.float(), mask)
    energy = block_energies(a, parts) + block_energies(b, parts)
    diff = block_energies(a - b, parts)
    total = float(energy.sum())
    return [dict(component=part.name, oriented=not part.invariant, energy=e, diff=d,
                 share=e / total if total > 0 else float("nan"), value=_relative(d, e))
            for part, e, d in zip(parts, energy.tolist(), diff.tolist())]


def _relative(diff: float, energy: float) -> float:
    return math.sqrt(diff / (energy / 2)) if energy > 0 else float("nan")


def orientation_summary(rows: list[dict]) -> list[dict]:
    """Per layer (in the table's order), summed over the elements and components of ``equivariance_components``.

    Returns:
        one dict per layer: ``layer, rep`` and the keys of :func:`summarize_components`.
    """
    layers: dict[str, list[dict]] = {}
    for row in rows:
        layers.setdefault(row["layer"], []).append(row)
    return [dict(layer=name, rep=group[0]["rep"], **summarize_components(group)) for name, group in layers.items()]


def summarize_components(rows: list[dict]) -> dict:
    """The two parts of a layer from its component rows (one comparison or many, summed).

    Returns:
        ``error`` (the whole layer, centred); ``oriented_share`` (the share of the energy in the oriented
        components; 0 for a representation that has none); ``oriented_error`` and ``invariant_error``
        (each part's relative error, NaN when the part is empty); ``blind`` (``True`` when the
        representation has oriented components and they hold less than ``BLIND_SHARE`` of the energy;
        ``None`` when it has none, e.g. the trivial representation of an image-valued layer);
        ``verdict`` (:func:`verdict`).
    """
    sums = {True: [0.0, 0.0], False: [0.0, 0.0]}
    for row in rows:
        sums[row["oriented"]][0] += row["diff"]
        sums[row["oriented"]][1] += row["energy"]
    (d_or, e_or), (d_inv, e_inv) = sums[True], sums[False]
    has_oriented = any(row["oriented"] for row in rows)
    total = e_or + e_inv
    share = e_or / total if total > 0 else float("nan")
    result = dict(error=_relative(d_or + d_inv, total), oriented_share=share, oriented_error=_relative(d_or, e_or),
                  invariant_error=_relative(d_inv, e_inv), blind=(share < BLIND_SHARE) if has_oriented else None)
    result["verdict"] = verdict(result["error"], share if has_oriented else None, result["oriented_error"])
    return result


def _word(value: float) -> str:
    if value != value:  # NaN
        return "not measured"
    if value < ROUND_OFF:
        return "equivariant (to round-off)"
    if value < EQUIVARIANT:
        return "nearly equivariant"
    if value < PARTLY:
        return "partly equivariant"
    if value <= 1.6:
        return f"not equivariant (unrelated maps read ≈ {UNRELATED:.2f})"
    return "not equivariant, anti-correlated (2 = opposite signs)"


def verdict(error: float, oriented_share: float | None = None, oriented_error: float | None = None) -> str:
    """A few words on a layer, from the same thresholds as its numbers.

    Args:
        error: the relative error of the whole layer (centred).
        oriented_share: the share of its energy that carries orientation; ``None`` for a representation
            without oriented components (an image-valued layer): then only ``error`` is read.
        oriented_error: the relative error of the oriented part.

    Example:
        >>> verdict(0.03, oriented_share=0.01, oriented_error=1.2)[:58]
        'orientation-blind: 1 % of its energy carries orientation (
    """
    if oriented_share is None or oriented_share != oriented_share:
        return _word(error)
    percent = f"{100 * oriented_share:.0f} %"
    if oriented_share < BLIND_SHARE:
        if error < EQUIVARIANT:
            return (f"orientation-blind: {percent} of its energy carries orientation (its error {oriented_error:.2f}); "
                    "the small error is the invariant part")
        return f"orientation-blind: {percent} of its energy carries orientation; {_word(error)}"
    return f"{_word(oriented_error)} where it carries orientation ({percent} of its energy)"
