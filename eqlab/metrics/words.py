"""Words from numbers: every sentence of the kit that interprets a value it just computed, with its thresholds.

A sentence written beside a number stays when the number changes ("flat", "collapsed", "a trade-off"); a
sentence produced from the number cannot disagree with it. The notebooks, the figures and the app take their
interpreting words from here, and the thresholds below are the only ones they use.

The vocabulary of a layer (:func:`verdict`), from its relative error (``eqlab.metrics.components``: centred
maps, 0 equivariant, about √2 unrelated) and the share of its energy that carries orientation:

- **exactly equivariant**: the error is float round-off (below ``EXACT``), whatever the oriented share: a
  group CNN (strict), or any net equivariant by construction. Round-off is what construction leaves: eqlab's
  strict twins measure 1e-7 to 7e-7 per layer in float32, the trained soft nets of the zoo 1.6e-2 and more.
- **softly equivariant, carrying orientation**: at least ``BLIND_SHARE`` of the energy carries orientation and
  that part's error is below ``EQUIVARIANT`` (``partly`` below ``PARTLY``).
- **orientation-blind**: a small error (below ``PARTLY``) *because* the oriented part is (nearly) empty: less than
  ``BLIND_SHARE`` of the energy, in a layer that is not exactly equivariant. Its small error is the error of
  the channel means, which no channel shift can see.
- **not equivariant**: the rest (about √2: as unrelated as two random maps).

Runs (:func:`run_outcome`): *learned* (at least ``LEARNED_DB`` above its degraded input), *collapsed* (it had
been that far above, or started there, and fell back), *stalled* (never that far above). A weight against
the weight-free run (:func:`trade_outcome`): a *trade-off* buys layer error (down to ``BOUGHT`` of the
reference or less) with PSNR; a *collapse* gives up restoring. A PSNR difference paired by seed
(:func:`paired_word`, the regime map): eqreg *pays* where its mean is above zero by more than its seed spread,
*costs* where it is below by more than its spread, and is *a tie* otherwise. Profiles (:func:`spread_word`): *flat* when
the largest minus the smallest error is below ``FLAT_SPREAD``. Comparisons (:func:`compare_errors`,
:func:`compare_db`): "about the same" within ``SAME_RATIO`` (errors) or ``SAME_DB`` (PSNR).

What is not here: computing the numbers (``eqlab.metrics``, ``eqlab.tasks.evaluate``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence

__all__ = ["verdict", "layer_word", "is_blind", "is_exact", "degree", "number", "spread_word", "run_outcome",
           "run_words", "trade_outcome", "trade_words", "sweep_outcome", "sweep_words", "compare_errors", "compare_db",
           "output_error_words", "paired_word", "regime_answer", "VOCABULARY", "UNRELATED", "EXACT", "EQUIVARIANT",
           "PARTLY", "BLIND_SHARE", "FLAT_SPREAD", "LEARNED_DB", "SAME_DB", "SAME_RATIO", "BOUGHT"]

UNRELATED = math.sqrt(2)  # the relative error of two centred, unrelated maps (tests/test_metrics.py measures it)
EXACT = 1e-4  # below: float round-off, equivariant by construction (strict twins: < 1e-6; trained nets: > 1e-2)
EQUIVARIANT = 0.3  # below: the maps agree up to a small residue (softly equivariant)
PARTLY = 1.0  # below: partly equivariant; above, as unrelated as two random maps (√2) or anti-correlated
BLIND_SHARE = 0.1  # oriented share of the energy below which a layer that is not exact is orientation-blind
FLAT_SPREAD = 0.1  # a layer profile whose largest minus smallest error is below this is flat
LEARNED_DB = 0.2  # a run that ends at least this far above its degraded input has learned to restore
SAME_DB = 0.05  # two PSNRs closer than this are about the same (one seed cannot tell them apart)
SAME_RATIO = 1.1  # two errors within this factor of each other are about the same
BOUGHT = 0.75  # a weight buys equivariance when its layer error is at most this fraction of the reference's

VOCABULARY = {
    "exactly equivariant": f"the error is float round-off (below {EXACT:g}), whatever share of the energy "
                           "carries orientation: a group CNN, equivariant by construction",
    "softly equivariant": f"at least {BLIND_SHARE:.0%} of the energy carries orientation and that part's error "
                          f"is below {EQUIVARIANT:g}: the fields turn with the input, nearly",
    "partly equivariant": f"the same, with the oriented part's error between {EQUIVARIANT:g} and {PARTLY:g}",
    "orientation-blind": f"a small error (below {PARTLY:g}) because less than {BLIND_SHARE:.0%} of the energy "
                         "carries orientation, in a layer that is not exactly equivariant: the small error is "
                         "the channel means', which no channel shift can see",
    "not equivariant": f"the error is {PARTLY:g} or more (unrelated maps read {UNRELATED:.2f} = √2)",
}


def _nan(value) -> bool:
    return value is None or value != value


def number(value: float) -> str:
    """A relative error as printed beside a verdict: three decimals, or two significant digits below 1e-3
    (round-off must not read 0.000); NaN reads "—"."""
    if _nan(value):
        return "—"
    return f"{value:.1g}" if 0 < abs(value) < 1e-3 else f"{value:.3f}"


def is_exact(error: float) -> bool:
    """Whether a relative error is float round-off (below ``EXACT``): equivariant by construction."""
    return not _nan(error) and error < EXACT


def is_blind(error: float, oriented_share: float | None) -> bool | None:
    """The blind flag: less than ``BLIND_SHARE`` of the energy carries orientation, and the layer is not exactly
    equivariant (a strict layer is never blind). ``None`` when the representation has no oriented component
    (``oriented_share`` is ``None``); ``False`` when nothing was measured (a NaN share: no energy at all)."""
    if oriented_share is None:
        return None
    return oriented_share < BLIND_SHARE and not is_exact(error)


def degree(error: float) -> str:
    """How equivariant an error says a map is: exactly, softly, partly, not (NaN: not measured)."""
    if _nan(error):
        return "not measured"
    if is_exact(error):
        return "exactly equivariant"
    if error < EQUIVARIANT:
        return "softly equivariant"
    if error < PARTLY:
        return "partly equivariant"
    if error <= 1.6:
        return "not equivariant"
    return "not equivariant, anti-correlated"


def layer_word(error: float, oriented_share: float | None = None, oriented_error: float | None = None) -> str:
    """The word of ``VOCABULARY`` that :func:`verdict` starts with (NaN: "not measured"); tally layers with it.

    Example:
        >>> layer_word(3e-7, 0.02, 4e-7), layer_word(0.05, 0.01, 1.3), layer_word(0.2, 0.6, 0.1)
        ('exactly equivariant', 'orientation-blind', 'softly equivariant')
    """
    if _nan(oriented_share):
        word = degree(error)
    elif is_exact(error):
        word = "exactly equivariant"
    elif is_blind(error, oriented_share):
        word = "orientation-blind" if error < PARTLY else "not equivariant"
    else:
        word = degree(oriented_error)
    return "not equivariant" if word.startswith("not equivariant") else word


def _check_measure(name: str, value, optional: bool = False, high: float = math.inf) -> None:
    """A measured error or share: NaN ("not measured") or a number in ``[0, high]``, up to round-off."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number (NaN: not measured), got {type(value).__name__} {value!r}")
    if value == value and not -1e-6 <= value <= high + 1e-6:
        raise ValueError(f"{name} must be NaN or a number in [0, {high:g}], got {value!r}")


