"""The machine a run happens on: what cards and benchmarks record, how eqlab uses the CPU threads and malloc.

What is here:
    - ``machine_info(device)``: OS, CPU model, core count, Python, torch, threads, the GPU's name.
    - ``load_average()``: the 1-minute load (benchmarks print it next to every timing);
      ``process_cpu_s(pid)``: the CPU time another process has used (the app benchmarks).
    - ``choose_wait_policy()``, ``choose_threads()``: how eqlab uses the CPU threads, and
      ``choose_allocator()``: whether glibc keeps freed memory, all decided when ``eqlab`` is
      imported (see below).

Threads: PyTorch's CPU kernels use OpenMP, whose idle threads *spin* for a while after every
parallel region. On a quiet machine that is harmless; on a busy 2-core laptop (a browser, a
notebook server, the app) the spinning threads steal the cores the work needs (measured: a
30-step ``fit`` took 27-59 s instead of 6-9 s next to two other CPU-bound processes).
``OMP_WAIT_POLICY=PASSIVE`` makes them sleep instead, but OpenMP reads it only once, when its
library loads with ``torch``. So ``import eqlab`` decides, unless you set ``OMP_WAIT_POLICY``
yourself (then nothing is touched):

- torch not imported yet: ``OMP_WAIT_POLICY=PASSIVE`` (the CLI, the app, ``import eqlab`` first);
- torch already imported, on a machine with 2 cores or fewer: ``torch.set_num_threads(1)`` (one
  thread has no idle pool to spin; measured as fast as PASSIVE there, within 5 %);
- torch already imported, more cores: nothing (spinning costs a smaller share there).

``choose_threads`` returns which of these happened; ``eqlab.THREADS`` holds it.

Allocator: a training step allocates and frees the same multi-megabyte tensors (layer outputs,
their gradients, EQ-Reg's two saved tensors) every step. glibc's ``malloc`` hands blocks of more
than its *mmap threshold* straight to the kernel (``mmap``/``munmap``) and gives the top of its heap
back once more than its *trim threshold* is free, so the next step faults the same pages in again,
thousands of page faults per step. ``choose_allocator()`` (at ``import eqlab``) raises both
thresholds to ``KEEP_BYTES`` with ``mallopt`` so that freed memory stays in the process for the next
step. What it buys and costs, measured on a shared 2-core AMD EPYC (glibc 2.36, torch 2.13 CPU):

- page faults of an EQ-Reg training step (DnCNN 8 x 32, paired batch 16 x 48², Adam): 8,000-10,000
  per step with glibc's defaults, about 0 with the setting (augmentation steps alike);
- the EQ-Reg step over the augmentation step (load 0.5-2): 1.17-1.21 -> 1.12-1.13 at one thread,
  1.27-1.32 -> 1.15-1.17 at two (``benchmarks/reg_overhead.py`` prints both side by side; at load
  5-10: 1.18-1.22 -> 1.10-1.15 and 1.23 -> 1.16-1.20), with a peak resident memory 2 % lower to
  5 % higher than the plain process's;
- resident memory of a 1000-step ``eqlab train --task denoise --arm eqreg``: peak 591 MiB with the
  setting, 587 MiB without; after training both processes hold their peak (591 / 587 MiB: glibc
  gives back only the free top of its heap), and ``malloc_trim(0)`` brings either to 392 MiB.

It does nothing when you set any ``MALLOC_*`` variable, a ``glibc.malloc`` tunable in
``GLIBC_TUNABLES`` or preload another allocator (``LD_PRELOAD``): your choice stands; with
``EQLAB_ALLOCATOR=default`` in the environment before ``import eqlab`` (glibc's defaults, e.g. to
measure the difference, as ``benchmarks/reg_overhead.py`` does); and outside glibc (macOS,
Windows, musl), whose allocators are not set this way. ``eqlab.ALLOCATOR`` says which happened,
``machine_info()`` (so every card) records it. ``M_ARENA_MAX`` and ``M_TOP_PAD`` are left alone:
the large tensors are all allocated from the main thread's arena (``malloc_info`` after EQ-Reg
steps at two threads: one other arena, 0.1 MiB), and the top pad only spaces out ``brk`` calls.

After a run, the process still holds the run's peak: glibc keeps freed memory (more so with the
setting above) until ``malloc_trim`` hands it back. ``release_memory()`` calls it; ``fit`` calls it at
its end and the app after every training, so a long session does not keep a training run's peak.

What is not here: anything that trains or measures.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys

__all__ = ["machine_info", "load_average", "process_cpu_s", "choose_wait_policy", "choose_threads", "WAIT_POLICY",
           "choose_allocator", "release_memory", "KEEP_BYTES", "ALLOCATOR_VARIABLE"]

WAIT_POLICY = "PASSIVE"  # what eqlab asks of OpenMP unless OMP_WAIT_POLICY is already set
SMALL_MACHINE = 2  # cores: at most this many and torch already loaded -> one torch thread
KEEP_BYTES = 1 << 30  # glibc's mmap and trim thresholds eqlab asks for: freed blocks under 1 GiB stay in the process
OLD_GLIBC_MMAP_MAX = 32 << 20  # older glibc refuse mmap thresholds above HEAP_MAX_SIZE / 2 (32 MiB on 64-bit);
#                                 2.36 accepts KEEP_BYTES (measured)
ALLOCATOR_VARIABLE = "EQLAB_ALLOCATOR"  # "default": leave glibc's malloc as it is ("keep", or unset: eqlab decides)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's <malloc.h>
_allocator = "not chosen"  # what choose_allocator() did, for machine_info()


def choose_wait_policy() -> str:
    """Set ``OMP_WAIT_POLICY`` for the OpenMP runtime torch is about to load; returns what happened.

    Returns:
        ``"user"`` (the variable was already set: left alone), ``"passive"`` (eqlab set it to
        ``WAIT_POLICY``) or ``"too late"`` (torch was imported before eqlab: nothing changed).
    """
    if "OMP_WAIT_POLICY" in os.environ:
        return "user"
    if "torch" in sys.modules:
        return "too late"
    os.environ["OMP_WAIT_POLICY"] = WAIT_POLICY
    return "passive"


def choose_threads(policy: str) -> str:
    """After :func:`choose_wait_policy` and ``import torch``: one thread when it was too late on a small machine.

    Returns:
        ``policy``, or ``"one thread"`` when it set ``torch.set_num_threads(1)``.
    """
    import torch

    if policy == "too late" and (os.cpu_count() or 1) <= SMALL_MACHINE:
        torch.set_num_threads(1)
        return "one thread"
    return policy


def choose_allocator() -> str:
    """Keep freed memory in the process for the next training step (glibc ``mallopt``); returns what happened.

    Raises both of glibc's thresholds, ``M_MMAP_THRESHOLD`` and ``M_TRIM_THRESHOLD``, to ``KEEP_BYTES``
    (on a glibc that refuses that mmap threshold: ``OLD_GLIBC_MMAP_MAX``). It acts on the whole
    process, from the next allocation on, and can be called at any time.

    Returns:
        ``"keep"`` (both thresholds set to ``KEEP_BYTES``), ``"keep 32 MiB"`` (the mmap threshold at
        ``OLD_GLIBC_MMAP_MAX``), ``"user"`` (a ``MALLOC_*`` variable, a ``glibc.malloc`` tunable or
        an ``LD_PRELOAD`` allocator is set: left alone), ``"default"`` (``EQLAB_ALLOCATOR=default``:
        left alone), ``"not glibc"`` (nothing to set) or ``"refused"`` (``mallopt`` said no).

    Raises:
        ValueError: ``EQLAB_ALLOCATOR`` is set to something else than ``"default"`` or ``"keep"``.
    """
    global _allocator
    _allocator = _choose_allocator()
    return _allocator


def _choose_allocator() -> str:
    choice = os.environ.get(ALLOCATOR_VARIABLE, "keep")
    if choice not in ("keep", "default"):
        raise ValueError(f"{ALLOCATOR_VARIABLE} must be 'keep' or 'default', got {choice!r}")
    if choice == "default":
        return "default"
    if any(name.startswith("MALLOC_") for name in os.environ) or "glibc.malloc." in os.environ.get(
            "GLIBC_TUNABLES", "") or "malloc" in os.environ.get("LD_PRELOAD", ""):
        return "user"
    try:
        glibc = (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (AttributeError, ValueError, OSError):  # Windows has no confstr; musl does not know the name
        glibc = False
    if not glibc:
        return "not glibc"
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int  # both thresholds fit an int
    if not mallopt(_M_TRIM_THRESHOLD, KEEP_BYTES):
        return "refused"
    if mallopt(_M_MMAP_THRESHOLD, KEEP_BYTES):
        return "keep"
    return "keep 32 MiB" if mallopt(_M_MMAP_THRESHOLD, OLD_GLIBC_MMAP_MAX) else "refused"


def release_memory() -> bool:
    """Give the memory that is free inside the process back to the system (glibc's ``malloc_trim(0)``).

    With the thresholds ``choose_allocator`` sets, freed blocks under ``KEEP_BYTES`` stay in the process
    (what a training loop wants); a server that decoded a large upload, or a process whose training
    ended, calls this afterwards. It walks every arena (a few milliseconds for a heap of a gigabyte)
    and does nothing outside glibc.

    Returns:
        ``True`` when memory was given back, ``False`` when none was (or the C library is not glibc).
    """
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):  # not glibc (macOS, Windows, musl)
        return False
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return bool(trim(0))


def load_average() -> float | None:
    """The 1-minute load average (``None`` where the OS does not tell)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) that process ``pid`` has used so far (Linux's /proc; NaN elsewhere)."""
    try:
        from pathlib import Path

        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def _cpu_name() -> str:
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:  # Linux: the model name is more telling than "x86_64"
            return next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), name)
    except OSError:
        return name


def machine_info(device="cpu") -> dict:
    """Where a run happens: OS, CPU, Python, torch, threads, the allocator (``choose_allocator``) and the device
    (the GPU's name on CUDA)."""
    import torch

    device = torch.device(device)
    info = dict(platform=platform.platform(), cpu=_cpu_name(), cpu_count=os.cpu_count(),
                python=platform.python_version(), torch=torch.__version__, torch_threads=torch.get_num_threads(),
                omp_wait_policy=os.environ.get("OMP_WAIT_POLICY", "default"), allocator=_allocator,
                device=str(device))
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info
