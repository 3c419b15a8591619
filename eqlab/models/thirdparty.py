"""Third-party restoration nets (spandrel), unmodified, for EQ-Reg to attach to.

spandrel (https://github.com/chaiNNer-org/spandrel) collects the architectures of the restoration
literature as plain ``nn.Module`` classes. eqlab uses them two ways:

- ``swinir``: a registered eqlab net (``build("swinir")``, ``eqlab train --model swinir``): spandrel's
  SwinIR inside a thin ``RestorationNet`` (``name`` and ``config`` for checkpoints). It declares no
  layers: EQ-Reg's probe (``eqlab.selection``) reads its token and (shifted) window layers itself.
- ``SPANDREL``: small configurations of many architectures (CNNs, U-Nets, windowed Transformers),
  for the tests and ``benchmarks/thirdparty.py``: ``build_thirdparty(name)``.

spandrel is optional (``pip install spandrel``; it needs torchvision). Without it ``swinir`` is still
a registered name, and building it raises a ``ValueError`` that says what to install.

What is not here: eqlab's own nets (the other files of ``eqlab.models``).
"""

from __future__ import annotations

import importlib
import sys

import torch
import torch.nn as nn

from .base import RestorationNet, check_int
from .registry import register

__all__ = ["SwinIRNet", "SPANDREL", "build_thirdparty", "spandrel_available"]

_HINT = ("needs the optional package spandrel (pip install spandrel; on a CPU-only machine install torch and "
         "torchvision from the PyTorch CPU index first)")


def spandrel_available() -> bool:
    """Whether spandrel (and torchvision, which it imports) can be imported."""
    try:
        importlib.import_module("spandrel")
    except ImportError:
        return False
    return True


def _class(path: str) -> type[nn.Module]:
    module, name = path.rsplit(".", 1)
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError as err:
        for loaded in [m for m in sys.modules if m == "spandrel" or m.startswith("spandrel.")]:
            del sys.modules[loaded]  # a half-imported spandrel would let the next attempt "succeed"
        raise ValueError(f"{name} {_HINT} ({err})") from None


# name -> (spandrel class, small constructor arguments, input channels, scale). Images of 64 x 64 run
# in well under a second per training step on one CPU thread.
SPANDREL: dict[str, tuple[str, dict, int, int]] = {
    "DnCNN": ("spandrel.architectures.DnCNN.__arch.network_dncnn.DnCNN",
              dict(in_nc=1, out_nc=1, nc=16, nb=5, act_mode="BR", mode="DnCNN"), 1, 1),
    "DRUNet": ("spandrel.architectures.DRUNet.__arch.network_unet.DRUNet",
               dict(in_nc=2, out_nc=1, nc=[16, 32, 64, 128], nb=1, act_mode="R", downsample_mode="strideconv",
                    upsample_mode="convtranspose"), 2, 1),
    "ESRGAN": ("spandrel.architectures.ESRGAN.__arch.RRDB.RRDBNet",
               dict(in_nc=3, out_nc=3, num_filters=16, num_blocks=2, scale=2), 3, 2),
    "Compact": ("spandrel.architectures.Compact.__arch.SRVGG.SRVGGNetCompact",
                dict(num_in_ch=3, num_out_ch=3, num_feat=16, num_conv=4, upscale=2, act_type="prelu"), 3, 2),
    "RCAN": ("spandrel.architectures.RCAN.__arch.rcan_arch.RCAN",
             dict(scale=2, n_resgroups=2, n_resblocks=2, n_feats=16, n_colors=3, reduction=4), 3, 2),
    "NAFNet": ("spandrel.architectures.NAFNet.__arch.NAFNet_arch.NAFNet",
               dict(img_channel=3, width=16, middle_blk_num=1, enc_blk_nums=[1, 1], dec_blk_nums=[1, 1]), 3, 1),
    "SPAN": ("spandrel.architectures.SPAN.__arch.span.SPAN",
             dict(num_in_ch=3, num_out_ch=3, feature_channels=16, upscale=2), 3, 2),
    "PLKSR": ("spandrel.architectures.PLKSR.__arch.PLKSR.PLKSR",
              dict(dim=16, n_blocks=2, upscaling_factor=2, kernel_size=17), 3, 2),
    "SAFMN": ("spandrel.architectures.SAFMN.__arch.safmn.SAFMN", dict(dim=16, n_blocks=2, upscaling_factor=2), 3, 2),
    "OmniSR": ("spandrel.architectures.OmniSR.__arch.OmniSR.OmniSR",
               dict(num_in_ch=3, num_out_ch=3, num_feat=16, block_num=1, window_size=8, res_num=1, up_scale=2), 3, 2),
    "SwinIR": ("spandrel.architectures.SwinIR.__arch.SwinIR.SwinIR",
               dict(img_size=64, in_chans=3, embed_dim=16, depths=[2, 2], num_heads=[2, 2], window_size=8,
                    mlp_ratio=2.0, upscale=2, upsampler="pixelshuffle", resi_connection="1conv"), 3, 2),
    "HAT": ("spandrel.architectures.HAT.__arch.HAT.HAT",
            dict(img_size=64, in_chans=3, embed_dim=24, depths=(2,), num_heads=(2,), window_size=8,
                 compress_ratio=3, squeeze_factor=4, overlap_ratio=0.5, mlp_ratio=2.0, upscale=2,
                 upsampler="pixelshuffle", num_feat=16), 3, 2),
    "DRCT": ("spandrel.architectures.DRCT.__arch.drct_arch.DRCT",
             dict(img_size=64, in_chans=3, embed_dim=16, depths=(2,), num_heads=(2,), window_size=8, gc=8,
                  mlp_ratio=2.0, upscale=2, upsampler="pixelshuffle"), 3, 2),
    "DAT": ("spandrel.architectures.DAT.__arch.DAT.DAT",
            dict(img_size=64, in_chans=3, embed_dim=32, split_size=[8, 16], depth=[2, 2], num_heads=[2, 2],
                 expansion_factor=2.0, upscale=2, upsampler="pixelshuffle", resi_connection="1conv"), 3, 2),
    "GRL": ("spandrel.architectures.GRL.__arch.grl.GRL",
            dict(img_size=64, in_channels=3, out_channels=3, embed_dim=16, upscale=2, upsampler="pixelshuffle",
                 depths=[4], num_heads_window=[1], num_heads_stripe=[1], window_size=8, stripe_size=[8, 8],
                 stripe_groups=[None, None], stripe_shift=True, mlp_ratio=2.0, anchor_window_down_factor=2,
                 conv_type="1conv"), 3, 2),
    "SCUNet": ("spandrel.architectures.SCUNet.__arch.SCUNet.SCUNet",
               dict(in_nc=3, config=[2] * 7, dim=64, input_resolution=64), 3, 1),
    "ATD": ("spandrel.architectures.ATD.__arch.atd_arch.ATD",
            dict(img_size=64, in_chans=3, embed_dim=16, depths=(2,), num_heads=(2,), window_size=8,
                 category_size=64, num_tokens=16, reducted_dim=4, convffn_kernel_size=5, mlp_ratio=2.0, upscale=2,
                 upsampler="pixelshuffle"), 3, 2),
    "FFTformer": ("spandrel.architectures.FFTformer.__arch.fftformer_arch.FFTformer",
                  dict(inp_channels=3, out_channels=3, dim=8, num_blocks=[1, 1, 1], num_refinement_blocks=1,
                       ffn_expansion_factor=2, bias=False), 3, 1),
}


