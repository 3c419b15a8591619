"""The configuration of a training run, in sections by what owns each field.

=========  ===============  =========================================================  ==========
section    class            fields                                                     on resume
=========  ===============  =========================================================  ==========
problem    ``ProblemConfig``  task and its degradation, colour, training images, patches fixed
net        ``NetConfig``      registry name, size, weights to start from                 fixed
method     ``MethodConfig``   arm, group, EQ-Reg weight or target share, norm, layers    fixed
optim      ``OptimConfig``    loss, steps, learning rate and schedule, clipping, EMA, seed fixed
run        ``RunConfig``      device, files, logging, validation                         may change
=========  ===============  =========================================================  ==========

Every field is declared with :func:`option`: its default, a help text and, where it has them, its
choices. ``eqlab train`` has one flag per field (``patch_size`` -> ``--patch-size``) generated from
that metadata, so field names are unique across the sections. Whether a section may change when a
run is resumed is the section's ``resumable`` class attribute, not a hand-kept list.

Flat access, for notebooks and scripts: ``TrainConfig.of(task="sr", steps=100)`` puts each field in
its section, ``config.replace(arm="plain")`` changes fields, ``config.flat()`` lists them, and
reading ``config.steps`` forwards to ``config.optim.steps``.

What is not here: the loop (``eqlab.train.loop``), the arms (``eqlab.arms``).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import shlex
from dataclasses import dataclass, field
from typing import ClassVar

from eqlab.arms import ARM_NAMES, MAX_SHARE
from eqlab.checks import check_choice, check_int, check_number
from eqlab.data.convert import MODES
from eqlab.groups import GROUP_NAMES, get_group
from eqlab.losses import CHARBONNIER_EPS, LOSSES
from eqlab.models import names
from eqlab.models.init import SCHEMES
from eqlab.regularizer import DEFAULT_NORM, DEFAULT_WEIGHT, NORMS, REFERENCE_WEIGHT
from eqlab.tasks import TASKS, Task, task_from_config

__all__ = ["option", "ProblemConfig", "NetConfig", "MethodConfig", "OptimConfig", "RunConfig", "TrainConfig",
           "SECTIONS", "SCHEDULES", "command_for"]

SCHEDULES = ("cosine", "constant", "multistep")


def option(default, help: str, choices: tuple | None = None):  # noqa: A002 - argparse's name for it
    """A dataclass field with its help text (and choices): the CLI flag is generated from it."""
    return field(default=default, metadata=dict(help=help, choices=choices))


class _Section:
    """Checks shared by the config sections."""

    resumable: ClassVar[bool] = False  # may this section change when a run is resumed?

    def _bad(self, name: str, expected: str):
        raise ValueError(f"{name} must be {expected}, got {getattr(self, name)!r}")

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first field out of range; here: not one of its field's choices."""
        for f in dataclasses.fields(self):
            if f.metadata.get("choices") is not None:
                check_choice(f.name, getattr(self, f.name), f.metadata["choices"])


