#!/usr/bin/env python3
"""Load test of `kprcnn serve` with wrk (Debian package `wrk`): never part of the test run.

Phases, on one server process:
  (i)   at capacity      closed loop, connections = workers + queue, --duration seconds (default 60): its accepted
                         rate C is the capacity
  (ii)  2x capacity      an offered rate of 2C (paced: independent clients), --duration seconds
  (iii) soak             2C for --soak seconds (default 300), RSS sampled every 10 s
  (iv)  retry storm      closed loop with 2 x (workers + queue) connections: every 503 retried at once (worst case)
  (v)   drain            workers + queue requests in flight, then SIGTERM: time to exit, statuses
Reported per phase: throughput, wrk's p50/p99 over all answers, the accepted (200) requests' p50/p99 from the
server's own request log, the share of 503s and every other status or socket error (there should be none).

Usage: bench/server_load.py [--build build] [--model M.onnx] [--image img.jpg] [--workers 1] [--queue 4]
                            [--duration 60] [--soak 300] [--out build/bench-server]
Without --model it serves a generated fake model with a genuinely slow graph (tests/server/fake_models.py), so the
figures measure the server, not a particular network; pass a real export to measure that instead.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "server"))


def percentile(values, p):
    if not values:
        return None
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


class ServerUnderTest:
    def __init__(self, cmd):
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.lock = threading.Lock()
        self.accepted = []  # (monotonic time, ms) of 200 answers
        self.statuses = {}
        self.events = []
        self.port = None
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and self.port is None:
            if self.proc.poll() is not None:
                sys.exit(f"server exited with {self.proc.returncode}")
            time.sleep(0.05)
        while time.monotonic() < deadline:
            try:
                if urllib.request.urlopen(self.url("/readyz"), timeout=5).status == 200:
                    return
            except OSError:
                time.sleep(0.1)
        sys.exit("server never became ready")

    def _read(self):
        for line in self.proc.stderr:
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                continue
            if e.get("event") == "request":
                with self.lock:
                    self.statuses[e["status"]] = self.statuses.get(e["status"], 0) + 1
                    if e["status"] == 200 and e["path"] == "/v1/predict":
                        self.accepted.append((time.monotonic(), e["ms"]))
            else:
                with self.lock:
                    self.events.append(e)
                if e.get("event") == "listening":
                    self.port = e["port"]

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def rss_mib(self):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return None

    def accepted_ms(self, t0, t1):
        with self.lock:
            return [ms for t, ms in self.accepted if t0 <= t <= t1]


def run_wrk(server, connections, seconds, image, rate=None, threads=2):
    env = dict(os.environ, KPRCNN_WRK_IMAGE=str(image))
    paced = ["--", str(rate), str(connections)] if rate else []
    proc = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "60s",
                           "-s", str(ROOT / "bench" / "wrk_predict.lua"), server.url(""), *paced],
                          capture_output=True, text=True, env=env, timeout=seconds + 120)
    if proc.returncode != 0:
        sys.exit(f"wrk failed: {proc.stderr}")
    line = next(l for l in proc.stdout.splitlines() if l.startswith("kprcnn-wrk "))
    return json.loads(line[len("kprcnn-wrk "):])


def phase(server, name, connections, seconds, image, rate=None, sample_rss=False):
    pace = f" at {rate:.1f} req/s" if rate else " (closed loop)"
    print(f"[{name}] {connections} connections{pace} for {seconds} s ...", flush=True)
    rss = []
    stop = threading.Event()
    if sample_rss:
        def sampler():
            while not stop.wait(10):
                rss.append(round(server.rss_mib(), 1))
        threading.Thread(target=sampler, daemon=True).start()
    t0 = time.monotonic()
    r = run_wrk(server, connections, seconds, image, rate)
    t1 = time.monotonic()
    stop.set()
    accepted = server.accepted_ms(t0, t1)
    statuses = {int(k): v for k, v in r["statuses"].items()}
    total = sum(statuses.values())
    result = {
        "phase": name, "connections": connections, "offered_rps": round(rate, 1) if rate else None,
        "seconds": r["duration_s"],
        "requests": r["requests"], "rps": round(r["rps"], 1),
        "accepted_rps": round(statuses.get(200, 0) / r["duration_s"], 2),
        "statuses": statuses,
        "share_503": round(statuses.get(503, 0) / total, 4) if total else None,
        "other_statuses": {s: n for s, n in statuses.items() if s not in (200, 503)},
        "socket_errors": r["errors"],
        "wrk_latency_ms": r["latency_ms"],
        "accepted_latency_ms": {"p50": percentile(accepted, 50), "p99": percentile(accepted, 99),
                                "max": max(accepted) if accepted else None, "n": len(accepted)},
    }
    if sample_rss:
        result["rss_samples_mib"] = rss
    print(json.dumps(result), flush=True)
    return result


def drain(server, connections, image):
    """`connections` predict requests in flight, then SIGTERM: how long until the process exits, and statuses."""
    body = Path(image).read_bytes()
    results = []

    def one():
        req = urllib.request.Request(server.url("/v1/predict"), data=body, method="POST")
        try:
            results.append(urllib.request.urlopen(req, timeout=120).status)
        except urllib.error.HTTPError as e:
            results.append(e.code)
        except OSError as e:
            results.append(repr(e))

    def metric(name):
        text = urllib.request.urlopen(server.url("/metrics"), timeout=10).read().decode()
        return next(float(l.split()[1]) for l in text.splitlines() if l.startswith(name + " "))

    deadline = time.monotonic() + 120  # let what the previous phase left in the queue finish first
    while metric("kprcnn_predict_in_flight") > 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    threads = [threading.Thread(target=one) for _ in range(connections)]
    for t in threads:
        t.start()
    while metric("kprcnn_predict_in_flight") < connections and time.monotonic() < deadline:
        time.sleep(0.01)
    t0 = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    rc = server.proc.wait(timeout=600)
    exit_s = time.monotonic() - t0
    for t in threads:
        t.join()
    stopped = next((e for e in server.events if e.get("event") == "stopped"), {})
    result = {"phase": "drain", "in_flight": connections, "exit_code": rc, "exit_after_sigterm_s": round(exit_s, 3),
              "server_drain_ms": stopped.get("drain_ms"), "statuses": {str(s): results.count(s) for s in set(results)}}
    print(json.dumps(result), flush=True)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=str(ROOT / "build"))
    ap.add_argument("--model")
    ap.add_argument("--image")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--queue", type=int, default=4)
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads per worker (0: cores / workers)")
    ap.add_argument("--duration", type=int, default=60)
    ap.add_argument("--soak", type=int, default=300)
    ap.add_argument("--out")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")
    build = Path(args.build)
    out = Path(args.out or build / "bench-server")
    out.mkdir(parents=True, exist_ok=True)

    cli = build / "bin" / "kprcnn"
    has_serve = cli.exists() and "serve" in subprocess.run([cli, "--help"], capture_output=True, text=True).stdout
    cmd = [str(cli), "serve"] if has_serve else [str(build / "tests" / "server" / "kprcnn_serve_main"), "serve"]
    model = args.model
    if not model:
        import fake_models
        model = str(fake_models.slow_detector(out / "slow-fake.onnx", layers=8, dim=512))
    image = args.image
    if not image:
        from PIL import Image, ImageDraw
        image = out / "bench.jpg"
        img = Image.new("RGB", (640, 480), (200, 210, 225))
        draw = ImageDraw.Draw(img)
        for i in range(0, 640, 40):
            draw.line([(i, 0), (640 - i, 480)], fill=(90 + i // 8, 120, 160), width=3)
        img.save(image, quality=90)

    server = ServerUnderTest(cmd + ["--model", model, "--port", "0", "--workers", str(args.workers),
                                    "--queue", str(args.queue), "--threads", str(args.threads)])
    capacity = args.workers + args.queue
    report = {"model": model, "image": str(image), "workers": args.workers, "queue": args.queue,
              "cores": os.cpu_count(), "rss_start_mib": round(server.rss_mib(), 1), "phases": []}
    report["phases"].append(phase(server, "capacity", capacity, args.duration, image))
    rate = 2 * report["phases"][0]["accepted_rps"]
    conns = max(4 * capacity, 8)  # enough that slow answers do not throttle the offered rate
    report["phases"].append(phase(server, "2x capacity", conns, args.duration, image, rate=rate))
    report["rss_before_soak_mib"] = round(server.rss_mib(), 1)
    if args.soak > 0:
        report["phases"].append(phase(server, "soak", conns, args.soak, image, rate=rate, sample_rss=True))
    report["rss_after_soak_mib"] = round(server.rss_mib(), 1)
    report["phases"].append(phase(server, "retry storm", 2 * capacity, args.duration, image))
    report["phases"].append(drain(server, capacity, image))

    (out / "server_load.json").write_text(json.dumps(report, indent=2))
    print(f"\nmodel {Path(model).name}, {args.workers} worker(s), queue {args.queue}, {os.cpu_count()} cores")
    print("| phase | conns | offered rps | answered rps | accepted rps | 503 share | other statuses + socket errors "
          "| accepted p50 / p99 ms | wrk p99 ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for p in report["phases"]:
        if p["phase"] == "drain":
            continue
        a = p["accepted_latency_ms"]
        fmt = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
        print(f"| {p['phase']} | {p['connections']} | {p['offered_rps'] or 'closed loop'} | {p['rps']} | "
              f"{p['accepted_rps']} | {p['share_503']} | "
              f"{p['other_statuses'] or 0} {sum(p['socket_errors'].values())} | {fmt(a['p50'])} / {fmt(a['p99'])} | "
              f"{p['wrk_latency_ms']['p99']:.1f} |")
    d = report["phases"][-1]
    print(f"RSS: start {report['rss_start_mib']} MiB, before soak {report['rss_before_soak_mib']} MiB, "
          f"after soak {report['rss_after_soak_mib']} MiB")
    print(f"drain: exit {d['exit_code']} {d['exit_after_sigterm_s']} s after SIGTERM with {d['in_flight']} in flight; "
          f"statuses {d['statuses']}")
    print(f"report: {out / 'server_load.json'}")


if __name__ == "__main__":
    main()
