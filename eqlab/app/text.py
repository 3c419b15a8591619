"""What the app says: the introduction, the definition of the relative error, and how to read the numbers.

What is here: ``INTRO``, ``RELATIVE_ERROR`` and its one-line form ``ERROR_SHORT`` (the definition
shown next to every chart and picture that shows the error, with the thresholds of
``eqlab.metrics.words``: every number in these sentences is read from there), ``VOCABULARY`` (the
words beside every error, defined once, from ``eqlab.metrics.words.VOCABULARY``), ``WHICH``
(orientation-carrying against orientation-blind: the field spectrum), ``OUTPUT_SCALE`` (the output
error of the Restore tab, on images), ``CHARTS`` (what the Explore charts measure), ``OUTPUT_ERROR``
(what the output error can and cannot show; the comparison of the arms is computed beside the table),
``FLOOR`` (the interpolation floor) and ``TRAIN_CURVES`` (how to read the Train tab).

What is not here: the numbers and the sentences made from them (``eqlab.metrics.words``: the app has no
thresholds of its own), the layout (``tabs/``).
"""

from eqlab.metrics.words import BLIND_SHARE, EQUIVARIANT, EXACT, PARTLY, UNRELATED, VOCABULARY

INTRO = """# eqlab · EQ-Reg explorer
A layer is **rotation-equivariant** when rotating its input rotates its feature maps and cycles their channels:
f(g·x) = P_g rot_g f(x). **EQ-Reg** (CVPR 2025) asks an ordinary restoration CNN to be so, softly, with a penalty
on that difference. Four *arms*: **plain** (no rotations), **augment** (rotated copies, no penalty), **eqreg**
(rotated copies + penalty) and **strict** (a group CNN, equivariant by construction).
"""

RELATIVE_ERROR = f"""**Relative error** of a layer f for a rotation g, with A = P_g rot_g f(x) (the features of x,
rotated, channels shifted) and B = f(g·x) (the features of the rotated input), each channel's map centred (its
spatial mean removed): e = ‖A − B‖ / √((‖A‖² + ‖B‖²) / 2). The words beside every number come from
`eqlab.metrics.words`, on these thresholds: **below {EXACT:g}** exactly equivariant (float round-off) · **below
{EQUIVARIANT:g}** softly equivariant · **below {PARTLY:g}** partly equivariant · **about {UNRELATED:.2f} (√2)**: as
unrelated as two random maps (centred, they are nearly orthogonal, so ‖A − B‖² ≈ ‖A‖² + ‖B‖²; uncentred maps after a
ReLU would read only 0.7–1.2) · **2**: A = −B, opposite signs (an edge filter turned by 180° answers with the
opposite sign).
"""

WHICH = f"""**Which equivariance? Orientation-carrying or orientation-blind.** A small error can mean two things. A
group CNN (strict) is equivariant with fields that *carry orientation*: their channels differ and cycle when the input
turns. A field whose channels are all equal (and isotropic) satisfies f(g·x) = P_g rot_g f(x) *for free* and carries
no orientation: it is **orientation-blind**. The field spectrum tells them apart: it splits each field into the
isotypic components of its representation (C4's regular fields: *invariant*, the field mean that no channel shift
can see; *frequency 1*, the part that turns like a vector; *sign*, + − + −) and gives each one its share of the
energy and its own error. A layer with less than {BLIND_SHARE:.0%} of its energy in the oriented components is
called orientation-blind unless it is exactly equivariant: its small error is the error of its invariant part. A
layer of a group CNN is equivariant by construction (its error is float round-off, below {EXACT:g}) and is called
exactly equivariant whatever share of its energy carries orientation.
"""

VOCABULARY = ("**The words beside every error** (`eqlab.metrics.words`, the same in the notebooks):\n\n"
              + "\n".join(f"- **{word}**: {meaning}." for word, meaning in VOCABULARY.items()))

OUTPUT_ERROR = """**What the output error can show.** It compares whole images, and a restoration net's output is
mostly its input (the noisy or blurred photo itself), which rotates exactly. Only the correction the net adds can
break equivariance, so every arm's output error is small on this scale; how the arms compare is computed beside the
table (Restore & compare). The hidden layers are where orientation is kept or lost: see the per-layer chart.
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


ERROR_SHORT = (f"Relative error e = ‖A − B‖ / √((‖A‖² + ‖B‖²) / 2) with A = P_g rot_g f(x), B = f(g·x), maps "
               f"centred: below **{EXACT:g}** exactly equivariant (round-off: a group CNN) · below "
               f"**{EQUIVARIANT:g}** softly · about **{UNRELATED:.2f} = √2** unrelated maps · **2** opposite signs. "
               f"A small error, not exact, with under {BLIND_SHARE:.0%} of the energy carrying orientation is "
               "*orientation-blind*, not equivariance.")

OUTPUT_SCALE = ("Output error e = ‖g·f(x) − f(g·x)‖ / √((‖g·f(x)‖² + ‖f(g·x)‖²) / 2), on whole images (not centred: "
                "an image is mostly its mean, so e is small for every arm): **0** equivariant.")

CHARTS = """**The charts** are measured on the image shown above (its 128 px square). *Field spectrum*: the chosen
layer of every arm (the layer of that name, or the one at the same position in a net that lacks it), its energy per
component, summed over every rotation g ≠ e. *Layer error*: the relative error of each layer, with its P_g, averaged
over every rotation g ≠ e of the group (hover a point for its orientation-carrying share and its verdict); the
pictures above show one g.
*Output error vs angle*: the whole net's output (P_g is the identity for an image), for turns by any angle: exact
at multiples of 90°, interpolated in between.
"""
