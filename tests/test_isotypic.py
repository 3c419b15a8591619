"""Isotypic components: projectors that add up, are orthogonal, commute with every P_g; C4's are the field's DFT."""

import pytest
import torch

from eqlab.groups import C2, C4, C8, D4, CyclicGroup, DihedralGroup, PixelShuffle, Regular, Trivial, permutation
from eqlab.isotypic import block_energies, block_size, characters, components, project

CASES = [(C2(), Regular(), 8), (C4(), Regular(), 8), (C8(), Regular(), 16), (D4(), Regular(), 16),
         (C4(), Trivial(), 3), (C4(), PixelShuffle(2), 8), (D4(), PixelShuffle(2), 4),
         (C4(), PixelShuffle(2, Regular()), 32), (C4(), permutation([(0, 1), (1, 0), (0, 1), (1, 0)]), 4),
         (CyclicGroup(6), Regular(), 12), (CyclicGroup(5), Regular(), 5), (DihedralGroup(6), Regular(), 12),
         (DihedralGroup(3), Regular(), 6), (DihedralGroup(8), Regular(), 16)]
FAMILY = [CyclicGroup(n) for n in range(2, 13)] + [DihedralGroup(n) for n in range(2, 10)]


def _matrix(rep, group, element, size, channels):
    table = rep.table(group, element, channels)[:size]
    matrix = torch.zeros(size, size)
    matrix[torch.arange(size), torch.tensor(table)] = 1.0
    return matrix


@pytest.mark.parametrize("group, rep, channels", CASES, ids=lambda v: repr(v))
def test_projectors_decompose_the_representation(group, rep, channels):
    parts = components(rep, group, channels)
    size = block_size(rep, group, channels)
    eye = torch.eye(size)
    assert torch.allclose(sum(p.projector for p in parts), eye, atol=1e-6)  # they add up to the identity
    for i, p in enumerate(parts):
        assert torch.allclose(p.projector @ p.projector, p.projector, atol=1e-5)  # idempotent
        assert torch.allclose(p.projector, p.projector.T, atol=1e-6)  # orthogonal projector
        for q in parts[i + 1:]:
            assert torch.allclose(p.projector @ q.projector, torch.zeros(size, size), atol=1e-5)
        for g in group.elements():
            m = _matrix(rep, group, g, size, channels)
            assert torch.allclose(m @ p.projector, p.projector @ m, atol=1e-5)  # commutes with P_g
    assert parts[0].invariant and parts[0].name == "invariant"
    assert not any(p.invariant for p in parts[1:])


def test_the_trivial_representation_is_all_invariant():
    assert [(p.name, p.dim) for p in components(Trivial(), C4(), 3)] == [("invariant", 1)]


def test_c4_regular_components_are_the_dft_along_the_field():
    y = torch.randn(2, 8, 5, 5)
    parts = {p.name: p for p in components(Regular(), C4(), 8)}
    spectrum = torch.fft.fft(y.reshape(2, 2, 4, 5, 5), dim=2)  # along each field of 4
    keep = {"invariant": [0], "frequency 1": [1, 3], "sign": [2]}
    for name, freqs in keep.items():
        masked = torch.zeros_like(spectrum)
        masked[:, :, freqs] = spectrum[:, :, freqs]
        expected = torch.fft.ifft(masked, dim=2).real.reshape(2, 8, 5, 5)
        assert torch.allclose(project(y, parts[name]), expected, atol=1e-5)


def test_component_energies_add_up_to_the_total():
    y = torch.randn(3, 16, 6, 7)
    parts = components(Regular(), D4(), 16)
    energies = block_energies(y, parts)
    assert energies.shape == (len(parts),)
    assert float(energies.sum()) == pytest.approx(float(y.pow(2).sum()), rel=1e-5)
    assert float(energies[0]) == pytest.approx(float(project(y, parts[0]).pow(2).sum()), rel=1e-5)


def test_characters_are_orthogonal():
    for group in [C2(), C4(), C8(), D4()] + FAMILY:
        table = torch.tensor([weights for _, weights in characters(group)], dtype=torch.float64)
        gram = table @ table.T / group.order
        assert torch.allclose(gram, torch.diag(gram.diagonal()), atol=1e-9)


@pytest.mark.parametrize("group", FAMILY, ids=str)
def test_the_regular_representation_holds_every_character_d_squared_times(group):
    # sum over the irreducibles of dim(component) = |G|, and each one appears: the table is complete
    parts = components(Regular(), group, group.order)
    assert sum(p.dim for p in parts) == group.order
    assert [p.name for p in parts] == [name for name, _ in characters(group)]


def test_named_components_of_d4_and_d6():
    assert [p.name for p in components(Regular(), D4(), 8)] == ["invariant", "A2", "B1", "B2", "E"]
    assert [p.name for p in components(Regular(), DihedralGroup(6), 12)] == ["invariant", "A2", "B1", "B2", "E1", "E2"]


def test_exception():
    with pytest.raises(ValueError, match="divisible by 4"):
        components(Regular(), C4(), 6)
    with pytest.raises(ValueError, match="cannot project 6 channels"):
        project(torch.zeros(1, 6, 2, 2), components(Regular(), C4(), 4)[0])
