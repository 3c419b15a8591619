"""The machine a run happens on: what cards and benchmarks record, and how eqlab uses the CPU threads.

What is here:
    - ``machine_info(device)``: OS, CPU model, core count, Python, torch, threads, the GPU's name.
    - ``load_average()``: the 1-minute load (benchmarks print it next to every timing);
      ``process_cpu_s(pid)``: the CPU time another process has used (the app benchmarks).
    - ``choose_wait_policy()``, ``choose_threads()``: how eqlab uses the CPU threads, decided when
      ``eqlab`` is imported (see below).

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
What is not here: anything that trains or measures.
"""

from __future__ import annotations

import os
import platform
import sys

__all__ = ["machine_info", "load_average", "process_cpu_s", "choose_wait_policy", "choose_threads", "WAIT_POLICY"]

WAIT_POLICY = "PASSIVE"  # what eqlab asks of OpenMP unless OMP_WAIT_POLICY is already set
SMALL_MACHINE = 2  # cores: at most this many and torch already loaded -> one torch thread


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
    """Where a run happens: OS, CPU, Python, torch, threads and the device (the GPU's name on CUDA)."""
    import torch

    device = torch.device(device)
    info = dict(platform=platform.platform(), cpu=_cpu_name(), cpu_count=os.cpu_count(),
                python=platform.python_version(), torch=torch.__version__, torch_threads=torch.get_num_threads(),
                omp_wait_policy=os.environ.get("OMP_WAIT_POLICY", "default"), device=str(device))
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info
