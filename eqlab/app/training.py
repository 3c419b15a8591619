"""The Train tab: a short, capped run in its own process, live records, stop flags and the runs of a session.

What is here: ``DEFAULT_SHARE`` (the kit's default target share, the tab's too),
``check_train_inputs`` (every value against the caps, before anything starts),
``train_config`` (the zoo's recipe with the tab's changes: steps, group, λ or a target gradient
share, fine-tuning from a zoo net, gray or colour images), ``Trainings`` (starts ``eqlab.app.worker``
processes at a lower priority and keeps one stop flag per browser session), ``train_run`` (a generator: the records
while the run goes, then the trained model as the session's arm "yours" and the run kept for the
overlays) and ``against_start`` (the status's change against the starting net).

What is not here: the loop (``eqlab.train.fit``, run by ``worker.py``), the charts (``charts.py``).
"""

import json
import math
import os
import queue
import secrets
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from eqlab import zoo
from eqlab.app.bank import Loaded, for_inference
from eqlab.app.settings import (
    EXTRA_NET,
    SHARE_RANGE,
    STEPS_MIN,
    TASKS,
    TRAIN_COLORS,
    TRAIN_GROUPS,
    WEIGHT_MAX,
    InputError,
)
from eqlab.arms import ARM_NAMES, ARMS
from eqlab.groups import get_group
from eqlab.machine import release_memory
from eqlab.metrics import words
from eqlab.train import TrainConfig

SCRATCH = "scratch"  # the "start from" choice without a zoo net
EQUIVARIANT = "scratch, equivariant"  # random convs projected onto the C4-equivariant ones (weight_init)
NICE = 5  # the training process's priority below the server's (0): requests first
MAX_RUNS = 8  # runs kept per session for the overlays
DEFAULT_SHARE = TrainConfig().target_share  # the kit's default target share (TrainConfig, the CLI, README): 0.1


def start_choices(arm: str) -> list[str]:
    """What a run of ``arm`` can start from: scratch (a plain net also from an equivariant start), or a zoo net
    of the same architecture."""
    strict = ARMS.get(arm, ARMS["plain"]).strict
    return [SCRATCH] + [EQUIVARIANT] * (not strict) + [f"zoo {a}" for a in ARM_NAMES if ARMS[a].strict == strict]