def verdict(error: float, oriented_share: float | None = None, oriented_error: float | None = None) -> str:
    """A few words on a layer, from the thresholds of this module (the four words of ``VOCABULARY``).

    Args:
        error: the relative error of the whole layer (centred).
        oriented_share: the share of its energy that carries orientation; ``None`` for a representation
            without oriented components (an image-valued layer): then only ``error`` is read.
        oriented_error: the relative error of the oriented part.

    Raises:
        TypeError: a value that is not a number.
        ValueError: a negative error (errors are norms) or a share outside [0, 1]; NaN is "not measured".

    Example:
        >>> verdict(3e-7, oriented_share=0.02, oriented_error=4e-7)
        'exactly equivariant (error 3e-07, float round-off); 2 % of its energy carries orientation'
        >>> verdict(0.03, oriented_share=0.01, oriented_error=1.2)[:74]
        'orientation-blind: 1 % of its energy carries orientation (its error 1.200)'
    """
    _check_measure("error", error)
    _check_measure("oriented_error", oriented_error, optional=True)
    _check_measure("oriented_share", oriented_share, optional=True, high=1.0)
    whole = degree(error)
    if _nan(oriented_share):
        if whole == "exactly equivariant":
            return f"exactly equivariant (error {number(error)}, float round-off)"
        return whole if whole == "not measured" else f"{whole} (error {number(error)})"
    percent = f"{100 * min(max(oriented_share, 0.0), 1.0):.0f} %"  # no "-0 %" from a round-off share
    if whole == "exactly equivariant":
        return (f"exactly equivariant (error {number(error)}, float round-off); {percent} of its energy carries "
                "orientation")
    if is_blind(error, oriented_share):
        carried = ("no part of its energy carries orientation" if _nan(oriented_error) else
                   f"{percent} of its energy carries orientation (its error {number(oriented_error)})")
        if error < PARTLY:
            return f"orientation-blind: {carried}; the small error is the invariant part"
        return f"not equivariant (error {number(error)}), and orientation-blind: {carried}"
    part = degree(oriented_error)
    if part in ("softly equivariant", "partly equivariant"):
        return f"{part}, carrying orientation: {percent} of its energy, its error {number(oriented_error)}"
    return f"{part} where it carries orientation ({percent} of its energy, its error {number(oriented_error)})"


