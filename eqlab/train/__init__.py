"""Training: ``TrainConfig`` and ``fit()`` for the arms of ``eqlab.arms``.

    from eqlab.train import TrainConfig, fit
    result = fit(TrainConfig.of(task="denoise", arm="eqreg", steps=200))
    result.metrics["psnr"], result.history[-1]

Reading order: ``loop`` (the ``Trainer`` and its loop: sample, degrade, arm batch, forward, arm
loss, step, callbacks), ``config`` (the five groups of fields), ``callbacks`` (validation, stall
check, history, checkpoints, progress), ``distributed`` (``torchrun``).

What is not here: the arms (``eqlab.arms``), the tasks and ``evaluate`` (``eqlab.tasks``, re-exported
here), the file format (``eqlab.checkpoint``), the command line (``eqlab.cli``).
"""

from eqlab.arms import ARMS
from eqlab.tasks import evaluate
from eqlab.train.callbacks import (
                                   CHECKPOINT_NAME,
                                   STALL_MARGIN_DB,
                                   Callback,
                                   Checkpoints,
                                   History,
                                   Progress,
                                   StallCheck,
                                   Validation,
)
from eqlab.train.config import (
                                   SECTIONS,
                                   MethodConfig,
                                   NetConfig,
                                   OptimConfig,
                                   ProblemConfig,
                                   RunConfig,
                                   TrainConfig,
                                   option,
)
from eqlab.train.loop import Trainer, TrainResult, fit

__all__ = [
    "TrainConfig", "ProblemConfig", "NetConfig", "MethodConfig", "OptimConfig", "RunConfig", "SECTIONS", "option",
    "fit", "Trainer", "TrainResult", "Callback", "Validation", "StallCheck", "History", "Checkpoints", "Progress",
    "evaluate", "ARMS", "CHECKPOINT_NAME", "STALL_MARGIN_DB",
]
