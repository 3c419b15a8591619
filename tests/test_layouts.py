"""Layouts: every arrangement of a map reads back to the map, exactly; index maps are permutations."""

import pytest
import torch

from eqlab.layouts import ChannelsLast, Function, Map, Tokens, Windows, grid_for


def partition(m: torch.Tensor, s: int) -> torch.Tensor:
    """(B, H, W, C) -> (B * nW, s * s, C), as Swin's window_partition."""
    b, h, w, c = m.shape
    return m.view(b, h // s, s, w // s, s, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, s * s, c)


X = torch.randn(2, 3, 8, 8)
LAST = X.permute(0, 2, 3, 1).contiguous()  # (B, H, W, C)


@pytest.mark.parametrize("layout, raw", [
    (Map(), X),
    (ChannelsLast(), LAST),
    (Tokens(), LAST.flatten(1, 2)),  # x.flatten(2).transpose(1, 2)
    (Windows(4), partition(LAST, 4)),  # (B * nW, s * s, C)
    (Windows(4), partition(LAST, 4).view(-1, 4, 4, 3)),  # (B * nW, s, s, C)
    (Windows(4, channels_first=True), partition(LAST, 4).view(-1, 4, 4, 3).permute(0, 3, 1, 2)),  # conv per window
    (Windows(4), partition(LAST, 4).view(2, 4, 16, 3)),  # SCUNet: (B, nW, s * s, C)
    (Windows(4, shift=2), partition(torch.roll(LAST, (-2, -2), (1, 2)), 4)),  # Swin's shifted windows
    (Windows(8), partition(LAST, 8)),  # one window per image
], ids=lambda v: repr(v) if not isinstance(v, torch.Tensor) else str(tuple(v.shape)))
def test_module_reads_back_the_map(layout, raw):
    assert torch.equal(layout.to_map(raw.contiguous(), 2), X)
    index = layout.index_map(layout.per_image(raw, 2))
    assert torch.equal(index.flatten().sort().values, torch.arange(index.numel()))  # a permutation
    assert tuple(index.shape) == layout.map_shape(layout.per_image(raw, 2)) == (3, 8, 8)


def test_non_square_tokens_follow_the_input_aspect():
    x = torch.randn(2, 3, 4, 8)
    tokens = x.flatten(2).transpose(1, 2)
    assert torch.equal(Tokens().to_map(tokens, 2, aspect=0.5), x)
    assert grid_for(32, 0.5) == (4, 8)


def test_function_layout():
    layout = Function(lambda t: t.permute(0, 3, 1, 2), name="permute")
    assert torch.equal(layout.to_map(LAST, 2), X) and not layout.permutes and repr(layout) == "Function(permute)"


def test_exception():
    with pytest.raises(ValueError, match="size"):
        Windows(0)
    with pytest.raises(ValueError, match="shift"):
        Windows(4, shift=4)
    with pytest.raises(ValueError, match="do not form a grid"):
        grid_for(10)
    with pytest.raises(ValueError, match="not made of 4x4 windows"):
        Windows(4).index_map((3, 5, 7))
    with pytest.raises(ValueError, match=r"expected maps of shape \(2, C, H, W\)"):
        Function(lambda t: t[0]).to_map(X, 2)
    with pytest.raises(ValueError, match="not a multiple of 3 images"):
        Tokens().per_image(torch.zeros(4, 16, 3), 3)