def spread_word(spread: float) -> str:
    """"flat" when a layer profile's spread (largest minus smallest error) is below ``FLAT_SPREAD``."""
    if _nan(spread):
        return "not measured"
    return "flat" if spread < FLAT_SPREAD else "not flat"


def run_outcome(psnr: float, input_psnr: float, before: float | None = None) -> str:
    """What a run did against its degraded input: "learned", "collapsed" or "stalled".

    Args:
        psnr: the run's final PSNR (dB).
        input_psnr: the degraded input's (the noisy image, bicubic, the blurred image).
        before: the best PSNR the net had held before (a fine-tune's start, the run's best validation), if known.

    A run *learned* when it ends at least ``LEARNED_DB`` above its input; it *collapsed* when it had been that
    far above and ended under it; otherwise it *stalled*.

    Example:
        >>> run_outcome(29.23, 29.19), run_outcome(24.5, 26.8, before=30.1), run_outcome(31.0, 29.19)
        ('stalled', 'collapsed', 'learned')
    """
    if psnr - input_psnr >= LEARNED_DB:
        return "learned"
    if before is not None and before - input_psnr >= LEARNED_DB:
        return "collapsed"
    return "stalled"


def run_words(psnr: float, input_psnr: float, before: float | None = None, input_name: str = "the input") -> str:
    """:func:`run_outcome` in a sentence with its numbers.

    Example:
        >>> run_words(29.23, 29.19, input_name="bicubic")[:81]
        'stalled: 29.23 dB against bicubic 29.19 dB (+0.04 dB; learning is 0.2 dB or more)'
    """
    outcome, gain = run_outcome(psnr, input_psnr, before), psnr - input_psnr
    if outcome == "learned":
        return f"learned: {psnr:.2f} dB, {gain:+.2f} dB over {input_name} ({input_psnr:.2f} dB)"
    if outcome == "collapsed":
        return (f"collapsed: from {before:.2f} dB to {psnr:.2f} dB, {gain:+.2f} dB against {input_name} "
                f"({input_psnr:.2f} dB): it no longer restores")
    return (f"stalled: {psnr:.2f} dB against {input_name} {input_psnr:.2f} dB ({gain:+.2f} dB; learning is "
            f"{LEARNED_DB:g} dB or more): it has not learned to restore")


def compare_errors(value: float, reference: float) -> str:
    """"4.9× lower than", "about the same as" (within ``SAME_RATIO``) or "1.3× higher than" ``reference``.

    Example:
        >>> compare_errors(0.004, 0.0195), compare_errors(1.317, 1.257), compare_errors(3e-7, 0.02)
        ('4.9× lower than', 'about the same as', 'far (over 100×) lower than')
    """
    if _nan(value) or _nan(reference):
        return "not comparable with"
    low, high = sorted((abs(value), abs(reference)))
    if high <= low * SAME_RATIO:
        return "about the same as"
    word = "lower than" if value < reference else "higher than"
    ratio = high / low if low > 0 else math.inf
    return f"far (over 100×) {word}" if ratio > 100 else f"{ratio:.1f}× {word}"