def build_thirdparty(name: str, seed: int = 0) -> tuple[nn.Module, int, int]:
    """A small spandrel net of the ``SPANDREL`` table: ``(model, input channels, scale)``.

    Raises:
        ValueError: an unknown name, or spandrel is not installed.
    """
    if name not in SPANDREL:
        raise ValueError(f"unknown third-party net {name!r}; known: {sorted(SPANDREL)}")
    path, kwargs, channels, scale = SPANDREL[name]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _class(path)(**kwargs), channels, scale


@register("swinir")
class SwinIRNet(RestorationNet):
    """spandrel's SwinIR (Liang et al. 2021), unmodified, as an eqlab net: shifted-window attention.

    Args:
        channels: image channels.
        dim: embedding channels (``features`` of the CLI); divisible by ``heads``.
        depth: Swin blocks in each residual stage (RSTB).
        window: attention window side (inputs are padded to its multiple inside SwinIR).
        heads: attention heads.
        scale: 1 (denoising, deblurring) or the super-resolution factor (a PixelShuffle upsampler).
        stages: residual stages (RSTBs). The paper's SwinIR is ``dim=180, depth=6, heads=6, stages=6``
            (``eqlab/recipes``); the default is a small one for CPUs.

    Shape:
        ``(B, channels, H, W) -> (B, channels, H * scale, W * scale)``.

    Raises:
        ValueError: spandrel is not installed, or a bad size.
    """

    def __init__(self, channels: int = 1, dim: int = 16, depth: int = 2, window: int = 8, heads: int = 2,
                 scale: int = 1, stages: int = 2):
        super().__init__()
        for value, what in ((channels, "channels"), (dim, "dim"), (depth, "depth"), (window, "window"),
                            (heads, "heads"), (scale, "scale"), (stages, "stages")):
            check_int(value, what)
        if dim % heads:
            raise ValueError(f"dim must be divisible by heads, got dim={dim}, heads={heads}")
        self.config = dict(channels=channels, dim=dim, depth=depth, window=window, heads=heads, scale=scale)
        if stages != 2:  # the two-stage nets of earlier checkpoints keep their config
            self.config["stages"] = stages
        self.channels = channels
        swinir = _class("spandrel.architectures.SwinIR.__arch.SwinIR.SwinIR")
        self.net = swinir(img_size=64, in_chans=channels, embed_dim=dim, depths=[depth] * stages,
                          num_heads=[heads] * stages, window_size=window, mlp_ratio=2.0, upscale=scale,
                          upsampler="pixelshuffle" if scale > 1 else "", resi_connection="1conv")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(B, channels, H, W)`` -> the restored image (``scale`` times larger)."""
        return self.net(x)
