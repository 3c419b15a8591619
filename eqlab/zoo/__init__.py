"""The model zoo: tiny trained checkpoints shipped inside the package, loaded by name, offline.

One checkpoint per task and arm, named ``"<task>/<arm>"``: the tasks ``denoise`` (gray,
sigma = 25), ``sr`` (x2) and ``deblur`` (motion blur 9 px at 30 degrees) times the arms
``plain``, ``augment``, ``eqreg`` and ``strict`` of ``eqlab.train``. Every net is small (well
under 2 MB) and was trained for a few hundred CPU steps by ``scripts/build_zoo.py`` with
:func:`recipe`; it is a teaching object (look at its feature maps, measure its equivariance),
not a state-of-the-art restorer.

What is here:
    - ``available()``, ``load(name)``, ``card(name)``, ``path(name)``: the shipped files.
    - ``recipe(task, arm, seed)``: the ``TrainConfig`` that trained each checkpoint (the report
      in ``docs/results.md`` trains the same recipe with more seeds).
    - ``eval_images(task)`` / ``evaluate(model, task)``: the fixed, deterministic test
      evaluation whose numbers are on every card; ``quality`` its PSNR / SSIM part alone.
    - ``machine_info()``: where a run happened, as the cards record it.

What is not here: training (``eqlab.train``), the file format (``eqlab.checkpoint``), building
the zoo (``scripts/build_zoo.py``).

Files: ``eqlab/zoo/<task>/<arm>.safetensors`` holds the weights (``eqlab.checkpoint`` format,
without optimizer state) and ``eqlab/zoo/<task>/<arm>.json`` the card: the exact command, data
split, steps, seed, machine and test metrics. ``eqlab/zoo/build.json`` records the last build.

Example:
    >>> from eqlab import zoo
    >>> model, card = zoo.load("denoise/eqreg")  # doctest: +SKIP
    >>> card["metrics"]["psnr"], card["command"]  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
from pathlib import Path

import torch
import torch.nn as nn

from eqlab.checkpoint import load_checkpoint
from eqlab.data.images import TEST_IMAGES, TRAIN_IMAGES, load_default
from eqlab.regularizer import DEFAULT_WEIGHT
from eqlab.tasks import EVAL_SEED, Task, get_task
from eqlab.train import ARMS, TrainConfig, evaluate as evaluate_model, task_for

__all__ = [
    "available", "load", "card", "path", "recipe", "command_for", "machine_info", "eval_images", "evaluate", "quality",
    "evaluation_protocol", "data_split", "ROOT", "TASKS", "ARMS", "EVAL_SIZE", "MAX_BYTES", "CARD_FIELDS",
    "RECIPE", "PATCH_SIZE",
]

ROOT = Path(__file__).resolve().parent  # eqlab/zoo: <task>/<arm>.safetensors + .json
TASKS = ("denoise", "sr", "deblur")
EVAL_SIZE = 96  # side of the centre crop of each test image used for the card's metrics
MAX_BYTES = 2 * 1024 * 1024  # the size limit of one checkpoint file
CARD_FIELDS = ("name", "task", "arm", "command", "built_by", "train_config", "model", "model_config",
               "parameters", "data", "steps", "seed", "machine", "evaluation", "metrics", "train", "checksum")

# The zoo recipe: small nets that learn something useful in a few hundred steps on a shared CPU.
# Every arm of a task gets the same budget (steps x batch x patch) and the same seed.
RECIPE = dict(
    features=16,  # hidden width (the strict twins get features // 2 = 8 fields: the same parameter count)
    depth=8,  # convs of dncnn / srnet
    levels=2,  # down/up steps of the unet
    batch_size=8,  # source patches per step (the paired arms forward 2 x 8)
    lr=2e-3,  # Adam, constant; 2e-3 learns faster than the default 1e-3 in this short budget
    steps=200,  # optimizer steps
    weight=DEFAULT_WEIGHT,  # EQ-Reg weight of the eqreg arm (relative norm)
    val_size=48,  # fit's own validations are small and cheap; the card uses evaluate() at EVAL_SIZE
    val_every=0,  # validate at the start and the end only
    log_every=10,
)
PATCH_SIZE = {"denoise": 32, "sr": 48, "deblur": 32}  # clean training patch side per task (sr: 24 px inputs)


def recipe(task: str, arm: str, seed: int = 0, **changes) -> TrainConfig:
    """The ``TrainConfig`` of a zoo checkpoint (``seed=0``) or of one more seed of the same recipe.

    Args:
        task: ``"denoise"``, ``"sr"`` or ``"deblur"``.
        arm: ``"plain"``, ``"augment"``, ``"eqreg"`` or ``"strict"``.
        seed: the run's seed (the zoo uses 0).
        **changes: any other ``TrainConfig`` field (e.g. ``weight``, ``data``, ``device``).

    Returns:
        the validated config. The ``eqreg`` arm measures the gradient share once, at the last step.
    """
    if task not in TASKS:
        raise ValueError(f"unknown zoo task {task!r}; expected one of {TASKS}")
    if arm not in ARMS:
        raise ValueError(f"unknown arm {arm!r}; expected one of {ARMS}")
    values = dict(RECIPE, task=task, arm=arm, seed=seed, patch_size=PATCH_SIZE[task], **changes)
    values.setdefault("share_every", values["steps"] if arm == "eqreg" else 0)
    return TrainConfig(**values).validate()


# Fields a command always spells out, so it stays exact when a default of TrainConfig changes.
_ALWAYS = ("task", "arm", "seed", "steps", "features", "depth", "levels", "batch_size", "patch_size", "lr", "group")


def command_for(config: TrainConfig) -> str:
    """The ``eqlab train`` command line that runs ``config``.

    It writes the fields that decide the weights (and, for ``eqreg``, ``weight`` and ``norm``)
    plus every other field that differs from its default; ``eqlab.cli`` maps each flag onto the
    ``TrainConfig`` field of the same name, so the command rebuilds exactly this config.
    """
    defaults = TrainConfig()
    always = _ALWAYS + (("weight", "norm") if config.arm == "eqreg" else ())
    words = ["python", "-m", "eqlab", "train"]
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if value == getattr(defaults, f.name) and f.name not in always:
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, bool):
            words.append(flag if value else "--no-" + f.name.replace("_", "-"))
        else:
            words += [flag, "none" if value is None else format(value, "g") if isinstance(value, float) else str(value)]
    return " ".join(words)


def machine_info(device: str | torch.device = "cpu") -> dict:
    """Where a run happens: OS, CPU, Python, torch, threads and the device (GPU name on CUDA)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:  # Linux: the model name is more telling than "x86_64"
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    except OSError:
        pass
    device = torch.device(device)
    info = dict(platform=platform.platform(), cpu=cpu, cpu_count=os.cpu_count(), python=platform.python_version(),
                torch=torch.__version__, torch_threads=torch.get_num_threads(), device=str(device))
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