def _number(value, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise InputError(f"{what} must be a finite number, got {value!r}")
    return number


def check_train_inputs(task, arm, start, group, mode, weight, share, steps, seed, cap: int, net=None,
                       color: str = "gray") -> dict:
    """The Train tab's values, checked against the caps; raises ``InputError`` with a readable message.

    ``color``: ``"gray"`` or ``"rgb"`` (``TrainConfig.color``); a colour net starts from scratch (the zoo is gray).
    """
    color = color or "gray"
    if color not in TRAIN_COLORS:
        raise InputError(f"colour must be one of {TRAIN_COLORS}, got {color!r}")
    if task not in TASKS:
        raise InputError(f"task must be one of {list(TASKS)}, got {task!r}")
    if arm not in ARMS:
        raise InputError(f"arm must be one of {list(ARM_NAMES)}, got {arm!r}")
    if group not in TRAIN_GROUPS:
        raise InputError(f"group must be one of {TRAIN_GROUPS}, got {group!r}")
    start = start or SCRATCH
    if start not in start_choices(arm):
        raise InputError(f"a {arm} run starts from one of {start_choices(arm)}, got {start!r} (a zoo net must have "
                         "the same architecture: the strict arm's group CNN starts only from the zoo's strict net)")
    if color == "rgb" and start.startswith("zoo"):
        raise InputError(f"the zoo's nets are gray: an rgb run starts from scratch, not from {start!r}")
    if net == EXTRA_NET and start != SCRATCH:
        raise InputError(f"{EXTRA_NET} starts from scratch only: it has no zoo net, and its attention layers have no "
                         "equivariant start")
    if start == EQUIVARIANT and not get_group(group).exact:
        raise InputError(f"an equivariant start needs a group that acts exactly on the pixel grid (C2, C4, D4), "
                         f"got {group}: start {group} from scratch")
    steps_f = _number(steps, "steps")
    if steps_f != int(steps_f) or not STEPS_MIN <= steps_f <= cap:
        raise InputError(f"steps must be a whole number from {STEPS_MIN} (minimum) to {cap} (maximum on this "
                         f"device), got {steps!r}")
    seed_f = _number(seed or 0, "the seed")
    if seed_f != int(seed_f) or not 0 <= seed_f < 2**31:
        raise InputError(f"the seed must be a whole number from 0 to 2**31 - 1, got {seed!r}")
    weight = _number(weight, "the EQ-Reg weight λ")
    if not 0 <= weight <= WEIGHT_MAX:
        raise InputError(f"the EQ-Reg weight λ must be between 0 and {WEIGHT_MAX:g}, got {weight:g} "
                         "(with the scale-free norm, 1e-4 … 1e-2 is the interesting range)")
    target = None
    penalized = ARMS[arm].penalized
    if penalized and mode == "target share":
        target = _number(share, "the target gradient share")
        low, high = SHARE_RANGE
        if not low <= target <= high:
            raise InputError(f"the target gradient share must be between {low:g} and {high:g}, got {target:g}")
        if weight <= 0:
            raise InputError("with a target share, λ is the starting weight and must be above 0")
    return dict(task=task, arm=arm, start=start, group=group, weight=weight if penalized else 0.0,
                target_share=target, steps=int(steps_f), seed=int(seed_f), net=net if net == EXTRA_NET else None,
                color=color)


def train_config(values: dict):
    """The ``TrainConfig`` of checked values: the zoo's recipe (net size, patches, learning rate) with the
    tab's changes; every step logged, about six validations on 48 px crops."""
    steps = values["steps"]
    changes = dict(steps=steps, group=values["group"], weight=values["weight"], target_share=values["target_share"],
                   log_every=1, val_every=max(steps // 6, 5), val_size=48, device="auto",
                   share_every=max(steps // 40, 2) if values["arm"] == "eqreg" else 0,
                   color=values.get("color", "gray"))
    changes["weight_init"] = "equivariant" if values["start"] == EQUIVARIANT else "kaiming"  # not the zoo recipe's
    if values["start"] not in (SCRATCH, EQUIVARIANT):
        changes["init"] = zoo.checkpoint_file(f"{values['task']}/{values['start'].split()[-1]}")  # the zoo net's file
    if values["net"]:
        changes["model"] = values["net"]
    try:
        return zoo.recipe(values["task"], values["arm"], values["seed"], **changes)
    except (TypeError, ValueError) as err:
        raise InputError(f"this run cannot be set up: {err}") from None


def run_label(values: dict, number: int) -> str:
    """A short name for a run on the charts, e.g. ``"#2 eqreg share 0.3 from zoo augment"``."""
    parts = [f"#{number} {values['net'] or ''} {values['arm']}".replace("  ", " ")]
    if values["arm"] == "eqreg":
        parts.append(f"share {values['target_share']:g}" if values["target_share"] else f"λ {values['weight']:g}")
    if values["start"] != SCRATCH:
        parts.append(f"from {values['start']}")
    if values["group"] != "C4":
        parts.append(values["group"])
    if values.get("color", "gray") != "gray":
        parts.append(values["color"])
    return " ".join(parts)


def against_start(history: list[dict], metrics: dict) -> str:
    """The validation PSNR and layer error at the end against the starting net's (the step-0 validation), with the
    words of ``eqlab.metrics.words``: learned / stalled / collapsed against the degraded input, and, for a start
    that already restored (a zoo net), whether the run traded PSNR for layer error or only lost PSNR."""
    start = next((r for r in history if "val_psnr" in r), {})
    psnr, base = metrics.get("psnr", float("nan")), metrics.get("baseline_psnr", float("nan"))
    error = metrics.get("layer_error", float("nan"))
    before = start.get("val_psnr")
    text = f"validation PSNR **{psnr:.2f} dB**"
    if before is not None:
        text += f" ({psnr - before:+.2f} dB against the starting net's {before:.2f} dB"
    else:
        text += " ("
    text += f"; degraded input {base:.2f} dB) · mean layer error **{error:.3f}**"
    start_error = start.get("val_layer_error")
    if isinstance(start_error, (int, float)):
        text += f" (start {start_error:.3f})"
    text += f" · {words.run_words(psnr, base, before=before, input_name='the degraded input')}"
    if isinstance(start_error, (int, float)) and before is not None and words.run_outcome(before, base) == "learned":
        text += " · against the starting net: " + words.trade_words(psnr, error, before, start_error, base,
                                                                   "the starting net", "the degraded input")
    return text


class Run:
    """One training process (``python -m eqlab.app.worker``) and the messages it sends."""

    def __init__(self, config, folder: Path, cuda: bool):
        self.out = folder / f"run-{uuid.uuid4().hex[:12]}.safetensors"
        self.token = secrets.token_urlsafe(16)  # who holds it may stop the run (Trainings.stop)
        self.messages: queue.Queue = queue.Queue()
        root = str(Path(__file__).resolve().parents[2])  # the folder holding the eqlab package
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
        self.log = open(folder / f"{self.out.stem}.log", "w")  # noqa: SIM115 - closed in _read
        self.process = subprocess.Popen([sys.executable, "-m", "eqlab.app.worker"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self.log, text=True, env=env)
        threads = 1 if cuda else max(1, min(4, (os.cpu_count() or 1) - 1))
        self._write(json.dumps(dict(config=config.to_dict(), out=str(self.out), threads=threads, nice=NICE)))
        threading.Thread(target=self._read, daemon=True, name="eqlab-train-reader").start()

    def _write(self, line: str) -> None:
        try:
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass  # the process has ended

    def _read(self) -> None:
        for line in self.process.stdout:
            try:
                self.messages.put(json.loads(line))
            except json.JSONDecodeError:
                continue
        code = self.process.wait()
        self.log.close()
        if code:
            tail = Path(self.log.name).read_text()[-600:].strip()
            self.messages.put(dict(kind="error", message=f"the training process ended with code {code}: {tail}"))
        self.messages.put(dict(kind="exit"))

    def stop(self) -> None:
        """Ask the run to end after its current step (it still validates and saves)."""
        self._write("stop")

    def alive(self) -> bool:
        return self.process.poll() is None


class Trainings:
    """The running trainings, one per browser session at most, and their stop flags.

    Who may stop a run: whoever holds its ``token``, a random string made here and sent only to the page
    that started the run (``train_run`` keeps it in the session as ``"train_token"``; the page sends it back
    with Cancel). Gradio's ``session_hash`` is chosen by the client, so a client that knows another's could
    stop that client's run if the hash were the key.
    """

    def __init__(self, folder: Path):
        self.folder = folder
        self._runs: dict[str, Run] = {}  # session id -> its run (one at a time per session)
        self._guard = threading.Lock()

    def start(self, session_id: str, config, cuda: bool) -> Run:
        with self._guard:
            running = self._runs.get(session_id)
            if running is not None and running.alive():
                raise InputError("a training of this session is already running; cancel it first")
            run = self._runs[session_id] = Run(config, self.folder, cuda)
        return run

    def finished(self, session_id: str, run: Run) -> None:
        with self._guard:
            if self._runs.get(session_id) is run:
                del self._runs[session_id]

    def stop(self, token: str) -> bool:
        """Stop the running training whose token is ``token``; ``False`` when none is (a wrong or stale token)."""
        with self._guard:
            run = next((r for r in self._runs.values() if token and secrets.compare_digest(r.token, str(token))),
                       None)
        if run is None or not run.alive():
            return False
        run.stop()
        return True

    def running(self) -> int:
        with self._guard:
            return sum(run.alive() for run in self._runs.values())

    def stop_all(self) -> None:
        with self._guard:
            runs = list(self._runs.values())
        for run in runs:
            run.stop()
            try:
                run.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                run.process.kill()


def train_run(app, values: dict, session: dict, session_id: str = "local", every_s: float = 0.8):
    """Train in a worker process; yield ``(runs, status, session, done)`` while it goes.

    ``runs`` is the session's list of ``{"label", "history"}`` (the one running last). The last item
    has ``done=True`` and the trained model stored as the session's arm "yours" of its task.

    Raises:
        InputError: the run could not be set up or failed (before or while training).
    """
    config = train_config(values)
    runs = session.setdefault("runs", [])
    number = session.get("run_count", 0) + 1
    session["run_count"] = number
    current = dict(label=run_label(values, number), history=[], task=values["task"], steps=config.steps, number=number)
    runs.append(current)
    del runs[:-MAX_RUNS]
    device = "GPU" if app.cuda else "CPU"
    run = app.trainings.start(session_id, config, app.cuda)
    session["train_token"] = run.token  # the page gets it with every update: Cancel sends it back
    start, last, done, error = time.perf_counter(), 0.0, None, None
    try:
        yield runs, f"Starting **{current['label']}**: a training process on the {device} loads the data and " \
                    "validates the starting net…", session, False
        while True:
            message = run.messages.get()
            if message["kind"] == "record":
                current["history"].append(message["record"])
            elif message["kind"] == "done":
                done = message
                if message["record"]["step"] != (current["history"] or [{}])[-1].get("step"):
                    current["history"].append(message["record"])
                elif "val_psnr" in message["record"]:
                    current["history"][-1] = message["record"]
            elif message["kind"] == "error":
                error = message["message"]
            elif message["kind"] == "exit":
                break
            if current["history"] and time.perf_counter() - last >= every_s and run.messages.empty():
                last = time.perf_counter()
                r = current["history"][-1]
                loss = f", task loss {r['task_loss']:.2e}" if r.get("task_loss") is not None else ""
                yield runs, (f"Training **{current['label']}** on the {device}: step {r['step']}/{config.steps}"
                             f"{loss}, {time.perf_counter() - start:.0f} s"), session, False
    finally:
        run.stop()  # also when the page goes away (the generator is closed): the process ends at its next step
        app.trainings.finished(session_id, run)
    if error or done is None:
        raise InputError(f"training failed: {error or 'the training process ended without a result'}")
    from eqlab.checkpoint import load_checkpoint

    model = for_inference(load_checkpoint(run.out)[0])
    run.out.unlink(missing_ok=True)
    label = f"{current['label']} · {done['step']} steps"
    rotated = ARMS[values["arm"]].paired or ARMS[values["arm"]].strict
    loaded = Loaded(model, "yours", f"yours ({label})", ("yours", run.out.stem), values["group"] if rotated else None,
                    config.norm if ARMS[values["arm"]].penalized else None)
    session.setdefault("mine", {})[values["task"]] = dict(loaded=loaded, label=label)
    m = done["metrics"]
    why = "the penalty collapsed the net" if done.get("collapse") else "Cancel"
    stopped = f"stopped at step {done['step']} ({why}) · " if done["stopped"] else ""
    status = (f"Done in {done['wall_time_s']:.0f} s: **{label}** · {stopped}{against_start(current['history'], m)} · "
              f"output error {m.get('output_error', float('nan')):.3f}. It is now the arm **yours** in Explore and "
              f"Restore & compare ({values['task']}).")
    if done["stalled"] and not done.get("collapse"):
        status += (" ⚠️ The net did not beat its degraded input (a stalled run): try a smaller λ or share, "
                   "or another seed.")
    for note in done.get("warnings", []):  # the penalty's collapse (the run was stopped), a capped weight
        status += f" ⚠️ {note}"
    release_memory()  # the loaded result's and the charts' freed buffers back to the system
    yield runs, status, session, True
