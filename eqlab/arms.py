"""The arms of an EQ-Reg experiment: how one training step forms its batch and its loss.

Every comparison in eqlab runs the arms on equal budgets (the same optimizer steps and the same
``B`` source patches per step, drawn from identically seeded streams):

=========  ==============================================  ==========================  ============
arm        batch of one step                               loss                        net
=========  ==============================================  ==========================  ============
plain      ``x``: ``B`` patches, no rotation               MSE                         plain
augment    ``cat([x, g x])``: ``2B``, one random g != e    MSE                         plain
eqreg      the same paired batch                           MSE + lambda R (``EQReg``)  plain
strict     the same paired batch                           MSE                         its P4 twin
=========  ==============================================  ==========================  ============

``augment`` is there because EQ-Reg's rotated half is also training data: "eqreg vs plain" mixes
augmentation with regularization, "eqreg vs augment" isolates the penalty. ``strict`` sees the
paired batch too, so the images seen, the forward passes and the gradient averaging are the same
in the three rotation arms (its twin is exactly equivariant, so ``g x`` teaches it nothing new).

An arm is an object with four small duties, called by the training loop in this order:

    x, y, element = arm.batch(x, y, generator)    # the arm's batch (pairing: Group.pair)
    out = arm.forward(net, x, element)            # eqreg: inside reg.active(element)
    losses = arm.loss(out, y)                     # a StepLoss: total, task, penalty
    measured = arm.backward(losses, step)         # eqreg: gradient share, adaptive weight

Write your own arm by subclassing ``Arm`` (or ``EQRegArm`` with your own ``EQReg`` subclass as
``regularizer``) and pass it to ``eqlab.train.fit(config, arm=...)``.

What is here: ``Arm``, ``Plain``, ``Augment``, ``EQRegArm``, ``Strict``, ``StepLoss``, the table
``ARMS`` (name -> class, in the order figures list them) and ``make_arm``.
What is not here: the penalty itself (``eqlab.regularizer``), the loop (``eqlab.train``).
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn as nn
import torch.nn.functional as F

from eqlab.checks import check_choice, check_int, check_number
from eqlab.groups import Group, get_group
from eqlab.regularizer import DEFAULT_WEIGHT, NORMS, REFERENCE_WEIGHT, EQReg, gradient_ratio

__all__ = ["Arm", "Plain", "Augment", "EQRegArm", "Strict", "StepLoss", "ARMS", "ARM_NAMES", "make_arm"]

WEIGHT_RANGE = (1e-8, 1e3)  # the adaptive weight stays inside this range (a safety net, rarely reached)


@dataclass
class StepLoss:
    """The losses of one step, as tensors (no host synchronisation until a record asks for floats)."""

    total: torch.Tensor  # what ``backward`` differentiates
    task: torch.Tensor  # mean squared error on the arm's batch
    penalty: torch.Tensor | None = None  # the unweighted EQ-Reg penalty R (eqreg only)
    terms: dict[str, torch.Tensor] | None = None  # R's per-layer terms (eqreg only)
    weight: float | None = None  # the lambda of ``total`` (eqreg only)


class Arm:
    """Base class: the ``plain`` arm. Subclasses override what differs."""

    name: ClassVar[str] = "plain"
    color: ClassVar[str] = "#7f7f7f"  # the same in every figure and in the app
    summary: ClassVar[str] = "ordinary net, no rotations in training"  # one line on the arm, for people
    paired: ClassVar[bool] = False  # the batch is cat([x, g x])
    strict: ClassVar[bool] = False  # trains the task's strictly equivariant twin
    penalized: ClassVar[bool] = False  # adds the EQ-Reg penalty (its weight and target share matter)
    lr_scale: ClassVar[float] = 1.0  # times the config's learning rate

    group: Group

    def attach(self, model: nn.Module, group: Group | str, generator: torch.Generator | None = None) -> None:
        """Called once, before training, with the (unwrapped) net, the group and a generator of its own.

        Raises:
            ValueError: the net cannot carry what the arm needs (e.g. EQ-Reg's representations).
        """
        self.group = get_group(group)

    def batch(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator):
        """The arm's batch: ``(x, y, element)``; paired arms return ``2B`` images and the element used."""
        if not self.paired:
            return x, y, None
        return self.group.pair(x, y, generator=generator)  # (2B, C, h, w), (2B, C, H, W), g

    def forward(self, net: nn.Module, x: torch.Tensor, element: int | None) -> torch.Tensor:
        """The net's output on the arm's batch."""
        return net(x)

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> StepLoss:
        """Mean squared error, in float32 even under autocast."""
        task = F.mse_loss(out.float(), y.float())
        return StepLoss(total=task, task=task)

    def backward(self, losses: StepLoss, step: int) -> dict:
        """Fill the gradients; returns what was measured on the way (``{}`` here)."""
        losses.total.backward()
        return {}

    def record(self, losses: StepLoss) -> dict:
        """The step's numbers as Python floats (called on logged steps only: it synchronises a GPU)."""
        return dict(loss=float(losses.total.detach()), task_loss=float(losses.task.detach()))

    @classmethod
    def from_config(cls, method) -> Arm:
        """The arm of a ``MethodConfig`` (``eqlab.train``); only ``EQRegArm`` reads its fields."""
        return cls()

    def state_dict(self) -> dict:
        """What a resumed run needs to continue exactly (JSON-able)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Plain(Arm):
    """``x`` alone, no rotation: the ordinary baseline (half the images of the paired arms per step)."""


class Augment(Arm):
    """The paired batch ``cat([x, g x])`` and plain MSE: rotation augmentation, no penalty."""

    name = "augment"
    color = "#1f77b4"
    summary = "same net, trained on x and a rotated copy (no penalty)"
    paired = True


class Strict(Augment):
    """The paired batch on the task's strictly C4-equivariant twin (a P4 group CNN)."""

    name = "strict"
    color = "#2ca02c"
    summary = "group CNN (P4): C4-equivariant by construction"
    strict = True
    lr_scale = 0.5  # measured: the P4 U-Net stalled (dead ReLUs) in 4/8 runs at 2e-3, 1/8 at 1e-3

    def attach(self, model: nn.Module, group: Group | str, generator: torch.Generator | None = None) -> None:
        super().attach(model, group)
        if hasattr(model, "equivariance_reps"):
            model.equivariance_reps(self.group)  # raises for a group the twin is not equivariant to


class EQRegArm(Augment):
    """The paired batch, MSE plus the EQ-Reg penalty ``lambda R``.

    The weight ``lambda`` is either fixed (``weight``) or held so that the penalty drives a given
    share of the update (``target_share``): every ``share_every`` steps the arm measures

    .. math:: \\rho = \\frac{\\|\\nabla_\\theta R\\|}{\\|\\nabla_\\theta L_{task}\\|}, \\qquad
              s = \\lambda \\rho \\quad \\text{(the gradient share)}

    and, with a target :math:`s^*`, moves :math:`\\log\\lambda` half-way towards
    :math:`\\log(s^*/\\rho)` (the first measurement, at step 1, sets it). One measurement costs one
    extra backward pass of ``R`` alone: the gradient of the whole loss comes from the usual
    backward, and the task's part is their difference. Under DDP the penalty's gradient is
    averaged over the ranks like the loss's, so every rank holds the same ``lambda``.

    Args:
        weight: ``lambda`` when ``target_share`` is ``None``; the starting value otherwise.
        target_share: the gradient share to hold, e.g. ``0.1``; ``None``: a fixed ``weight``.
        norm: ``"split"`` (default), ``"relative"``, ``"components"`` or ``"paper"`` (see ``eqlab.regularizer``).
        share_every: steps between measurements (step 1 always); 0: never (only with a fixed weight).
        layers, reps: which layers, with which representations (see ``EQReg``).
        layer_fraction: the share of the layers computed per step (``EQReg``; the arm's generator draws them).
        identity_draws: pair with the identity too, in ``1/|G|`` of the steps (the reference code does).
        regularizer: the class (or factory ``(model, group, **kwargs) -> EQReg``) of the penalty;
            an ``EQReg`` subclass with another ``term`` trains through the same loop.
        **options: more keyword arguments for ``regularizer``.
    """

    name = "eqreg"
    color = "#d62728"
    summary = "same net and batches, plus the EQ-Reg penalty"
    penalized = True

    def __init__(self, weight: float = DEFAULT_WEIGHT, target_share: float | None = None, norm: str = "split",
                 share_every: int = 10, layers="auto", reps=None, layer_fraction: float = 1.0,
                 identity_draws: bool = False, regularizer=EQReg, **options):
        check_number("EQRegArm: weight", weight, 0)
        check_number("EQRegArm: target_share", target_share, 0, 10, open_low=True, open_high=True, optional=True)
        if target_share is not None and weight <= 0:
            raise ValueError("EQRegArm: an adaptive weight needs a starting weight > 0")
        check_int("EQRegArm: share_every", share_every, 0)
        if target_share is not None and share_every == 0:
            raise ValueError("EQRegArm: a target_share needs share_every >= 1 (the share must be measured)")
        check_choice("EQRegArm: norm", norm, NORMS)
        self.weight, self.target_share, self.norm, self.share_every = float(weight), target_share, norm, share_every
        self.layers, self.reps, self.regularizer, self.options = layers, reps, regularizer, options
        self.layer_fraction, self.identity_draws = layer_fraction, bool(identity_draws)
        self.reg: EQReg | None = None
        self.measured_once = False

    def attach(self, model: nn.Module, group: Group | str, generator: torch.Generator | None = None) -> None:
        super().attach(model, group)
        fraction = dict(layer_fraction=self.layer_fraction, generator=generator) if self.layer_fraction < 1 else {}
        self.reg = self.regularizer(model, self.group, weight=self.weight, layers=self.layers, reps=self.reps,
                                    norm=self.norm, **fraction, **self.options)

    @classmethod
    def reference(cls, weight: float = REFERENCE_WEIGHT, **options) -> EQRegArm:
        """The reference code's setting: hidden layers, the paper norm, its lambda, identity draws."""
        return cls(weight=weight, norm="paper", layers="hidden", identity_draws=True, **options)

    def batch(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator):
        return self.group.pair(x, y, generator=generator, exclude_identity=not self.identity_draws)

    def forward(self, net: nn.Module, x: torch.Tensor, element: int | None) -> torch.Tensor:
        with self.reg.active(element) if element is not None else nullcontext():
            return net(x)  # the identity (identity_draws) records nothing: a zero penalty

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> StepLoss:
        task = F.mse_loss(out.float(), y.float())
        penalty = self.reg.raw_loss().to(task.device)
        return StepLoss(total=task + self.weight * penalty, task=task, penalty=penalty, terms=self.reg.terms(),
                        weight=self.weight)

    def backward(self, losses: StepLoss, step: int) -> dict:
        measuring = self.share_every and (step == 1 or step % self.share_every == 0) and losses.penalty.requires_grad
        if not measuring:
            losses.total.backward()
            return {}
        params = [p for p in self.reg.model.parameters() if p.requires_grad]
        ratio = gradient_ratio(losses.total, losses.penalty, losses.weight, params, backward=True)  # one extra pass
        share = losses.weight * ratio
        if self.target_share is not None and ratio > 0:
            ideal = self.target_share / ratio
            if not self.measured_once:
                self.weight = ideal
            else:  # half-way in log space: one noisy measurement moves lambda by the square root of its error
                self.weight = math.exp(0.5 * math.log(self.weight) + 0.5 * math.log(ideal))
            self.weight = min(max(self.weight, WEIGHT_RANGE[0]), WEIGHT_RANGE[1])
        self.measured_once = True
        self.reg.weight = self.weight
        return dict(grad_share=share)

    def record(self, losses: StepLoss) -> dict:
        record = super().record(losses)
        record["reg_raw"] = float(losses.penalty.detach())
        record["weight"] = losses.weight
        record.update({f"reg/{name}": float(t.detach()) for name, t in (losses.terms or {}).items()})
        return record

    @classmethod
    def from_config(cls, method) -> EQRegArm:
        common = dict(share_every=method.share_every, layer_fraction=method.layer_fraction)
        if method.preset == "reference":
            return cls.reference(**common)
        return cls(weight=method.weight, target_share=method.target_share, norm=method.norm, layers=method.layers,
                   identity_draws=method.identity_draws, **common)

    def state_dict(self) -> dict:
        return dict(weight=self.weight, measured_once=self.measured_once)

    def load_state_dict(self, state: dict) -> None:
        self.weight = float(state.get("weight", self.weight))
        self.measured_once = bool(state.get("measured_once", self.measured_once))
        if self.reg is not None:
            self.reg.weight = self.weight

    def __repr__(self) -> str:
        how = f"target_share={self.target_share:g}" if self.target_share is not None else f"weight={self.weight:g}"
        return f"EQRegArm({how}, norm={self.norm!r})"


ARMS: dict[str, type[Arm]] = {"plain": Plain, "augment": Augment, "eqreg": EQRegArm, "strict": Strict}
ARM_NAMES = tuple(ARMS)


def make_arm(name: str, **options) -> Arm:
    """The arm called ``name``, constructed with ``options`` (only ``eqreg`` takes any).

    Example:
        >>> make_arm("eqreg", target_share=0.1)
        EQRegArm(target_share=0.1, norm='split')

    Raises:
        ValueError: unknown name.
        TypeError: options the arm does not take.
    """
    if name not in ARMS:
        raise ValueError(f"unknown arm {name!r}; expected one of {ARM_NAMES}")
    return ARMS[name](**options)
