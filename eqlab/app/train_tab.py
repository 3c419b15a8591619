"""The Train tab: a short, capped training run in a thread, with live records and a stop flag.

What is here: ``train_run`` (check the inputs against ``STEPS_MIN``/``STEPS_CAP`` and
``WEIGHT_MAX``, train one arm with the app's recipe, yield the step records while it runs, store the
result as the session's arm "yours") and ``stop_training`` (the per-session stop flags).

What is not here: the training loop (``eqlab.train.fit``), the recipe (``models.train_config``),
the live plots (``handlers.py``).
"""

import math
import queue
import threading
import time

from eqlab.app.models import for_inference, train_config
from eqlab.app.settings import CUDA, STEPS_CAP, STEPS_MIN, TASKS, WEIGHT_MAX, InputError
from eqlab.train import ARMS, Callback, fit

class _Live(Callback):
    """Every step's record into a queue for the page; a set stop flag ends the run."""

    def __init__(self, records: queue.Queue, stop: threading.Event):
        self.records, self.stop = records, stop

    def on_step(self, trainer, record):
        self.records.put(record)
        if self.stop.is_set():
            trainer.request_stop()


_STOP: dict[str, threading.Event] = {}  # session hash -> stop flag of that session's running training
_STOP_GUARD = threading.Lock()


def _check_train_inputs(task, arm, weight, steps, seed) -> tuple[str, str, float, int, int]:
    if task not in TASKS:
        raise InputError(f"task must be one of {TASKS}, got {task!r}")
    if arm not in ARMS:
        raise InputError(f"arm must be one of {ARMS}, got {arm!r}")
    try:
        weight = float(weight)
    except (TypeError, ValueError):
        raise InputError(f"the EQ-Reg weight must be a number, got {weight!r}") from None
    if not math.isfinite(weight) or not 0 <= weight <= WEIGHT_MAX:
        raise InputError(f"the EQ-Reg weight must be between 0 and {WEIGHT_MAX:g}, got {weight:g} "
                         "(with the scale-free norm, 1e-4 … 1e-2 is the interesting range)")
    try:
        steps_f = float(steps)
    except (TypeError, ValueError):
        raise InputError(f"steps must be a whole number, got {steps!r}") from None
    if not math.isfinite(steps_f) or steps_f != int(steps_f) or not STEPS_MIN <= steps_f <= STEPS_CAP:
        raise InputError(f"steps must be a whole number from {STEPS_MIN} to {STEPS_CAP} "
                         f"({'GPU' if CUDA else 'CPU'} cap), got {steps!r}")
    try:
        seed = int(float(seed or 0))
    except (TypeError, ValueError):
        raise InputError(f"seed must be a whole number, got {seed!r}") from None
    if not 0 <= seed < 2**31:
        raise InputError(f"seed must be between 0 and 2**31 - 1, got {seed}")
    return task, arm, weight, int(steps_f), seed


def train_run(task, arm, weight, steps, seed, session: dict | None = None, session_id: str = "local",
              every_s: float = 0.8, progress=None):
    """Train one arm in a thread; yield ``(history, status, session, done)`` while it runs.

    ``history`` is the list of step records of ``eqlab.train.fit`` so far. The last item has
    ``done=True`` and the trained model stored as ``session["mine"][task]``. Setting the
    session's stop flag (``stop_training``) ends the run at the next step.

    Raises:
        InputError: a value out of range (before anything starts).
    """
    session = session if session is not None else {}
    task, arm, weight, steps, seed = _check_train_inputs(task, arm, weight, steps, seed)
    config = train_config(task, arm, steps=steps, weight=weight, seed=seed,
                           val_every=max(steps // 5, 5), share_every=max(steps // 20, 2) if arm == "eqreg" else 0)
    stop = threading.Event()
    with _STOP_GUARD:
        if session_id in _STOP and not _STOP[session_id].is_set():
            raise InputError("a training of this session is already running; cancel it first")
        _STOP[session_id] = stop
    records: queue.Queue = queue.Queue()
    result: dict = {}

    def work():
        try:
            result["value"] = fit(config, progress=False, callbacks=[_Live(records, stop)])
        except Exception as err:  # noqa: BLE001 - reported to the user below
            result["error"] = err

    worker = threading.Thread(target=work, name=f"eqlab-train-{session_id[:8]}", daemon=True)
    device = "GPU (CUDA, bf16)" if CUDA else "CPU"
    history: list[dict] = []
    start = time.perf_counter()
    try:
        worker.start()
        yield history, f"Preparing: loading the training images and validating the untrained net on the {device}…", \
            session, False
        last = time.perf_counter()
        while worker.is_alive() or not records.empty():
            try:
                history.append(records.get(timeout=0.1))
            except queue.Empty:
                continue
            while not records.empty():
                history.append(records.get_nowait())
            if time.perf_counter() - last >= every_s:
                last = time.perf_counter()
                r = history[-1]
                if progress is not None:
                    progress(r["step"] / r["steps"], desc=f"step {r['step']}/{r['steps']}")
                yield history, (f"Training **{task} · {arm}** on the {device}: step {r['step']}/{r['steps']}, "
                                f"task loss {r['task_loss']:.2e}, {time.perf_counter() - start:.0f} s"), session, False
    finally:
        stop.set()  # also when the generator is closed early (Cancel): fit stops at its next step
        with _STOP_GUARD:
            if _STOP.get(session_id) is stop:
                del _STOP[session_id]
    worker.join()
    if "error" in result:
        err = result["error"]
        raise InputError(f"training failed: {type(err).__name__}: {err}")
    trained = result["value"]
    model = for_inference(trained.model.cpu())
    label = f"{arm}{f', λ = {weight:g}' if arm == 'eqreg' else ''}, {trained.step} steps, seed {seed}"
    session.setdefault("mine", {})[task] = dict(model=model, label=label, arm=arm)
    m = trained.metrics
    status = (f"Done in {trained.wall_time_s:.0f} s: **{label}** · validation PSNR "
              f"{m.get('psnr', float('nan')):.2f} dB "
              f"(input {m.get('baseline_psnr', float('nan')):.2f} dB) · mean layer error "
              f"{m.get('layer_error', float('nan')):.3f} · output error {m.get('output_error', float('nan')):.3f}. "
              f"It is now the arm **yours** in Explore and Restore & compare ({task}).")
    yield trained.history, status, session, True


def stop_training(session_id: str) -> bool:
    """Set the stop flag of the session's running training; ``False`` when none runs."""
    with _STOP_GUARD:
        flag = _STOP.get(session_id)
    if flag is None:
        return False
    flag.set()
    return True
