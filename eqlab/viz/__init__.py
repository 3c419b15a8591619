r"""Figures for eqlab: what equivariance, EQ-Reg and restoration look like.

Every function builds a ``matplotlib.figure.Figure`` directly (no ``pyplot``, no global state),
so figures can be made from several threads (the Gradio app) and never pop up by themselves. Show
one in a notebook by leaving it as the last expression of a cell; save it with ``fig.savefig``.

What is here (import everything from ``eqlab.viz``; the modules say where each figure lives):
    - ``features``: ``rotation_panel`` (the paper's figure 1(c) from your own net:
      :math:`f(g x)` next to :math:`P_g\, \mathrm{rot}_g f(x)`), ``feature_layers`` and
      ``field_size`` (the layers of a model the panels can show, and how many channels form one
      field of a representation).
    - ``components``: ``component_spectrum`` (a layer's field spectrum: the energy share and the
      error of each isotypic component, several nets side by side, with the verdict that tells an
      orientation-carrying layer from an orientation-blind one) and ``pool_components``.
    - ``errors``: ``layer_error_bars`` (per-layer errors across arms), ``error_vs_angle_plot``
      (arbitrary angles, interpolation floor), ``weight_tradeoff`` (PSNR and error against λ).
    - ``groups``: ``group_orbit``, ``cayley_table``, ``channel_shift_diagram``.
    - ``training``: ``training_curves``.
    - ``experiments``: ``arm_comparison``, ``share_tradeoff``, ``synthetic_knob``, ``regime_map``,
      ``regime_figure`` (the figures of ``docs/results.md`` and ``docs/regimes.md``).
    - ``restoration``: ``restoration_comparison``, ``degradation_symmetry``.
    - ``grid``: ``image_grid``, a plain grid of images or maps, for everything else.
    - ``ARM_COLORS``: one colour per experimental arm, the same in every figure (``_common``,
      with the helpers the figures share).

What is not here: any computation a test should assert on (``eqlab.metrics``,
``eqlab.data.degradation_commutes``) and interactivity (``eqlab.widgets``).

Convention: images are ``(C, H, W)`` or ``(1, C, H, W)`` tensors in [0, 1] (gray or RGB), shown
with row 0 at the top, so a rotation by ``+90°`` turns them counter-clockwise on screen.
"""

from eqlab.viz._common import ARM_COLORS
from eqlab.viz.components import component_spectrum, pool_components
from eqlab.viz.errors import error_vs_angle_plot, layer_error_bars, weight_tradeoff
from eqlab.viz.experiments import arm_comparison, regime_figure, regime_map, share_tradeoff, synthetic_knob
from eqlab.viz.features import feature_layers, field_size, rotation_panel
from eqlab.viz.grid import image_grid
from eqlab.viz.groups import cayley_table, channel_shift_diagram, group_orbit
from eqlab.viz.restoration import degradation_symmetry, restoration_comparison
from eqlab.viz.training import training_curves

__all__ = [
    "rotation_panel", "channel_shift_diagram", "layer_error_bars", "error_vs_angle_plot", "training_curves",
    "restoration_comparison", "degradation_symmetry", "weight_tradeoff", "group_orbit", "cayley_table",
    "image_grid", "feature_layers", "field_size", "ARM_COLORS", "arm_comparison", "share_tradeoff",
    "synthetic_knob", "regime_map", "regime_figure", "component_spectrum", "pool_components",
]
