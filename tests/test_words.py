"""Words from numbers (eqlab.metrics.words): the cases of issue 27, each read from its numbers, and the
properties every sentence keeps (a strict layer is never blind, the thresholds order the words)."""

import itertools

import pytest

from eqlab.metrics import words
from eqlab.metrics.words import (
    BLIND_SHARE,
    EXACT,
    FLAT_SPREAD,
    LEARNED_DB,
    compare_db,
    compare_errors,
    degree,
    is_blind,
    layer_word,
    number,
    output_error_words,
    run_outcome,
    run_words,
    spread_word,
    sweep_outcome,
    sweep_words,
    trade_outcome,
    trade_words,
    verdict,
)


def test_a_strict_layer_with_2_percent_oriented_energy_is_exactly_equivariant_not_blind():
    text = verdict(3e-7, oriented_share=0.02, oriented_error=4e-7)
    assert text.startswith("exactly equivariant") and "2 %" in text and "blind" not in text
    assert is_blind(3e-7, 0.02) is False


def test_no_exact_layer_is_ever_called_blind():
    for error, share in itertools.product([0.0, 1e-7, 5e-5, 0.99 * EXACT], [0.0, 0.01, 0.05, 0.5, 1.0]):
        assert not is_blind(error, share)
        assert "blind" not in verdict(error, share, error) and verdict(error, share, error).startswith("exactly")


def test_blind_needs_a_small_share_in_a_layer_that_is_not_exact():
    assert is_blind(0.03, 0.01) is True and verdict(0.03, 0.01, 1.2).startswith("orientation-blind")
    assert is_blind(0.03, BLIND_SHARE) is False  # the threshold itself carries orientation
    assert is_blind(0.03, None) is None  # no oriented component (an image-valued layer): no question to ask
    assert verdict(1.3, 0.05, 1.4).startswith("not equivariant") and "orientation-blind" in verdict(1.3, 0.05, 1.4)


def test_the_words_of_the_vocabulary():
    assert list(words.VOCABULARY) == ["exactly equivariant", "softly equivariant", "partly equivariant",
                                      "orientation-blind", "not equivariant"]
    cases = [(1e-7, 0.5, 1e-7), (0.1, 0.5, 0.1), (0.5, 0.5, 0.6), (0.05, 0.02, 1.3), (1.4, 0.6, 1.4)]
    for case, word in zip(cases, words.VOCABULARY):
        assert verdict(*case).startswith(word) and layer_word(*case) == word, (case, word)
    for error, share in itertools.product([0.0, 1e-5, 0.05, 0.2, 0.5, 0.95, 1.2, 1.8], [None, 0.0, 0.05, 0.3, 0.9]):
        assert verdict(error, share, error).startswith(layer_word(error, share, error))


def test_degree_follows_the_thresholds_in_order():
    order = ["exactly equivariant", "softly equivariant", "partly equivariant", "not equivariant",
             "not equivariant, anti-correlated"]
    values = [0.0, 5e-5, 1e-3, 0.1, 0.29, 0.31, 0.9, 1.0, 1.41, 1.9]
    ranks = [order.index(degree(v)) for v in values]
    assert ranks == sorted(ranks)
    assert degree(float("nan")) == "not measured"


def test_round_off_never_prints_as_zero():
    assert number(3e-7) == "3e-07" and number(0.0) == "0.000" and number(1.2345) == "1.234"
    assert number(float("nan")) == "—"
    assert "3e-07" in verdict(3e-7)


@pytest.mark.parametrize("spread, word", [(0.115, "not flat"), (0.141, "not flat"), (0.074, "flat"),
                                          (0.050, "flat")])
def test_spreads_around_the_threshold(spread, word):
    """Notebook 7 once called 0.115 and 0.141 flat and 0.074 and 0.050 not flat."""
    assert spread_word(spread) == word
    assert (spread < FLAT_SPREAD) == (word == "flat")


def test_a_stalled_start_is_not_learning():
    """Notebook 5: the equivariant start ended at 29.23 dB against bicubic's 29.19 dB."""
    assert run_outcome(29.23, 29.19) == "stalled"
    text = run_words(29.23, 29.19, input_name="bicubic")
    assert text.startswith("stalled") and "29.23" in text and "29.19" in text and "+0.04" in text
    assert run_outcome(29.20 + LEARNED_DB, 29.19) == "learned"


def test_a_collapsed_run():
    """A net that had restored (a fine-tune's start) and ends at or under its input's PSNR."""
    assert run_outcome(23.98, 26.64, before=29.04) == "collapsed"
    assert run_outcome(26.70, 26.64, before=29.04) == "collapsed"  # returned its input
    assert run_outcome(23.98, 26.64) == "stalled"  # never above: it did not fall, it never rose
    assert run_words(23.98, 26.64, before=29.04).startswith("collapsed: from 29.04 dB to 23.98 dB")


def test_a_sweep_that_collapses_is_called_a_collapse_not_a_trade_off():
    """Notebook 6: the layer error went 1.330 -> 1.250 while the PSNR fell 5.06 dB, 2.66 dB under the input."""
    rows = [dict(weight=0.0, psnr=29.04, layer_error=1.330), dict(weight=1e-2, psnr=28.90, layer_error=1.320),
            dict(weight=1.0, psnr=23.98, layer_error=1.250)]
    assert sweep_outcome(rows, 26.64) == "collapse"
    text = sweep_words(rows, 26.64, "the blurred input")
    assert text.startswith("a collapse, not a trade-off, from λ = 1 on") and "2.66 dB below the blurred input" in text
    assert text.count("no longer restores") == 1
    assert "trade-off:" not in text.split("not a trade-off")[1]