# -- the shipped files -----------------------------------------------------------------------------

def available() -> list[str]:
    """Names of the shipped checkpoints, ``"<task>/<arm>"``, sorted (those with both files)."""
    names = []
    for weights in ROOT.glob("*/*.safetensors"):
        if weights.with_suffix(".json").exists():
            names.append(f"{weights.parent.name}/{weights.stem}")
    return sorted(names)


def path(name: str) -> Path:
    """The ``.safetensors`` file of a checkpoint (its card is the same path with ``.json``).

    Raises:
        ValueError: unknown name; the message lists the available ones.
    """
    names = available()
    if not isinstance(name, str) or name not in names:
        raise ValueError(f"unknown zoo model {name!r}; available: {names}")
    task, arm = name.split("/")
    return ROOT / task / f"{arm}.safetensors"


def card(name: str) -> dict:
    """The JSON card of a checkpoint (no tensors are read)."""
    return json.loads(path(name).with_suffix(".json").read_text())


def load(name: str, map_location: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Load a zoo checkpoint by name, offline.

    Args:
        name: ``"<task>/<arm>"``, one of :func:`available`, e.g. ``"denoise/eqreg"``.
        map_location: device of the returned model.

    Returns:
        ``(model, card)``: the net in eval mode and its card (see the module docstring).

    Raises:
        ValueError: unknown name (the message lists the available ones), a damaged file, or a
            card that does not belong to the weights (checksum mismatch).
    """
    weights = path(name)
    model, meta = load_checkpoint(weights, map_location=map_location)
    info = card(name)
    if info.get("checksum") != meta.get("checksum"):
        raise ValueError(f"zoo model {name!r}: the card's checksum does not match the weights in {str(weights)!r}")
    return model, info


# -- the evaluation on the cards -------------------------------------------------------------------

def eval_images(task: Task | str | TrainConfig, model: nn.Module | None = None, images=None,
                size: int = EVAL_SIZE) -> list[torch.Tensor]:
    """The fixed evaluation crops: the centre ``size x size`` of each test image.

    Args:
        task: the task (its scale and colour mode decide the crop).
        model: the net, whose input multiple (e.g. ``2**levels`` of a U-Net) the crop respects.
        images: list of ``(C, H, W)`` clean images; default the bundled test split.
        size: side of the crop.

    Returns:
        list of ``(C, h, w)`` crops, ``h, w <= size``.
    """
    task = task_for(task) if isinstance(task, TrainConfig) else get_task(task)
    multiple = task.crop_multiple(getattr(model, "config", {})) if model is not None else task.scale
    images = load_default("test", mode=task.mode) if images is None else images
    return [task.crop(y, multiple, size) for y in images]


def evaluate(model: nn.Module, task: Task | str | TrainConfig, images=None, size: int = EVAL_SIZE) -> dict:
    """The card's test metrics of a net: deterministic (fixed crops, noise seeded per image).

    ``eqlab.train.evaluate`` on :func:`eval_images`: PSNR / SSIM and the degraded baseline's,
    ``psnr_rot90`` (input turned a quarter, output turned back), the output equivariance error
    and the mean layer error (kind ``"shift"``, centre 48 px), all for C4, averaged over images.
    """
    result = evaluate_model(model, task, eval_images(task, model, images, size), group="C4")
    result["eval_size"] = size
    return result


def quality(model: nn.Module, task: Task | str | TrainConfig, images=None, size: int = EVAL_SIZE) -> dict:
    """PSNR / SSIM only, scored exactly as :func:`evaluate` scores them, at a fifth of its cost.

    The same crops, the same seeded degradation, the same clipping and border; no equivariance
    errors. ``tests/test_zoo.py`` uses it to re-check every card quickly.

    Returns:
        ``{"psnr", "ssim", "baseline_psnr"}``, floats averaged over images.
    """
    from eqlab import metrics

    task = task_for(task) if isinstance(task, TrainConfig) else get_task(task)
    device = next(model.parameters()).device
    border = task.scale if task.scale > 1 else 0
    rows = []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for index, y in enumerate(eval_images(task, model, images, size)):
            y = y[None]  # (1, C, H, W)
            x = task.degrade(y, generator=torch.Generator().manual_seed(EVAL_SEED + index))
            out = model(x.to(device)).clamp(0.0, 1.0).cpu()
            rows.append((metrics.psnr(out, y, crop_border=border), metrics.ssim(out, y, crop_border=border),
                         metrics.psnr(task.baseline(x), y, crop_border=border)))
    model.train(was_training)
    psnr, ssim, baseline = (float(sum(col) / len(rows)) for col in zip(*rows))
    return dict(psnr=psnr, ssim=ssim, baseline_psnr=baseline)


def evaluation_protocol(task: Task | str | TrainConfig, size: int = EVAL_SIZE) -> dict:
    """How :func:`evaluate` scores a net, in words and numbers (stored on every card)."""
    task = task_for(task) if isinstance(task, TrainConfig) else get_task(task)
    return dict(
        images=list(TEST_IMAGES), crop=f"centre {size}x{size} (sides trimmed to the net's input multiple)",
        size=size, mode=task.mode, noise_seed=f"EVAL_SEED + image index (EVAL_SEED = {EVAL_SEED})",
        group="C4", layer_error="eqlab.metrics.mean_layer_error, kind 'shift', centre 48 px crop",
        sr_border=task.scale if task.scale > 1 else 0, function="eqlab.zoo.evaluate",
    )


def data_split(config: TrainConfig) -> dict:
    """The training and test data of a config, as the cards record them."""
    return dict(
        train=config.data or "bundled: eqlab.data.images TRAIN_IMAGES", test=config.test_data or
        "bundled: eqlab.data.images TEST_IMAGES", train_images=list(TRAIN_IMAGES) if config.data is None else None,
        test_images=list(TEST_IMAGES) if config.test_data is None else None, mode=task_for(config).mode,
        max_side=512, patches=f"{config.batch_size} random {config.patch_size}x{config.patch_size} clean patches "
        "per step from the 'data' stream of the seed (no flips)",
    )
