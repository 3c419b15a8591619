"""eqlab.machine: the allocator setting chosen at ``import eqlab``, read back from glibc itself."""

import json
import os
import subprocess
import sys

import pytest

from eqlab import machine

GLIBC = sys.platform.startswith("linux") and (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")

# In a fresh process: import eqlab, then ask glibc where a 100 MiB block goes. With glibc's defaults
# it is mapped on its own (mallinfo's hblkhd grows: the dynamic mmap threshold stops at 32 MiB on
# 64-bit) and unmapped when freed; with eqlab's setting it comes from the heap and, freed, stays in
# it (the heap is not trimmed: the default trim threshold stops at 64 MiB).
PROBE = """
import ctypes, json
import eqlab
libc = ctypes.CDLL(None)
class Info(ctypes.Structure):
    names = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
    _fields_ = [(name, ctypes.c_size_t) for name in names.split()]
libc.mallinfo2.restype = Info
libc.malloc.restype, libc.malloc.argtypes, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_size_t], [ctypes.c_void_p]
size = 100 << 20
before = libc.mallinfo2()
block = libc.malloc(size)
during = libc.mallinfo2()
libc.free(block)
after = libc.mallinfo2()
print(json.dumps(dict(allocator=eqlab.ALLOCATOR, mapped=during.hblkhd - before.hblkhd >= size,
                      trimmed=after.arena < during.arena)))
"""


def probe(**env) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != machine.ALLOCATOR_VARIABLE}
    out = subprocess.run([sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not GLIBC, reason="the setting exists on glibc only")
def test_import_keeps_freed_memory():
    assert probe() == dict(allocator="keep", mapped=False, trimmed=False)


@pytest.mark.skipif(not GLIBC, reason="the setting exists on glibc only")
def test_opt_out_leaves_glibc_defaults():
    assert probe(EQLAB_ALLOCATOR="default") == dict(allocator="default", mapped=True, trimmed=False)


@pytest.mark.skipif(not GLIBC, reason="the setting exists on glibc only")
def test_user_malloc_variables_are_respected():
    assert probe(MALLOC_ARENA_MAX="4") == dict(allocator="user", mapped=True, trimmed=False)
    assert probe(MALLOC_MMAP_THRESHOLD_=str(1 << 20)) == dict(allocator="user", mapped=True, trimmed=False)


def test_exception(monkeypatch):
    monkeypatch.setenv(machine.ALLOCATOR_VARIABLE, "off")
    with pytest.raises(ValueError, match="'off'"):
        machine.choose_allocator()


class _OldGlibc:
    """A stand-in for the C library whose mallopt refuses mmap thresholds above 32 MiB, as older glibc do."""

    def __init__(self, name):
        self.mallopt = self  # a foreign function: callable, with argtypes and restype

    def __call__(self, param, value):
        return int(param != -3 or value <= machine.OLD_GLIBC_MMAP_MAX)


def test_old_glibc_gets_the_32_mib_threshold(monkeypatch):
    for name in [n for n in os.environ if n.startswith("MALLOC_")] + [machine.ALLOCATOR_VARIABLE, "LD_PRELOAD"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(machine, "_allocator", machine._allocator)  # restored after the test
    monkeypatch.setattr(machine.os, "confstr", lambda name: "glibc 2.17")
    monkeypatch.setattr(machine.ctypes, "CDLL", _OldGlibc)
    assert machine.choose_allocator() == "keep 32 MiB"
    assert machine.machine_info()["allocator"] == "keep 32 MiB"


def test_not_glibc_is_left_alone(monkeypatch):
    for name in [n for n in os.environ if n.startswith("MALLOC_")] + [machine.ALLOCATOR_VARIABLE, "LD_PRELOAD"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(machine, "_allocator", machine._allocator)

    def musl(name):
        raise ValueError("unrecognized configuration name")

    monkeypatch.setattr(machine.os, "confstr", musl)
    monkeypatch.setattr(machine.ctypes, "CDLL", None)  # would fail if it were called
    assert machine.choose_allocator() == "not glibc"


def test_machine_info_records_the_allocator():
    import eqlab

    assert machine.machine_info()["allocator"] == eqlab.ALLOCATOR


def test_release_memory_gives_back_what_a_large_freed_block_held():
    status = "/proc/self/status"
    if not os.path.exists(status) or not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
        pytest.skip("needs Linux and glibc")

    def rss_mb() -> float:
        with open(status) as lines:
            line = next(ln for ln in lines if ln.startswith("VmRSS:"))
        return int(line.split()[1]) / 1024

    import numpy as np

    block = np.ones(300 * 2**20 // 8)  # 300 MiB, under KEEP_BYTES: with eqlab's thresholds it stays when freed
    before = rss_mb()
    del block
    machine.release_memory()
    assert rss_mb() < before - 200
