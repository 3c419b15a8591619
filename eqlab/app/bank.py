"""Where the app's nets come from: the zoo, tiny nets trained once on first use, or untrained nets.

What is here: ``ModelBank`` (the shipped checkpoints of ``eqlab.zoo`` when it has every arm of a
task, read afresh on each first use so a rebuilt zoo is picked up by a new bank; otherwise tiny nets
trained ``QUICK_STEPS`` steps with the zoo's recipe once on first use and cached on disk; or
untrained nets with ``--models random``; and spandrel's SwinIR, untrained, when spandrel is
installed), ``Loaded`` (a model, where it came from and a key for the caches) and ``for_inference``.

What is not here: the training loop (``eqlab.train.fit``), checkpoint files (``eqlab.checkpoint``),
the Train tab's own runs (``training.py``), the caches (``state.py``).
"""

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from eqlab import zoo
from eqlab.app.settings import EXTRA_NET, TASKS, InputError
from eqlab.arms import ARM_NAMES, ARMS
from eqlab.models import build, spandrel_available
from eqlab.tasks import get_task

QUICK_STEPS = 200  # steps of the tiny models trained on first use when the zoo lacks a task
QUICK_WEIGHT = 1e-3  # EQ-Reg weight of those models


@dataclass(frozen=True)
class Loaded:
    """A model the app shows, and where it came from."""

    model: nn.Module  # in eval mode, on the CPU; shared read-only between users and threads
    source: str  # "zoo", "trained on first use", "untrained" or "yours"
    label: str  # what the UI calls it
    key: tuple  # identifies the weights in the app's caches (never reused for other weights)
    group: str | None = None  # the group its training rotated by (strict: built for); None: no rotations
    norm: str | None = None  # the EQ-Reg penalty norm it was trained with (penalised nets only)


