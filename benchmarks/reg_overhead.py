"""The cost of EQ-Reg against augmentation alone, as ratios measured in one run.

For DnCNN nets of 8 x 16, 8 x 32 and 17 x 64 (depth x width) and for a windowed-attention
Transformer (spandrel's SwinIR when installed, else eqlab's ``winattn``), at 1 and 2 torch threads:

1. training step (forward, backward, Adam) of EQ-Reg's arm over the same paired batch without the
   penalty (the ``augment`` arm): the exact term with the default split norm, the same with eqlab 0.2's
   whole-layer relative norm (``whole``), and the stochastic estimator on a quarter of the layers per
   step (``layer_fraction=0.25``);
2. saved-for-backward bytes, eqreg over augment (what autograd keeps for the backward pass: the
   part of the memory that grows with the batch), counted by ``torch.autograd.graph.saved_tensors_hooks``;
3. an eval-mode forward with EQ-Reg attached over the bare model (there are no hooks outside
   ``active()``: it should read 1.00 up to noise).

The variants alternate step by step and the median over rounds is taken, of the CPU time of
the process (what a step costs on cores of its own: on a shared machine the wall time also counts
waiting for a core) and of the wall time; the 1-minute load average is printed before and after.

Each net and thread count is measured in ``--repeats`` fresh processes (default 3), the rows taken in
turn and in reverse order every other repetition, so that a change in the machine's load spreads over
all of them; a line reports the median over the repetitions (``exact`` also its lowest and highest);
each process's ratios go to stderr as it ends.
With ``--plain`` every process has a twin with glibc's default allocator (``EQLAB_ALLOCATOR=default``)
beside the setting ``import eqlab`` makes (``eqlab.ALLOCATOR``: freed memory stays in the process).
``--profile`` prints instead the torch profiler's table of five EQ-Reg steps of one net (one thread):
where the time goes.

Usage: python benchmarks/reg_overhead.py [--rounds 12] [--repeats 3] [--nets "DnCNN 8x32" transformer]
       [--plain] [--quick] [--profile "DnCNN 8x32"]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: idle OpenMP threads sleep (eqlab.machine)

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from eqlab import C4  # noqa: E402
from eqlab.machine import ALLOCATOR_VARIABLE, load_average, machine_info  # noqa: E402
from eqlab.models import build  # noqa: E402
from eqlab.regularizer import EQReg  # noqa: E402


def transformer():
    """A tiny SwinIR (spandrel) if it is installed, else eqlab's window-attention net."""
    try:
        return "SwinIR (spandrel, tiny)", build("swinir", channels=1, dim=16, depth=2)
    except ValueError:  # spandrel is not installed
        return "winattn (eqlab)", build("winattn", dim=32, depth=2)


def step(model, reg, opt, xb, yb, element):
    cuda = xb.is_cuda
    with torch.autocast("cuda", dtype=torch.bfloat16) if cuda else torch.enable_grad():
        if reg is None:
            out = model(xb)
        else:
            with reg.active(element):
                out = model(xb)
    loss = F.mse_loss(out.float(), yb) + (reg.loss() if reg is not None else 0.0)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if cuda:
        torch.cuda.synchronize()


def saved_bytes(fn) -> int:
    storages = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(storages.values())


