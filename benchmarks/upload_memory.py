"""Server memory under four concurrent 36-MP 16-bit RGBA PNG uploads, and whether it answers meanwhile.

    python benchmarks/upload_memory.py [--side 6000] [--uploads 4] [--models random]

The server is ``python demos/app.py`` (the same as ``eqlab demo``) in a process of its own on 127.0.0.1
(untrained nets by default: nothing to load); its resident memory is read from ``/proc/<pid>/status`` every
20 ms. The upload is a smooth 16-bit RGBA PNG of ``side``² pixels (6000² = 36 MP, under the app's 40-MP cap;
a few hundred kB, written here by hand: Pillow writes no 16-bit colour PNG). ``--uploads`` clients send it
at once to ``/explore_panel`` while another client asks the Learn tab for a picture every half second (does the
server answer throughout?).

Prints the server's resident memory when idle, its peak during the uploads (sampled, and the kernel's
high-water mark ``VmHWM``, which includes the start-up), right after and 3 s after, and the latency of
the uploads and of the pings. Goal (issue "nothing silently wrong, nothing lost, memory bounded"): peak
<= 2 GB, back under 1 GB after, every ping answered. Linux only (``/proc``). Asserts nothing.
"""

import argparse
import struct
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run by path or by `eqlab bench` (runpy): _server beside
from _server import app_server, status_mib, wait_for  # noqa: E402

EXPLORE = dict(task="denoise", arm="eqreg", sample="camera", group="C4", element=1, layer="head", channel=0)


def write_png16_rgba(path: Path, side: int) -> None:
    """A ``side`` x ``side`` 16-bit RGBA PNG: a horizontal ramp, every row the same (filter "Up": zeros)."""
    ramp = (65535 * (0.5 + 0.5 * np.sin(np.arange(side) / 97))).astype(">u2")
    pixel = np.stack([ramp, ramp[::-1], ramp // 2, np.full_like(ramp, 65535)], 1)
    first = b"\0" + pixel.tobytes()
    same = b"\2" + bytes(len(first) - 1)  # filter 2 (Up), difference 0
    compressor = zlib.compressobj(9)
    data = compressor.compress(first) + b"".join(compressor.compress(same) for _ in range(side - 1))
    data += compressor.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", side, side, 16, 6, 0, 0, 0)  # 16 bits, colour type 6 (RGBA)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=6000, help="the upload's side in pixels (default 6000: 36 MP)")
    parser.add_argument("--uploads", type=int, default=4, help="concurrent uploads (default 4)")
    parser.add_argument("--models", default="random", help="the server's --models (default random: nothing to load)")
    args = parser.parse_args()
    from gradio_client import Client, handle_file

    work = Path(tempfile.mkdtemp(prefix="eqlab-upload-memory-"))
    png = work / "big16.png"
    write_png16_rgba(png, args.side)
    with app_server(args.models) as (url, server):
        if not wait_for(url, 180):
            print("the server did not answer within 180 s")
            return
        clients = [Client(url, verbose=False) for _ in range(args.uploads + 1)]
        clients[0].predict(**EXPLORE, upload=None, api_name="/explore_panel")  # the first view, models loaded
        time.sleep(2.0)
        idle = status_mib(server.pid, "VmRSS")
        samples, done = [], threading.Event()

        def sample() -> None:
            while not done.is_set():
                samples.append(status_mib(server.pid, "VmRSS"))
                time.sleep(0.02)

        pings = []

        def ping() -> None:
            while not done.is_set():
                t0 = time.perf_counter()
                try:
                    clients[-1].predict(45, "camera", api_name="/learn_rotate")
                    pings.append(time.perf_counter() - t0)
                except Exception as err:  # noqa: BLE001 - a failed ping is what this counts
                    pings.append(f"{type(err).__name__}")
                time.sleep(0.5)

        watchers = [threading.Thread(target=sample, daemon=True), threading.Thread(target=ping, daemon=True)]
        for thread in watchers:
            thread.start()
        t0 = time.perf_counter()
        jobs = [c.submit(**EXPLORE, upload=handle_file(str(png)), api_name="/explore_panel")
                for c in clients[:args.uploads]]
        statuses = [job.result(timeout=600)[2] for job in jobs]
        upload_s = time.perf_counter() - t0
        after = status_mib(server.pid, "VmRSS")
        time.sleep(3.0)
        done.set()
        for thread in watchers:
            thread.join(timeout=10)
        later = status_mib(server.pid, "VmRSS")
        failed = [p for p in pings if isinstance(p, str)]
        times = sorted(p for p in pings if not isinstance(p, str))
        print(f"# {args.uploads} concurrent uploads of a {args.side}x{args.side} 16-bit RGBA PNG "
              f"({png.stat().st_size / 1e3:.0f} kB) to /explore_panel, server --models {args.models}")
        print(f"server RSS: idle {idle:.0f} MB, peak {max(samples):.0f} MB (sampled every 20 ms; VmHWM "
              f"{status_mib(server.pid, 'VmHWM'):.0f} MB), right after {after:.0f} MB, 3 s after {later:.0f} MB")
        used = sum("downscaled from" in s for s in statuses)
        print(f"uploads answered in {upload_s:.1f} s; {used} of {len(statuses)} used (downscaled from the upload)")
        median, worst = (times[len(times) // 2], times[-1]) if times else (float("nan"), float("nan"))
        print(f"pings during the uploads: {len(times)} answered (median {median:.2f} s, worst {worst:.2f} s), "
              f"{len(failed)} failed")


if __name__ == "__main__":
    main()
