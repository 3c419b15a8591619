"""Image-quality and equivariance metrics.

    quality       ``psnr``, ``ssim`` (Y channel of BT.601, border crop; scikit-image's SSIM), ``rgb_to_y``
    equivariance  ``equivariance_error`` per layer x element x kind, ``mean_layer_error``,
                  ``output_equivariance_error``, ``equivariance_error_map``, ``error_vs_angle``,
                  ``rotation_view`` (what a rotation panel shows), ``layer_features`` / ``layer_maps``
                  (the feature capture), ``viewable_layers``, ``relative_error``
                  ``equivariance_components`` (energy and error per isotypic component of each layer)
    components    which equivariance: ``orientation_summary`` (oriented share, its error, the blind flag),
                  ``verdict`` and its thresholds, ``centred``
    words         every sentence that interprets a number, with its thresholds: the layer ``verdict`` (exactly
                  equivariant, softly equivariant and carrying orientation, orientation-blind, not equivariant),
                  runs (learned / stalled / collapsed), weights (trade-off / collapse), "flat", comparisons
    lie           small rotations: ``lie_derivative`` (relative Lie derivative per layer and at the output, with
                  its floor), ``LIE_STEP_DEG``

What is not here: the training penalty (``eqlab.regularizer``), scoring a net on a task (``eqlab.tasks.evaluate``).
"""

from eqlab.metrics import words
from eqlab.metrics.components import BLIND_SHARE, EXACT, UNRELATED, centred, orientation_summary, verdict
from eqlab.metrics.equivariance import (
                                        FLOOR_SIGMA,
                                        KINDS,
                                        RotationView,
                                        equivariance_components,
                                        equivariance_error,
                                        equivariance_error_map,
                                        error_vs_angle,
                                        layer_features,
                                        layer_maps,
                                        mean_layer_error,
                                        output_equivariance_error,
                                        relative_error,
                                        rotation_view,
                                        viewable_layers,
)
from eqlab.metrics.lie import LIE_STEP_DEG, lie_derivative
from eqlab.metrics.quality import psnr, rgb_to_y, ssim, to_8bit

__all__ = [
    "psnr", "ssim", "rgb_to_y", "to_8bit", "equivariance_error", "mean_layer_error", "output_equivariance_error",
    "equivariance_error_map", "error_vs_angle", "relative_error", "layer_features", "layer_maps", "rotation_view",
    "RotationView", "viewable_layers", "KINDS", "FLOOR_SIGMA", "equivariance_components", "orientation_summary",
    "verdict", "centred", "UNRELATED", "BLIND_SHARE", "EXACT", "lie_derivative", "LIE_STEP_DEG", "words",
]