def compare_db(value: float, reference: float) -> str:
    """"0.23 dB above", "about the same as" (within ``SAME_DB``) or "0.92 dB below" ``reference``."""
    if _nan(value) or _nan(reference):
        return "not comparable with"
    d = value - reference
    if abs(d) < SAME_DB:
        return "about the same as"
    return f"{abs(d):.2f} dB {'above' if d > 0 else 'below'}"


def trade_outcome(psnr: float, error: float, ref_psnr: float, ref_error: float, input_psnr: float) -> str:
    """What a penalty did against a reference run (λ = 0, or the net it started from).

    Returns:
        ``"collapse"`` (the net no longer restores: :func:`run_outcome` is not "learned" while the reference
        was), ``"trade-off"`` (the layer error fell to ``BOUGHT`` of the reference's or less, for at least
        ``SAME_DB`` of PSNR), ``"free"`` (that error for no PSNR), ``"cost"`` (PSNR lost, the layer error not
        bought), or ``"no effect"``.

    Example:
        >>> trade_outcome(23.98, 1.250, 29.04, 1.330, 26.64)
        'collapse'
    """
    if run_outcome(psnr, input_psnr, before=ref_psnr) == "collapsed":
        return "collapse"
    bought = not _nan(error) and not _nan(ref_error) and error <= BOUGHT * ref_error
    cost = ref_psnr - psnr >= SAME_DB
    if bought:
        return "trade-off" if cost else "free"
    return "cost" if cost else "no effect"


def trade_words(psnr: float, error: float, ref_psnr: float, ref_error: float, input_psnr: float,
                reference: str = "λ = 0", input_name: str = "the input") -> str:
    """:func:`trade_outcome` in a sentence with its numbers.

    Example:
        >>> trade_words(28.07, 0.35, 28.99, 0.80, 20.2, reference="the start")
        "a trade-off: layer error 0.800 → 0.350 (0.44×) for 0.92 dB (PSNR 28.07 dB, 0.92 dB below the start's 28.99)"
    """
    outcome = trade_outcome(psnr, error, ref_psnr, ref_error, input_psnr)
    details = _trade_details(outcome, psnr, error, ref_psnr, ref_error, input_psnr, reference, input_name)
    return f"{_TRADE[outcome]}: {details}"


_TRADE = {"collapse": "a collapse, not a trade", "trade-off": "a trade-off", "free": "equivariance at no cost",
          "cost": "a cost with nothing bought", "no effect": "no effect"}


def _trade_details(outcome, psnr, error, ref_psnr, ref_error, input_psnr, reference, input_name) -> str:
    errors = f"layer error {number(ref_error)} → {number(error)}"
    psnrs = f"PSNR {psnr:.2f} dB, {compare_db(psnr, ref_psnr)} {reference}'s {ref_psnr:.2f}"
    if outcome == "collapse":
        return (f"{psnrs}, {compare_db(psnr, input_psnr)} {input_name} ({input_psnr:.2f} dB): it no longer restores "
                f"({errors})")
    if outcome == "trade-off":
        return f"{errors} ({error / ref_error:.2f}×) for {ref_psnr - psnr:.2f} dB ({psnrs})"
    if outcome == "free":
        return f"{errors} ({error / ref_error:.2f}×), {psnrs}"
    if outcome == "cost":
        return f"{psnrs}, while the {errors} stays above {BOUGHT:g}× of {reference}'s"
    return f"{psnrs}, {errors}"


def sweep_outcome(rows: Sequence[Mapping], input_psnr: float) -> str:
    """A weight sweep in one word: ``"collapse"`` when some weight collapses, else ``"trade-off"`` when some weight
    trades, else ``"free"``, ``"cost"`` or ``"no effect"`` (:func:`trade_outcome` of each row against the first).

    Args:
        rows: ``weight, psnr, layer_error`` per run, the reference (λ = 0 or the smallest weight) first.
        input_psnr: the degraded input's PSNR.
    """
    if len(rows) < 2:
        raise ValueError(f"a sweep needs the reference and at least one weight, got {len(rows)} rows")
    ref = rows[0]
    outcomes = [trade_outcome(r["psnr"], r["layer_error"], ref["psnr"], ref["layer_error"], input_psnr)
                for r in rows[1:]]
    return next((o for o in ("collapse", "trade-off", "free", "cost") if o in outcomes), "no effect")


