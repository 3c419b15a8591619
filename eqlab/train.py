"""Training: ``TrainConfig`` and ``fit()`` for the four arms (and ``evaluate``, from ``eqlab.tasks``).

The arms, on equal budgets (the same optimizer steps, and the same ``B`` source patches per
step, drawn from identically seeded streams, so every arm sees exactly the same images):

=========  ==============================================  ===============================
arm        batch of one step                               loss
=========  ==============================================  ===============================
plain      ``x``: ``B`` patches, no rotation               MSE
augment    ``cat([x, g x])``: ``2B``, one random g != e    MSE (EQ-Reg weight 0, no hooks)
eqreg      the same paired batch                           MSE + ``reg.loss()``
strict     the same paired batch, on the strict P4 twin    MSE
=========  ==============================================  ===============================

Why ``strict`` sees the paired batch: the twin is exactly equivariant, so ``g x`` teaches it
nothing new, but giving it the same batch as ``augment`` keeps the images seen, the forward
passes and the gradient averaging identical across the three rotation arms. ``plain`` sees the
unrotated half only (its "rotated half" would be the identity), so it costs half the compute.

Randomness: every stream is a ``torch.Generator`` seeded from ``(seed, rank, stream)``:
``init`` (weights, the same for every arm), ``data`` (patch positions), ``noise`` (the
degradation) and ``element`` (the rotation). The streams are independent, so the ``plain`` arm
draws the same patches and noise as the paired arms. Their states are checkpointed: a resumed
run is bit-identical to an uninterrupted one on the CPU.

Devices: ``device="auto"`` takes CUDA with bf16 autocast when present, else the CPU in float32.
Data are sampled and degraded on the CPU (the streams stay the same on every device).
Under ``torchrun`` (``WORLD_SIZE > 1``) ``fit`` joins the process group (nccl on CUDA, gloo on the
CPU), wraps the net in ``DistributedDataParallel`` (``B`` patches per rank, batch norm is not
synchronised) and only rank 0 logs and writes files.

What is not here: the penalty (``eqlab.regularizer``), the tasks and degradations (``eqlab.tasks``),
the file format (``eqlab.checkpoint``), the command line (``eqlab.cli``).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from eqlab.checkpoint import load_checkpoint, save_checkpoint
from eqlab.data.folder import load_folder
from eqlab.data.images import load_default
from eqlab.data.patches import PatchSampler
from eqlab.groups import get_group
from eqlab.models import build, names
from eqlab.regularizer import DEFAULT_WEIGHT, NORMS, EQReg, select_layers
from eqlab.tasks import TASKS, Task, evaluate, task_from_config

__all__ = ["TrainConfig", "TrainResult", "fit", "evaluate", "task_for", "ARMS", "CHECKPOINT_NAME"]

ARMS = ("plain", "augment", "eqreg", "strict")
CHECKPOINT_NAME = "checkpoint.safetensors"
STREAMS = ("data", "noise", "element")
# Fields a resumed run may change; any other difference from the checkpoint is an error.
_RESUMABLE = {"steps", "resume", "out_dir", "device", "amp", "log_every", "val_every", "share_every",
              "checkpoint_every", "test_data", "val_size"}


@dataclass
class TrainConfig:
    """Everything a training run depends on; ``eqlab train`` has one flag per field."""

    task: str = "denoise"  # restoration task: denoise, sr or deblur (see eqlab.tasks)
    arm: str = "eqreg"  # plain (no rotation), augment (paired batch, no penalty), eqreg (paired + EQ-Reg), strict (P4 twin)
    model: str | None = None  # registry name overriding the task's net (see eqlab.models.names())
    features: int = 32  # hidden width of the plain net; the P4 twin gets features // 2 fields (same parameters)
    depth: int = 8  # number of convs of dncnn / srnet
    levels: int = 2  # down/up steps of unet (inputs must divide by 2**levels)
    group: str = "C4"  # symmetry group of the rotations and the penalty: C2, C4, D4 or C8
    weight: float = DEFAULT_WEIGHT  # lambda of the EQ-Reg penalty (eqreg arm only)
    norm: str = "relative"  # penalty norm: relative (scale-free) or paper (unnormalised torch.norm)
    sigma: float | None = None  # noise std on the 0-255 scale; None: the task's (denoise 25, sr 0, deblur 2.55)
    scale: int | None = None  # super-resolution factor 2, 3 or 4; None: the task's (sr 2)
    blur_length: float | None = None  # motion-blur length in pixels; None: the task's (deblur 9)
    blur_angle_deg: float | None = None  # motion-blur direction, counter-clockwise; None: the task's (deblur 30)
    blur_random: bool = False  # draw a new blur direction per image (makes deblur rotation-symmetric)
    steps: int = 200  # optimizer steps
    batch_size: int = 8  # B: source patches per step and rank (paired arms forward 2B)
    patch_size: int = 48  # side of the clean (high-resolution) training patches
    lr: float = 1e-3  # Adam learning rate (constant)
    seed: int = 0  # seeds the weights, patches, noise and rotations
    data: str | None = None  # folder of training images; None: the bundled images (eqlab.data.images)
    test_data: str | None = None  # folder of test images; None: the bundled test split
    val_size: int = 128  # side of the centre crops of the test images used for validation
    log_every: int = 10  # steps between history records
    val_every: int = 50  # steps between validations (PSNR, SSIM, equivariance errors); 0: at the end only
    share_every: int = 50  # steps between gradient-share measurements (eqreg; 2 extra backwards); 0: never
    device: str = "auto"  # auto (CUDA when present), cpu, cuda or cuda:N
    amp: bool = True  # bf16 autocast on CUDA (the CPU always trains in float32)
    out_dir: str | None = None  # run folder for the checkpoint and history.json/.csv; None: write nothing
    checkpoint_every: int = 0  # steps between checkpoints (0: at the end only); needs out_dir
    resume: bool = False  # continue from out_dir/checkpoint.safetensors when it exists

    def validate(self) -> "TrainConfig":
        """Raise ``ValueError`` naming the first field that is out of range; return ``self``."""
        def bad(name, expected):
            raise ValueError(f"TrainConfig.{name} must be {expected}, got {getattr(self, name)!r}")

        if self.task not in TASKS:
            bad("task", f"one of {sorted(TASKS)}")
        if self.arm not in ARMS:
            bad("arm", f"one of {ARMS}")
        if self.model is not None and self.model not in names():
            bad("model", f"None or one of {names()}")
        for name in ("features", "depth", "levels", "steps", "batch_size", "patch_size", "val_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                bad(name, "a positive int")
        for name in ("log_every", "val_every", "share_every", "checkpoint_every", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                bad(name, "an int >= 0")
        try:
            get_group(self.group)
        except ValueError:
            bad("group", "one of C2, C4, D4, C8")
        if not isinstance(self.weight, (int, float)) or self.weight < 0:
            bad("weight", "a number >= 0")
        if self.norm not in NORMS:
            bad("norm", f"one of {NORMS}")
        if not isinstance(self.lr, (int, float)) or not 0 < self.lr < 1:
            bad("lr", "a number in (0, 1)")
        if not (self.device in ("auto", "cpu", "cuda") or str(self.device).startswith("cuda:")):
            bad("device", "auto, cpu, cuda or cuda:N")
        if (self.checkpoint_every or self.resume) and not self.out_dir:
            raise ValueError("TrainConfig.checkpoint_every and resume need an out_dir")
        task = task_for(self)  # checks sigma, scale, blur_length, blur_angle_deg
        if self.patch_size % task.scale:
            bad("patch_size", f"divisible by the scale {task.scale}")
        return self


@dataclass
class TrainResult:
    """What ``fit`` returns."""

    model: nn.Module  # the trained net (unwrapped), in eval mode, on the training device
    history: list[dict]  # one record per logged step (see fit)
    metrics: dict  # the final validation (see evaluate)
    paths: dict[str, str] = field(default_factory=dict)  # checkpoint, history_json, history_csv, config
    wall_time_s: float = 0.0  # seconds spent in fit, over all resumed segments
    step: int = 0  # optimizer steps taken
    stopped: bool = False  # True when should_stop() ended the run early


def task_for(config: TrainConfig) -> Task:
    """The ``Task`` of a config, with its degradation overrides applied."""
    return task_from_config(config)


def _stream_seed(seed: int, rank: int, stream: str) -> int:
    """An independent 63-bit seed per (seed, rank, stream), via numpy's SeedSequence."""
    key = ("init",) + STREAMS
    return int(np.random.SeedSequence([seed, rank, key.index(stream)]).generate_state(1, np.uint64)[0] >> 1)


