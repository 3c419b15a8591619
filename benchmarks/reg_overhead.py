"""Cost of EQ-Reg on a DnCNN-sized net, as ratios measured in one run.

1. training step (forward + backward + Adam) with EQ-Reg over the same paired batch without it;
2. eval-mode forward with EQ-Reg attached (its hooks registered) over the bare model;
3. peak memory with EQ-Reg over without: ``torch.cuda.max_memory_allocated`` on a GPU; on the
   CPU, the bytes autograd saves for backward (activations, the part that grows), counted by
   ``torch.autograd.graph.saved_tensors_hooks``.

Usage: python benchmarks/reg_overhead.py [--depth 17] [--features 64] [--batch 8] [--patch 48]
The two timed variants alternate, and the median over repeats is reported.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from eqlab.models import build
from eqlab.regularizer import EQReg


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def step_fn(model, reg, opt, xb, yb, element, device):
    def step():
        if reg is None:
            out = model(xb)
            loss = F.mse_loss(out, yb)
        else:
            with reg.active(element):
                out = model(xb)
            loss = F.mse_loss(out, yb) + reg.loss()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sync(device)
    return step


def eval_fn(model, reg, x, device):
    def forward():
        with torch.no_grad():
            if reg is None:
                model(x)
            else:
                with reg.active(1):
                    model(x)
        sync(device)
    return forward


def timed(fns: dict, repeats: int, warmup: int = 3) -> dict:
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():  # alternate so drifts hit both alike
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def saved_bytes(fn) -> int:
    storages = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(storages.values())


def peak_memory(fn, device) -> int:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        fn()
        return torch.cuda.max_memory_allocated()
    return saved_bytes(fn)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=17)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8, help="images per half; the paired batch is twice that")
    parser.add_argument("--patch", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = build("dncnn", features=args.features, depth=args.depth).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    reg = EQReg(model)
    gen = torch.Generator().manual_seed(0)
    y = torch.rand(args.batch, 1, args.patch, args.patch, generator=gen).to(device)
    x = y + 0.1 * torch.randn(y.shape, generator=gen).to(device)
    xb, yb, element = reg.group.pair(x, y, element=1)

    model.train()
    steps = {"paired": step_fn(model, None, opt, xb, yb, element, device),
             "eqreg": step_fn(model, reg, opt, xb, yb, element, device)}
    train = timed(steps, args.repeats)
    memory = {name: peak_memory(fn, device) for name, fn in steps.items()}

    model.eval()
    evals = {"bare": eval_fn(model, None, xb, device), "attached": eval_fn(model, reg, xb, device)}
    inference = timed(evals, args.repeats * 2)

    params = sum(p.numel() for p in model.parameters())
    print(f"device {device}, DnCNN depth {args.depth} x {args.features} ({params / 1e6:.2f} M params), "
          f"paired batch {2 * args.batch} x 1 x {args.patch} x {args.patch}, {len(reg.layers)} regularized layers, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"train step : eqreg {train['eqreg'] * 1e3:8.1f} ms  paired-only {train['paired'] * 1e3:8.1f} ms  "
          f"ratio {train['eqreg'] / train['paired']:.3f}  (target <= 1.10)")
    print(f"eval fwd   : attached {inference['attached'] * 1e3:6.1f} ms  bare {inference['bare'] * 1e3:8.1f} ms  "
          f"ratio {inference['attached'] / inference['bare']:.3f}  (target <= 1.02)")
    what = "peak CUDA memory" if device.type == "cuda" else "saved-for-backward bytes"
    print(f"memory     : {what} eqreg {memory['eqreg'] / 2**20:.1f} MiB  paired-only {memory['paired'] / 2**20:.1f} MiB  "
          f"ratio {memory['eqreg'] / memory['paired']:.3f}")


if __name__ == "__main__":
    main()
