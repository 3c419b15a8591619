"""eqlab: explore EQ-Reg, soft rotation equivariance for image restoration networks.

A reading order for the package (each module imports only those above it):

    groups       C2 / C4 / D4 (exact) and C8 (interpolated) groups, channel representations, pairing
    layers       strictly C4-equivariant blocks (the P4 group CNN)
    regularizer  EQReg: the penalty, attached to any unmodified nn.Module by forward hooks
    metrics      PSNR / SSIM and equivariance errors (per layer, per element, output, maps)
    data         bundled offline images, folders, degradations, synthetic data, patches
    models       small restoration nets and their strict twins, by name
    tasks        denoise / sr / deblur set-ups, and evaluate() that scores a net on one
    arms         plain / augment / eqreg / strict: how a training step forms its batch and loss
    train        TrainConfig and fit(): the training loop and its callbacks
    checkpoint   safetensors checkpoints, atomic and validated
    zoo          shipped tiny checkpoints
    experiments  grids of runs with a cache and statistics (the zoo build and the report)
    viz, widgets matplotlib figures and ipywidgets explorers (never imported by the core)

Importing eqlab chooses how torch uses the CPU threads, so that a busy laptop stays fast without any
environment variable (``eqlab.machine``; ``eqlab.THREADS`` says what was chosen).
"""

from eqlab.machine import choose_threads, choose_wait_policy

_policy = choose_wait_policy()  # before anything imports torch

from eqlab import groups, metrics  # noqa: E402 - after the OpenMP choice, on purpose
from eqlab.groups import C2, C4, C8, D4, get_group  # noqa: E402
from eqlab.regularizer import EQReg  # noqa: E402

THREADS = choose_threads(_policy)  # "user", "passive", "one thread" or "too late" (see eqlab.machine)

__version__ = "0.2.0"
__all__ = ["EQReg", "C2", "C4", "D4", "C8", "get_group", "groups", "metrics", "__version__", "THREADS"]
