"""The model zoo: tiny trained checkpoints shipped inside the package, loaded by name, offline.

One checkpoint per task and arm, named ``"<task>/<arm>"``: the tasks ``denoise`` (gray,
sigma = 25), ``sr`` (x2) and ``deblur`` (motion blur 9 px at 30 degrees) times the arms
``plain``, ``augment``, ``eqreg`` and ``strict`` of ``eqlab.train``, plus the variants of
:data:`VARIANTS` (``"<task>/eqreg-relative"``: eqlab 0.2's orientation-blind eqreg). Every net is
small (well under 2 MB) and was trained for 6000 CPU steps with :func:`recipe` (``scripts/build_zoo.py``;
the split-norm eqreg nets by ``scripts/orientation.py``); it is a teaching object (look at its
feature maps, measure its equivariance), not a state-of-the-art restorer.

What is here:
    - ``available()``, ``load(name)``, ``card(name)``, ``path(name)``: the shipped files;
      ``checkpoint_file(source)``: a zoo name as the file a ``TrainConfig.init`` needs.
    - ``recipe(task, arm, seed)``: the ``TrainConfig`` that trained each checkpoint (the report
      in ``docs/results.md`` trains the same recipe with more seeds).
    - ``regimes()``: the regime map's cells (``scripts/regimes.py``, ``docs/regimes.md``) as shipped: where
      eqreg pays against the best arm that is not soft, per regime and task.
    - ``eval_images(task)`` / ``evaluate(model, task)``: the fixed, deterministic test
      evaluation whose numbers are on every card (``eqlab.tasks.evaluate`` on fixed crops).

What is not here: training (``eqlab.train``), the file format (``eqlab.checkpoint``), the command
line of a config (``eqlab.cli.command_for``), the machine (``eqlab.machine``), building the zoo
(``scripts/build_zoo.py`` with ``eqlab.experiments``).

Files: ``eqlab/zoo/<task>/<arm>.safetensors`` holds the weights (``eqlab.checkpoint`` format,
without optimizer state) and ``eqlab/zoo/<task>/<arm>.json`` the card: the exact command, data
split, steps, seed, machine and test metrics. ``eqlab/zoo/build.json`` records the last build.

Example:
    >>> from eqlab import zoo
    >>> model, card = zoo.load("denoise/eqreg")  # doctest: +SKIP
    >>> card["metrics"]["psnr"], card["command"]  # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn as nn

from eqlab.arms import ARMS
from eqlab.checkpoint import load_checkpoint
from eqlab.data.images import TEST_IMAGES, TRAIN_IMAGES, load_default
from eqlab.tasks import EVAL_SEED, TASKS, Task, get_task
from eqlab.tasks import evaluate as evaluate_model
from eqlab.train import TrainConfig

__all__ = [
    "regimes", "available", "load", "card", "path", "checkpoint_file", "recipe", "eval_images", "evaluate",
    "evaluation_protocol", "data_split", "ROOT", "TASKS", "ARMS", "EVAL_SIZE", "MAX_BYTES", "CARD_FIELDS", "RECIPE",
    "PATCH_SIZE",
]

ROOT = Path(__file__).resolve().parent  # eqlab/zoo: <task>/<arm>.safetensors + .json
EVAL_SIZE = 96  # side of the centre crop of each test image used for the card's metrics
MAX_BYTES = 2 * 1024 * 1024  # the size limit of one checkpoint file
CARD_FIELDS = ("name", "task", "arm", "command", "built_by", "train_config", "recipe", "stalled", "model",
               "model_config", "parameters", "data", "steps", "seed", "machine", "evaluation", "metrics", "train",
               "checksum")

# The zoo recipe: small nets that beat their degraded input clearly within an hour of a shared 2-core CPU.
# Every arm of a task gets the same budget (steps x batch x patch) and the same seed.
RECIPE = dict(
    features=16,  # hidden width (the strict twins get features // 2 = 8 fields: the same parameter count)
    depth=8,  # convs of dncnn / srnet
    levels=2,  # down/up steps of the unet
    batch_size=8,  # source patches per step (the paired arms forward 2 x 8)
    steps=6000,  # optimizer steps: the 12 nets cost 3359 worker-s (build.json job_s_total), 28 min on 2 cores
    val_size=48,  # fit's own validations are small and cheap; the card uses evaluate() at EVAL_SIZE
    val_every=0,  # validate at the start and the end only
    log_every=20,  # every second gradient-share measurement is logged
)  # everything else (lr 2e-3 with warm-up and cosine decay, clipping, Kaiming init, target share 0.1): the defaults
PATCH_SIZE = {name: task.patch_size for name, task in TASKS.items()}  # clean training patch side (Task's)
RECIPE_SHARE = 0.1  # eqreg's target gradient share (TrainConfig's default) ...
# ... except on SR, where the split norm from Kaiming kept orientation but left it unrelated at 0.1 (oriented
# error 1.10 at 6000 steps) and reached 0.36 +- 0.04 at 0.3 (3 seeds, -0.09 dB against augment); from an
# equivariant start (weight_init="equivariant") at 0.3 it stays equivariant: 0.09 +- 0.03 at -0.07 +- 0.06 dB
# (docs/orientation.md, sections 4 and 5). On deblurring 0.1 left the oriented part partly equivariant
# (0.35 +- 0.02, +0.03 dB); 0.2 makes it 0.25 +- 0.04 at -0.05 +- 0.09 dB, 0.3 0.20 +- 0.04 at -0.12 +- 0.02.
EQREG_CHANGES: dict[str, dict] = {"sr": dict(target_share=0.3, weight_init="equivariant"),
                                  "deblur": dict(target_share=0.2)}
# Named variants of an arm that the zoo also ships: name -> (arm, changes to the recipe).
VARIANTS = {
    # eqlab 0.2's eqreg: the whole-layer relative norm. Its layers are nearly equivariant because they stopped
    # carrying orientation (docs/orientation.md); kept so the kit can show what the component metric sees.
    "eqreg-relative": ("eqreg", dict(norm="relative", target_share=RECIPE_SHARE)),
}


def recipe(task: str, arm: str, seed: int = 0, **changes) -> TrainConfig:
    """The ``TrainConfig`` of a zoo checkpoint (``seed=0``) or of one more seed of the same recipe.

    Args:
        task: ``"denoise"``, ``"sr"`` or ``"deblur"``.
        arm: ``"plain"``, ``"augment"``, ``"eqreg"`` or ``"strict"``, or a variant of :data:`VARIANTS`
            (``"eqreg-relative"``: eqreg with eqlab 0.2's whole-layer norm).
        seed: the run's seed (the zoo uses 0).
        **changes: any other ``TrainConfig`` field, by name (e.g. ``weight``, ``data``, ``device``).

    Returns:
        the validated config.
    """
    if task not in TASKS:
        raise ValueError(f"unknown zoo task {task!r}; expected one of {list(TASKS)}")
    if arm not in ARMS and arm not in VARIANTS:
        raise ValueError(f"unknown arm {arm!r}; expected one of {list(ARMS)} or a variant {list(VARIANTS)}")
    per_task = EQREG_CHANGES.get(task, {}) if arm == "eqreg" else {}  # not the variants: they are their own recipe
    arm, variant = VARIANTS.get(arm, (arm, {}))
    if changes.get("init"):  # a zoo name becomes its file here: the training loop reads files only
        changes["init"] = checkpoint_file(changes["init"])
    return TrainConfig.of(**{**RECIPE, "task": task, "arm": arm, "seed": seed, "patch_size": PATCH_SIZE[task],
                             **per_task, **variant, **changes}).validate()


# -- the shipped files -----------------------------------------------------------------------------

def regimes() -> dict:
    """The regime map as shipped (``eqlab/zoo/regimes.json``, written by ``scripts/regimes.py``).

    Returns:
        ``steps``, ``seeds``, ``regimes`` (the rows, in order), ``grid`` (every (regime, task) of the grid),
        ``cells`` (the ones that were run: ``regime``, ``task``, ``best`` and the paired differences ``eqreg``,
        ``eqreg_c4``, ``penalty``, ``data``, ``strict`` as ``[mean, std, n]`` in dB, the oriented share and
        error of eqreg, stalled runs per arm) and ``machine``. ``eqlab.metrics.words.regime_answer(cells)`` is
        the page's answer; ``eqlab.viz.regime_figure(regimes())`` its figure.

    Raises:
        ValueError: the file is missing (a checkout whose map was never written).
    """
    file = ROOT / "regimes.json"
    if not file.exists():
        raise ValueError(f"no regime map at {file}: run `python scripts/regimes.py` from a checkout")
    return json.loads(file.read_text())


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


def checkpoint_file(source: str) -> str:
    """The file a ``TrainConfig.init`` names: a zoo name's ``.safetensors`` (:func:`path`), anything else
    (a checkpoint file) unchanged. ``eqlab train --init`` and :func:`recipe` resolve ``init`` with it:
    the training loop reads files only (it cannot import the zoo, which imports it)."""
    return str(path(source)) if source in available() else source


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

def _task(task: Task | str | TrainConfig) -> Task:
    return task.task_spec() if isinstance(task, TrainConfig) else get_task(task)


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
    task = _task(task)
    multiple = task.crop_multiple(getattr(model, "config", {})) if model is not None else task.scale
    images = load_default("test", mode=task.mode) if images is None else images
    return [task.crop(y, multiple, size) for y in images]


def evaluate(model: nn.Module, task: Task | str | TrainConfig, images=None, size: int = EVAL_SIZE,
             equivariance: bool = True) -> dict:
    """The card's test metrics of a net: deterministic (fixed crops, noise seeded per image).

    ``eqlab.tasks.evaluate`` on :func:`eval_images`: PSNR / SSIM and the degraded baseline's,
    ``psnr_rot90`` (input turned a quarter, output turned back) and, with ``equivariance``, the
    output equivariance error, the mean layer error (kind ``"shift"``, centred maps, centre 48 px)
    and which equivariance (``oriented_share``, ``oriented_error``, ``invariant_error``,
    ``blind_layers``), all for C4, averaged over images.
    """
    task = _task(task)
    result = evaluate_model(model, task, eval_images(task, model, images, size), group="C4",
                            equivariance=equivariance)
    result["eval_size"] = size
    return result


def evaluation_protocol(task: Task | str | TrainConfig, size: int = EVAL_SIZE) -> dict:
    """How :func:`evaluate` scores a net, in words and numbers (stored on every card)."""
    task = _task(task)
    return dict(
        images=list(TEST_IMAGES), crop=f"centre {size}x{size} (sides trimmed to the net's input multiple)",
        size=size, mode=task.mode, noise_seed=f"EVAL_SEED + image index (EVAL_SEED = {EVAL_SEED})",
        group="C4", layer_error="eqlab.metrics.mean_layer_error, kind 'shift', centred maps, centre 48 px crop",
        orientation="eqlab.metrics.orientation_summary over the layers with oriented components, centre 48 px crop: "
                    "oriented_share, oriented_error, invariant_error, blind_layers",
        sr_border=task.scale if task.scale > 1 else 0, function="eqlab.zoo.evaluate",
    )


def data_split(config: TrainConfig) -> dict:
    """The training and test data of a config, as the cards record them."""
    return dict(
        train=config.data or "bundled: eqlab.data.images TRAIN_IMAGES", test=config.test_data or
        "bundled: eqlab.data.images TEST_IMAGES", train_images=list(TRAIN_IMAGES) if config.data is None else None,
        test_images=list(TEST_IMAGES) if config.test_data is None else None, mode=config.task_spec().mode,
        max_side=512, patches=f"{config.batch_size} random {config.patch_size}x{config.patch_size} clean patches "
        "per step from the 'data' stream of the seed (no flips)",
    )
