"""The training loop: ``fit(config)`` and the ``Trainer`` behind it.

One step, for every arm (``eqlab.arms`` says what differs):

    x, y = next(batches)                          # (B, C, P / s, P / s) degraded inputs, (B, C, P, P) clean patches
    x, y, element = arm.batch(x, y, generator)    # the rotation arms: cat([x, g x]), 2B images
    out = arm.forward(net, x, element)            # eqreg: the penalty's hooks record their terms
    losses = arm.loss(out, y)                     # MSE (+ lambda R)
    arm.backward(losses, step); clip; optimizer step
    callbacks                                     # validation, history, checkpoints, progress, yours

Randomness: every stream is a ``torch.Generator`` seeded from ``(seed, rank, stream)``: ``init``
(the weights, the same for every arm), ``data`` (patch positions), ``noise`` (the degradation),
``element`` (the rotation) and ``layers`` (EQ-Reg's layer subset). The streams are independent, so
``plain`` draws the same patches and noise as the paired arms. Their states are checkpointed: a
resumed run is bit-identical to an uninterrupted one on the CPU.

Data: ``eqlab.data.pipeline``: the training process draws every batch's patch positions and noise
from the ``data`` and ``noise`` streams; ``workers`` processes (or this one) decode, crop and degrade;
a folder is read lazily (``data_cache``: decoded once to memory-mapped uint8 files). The batches do
not depend on the number of workers, and are those of the earlier in-process loop.

Devices: ``device="auto"`` takes CUDA with bf16 autocast when present, else the CPU in float32.
Data are sampled and degraded on the CPU (the streams stay the same on every device); batches are
pinned for the copy when the device is CUDA. Under
``torchrun`` the net is wrapped in ``DistributedDataParallel`` (``eqlab.train.distributed``).
Losses become Python floats only on logged steps, so a GPU is not synchronised every step.

What is not here: the configuration (``eqlab.train.config``), the arms (``eqlab.arms``), the
callbacks (``eqlab.train.callbacks``), the penalty (``eqlab.regularizer``).
"""

from __future__ import annotations

import contextlib
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from eqlab.arms import ARMS, Arm, PenaltyWarning
from eqlab.checkpoint import color_of, load_checkpoint
from eqlab.data.folder import load_folder
from eqlab.data.images import load_default
from eqlab.data.pipeline import BatchPlanner, ImageFiles, ImageTensors, PatchPairs, patch_loader
from eqlab.groups import get_group
from eqlab.machine import release_memory
from eqlab.models import build
from eqlab.models.init import initialise
from eqlab.train.callbacks import CHECKPOINT_NAME, Checkpoints, History, Progress, StallCheck, Validation, as_callback
from eqlab.train.config import TrainConfig
from eqlab.train.distributed import World, distributed

__all__ = ["fit", "Trainer", "TrainResult", "STREAMS", "CHECKPOINT_NAME"]

STREAMS = ("data", "noise", "element", "layers")


@dataclass
class TrainResult:
    """What ``fit`` returns."""

    model: nn.Module  # the trained net (unwrapped), in eval mode, on the training device
    history: list[dict]  # the step-0 record, every logged record and the last (see eqlab.train.callbacks)
    metrics: dict  # the final validation (eqlab.tasks.evaluate)
    paths: dict[str, str] = field(default_factory=dict)  # checkpoint, history_json, history_csv, config
    wall_time_s: float = 0.0  # seconds spent in fit, over all resumed segments
    step: int = 0  # optimizer steps taken
    stopped: bool = False  # a callback requested an early stop
    stalled: bool = False  # the final PSNR is within STALL_MARGIN_DB of the degraded input: it learned nothing
    main: bool = True  # rank 0 under torchrun (or a single process): only it has metrics, history and paths
    collapse: str | None = None  # why the run was stopped: the penalty drove the net to its input (StallCheck)
    warnings: list[str] = field(default_factory=list)  # sentences for the user: a collapse, a capped weight


