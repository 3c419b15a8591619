"""The arms of an EQ-Reg experiment: how one training step forms its batch and its loss.

Every comparison in eqlab runs the arms on equal budgets (the same optimizer steps and the same
``B`` source patches per step, drawn from identically seeded streams):

=========  ==============================================  ==========================  ============
arm        batch of one step                               loss                        net
=========  ==============================================  ==========================  ============
plain      ``x``: ``B`` patches, no rotation               L                           plain
augment    ``cat([x, g x])``: ``2B``, one random g != e    L                           plain
eqreg      the same paired batch                           L + lambda R (``EQReg``)    plain
strict     the same paired batch                           L                           its P4 twin
=========  ==============================================  ==========================  ============

``L`` is the arm's ``criterion``, a task loss of ``eqlab.losses`` (MSE unless the run's config says
``l1`` or ``charbonnier``).

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

from eqlab.checks import check_choice, check_int, check_number
from eqlab.groups import Group, get_group
from eqlab.losses import TaskLoss
from eqlab.regularizer import DEFAULT_NORM, DEFAULT_WEIGHT, NORMS, REFERENCE_WEIGHT, EQReg, gradient_ratio

__all__ = ["Arm", "Plain", "Augment", "EQRegArm", "Strict", "StepLoss", "ARMS", "ARM_NAMES", "make_arm", "MAX_SHARE",
           "PenaltyWarning"]

WEIGHT_RANGE = (1e-8, 1e3)  # the adaptive weight stays inside this range (a safety net, rarely reached)
MAX_SHARE = 0.3  # the most of the update the penalty may drive by default (measured: the zoo's shares are 0.1-0.3;
#                  a fixed lambda = 0.2 on notebook 3's denoiser drove 0.2-7, and the net returned its input)
COLLAPSE_SHARE = 0.05  # a run that stalls while the penalty drove less than this is not called the penalty's collapse


class PenaltyWarning(UserWarning):
    """EQ-Reg's weight was lowered to the share cap, or the penalty collapsed the net (``TrainResult.warnings``)."""