def measure(name, model, batch, patch, rounds, device="cpu"):
    model.train().to(device)
    gen = torch.Generator().manual_seed(0)
    y = torch.rand(batch, getattr(model, "channels", 1), patch, patch, generator=gen)
    x = y + 0.1 * torch.randn(y.shape, generator=gen)
    xb, yb, element = (t.to(device) if isinstance(t, torch.Tensor) else t for t in C4().pair(x, y, element=1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-5)
    variants = {"augment": None, "exact": EQReg(model), "whole": EQReg(model, norm="relative"),
                "stochastic": EQReg(model, layer_fraction=0.25, generator=torch.Generator().manual_seed(0))}
    for reg in variants.values():  # warm-up: caches, allocator
        for _ in range(2):
            step(model, reg, opt, xb, yb, element)
    times = {v: [] for v in variants}
    walls = {v: [] for v in variants}
    clock = time.perf_counter if xb.is_cuda else time.process_time  # a GPU's time is wall time
    for _ in range(rounds):
        for v, reg in variants.items():
            start, wall = clock(), time.perf_counter()
            step(model, reg, opt, xb, yb, element)
            times[v].append(clock() - start)
            walls[v].append(time.perf_counter() - wall)
    median = {v: statistics.median(t) for v, t in times.items()}
    wall = {v: statistics.median(t) for v, t in walls.items()}

    def forward(reg):
        with reg.active(element) if reg is not None else torch.enable_grad():
            return F.mse_loss(model(xb), yb) + (reg.loss() if reg is not None else 0)

    model.to(xb.device)

    if xb.is_cuda:  # peak allocated memory of a whole step
        memory = {}
        for v, reg in variants.items():
            torch.cuda.reset_peak_memory_stats()
            step(model, reg, opt, xb, yb, element)
            memory[v] = torch.cuda.max_memory_allocated()
    else:
        memory = {v: saved_bytes(lambda reg=reg: forward(reg)) for v, reg in variants.items()}
    model.eval()
    with torch.no_grad():
        bare, attached = [], []
        for _ in range(rounds):
            start = time.perf_counter()
            model(xb)
            bare.append(time.perf_counter() - start)
            with variants["exact"].active(element):  # hooks registered; eval mode: they do nothing
                start = time.perf_counter()
                model(xb)
                attached.append(time.perf_counter() - start)
    layers = len(variants["exact"].layers)
    return dict(name=name, layers=layers, augment_ms=median["augment"] * 1e3,
                exact=median["exact"] / median["augment"], whole=median["whole"] / median["augment"],
                stochastic=median["stochastic"] / median["augment"],
                wall_exact=wall["exact"] / wall["augment"], wall_stochastic=wall["stochastic"] / wall["augment"],
                memory=memory["exact"] / memory["augment"], memory_stochastic=memory["stochastic"] / memory["augment"],
                eval=statistics.median(attached) / statistics.median(bare))


NETS = {"DnCNN 8x16": dict(depth=8, features=16), "DnCNN 8x32": dict(depth=8, features=32),
        "DnCNN 17x64": dict(depth=17, features=64), "transformer": None}


def worker(net: str, threads: int, args) -> None:
    """One row, measured in this process; printed as JSON with this process's peak resident memory."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if NETS[net] is None:
        name, model = transformer()
        row = measure(name, model, args.batch // 2, 32, args.rounds, args.device)
    else:
        row = measure(net, build("dncnn", **NETS[net]), args.batch, args.patch, args.rounds, args.device)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    row["rss_mib"] = peak / 2**20 if sys.platform == "darwin" else peak / 2**10
    print(json.dumps(row), flush=True)


def run_worker(net: str, threads: int, args, plain: bool) -> dict | None:
    """:func:`worker` in a fresh process: with eqlab's allocator setting, or with glibc's defaults (``plain``)."""
    env = {k: v for k, v in os.environ.items() if k != ALLOCATOR_VARIABLE}
    if plain:
        env[ALLOCATOR_VARIABLE] = "default"
    command = [sys.executable, os.path.abspath(__file__), "--worker", net, "--threads", str(threads),
               "--rounds", str(args.rounds), "--batch", str(args.batch), "--patch", str(args.patch),
               "--device", args.device]
    try:
        out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:  # a starved or stuck process on a loaded machine: the row goes without it
        print(f"  {net}, {threads} thread(s): no result within {args.timeout:g} s, left out", file=sys.stderr,
              flush=True)
        return None
    if out.returncode:
        which = "plain" if plain else "eqlab"
        raise RuntimeError(f"the {net} worker ({which} allocator) failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12, help="timed steps per variant (median)")
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per row, alternating (median)")
    parser.add_argument("--batch", type=int, default=8, help="images per half; the paired batch is twice that")
    parser.add_argument("--patch", type=int, default=48)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--quick", action="store_true", help="3 rounds, 1 repeat, the two small nets only")
    parser.add_argument("--plain", action="store_true", help="also measure with glibc's default allocator")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds a process may take before it is left out")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda: bf16 autocast, peak memory")
    parser.add_argument("--nets", nargs="+", choices=sorted(NETS), default=sorted(NETS, key=list(NETS).index),
                        help="which nets (default: all; transformer: SwinIR if spandrel is installed, else winattn)")
    parser.add_argument("--profile", choices=sorted(NETS), help="print the profiler table of five EQ-Reg steps")
    parser.add_argument("--worker", choices=sorted(NETS), help=argparse.SUPPRESS)  # one row, in a fresh process
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.threads[0], args)
    if args.profile:
        return profile(args.profile, args)
    if args.quick:
        args.rounds, args.repeats = 3, 1
    nets = [net for net in args.nets if not (args.quick and net in ("DnCNN 17x64", "transformer"))]
    cuda = args.device.startswith("cuda")  # the host allocator hardly matters there: no plain process
    info = machine_info(args.device)
    if cuda:
        print(f"GPU {info['gpu']}, bf16 autocast; times are wall times, memory is the peak allocated")
    print(f"{info['cpu']} ({info['cpu_count']} cores), torch {info['torch']}, OMP_WAIT_POLICY "
          f"{info['omp_wait_policy']}, allocator {info['allocator']}; paired batch {2 * args.batch} x {args.patch} x "
          f"{args.patch}, Adam, {args.rounds} rounds x {args.repeats} processes per row; load {load_average():.2f} "
          "at the start")
    rows: dict[tuple, list] = {}
    plains: dict[tuple, list] = {}
    order = [(t, n) for t in args.threads for n in nets]
    for repeat in range(args.repeats):
        for threads, net in order if repeat % 2 == 0 else order[::-1]:
            row = run_worker(net, threads, args, plain=False)
            if row is not None:
                rows.setdefault((threads, net), []).append(row)
                print(f"  repeat {repeat + 1}: {row['name']}, {threads} thread(s): exact {row['exact']:.3f}, whole "
                      f"{row['whole']:.3f} (load {load_average():.2f})", file=sys.stderr, flush=True)  # progress
            plain = run_worker(net, threads, args, plain=True) if args.plain and not cuda else None
            if plain is not None:
                plains.setdefault((threads, net), []).append(plain)
    header = (f"{'net':<24}{'threads':>8}{'layers':>7}{'augment ms':>11}{'exact':>8}{'(range)':>14}{'whole':>8}"
              f"{'stoch.':>8}{'wall ex.':>9}{'memory':>8}{'mem st.':>8}{'eval':>7}{'RSS MiB':>9}"
              + (f"{'plain ex.':>10}{'plain RSS':>10}" if plains else ""))
    print(header)
    for key in order:
        if key in rows:
            print(line(rows[key], plains.get(key), key[0]), flush=True)
    print(f"ratios over augment (same paired batch, no penalty), CPU time, median of {args.repeats} processes; exact: "
          f"every layer, split norm (the default), with the lowest and highest process; whole: every layer, eqlab "
          f"0.2's whole-layer relative norm; stoch.: split on a random quarter per step; wall ex.: exact in wall "
          f"time; memory: saved-for-backward bytes; eval: forward with EQ-Reg attached / bare; RSS: peak resident "
          f"memory of the process" + ("; plain: the same with glibc's default allocator" if plains else "")
          + f". Load at the end {load_average():.2f}.")


def line(rows: list[dict], plains: list[dict] | None, threads: int) -> str:
    """One printed row: the median of every ratio over the repetitions."""
    def med(key, of=rows):
        return statistics.median(r[key] for r in of)

    exact = [r["exact"] for r in rows]  # the range also says how many processes answered
    text = (f"{rows[0]['name']:<24}{threads:>8}{rows[0]['layers']:>7}{med('augment_ms'):>11.1f}{med('exact'):>8.3f}"
            f"{f'({min(exact):.3f}-{max(exact):.3f})':>14}{med('whole'):>8.3f}{med('stochastic'):>8.3f}"
            f"{med('wall_exact'):>9.3f}{med('memory'):>8.3f}{med('memory_stochastic'):>8.3f}{med('eval'):>7.3f}"
            f"{med('rss_mib'):>9.0f}")
    if plains:
        text += f"{med('exact', plains):>10.3f}{med('rss_mib', plains):>10.0f}"
    return text


def profile(net: str, args) -> None:
    """The torch profiler's table of five EQ-Reg steps (split norm, one thread), sorted by own CPU time."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as profiler

    torch.set_num_threads(1)
    torch.manual_seed(0)
    if NETS[net] is None:
        name, model = transformer()
        batch, patch = args.batch // 2, 32
    else:
        name, model = net, build("dncnn", **NETS[net])
        batch, patch = args.batch, args.patch
    model.train()
    gen = torch.Generator().manual_seed(0)
    y = torch.rand(batch, getattr(model, "channels", 1), patch, patch, generator=gen)
    xb, yb, element = C4().pair(y + 0.1 * torch.randn(y.shape, generator=gen), y, element=1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-5)
    reg = EQReg(model)
    for _ in range(3):
        step(model, reg, opt, xb, yb, element)
    with profiler(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(5):
            step(model, reg, opt, xb, yb, element)
    print(f"{name}: five EQ-Reg steps (split norm), one thread, paired batch {2 * batch} x {patch} x {patch}; "
          f"load {load_average():.2f}")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))


if __name__ == "__main__":
    main()