@dataclass
class ProblemConfig(_Section):
    """What the net learns: the task, its degradation, the training images and patches."""

    task: str = option("denoise", "restoration task (see eqlab.tasks)", choices=tuple(TASKS))
    sigma: float | None = option(None, "noise std on the 0-255 scale; none: the task's (denoise 25, sr 0, deblur 2.55)")
    scale: int | None = option(None, "super-resolution factor 2, 3 or 4; none: the task's (sr 2)")
    blur_length: float | None = option(None, "motion-blur length in pixels; none: the task's (deblur 9)")
    blur_angle_deg: float | None = option(None, "motion-blur direction, counter-clockwise; none: the task's (30)")
    blur_random: bool = option(False, "draw a new blur direction per image (makes deblur rotation-symmetric)")
    color: str = option("gray", "image colour: gray (1 channel, BT.601 luma) or rgb (3 channels; gray files "
                        "replicated); the nets take and give this many channels", choices=MODES)
    data: str | None = option(None, "folder of training images; none: the bundled images (eqlab.data.images)")
    data_lr: str | None = option(None, "folder of the low-resolution inputs paired with data's images by name "
                                 "(sr only: '0001x2.png' or '0001.png' for '0001.png', as DIV2K ships them); "
                                 "none: down-scale data's images")
    recursive: bool = option(False, "read data (and data_lr) with their sub-folders")
    dihedral_patches: bool = option(False, "transform every training patch by a random flip / quarter turn (one of "
                                    "the 8 of D4, KAIR's and BasicSR's augmentation): even the plain arm then sees "
                                    "rotations")
    patch_size: int = option(48, "side of the clean (high-resolution) training patches")
    batch_size: int = option(8, "B: source patches per step and rank (the paired arms forward 2B)")

    def validate(self) -> None:
        super().validate()
        check_int("patch_size", self.patch_size, 1)
        check_int("batch_size", self.batch_size, 1)
        task = task_from_config(self)  # checks sigma, scale, blur_length, blur_angle_deg
        if self.patch_size % task.scale:
            self._bad("patch_size", f"divisible by the scale {task.scale}")
        if self.data_lr is not None:
            if self.task != "sr" or task.sigma:
                raise ValueError(f"data_lr gives the inputs of super-resolution without noise; this run is task "
                                 f"{self.task!r} with sigma {task.sigma:g}")
            if self.data is None:
                raise ValueError("data_lr needs data: the folder of the high-resolution images it pairs with")


@dataclass
class NetConfig(_Section):
    """Which net: a registry name (or the task's plain net / strict twin) and its size."""

    model: str | None = option(None, "registry name overriding the task's net (eqlab.models.names())")
    features: int = option(32, "hidden width of the plain net; the P4 twin gets features // 2 fields (same parameters)")
    depth: int = option(8, "number of convs of dncnn / srnet (blocks of attention nets)")
    levels: int = option(2, "down/up steps of unet (inputs must divide by 2**levels)")
    heads: int | None = option(None, "attention heads of attention nets (winattn, swinir); none: the net's default")
    stages: int | None = option(None, "residual stages of swinir (RSTBs, each of depth blocks); none: the net's (2)")
    init: str | None = option(None, "start from these weights: a checkpoint file or a zoo name such as denoise/augment")
    weight_init: str = option("kaiming", "kaiming (fan-in normal, the output layers x0.1: residual nets start near "
                              "their skip), default (PyTorch's) or equivariant (kaiming projected onto the "
                              "group's equivariant convs: starts exactly equivariant, orientation kept); P4 twins "
                              "keep their own", choices=SCHEMES)

    def validate(self) -> None:
        super().validate()
        if self.model is not None and self.model not in names():
            self._bad("model", f"None or one of {names()}")
        for name in ("features", "depth", "levels"):
            check_int(name, getattr(self, name), 1)
        for name in ("heads", "stages"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), 1)