def test_a_sweep_that_buys_layer_error_with_psnr_is_a_trade_off():
    """The design's measured case: augment 29.08 dB, error 1.39; λ = 1e-4: 28.46 dB, error 0.21."""
    rows = [dict(weight=0.0, psnr=29.08, layer_error=1.39), dict(weight=1e-4, psnr=28.46, layer_error=0.21)]
    assert sweep_outcome(rows, 20.2) == "trade-off"
    assert trade_words(28.46, 0.21, 29.08, 1.39, 20.2).startswith("a trade-off: layer error 1.390 → 0.210")


def test_trade_outcomes_other_than_a_trade():
    assert trade_outcome(29.10, 0.5, 29.08, 1.39, 20.2) == "free"  # error bought, PSNR kept
    assert trade_outcome(28.07, 0.78, 28.99, 0.80, 20.2) == "cost"  # the default Train run's pattern
    assert trade_outcome(29.07, 1.35, 29.08, 1.39, 20.2) == "no effect"
    assert sweep_outcome([dict(weight=0, psnr=29.0, layer_error=1.3), dict(weight=1, psnr=28.0, layer_error=1.3)],
                         20.0) == "cost"
    with pytest.raises(ValueError, match="1 rows"):
        sweep_outcome([dict(weight=0, psnr=29.0, layer_error=1.3)], 20.0)


def test_comparisons():
    """The app once wrote "not much lower" beside output errors 4-5x lower (denoise 0.004 vs 0.0195)."""
    assert compare_errors(0.004, 0.0195) == "4.9× lower than"
    assert compare_errors(0.0298, 0.154) == "5.2× lower than"
    assert compare_errors(1.317, 1.257) == "about the same as"  # notebook 7's augment body.0.conv
    assert compare_errors(0.3, 0.1) == "3.0× higher than"
    assert compare_db(28.07, 28.99) == "0.92 dB below" and compare_db(29.23, 29.19) == "about the same as"


def test_output_error_words_say_exact_for_round_off():
    lines = output_error_words({"plain": 0.0195, "augment": 0.018, "eqreg": 0.004, "strict": 3e-7})
    assert lines == ["augment: output error 0.018, about the same as plain (0.0195)",
                     "eqreg: output error 0.004, 4.9× lower than plain (0.0195)",
                     "strict: output error 3e-07, exactly equivariant (float round-off)"]
    assert output_error_words({"eqreg": 0.004}) == []  # no reference, no comparison


# -- the regime map's words --------------------------------------------------------------------------------

def _cell(regime, eqreg, penalty=(-0.1, 0.05, 3), data=(0.1, 0.05, 3), stalled=0, best="augment"):
    return dict(regime=regime, task="denoise", best=best, eqreg=eqreg, eqreg_c4=(0.0, 0.0, 0),
                penalty=penalty, data=data, stalled={"eqreg": stalled, "augment": 0})


def test_paired_word_reads_the_spread_not_the_sign():
    assert words.paired_word(0.12, 0.05, 3) == "pays" and words.paired_word(-0.3, 0.1, 3) == "costs"
    assert words.paired_word(0.05, 0.1, 3) == words.paired_word(-0.05, 0.1, 3) == "a tie"  # the spread covers 0
    assert words.paired_word(0.5, 0.0, 1) == "one seed" and words.paired_word(float("nan"), 0, 0) == "not run"
    for mean, std in itertools.product((-0.3, -0.01, 0.0, 0.01, 0.3), (0.0, 0.02, 0.5)):  # mirror images
        flipped = {"pays": "costs", "costs": "pays", "a tie": "a tie"}[words.paired_word(-mean, std, 3)]
        assert words.paired_word(mean, std, 3) == flipped


def test_regime_answer_counts_the_cells_it_names():
    cells = [_cell("a", (0.3, 0.1, 3)), _cell("b", (-0.02, 0.1, 3)), _cell("c", (-0.5, 0.1, 3), best="strict")]
    answer = words.regime_answer(cells)
    assert answer.startswith("Over 3 cells, eqreg (one forward pass at test time) pays in 1 (a / denoise), is a tie "
                             "within the seed spread in 1 (b / denoise) and costs PSNR in 1 (c / denoise)")
    assert "That best arm is augment in 2 of 3" in answer
    assert "comes closest in a / denoise (+0.30 ± 0.10 dB against augment)" in answer
    assert "furthest behind in c / denoise (-0.50 ± 0.10 dB against strict)" in answer
    assert "stalled" not in answer and words.regime_answer([]).startswith("No cell")


def test_regime_answer_separates_the_cells_where_eqreg_did_not_train():
    cells = [_cell("a", (-1.2, 0.2, 3), stalled=2), _cell("b", (0.02, 0.1, 3)), _cell("c", (-0.5, 0.1, 3))]
    answer = words.regime_answer(cells)
    assert ("eqreg's training stalled at the degraded input in 1 cell (a / denoise: 2 of 3 runs): there its cost is "
            "a recipe that did not train") in answer
    assert "in the 2 cells where every eqreg run trained it pays in 0, ties in 1 and costs in 1." in answer
