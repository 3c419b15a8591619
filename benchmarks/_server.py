"""What the app benchmarks share: the app server in a process of its own, and what they read about it.

- ``app_server(models, cache_dir=None)``: ``python demos/app.py`` (the same as ``eqlab demo``) on a free
  127.0.0.1 port, its output discarded; yields ``(url, process)`` and stops the process afterwards.
- ``wait_for(url, limit_s)``: polls the server's ``config`` until it answers.
- ``free_port()``: a free TCP port on 127.0.0.1 (also for a server started in this process).
- ``status_mib(pid, field)``: a memory field of ``/proc/<pid>/status`` (``VmRSS``, ``VmHWM``) in MiB; Linux only.
- ``machine_line(when)``: the CPU, torch and the load average, as one ``# when: ...`` line.

Not here: the clients (``gradio_client``, or ``app_load``'s own queue protocol), what is measured and how it is
printed, and ``app_latency``'s launch timing (it watches the process it gets from ``app_server`` itself).
The scripts import this file by path (``sys.path`` gets ``benchmarks/``: ``eqlab bench`` runs a script with
``runpy``, which does not add the script's folder).
"""

import contextlib
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def app_server(models: str, cache_dir: str | Path | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """``python demos/app.py --models models --cache-dir cache_dir`` on a free port, as a teacher starts it.

    ``cache_dir=None``: a temporary folder, removed afterwards (the first view is computed, not read from disk).
    Yields ``(url, process)`` as soon as the process is started (``wait_for`` tells when it answers); on the way
    out the server is terminated, and killed if it has not stopped within 30 s.
    """
    with contextlib.ExitStack() as stack:
        if cache_dir is None:
            cache_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="eqlab-bench-cache-"))
        port = free_port()
        process = subprocess.Popen([sys.executable, str(ROOT / "demos" / "app.py"), "--port", str(port), "--models",
                                    models, "--cache-dir", str(cache_dir)], cwd=ROOT, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        try:
            yield f"http://127.0.0.1:{port}/", process
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()  # reaped before its cache folder goes


def wait_for(url: str, limit_s: float) -> bool:
    """Whether the server at ``url`` (ending in ``/``) answered ``GET config`` within ``limit_s`` seconds."""
    deadline = time.time() + limit_s
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url + "config", timeout=2):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def status_mib(pid: int, field: str) -> float:
    """The memory field ``field`` of process ``pid`` (``VmRSS``: resident now, ``VmHWM``: its peak) in MiB; NaN when
    the kernel does not list it. Read from Linux's ``/proc/<pid>/status`` (psutil would add a dependency for two
    numbers)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # listed in kB
    return float("nan")


def machine_line(when: str) -> str:
    """``# when: CPU x cores, torch version · load average L`` (imports torch)."""
    from eqlab.machine import load_average, machine_info

    info = machine_info()
    load = load_average()
    return (f"# {when}: {info['cpu']} x {info['cpu_count']}, torch {info['torch']} · load average "
            f"{load if load is None else round(load, 2)}")