@dataclass
class MethodConfig(_Section):
    """How the net is trained: the arm, the group, and the EQ-Reg penalty of the eqreg arm."""

    arm: str = option("eqreg", "plain, augment (paired batch), eqreg (paired + EQ-Reg) or strict (P4 twin)",
                      choices=ARM_NAMES)
    group: str = option("C4", "symmetry group of the rotations and of the penalty", choices=GROUP_NAMES)
    weight: float = option(DEFAULT_WEIGHT, "EQ-Reg weight lambda (eqreg; with target_share: its starting value)")
    target_share: float | None = option(
        0.1, "hold the gradient share |grad lambda R| / |grad task| at this value by adapting lambda; none: a fixed "
        "weight")
    norm: str = option(DEFAULT_NORM, "penalty norm: " + ", ".join(f"{name} ({norm.normalises})"
                                                                    for name, norm in NORMS.items()),
                       choices=tuple(NORMS))
    share_every: int = option(10, "steps between gradient-share measurements (eqreg; one extra backward); 0: never")
    max_share: float | None = option(MAX_SHARE, "the most of the update the penalty may drive: a measured share "
                                     "above it lowers lambda to it, and the run says so; none: no cap (a collapse "
                                     "is still stopped)")
    layers: str = option("auto", "which layers EQ-Reg reads: auto (every one it can) or hidden (not the output's)",
                         choices=("auto", "hidden"))
    skip_layers: str | None = option(None, "module-name patterns (fnmatch, comma-separated) of layers EQ-Reg leaves "
                                     "plain, e.g. '*.attn.qkv' (the reference code's SwinIR); each must match")
    layer_fraction: float = option(1.0, "share of those layers whose term is computed each step, drawn at random "
                                   "(unbiased); 1: all")
    identity_draws: bool = option(False, "draw the identity too (in 1/|G| of the steps), as the reference code does")
    preset: str | None = option(None, "reference: the reference code's setting (hidden layers, paper norm, "
                                f"lambda {REFERENCE_WEIGHT:g}, identity draws; overrides those fields)",
                                choices=(None, "reference"))

    def validate(self) -> None:
        super().validate()
        check_number("weight", self.weight, 0.0, 1e3)
        check_number("target_share", self.target_share, 1e-6, 10.0, optional=True)
        check_number("layer_fraction", self.layer_fraction, 1e-6, 1.0)
        check_int("share_every", self.share_every, 0)
        check_number("max_share", self.max_share, 1e-6, 10.0, optional=True)
        if self.target_share is not None and self.max_share is not None and self.target_share > self.max_share:
            raise ValueError(f"target_share {self.target_share:g} is above max_share {self.max_share:g}, the most of "
                             "the update the penalty may drive: raise max_share (or none) to hold that share")
        if self.preset == "reference" and self.target_share is not None:
            raise ValueError("the reference preset has a fixed lambda: target_share must be none")
        get_group(self.group)


@dataclass
class OptimConfig(_Section):
    """The optimisation: steps, the learning rate and its schedule, clipping, and the seed."""

    loss: str = option("mse", "task loss: mse, l1 or charbonnier (eqlab.losses)", choices=LOSSES)
    charbonnier_eps: float = option(CHARBONNIER_EPS, "eps inside Charbonnier's square root, sqrt(d^2 + eps) "
                                    "(BasicSR's default 1e-12)")
    steps: int = option(200, "optimizer steps")
    lr: float = option(2e-3, "Adam learning rate at the end of the warm-up (the strict arm takes half of it)")
    warmup: float = option(0.1, "fraction of the steps with a linear warm-up of the learning rate")
    schedule: str = option("cosine", "learning rate after the warm-up: cosine (decay to 0), constant, or multistep "
                           "(times gamma at each of the milestones)", choices=SCHEDULES)
    milestones: str | None = option(None, "steps at which multistep multiplies the rate by gamma, comma-separated "
                                    "(e.g. 250000,400000,450000,475000); from that step on")
    gamma: float = option(0.5, "multistep's factor at each milestone")
    clip: float | None = option(1.0, "clip the gradient norm at this value; none: no clipping")
    ema_decay: float = option(0.0, "keep an exponential moving average of the weights, ema <- decay * ema + (1 - "
                              "decay) * weights after every step (KAIR / BasicSR: 0.999); it is validated, saved "
                              "beside the weights and scored by eqlab eval; 0: none")
    seed: int = option(0, "seeds the weights, patches, noise and rotations")

    def validate(self) -> None:
        super().validate()
        check_int("steps", self.steps, 1)
        check_int("seed", self.seed, 0)
        check_number("lr", self.lr, 1e-8, 1.0)
        check_number("warmup", self.warmup, 0.0, 1.0)
        check_number("clip", self.clip, 1e-8, 1e6, optional=True)
        check_number("charbonnier_eps", self.charbonnier_eps, 0.0, 1.0, open_low=True)
        check_number("gamma", self.gamma, 0.0, 1.0, open_low=True)
        check_number("ema_decay", self.ema_decay, 0.0, 1.0, open_high=True)
        if self.schedule == "multistep":
            self.milestone_steps()  # raises for a bad list
        elif self.milestones is not None:
            raise ValueError(f"milestones belong to schedule 'multistep', got schedule {self.schedule!r} "
                             f"(--milestones none drops them)")

    def milestone_steps(self) -> tuple[int, ...]:
        """The multistep milestones as increasing ints (``ValueError`` names a bad list)."""
        text = self.milestones or ""
        try:
            steps = tuple(int(part) for part in text.replace(" ", "").split(",") if part)
        except ValueError:
            steps = ()
        if not steps or any(s < 1 for s in steps) or list(steps) != sorted(set(steps)):
            raise ValueError(f"milestones must be increasing steps >= 1, comma-separated, for schedule 'multistep'; "
                             f"got {self.milestones!r}")
        return steps

    def lr_at(self, step: int) -> float:
        """The learning rate of optimizer step ``step`` (1-based): linear warm-up, then the schedule.

        ``multistep`` is PyTorch's ``MultiStepLR`` stepped before every optimizer step, as KAIR steps it:
        step ``s`` trains at ``lr * gamma ** (number of milestones <= s)``.
        """
        warm = round(self.warmup * self.steps)
        if step <= warm:
            return self.lr * step / warm
        if self.schedule == "constant":
            return self.lr
        if self.schedule == "multistep":
            return self.lr * self.gamma ** sum(m <= step for m in self.milestone_steps())
        progress = (step - warm) / max(self.steps - warm, 1)
        return self.lr * 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclass
