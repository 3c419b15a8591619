"""Atomic file writes: a crash or a second process never sees a half-written file.

The file is written under a temporary name in the same folder, then moved onto its name with
``os.replace`` (atomic on POSIX and on Windows when both names live on the same volume). Checkpoints,
training histories and the records of a grid's finished runs are written this way.

Every file written this way gets the permissions of a file ``open(path, "w")`` creates (``0o666`` less the
umask: ``-rw-r--r--`` under the usual umask 022), whatever the writer used: safetensors creates its files
``0o600``, which left a run's checkpoint unreadable to the group beside its ``0o644`` history.

What is here: ``atomic_path`` (for writers that take a path: safetensors, csv), ``write_text`` and
``remove_leftovers`` (the temporary files of killed writers, removed by the next write).
What is not here: what is written (``eqlab.checkpoint``, ``eqlab.train.callbacks``, ``eqlab.experiments``).
"""

from __future__ import annotations

import glob
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "write_text", "remove_leftovers", "STALE_S", "FILE_MODE"]

STALE_S = 3600.0  # a temporary file of an atomic write untouched this long belongs to no live writer


def _mode_of_new_files() -> int:
    """``0o666`` less the process's umask (read once, at import: ``os.umask`` can only be read by setting it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


FILE_MODE = _mode_of_new_files()  # the permissions of every file written through atomic_path


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path next to ``path``, moved onto ``path`` when the block ends without an error.

    The folder is created if needed. On an error the temporary file is removed and ``path`` keeps
    what it held before. The temporary name is unique per call, so processes writing the same
    folder (a grid's workers) never share one; it holds the writer's process id, so that the
    temporary files a killed writer left beside ``path`` are removed by the next write
    (:func:`remove_leftovers`).

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "record.json"
        >>> with atomic_path(target) as tmp:
        ...     _ = tmp.write_text("{}")
        >>> target.read_text()
        '{}'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        yield tmp
        if tmp.exists():
            os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # it exists (another user's), or this OS cannot tell: keep its file
    return True


def remove_leftovers(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files of earlier writes of ``path`` whose writer is gone; return them.

    A writer killed mid-write (SIGKILL, a power cut) leaves its full-size temporary file. One is removed
    when its process no longer runs on this machine, or when it is older than ``STALE_S`` (a writer
    on another machine of a shared folder, or a name without a process id). A live writer's file stays.
    """
    path = Path(path)
    removed = []
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        parts = tmp.name[len(path.name) + 2:-len(".tmp")].split(".")
        pid = int(parts[0]) if len(parts) == 2 and parts[0].isdigit() else None
        try:
            stale = time.time() - tmp.stat().st_mtime > STALE_S
        except OSError:
            continue  # gone meanwhile
        if stale or (pid is not None and pid != os.getpid() and not _alive(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`); return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)
