"""What the app says: the introduction, the definition of the relative error, and how to read the numbers.

What is here: ``INTRO``, ``RELATIVE_ERROR`` and its one-line form ``ERROR_SHORT`` (the definition
shown next to every chart and picture that shows the error: what 0, 1.41 = sqrt 2 and 2 mean),
``CHARTS`` (what the Explore charts measure), ``OUTPUT_ERROR`` (why eqreg's output error need not
be lower than plain's), ``FLOOR`` (the interpolation floor), ``TRAIN_CURVES`` (how to read the
Train tab) and ``read_error`` (a few words for one number).

What is not here: the numbers (``eqlab.metrics``), the layout (``ui.py``).
"""

INTRO = """# eqlab · EQ-Reg explorer
A layer is **rotation-equivariant** when rotating its input rotates its feature maps and cycles their channels:
f(g·x) = P_g rot_g f(x). **EQ-Reg** (CVPR 2025) asks an ordinary restoration CNN to be so, softly, with a penalty
on that difference. Four *arms*: **plain** (no rotations), **augment** (rotated copies, no penalty), **eqreg**
(rotated copies + penalty) and **strict** (a group CNN, equivariant by construction).
"""

RELATIVE_ERROR = """**Relative error** of a layer f for a rotation g, with A = P_g rot_g f(x) (the features of x,
rotated, channels shifted) and B = f(g·x) (the features of the rotated input):
e = ‖A − B‖ / √((‖A‖² + ‖B‖²) / 2).
**0**: equivariant (the maps agree). **1.41 = √2**: unrelated maps of equal energy
(‖A − B‖² = ‖A‖² + ‖B‖² when A and B are uncorrelated). **Above 1.41**: the maps are anti-correlated,
e.g. an edge filter turned by 180° answers with the opposite sign; **2**: A = −B.
"""

OUTPUT_ERROR = """**Why eqreg's output error is not much lower than plain's.** The output error compares whole
images, and a restoration net's output is mostly its input (the noisy or blurred photo itself), which rotates
exactly. Only the small correction the net adds can break equivariance, so every arm scores low there. The hidden
layers are where the arms differ: see the per-layer chart.
"""

FLOOR = """**Interpolation floor** (grey): the same measurement for an isotropic Gaussian blur, an operation that is
rotation-equivariant before the image is put on a pixel grid. At multiples of 90° every pixel lands on a pixel and
it is 0; in between, bilinear interpolation alone costs this much. A net's curve far above it is the net's doing.
"""

TRAIN_CURVES = """**Reading the curves.** The task loss should fall. R is EQ-Reg's unweighted, scale-free penalty
(0 = every hooked layer equivariant; e²/2 per layer, so about 1 for unrelated maps). λ is its weight: fixed, or
adapted to hold the *gradient share* ‖∇λR‖ / ‖∇task‖ you ask for. Validation (a few times per run, on the test
images' 48 px centre crops): the PSNR of the net and of its degraded input (the series "input (degraded)"), and
the mean layer error (the relative error of the Explore tab, averaged over the layers and rotations). Each run you
make in this browser session stays on the charts; "Clear runs" empties them.
"""


def read_error(value: float) -> str:
    """A few words on one relative error."""
    if value != value:  # NaN
        return "not measured"
    if value < 0.02:
        return "equivariant (to round-off)"
    if value < 0.3:
        return "nearly equivariant"
    if value < 1.0:
        return "partly equivariant"
    if value <= 1.5:
        return "about as unrelated as two random maps, ≈ 1.41"
    return "anti-correlated, above 1.41: the maps tend to opposite signs"


ERROR_SHORT = ("Relative error e = ‖A − B‖ / √((‖A‖² + ‖B‖²) / 2) with A = P_g rot_g f(x), B = f(g·x): "
               "**0** equivariant · **1.41 = √2** unrelated maps of equal energy · **2** opposite signs.")

CHARTS = """**The charts** are measured on the image shown above (its 128 px square). *Layer error*: the relative
error of each layer, with its P_g, averaged over every rotation g ≠ e of the group; the pictures above show one g.
*Output error vs angle*: the whole net's output (P_g is the identity for an image), for turns by any angle: exact
at multiples of 90°, interpolated in between.
"""