def _load_images(folder: str | None, split: str, mode: str) -> list[torch.Tensor]:
    if folder is None:
        return load_default(split, mode=mode)
    return load_folder(folder, mode=mode).images


def _resolve_device(name: str, local_rank: int) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was asked for, but torch.cuda.is_available() is False")
    if name == "cuda":
        name = f"cuda:{local_rank}"
    return torch.device(name)


@contextlib.contextmanager
def _distributed(cuda: bool):
    """``(rank, world, local_rank)`` from ``torchrun``'s environment, joining (and leaving) the process group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        yield 0, 1, 0
        return
    created = not dist.is_initialized()
    if cuda:  # nccl and all_gather_object use the current device: one GPU per rank
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    if created:
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    try:
        yield dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", dist.get_rank()))
    finally:
        if created:
            dist.destroy_process_group()


def _rng_states(generators: dict[str, torch.Generator], rank: int, world: int) -> dict[str, torch.Tensor]:
    """Every rank's generator states, ``{"r<rank>.<stream>": state}`` (a collective under DDP)."""
    local = {name: g.get_state() for name, g in generators.items()}
    everyone = [local]
    if world > 1:
        everyone = [None] * world
        dist.all_gather_object(everyone, local)
    return {f"r{r}.{name}": state for r, states in enumerate(everyone) for name, state in states.items()}


