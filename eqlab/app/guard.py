"""What keeps the app offline, its files private and its folders cleaned, whoever uses it and however it ends.

What is here:

- ``OFFLINE`` and ``offline_environment()``: Gradio's analytics and version check and the Hugging Face
  hub's telemetry off (environment variables, set at ``import eqlab.app`` unless the user set them:
  ``GRADIO_ANALYTICS_ENABLED=True`` switches Gradio's back on). The app then makes no outbound lookup
  (``tests/test_app.py`` traces every ``getaddrinfo`` and ``connect`` of a launch and a request).
- ``local_file(**kwargs)``: the upload component, a ``gr.File`` that never makes the server fetch a
  client-given URL (Gradio would download ``{"path": "http://..."}`` itself): an upload is a file sent by
  the browser, nothing else.
- ``private_upload_folder()``: this server's own Gradio upload folder, named with its process id (as the
  ``App``'s work folder); ``remove_stale()`` removes those of servers that are gone (killed, even by SIGKILL);
  ``remove_old()`` removes the files of a folder older than an age (unused uploads are never touched by
  Gradio again); ``exit_on_signals()`` turns SIGTERM and SIGHUP into a normal exit, so that every
  ``finally`` and ``weakref.finalize`` runs and the folders go.

What is not here: who may cancel which training (``training.Trainings``: by a token only the page that
started it holds), the page (``ui.py``), the launch (``launch.py``).
"""

import functools
import os
import shutil
import signal
import sys
import tempfile
import time
from abc import ABCMeta
from pathlib import Path

OFFLINE = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1"}
PREFIX = "eqlab-app-"  # this server's folders: eqlab-app-<pid>-<what>-<random>
UPLOAD_AGE_S = 3600.0  # an upload (or a served picture) older than this is removed while the server runs
SWEEP_EVERY_S = 300.0


def offline_environment() -> dict[str, str]:
    """Set ``OFFLINE``'s variables where the user has not; returns the ones set now."""
    chosen = {name: value for name, value in OFFLINE.items() if name not in os.environ}
    os.environ.update(chosen)
    return chosen


def _refuse_urls(path) -> None:
    from gradio_client.utils import is_http_url_like

    if path is not None and is_http_url_like(str(path)):
        import gradio as gr

        raise gr.Error("the app reads files sent by your browser; it does not fetch URLs", title="Cannot do that")


def local_file(**kwargs):
    """A ``gr.File`` (same page, same API) whose server never downloads a client-given URL."""
    return _local_file_class()(**kwargs)


@functools.cache
def _local_file_class() -> type:
    """``gr.File`` with the two methods through which Gradio fetches a URL refusing URLs.

    Made with ``ABCMeta.__new__``: Gradio's component metaclass would also write a ``.pyi`` stub beside
    this file, and this subclass defines neither ``__init__`` nor events, the rest of what it handles.
    """
    import gradio as gr

    def move_resource_to_block_cache(self, url_or_file_path):
        _refuse_urls(url_or_file_path)
        return gr.File.move_resource_to_block_cache(self, url_or_file_path)

    async def async_move_resource_to_block_cache(self, url_or_file_path):
        _refuse_urls(url_or_file_path)
        return await gr.File.async_move_resource_to_block_cache(self, url_or_file_path)

    attrs = dict(is_template=True,  # the page shows a gr.File (Block.get_block_name)
                 move_resource_to_block_cache=move_resource_to_block_cache,
                 async_move_resource_to_block_cache=async_move_resource_to_block_cache,
                 __module__=__name__, __qualname__="LocalFile", __doc__="A gr.File that never fetches a URL.")
    return ABCMeta.__new__(type(gr.File), "LocalFile", (gr.File,), attrs)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process: alive
    return True


def remove_stale(root: str | os.PathLike | None = None) -> list[Path]:
    """Remove the folders (``PREFIX<pid>-...``) of eqlab servers whose process is gone; return them."""
    removed = []
    for folder in Path(root or tempfile.gettempdir()).glob(f"{PREFIX}*"):
        pid = folder.name[len(PREFIX):].split("-", 1)[0]
        if folder.is_dir() and pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def private_upload_folder() -> Path:
    """This server's own folder for Gradio's uploads and served files (``GRADIO_TEMP_DIR``, unless the user set
    it), ``PREFIX<pid>-uploads-...``; removes the folders of servers that are gone first. Call before the page
    is built."""
    remove_stale()
    folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-uploads-"))
    os.environ.setdefault("GRADIO_TEMP_DIR", str(folder))
    return folder


def remove_old(folder: str | os.PathLike, max_age_s: float = UPLOAD_AGE_S) -> int:
    """Remove the files under ``folder`` last changed more than ``max_age_s`` ago, and the folders they
    leave empty; returns how many files went."""
    count, now = 0, time.time()
    for path in sorted(Path(folder).rglob("*"), key=lambda p: len(p.parts), reverse=True):
        try:
            if path.is_file() and now - path.stat().st_mtime > max_age_s:
                path.unlink()
                count += 1
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
        except OSError:
            continue  # in use, or gone meanwhile
    return count


def exit_on_signals() -> None:
    """SIGTERM and SIGHUP end the program as Ctrl-C does (``SystemExit`` in the main thread), so that its
    clean-up runs; SIGKILL cannot be caught: ``remove_stale`` removes what such a server left at the next start."""
    def leave(signum, frame):
        sys.exit(128 + signum)

    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), leave)
