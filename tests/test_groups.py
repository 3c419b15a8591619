"""Group laws, exactness of the pixel-grid actions, and the representations' permutations."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from eqlab.groups import (
    C2,
    C4,
    C8,
    D4,
    GROUP_NAMES,
    CyclicGroup,
    DihedralGroup,
    Permutation,
    PixelShuffle,
    Regular,
    Trivial,
    disk_mask,
    get_group,
    permutation,
    pixel_shuffle,
    rotate_by_angle,
)

EXACT = [C2(), C4(), D4()]


FAMILY = [CyclicGroup(n) for n in (2, 3, 5, 6, 7, 12)] + [DihedralGroup(n) for n in (2, 3, 5, 6, 8)]


@pytest.mark.parametrize("group", EXACT + [C8()] + FAMILY, ids=str)
def test_group_laws(group):
    e = group.identity
    elements = group.elements()
    assert elements[0] == e and len(set(elements)) == group.order
    for a in elements:
        assert group.compose(a, e) == a == group.compose(e, a)
        assert group.compose(a, group.inverse(a)) == e == group.compose(group.inverse(a), a)
    for a, b, c in itertools.product(elements, repeat=3):
        assert group.compose(group.compose(a, b), c) == group.compose(a, group.compose(b, c))
    for a, b in itertools.product(elements, repeat=2):
        assert group.compose(a, b) in elements


@pytest.mark.parametrize("group", EXACT, ids=str)
def test_action_is_a_homomorphism_bit_exact(group):
    x = torch.rand(2, 3, 9, 9)
    for a, b in itertools.product(group.elements(), repeat=2):
        assert torch.equal(group.rotate(group.rotate(x, b), a), group.rotate(x, group.compose(a, b)))


def test_c4_equals_rot90_and_d4_equals_flip_then_rot90():
    x = torch.rand(2, 3, 7, 7)
    for k in range(4):
        assert torch.equal(C4().rotate(x, k), torch.rot90(x, k, dims=(-2, -1)))
        assert torch.equal(D4().rotate(x, k), torch.rot90(x, k, dims=(-2, -1)))
        assert torch.equal(D4().rotate(x, k + 4), torch.rot90(torch.flip(x, dims=(-1,)), k, dims=(-2, -1)))
    assert torch.equal(C2().rotate(x, 1), torch.rot90(x, 2, dims=(-2, -1)))


def test_rotation_is_counter_clockwise_as_displayed():
    x = torch.zeros(1, 1, 3, 3)
    x[..., 0, 2] = 1  # top-right corner
    assert C4().rotate(x, 1)[0, 0, 0, 0] == 1  # a quarter turn counter-clockwise moves it top-left


def test_c8_even_elements_exact_odd_interpolated():
    group = C8()
    x = torch.rand(1, 1, 31, 31)
    assert torch.equal(group.rotate(x, 2), torch.rot90(x, 1, dims=(-2, -1)))
    # two 45-degree steps approximate a quarter turn inside the disk, but never exactly
    mask = group.mask(31, 31)
    twice = group.rotate(group.rotate(x, 1), 1)
    err = ((twice - group.rotate(x, 2)) * mask).abs().max()
    assert 0 < err < 1.0
    smooth = F.avg_pool2d(F.pad(x, (3, 3, 3, 3), mode="reflect"), 7, stride=1)
    err_smooth = ((group.rotate(group.rotate(smooth, 1), 1) - group.rotate(smooth, 2)) * mask).abs().max()
    assert err_smooth < err  # the floor depends on image content: smooth maps interpolate better
    assert not group.exact and group.mask(8, 8).dtype == torch.bool


def test_rotate_by_angle_matches_rot90_at_quarter_turns():
    x = torch.rand(1, 1, 15, 15)
    assert torch.allclose(rotate_by_angle(x, 90.0), torch.rot90(x, 1, dims=(-2, -1)), atol=1e-5)


@pytest.mark.parametrize("group", EXACT, ids=str)
def test_regular_representation_is_a_homomorphism(group):
    rep = Regular()
    channels = 2 * group.order
    for a, b in itertools.product(group.elements(), repeat=2):
        pa, pb = rep.permutation(group, a, channels), rep.permutation(group, b, channels)
        # P_a P_b y = y[pb][pa]: applying b then a must equal applying a*b
        assert torch.equal(pb[pa], rep.permutation(group, group.compose(a, b), channels))


def test_regular_c4_is_cyclic_shift_inside_each_field():
    y = torch.arange(8.0).view(1, 8, 1, 1)
    shifted = C4().act(y, 1, Regular()).flatten().tolist()
    assert shifted == [3, 0, 1, 2, 7, 4, 5, 6]  # roll by one inside each group of 4


def test_pixel_shuffle_rep_commutes_with_pixel_shuffle():
    for group in EXACT:
        for base, channels in ((Trivial(), 4 * 3), (Regular(), 4 * group.order)):
            rep = PixelShuffle(2, base)
            z = torch.rand(2, channels, 5, 5)
            for k in group.elements():
                left = F.pixel_shuffle(group.act(z, k, rep), 2)
                right = group.act(F.pixel_shuffle(z, 2), k, base)
                assert torch.equal(left, right)
    # a quarter turn sends sub-pixel 0 -> 1 -> 3 -> 2 -> 0: not a cyclic shift of 0, 1, 2, 3
    assert pixel_shuffle(2).table(C4(), 1, 4) == [1, 3, 0, 2]


def test_custom_permutation_and_channels_last():
    rep = permutation([[0, 1], [1, 0]])
    y = torch.rand(2, 5, 5, 4)  # (B, H, W, C)
    out = C2().act(y, 1, rep, channel_dim=-1)
    assert torch.equal(out, torch.rot90(y, 2, dims=(1, 2))[..., [1, 0, 3, 2]])
    assert isinstance(rep, Permutation)


def test_exception():
    with pytest.raises(ValueError, match="element"):
        C4().rotate(torch.rand(1, 1, 4, 4), 4)
    with pytest.raises(ValueError, match="divisible by 4, got 6"):
        C4().act(torch.rand(1, 6, 4, 4), 1, Regular())
    with pytest.raises(TypeError, match="ndarray"):
        C4().rotate(torch.rand(4, 4).numpy(), 1)
    with pytest.raises(ValueError, match="shape"):
        C4().rotate(torch.rand(4), 1)
    with pytest.raises(ValueError, match="unknown group 'X4'"):
        get_group("X4")
    with pytest.raises(ValueError, match="unknown group 'C1'"):
        get_group("C1")
    with pytest.raises(ValueError, match="n >= 2, got 0"):
        DihedralGroup(0)
    with pytest.raises(ValueError, match="needs 2 tables"):
        C2().act(torch.rand(1, 2, 3, 3), 1, permutation([[0, 1]]))


def test_sample_uses_generator_and_skips_identity():
    group = D4()
    draws = [group.sample(generator=torch.Generator().manual_seed(s)) for s in range(50)]
    assert 0 not in draws and len(set(draws)) > 3
    assert group.sample(torch.Generator().manual_seed(3)) == group.sample(torch.Generator().manual_seed(3))


def test_named_groups_are_members_of_the_families():
    assert get_group("C4") == CyclicGroup(4) and isinstance(get_group("c4"), C4)
    assert get_group("D4") == DihedralGroup(4) and isinstance(get_group("D4"), D4)
    assert repr(get_group("C6")) == "CyclicGroup(6)" and repr(C8()) == "C8()"
    assert get_group("D6").order == 12 and get_group("D6").describe(7) == "flip, rot 60°"
    assert all(get_group(name).name == name for name in GROUP_NAMES)
    assert {g.name for g in (C2(), C4(), D4())} == {n for n in GROUP_NAMES if get_group(n).exact}


@pytest.mark.parametrize("group", FAMILY + [C8()], ids=str)
def test_exactness_is_a_property_of_the_element(group):
    x = torch.rand(2, 1, 9, 9)
    for e in group.elements():
        quarter_turn = group.angle_deg(e) % 90 == 0
        assert group.is_exact(e) == quarter_turn
        if quarter_turn:  # a permutation of the pixels: flip and rot90, bit for bit
            k = round(group.angle_deg(e) / 90)
            flipped = torch.flip(x, dims=(-1,)) if group.is_reflection(e) else x
            assert torch.equal(group.rotate(x, e), torch.rot90(flipped, k, dims=(-2, -1)))
    assert group.exact == all(group.is_exact(e) for e in group.elements())
    assert (group.mask(9, 9) is None) == group.exact


@pytest.mark.parametrize("group", [CyclicGroup(6), DihedralGroup(6), DihedralGroup(3)], ids=str)
def test_interpolated_action_is_a_homomorphism_inside_the_disk(group):
    rows = torch.arange(33.0)[:, None] - 16
    x = torch.exp(-(rows**2 + rows.T**2 + 3 * rows) / 60)[None, None]  # smooth, not isotropic
    mask = group.mask(33, 33)
    for a, b in itertools.product(group.elements(), repeat=2):
        twice, once = group.rotate(group.rotate(x, b), a), group.rotate(x, group.compose(a, b))
        assert float(((twice - once) * mask).abs().max()) < 0.05
    assert torch.equal(mask, disk_mask(33, 33))


def test_c8_is_quarter_turns_then_45_degrees():
    x = torch.rand(1, 2, 15, 15)
    for e in range(8):
        expected = torch.rot90(x, e // 2, dims=(-2, -1))
        expected = rotate_by_angle(expected, 45.0) if e % 2 else expected
        assert torch.equal(C8().rotate(x, e), expected)


@pytest.mark.parametrize("group", FAMILY, ids=str)
def test_regular_representation_of_the_families_is_a_homomorphism(group):
    rep, channels = Regular(), 2 * group.order
    for a, b in itertools.product(group.elements(), repeat=2):
        pa, pb = rep.permutation(group, a, channels), rep.permutation(group, b, channels)
        assert torch.equal(pb[pa], rep.permutation(group, group.compose(a, b), channels))


def test_summary_comes_from_the_elements():
    assert C4().summary() == "90° turns"
    assert D4().summary() == "90° turns + mirror images"
    assert CyclicGroup(6).summary() == "60° turns (interpolated)"


def test_only_the_groups_module_names_the_new_members():
    """C6 and D6 run through EQReg, the metrics and the app (tests/test_regularizer.py, test_components.py,
    test_app.py) while no other file of the package names them: a new group is one definition."""
    import pathlib
    import re

    import eqlab

    root = pathlib.Path(eqlab.__file__).parent
    naming = [str(p.relative_to(root)) for p in root.rglob("*.py")
              if p.name != "groups.py" and re.search(r"\b[CD]6\b", p.read_text(encoding="utf-8"))]
    assert naming == []