def fit(config: TrainConfig, arm: Arm | None = None, callbacks=(), progress: bool = True) -> TrainResult:
    """Train one arm.

    Args:
        config: the run (``TrainConfig``). Validated first; data and model problems raise before any step.
        arm: an ``eqlab.arms.Arm`` to train instead of the one ``config.method`` names (your own arm,
            or an ``EQRegArm`` with your own regularizer).
        callbacks: ``Callback`` objects, or functions called as ``fn(record)`` after every step.
        progress: show a tqdm progress bar (rank 0 only).

    Returns:
        a ``TrainResult``. What the user should know about the run (the penalty collapsed the net and the
        run was stopped; the share cap lowered the weight) is in ``TrainResult.warnings`` and is also
        issued as a ``eqlab.arms.PenaltyWarning``.

    Raises:
        ValueError: a bad config, missing or too small images, a patch the net cannot take, a group
            the net's layers cannot carry, or a checkpoint that does not match.
    """
    with distributed(config.run.device) as world:
        return Trainer(config, arm, callbacks, progress, world).train()


def _stream_seed(seed: int, rank: int, stream: str) -> int:
    """An independent 63-bit seed per (seed, rank, stream), via numpy's SeedSequence."""
    key = ("init",) + STREAMS
    return int(np.random.SeedSequence([seed, rank, key.index(stream)]).generate_state(1, np.uint64)[0] >> 1)


def _load_images(folder: str | None, split: str, mode: str) -> list[torch.Tensor]:
    if folder is None:
        return load_default(split, mode=mode)
    return load_folder(folder, mode=mode).images


