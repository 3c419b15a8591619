"""Where the app's nets come from, and the locks and training set-up that go with them.

What is here: ``ModelBank`` (the shipped checkpoints of ``eqlab.zoo`` when it is installed; otherwise
tiny nets trained ``QUICK_STEPS`` steps once on first use and cached on disk; or untrained nets with
``--models random``), ``Loaded`` (a model and its provenance), ``arm_model`` (an arm, including the
session's own "yours"), ``train_config`` (the app's training recipe, also used by the Train tab),
``net_summary``, ``for_inference`` and ``model_lock`` (one lock per model: forward hooks must not
interleave).

What is not here: the training loop (``eqlab.train.fit``), checkpoint files (``eqlab.checkpoint``),
the Train tab's run and stop flags (``train_tab.py``).
"""

import os
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from eqlab.app.settings import SIZES, STEPS_MIN, TASKS, YOURS, InputError
from eqlab.tasks import get_task
from eqlab.arms import ARMS
from eqlab.train import TrainConfig, fit

QUICK_STEPS = 200  # steps of the tiny models trained on first use when there is no zoo
QUICK_WEIGHT = 1e-3  # EQ-Reg weight of those models (DESIGN.md: error 0.07 at a small PSNR cost)


@dataclass
class Loaded:
    """A cached model and where it came from."""

    model: nn.Module  # in eval mode, on the CPU; shared read-only between users
    source: str  # "zoo", "trained on first use", "untrained" or "yours"
    label: str  # what the UI calls it


class ModelBank:
    """Where the app gets its nets: ``eqlab.zoo``, tiny nets trained on first use, or untrained nets.

    Args:
        source: ``"auto"`` (the zoo when ``eqlab.zoo`` is importable and has the model, else
            ``"quick"``), ``"zoo"``, ``"quick"`` (train ``QUICK_STEPS`` steps once, cache the
            checkpoint under ``cache_dir``) or ``"random"`` (untrained: fast, for tests).
        cache_dir: folder of the first-use checkpoints; default ``$EQLAB_CACHE`` or
            ``~/.cache/eqlab/app``.

    Models are cached per ``(task, arm)`` for the life of the process and shared read-only; a
    lock per key makes concurrent first uses train once.
    """

    def __init__(self, source: str = "auto", cache_dir: str | os.PathLike | None = None):
        if source not in ("auto", "zoo", "quick", "random"):
            raise ValueError(f"source must be auto, zoo, quick or random, got {source!r}")
        self.source = source
        self.cache_dir = Path(cache_dir or os.environ.get("EQLAB_CACHE") or Path.home() / ".cache" / "eqlab" / "app")
        self._models: dict[tuple[str, str], Loaded] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    @staticmethod
    def zoo():
        """The ``eqlab.zoo`` module, or ``None`` while it does not exist."""
        try:
            from eqlab import zoo
        except ImportError:
            return None
        return zoo

    def _zoo_names(self) -> set[str]:
        zoo = self.zoo()
        if zoo is None:
            return set()
        try:
            return set(zoo.available())
        except Exception:  # noqa: BLE001 - a broken zoo must not take the app down
            return set()

    def task_source(self, task: str) -> str:
        """``"zoo"``, ``"quick"`` or ``"random"`` for a task: the zoo only when it has all four arms (arms of
        one task must share an architecture and a training budget to be compared)."""
        if self.source == "random":
            return "random"
        names = self._zoo_names()
        if self.source in ("auto", "zoo") and all(f"{task}/{arm}" in names for arm in ARMS):
            return "zoo"
        if self.source == "zoo":
            raise InputError(f"eqlab.zoo lacks some arms of {task!r}; it has {sorted(names)}")
        return "quick"

    def describe(self) -> str:
        """One line for the page header."""
        if self.source == "random":
            return "untrained nets (`--models random`): the plain, augment and eqreg arms share their initial weights"
        by = {}
        for task in TASKS:
            by.setdefault(self.task_source(task), []).append(task)
        words = {"zoo": "the shipped checkpoints of `eqlab.zoo`",
                 "quick": f"tiny nets trained for {QUICK_STEPS} steps on first use (EQ-Reg weight {QUICK_WEIGHT:g}, "
                          f"then cached in `{self.cache_dir}`)"}
        return "; ".join(f"{', '.join(tasks)}: {words[src]}" for src, tasks in by.items())

    def get(self, task: str, arm: str, progress=None) -> Loaded:
        """The model of ``task`` and ``arm``, loading or training it on first use."""
        key = (task, arm)
        with self._guard:
            if key in self._models:
                return self._models[key]
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._models:
                loaded = self._load(task, arm, progress)
                for_inference(loaded.model)
                with self._guard:
                    self._models[key] = loaded
        return self._models[key]

    def _load(self, task: str, arm: str, progress) -> Loaded:
        source = self.task_source(task)
        if source == "zoo":
            out = self.zoo().load(f"{task}/{arm}")
            model = out[0] if isinstance(out, tuple) else out
            return Loaded(model.cpu(), "zoo", arm)
        config = train_config(task, arm, steps=QUICK_STEPS, weight=QUICK_WEIGHT)
        if source == "random":
            t = get_task(task)
            model_name = t.model_name(ARMS[arm].strict)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                from eqlab.models import build

                model = build(model_name, **t.model_kwargs(model_name, config.features, config.depth, config.levels))
            return Loaded(model, "untrained", arm)
        return Loaded(self._quick(config, progress), "trained on first use", arm)

    def _quick(self, config: TrainConfig, progress) -> nn.Module:
        from eqlab.checkpoint import load_checkpoint, save_checkpoint

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
        result = fit(config, progress=False, callbacks=[callback])
        model = result.model.cpu()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            save_checkpoint(path, model, config.to_dict())
        except OSError:
            pass  # read-only home: keep it in memory only
        return model


