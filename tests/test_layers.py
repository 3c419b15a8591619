"""The strict P4 blocks are exactly C4-equivariant, layer by layer and end to end."""

import pytest
import torch
import torch.nn as nn

from eqlab.groups import C4, Regular, Trivial
from eqlab.layers import GroupBatchNorm2d, GroupConv2d, GroupPool, GroupToImageConv2d, LiftingConv2d

GROUP = C4()


def _net():
    torch.manual_seed(0)
    return nn.Sequential(
        LiftingConv2d(3, 4, 3), GroupBatchNorm2d(4), nn.ReLU(inplace=True),
        GroupConv2d(4, 6, 5), nn.ReLU(), GroupToImageConv2d(6, 2, 3),
    ).eval()


def test_smoke():
    x = torch.rand(2, 3, 12, 12)
    assert LiftingConv2d(3, 4)(x).shape == (2, 16, 12, 12)
    assert GroupConv2d(4, 6)(torch.rand(2, 16, 12, 12)).shape == (2, 24, 12, 12)
    assert GroupToImageConv2d(6, 2)(torch.rand(2, 24, 12, 12)).shape == (2, 2, 12, 12)
    assert GroupPool()(torch.rand(2, 24, 12, 12)).shape == (2, 6, 12, 12)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_every_block_is_equivariant(k):
    net = _net()
    x = torch.rand(2, 3, 12, 12)
    reps = [Regular(), Regular(), Regular(), Regular(), Regular(), Trivial()]
    y, z = x, GROUP.rotate(x, k)
    for layer, rep in zip(net, reps):
        y, z = layer(y), layer(z)
        assert torch.allclose(GROUP.act(y, k, rep), z, atol=1e-5), type(layer).__name__


def test_group_pool_is_invariant_up_to_rotation():
    y = torch.rand(1, 8, 6, 6)
    pooled = GroupPool("mean")(y)
    assert torch.allclose(GroupPool("mean")(GROUP.act(y, 1, Regular())), GROUP.rotate(pooled, 1))


def test_gradcheck():
    conv = GroupConv2d(1, 1, 3).double()
    x = torch.rand(1, 4, 5, 5, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(conv, (x,))


def test_exception():
    with pytest.raises(ValueError, match="odd"):
        LiftingConv2d(1, 4, 4)
    with pytest.raises(ValueError, match=r"expected \(B, 16, H, W\).*got \(1, 12, 5, 5\)"):
        GroupConv2d(4, 4)(torch.rand(1, 12, 5, 5))
    with pytest.raises(ValueError, match="LiftingConv2d"):
        LiftingConv2d(3, 4)(torch.rand(1, 1, 5, 5))