class RunConfig(_Section):
    """Where and how it runs: device, files, logging and validation (may change when resuming)."""

    resumable: ClassVar[bool] = True

    device: str = option("auto", "auto (CUDA when present), cpu, cuda or cuda:N")
    amp: bool = option(True, "bf16 autocast on CUDA (the CPU always trains in float32)")
    out_dir: str | None = option(None, "run folder for the checkpoint and history.json/.csv; none: write nothing")
    checkpoint_every: int = option(0, "steps between checkpoints (0: at the end only); needs out_dir")
    resume: bool = option(False, "continue from out_dir/checkpoint.safetensors when it exists")
    overwrite: bool = option(False, "replace the run that out_dir holds (without it, and without resume, a folder "
                             "holding a run is refused)")
    log_every: int = option(10, "steps between history records")
    val_every: int = option(50, "steps between validations (PSNR, SSIM, equivariance errors); 0: at the end only")
    val_size: int = option(128, "side of the centre crops of the test images used for validation")
    test_data: str | None = option(None, "folder of test images; none: the bundled test split")
    workers: int = option(0, "data worker processes (decoding, crops, degradation); the batches do not depend on "
                          "it (eqlab.data.pipeline)")
    data_cache: str | None = option(None, "folder for the decoded training images (.npy files mapped into memory, "
                                    "written once); none: decode a file for every batch")

    def validate(self) -> None:
        super().validate()
        for name in ("checkpoint_every", "log_every", "val_every"):
            check_int(name, getattr(self, name), 0)
        check_int("val_size", self.val_size, 1)
        check_int("workers", self.workers, 0)
        if not (self.device in ("auto", "cpu", "cuda") or str(self.device).startswith("cuda:")):
            self._bad("device", "auto, cpu, cuda or cuda:N")
        if (self.checkpoint_every or self.resume or self.overwrite) and not self.out_dir:
            raise ValueError("checkpoint_every, resume and overwrite need an out_dir")
        if self.resume and self.overwrite:
            raise ValueError("resume (continue the run in out_dir) and overwrite (replace it) exclude each other")


SECTIONS: dict[str, type[_Section]] = {"problem": ProblemConfig, "net": NetConfig, "method": MethodConfig,
                                   "optim": OptimConfig, "run": RunConfig}
_OWNER = {f.name: section for section, cls in SECTIONS.items() for f in dataclasses.fields(cls)}