@dataclass
class StepLoss:
    """The losses of one step, as tensors (no host synchronisation until a record asks for floats)."""

    total: torch.Tensor  # what ``backward`` differentiates
    task: torch.Tensor  # the task loss (the arm's criterion) on the arm's batch
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
    criterion: TaskLoss = TaskLoss("mse")  # the task loss; the training loop sets the config's

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
        """The task loss (``criterion``), in float32 even under autocast."""
        task = self.criterion(out, y)
        return StepLoss(total=task, task=task)

    def backward(self, losses: StepLoss, step: int) -> dict:
        """Fill the gradients; returns what was measured on the way (``{}`` here)."""
        losses.total.backward()
        return {}

    def record(self, losses: StepLoss) -> dict:
        """The step's numbers as Python floats (called on logged steps only: it synchronises a GPU)."""
        return dict(loss=float(losses.total.detach()), task_loss=float(losses.task.detach()))

    def collapse(self, step: int, psnr: float, baseline: float, margin_db: float) -> str | None:
        """Why a run of this arm that stayed within ``margin_db`` of its degraded input (validation PSNR ``psnr``,
        the input's ``baseline``) was the penalty's doing, in words; ``None``
        (the default): it was not, the run is only flagged as stalled (``eqlab.train.callbacks.StallCheck``)."""
        return None

    def warnings(self) -> list[str]:
        """What the user should know about the run, in sentences (``TrainResult.warnings``); ``[]`` here."""
        return []

    @classmethod
    def from_config(cls, method) -> Arm:
        """The arm of a ``MethodConfig`` (``eqlab.train``); only ``EQRegArm`` reads its fields."""
        return cls()

    def state_dict(self) -> dict:
        """What a resumed run needs to continue exactly (JSON-able)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` returned (the base arm keeps no state)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Plain(Arm):
    """``x`` alone, no rotation: the ordinary baseline (half the images of the paired arms per step)."""


class Augment(Arm):
    """The paired batch ``cat([x, g x])`` and the task loss alone: rotation augmentation, no penalty."""

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
    """The paired batch, the task loss plus the EQ-Reg penalty ``lambda R``.

    The weight ``lambda`` is either fixed (``weight``) or held so that the penalty drives a given
    share of the update (``target_share``): every ``share_every`` steps the arm measures

    .. math:: \\rho = \\frac{\\|\\nabla_\\theta R\\|}{\\|\\nabla_\\theta L_{task}\\|}, \\qquad
              s = \\lambda \\rho \\quad \\text{(the gradient share)}

    and, with a target :math:`s^*`, moves :math:`\\log\\lambda` half-way towards
    :math:`\\log(s^*/\\rho)` (the first measurement, at step 1, sets it). One measurement costs one
    extra backward pass of ``R`` alone: the gradient of the whole loss comes from the usual
    backward, and the task's part is their difference. Under DDP the penalty's gradient is
    averaged over the ranks like the loss's, so every rank holds the same ``lambda``.

    No weight can collapse the net silently. With a fixed weight, a measured share above
    ``max_share`` lowers ``lambda`` to ``max_share / rho`` until the next measurement (where the
    weight comes back as far as the cap allows); a target share may not exceed ``max_share``. The
    history records every measured share (``grad_share``, the share the step's own ``lambda``
    drove) and whether the cap acted (``share_capped``), and :meth:`warnings` says so in words. A
    run the penalty still drives to its degraded input is stopped by
    ``eqlab.train.callbacks.StallCheck`` with :meth:`collapse`'s message.

    Args:
        weight: ``lambda`` when ``target_share`` is ``None``; the starting value otherwise.
        target_share: the gradient share to hold, e.g. ``0.1``; ``None``: a fixed ``weight``.
        max_share: the most of the update a fixed weight may make the penalty drive, and the largest
            ``target_share`` (``MAX_SHARE``); ``None``: no cap (a collapse is still stopped). It acts
            where the share is measured (``share_every``).
        norm: the name of a penalty norm in ``eqlab.regularizer.NORMS`` (default ``DEFAULT_NORM``, ``"split"``).
        share_every: steps between measurements (step 1 always); 0: never (only with a fixed weight).
        layers, reps, skip: which layers, with which representations, and which left plain (``skip``:
            name patterns such as ``"*.attn.qkv"``; see ``EQReg``).
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

    def __init__(self, weight: float = DEFAULT_WEIGHT, target_share: float | None = None, norm: str = DEFAULT_NORM,
                 share_every: int = 10, layers="auto", reps=None, layer_fraction: float = 1.0,
                 identity_draws: bool = False, skip=None, regularizer=EQReg, max_share: float | None = MAX_SHARE,
                 **options):
        check_number("EQRegArm: weight", weight, 0)
        check_number("EQRegArm: target_share", target_share, 0, 10, open_low=True, open_high=True, optional=True)
        check_number("EQRegArm: max_share", max_share, 0, 10, open_low=True, optional=True)
        if target_share is not None and max_share is not None and target_share > max_share:
            raise ValueError(f"EQRegArm: target_share {target_share:g} is above max_share {max_share:g}, the most of "
                             "the update the penalty may drive; raise max_share (or set it to None) to hold it")
        if target_share is not None and weight <= 0:
            raise ValueError("EQRegArm: an adaptive weight needs a starting weight > 0")
        check_int("EQRegArm: share_every", share_every, 0)
        if target_share is not None and share_every == 0:
            raise ValueError("EQRegArm: a target_share needs share_every >= 1 (the share must be measured)")
        check_choice("EQRegArm: norm", norm, NORMS)
        self.weight, self.target_share, self.norm, self.share_every = float(weight), target_share, norm, share_every
        self.asked, self.max_share = float(weight), max_share  # a fixed weight as asked; the cap
        self.peak = (0.0, 0)  # the largest measured share and its step
        self.capped: list[tuple[int, float, float]] = []  # (step, share measured, lambda after) where the cap acted
        self.layers, self.reps, self.skip, self.regularizer, self.options = layers, reps, skip, regularizer, options
        self.layer_fraction, self.identity_draws = layer_fraction, bool(identity_draws)
        self.reg: EQReg | None = None
        self.measured_once = False

    def attach(self, model: nn.Module, group: Group | str, generator: torch.Generator | None = None) -> None:
        super().attach(model, group)
        fraction = dict(layer_fraction=self.layer_fraction, generator=generator) if self.layer_fraction < 1 else {}
        self.reg = self.regularizer(model, self.group, weight=self.weight, layers=self.layers, reps=self.reps,
                                    norm=self.norm, **fraction, **({"skip": self.skip} if self.skip else {}),
                                    **self.options)

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
        task = self.criterion(out, y)
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
        self.peak = max(self.peak, (share, step))
        if self.target_share is not None and ratio > 0:
            ideal = self.target_share / ratio
            if not self.measured_once:
                self.weight = ideal
            else:  # half-way in log space: one noisy measurement moves lambda by the square root of its error
                self.weight = math.exp(0.5 * math.log(self.weight) + 0.5 * math.log(ideal))
            self.weight = min(max(self.weight, WEIGHT_RANGE[0]), WEIGHT_RANGE[1])
        else:
            self.weight = self.asked  # a fixed weight: as asked, as far as the cap allows
        capped = self.target_share is None and self.max_share is not None and self.weight * ratio > self.max_share
        if capped:
            self.weight = self.max_share / ratio
            self.capped.append((step, share, self.weight))
        self.measured_once = True
        self.reg.weight = self.weight
        return dict(grad_share=share, share_capped=float(capped))

    def warnings(self) -> list[str]:
        """A sentence when the share cap lowered ``lambda`` (the first time, how often, the largest share)."""
        if not self.capped:
            return []
        step, share, weight = self.capped[0]
        return [f"EQ-Reg: with the weight lambda = {self.asked:g} the penalty drove {share:.2f} of the update at "
                f"step {step}, above the cap max_share = {self.max_share:g}: lambda was lowered to {weight:.3g} "
                f"there and at {len(self.capped) - 1} later measurement(s) (largest share {self.peak[0]:.2f}, step "
                f"{self.peak[1]}; the history's 'weight' is the lambda used). Lower the weight, or hold a share "
                f"with target_share (e.g. 0.1), to choose the push yourself; max_share=None trains at the weight "
                "as asked, at the risk of a collapse."]

    def collapse(self, step: int, psnr: float, baseline: float, margin_db: float) -> str | None:
        """The stall is the penalty's doing unless its measured share stayed under ``COLLAPSE_SHARE``."""
        if self.measured_once and self.peak[0] < COLLAPSE_SHARE:
            return None
        fixed = self.target_share is None  # the cap acts on a fixed weight only (a target share is held as asked)
        asked = f"weight lambda = {self.asked:g}" if fixed else f"target share {self.target_share:g}"
        cap = (f"; cap max_share = {self.max_share:g}" if self.max_share is not None else "; no cap") if fixed else ""
        reached = (f"the penalty drove up to {self.peak[0]:.2f} of the update (step {self.peak[1]}{cap})"
                   if self.measured_once else "its share was never measured (share_every = 0)")
        todo = ("Lower the weight, hold a share instead (target_share=0.1, the kit's default), or keep the share cap "
                "(max_share) on." if fixed else "Lower the share (the kit's default is target_share=0.1).")
        return (f"EQ-Reg collapsed the net: at step {step} its validation PSNR {psnr:.2f} dB is within "
                f"{margin_db:g} dB of the degraded input's {baseline:.2f} dB (or below it) with the {asked}; "
                f"{reached}. The run was stopped. {todo}")

    def record(self, losses: StepLoss) -> dict:
        record = super().record(losses)
        record["reg_raw"] = float(losses.penalty.detach())
        record["weight"] = losses.weight
        record.update({f"reg/{name}": float(t.detach()) for name, t in (losses.terms or {}).items()})
        return record

    @classmethod
    def from_config(cls, method) -> EQRegArm:
        common = dict(share_every=method.share_every, layer_fraction=method.layer_fraction,
                      max_share=method.max_share, skip=method.skip_layers)
        if method.preset == "reference":
            return cls.reference(**common)
        return cls(weight=method.weight, target_share=method.target_share, norm=method.norm, layers=method.layers,
                   identity_draws=method.identity_draws, **common)

    def state_dict(self) -> dict:
        return dict(weight=self.weight, measured_once=self.measured_once, peak=list(self.peak),
                    capped=[list(c) for c in self.capped])

    def load_state_dict(self, state: dict) -> None:
        self.weight = float(state.get("weight", self.weight))
        self.measured_once = bool(state.get("measured_once", self.measured_once))
        self.peak = tuple(state.get("peak", self.peak))
        self.capped = [tuple(c) for c in state.get("capped", self.capped)]
        if self.reg is not None:
            self.reg.weight = self.weight

    def __repr__(self) -> str:
        how = f"target_share={self.target_share:g}" if self.target_share is not None else f"weight={self.weight:g}"
        cap = "" if self.max_share == MAX_SHARE else f", max_share={self.max_share}"
        return f"EQRegArm({how}, norm={self.norm!r}{cap})"


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