class Trainer:
    """One training run: everything that can fail is set up in the constructor, before any step."""

    def __init__(self, config: TrainConfig, arm: Arm | None = None, callbacks=(), progress: bool = True,
                 world: World | None = None):
        self.start_time = time.perf_counter()
        self.config = config.validate()
        self.world = world or World()
        self.device = self.world.device
        self.task = config.task_spec()
        self.group = get_group(config.method.group)
        self.arm = arm if arm is not None else ARMS[config.method.arm].from_config(config.method)
        self.model = self._build_model()
        self.generators = {s: torch.Generator().manual_seed(_stream_seed(config.optim.seed, self.world.rank, s))
                           for s in STREAMS}
        self.arm.attach(self.model, self.group, self.generators["layers"])  # e.g. EQ-Reg's layers: raises here
        self.val_images = [self.task.crop(y, self.multiple, config.run.val_size)
                           for y in _load_images(config.run.test_data, "test", self.task.mode)]
        source = ImageFiles(config.problem.data, self.task.mode, config.run.data_cache) if config.problem.data \
            else ImageTensors(load_default("train", mode=self.task.mode))  # a folder stays on disk
        self.pairs = PatchPairs(source, config.problem.patch_size, self.task)  # raises for a too small image
        self.model.to(self.device)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(self.params, lr=config.optim.lr)
        self.step, self.train_s, self.previous_s, self.samples = 0, 0.0, 0.0, 0
        self.history: list[dict] = []
        self.metrics: dict = {}
        self.metrics_step = -1
        self.paths: dict[str, str] = {}
        self.stopped = self.stalled = self._stop = False
        self.collapse: str | None = None  # set by StallCheck when the arm says the penalty collapsed the net
        self._last = None  # (losses, measured) of the latest step, for a record made after the fact
        checkpoint = Checkpoints(config.run.out_dir, config.run.checkpoint_every) if config.run.out_dir else None
        if config.run.resume and checkpoint.path.exists():
            self._resume(checkpoint.path)
        cuda = self.device.type == "cuda"
        self.autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda and config.run.amp \
            else contextlib.nullcontext()
        self.net = self.world.wrap(self.model)
        self.callbacks = [Validation(config.run.val_every), StallCheck(), History()] + ([checkpoint] if checkpoint
                                                                                         else [])
        self.callbacks += ([Progress()] if progress else []) + [as_callback(c) for c in callbacks]

    # -- the loop ----------------------------------------------------------------------------------
    def train(self) -> TrainResult:
        """Run the steps left; returns the ``TrainResult``."""
        config, arm = self.config, self.arm
        self._emit("on_start", self.record_at_start())
        self.model.train()
        batches = self._batches()
        while self.step < config.optim.steps and not self.stopped:
            tick = time.perf_counter()
            x, y = next(batches)  # (B, C, P / s, P / s) degraded inputs, (B, C, P, P) clean patches
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            x, y, element = arm.batch(x, y, self.generators["element"])  # (2B, ...) for the rotation arms
            self.step += 1
            with self.autocast:
                out = arm.forward(self.net, x, element)
            losses = arm.loss(out, y)
            self.optimizer.zero_grad(set_to_none=True)
            measured = arm.backward(losses, self.step)  # eqreg: grad_share and weight, on measuring steps
            if config.optim.clip:
                torch.nn.utils.clip_grad_norm_(self.params, config.optim.clip)
            for group in self.optimizer.param_groups:
                group["lr"] = config.optim.lr_at(self.step) * arm.lr_scale
            self.optimizer.step()
            self.samples += x.shape[0] * self.world.size
            self.train_s += time.perf_counter() - tick
            self._last = (losses, measured)
            self._emit("on_step", self.full_record() if self._logged() else dict(step=self.step,
                                                                                 steps=config.optim.steps))
            self.stopped = self.world.any(self._stop)
        batches.close()  # ends the worker processes
        self.world.share_buffers(self.model)
        self._emit("on_end")
        self.model.eval()
        notes = ([self.collapse] if self.collapse else []) + self.arm.warnings()
        for note in notes if self.world.main else ():
            warnings.warn(note, PenaltyWarning, stacklevel=3)
        release_memory()  # the step's freed buffers back to the system (glibc; a no-op elsewhere)
        return TrainResult(model=self.model, history=self.history, metrics=self.metrics, paths=self.paths,
                           wall_time_s=self.wall_time_s(), step=self.step, stopped=self.stopped,
                           stalled=self.stalled, collapse=self.collapse, warnings=notes, main=self.world.main)

    def _batches(self):
        """Endless ``(x, y)`` batches (``eqlab.data.pipeline``); the data and noise streams follow the consumed one."""
        config = self.config
        planner = BatchPlanner(self.pairs.source.sizes, config.problem.patch_size, config.problem.batch_size,
                               self.task.channels, self.task, self.generators["data"], self.generators["noise"],
                               step=self.step)
        for x, y in patch_loader(self.pairs, planner, config.run.workers, pin_memory=self.device.type == "cuda"):
            data, noise = planner.consumed()  # the states a checkpoint after this batch must store
            self.generators["data"].set_state(data)
            self.generators["noise"].set_state(noise)
            yield x, y

    # -- what the callbacks use --------------------------------------------------------------------
    def request_stop(self) -> None:
        """End the run after the current step (with a checkpoint when there is an ``out_dir``)."""
        self._stop = True

    def full_record(self) -> dict:
        """The latest step's numbers as floats (synchronises a GPU: called on logged steps only)."""
        losses, measured = self._last
        config = self.config
        record = dict(step=self.step, steps=config.optim.steps, **self.arm.record(losses), **measured,
                      lr=config.optim.lr_at(self.step) * self.arm.lr_scale,
                      images_seen=self.step * config.problem.batch_size * self.world.size, samples_seen=self.samples,
                      train_s=self.train_s)
        return record

    def record_at_start(self) -> dict | None:
        """The step-0 record of a fresh run (callbacks add the validation of the untrained net)."""
        return None if self.step else dict(step=0, images_seen=0, samples_seen=0, train_s=0.0)

    def wall_time_s(self) -> float:
        """Seconds of this run so far, over all resumed segments."""
        return self.previous_s + time.perf_counter() - self.start_time

    # -- set-up ------------------------------------------------------------------------------------
    @property
    def multiple(self) -> int:
        """What the clean images' sides must divide by: the scale times the net's input multiple."""
        return self.task.crop_multiple(self.model.config)

    def _build_model(self) -> nn.Module:
        net = self.config.net
        name = self.task.model_name(self.arm.strict, net.model)
        with torch.random.fork_rng(devices=[]):  # the init stream, without touching the global RNG
            torch.manual_seed(_stream_seed(self.config.optim.seed, 0, "init"))
            model = initialise(build(name, **self.task.model_kwargs(name, net.features, net.depth, net.levels,
                                                                    heads=net.heads, stages=net.stages)),
                               net.weight_init, group=self.config.method.group)
        if net.init:
            _load_weights(model, net.init)
        multiple = self.task.crop_multiple(model.config)
        if self.config.problem.patch_size % multiple:
            raise ValueError(f"patch_size {self.config.problem.patch_size} must be divisible by {multiple} "
                             f"(scale {self.task.scale} x the input multiple of {name})")
        return model

    def _logged(self) -> bool:
        run, step = self.config.run, self.step
        return (step == 1 or step == self.config.optim.steps or bool(run.log_every and step % run.log_every == 0)
                or bool(run.val_every and step % run.val_every == 0))

    def _emit(self, hook: str, *args) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(self, *args)

    def _resume(self, path) -> None:
        """Load weights, optimizer, generators and arm state from a checkpoint of the same run."""
        loaded, meta = load_checkpoint(path, map_location=self.device)
        stored = TrainConfig.from_dict(meta.get("config", {})).fixed_part()
        changed = {g: {k: (v, self.config.fixed_part()[g].get(k)) for k, v in values.items()
                       if self.config.fixed_part()[g].get(k) != v} for g, values in stored.items()}
        changed = {g: c for g, c in changed.items() if c}
        if changed:
            raise ValueError(f"cannot resume from {str(path)!r}: the config differs in {changed} (checkpoint, now)")
        if meta.get("model") != self.model.name or meta.get("model_config") != self.model.config:
            raise ValueError(f"cannot resume from {str(path)!r}: it holds {meta.get('model')}"
                             f"({meta.get('model_config')}), this run builds {self.model.name}({self.model.config})")
        extra = meta.get("extra", {})
        if extra.get("world_size", 1) != self.world.size:
            raise ValueError(f"cannot resume from {str(path)!r}: saved with {extra.get('world_size')} processes, "
                             f"now {self.world.size}")
        self.model.load_state_dict(loaded.state_dict())
        if meta["optimizer_state"] is not None:
            self.optimizer.load_state_dict(meta["optimizer_state"])
        for name, generator in self.generators.items():
            generator.set_state(meta["rng_state"][f"r{self.world.rank}.{name}"])
        self.arm.load_state_dict(extra.get("arm_state", {}))
        self.step, self.history = int(meta["step"]), list(meta.get("history", []))
        self.previous_s, self.train_s = float(extra.get("wall_time_s", 0.0)), float(extra.get("train_s", 0.0))
        self.samples = int(extra.get("samples", 0))


def _load_weights(model: nn.Module, source: str) -> None:
    """Copy the weights of a checkpoint file into ``model``. A zoo name (``"denoise/augment"``) is turned
    into its file where the config is read (``eqlab train --init``, ``eqlab.zoo.recipe``): the zoo
    imports this package, so the loop does not import the zoo.

    Raises:
        ValueError: the source is not a file or holds another architecture.
    """
    if not Path(source).is_file():
        raise ValueError(f"init {source!r} is not a checkpoint file (a zoo net: "
                         f"init=eqlab.zoo.checkpoint_file({source!r}))")
    other, _ = load_checkpoint(source)
    theirs, ours = color_of(dict(model_config=other.config)), color_of(dict(model_config=model.config))
    if theirs and ours and theirs != ours:
        raise ValueError(f"init {source!r} is a {theirs} net ({other.config['channels']} channel(s)), this run is "
                         f"--color {ours} ({model.config['channels']}): train with --color {theirs}, or start from "
                         f"a {ours} checkpoint")
    if other.name != model.name or other.config != model.config:
        raise ValueError(f"init {source!r} holds {other.name}({other.config}); this run builds "
                         f"{model.name}({model.config})")
    model.load_state_dict(other.state_dict())