@dataclass
class TrainConfig:
    """Everything a training run depends on, in five sections; ``eqlab train`` has one flag per field.

    Example:
        >>> config = TrainConfig.of(task="sr", arm="augment", steps=100)
        >>> config.optim.steps, config.steps, config.replace(steps=50).steps
        (100, 100, 50)
    """

    problem: ProblemConfig = field(default_factory=ProblemConfig)
    net: NetConfig = field(default_factory=NetConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    @classmethod
    def of(cls, **fields) -> TrainConfig:
        """A config from flat field names, each put in its section; the rest keep their defaults.

        Raises:
            TypeError: an unknown field name (the message lists close names).
        """
        return cls().replace(**fields)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """Inverse of :meth:`to_dict`; a flat dict (eqlab 0.1 checkpoints) is read too."""
        if set(values) <= set(SECTIONS):
            return cls(**{g: SECTIONS[g](**values.get(g, {})) for g in SECTIONS})
        return cls.of(**{k: v for k, v in values.items() if k in _OWNER})

    def to_dict(self) -> dict:
        """``{section: {field: value}}``, JSON-able (what checkpoints and cards store)."""
        return dataclasses.asdict(self)

    def flat(self) -> dict:
        """``{field: value}`` over all sections."""
        return {k: v for section in self.to_dict().values() for k, v in section.items()}

    def replace(self, **fields) -> TrainConfig:
        """A copy with some fields changed, by flat name."""
        unknown = [k for k in fields if k not in _OWNER]
        if unknown:
            hints = [f"{k!r}" + "".join(f" (did you mean {c!r}?)" for c in difflib.get_close_matches(k, _OWNER, 1))
                     for k in unknown]
            raise TypeError(f"TrainConfig has no field {', '.join(hints)}")
        groups = {g: dataclasses.replace(getattr(self, g), **{k: v for k, v in fields.items() if _OWNER[k] == g})
                  for g in SECTIONS}
        return TrainConfig(**groups)

    def __getattr__(self, name: str):  # only called for names that are not attributes: the flat fields
        owner = _OWNER.get(name)
        if owner is None:
            raise AttributeError(f"TrainConfig has no field {name!r}")
        return getattr(getattr(self, owner), name)

    def validate(self) -> TrainConfig:
        """Raise ``ValueError`` naming the first field that is out of range; return ``self``."""
        for section in SECTIONS:
            getattr(self, section).validate()
        return self

    def task_spec(self) -> Task:
        """The ``Task`` of this config, with its degradation overrides applied."""
        return task_from_config(self.problem)

    def fixed_part(self) -> dict:
        """The sections that must not change when the run is resumed."""
        return {g: values for g, values in self.to_dict().items() if not SECTIONS[g].resumable}


# -- the command line of a config (the CLI's parser is generated from the same metadata) --------------------

_ALWAYS = ("task", "arm", "seed", "steps", "features", "depth", "levels", "batch_size", "patch_size", "lr", "group",
           "warmup", "schedule", "clip")
_ALWAYS_EQREG = ("weight", "target_share", "norm", "share_every", "max_share")


def command_for(config) -> str:
    """The ``eqlab train`` command line that runs ``config`` (the inverse of the parser).

    It writes the fields that decide the weights plus every other field that differs from its
    default, so the command rebuilds exactly this config.
    """
    from eqlab.arms import ARMS

    defaults = TrainConfig().flat()
    always = _ALWAYS + (_ALWAYS_EQREG if ARMS[config.method.arm].penalized else ())
    words = ["python", "-m", "eqlab", "train"]
    for name, value in config.flat().items():
        if value == defaults[name] and name not in always:
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            words.append(flag if value else "--no-" + name.replace("_", "-"))
        else:
            text = "none" if value is None else format(value, "g") if isinstance(value, float) else str(value)
            words += [flag, shlex.quote(text)]  # a pattern such as *.attn.qkv must reach eqlab unexpanded
    return " ".join(words)