def _write_json(path: Path, value) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, indent=1))
    os.replace(tmp, path)


def _write_csv(path: Path, history: list[dict]) -> None:
    columns = list(dict.fromkeys(k for record in history for k in record))
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(history)
    os.replace(tmp, path)


def fit(config: TrainConfig, progress: bool = True, callback=None, should_stop=None) -> TrainResult:
    """Train one arm.

    Args:
        config: the run. Validated first; data and model problems raise before any step.
        progress: show a tqdm progress bar (rank 0 only).
        callback: ``callback(record)`` after every step, rank 0 only; ``record`` is a dict with
            ``step``, ``steps``, ``loss``, ``task_loss``, ``reg_raw``, ``images_seen``,
            ``samples_seen``, ``train_s`` and, on the steps where they are measured,
            ``reg/<layer>``, ``grad_share``, ``val_psnr``, ``val_ssim``, ``val_layer_error``.
        should_stop: ``should_stop() -> bool``, polled after every step; ``True`` saves (with an
            ``out_dir``) and returns early with ``stopped=True``.

    Returns:
        a ``TrainResult``. ``history`` holds the records of step 1, of every ``log_every``-th
        step, of every validation step and of the last step; a first record at step 0 holds the
        validation of the untrained net.

    Raises:
        ValueError: a bad config, missing or too small images, a patch the net cannot take,
            a group the net's layers cannot carry, or a checkpoint that does not match.
    """
    start = time.perf_counter()
    config.validate()
    task = task_for(config)
    cuda = _resolve_device(config.device, 0).type == "cuda"
    with _distributed(cuda) as (rank, world, local_rank):
        device = _resolve_device(config.device, local_rank)
        # -- everything that can fail, before any step -----------------------------------------
        name = task.model_name(config.arm, config.model)
        with torch.random.fork_rng(devices=[]):  # the init stream, without touching the global RNG
            torch.manual_seed(_stream_seed(config.seed, 0, "init"))
            model = build(name, **task.model_kwargs(name, config.features, config.depth, config.levels))
        multiple = task.crop_multiple(model.config)
        if config.patch_size % multiple:
            raise ValueError(f"patch_size {config.patch_size} must be divisible by {multiple} "
                             f"(scale {task.scale} x the input multiple of {name})")
        group = get_group(config.group)
        select_layers(model, group)  # raises if the net's layers cannot carry the group
        train_images = _load_images(config.data, "train", task.mode)
        val_images = [task.crop(y, multiple, config.val_size) for y in _load_images(config.test_data, "test", task.mode)]
        generators = {s: torch.Generator().manual_seed(_stream_seed(config.seed, rank, s)) for s in STREAMS}
        sampler = PatchSampler(train_images, config.patch_size, config.batch_size, generators["data"])
        paired = config.arm != "plain"
        reg = EQReg(model, group, weight=config.weight if config.arm == "eqreg" else 0.0, norm=config.norm) if paired else None

        model.to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        step, history, previous_s, train_s = 0, [], 0.0, 0.0
        out_dir = Path(config.out_dir) if config.out_dir else None
        ckpt_path = out_dir / CHECKPOINT_NAME if out_dir else None
        if config.resume and ckpt_path.exists():
            step, history, previous_s, train_s = _resume(ckpt_path, config, model, optimizer, generators, rank, world)
        if out_dir and rank == 0:
            out_dir.mkdir(parents=True, exist_ok=True)
            _write_json(out_dir / "config.json", dataclasses.asdict(config))

        net = model
        if world > 1:
            net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if cuda else None)
        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda and config.amp else contextlib.nullcontext()
        paths, latest = {}, {}  # latest: the last validation, {"step": ..., "metrics": ...}

        def validate() -> dict:
            latest.update(step=step, metrics=evaluate(model, task, val_images, group=group))
            return latest["metrics"]

        def save(final: bool) -> None:
            states = _rng_states(generators, rank, world)  # collective: every rank calls it
            if rank != 0 or out_dir is None:
                return
            wall = previous_s + time.perf_counter() - start
            save_checkpoint(ckpt_path, model, dataclasses.asdict(config), optimizer, step, history, states,
                            extra=dict(wall_time_s=wall, train_s=train_s, world_size=world, final=final))
            _write_json(out_dir / "history.json", history)
            _write_csv(out_dir / "history.csv", history)
            paths.update(checkpoint=str(ckpt_path), history_json=str(out_dir / "history.json"),
                         history_csv=str(out_dir / "history.csv"), config=str(out_dir / "config.json"))

        if step == 0 and rank == 0:
            history.append(dict(step=0, images_seen=0, samples_seen=0, train_s=0.0,
                                **{f"val_{k}": v for k, v in _short(validate()).items()}))
        bar = None
        if progress and rank == 0:
            from tqdm.auto import tqdm

            bar = tqdm(total=config.steps, initial=step, desc=f"{config.task}/{config.arm}", leave=False)
        stopped = False
        model.train()
        while step < config.steps and not stopped:
            tick = time.perf_counter()
            y = sampler.sample()  # (B, C, P, P) clean patches
            x = task.degrade(y, generator=generators["noise"])  # (B, C, P / scale, P / scale)
            element = None
            if paired:
                x, y, element = reg.pair(x, y, generator=generators["element"])  # (2B, ...)
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            step += 1
            measure_share = config.arm == "eqreg" and config.share_every and step % config.share_every == 0
            with autocast, (reg.active(element) if config.arm == "eqreg" else contextlib.nullcontext()):
                out = net(x)
            task_loss = F.mse_loss(out.float(), y)
            loss = task_loss + reg.loss() if config.arm == "eqreg" else task_loss
            record = dict(step=step, steps=config.steps, loss=float(loss.detach()), task_loss=float(task_loss.detach()))
            if config.arm == "eqreg":
                record["reg_raw"] = float(reg.raw_loss().detach())
                record.update({f"reg/{k}": v for k, v in reg.stats().items()})
            if measure_share:
                record["grad_share"] = reg.gradient_share(task_loss)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            train_s += time.perf_counter() - tick
            record.update(images_seen=step * config.batch_size * world, samples_seen=step * x.shape[0] * world,
                          train_s=train_s)

            validating = step == config.steps or (config.val_every and step % config.val_every == 0)
            if validating and rank == 0:
                record.update({f"val_{k}": v for k, v in _short(validate()).items()})
                model.train()
            if rank == 0:
                if validating or step == 1 or step % max(config.log_every, 1) == 0 or step == config.steps:
                    history.append(record)
                if callback is not None:
                    callback(record)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{record['task_loss']:.2e}", refresh=False)
            stopped = bool(should_stop()) if should_stop is not None else False
            if world > 1:  # every rank stops together, or the next collective would hang
                flag = torch.tensor([float(stopped)], device=device)
                dist.all_reduce(flag, op=dist.ReduceOp.MAX)
                stopped = bool(flag.item())
            if stopped and rank == 0 and history[-1]["step"] != step:
                history.append(record)
            if config.checkpoint_every and step % config.checkpoint_every == 0 and step < config.steps and not stopped:
                save(final=False)
        if bar is not None:
            bar.close()
        if world > 1:  # batch-norm statistics are per rank: end with rank 0's
            for buffer in model.buffers():
                dist.broadcast(buffer, 0)
        save(final=not stopped)
        final = {}
        if rank == 0:
            final = latest["metrics"] if latest.get("step") == step else validate()
        model.eval()
    wall = previous_s + time.perf_counter() - start
    return TrainResult(model=model, history=history, metrics=final, paths=paths, wall_time_s=wall, step=step,
                       stopped=stopped)


