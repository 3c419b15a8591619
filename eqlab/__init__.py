"""eqlab: explore EQ-Reg, soft rotation equivariance for image restoration networks.

A reading order for the package (each module imports only those above it):

    groups       C2 / C4 / D4 (exact) and C8 (interpolated) groups, channel representations
    layers       strictly C4-equivariant blocks (the P4 group CNN)
    regularizer  EQReg: the penalty, attached to any unmodified nn.Module by forward hooks
    metrics      PSNR / SSIM and equivariance errors (per layer, per element, output, maps)
    data         bundled offline images, folders, degradations, synthetic data, patches
    models       small restoration nets and their strict twins, by name
    tasks        denoise / sr / deblur set-ups
    train        TrainConfig and fit(): the plain / augment / eqreg / strict arms
    checkpoint   safetensors checkpoints, atomic and validated
    zoo          shipped tiny checkpoints
    viz, widgets matplotlib figures and ipywidgets explorers (never imported by the core)
"""

from eqlab import groups, metrics
from eqlab.groups import C2, C4, C8, D4, get_group
from eqlab.regularizer import EQReg

__version__ = "0.1.0"
__all__ = ["EQReg", "C2", "C4", "D4", "C8", "get_group", "groups", "metrics", "__version__"]
