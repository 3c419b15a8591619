"""Data for eqlab: offline images, image folders, degradations, synthetic images, patches.

Nothing here downloads, and nothing imports matplotlib at import time.

What is where:
    - ``eqlab.data.images``: the bundled default set (scikit-image and matplotlib sample
      photographs) with a fixed train/test split: ``TRAIN_IMAGES``, ``TEST_IMAGES``,
      ``image_names``, ``load_image``, ``load_default``.
    - ``eqlab.data.folder``: your own folder (BSD68, Set5, DIV2K, ...): ``load_folder``,
      ``read_image``, ``FolderImages``, ``IMAGE_EXTENSIONS``.
    - ``eqlab.data.convert``: float ``(C, H, W)`` tensors in ``[0, 1]``, BT.601 gray,
      ``rgb_to_gray``, ``to_mode``, ``limit_side``.
    - ``eqlab.data.kernels``: ``gaussian_kernel``, ``motion_kernel``, ``filter2d``.
    - ``eqlab.data.degrade``: ``GaussianNoise``, ``BicubicDown`` / ``bicubic_up``, ``RandomMotionBlur``, ``Chain``,
      ``GaussianBlur``, ``MotionBlur``, ``get_degradation``.
    - ``eqlab.data.commute``: ``degradation_commutes`` (does ``D`` commute with a group?).
    - ``eqlab.data.synthetic``: ``oriented_image`` (the symmetry knob), ``smooth_image``,
      ``synthetic_set``, ``orientation_coherence``, ``dominant_orientation_deg``.
    - ``eqlab.data.patches``: ``PatchSampler``, ``draw_positions``, ``fixed_test_patches``,
      ``center_crop``, ``crop_to_multiple``.
    - ``eqlab.data.pipeline`` (imported by name): the training pipeline, a ``torch.utils.data``
      Dataset over a folder read lazily (``ImageFiles``, a uint8 cache), plans drawn in order
      (``BatchPlanner``), ``PatchPairs`` and ``patch_loader`` (workers, pinned memory).

Example:
    >>> import torch
    >>> from eqlab.data import load_default, GaussianNoise, PatchSampler
    >>> gen = torch.Generator().manual_seed(0)
    >>> y = next(iter(PatchSampler(load_default("train"), 48, 16, gen)))  # (16, 1, 48, 48)
    >>> x = GaussianNoise(25)(y, generator=gen)  # noisy input
"""

from eqlab.data.commute import degradation_commutes
from eqlab.data.convert import BT601, MODES, gray_to_rgb, limit_side, rgb_to_gray, to_mode, to_tensor
from eqlab.data.degrade import (
    DEGRADATIONS,
    BicubicDown,
    Chain,
    GaussianBlur,
    GaussianNoise,
    MotionBlur,
    RandomMotionBlur,
    bicubic_up,
    get_degradation,
)
from eqlab.data.folder import IMAGE_EXTENSIONS, FolderImages, load_folder, read_image
from eqlab.data.images import ALL_IMAGES, TEST_IMAGES, TRAIN_IMAGES, image_names, load_default, load_image
from eqlab.data.kernels import filter2d, gaussian_kernel, motion_kernel
from eqlab.data.patches import PatchSampler, center_crop, crop_to_multiple, fixed_test_patches
from eqlab.data.synthetic import (
    dominant_orientation_deg,
    orientation_coherence,
    oriented_image,
    smooth_image,
    synthetic_set,
)

__all__ = [
    # images
    "TRAIN_IMAGES", "TEST_IMAGES", "ALL_IMAGES", "image_names", "load_image", "load_default",
    # folder
    "IMAGE_EXTENSIONS", "FolderImages", "load_folder", "read_image",
    # convert
    "MODES", "BT601", "to_tensor", "rgb_to_gray", "gray_to_rgb", "to_mode", "limit_side",
    # kernels
    "gaussian_kernel", "motion_kernel", "filter2d",
    # degrade
    "GaussianNoise", "BicubicDown", "bicubic_up", "GaussianBlur", "MotionBlur", "RandomMotionBlur", "Chain",
    "DEGRADATIONS", "get_degradation",
    # commute
    "degradation_commutes",
    # synthetic
    "oriented_image", "smooth_image", "synthetic_set", "orientation_coherence", "dominant_orientation_deg",
    # patches
    "PatchSampler", "fixed_test_patches", "center_crop", "crop_to_multiple",
]
