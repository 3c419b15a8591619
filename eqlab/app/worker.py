"""The Train tab's training process: ``python -m eqlab.app.worker``, one run, JSON lines in and out.

Why a process: a training on the server's own Python would share its interpreter lock and its cores
with every student's request; in a process of its own, at a lower priority (``nice``), it takes only
what the requests leave.

Protocol: the parent writes one JSON line ``{"config": TrainConfig.to_dict(), "out": path,
"threads": n, "nice": k}``, then may write ``stop`` (or close stdin) to end the run at its next
step. The worker writes JSON lines: ``{"kind": "record", "record": {...}}`` for the step-0 record
and every logged step (``eqlab.train`` records: floats only), then ``{"kind": "done", ...}`` with
the last record (including the final validation), the metrics, the steps taken, whether the run
was stopped or stalled, why the penalty collapsed it (``collapse``) and the run's ``warnings``, after
saving the model to ``out`` (``eqlab.checkpoint``); or
``{"kind": "error", "message": ...}``.

What is not here: the parent side (``training.py``), the loop (``eqlab.train.fit``).
"""

import contextlib
import json
import math
import os
import sys
import threading


def _clean(record: dict) -> dict:
    """A record with JSON-safe values (NaN stays NaN; non-numbers become strings)."""
    out = {}
    for k, v in record.items():
        if isinstance(v, bool) or v is None or isinstance(v, (int, str)):
            out[k] = v
        elif isinstance(v, float):
            out[k] = v if math.isfinite(v) or math.isnan(v) else None
        else:
            try:
                out[k] = float(v)
            except (TypeError, ValueError):
                out[k] = str(v)
    return out


def main() -> int:
    job = json.loads(sys.stdin.readline())
    with contextlib.suppress(AttributeError, OSError):  # no nice() on this OS, or not allowed
        os.nice(int(job.get("nice", 5)))
    import torch

    torch.set_num_threads(int(job.get("threads", 1)))
    from eqlab.checkpoint import save_checkpoint
    from eqlab.train import Callback, TrainConfig, fit

    stop = threading.Event()
    lock = threading.Lock()

    def send(kind: str, **payload) -> None:
        with lock:
            sys.stdout.write(json.dumps(dict(kind=kind, **payload)) + "\n")
            sys.stdout.flush()

    def listen() -> None:
        for line in sys.stdin:
            if line.strip() == "stop":
                stop.set()
        stop.set()  # the parent closed the pipe (it is gone): stop as well

    class Live(Callback):
        def on_start(self, trainer, record):
            if record is not None:
                send("record", record=_clean(dict(record, steps=trainer.config.optim.steps)))

        def on_step(self, trainer, record):
            if "task_loss" in record:
                send("record", record=_clean(record))
            if stop.is_set():
                trainer.request_stop()

    threading.Thread(target=listen, daemon=True).start()
    try:
        config = TrainConfig.from_dict(job["config"])
        result = fit(config, callbacks=[Live()], progress=False)
        save_checkpoint(job["out"], result.model.cpu(), config.to_dict())
    except Exception as err:  # noqa: BLE001 - every failure goes back to the page as a message
        send("error", message=f"{type(err).__name__}: {err}")
        return 1
    last = dict(result.history[-1]) if result.history else dict(step=result.step)
    if "val_psnr" not in last and result.metrics:  # a stopped run: its final validation is only in metrics
        last.update({f"val_{k}": result.metrics[k] for k in ("psnr", "ssim", "baseline_psnr", "layer_error",
                                                             "output_error") if k in result.metrics})
    send("done", record=_clean(last), metrics=_clean(result.metrics), step=result.step, stopped=result.stopped,
         stalled=result.stalled, collapse=result.collapse, warnings=result.warnings, wall_time_s=result.wall_time_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
