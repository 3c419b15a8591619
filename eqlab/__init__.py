"""eqlab: explore EQ-Reg, soft rotation equivariance for image restoration networks.

A reading order for the package (each module imports only those above it; docs/architecture.md):

    machine      how eqlab uses the CPU threads, and what cards record about the machine
    checks       the argument checks every constructor and the config share (check_number, ...)
    files        atomic file writes (checkpoints, histories, a grid's records)
    groups       cyclic and dihedral groups of any order (quarter turns exact, others interpolated), representations
    layouts      how a layer's output is read as a map (maps, channels-last, tokens, windows)
    layers       strictly C4-equivariant blocks (the P4 group CNN)
    data         bundled offline images, folders, degradations, synthetic data, patches
    probe        a dry run of any net: what its conv / linear layers produce, rolls, the output's graph
    selection    which layers EQ-Reg reads, how, and why not, from the probe
    regularizer  EQReg: the penalty, attached to any unmodified nn.Module by forward hooks
    metrics      PSNR / SSIM and equivariance errors (per layer, output, pixel, angle; rotation views)
    ensemble     test-time averaging of any net over C2 / C4 / D4 (the self-ensemble)
    models       small restoration nets, their strict twins and spandrel's SwinIR, by name
    tasks        the table of tasks (degradation, nets, how the app shows them), and evaluate()
    testsets     benchmark folders (Set5, ...) scored whole, as SR papers do: a table per folder
    arms         plain / augment / eqreg / strict: how a training step forms its batch and loss
    checkpoint   safetensors checkpoints, atomic and validated
    train        TrainConfig and fit(): the training loop and its callbacks
    zoo          shipped tiny checkpoints
    experiments  grids of runs with a cache and statistics (the zoo build and the report)
    cli          the eqlab command
    viz, widgets, app   matplotlib figures, ipywidgets explorers, the Gradio app (never imported by the core)

Importing eqlab chooses how torch uses the CPU threads, so that a busy laptop stays fast without any
environment variable (``eqlab.machine``; ``eqlab.THREADS`` says what was chosen), and, on glibc, that
freed memory stays in the process for the next training step (``eqlab.ALLOCATOR``).
"""

from eqlab.machine import choose_allocator, choose_threads, choose_wait_policy

_policy = choose_wait_policy()  # before anything imports torch
ALLOCATOR = choose_allocator()  # "keep", "keep 32 MiB", "user", "default", "not glibc" or "refused"

from eqlab import groups, metrics  # noqa: E402 - after the OpenMP choice, on purpose
from eqlab.groups import C2, C4, C8, D4, CyclicGroup, DihedralGroup, get_group  # noqa: E402
from eqlab.regularizer import EQReg  # noqa: E402

THREADS = choose_threads(_policy)  # "user", "passive", "one thread" or "too late" (see eqlab.machine)

__version__ = "0.4.0"
__all__ = ["EQReg", "C2", "C4", "D4", "C8", "CyclicGroup", "DihedralGroup", "get_group", "groups", "metrics",
           "__version__", "THREADS", "ALLOCATOR"]
