"""A classroom on loopback: many clients of the default Explore and Restore views while one training runs.

    python benchmarks/app_load.py [--clients 30] [--rounds 2] [--models auto] [--train-steps 300]

The server is ``python demos/app.py`` in a process of its own (as a teacher would start it); every
client is a ``Student`` in a thread of this process: its own browser session speaking Gradio's queue
protocol as a browser page does (join the queue, read the event stream, then GET the images the
answer names), light enough that 30 of them leave the two cores to the server (``gradio_client``
costs the load generator several times the server's CPU). Once the
server answers, one client starts a training (fine-tuning the zoo's augment net with EQ-Reg, in the
app's training process), then all clients start together and each makes ``--rounds`` x (the default
Explore view, the default Restore & compare view). Everything is bounded: each call has a timeout,
the run a deadline, and the server is stopped at the end.

Prints the machine and the load average before and after, the latency of each call kind (median,
90th percentile, worst), how many calls were answered, whether the server still answers afterwards,
and how far the training got meanwhile. Goal (the performance issue): every call answered, the
server alive, median Explore <= 2 s with 30 clients and a training on a 2-core machine. Asserts
nothing.
"""

import argparse
import json
import statistics
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

from eqlab.machine import process_cpu_s  # (imports torch in this process; the server is another)

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run by path or by `eqlab bench` (runpy): _server beside
from _server import app_server, machine_line, wait_for  # noqa: E402

EXPLORE = ("denoise", "eqreg", "camera", None, "C4", 1, "body.0.conv", 0)
RESTORE = ("denoise", 25, "camera", None, "90°", "eqreg")
TRAIN = ("denoise", "eqreg", "zoo augment", "C4", "target share", 1e-3, 0.3)


class Student:
    """One browser session: calls an endpoint through the queue and fetches the files of the answer."""

    def __init__(self, url: str, config: dict):
        self.url = url
        self.session = uuid.uuid4().hex[:11]
        self.events = {d["api_name"]: d["id"] for d in config["dependencies"] if d.get("api_name")}
        states = {c["id"] for c in config["components"] if c["type"] == "state"}
        self.inputs = {d["api_name"]: d["inputs"] for d in config["dependencies"] if d.get("api_name")}
        self.states = states

    def call(self, api: str, values: tuple, timeout: float) -> list:
        data, given = [], iter(values)
        for component in self.inputs[api]:
            data.append(None if component in self.states else next(given))  # the server keeps the state
        body = json.dumps(dict(data=data, fn_index=self.events[api], session_hash=self.session, event_data=None,
                               trigger_id=None)).encode()
        request = urllib.request.Request(self.url + "gradio_api/queue/join", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            event = json.loads(answer.read())["event_id"]
        with urllib.request.urlopen(f"{self.url}gradio_api/queue/data?session_hash={self.session}",
                                    timeout=timeout) as stream:
            for line in stream:
                if not line.startswith(b"data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("event_id") != event or message.get("msg") != "process_completed":
                    continue
                if not message.get("success", True):
                    raise RuntimeError(str(message.get("output", {}).get("error")))
                output = message["output"]["data"]
                fetch(output)
                return output
        raise RuntimeError("the event stream ended without an answer")


def fetch(result) -> int:
    """GET every file a result names, as a browser showing it would; returns the bytes read."""
    if isinstance(result, dict):
        if isinstance(result.get("url"), str):
            with urllib.request.urlopen(result["url"], timeout=60) as answer:
                return len(answer.read())
        return sum(fetch(v) for v in result.values() if isinstance(v, (dict, list, tuple)))
    if isinstance(result, (list, tuple)):
        return sum(fetch(v) for v in result)
    return 0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2, help="rounds of (Explore, Restore) per client")
    parser.add_argument("--models", default="auto", choices=("auto", "zoo", "random"))
    parser.add_argument("--train-steps", type=int, default=300)
    parser.add_argument("--call-timeout", type=float, default=120.0)
    parser.add_argument("--deadline", type=float, default=600.0, help="seconds for the whole run")
    args = parser.parse_args(argv)
    from gradio_client import Client

    print(machine_line("before"))
    with app_server(args.models) as (url, server):
        if not wait_for(url, 180):
            print("the server did not answer within 180 s")
            return 1
        with urllib.request.urlopen(url + "config", timeout=30) as answer:
            config = json.loads(answer.read())
        clients = [Student(url, config) for _ in range(args.clients)]
        trainer = Client(url, verbose=False)
        training = trainer.submit(*TRAIN, args.train_steps, 0, "task's net", api_name="/train")
        deadline = time.time() + 120
        while time.time() < deadline and len(training.outputs()) < 2 and not training.done():
            time.sleep(0.5)  # until the training process reports its first steps
        times: dict[str, list[float]] = {"explore": [], "restore": []}
        failures: list[str] = []
        guard = threading.Lock()
        start = threading.Barrier(args.clients)
        stop_at = time.time() + args.deadline

        def student(client):
            start.wait()
            for _ in range(args.rounds):
                for kind, inputs, api in (("explore", EXPLORE, "/explore_panel"), ("restore", RESTORE, "/restore")):
                    if time.time() > stop_at:
                        return
                    t0 = time.perf_counter()
                    try:
                        client.call(api.strip("/"), inputs, args.call_timeout)
                    except Exception as err:  # noqa: BLE001 - counted and reported
                        with guard:
                            failures.append(f"{kind}: {type(err).__name__}: {str(err)[:80]}")
                        continue
                    with guard:
                        times[kind].append(time.perf_counter() - t0)

        t_load, cpu_server, cpu_clients = time.perf_counter(), process_cpu_s(server.pid), time.process_time()
        threads = [threading.Thread(target=student, args=(c,)) for c in clients if c is not None]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=args.deadline)
        wall = time.perf_counter() - t_load
        cpu_server, cpu_clients = process_cpu_s(server.pid) - cpu_server, time.process_time() - cpu_clients
        outputs = training.outputs()
        status, token = outputs[-1][-2:] if outputs else ("", "")  # the last output: the run's cancel token
        alive = True
        try:
            Client(url, verbose=False).predict(*EXPLORE, api_name="/explore_panel")
        except Exception:  # noqa: BLE001 - reported
            alive = False
        training.cancel()
        trainer.predict(token, api_name="/cancel_training")
    expected = args.clients * args.rounds
    print(f"# {args.clients} clients x {args.rounds} rounds of (Explore, Restore) in {wall:.1f} s, one training "
          f"running (fine-tune from the zoo's augment net, {args.train_steps} steps)")
    for kind, values in times.items():
        goal = "  goal: median <= 2 s" if kind == "explore" else ""
        middle = statistics.median(values) if values else float("nan")
        print(f"  {kind:8s} answered {len(values):3d}/{expected}  median {middle:6.2f} s  "
              f"p90 {percentile(values, 0.9):6.2f} s  worst {max(values, default=float('nan')):6.2f} s{goal}")
    print(f"  CPU during the load: server {cpu_server:.1f} s, the {args.clients} clients (this process) "
          f"{cpu_clients:.1f} s, of {2 * wall:.1f} core-seconds")
    print(f"  failures: {len(failures)}" + "".join(f"\n    {f}" for f in failures[:5]))
    print(f"  server alive afterwards: {alive}")
    print(f"  training meanwhile: {str(status).splitlines()[0][:160] if status else 'no update'}")
    print(machine_line("after"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
