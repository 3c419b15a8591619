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
the error of the invariant part, the blind flag, a verdict) and ``centred``. Nothing here runs a model.
The verdict and its thresholds (``EXACT``, ``EQUIVARIANT``, ``PARTLY``, ``BLIND_SHARE``) live in
``eqlab.metrics.words`` with every other sentence made from a number; they are re-exported here.
What is not here: running a net to get the maps (``equivariance.equivariance_components``, the tidy
table layer x element x component, and ``RotationView.components``).
"""

from __future__ import annotations

import math

import torch

from eqlab.groups import Group
from eqlab.isotypic import block_energies, components
from eqlab.metrics.words import BLIND_SHARE, EQUIVARIANT, EXACT, PARTLY, UNRELATED, is_blind, verdict

__all__ = ["centred", "component_rows", "orientation_summary", "summarize_components", "verdict",
           "UNRELATED", "EXACT", "EQUIVARIANT", "PARTLY", "BLIND_SHARE", "NEGLIGIBLE"]

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
        representation has oriented components, they hold less than ``BLIND_SHARE`` of the energy and the
        layer is not exactly equivariant, ``eqlab.metrics.words.is_blind``; ``None`` when it has none, e.g.
        the trivial representation of an image-valued layer; a layer without energy, e.g. on a uniform image,
        has NaN numbers and the verdict "not measured"); ``verdict`` (``eqlab.metrics.words.verdict``).
    """
    sums = {True: [0.0, 0.0], False: [0.0, 0.0]}
    for row in rows:
        sums[row["oriented"]][0] += row["diff"]
        sums[row["oriented"]][1] += row["energy"]
    (d_or, e_or), (d_inv, e_inv) = sums[True], sums[False]
    has_oriented = any(row["oriented"] for row in rows)
    total = e_or + e_inv
    share = e_or / total if total > 0 else float("nan")
    error = _relative(d_or + d_inv, total)
    oriented = share if has_oriented else None
    return dict(error=error, oriented_share=share, oriented_error=_relative(d_or, e_or),
                invariant_error=_relative(d_inv, e_inv), blind=is_blind(error, oriented),
                verdict=verdict(error, oriented, _relative(d_or, e_or)))