class ModelBank:
    """Where the app gets its nets.

    Args:
        source: ``"auto"`` (the zoo when it has all four arms of a task, else ``"quick"``), ``"zoo"``,
            ``"quick"`` (train ``QUICK_STEPS`` steps once, cache the checkpoint under ``cache_dir``) or
            ``"random"`` (untrained: fast, for tests).
        cache_dir: folder of the first-use checkpoints; default ``$EQLAB_CACHE`` or ``~/.cache/eqlab/app``.

    Models are loaded on first use, kept for the life of the bank and shared read-only; a lock per
    ``(task, arm)`` makes concurrent first uses load (or train) once.
    """

    def __init__(self, source: str = "auto", cache_dir: str | os.PathLike | None = None):
        if source not in ("auto", "zoo", "quick", "random"):
            raise ValueError(f"source must be auto, zoo, quick or random, got {source!r}")
        self.source = source
        self.cache_dir = Path(cache_dir or os.environ.get("EQLAB_CACHE") or Path.home() / ".cache" / "eqlab" / "app")
        self.extra_absent = extra_net_absent()  # why spandrel's SwinIR is not offered ("" when it is)
        self._models: dict[tuple[str, str], Loaded] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def task_source(self, task: str) -> str:
        """``"zoo"``, ``"quick"`` or ``"random"``: the zoo only when it has every arm of the task (the arms
        of one task must share an architecture and a training budget to be compared)."""
        if self.source == "random":
            return "random"
        names = set(zoo.available())
        if self.source in ("auto", "zoo") and all(f"{task}/{arm}" in names for arm in ARM_NAMES):
            return "zoo"
        if self.source == "zoo":
            raise InputError(f"eqlab.zoo lacks some arms of {task!r}; it has {sorted(names)}")
        return "quick"

    def fingerprint(self, task: str) -> str:
        """What identifies the weights of a task's arms (the zoo's checksums, or the recipe): for disk caches."""
        source = self.task_source(task)
        if source == "zoo":
            return "zoo:" + ",".join(str(zoo.card(f"{task}/{arm}").get("checksum")) for arm in ARM_NAMES)
        return f"{source}:{zoo.recipe(task, 'plain').flat()}"

    def describe(self) -> str:
        """One line for the page header."""
        if self.source == "random":
            return "untrained nets (`--models random`): plain, augment and eqreg share their initial weights"
        by: dict[str, list[str]] = {}
        for task in TASKS:
            by.setdefault(self.task_source(task), []).append(task)
        words = {"zoo": "the shipped checkpoints of `eqlab.zoo`",
                 "quick": f"tiny nets trained for {QUICK_STEPS} steps on first use (EQ-Reg weight {QUICK_WEIGHT:g}, "
                          f"then cached in `{self.cache_dir}`)"}
        return "; ".join(f"{', '.join(tasks)}: {words[src]}" for src, tasks in by.items())

    def extra_arms(self) -> list[str]:
        """Zoo nets beyond the four arms (e.g. ``"eqreg-relative"``, kept for teaching), over every zoo task."""
        if self.source == "random" or not any(self.task_source(t) == "zoo" for t in TASKS):
            return []
        return sorted({name.split("/", 1)[1] for name in zoo.available()} - set(ARM_NAMES))

    def has(self, task: str, arm: str) -> bool:
        """Whether the model of ``task`` and ``arm`` is loaded already (nothing is loaded here)."""
        with self._guard:
            return (task, arm) in self._models

    def get(self, task: str, arm: str, progress=None) -> Loaded:
        """The model of ``task`` and ``arm`` (an arm of ``eqlab.arms``, an extra zoo net or ``"swinir"``), loaded
        on first use."""
        key = (task, arm)
        with self._guard:
            if key in self._models:
                return self._models[key]
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._models:
                loaded = self._extra(task) if arm == EXTRA_NET else self._load(task, arm, progress)
                for_inference(loaded.model)
                with self._guard:
                    self._models[key] = loaded
        return self._models[key]

    def _load(self, task: str, arm: str, progress) -> Loaded:
        extra = arm not in ARMS and arm in self.extra_arms()
        if arm not in ARMS and not extra:
            raise InputError(f"unknown arm {arm!r}; expected one of {list(ARM_NAMES) + self.extra_arms()}")
        source = self.task_source(task)
        if extra and (source != "zoo" or f"{task}/{arm}" not in zoo.available()):
            raise InputError(f"the zoo has no {arm!r} net for {task}")
        if source == "zoo":
            model, card = zoo.load(f"{task}/{arm}")
            method = card.get("train_config", {}).get("method", {})
            rotated = ARMS.get(method.get("arm", arm), ARMS["eqreg"])
            return Loaded(model.cpu(), "zoo", arm, ("zoo", task, arm, card.get("checksum")),
                          method.get("group", "C4") if rotated.paired or rotated.strict else None,
                          method.get("norm") if rotated.penalized else None)
        config = zoo.recipe(task, arm, steps=QUICK_STEPS, weight=QUICK_WEIGHT if ARMS[arm].penalized else 0.0)
        if source == "random":
            t = get_task(task)
            name = t.model_name(ARMS[arm].strict)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                model = build(name, **t.model_kwargs(name, config.features, config.depth, config.levels))
            return Loaded(model, "untrained", arm, ("random", task, arm), "C4" if ARMS[arm].strict else None)
        return Loaded(self._quick(config, progress), "trained on first use", arm, ("quick", task, arm, str(config)),
                      config.group if ARMS[arm].paired or ARMS[arm].strict else None,
                      config.norm if ARMS[arm].penalized else None)

    def _extra(self, task: str) -> Loaded:
        """spandrel's SwinIR (``eqlab.models`` name ``swinir``), untrained, at the size of the task's recipe."""
        if self.extra_absent:
            raise InputError(f"{EXTRA_NET} is not available: {self.extra_absent}")
        t, config = get_task(task), zoo.recipe(task, "plain")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            try:
                model = build(EXTRA_NET, **t.model_kwargs(EXTRA_NET, config.features, 2, config.levels))
            except ValueError as err:
                raise InputError(str(err)) from None
        return Loaded(model, "untrained (spandrel)", EXTRA_NET, ("extra", task, EXTRA_NET))

    def _quick(self, config, progress) -> nn.Module:
        from eqlab.checkpoint import load_checkpoint, save_checkpoint
        from eqlab.train import fit

        tag = (f"{config.task}-{config.arm}-f{config.features}-d{config.depth}-l{config.levels}"
               f"-p{config.patch_size}-s{config.steps}-w{config.weight:g}")
        path = self.cache_dir / f"{tag}.safetensors"
        if path.exists():
            try:
                return load_checkpoint(path)[0].cpu()
            except Exception:  # noqa: BLE001 - a stale or broken cache file: train again
                pass

        def callback(record):
            if progress is not None:
                progress(record["step"] / record["steps"],
                         desc=f"first use: training the tiny {config.task}/{config.arm} net "
                              f"(step {record['step']}/{record['steps']}, once, then cached)")

        if progress is not None:
            progress(0.0, desc=f"first use: preparing to train the tiny {config.task}/{config.arm} net")
        model = fit(config, progress=False, callbacks=[callback]).model.cpu()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            save_checkpoint(path, model, config.to_dict())
        except OSError:
            pass  # read-only home: keep it in memory only
        return model


def extra_net_absent() -> str:
    """Why ``swinir`` is not offered (the install hint ``build`` raises), or ``""`` when it is.

    Asked once per bank (``ModelBank.extra_absent``): after one failed import, a half-imported spandrel
    can make a second ``build`` seem to work.
    """
    if spandrel_available():
        return ""
    try:
        build(EXTRA_NET)
    except ValueError as err:
        return str(err)
    return "it needs the optional package spandrel and torchvision (pip install spandrel torchvision)"


def for_inference(model: nn.Module) -> nn.Module:
    """Eval mode and conv weights channels-last (about 1.3-2x faster on a CPU, same numbers to round-off).

    Parameters keep ``requires_grad``: the layer probe of ``eqlab.selection`` finds the output layer
    through the autograd graph. Inference runs under ``torch.no_grad`` anyway.
    """
    model.eval()
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            module.weight.data = module.weight.data.contiguous(memory_format=torch.channels_last)
    return model


def net_summary(task: str) -> str:
    """The nets of a task in words, from the zoo's recipe, e.g. ``"dncnn / dncnn_p4 (16 features × 8 convs)"``."""
    c = zoo.recipe(task, "plain")
    t = get_task(task)
    size = f"{c.features} features, {c.levels} levels" if t.plain_model == "unet" else \
        f"{c.features} features × {c.depth} convs"
    return f"{t.plain_model} / {t.strict_model} ({size})"
