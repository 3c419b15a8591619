"""Does a degradation commute with a symmetry group? ``D(g x)`` versus ``g D(x)``.

EQ-Reg is motivated by restoration problems whose degradation treats every orientation alike:
if ``D(g x) = g D(x)`` for all ``g``, the ideal restorer is equivariant too. This module measures
that premise for a given operator.

What is here: ``degradation_commutes(degradation, group, x, ...)``.

What is not here: the operators (``eqlab.data.degrade``) and the equivariance of networks
(``eqlab.metrics``).

Noise: a noisy ``D`` draws fresh noise at every call, so ``D(g x)`` and ``g D(x)`` never agree
pixel for pixel, yet i.i.d. Gaussian noise is rotation-invariant *in distribution* (``g n`` has
the same law as ``n``). Two readings are offered:

    - ``noise="off"`` (default): measure the noise-free part ``D.deterministic()``. This is the
      question that matters for equivariance. For ``GaussianNoise`` the noise-free part is the
      identity, so the error is 0: noise commutes in distribution.
    - ``noise="same"``: run the noisy operator twice with the *same* noise (a clone of
      ``generator`` for each call). The number then also contains ``||n - g n||``, the mismatch
      of one noise realisation with its rotated self, about ``sqrt(2) sigma / 255`` per pixel.
      It is large even for a degradation that commutes in distribution; it shows why
      realisation-level comparisons of noisy images are meaningless.
"""

from __future__ import annotations

import torch

__all__ = ["degradation_commutes"]


def _clone(generator: torch.Generator) -> torch.Generator:
    twin = torch.Generator(device=generator.device)
    twin.set_state(generator.get_state())
    return twin


def degradation_commutes(
    degradation,
    group,
    x: torch.Tensor,
    generator: torch.Generator | None = None,
    noise: str = "off",
) -> dict[int, float]:
    r"""Relative commutation error of a degradation with every element of a group.

    .. math::

        e(g) = \frac{\| D(g x) - g D(x) \|_2}{\| g D(x) \|_2}

    computed over the whole batch. For groups whose action is interpolated (``C8``), both terms
    are multiplied by ``group.mask(H', W')`` first, so the corners lost by the rotation do not
    count; the remaining error still includes the interpolation error of the group action.

    Args:
        degradation: a callable ``D(y, generator=None) -> x`` such as ``GaussianBlur``; if it has
            ``deterministic()``, that is used when ``noise="off"``, otherwise it is assumed to be
            deterministic.
        group: an ``eqlab.groups`` group (``C4()``, ``D4()``, ...), used through
            ``group.elements()``, ``group.rotate(x, element)`` and ``group.mask(h, w)``.
        x: ``(B, C, H, W)`` clean batch in ``[0, 1]`` (square for ``C8``).
        generator: random generator; required for ``noise="same"``, unused for ``"off"``.
        noise: ``"off"`` or ``"same"`` (see the module docstring).

    Returns:
        ``{element: relative error}`` for every element, identity (0.0) included.

    Example:
        >>> from eqlab.groups import C4
        >>> from eqlab.data import GaussianBlur
        >>> errs = degradation_commutes(GaussianBlur(1.5), C4(), torch.rand(1, 1, 32, 32))
        >>> max(errs.values()) < 1e-5
        True
    """
    if noise not in ("off", "same"):
        raise ValueError(f"noise must be 'off' or 'same', got {noise!r}")
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a (B, C, H, W) tensor, got {shape}")
    if noise == "same":
        if generator is None:
            raise ValueError("noise='same' needs a torch.Generator to replay the same noise, got None")

        def apply(y: torch.Tensor) -> torch.Tensor:
            return degradation(y, generator=_clone(generator))
    else:
        op = degradation.deterministic() if hasattr(degradation, "deterministic") else degradation

        def apply(y: torch.Tensor) -> torch.Tensor:
            return op(y, generator=None)

    with torch.no_grad():
        dx = apply(x)
        errors = {}
        for element in group.elements():
            lhs = apply(group.rotate(x, element))  # D(g x)
            rhs = group.rotate(dx, element)  # g D(x)
            mask = group.mask(*rhs.shape[-2:], device=rhs.device) if hasattr(group, "mask") else None
            if mask is not None:
                lhs, rhs = lhs * mask, rhs * mask
            if lhs.shape != rhs.shape:
                raise ValueError(
                    f"D(g x) has shape {tuple(lhs.shape)} but g D(x) has {tuple(rhs.shape)} for element "
                    f"{element}; use a square x"
                )
            errors[element] = float((lhs - rhs).norm() / rhs.norm().clamp_min(1e-12))
    return errors
