"""EQReg: the paper formula and the reference code's, the scale-free default, the fused gather term
against the plain definition on every layout, hooks that leave no trace, no collapse, the stochastic
layer subset."""

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from eqlab.groups import C4, C8, D4, PixelShuffle, Regular, Trivial
from eqlab.layouts import ChannelsLast, Map, Tokens, Windows
from eqlab.metrics import psnr
from eqlab.regularizer import DEFAULT_WEIGHT, EQReg, _gather, _GatherTerm, _plain_term
from eqlab.selection import Layer


def small_cnn(width=8, depth=3, channels=1):
    layers = [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True)]
    for _ in range(depth - 2):
        layers += [nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
    layers.append(nn.Conv2d(width, channels, 3, padding=1))
    return nn.Sequential(*layers)


class Nested(nn.Module):
    """Nested blocks, in-place activations and a Transformer-style nn.Linear on a channels-last map."""

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
    model.train()
    xb, _, element = reg.group.pair(x, element=element)
    with reg.active(element):
        return model(xb)


def test_smoke():
    model = small_cnn()
    reg = EQReg(model)
    assert [layer.rep for layer in reg.layers] == [Regular(), Regular(), Trivial()]
    run(reg, model, torch.rand(2, 1, 8, 8))
    assert set(reg.stats()) == {"0", "2", "5"} and reg.weight == DEFAULT_WEIGHT
    assert reg.loss().item() > 0
    assert "3 of 3 layers regularized" in reg.report() and "produces the model's output" in reg.report()


def test_paper_norm_equals_hand_computation():
    conv = nn.Conv2d(4, 4, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.eye(4).view(4, 4, 1, 1))  # the layer output is its input
    reg = EQReg(conv, norm="paper", weight=0.5, reps=Regular())  # the output of a 4-channel net: say "regular"
    x = torch.randn(3, 4, 6, 6)
    run(reg, conv, x, element=1)
    xb, _, _ = reg.group.pair(x, element=1)
    y0, y1 = xb[:3], xb[3:]
    rotated = torch.rot90(y0, 1, dims=(-2, -1))
    shifted = rearrange(rotated, "b (c g) h w -> b c g h w", g=4).roll(1, dims=2)
    expected = torch.norm(rearrange(shifted, "b c g h w -> b (c g) h w") - y1)
    assert torch.allclose(reg.raw_loss(), expected)
    assert torch.allclose(reg.loss(), 0.5 * expected)


def reference_formula(y: torch.Tensor, rot_num: int, tran_num: int = 4) -> torch.Tensor:
    """Our transcription of the reference code's per-layer term (yulu919/EQ-REG, F_Conv_YL.MyConv): the
    paired output split in two, the first half turned by rot90, the second half's orientation channels
    cycled back by rot_num, the 2-norm of the difference."""
    b, c, h, w = y.shape
    first, second = y.reshape(2, b // 2, c, h, w)
    turned = torch.rot90(first, rot_num, [2, 3])
    grouped = second.reshape(b // 2, c // tran_num, tran_num, h, w)
    cycled = torch.cat((grouped[:, :, rot_num:], grouped[:, :, :rot_num]), dim=2).reshape(b // 2, c, h, w)
    return torch.norm(turned - cycled, p=2)


def test_reference_preset_matches_the_reference_formula():
    torch.manual_seed(0)
    model = small_cnn(width=8, depth=4)
    reg = EQReg.reference(model)
    assert reg.norm == "paper" and reg.weight == 1e-8
    assert [layer.name for layer in reg.layers] == ["0", "2", "5"]  # hidden layers only: the output conv is not
    x = torch.rand(2, 1, 12, 12)
    for element in (1, 2, 3):
        captured = {}

        def keep(module, inputs, out, name, captured=captured):
            captured[name] = out.detach().clone()

        hooks = [model.get_submodule(n).register_forward_hook(lambda m, i, o, n=n: keep(m, i, o, n))
                 for n in ("0", "2", "5")]
        run(reg, model, x, element)
        for handle in hooks:
            handle.remove()
        expected = sum(reference_formula(captured[n], element) for n in ("0", "2", "5"))
        assert abs(reg.raw_loss().item() - expected.item()) / expected.item() < 1e-6


def test_relative_norm_is_invariant_to_feature_scale():
    model = small_cnn(depth=2)
    x = torch.rand(2, 1, 8, 8)
    values = []
    for scale in (1.0, 1e-3, 1e3):
        scaled = small_cnn(depth=2)
        scaled.load_state_dict(model.state_dict())
        with torch.no_grad():
            scaled[0].weight.mul_(scale)
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
    reg = EQReg(model)  # the probe runs the net in training mode and restores everything
    assert not model.training and all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    with reg.active(1):
        assert all(len(model.get_submodule(layer.name)._forward_hooks) == 1 for layer in reg.layers)
        assert torch.equal(model(x), before)
    reg.remove()
    assert all(len(m._forward_hooks) == 0 and len(m._forward_pre_hooks) == 0 for m in model.modules())
    assert torch.equal(model(x), before)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    with pytest.raises(RuntimeError, match="removed"), reg.active(1):
        pass


def test_nested_inplace_and_linear_layers_backward():
    model = Nested()
    reg = EQReg(model, weight=1.0, layers=["stem", "block.1.0", "mlp", "head"], reps={"head": Trivial()})
    assert [type(layer.layout) for layer in reg.layers] == [Map, Map, ChannelsLast, Map]
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


@pytest.mark.parametrize("name", ["C6", "D6"])
def test_any_member_of_the_families_by_name(name):
    """C6 and D6 come from eqlab.groups alone: the 180° turn is exact, the 60° one is interpolated."""
    torch.manual_seed(0)
    field = 6
    isotropic = nn.Sequential(nn.Conv2d(1, 2 * field, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(2 * field, 1, 1))
    ring = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16
    with torch.no_grad():  # equal channels within each field, kernels symmetric under every quarter turn
        isotropic[0].weight.copy_(torch.randn(2, 1).repeat_interleave(field, 0)[:, :, None, None] * ring)
        isotropic[0].bias.copy_(torch.randn(2).repeat_interleave(field))
    x = torch.rand(2, 1, 17, 17)
    reg = EQReg(isotropic, group=name, layers=["0"])
    exact = reg.group.elements()[reg.group.order // (4 if name == "D6" else 2)]  # rot 180°
    assert reg.group.is_exact(exact) and not reg.group.is_exact(1)
    run(reg, isotropic, x, element=exact)
    assert reg.raw_loss().item() < 1e-10  # exact on the grid: equivariant for free
    run(reg, isotropic, x, element=1)
    floor = reg.raw_loss().item()
    assert 0 < floor < 0.05  # interpolated: a small floor inside the disk
    random = small_cnn(width=12)
    reg = EQReg(random, group=name)
    out = run(reg, random, x, element=1)
    (out.mean() + reg.loss()).backward()
    assert reg.raw_loss().item() > 10 * floor


def test_gradient_share_scales_with_weight():
    model = small_cnn()
    x = torch.rand(4, 1, 8, 8)
    shares = []
    for weight in (1e-3, 1e-2):
        reg = EQReg(model, weight=weight)
        out = run(reg, model, x)
        shares.append(reg.gradient_share(F.mse_loss(out, reg.group.pair(x, element=1)[0])))
    assert shares[0] > 0 and shares[1] == pytest.approx(10 * shares[0], rel=1e-3)


class Tokenized(nn.Module):
    """The same 1x1 map either as a conv on (B, C, H, W) or as a Linear on raster tokens (B, H*W, C)."""

    def __init__(self, tokens: bool):
        super().__init__()
        self.tokens = tokens
        self.embed = nn.Conv2d(1, 8, 3, padding=1)
        self.mix = nn.Linear(8, 8) if tokens else nn.Conv2d(8, 8, 1)
        self.out = nn.Conv2d(8, 1, 3, padding=1)

    def forward(self, x):
        h = self.embed(x)
        if self.tokens:
            b, c, height, width = h.shape
            t = self.mix(h.flatten(2).transpose(1, 2))  # (B, H*W, C)
            h = t.transpose(1, 2).reshape(b, c, height, width)
        else:
            h = self.mix(h)
        return self.out(F.relu(h))


def test_linear_on_raster_tokens_equals_the_1x1_conv_on_the_map():
    torch.manual_seed(0)
    conv_net, token_net = Tokenized(False), Tokenized(True)
    token_net.load_state_dict({k: v.reshape(token_net.state_dict()[k].shape) for k, v in conv_net.state_dict().items()})
    x = torch.rand(2, 1, 12, 12)
    values = []
    for net in (conv_net, token_net):
        reg = EQReg(net)
        layout = next(layer for layer in reg.layers if layer.name == "mix").layout
        assert type(layout) is (Tokens if net.tokens else Map)
        run(reg, net, x, element=1)
        values.append(reg.stats()["mix"])
    assert values[0] == pytest.approx(values[1], rel=1e-5)


def test_exception():
    model = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.Conv2d(6, 1, 3, padding=1))
    with pytest.raises(ValueError, match=r"layer '0' \(Conv2d, 6 channels\).*divisible by 4, got 6"):
        EQReg(model, layers=["0"], reps=Regular())
    with pytest.raises(ValueError, match="unknown layer name"):
        EQReg(model, layers=["nope"])
    with pytest.raises(ValueError, match="norm"):
        EQReg(small_cnn(), norm="l1")
    with pytest.raises(ValueError, match="weight"):
        EQReg(small_cnn(), weight=-1)
    with pytest.raises(ValueError, match="layer_fraction"):
        EQReg(small_cnn(), layer_fraction=0)
    with pytest.raises(ValueError, match=r"unknown layer name\(s\) in reps: 'tpyo'"):
        EQReg(small_cnn(), reps={"tpyo": Trivial()})
    with pytest.raises(ValueError, match=r"'hed' \(close: 'head'"):
        EQReg(Nested(), reps={"hed": Trivial()})
    reg = EQReg(small_cnn())
    with pytest.raises(ValueError, match=r"a batch of 3 images cannot be paired"), reg.active(1):
        reg.model.train()(torch.rand(3, 1, 8, 8))


def smooth_images(n, size, generator):
    noise = torch.rand(n, 1, size + 12, size + 12, generator=generator)
    kernel = torch.exp(-torch.linspace(-2, 2, 13) ** 2)
    kernel = (kernel[:, None] * kernel[None, :]) / kernel.sum() ** 2
    img = F.conv2d(noise, kernel.view(1, 1, 13, 13))
    low, high = img.amin(dim=(-2, -1), keepdim=True), img.amax(dim=(-2, -1), keepdim=True)
    return (img - low) / (high - low)


def test_default_weight_training_does_not_collapse():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = small_cnn(width=16, depth=5)
    reg = EQReg(model)  # default weight and norm
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sigma = 25 / 255
    model.train()
    first = None
    for _ in range(300):
        y = smooth_images(8, 24, gen)
        x = y + sigma * torch.randn(y.shape, generator=gen)
        xb, yb, element = reg.group.pair(x, y, generator=gen)
        with reg.active(element):
            out = xb - model(xb)  # residual learning: the net predicts the noise
        first = float(reg.raw_loss().detach()) if first is None else first
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
    assert reg.raw_loss().item() < 0.7 * first  # and the penalty did act
    assert not math.isnan(reg.raw_loss().item())


def _partition(m: torch.Tensor, s: int) -> torch.Tensor:
    """(B, H, W, C) -> (B * nW, s * s, C), Swin's window_partition."""
    b, h, w, c = m.shape
    return m.view(b, h // s, s, w // s, s, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, s * s, c)


def _arranged(maps: torch.Tensor, layout) -> torch.Tensor:
    """A map batch (B, C, H, W) in the raw arrangement of ``layout``."""
    last = maps.permute(0, 2, 3, 1).contiguous()
    if isinstance(layout, Map):
        return maps
    if isinstance(layout, ChannelsLast):
        return last
    if isinstance(layout, Tokens):
        return last.flatten(1, 2)
    rolled = torch.roll(last, shifts=(-layout.shift, -layout.shift), dims=(1, 2))
    return _partition(rolled, layout.size)


LAYOUTS = [Map(), ChannelsLast(), Tokens(), Windows(4), Windows(4, shift=2)]


@pytest.mark.parametrize("relative", [True, False])
@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
@pytest.mark.parametrize("group,element,rep", [
    (C4(), 1, Regular()), (D4(), 6, Regular()), (C4(), 3, Trivial()), (C4(), 1, PixelShuffle(2, Trivial())),
], ids=["C4", "D4", "trivial", "ps"])
def test_gather_term_matches_the_plain_definition(relative, layout, group, element, rep):
    """The fused gather on the raw arrangement equals the penalty written plainly on the maps, gradients too."""
    maps = torch.randn(4, 8, 8, 8, dtype=torch.double, requires_grad=True)
    raw = _arranged(maps, layout)
    images = 4
    index, inverse = _gather(layout, layout.per_image(raw, images), 1.0, group, element, rep, "cpu")
    fused = _GatherTerm.apply(raw.reshape(images, -1), index, inverse, relative)
    (g_fused,) = torch.autograd.grad(fused, maps)
    plain = _plain_term(maps[:2], maps[2:], group, element, rep, relative)
    (g_plain,) = torch.autograd.grad(plain, maps)
    assert torch.allclose(fused.double(), plain.double(), rtol=1e-5)
    assert torch.allclose(g_fused.double(), g_plain.double(), rtol=1e-4, atol=1e-7)


def test_gather_term_in_bfloat16_sums_in_float32():
    maps = torch.randn(4, 8, 6, 6)
    layer = Layer("x", Regular())
    index, inverse = _gather(layer.layout, (8, 6, 6), 1.0, C4(), 1, Regular(), "cpu")
    exact = _GatherTerm.apply(maps.reshape(4, -1), index, inverse, True)
    half = _GatherTerm.apply(maps.bfloat16().reshape(4, -1).requires_grad_(), index, inverse, True)
    assert half.dtype == torch.float32 and abs(half.item() - exact.item()) < 2e-2 * exact.item()


def test_stochastic_subset_is_unbiased():
    """With a quarter of the layers per step, the mean over draws is the full penalty."""
    torch.manual_seed(0)
    model = nn.Sequential(*[m for _ in range(4) for m in (nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())],
                          nn.Conv2d(8, 1, 3, padding=1))
    x = torch.rand(2, 8, 8, 8)
    for norm in ("relative", "paper"):
        full = EQReg(model, norm=norm, layers=["0", "2", "4", "6"])
        run(full, model, x)
        sub = EQReg(model, norm=norm, layers=["0", "2", "4", "6"], layer_fraction=0.25,
                    generator=torch.Generator().manual_seed(0))
        draws = []
        for _ in range(400):
            run(sub, model, x)
            assert len(sub.stats()) == 1
            draws.append(sub.raw_loss().item())
        assert sum(draws) / len(draws) == pytest.approx(full.raw_loss().item(), rel=0.05), norm


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_bf16_term_matches_the_cpu():
    torch.manual_seed(0)
    model = small_cnn(width=16, depth=4)
    x = torch.rand(2, 1, 16, 16)
    reg = EQReg(model)
    run(reg, model, x)
    cpu = reg.raw_loss().item()
    model.cuda()
    reg = EQReg(model)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        run(reg, model, x.cuda())
    assert reg.raw_loss().dtype == torch.float32 and abs(reg.raw_loss().item() - cpu) < 0.05 * cpu
    reg.raw_loss().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("norm", ["split", "components"])
def test_component_norms_equal_hand_computation(norm):
    """Each part normalised on its own: for C4's regular fields the field mean (invariant) and the rest."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(8, 1, 3, padding=1))
    reg = EQReg(model, weight=1.0, norm=norm, layers=["0"])
    x = torch.rand(2, 1, 12, 12)
    xb, _, element = reg.group.pair(x, element=1)
    with reg.active(element):
        model(xb)
    raw = float(reg.raw_loss().detach())
    y = model[0](xb).detach()
    a, b = C4().act(y[:2], 1, Regular()), y[2:]

    def energy(t, freqs):  # Parseval: a component's energy is its DFT coefficients' energy / n
        spectrum = torch.fft.fft(rearrange(t, "b (c n) h w -> b c n h w", n=4), dim=2)  # 0 invariant, 2 sign, 1/3 pair
        return spectrum[:, :, freqs].abs().pow(2).sum() / 4

    groups = {"split": [[0], [1, 2, 3]], "components": [[0], [1, 3], [2]]}[norm]
    terms = [float(energy(a - b, f) / (energy(a, f) + energy(b, f))) for f in groups]
    assert raw == pytest.approx(sum(terms) / len(terms), rel=1e-4)


def test_split_norm_does_not_reward_orientation_blindness():
    """A net with nearly equal channels in every field: the whole-layer term is small, the split term is not."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(8, 1, 3, padding=1))
    ring = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]])
    with torch.no_grad():  # two blind fields plus a little orientation-carrying noise
        model[0].weight.copy_(torch.randn(2, 1, 1, 1).repeat_interleave(4, 0) * ring + 0.01 * torch.randn(8, 1, 3, 3))
    x = torch.rand(2, 1, 12, 12)
    values = {}
    for norm in ("relative", "split"):
        reg = EQReg(model, weight=1.0, norm=norm, layers=["0"])
        xb, _, element = reg.group.pair(x, element=1)
        with reg.active(element):
            model(xb).sum().backward()
        values[norm] = float(reg.raw_loss().detach())
        reg.remove()
    assert values["relative"] < 0.01
    assert values["split"] > 0.2  # the oriented part, normalised on its own, is as unrelated as noise


@pytest.mark.parametrize("layout", [Map(), Tokens(), Windows(3), ChannelsLast()], ids=repr)
@pytest.mark.parametrize("rep, channels", [(Regular(), 8), (Regular(), 48), (PixelShuffle(2), 4)])
def test_fused_split_term_matches_the_projector_definition(rep, channels, layout):
    """The fused split term (one gather, field means) against the term written with projectors, values and grads."""
    from eqlab.regularizer import _component_term, _Fields, _gather, _SplitTerm

    maps = torch.randn(4, channels, 6, 6, dtype=torch.float64)
    raw = _arranged(maps, layout)  # the layer's own arrangement
    shape = layout.per_image(raw, 4)
    fields = _Fields(channels, 4, not isinstance(layout, Map))
    for element in (1, 2, 3):
        fused = raw.clone().requires_grad_(True)
        index, inverse = _gather(layout, shape, 1.0, C4(), element, rep, "cpu")
        value = _SplitTerm.apply(fused.reshape(4, -1), index, inverse, fields)
        value.backward()
        plain = maps.clone().requires_grad_(True)
        expected = _component_term(plain[:2], plain[2:], C4(), element, rep, "split")
        expected.backward()
        assert float(value.detach()) == pytest.approx(float(expected.detach()), rel=1e-5)
        assert torch.allclose(fused.grad, _arranged(plain.grad.double(), layout), rtol=1e-4, atol=1e-7)


def test_a_part_holding_only_round_off_adds_nothing_in_both_split_terms():
    """Fields whose channels are equal up to float32 round-off have no oriented part: its term is 0 in the fused
    and in the projector-written split term alike (half the invariant part's ratio), never a ratio of round-offs
    (which read -1862 once on an interpolated turn)."""
    from eqlab.regularizer import _component_term, _Fields, _gather, _SplitTerm

    torch.manual_seed(0)
    maps = torch.randn(4, 2, 1, 6, 6).expand(4, 2, 4, 6, 6).reshape(4, 8, 6, 6).contiguous()
    maps = maps * (1 + 1e-6 * torch.randn_like(maps))  # equal channels within each field, up to round-off
    index, inverse = _gather(Map(), (8, 6, 6), 1.0, C4(), 1, Regular(), "cpu")
    fused = _SplitTerm.apply(maps.reshape(4, -1), index, inverse, _Fields(8, 4, False))
    written = _component_term(maps[:2], maps[2:], C4(), 1, Regular(), "split")
    a, b = torch.rot90(maps[:2], 1, (2, 3)), maps[2:]  # the field means, which the quarter turn only moves
    means = [t.reshape(2, 2, 4, 6, 6).mean(2) for t in (a, b)]
    invariant = (means[0] - means[1]).pow(2).sum() / (means[0].pow(2).sum() + means[1].pow(2).sum())
    assert float(fused) == pytest.approx(float(invariant) / 2, rel=1e-4)
    assert float(written) == pytest.approx(float(invariant) / 2, rel=1e-4)


@pytest.mark.parametrize("norm", ["split", "components"])
@pytest.mark.parametrize("group", ["C4", "C8"])
def test_component_norms_on_an_image_valued_layer_equal_the_whole_layer_term(norm, group):
    """A trivial layer has one component: its split (and components) term is the relative one, values and grads."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 1, 3, padding=1))
    x = torch.rand(2, 1, 12, 12)
    values, grads = {}, {}
    for which in (norm, "relative"):
        reg = EQReg(model, group, weight=1.0, norm=which, layers=["2"])
        xb, _, element = reg.group.pair(x, element=1)
        with reg.active(element):
            model(xb)
        model.zero_grad()
        reg.raw_loss().backward()
        values[which], grads[which] = reg.raw_loss().item(), model[2].weight.grad.clone()
        reg.remove()
    assert values[norm] == pytest.approx(values["relative"], rel=1e-5)
    assert torch.allclose(grads[norm], grads["relative"], rtol=1e-4, atol=1e-8)


def test_the_norms_table_is_the_one_place_their_names_live():
    """Every entry of NORMS works by its name alone (EQReg, EQRegArm, TrainConfig, the CLI's --norm); an unknown
    name is a ValueError listing the table."""
    from eqlab.arms import EQRegArm
    from eqlab.cli import build_parser, config_from_args
    from eqlab.regularizer import DEFAULT_NORM, NORMS, Norm, get_norm
    from eqlab.train import TrainConfig
    from eqlab.train.config import MethodConfig

    assert DEFAULT_NORM in NORMS
    assert EQReg(small_cnn()).norm == TrainConfig().method.norm == EQRegArm().norm == DEFAULT_NORM
    x = torch.rand(2, 1, 8, 8)
    for name, norm in NORMS.items():
        assert isinstance(norm, Norm) and norm.name == name and get_norm(name) is norm
        model = small_cnn()
        reg = EQReg(model, weight=1.0, norm=name)
        assert reg.penalty_norm is norm and reg.norm == name and repr(norm) in repr(NORMS)
        run(reg, model, x)
        assert 0 < reg.raw_loss().item() < math.inf  # a term from every layer, through the norm's own path
        config = TrainConfig.of(norm=name).validate()
        assert TrainConfig.from_dict(config.to_dict()).method.norm == name
        assert EQRegArm.from_config(config.method).norm == name
        args = build_parser().parse_args(["train", "--norm", name])
        assert config_from_args(args).method.norm == name
        assert f"{name} ({norm.normalises})" in MethodConfig.__dataclass_fields__["norm"].metadata["help"]
    for make in (lambda: EQReg(small_cnn(), norm="l1"), lambda: EQRegArm(norm="l1"),
                 lambda: TrainConfig.of(norm="l1").validate(), lambda: setattr(EQReg(small_cnn()), "norm", "l1")):
        with pytest.raises(ValueError, match="l1") as error:
            make()
        assert all(repr(name) in str(error.value) for name in NORMS)
    with pytest.raises(TypeError, match="list"):
        get_norm(["split"])
