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

What is here: ``component_rows`` (one comparison split by component), ``orientation_summary`` and
``summarize_components`` (per layer: the oriented share of the energy, the error of the oriented part,
the error of the invariant part, the blind flag, a verdict), ``verdict`` and its thresholds
(``ROUND_OFF``, ``EQUIVARIANT``, ``PARTLY``, ``BLIND_SHARE``), used by the figures, the app and the
notebooks, and ``centred``. Nothing here runs a model.
What is not here: running a net to get the maps (``equivariance.equivariance_components``, the tidy
table layer x element x component, and ``RotationView.components``).
"""

from __future__ import annotations

import math
import numbers

import torch

from eqlab.groups import Group
from eqlab.isotypic import block_energies, components

__all__ = ["centred", "component_rows", "orientation_summary", "summarize_components", "verdict",
           "UNRELATED", "ROUND_OFF", "EQUIVARIANT", "PARTLY", "BLIND_SHARE", "NEGLIGIBLE"]

UNRELATED = math.sqrt(2)  # the relative error of two centred, unrelated maps (tests/test_metrics.py measures it)
ROUND_OFF = 0.02  # below: equal to floating-point round-off
EQUIVARIANT = 0.3  # below: the maps agree up to a small residue ("nearly equivariant")
PARTLY = 1.0  # below: partly equivariant; above, as unrelated as two random maps (√2) or anti-correlated
BLIND_SHARE = 0.1  # oriented share of the energy below which a layer is called orientation-blind
NEGLIGIBLE = 1e-10  # a component's centred energy under this fraction of the uncentred maps' is round-off (reads 0)


def centred(y: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Each channel minus its spatial mean (over ``mask`` when given): ``(B, C, H, W)`` -> same shape."""
    if mask is None:
        return y - y.mean(dim=(-2, -1), keepdim=True)
    weight = mask.to(y.dtype)
    mean = (y * weight).sum(dim=(-2, -1), keepdim=True) / weight.sum().clamp_min(1)
    return (y - mean) * weight


def component_rows(a: torch.Tensor, b: torch.Tensor, rep, group: Group, mask: torch.Tensor | None = None) -> list[dict]:
    """The components of one comparison ``A = P_g rot_g f(x)`` against ``B = f(g x)``, both ``(B, C, H, W)``.

    Returns:
        one dict per isotypic component of ``rep``: ``component, oriented, energy, diff, share, value``
        (centred maps, inside ``mask``; see :func:`equivariance_components`). A component whose energy is
        round-off (under ``NEGLIGIBLE`` of the uncentred maps' energy: a uniform image) has ``energy`` and
        ``diff`` 0 and ``share`` / ``value`` NaN ("not measured"), never the ratio of two round-off errors.
    """
    parts = components(rep, group, a.shape[1])
    a, b = a.float(), b.float()
    scale = float(_energy(a, mask) + _energy(b, mask))  # the uncentred maps': what round-off is relative to
    a, b = centred(a, mask), centred(b, mask)
    energy = block_energies(a, parts) + block_energies(b, parts)
    diff = block_energies(a - b, parts)
    rows = []
    for part, e, d in zip(parts, energy.tolist(), diff.tolist()):
        if e <= NEGLIGIBLE * scale:  # round-off (a uniform image's centred maps): no energy, nothing to measure
            e = d = 0.0
        rows.append(dict(component=part.name, oriented=not part.invariant, energy=e, diff=max(d, 0.0)))
    total = sum(row["energy"] for row in rows)
    for row in rows:
        row.update(share=row["energy"] / total if total > 0 else float("nan"), value=_relative(row["diff"],
                                                                                                row["energy"]))
    return rows


def _energy(y: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return (y if mask is None else y * mask.to(y.dtype)).pow(2).sum()


def _relative(diff: float, energy: float) -> float:
    """The relative error from squared norms; a ``diff`` that round-off made slightly negative reads 0."""
    return math.sqrt(max(diff, 0.0) / (energy / 2)) if energy > 0 else float("nan")


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
        ``None`` when it has none, e.g. the trivial representation of an image-valued layer; a layer without
        energy, e.g. on a uniform image, has NaN numbers and the verdict "not measured");
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


def _check_measure(name: str, value, optional: bool = False, high: float = math.inf) -> None:
    """A measured error or share: NaN ("not measured") or a number in ``[0, high]``, up to round-off."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number (NaN: not measured), got {type(value).__name__} {value!r}")
    if value == value and not -1e-6 <= value <= high + 1e-6:
        raise ValueError(f"{name} must be NaN or a number in [0, {high:g}], got {value!r}")


def verdict(error: float, oriented_share: float | None = None, oriented_error: float | None = None) -> str:
    """A few words on a layer, from the same thresholds as its numbers.

    Args:
        error: the relative error of the whole layer (centred).
        oriented_share: the share of its energy that carries orientation; ``None`` for a representation
            without oriented components (an image-valued layer): then only ``error`` is read.
        oriented_error: the relative error of the oriented part.

    Raises:
        TypeError: a value that is not a number.
        ValueError: a negative error (errors are norms) or a share outside [0, 1]; NaN is "not measured".

    Example:
        >>> verdict(0.03, oriented_share=0.01, oriented_error=1.2)[:56]
        'orientation-blind: 1 % of its energy carries orientation'
    """
    _check_measure("error", error)
    _check_measure("oriented_error", oriented_error, optional=True)
    _check_measure("oriented_share", oriented_share, optional=True, high=1.0)
    if oriented_share is None or oriented_share != oriented_share:
        return _word(error)
    percent = f"{100 * min(max(oriented_share, 0.0), 1.0):.0f} %"  # no "-0 %" from a round-off share
    if oriented_share < BLIND_SHARE:
        if error < EQUIVARIANT:
            carried = ("no part of its energy carries orientation" if oriented_error != oriented_error else
                       f"{percent} of its energy carries orientation (its error {oriented_error:.2f})")
            return f"orientation-blind: {carried}; the small error is the invariant part"
        return f"orientation-blind: {percent} of its energy carries orientation; {_word(error)}"
    return f"{_word(oriented_error)} where it carries orientation ({percent} of its energy)"