def sweep_words(rows: Sequence[Mapping], input_psnr: float, input_name: str = "the input") -> str:
    """The sweep's word and the row that decides it, in a sentence (see :func:`sweep_outcome`): the first weight that
    collapses, else the largest weight with the sweep's outcome.

    Example:
        >>> rows = [dict(weight=0.0, psnr=29.04, layer_error=1.330), dict(weight=1.0, psnr=23.98, layer_error=1.250)]
        >>> sweep_words(rows, 26.64, "the blurred input")[:42]
        'a collapse, not a trade-off, from λ = 1 on'
    """
    outcome, ref = sweep_outcome(rows, input_psnr), rows[0]
    same = [r for r in rows[1:] if trade_outcome(r["psnr"], r["layer_error"], ref["psnr"], ref["layer_error"],
                                                 input_psnr) == outcome] or rows[-1:]
    row = same[0] if outcome == "collapse" else same[-1]  # where it starts; else the strongest weight of its kind
    name = f"λ = {row['weight']:g}"
    head = {"collapse": f"a collapse, not a trade-off, from {name} on",
            "trade-off": f"a trade-off: {name} buys layer error with PSNR",
            "free": f"equivariance at no cost at {name}",
            "cost": "no trade: the penalty costs PSNR and buys no equivariance at these weights",
            "no effect": "no effect at these weights"}[outcome]
    details = _trade_details(outcome, row["psnr"], row["layer_error"], ref["psnr"], ref["layer_error"], input_psnr,
                             f"λ = {ref['weight']:g}", input_name)
    return f"{head} ({name}: {details})"


def output_error_words(errors: Mapping[str, float], reference: str = "plain") -> list[str]:
    """One sentence per arm on its output error ``‖g·f(x) − f(g·x)‖`` (relative, whole images) against
    ``reference``'s; an exact one says so.

    Example:
        >>> for line in output_error_words({"plain": 0.0195, "eqreg": 0.004, "strict": 3e-7}):
        ...     print(line)
        eqreg: output error 0.004, 4.9× lower than plain (0.0195)
        strict: output error 3e-07, exactly equivariant (float round-off)
    """
    if reference not in errors:
        return []
    ref = errors[reference]
    lines = []
    for arm, value in errors.items():
        if arm == reference:
            continue
        if is_exact(value):
            lines.append(f"{arm}: output error {value:.2g}, exactly equivariant (float round-off)")
        else:
            lines.append(f"{arm}: output error {value:.3g}, {compare_errors(value, ref)} {reference} ({ref:.3g})")
    return lines


def paired_word(mean: float, std: float, n: int) -> str:
    """What a PSNR difference paired by seed says: "pays" (``mean - std > 0``), "costs" (``mean + std < 0``),
    "a tie" (the spread covers zero), "one seed" (``n < 2``: no spread to compare with), "not run" (``n == 0``).

    Example:
        >>> paired_word(0.12, 0.05, 3), paired_word(-0.04, 0.09, 3), paired_word(-0.3, 0.1, 3)
        ('pays', 'a tie', 'costs')
    """
    if n == 0 or _nan(mean):
        return "not run"
    if n < 2:
        return "one seed"
    if mean - std > 0:
        return "pays"
    if mean + std < 0:
        return "costs"
    return "a tie"


def _signed(value: Sequence[float]) -> str:
    mean, std, n = value
    return f"{mean:+.2f} ± {std:.2f} dB" if n > 1 else f"{mean:+.2f} dB"


def _cells_named(cells: Sequence[Mapping], key: str, word: str) -> list[str]:
    return [f"{c['regime']} / {c['task']}" for c in cells if paired_word(*c[key]) == word]


