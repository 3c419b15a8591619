"""Plumbing shared by the eqlab restoration nets: a base class, input checks, representations.

What is here:
    - ``RestorationNet``: the small contract every model in ``eqlab.models`` keeps
      (``name``, ``config``, ``equivariance_reps``).
    - ``check_image``: the one input check, so every model raises the same ``ValueError``.
    - ``p4_reps``: the representations a strict P4 layer carries for a given group.
    - ``validate_reps``: names exist and channel counts fit the representation.

What is not here: the models themselves (one file each) and the registry (``registry.py``).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..groups import C2, C4, Group, Permutation, Regular, Representation, Trivial

__all__ = ["RestorationNet", "check_image", "check_int", "out_channels", "p4_reps", "validate_reps"]


class RestorationNet(nn.Module):
    """Base class: an image-to-image net that tells the regularizer which layers to hook.

    Attributes:
        name: registry name (``"dncnn"``, ...), set by ``eqlab.models.register``.
        config: the constructor's keyword arguments; ``build(model.name, **model.config)``
            rebuilds the same architecture (for checkpoints).
    """

    name: str = ""
    config: dict

    def equivariance_reps(self, group: Group) -> dict[str, Representation]:
        """``{module name: representation}`` of the layers whose outputs EQ-Reg should constrain.

        Names are as in ``self.named_modules()``; the outputs hooked are those of the modules
        themselves (pre-activation). ``nn.Conv2d``-like outputs are ``(B, C, H, W)``;
        Layouts are found by EQ-Reg's probe (``eqlab.selection``). A net that does not override this
        method (``eqlab.models.thirdparty``) leaves the choice of layers to the probe as well.
        """
        raise NotImplementedError


class PredictedNoise(nn.Module):
    """``n(x) = x - f(x)``: the part of a residual restorer that is not the identity (what it removes).

    A denoiser's output is mostly its input, which rotates exactly; measuring ``PredictedNoise(net)``
    looks at what the net itself adds (``metrics.output_equivariance_error``, ``error_vs_angle``).
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x - net(x)`` for ``x: (B, C, H, W)``; the output has the input's shape."""
        return x - self.net(x)


def check_int(value, what: str, minimum: int = 1) -> int:
    """``value`` as an int ``>= minimum``, else ``TypeError``/``ValueError`` naming it."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{what} must be >= {minimum}, got {value}")
    return value


def check_image(x: torch.Tensor, channels: int, model: str, multiple: int = 1) -> None:
    """Raise unless ``x`` is ``(B, channels, H, W)`` with ``H`` and ``W`` divisible by ``multiple``.

    Args:
        x: the model input.
        channels: image channels the model was built for.
        model: class name, used in the message.
        multiple: required divisor of ``H`` and ``W`` (1 for any size).
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{model}: x must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(f"{model}: expected x of shape (B, {channels}, H, W), got {tuple(x.shape)}")
    if x.shape[-2] % multiple or x.shape[-1] % multiple:
        raise ValueError(
            f"{model}: H and W must be divisible by {multiple}, got x of shape {tuple(x.shape)}"
        )


def out_channels(module: nn.Module) -> int:
    """Output channels of a conv, a linear or a strict P4 layer (``fields * 4``)."""
    for attr in ("out_channels", "out_features"):
        if hasattr(module, attr):
            return int(getattr(module, attr))
    for attr in ("out_fields", "fields"):
        if hasattr(module, attr):
            return 4 * int(getattr(module, attr))
    raise TypeError(f"cannot tell the output channels of a {type(module).__name__}")


# The regular representation of C4 restricted to its subgroup C2 = {0, 180 degrees}: a half turn
# shifts each field of 4 orientations by 2. (C2's own Regular() would pair channels (0, 1), (2, 3),
# which is not what a P4 layer does.)
_P4_AS_C2 = Permutation(((0, 1, 2, 3), (2, 3, 0, 1)))


def p4_reps(group: Group) -> tuple[Representation, Representation]:
    """``(hidden, output)`` representations of strict P4 layers for ``group``.

    P4 layers are equivariant to C4 and to its subgroup C2, nothing else: reflections (D4) and
    45-degree turns (C8) have no representation on their channels.

    Returns:
        ``(Regular(), Trivial())`` for C4, ``(Permutation(shift by 2), Trivial())`` for C2.

    Raises:
        ValueError: for any other group.
    """
    if group == C4():
        return Regular(), Trivial()
    if group == C2():
        return _P4_AS_C2, Trivial()
    raise ValueError(
        f"strict P4 layers are equivariant to C4 and C2 only, got {group!r}; "
        "use a plain model to study the other groups"
    )


def validate_reps(model: nn.Module, reps: dict[str, Representation], group: Group) -> dict[str, Representation]:
    """Check that every name is a module of ``model`` whose width fits its representation.

    Returns:
        ``reps`` unchanged.

    Raises:
        ValueError: a missing name, or a width the representation cannot carry for ``group``
            (e.g. 12 channels with ``Regular()`` of D4).
    """
    if not isinstance(group, Group):
        raise TypeError(f"group must be an eqlab.groups.Group, got {type(group).__name__}")
    modules = dict(model.named_modules())
    for name, rep in reps.items():
        if name not in modules:
            raise ValueError(f"{type(model).__name__} has no module named {name!r}")
        try:
            rep.check(group, out_channels(modules[name]))
        except ValueError as error:
            raise ValueError(f"{type(model).__name__}.{name}: {error}") from None
    return reps
