"""EQReg: exact paper formula, scale-free default, hooks that leave no trace, no collapse."""

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from eqlab.groups import C4, C8, D4, Regular, Trivial
from eqlab.metrics import psnr
from eqlab.regularizer import DEFAULT_WEIGHT, EQReg


def small_cnn(width=8, depth=3, channels=1):
    layers = [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True)]
    for _ in range(depth - 2):
        layers += [nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
    layers.append(nn.Conv2d(width, channels, 3, padding=1))
    return nn.Sequential(*layers)


class Nested(nn.Module):
    """Nested blocks and a Transformer-style nn.Linear on a channels-last map."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3, padding=1)
        self.block = nn.Sequential(nn.ReLU(inplace=True), nn.Sequential(nn.Conv2d(8, 8, 1), nn.ReLU(inplace=True)))
        self.mlp = nn.Linear(8, 8)
        self.head = nn.Conv2d(8, 1, 3, padding=1)

    def forward(self, x):
        h = self.block(self.stem(x))
        h = self.mlp(h.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # (B, H, W, C) through the Linear
        return self.head(F.gelu(h))


def run(reg, model, x, element=1):
    xb, _, element = reg.group.pair(x, element=element)
    with reg.active(element):
        return model(xb)


def test_smoke():
    model = small_cnn()
    reg = EQReg(model)
    assert [l.rep for l in reg.layers] == [Regular(), Regular(), Trivial()]
    run(reg, model, torch.rand(2, 1, 8, 8))
    assert set(reg.stats()) == {"0", "2", "5"} and reg.weight == DEFAULT_WEIGHT
    assert reg.loss().item() > 0


def test_paper_norm_equals_hand_computation():
    conv = nn.Conv2d(4, 4, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.eye(4).view(4, 4, 1, 1))  # the layer output is its input
    reg = EQReg(conv, norm="paper", weight=0.5)
    x = torch.randn(3, 4, 6, 6)
    run(reg, conv, x, element=1)
    xb, _, _ = reg.group.pair(x, element=1)
    y0, y1 = xb[:3], xb[3:]
    rotated = torch.rot90(y0, 1, dims=(-2, -1))
    shifted = rearrange(rotated, "b (c g) h w -> b c g h w", g=4).roll(1, dims=2)
    expected = torch.norm(rearrange(shifted, "b c g h w -> b (c g) h w") - y1)
    assert torch.allclose(reg.raw_loss(), expected)
    assert torch.allclose(reg.loss(), 0.5 * expected)


def test_relative_norm_is_invariant_to_feature_scale():
    model = small_cnn(depth=2)
    x = torch.rand(2, 1, 8, 8)
    values = []
    for scale in (1.0, 1e-3, 1e3):
        scaled = small_cnn(depth=2)
        scaled.load_state_dict(model.state_dict())
        with torch.no_grad():
            for p in scaled.parameters():
                p.mul_(scale) if p.dim() > 1 and p is scaled[0].weight else None
            scaled[0].bias.mul_(scale)
        reg = EQReg(scaled, layers=["0"])
        run(reg, scaled, x)
        values.append(reg.raw_loss().item())
    assert values[0] == pytest.approx(values[1], rel=1e-4) == pytest.approx(values[2], rel=1e-4)


def test_gradients_only_while_active():
    model = small_cnn()
    reg = EQReg(model, weight=1.0)
    x = torch.rand(2, 1, 8, 8)
    run(reg, model, x)
    reg.loss().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model[0].parameters())
    model.zero_grad()
    reg2 = EQReg(model, weight=1.0)
    model(reg2.group.pair(x, element=1)[0])  # outside the context: nothing recorded
    assert reg2.stats() == {} and reg2.loss().requires_grad is False
    model.eval()
    with reg2.active(1):
        model(reg2.group.pair(x, element=1)[0])
    assert reg2.stats() == {}  # eval mode: inactive


def test_eval_mode_and_remove_leave_model_exactly_as_it_was():
    model = small_cnn()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    model.eval()
    x = torch.rand(2, 1, 8, 8)
    before = model(x)
    reg = EQReg(model)
    with reg.active(1):
        assert all(len(model.get_submodule(l.name)._forward_hooks) == 1 for l in reg.layers)
        assert torch.equal(model(x), before)
    reg.remove()
    assert all(len(m._forward_hooks) == 0 for m in model.modules())
    assert torch.equal(model(x), before)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    with pytest.raises(RuntimeError, match="removed"):
        with reg.active(1):
            pass


def test_nested_inplace_and_linear_layers_backward():
    model = Nested()
    reg = EQReg(model, weight=1.0, layers=["stem", "block.1.0", "mlp", "head"],
                reps={"head": Trivial()})
    assert [l.channel_dim for l in reg.layers] == [1, 1, -1, 1]
    x = torch.rand(2, 1, 8, 8)
    for norm in ("relative", "paper"):
        reg.norm = norm
        out = run(reg, model, x, element=3)
        (out.mean() + reg.loss()).backward()  # would fail if a term saved a view of an in-place output
        assert set(reg.stats()) == {"stem", "block.1.0", "mlp", "head"}


def test_d4_and_c8_groups():
    model = small_cnn(width=8)
    for group in (D4(), C8()):
        reg = EQReg(model, group=group)
        run(reg, model, torch.rand(2, 1, 9, 9), element=5)
        assert 0 < reg.raw_loss().item() < 2


def test_gradient_share_scales_with_weight():
    model = small_cnn()
    x = torch.rand(4, 1, 8, 8)
    shares = []
    for weight in (1e-3, 1e-2):
        reg = EQReg(model, weight=weight)
        out = run(reg, model, x)
        shares.append(reg.gradient_share(F.mse_loss(out, reg.group.pair(x, element=1)[0])))
    assert shares[0] > 0 and shares[1] == pytest.approx(10 * shares[0], rel=1e-3)


def test_exception():
    model = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.Conv2d(6, 1, 3, padding=1))
    with pytest.raises(ValueError, match=r"layer '0' \(Conv2d, 6 channels\).*divisible by 4, got 6"):
        EQReg(model, layers=["0"])
    with pytest.raises(ValueError, match="unknown layer name"):
        EQReg(model, layers=["nope"])
    with pytest.raises(ValueError, match="norm"):
        EQReg(small_cnn(), norm="l1")
    with pytest.raises(ValueError, match=r"reps names unknown layer\(s\): 'tpyo'"):
        EQReg(small_cnn(), reps={"tpyo": Trivial()})
    with pytest.raises(ValueError, match=r"'hed' \(close: 'head'"):
        EQReg(Nested(), reps={"hed": Trivial()})
    reg = EQReg(small_cnn())
    with pytest.raises(ValueError, match=r"needs square maps, got x of shape \(2, 1, 8, 6\)"):
        reg.group.pair(torch.rand(2, 1, 8, 6), element=1)
    assert reg.group.pair(torch.rand(2, 1, 8, 6), element=2)[0].shape == (4, 1, 8, 6)  # 180 degrees is fine
    with pytest.raises(ValueError, match=r"must be \(B, C, H, W\), got shape \(1, 8, 8\)"):
        reg.group.pair(torch.rand(1, 8, 8))
    with pytest.raises(TypeError, match="ndarray"):
        reg.group.pair(torch.rand(1, 1, 8, 8).numpy())
    with pytest.raises(ValueError, match=r"layer '0': batch of 3 cannot be paired"):
        with reg.active(1):
            reg.model(torch.rand(3, 1, 8, 8))
    linear = nn.Sequential(nn.Linear(8, 8))
    with pytest.raises(ValueError, match=r"layer '0': expected a 4-d feature map, got \(4, 8\)"):
        r = EQReg(linear)
        with r.active(1):
            linear(torch.rand(4, 8))


def smooth_images(n, size, generator):
    noise = torch.rand(n, 1, size + 12, size + 12, generator=generator)
    kernel = torch.exp(-torch.linspace(-2, 2, 13) ** 2)
    kernel = (kernel[:, None] * kernel[None, :]) / kernel.sum() ** 2
    img = F.conv2d(noise, kernel.view(1, 1, 13, 13))
    img = (img - img.amin(dim=(-2, -1), keepdim=True)) / (img.amax(dim=(-2, -1), keepdim=True) - img.amin(dim=(-2, -1), keepdim=True))
    return img


def test_default_weight_training_does_not_collapse():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = small_cnn(width=16, depth=5)
    reg = EQReg(model)  # default weight and norm
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sigma = 25 / 255
    for _ in range(300):
        y = smooth_images(8, 24, gen)
        x = y + sigma * torch.randn(y.shape, generator=gen)
        xb, yb, element = reg.group.pair(x, y, generator=gen)
        with reg.active(element):
            out = xb - model(xb)  # residual learning: the net predicts the noise
        loss = F.mse_loss(out, yb) + reg.loss()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    y = smooth_images(8, 32, torch.Generator().manual_seed(123))
    x = y + sigma * torch.randn(y.shape, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        restored = (x - model(x)).clamp(0, 1)
    gain = psnr(restored, y) - psnr(x, y)
    assert gain > 4.0, f"only {gain:.2f} dB over the noisy input: collapse?"
    assert reg.raw_loss().item() < 0.5  # and the penalty did act
    assert not math.isnan(reg.raw_loss().item())


@pytest.mark.parametrize("relative", [True, False])
@pytest.mark.parametrize("group,element,rep", [(C4(), 1, Regular()), (D4(), 6, Regular()), (C4(), 3, Trivial())])
def test_fused_term_matches_reference(relative, group, element, rep):
    from eqlab.regularizer import _ExactTerm, _reference_term

    out = torch.randn(4, 8, 6, 6, dtype=torch.double, requires_grad=True)
    fused = _ExactTerm.apply(out, group, element, rep, relative)
    (g_fused,) = torch.autograd.grad(fused, out)
    reference = _reference_term(out[:2], out[2:], group, element, rep, relative)
    (g_reference,) = torch.autograd.grad(reference, out)
    assert torch.allclose(fused.double(), reference.double(), rtol=1e-5)
    assert torch.allclose(g_fused.double(), g_reference.double(), rtol=1e-4, atol=1e-7)
