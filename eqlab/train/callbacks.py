"""What the training loop does besides training: each job is a callback.

A callback has three hooks, called on every rank (work that only rank 0 does checks
``trainer.world.main``):

    on_start(trainer, record)   before the first step; ``record`` is the step-0 record of a fresh
                                run (``None`` when resuming), to which a callback may add numbers
    on_step(trainer, record)    after every optimizer step; ``record`` holds floats only on logged
                                steps (``"task_loss" in record``), else just ``step`` and ``steps``
    on_end(trainer)             after the last step (or a requested stop)

The loop builds its own, in this order: ``Validation`` (PSNR, SSIM and equivariance errors on the
test images), ``StallCheck`` (a run that stays at its degraded input is flagged), ``History`` (the
logged records), ``Checkpoints`` (safetensors files, written atomically; needs ``out_dir``) and
``Progress`` (a tqdm bar). Yours come after them; a plain function is called as ``fn(record)``
after every step. Any callback may end the run early with ``trainer.request_stop()``.

What is not here: the loop (``eqlab.train.loop``), the file format (``eqlab.checkpoint``).
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import tempfile
import time
from pathlib import Path

from eqlab.checkpoint import save_checkpoint
from eqlab.files import atomic_path, write_text
from eqlab.tasks import evaluate

__all__ = ["Callback", "Validation", "StallCheck", "History", "Checkpoints", "Progress", "as_callback",
           "check_out_dir", "CHECKPOINT_NAME", "RUN_FILES", "STALL_MARGIN_DB", "COLLAPSE_STEPS"]

CHECKPOINT_NAME = "checkpoint.safetensors"
STALL_MARGIN_DB = 0.1  # a validation this close to the degraded input's PSNR counts as "not learned"
COLLAPSE_STEPS = 40  # a stall is called the penalty's collapse from this step on (before, the net may not have
#                      learned yet: notebook 3's quick denoiser from scratch is 4.6 dB above its input at step 50)
_SHORT = ("psnr", "ssim", "baseline_psnr", "layer_error", "output_error")


class Callback:
    """Base class: every hook does nothing."""

    def on_start(self, trainer, record: dict | None) -> None:
        """Called once before the first step; ``record`` is the step-0 record (``None`` on a resume)."""

    def on_step(self, trainer, record: dict) -> None:
        """Called after every optimizer step: the full record (losses as floats) on logged steps, else the step only."""

    def on_end(self, trainer) -> None:
        """Called once after the last step (or after a stop)."""


class _Function(Callback):
    def __init__(self, fn):
        self.fn = fn

    def on_step(self, trainer, record: dict) -> None:
        self.fn(record)


def as_callback(item) -> Callback:
    """A ``Callback`` as it is; a function ``fn(record)`` wrapped to be called after every step."""
    if isinstance(item, Callback):
        return item
    if callable(item):
        return _Function(item)
    raise TypeError(f"a callback must be a Callback or a function of the step record, got {type(item).__name__}")


class Validation(Callback):
    """Score the net (its moving average, when the run keeps one) on the validation crops
    (``eqlab.tasks.evaluate``) at step 0, every ``every`` steps and at the end; the numbers go into the
    record as ``val_<name>`` and the last full result into ``trainer.metrics``. Rank 0 only."""

    def __init__(self, every: int):
        self.every = every

    def _validate(self, trainer, record: dict | None) -> None:
        trainer.metrics = evaluate(trainer.scored_model, trainer.task, trainer.val_images, group=trainer.group)
        trainer.metrics_step = trainer.step
        if record is not None:
            record.update({f"val_{k}": trainer.metrics[k] for k in _SHORT})

    def on_start(self, trainer, record):
        if record is not None and trainer.world.main:
            self._validate(trainer, record)

    def on_step(self, trainer, record):
        last = trainer.step == trainer.config.optim.steps
        if trainer.world.main and (last or (self.every and trainer.step % self.every == 0)):
            self._validate(trainer, record)

    def on_end(self, trainer):
        if trainer.world.main and trainer.metrics_step != trainer.step:
            self._validate(trainer, None)


class StallCheck(Callback):
    """Flag a run whose validation PSNR stays within ``margin_db`` of its degraded input (or falls below it, or
    is NaN); stop it when the arm says the penalty did it.

    Checked at every validation from ``after`` (a fraction of the steps) on and at the end; the
    record gets ``stalled``, the result ``TrainResult.stalled`` (the last check's verdict). A logged
    loss that is NaN or infinite, or a validation whose output is (``evaluate``'s ``non_finite``), stops
    the run at once: it is stalled, and ``TrainResult.non_finite`` says what broke. When the
    arm's ``collapse`` explains a stall (``EQRegArm``: the penalty drove a share of the update) after
    at least ``collapse_steps`` steps, the run ends after that step (``trainer.request_stop``) and the
    explanation is ``trainer.collapse`` (``TrainResult.collapse``, and one of ``TrainResult.warnings``).
    """

    def __init__(self, margin_db: float = STALL_MARGIN_DB, after: float = 0.25,
                 collapse_steps: int = COLLAPSE_STEPS):
        self.margin_db, self.after, self.collapse_steps = margin_db, after, collapse_steps

    def _check(self, trainer, psnr: float, baseline: float) -> bool:
        trainer.stalled = bool(trainer.non_finite) or not psnr >= baseline + self.margin_db  # NaN: stalled
        return trainer.stalled

    def on_step(self, trainer, record):
        broken = [k for k in ("task_loss", "loss") if k in record and not math.isfinite(record[k])]
        if broken or (trainer.metrics_step == trainer.step and trainer.metrics.get("non_finite")):
            what = f"its {broken[0]} is {record[broken[0]]}" if broken else "its output holds NaN or infinite values"
            trainer.flag_non_finite(f"step {trainer.step}: {what}")
            record["stalled"] = trainer.stalled = True
        elif "val_psnr" in record and trainer.step >= self.after * trainer.config.optim.steps:
            record["stalled"] = self._check(trainer, record["val_psnr"], record["val_baseline_psnr"])
            judged = record["stalled"] and trainer.step >= self.collapse_steps
            why = trainer.arm.collapse(trainer.step, record["val_psnr"], record["val_baseline_psnr"],
                                       self.margin_db) if judged else None
            if why is not None and trainer.collapse is None:
                trainer.collapse = why
                trainer.request_stop()

    def on_end(self, trainer):
        if trainer.world.main and trainer.metrics:
            if trainer.metrics.get("non_finite"):
                trainer.flag_non_finite("the last validation: its output holds NaN or infinite values")
            self._check(trainer, trainer.metrics["psnr"], trainer.metrics["baseline_psnr"])


class History(Callback):
    """Keep the step-0 record, every logged record and the last one in ``trainer.history`` (rank 0)."""

    def on_start(self, trainer, record):
        if record is not None and trainer.world.main:
            trainer.history.append(record)

    def on_step(self, trainer, record):
        if trainer.world.main and "task_loss" in record:
            trainer.history.append(record)

    def on_end(self, trainer):
        if trainer.world.main and (not trainer.history or trainer.history[-1]["step"] != trainer.step):
            trainer.history.append(trainer.full_record())  # a stop between logged steps


def _write_json(path: Path, value) -> None:
    write_text(path, json.dumps(value, indent=1))


def _write_csv(path: Path, history: list[dict]) -> None:
    columns = list(dict.fromkeys(k for record in history for k in record))
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(history)


RUN_FILES = (CHECKPOINT_NAME, "config.json", "history.json", "history.csv")  # what makes a folder hold a run


def check_out_dir(run) -> None:
    """Refuse an ``out_dir`` that would lose data or fail late; called before any model is built.

    Args:
        run: the ``RunConfig``.

    Raises:
        ValueError: ``out_dir`` is a file, cannot be created or written, or holds a run (``RUN_FILES``)
            while neither ``resume`` nor ``overwrite`` is set.
    """
    if not run.out_dir:
        return
    folder = Path(run.out_dir)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"out_dir {str(folder)!r} is a file, not a folder")
    held = [name for name in RUN_FILES if (folder / name).exists()]
    if held and not (run.resume or run.overwrite):
        raise ValueError(f"out_dir {str(folder)!r} holds a run ({', '.join(held)}); continue it with --resume, "
                         "replace it with --overwrite, or choose another --out-dir")
    created = [p for p in (folder, *folder.parents) if not p.exists()]  # made for the test, removed after it
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise ValueError(f"out_dir {str(folder)!r} cannot be written: {err.strerror or err}") from None
    finally:  # the check leaves no trace: a dry run writes nothing, a failed set-up no empty folder
        for path in created:
            with contextlib.suppress(OSError):
                path.rmdir()


class Checkpoints(Callback):
    """Write ``out_dir/checkpoint.safetensors`` (weights and their moving average, optimizer, generators, arm
    state, history)
    every ``every`` steps and at the end, with ``history.json``, ``history.csv`` and ``config.json``.

    Every rank takes part (the generator states are gathered); rank 0 writes.
    """

    def __init__(self, out_dir: str, every: int):
        self.out_dir, self.every = Path(out_dir), every

    @property
    def path(self) -> Path:
        """Where the checkpoint is written: ``out_dir/checkpoint.safetensors``."""
        return self.out_dir / CHECKPOINT_NAME

    def on_start(self, trainer, record):
        if trainer.world.main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            if trainer.config.run.overwrite:  # --overwrite: the earlier run's files go, none is left to mislead
                for name in RUN_FILES:
                    (self.out_dir / name).unlink(missing_ok=True)
            _write_json(self.out_dir / "config.json", trainer.config.to_dict())

    def on_step(self, trainer, record):
        if self.every and trainer.step % self.every == 0 and trainer.step < trainer.config.optim.steps:
            self.save(trainer, final=False)

    def on_end(self, trainer):
        self.save(trainer, final=not trainer.stopped)

    def save(self, trainer, final: bool) -> None:
        """Write the checkpoint now (every rank must call it); ``final`` marks the run's last one."""
        states = trainer.world.generator_states(trainer.generators)  # a collective: every rank calls it
        if not trainer.world.main:
            return
        extra = dict(wall_time_s=trainer.wall_time_s(), train_s=trainer.train_s, world_size=trainer.world.size,
                     final=final, samples=trainer.samples, arm=trainer.arm.name, arm_state=trainer.arm.state_dict())
        save_checkpoint(self.path, trainer.model, trainer.config.to_dict(), trainer.optimizer, trainer.step,
                        trainer.history, states, extra=extra, ema=None if trainer.ema is None else trainer.ema.model)
        _write_json(self.out_dir / "history.json", trainer.history)
        _write_csv(self.out_dir / "history.csv", trainer.history)
        trainer.paths.update(checkpoint=str(self.path), history_json=str(self.out_dir / "history.json"),
                             history_csv=str(self.out_dir / "history.csv"), config=str(self.out_dir / "config.json"))


class Progress(Callback):
    """A tqdm progress bar with the task loss (rank 0)."""

    def __init__(self):
        self.bar = None
        self.last = 0.0

    def on_start(self, trainer, record):
        if trainer.world.main:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=trainer.config.optim.steps, initial=trainer.step, leave=False,
                            desc=f"{trainer.task.name}/{trainer.arm.name}")

    def on_step(self, trainer, record):
        if self.bar is not None:
            self.bar.update(1)
            if "task_loss" in record and time.perf_counter() - self.last > 0.5:
                self.last = time.perf_counter()
                self.bar.set_postfix(loss=f"{record['task_loss']:.2e}", refresh=False)

    def on_end(self, trainer):
        if self.bar is not None:
            self.bar.close()