def for_inference(model: nn.Module) -> nn.Module:
    """Eval mode, no gradients, conv weights channels-last (about 1.3-2x faster on a CPU, same numbers
    to round-off). Only for models the app owns: they are shared read-only between users."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            module.weight.data = module.weight.data.contiguous(memory_format=torch.channels_last)
    return model


def train_config(task: str, arm: str, steps: int, weight: float, seed: int = 0, **extra) -> TrainConfig:
    """The app's training set-up: the zoo's recipe (net size, patches, learning rate) when ``eqlab.zoo``
    has one, else tiny nets (``SIZES``); cheap validation on 48 px crops; the CPU or the GPU."""
    fields = dict(batch_size=8, patch_size=48, features=16, depth=5, levels=2) | SIZES[task]
    zoo = ModelBank.zoo()
    if zoo is not None and hasattr(zoo, "recipe"):
        try:
            recipe = zoo.recipe(task, arm, int(seed)).flat()
            fields = {k: recipe[k] for k in ("features", "depth", "levels", "batch_size", "patch_size", "lr")}
        except Exception:  # noqa: BLE001 - no recipe for this task: keep the app's tiny nets
            pass
    fields |= dict(val_size=48, log_every=1, val_every=0, share_every=0, device="auto") | extra
    return TrainConfig.of(task=task, arm=arm, weight=float(weight) if arm == "eqreg" else 0.0, steps=int(steps),
                          seed=int(seed), **fields)


def net_summary(task: str) -> str:
    """The nets of a task in words, e.g. ``"dncnn 16 features × 8 convs"``."""
    c = train_config(task, "plain", steps=STEPS_MIN, weight=0.0)
    t = get_task(task)
    size = f"{c.features} features, {c.levels} levels" if t.plain_model == "unet" else \
        f"{c.features} features × {c.depth} convs"
    return f"{t.plain_model} / {t.strict_model} ({size}; {c.batch_size} patches of {c.patch_size} px)"


_MODEL_LOCKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_MODEL_LOCKS_GUARD = threading.Lock()


def model_lock(model: nn.Module) -> threading.RLock:
    """One lock per model: forward hooks (features, equivariance errors) must not interleave."""
    with _MODEL_LOCKS_GUARD:
        return _MODEL_LOCKS.setdefault(model, threading.RLock())


def arm_model(bank: ModelBank, session: dict, task: str, arm: str, progress=None) -> Loaded | None:
    """The model for an arm; ``"yours"`` is the session's trained model (``None`` when there is none)."""
    if arm == YOURS:
        mine = session.get("mine", {}).get(task)
        return Loaded(mine["model"], "yours", f"yours ({mine['label']})") if mine else None
    return bank.get(task, arm, progress)
