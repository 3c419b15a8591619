"""Tests for eqlab.ensemble: the average over a group is exactly equivariant, for denoisers and SR nets alike."""

import pytest
import torch
import torch.nn as nn

from eqlab.ensemble import SelfEnsemble, self_ensemble
from eqlab.groups import D4
from eqlab.metrics import output_equivariance_error
from eqlab.models import build


def random_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 1, 3, padding=1)).eval()


X = torch.rand(2, 1, 12, 12, generator=torch.Generator().manual_seed(0))


def test_smoke_matches_rot90_by_hand():
    net = random_net()
    with torch.no_grad():
        expected = sum(torch.rot90(net(torch.rot90(X, k, (-2, -1))), -k, (-2, -1)) for k in range(4)) / 4
        assert torch.allclose(self_ensemble(net, X, "C4"), expected, atol=1e-6)
        assert torch.allclose(self_ensemble(net, X, "C2"), (net(X) + net(X.flip(-1, -2)).flip(-1, -2)) / 2,
                              atol=1e-6)


@pytest.mark.parametrize("group", ["C4", "D4"])
def test_averaged_random_net_is_exactly_equivariant(group):
    net = random_net()
    assert max(output_equivariance_error(net, X, group).values()) > 0.05  # the net itself is not
    errors = output_equivariance_error(SelfEnsemble(net, group), X, group)
    assert max(errors.values()) < 1e-6


def test_sr_net_and_non_square_input():
    torch.manual_seed(0)
    net = build("srnet", features=8, depth=3, scale=3).eval()
    x = torch.rand(1, 1, 10, 7)
    with torch.no_grad():
        out = self_ensemble(net, x, "D4")
        assert out.shape == net(x).shape == (1, 1, 30, 21)
        square = torch.rand(1, 1, 8, 8)
        assert max(output_equivariance_error(SelfEnsemble(net, D4()), square, D4()).values()) < 1e-6


def test_gradcheck():
    torch.manual_seed(0)
    net = nn.Conv2d(1, 1, 3, padding=1).double()
    x = torch.rand(1, 1, 5, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: self_ensemble(net, t, "D4"), (x,))


def test_module():
    net = random_net()
    wrapped = SelfEnsemble(net, "C4")
    assert list(wrapped.parameters()) == list(net.parameters())  # no weights of its own
    assert "forward passes=4" in repr(wrapped)
    with torch.no_grad():
        assert torch.equal(wrapped(X), self_ensemble(net, X, "C4"))
    assert SelfEnsemble(build("srnet", features=8, depth=3, scale=2), "C2").config["scale"] == 2


def test_exception():
    with pytest.raises(ValueError, match="maps the pixel grid onto itself .* got C8"):
        self_ensemble(random_net(), X, "C8")
    with pytest.raises(ValueError, match=r"\(B, C, H, W\), got torch.Size\(\[12, 12\]\)"):
        self_ensemble(random_net(), X[0, 0], "C4")
    with pytest.raises(ValueError, match="unknown group"):
        SelfEnsemble(random_net(), "X5")
    with pytest.raises(ValueError, match="onto itself .* got C6"):  # 60° turns interpolate
        SelfEnsemble(random_net(), "C6")


def batch_norm_net():
    """A DnCNN with batch norm whose running statistics are far from the fresh ones (mean 0, var 1)."""
    torch.manual_seed(0)
    net = build("dncnn", features=8, depth=4)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    return net.eval()


def test_wrapper_takes_the_nets_mode_and_changes_no_buffer():
    """A new Module starts in training mode; the wrapper of an eval-mode net must not (issue: BatchNorm nets
    read 0.2 dB low under ``eqlab eval --self-ensemble`` and their running means moved)."""
    net = batch_norm_net()
    buffers = {k: v.clone() for k, v in net.named_buffers()}
    wrapped = SelfEnsemble(net, "C4")
    assert not wrapped.training and not net.training
    errors = output_equivariance_error(wrapped, X, "C4")  # a metric's mode guard on the wrapper
    assert max(errors.values()) < 1e-5
    assert not any(m.training for m in net.modules())
    assert all(torch.equal(v, buffers[k]) for k, v in net.named_buffers())


def test_evaluate_self_ensemble_against_an_independent_average():
    """``tasks.evaluate(self_ensemble=...)`` on a batch-norm net equals an average computed by hand in eval mode."""
    from eqlab import metrics
    from eqlab.tasks import EVAL_SEED, evaluate, get_task

    net = batch_norm_net()
    task = get_task("denoise")
    images = [torch.rand(1, 24, 24, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    buffers = {k: v.clone() for k, v in net.named_buffers()}
    result = evaluate(net, task, images, self_ensemble="D4", equivariance=True, per_image=True)
    group = D4()
    expected = []
    with torch.no_grad():
        for index, y in enumerate(images):
            x = task.degrade(y[None], generator=torch.Generator().manual_seed(EVAL_SEED + index))
            out = sum(group.rotate(net(group.rotate(x, e)), group.inverse(e)) for e in group.elements()) / group.order
            expected.append(metrics.psnr(metrics.to_8bit(out), y[None]))
    assert [row["psnr"] for row in result["per_image"]] == pytest.approx(expected, abs=1e-9)
    assert not net.training
    assert all(torch.equal(v, buffers[k]) for k, v in net.named_buffers())
