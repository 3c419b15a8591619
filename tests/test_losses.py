"""Tests for eqlab.losses: each loss against a hand computation and torch's own; errors name the input."""

import pytest
import torch
import torch.nn.functional as F

from eqlab.losses import CHARBONNIER_EPS, LOSSES, TaskLoss, task_loss


def test_smoke_against_torch_and_by_hand():
    generator = torch.Generator().manual_seed(0)
    out, y = torch.rand(2, 3, 8, 8, generator=generator), torch.rand(2, 3, 8, 8, generator=generator)
    assert torch.allclose(task_loss(out, y, "mse"), F.mse_loss(out, y))
    assert torch.allclose(task_loss(out, y, "l1"), F.l1_loss(out, y))
    d = (out - y).double()
    assert torch.allclose(task_loss(out, y, "charbonnier", eps=1e-3).double(), (d**2 + 1e-3).sqrt().mean())
    # BasicSR's eps 1e-12 sits inside the square root: Charbonnier is L1 up to about sqrt(eps) per pixel
    assert abs(float(task_loss(out, y, "charbonnier")) - float(F.l1_loss(out, y))) < 2 * CHARBONNIER_EPS**0.5
    assert set(LOSSES) == {"mse", "l1", "charbonnier"}


def test_float32_under_half_precision_and_gradient():
    out = torch.rand(1, 1, 4, 4, dtype=torch.bfloat16, requires_grad=True)
    loss = TaskLoss("charbonnier", eps=1e-9)(out, torch.zeros(1, 1, 4, 4))
    assert loss.dtype == torch.float32
    loss.backward()
    assert out.grad is not None and torch.isfinite(out.grad.float()).all()


def test_exception():
    with pytest.raises(ValueError, match="loss must be one of .* got 'l2'"):
        TaskLoss("l2")
    with pytest.raises(ValueError, match="charbonnier_eps must be .* got 0"):
        TaskLoss("charbonnier", eps=0)
    with pytest.raises(ValueError, match=r"output \(1, 1, 2, 2\) and target \(1, 1, 4, 4\)"):
        task_loss(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 4, 4))
    assert repr(TaskLoss("charbonnier", 1e-9)) == "TaskLoss('charbonnier', eps=1e-09)"