def _resume(path: Path, config: TrainConfig, model: nn.Module, optimizer, generators: dict, rank: int, world: int):
    """Load weights, optimizer and generator states; return ``(step, history, wall_s, train_s)``."""
    loaded, meta = load_checkpoint(path, map_location=next(model.parameters()).device)
    stored = meta.get("config", {})
    changed = {k: (stored.get(k), v) for k, v in dataclasses.asdict(config).items()
               if k not in _RESUMABLE and stored.get(k) != v}
    if changed:
        raise ValueError(f"cannot resume from {str(path)!r}: the config differs in {changed} (checkpoint, now)")
    if meta.get("model") != model.name or meta.get("model_config") != model.config:
        raise ValueError(f"cannot resume from {str(path)!r}: it holds {meta.get('model')}({meta.get('model_config')}), "
                         f"this run builds {model.name}({model.config})")
    extra = meta.get("extra", {})
    if extra.get("world_size", 1) != world:
        raise ValueError(f"cannot resume from {str(path)!r}: saved with {extra.get('world_size')} processes, now {world}")
    model.load_state_dict(loaded.state_dict())
    if meta["optimizer_state"] is not None:
        optimizer.load_state_dict(meta["optimizer_state"])
    for name, generator in generators.items():
        generator.set_state(meta["rng_state"][f"r{rank}.{name}"])
    return int(meta["step"]), list(meta.get("history", [])), float(extra.get("wall_time_s", 0.0)), \
        float(extra.get("train_s", 0.0))


def _short(results: dict) -> dict:
    return {k: results[k] for k in ("psnr", "ssim", "layer_error", "output_error") if k in results}