def regime_answer(cells: Sequence[Mapping]) -> str:
    """The regime map's answer to "when does soft equivariance pay?", produced from its cells.

    Args:
        cells: one mapping per (regime, task) that was run, with ``regime``, ``task``, ``best`` (the best arm
            that is not soft), and ``(mean, std, n)`` triples of paired PSNR differences: ``eqreg`` (eqreg − best),
            ``eqreg_c4`` (eqreg averaged over C4 − best; ``n`` 0 where not measured), ``penalty`` (eqreg −
            augment) and ``data`` (augment − plain); optionally ``stalled``, ``{arm: runs that ended at the
            degraded input}``.

    Returns:
        a paragraph: where eqreg pays, ties and costs against the best other arm (with :func:`paired_word`), the
        arm that is most often best, the extreme cells, and how much of eqreg's effect is the rotated data
        (augment − plain) and how much the penalty (eqreg − augment); where eqreg runs stalled, which cells, and
        what the cells where every eqreg run trained say on their own.

    Example:
        >>> cell = dict(regime="1 image", task="denoise", best="augment", eqreg=(0.12, 0.05, 3),
        ...             eqreg_c4=(0.2, 0.05, 3), penalty=(0.12, 0.05, 3), data=(0.03, 0.02, 3))
        >>> regime_answer([cell])[:60]
        'Over 1 cell, eqreg (one forward pass at test time) pays in 1'
    """
    if not cells:
        return "No cell of the regime map has been run yet."
    pays, ties, costs = (_cells_named(cells, "eqreg", w) for w in ("pays", "a tie", "costs"))
    plural = "s" if len(cells) > 1 else ""

    def listed(names: list[str]) -> str:
        return f" ({'; '.join(names)})" if names else ""

    best: dict[str, int] = {}
    for c in cells:
        best[c["best"]] = best.get(c["best"], 0) + 1
    top = max(best, key=best.get)
    high = max(cells, key=lambda c: c["eqreg"][0])
    low = min(cells, key=lambda c: c["eqreg"][0])
    parts = [f"Over {len(cells)} cell{plural}, eqreg (one forward pass at test time) pays in {len(pays)}{listed(pays)},"
             f" is a tie within the seed spread in {len(ties)}{listed(ties)} and costs PSNR in {len(costs)}"
             f"{listed(costs)}, against the best arm that is not soft in each cell, paired by seed."]
    parts.append(f"That best arm is {top} in {best[top]} of {len(cells)}. eqreg comes closest in {high['regime']} / "
                 f"{high['task']} ({_signed(high['eqreg'])} against {high['best']}) and falls furthest behind in "
                 f"{low['regime']} / {low['task']} ({_signed(low['eqreg'])} against {low['best']}).")
    averaged = [c for c in cells if c["eqreg_c4"][2]]
    if averaged:
        c4_pays = _cells_named(averaged, "eqreg_c4", "pays")
        parts.append(f"Averaged over C4 at test time (4 passes) it pays in {len(c4_pays)} of {len(averaged)}"
                     f"{listed(c4_pays)}.")
    penalty_pays, penalty_costs = (_cells_named(cells, "penalty", w) for w in ("pays", "costs"))
    data_pays = _cells_named(cells, "data", "pays")
    parts.append(f"Split in two: the rotated data (augment − plain) pays in {len(data_pays)} of {len(cells)}"
                 f"{listed(data_pays)}; the penalty on top of it (eqreg − augment) pays in {len(penalty_pays)}"
                 f"{listed(penalty_pays)} and costs in {len(penalty_costs)}.")
    stalled = [c for c in cells if c.get("stalled", {}).get("eqreg")]
    if stalled:
        trained = [c for c in cells if c not in stalled]
        named = [f"{c['regime']} / {c['task']}: {c['stalled']['eqreg']} of {c['eqreg'][2]}" for c in stalled]
        sentence = (f"eqreg's training stalled at the degraded input in {len(stalled)} cell{_s(stalled)}"
                    f" ({'; '.join(named)} runs): there its cost is a recipe that did not train, not the price of a "
                    "softly equivariant net")
        if trained:
            t_pays, t_ties, t_costs = (_cells_named(trained, "eqreg", w) for w in ("pays", "a tie", "costs"))
            sentence += (f"; in the {len(trained)} cell{_s(trained)} where every eqreg run trained it pays in "
                         f"{len(t_pays)}, ties in {len(t_ties)} and costs in {len(t_costs)}")
        parts.append(sentence + ".")
    return " ".join(parts)


def _s(items: Sequence) -> str:
    return "s" if len(items) != 1 else ""
