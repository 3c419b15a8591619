"""EQ-Reg on unmodified third-party nets (spandrel): what it chose, and the step time over augmentation.

For every net of ``eqlab.models.SPANDREL`` (small configurations): how many of its conv / linear layers
the probe regularizes and with which layouts, which layer produces the output, and the training
step (forward, backward, Adam; a paired batch of 2 x 64 x 64) with the exact penalty over the same
step without it, the median over interleaved rounds, one torch thread. Needs spandrel.

Usage: python benchmarks/thirdparty.py [--rounds 5] [--names SwinIR HAT]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: idle OpenMP threads sleep (eqlab.machine)

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from eqlab import C4, EQReg  # noqa: E402
from eqlab.machine import load_average, machine_info  # noqa: E402
from eqlab.models import SPANDREL, build_thirdparty  # noqa: E402


def step(model, reg, opt, xb, element):
    with reg.active(element) if reg is not None else torch.enable_grad():
        out = model(xb)
    target = F.interpolate(xb, size=out.shape[-2:])[:, : out.shape[1]]
    loss = F.mse_loss(out, target) + (reg.loss() if reg is not None else 0.0)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--names", nargs="+", default=sorted(SPANDREL))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    info = machine_info()
    print(f"{info['cpu']} ({info['cpu_count']} cores), torch {info['torch']}, 1 thread, paired batch 2 x 64 x 64, "
          f"{args.rounds} rounds; load {load_average():.2f}")
    print("| net | regularized / candidates | layouts | output layer | step ratio |\n|---|---|---|---|---|")
    for name in args.names:
        model, channels, _ = build_thirdparty(name)
        reg = EQReg(model, weight=1e-4)
        layouts = Counter(type(layer.layout).__name__ + (" shifted" if getattr(layer.layout, "shift", 0) else "")
                          for layer in reg.layers)
        outputs = [f"`{layer.name}` ({layer.rep.name})" for layer in reg.layers if layer.role == "output"]
        x = torch.rand(1, channels, 64, 64, generator=torch.Generator().manual_seed(0))
        xb, _, element = C4().pair(x, element=1)
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-6)
        times = {"augment": [], "eqreg": []}
        for variant in times:  # warm-up
            step(model, reg if variant == "eqreg" else None, opt, xb, element)
        for _ in range(args.rounds):
            for variant in times:
                start = time.perf_counter()
                step(model, reg if variant == "eqreg" else None, opt, xb, element)
                times[variant].append(time.perf_counter() - start)
        ratio = statistics.median(times["eqreg"]) / statistics.median(times["augment"])
        kinds = ", ".join(f"{n} {k}" for k, n in layouts.most_common())
        print(f"| {name} | {len(reg.layers)} / {len(reg.selection.rows)} | {kinds} | {', '.join(outputs)} | "
              f"{ratio:.2f} |", flush=True)
    print(f"load at the end {load_average():.2f}")


if __name__ == "__main__":
    main()
