"""eqlab: explore EQ-Reg, soft rotation equivariance for image restoration networks.

A reading order for the package (each module imports only those above it; docs/architecture.md):

    machine      how eqlab uses the CPU threads, and what cards record about the machine
    groups       C2 / C4 / D4 (exact) and C8 (interpolated) groups, representations, pairing
    layouts      how a layer's output is read as a map (maps, channels-last, tokens, windows)
    layers       strictly C4-equivariant blocks (the P4 group CNN)
    data         bundled offline images, folders, degradations, synthetic data, patches
    probe        a dry run of any net: what its conv / linear layers produce, rolls, the output's graph
    selection    which layers EQ-Reg reads, how, and why not, from the probe
    regularizer  EQReg: the penalty, attached to any unmodified nn.Module by forward hooks
    metrics      PSNR / SSIM and equivariance errors (per layer, output, pixel, angle; rotation views)
    models       small restoration nets, their strict twins and spandrel's SwinIR, by name
    tasks        denoise / sr / deblur set-ups, and evaluate() that scores a net on one
    arms         plain / augment / eqreg / strict: how a training step forms its batch and loss
    checkpoint   safetensors checkpoints, atomic and validated
    train        TrainConfig and fit(): the training loop and its callbacks
    zoo          shipped tiny checkpoints
    experiments  grids of runs with a cache and statistics (the zoo build and the report)
    cli          the eqlab command
    viz, widgets, app   matplotlib figures, ipywidgets explorers, the Gradio app (never imported by the core)

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
