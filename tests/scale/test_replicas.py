"""Replicas of `kprcnn serve` behind nginx on loopback (issue 15, scale-out part 3), fault row 20.

nginx runs docs/deploy/nginx.conf itself: only its `listen` port and the upstream's `server` lines are swapped for
the ones of this run (the replicas' ports come from their `--port 0` "listening" log lines), so the documented
config is the tested one. nginx runs unprivileged in the foreground with a prefix under pytest's tmp folder.

test_sigterm_one_replica_mid_load_then_restart_it: 2 replicas, a bounded client loop (4 threads, one keep-alive
    connection to nginx each) for the whole test; SIGTERM replica A mid-load (it drains and exits 0), start it again
    on the same port (nginx's config and its view of the upstream stay as they are: how a process supervisor or a
    Kubernetes Service brings a replica back; a reload would also have worked but would hide the passive health
    check we rely on), keep the load going. Asserted: every client request answered 200 (no 503 either: nginx
    moves a refused connection or a draining replica's 503 to the other replica), nginx did retry some requests
    (its access log shows two upstreams for them), and the restarted A answers requests again.
test_replica_that_never_becomes_ready_gets_no_traffic: a replica still loading (its model file is a FIFO nobody
    writes: the port listens, /readyz and /v1/predict answer 503 not_ready, forever) or one whose model failed to
    load (it exits != 0) next to a healthy one: every client request answered 200, none by the bad replica.
"""
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import http.client
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent.parent
CONF = SOURCE / "docs" / "deploy" / "nginx.conf"

_spec = importlib.util.spec_from_file_location("server_harness", HERE.parent / "server" / "conftest.py")
harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(harness)
Server, png_bytes, fake_models = harness.Server, harness.png_bytes, harness.fake_models

NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
if not NGINX:
    pytest.skip("nginx is not installed (scripts/setup.sh installs Debian's `nginx`)", allow_module_level=True)

# One inference thread per replica: two replicas share the 2 cores of a small machine without fighting.
REPLICA_ARGS = ("--threads", 1, "--drain", "10s", "--retry-after", 1)


def render_config(text, listen_port, replica_ports):
    """docs/deploy/nginx.conf with this run's ports; everything else kept byte for byte."""
    server_line = re.compile(r"^(?P<indent>[ \t]*)server 127\.0\.0\.1:\d+(?P<params>[^;\n]*);[^\n]*\n", re.M)
    found = list(server_line.finditer(text))
    assert len(found) >= 2, f"{CONF}: expected the upstream's `server 127.0.0.1:PORT ...;` lines"
    first = found[0]
    block = "".join(f"{first['indent']}server 127.0.0.1:{p}{first['params']};\n" for p in replica_ports)
    text = text[: first.start()] + block + text[found[-1].end():]
    text, n = re.subn(r"listen 127\.0\.0\.1:\d+;", f"listen 127.0.0.1:{listen_port};", text)
    assert n == 1, f"{CONF}: expected one `listen 127.0.0.1:PORT;` line"
    return text


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nginx:
    def __init__(self, prefix, replica_ports):
        self.prefix = Path(prefix)
        for d in ("logs", "tmp"):
            (self.prefix / d).mkdir(parents=True, exist_ok=True)
        for attempt in range(3):  # the free port may be taken between free_port() and nginx's bind: try another
            self.port = free_port()
            conf = self.prefix / "nginx.conf"
            conf.write_text(render_config(CONF.read_text(), self.port, replica_ports))
            self.stderr_path = self.prefix / f"stderr-{attempt}.txt"
            self.proc = subprocess.Popen(
                [NGINX, "-p", f"{self.prefix}/", "-c", str(conf), "-e", "stderr",
                 "-g", f"daemon off; pid {self.prefix}/nginx.pid;"],
                stdout=subprocess.DEVNULL, stderr=self.stderr_path.open("wb"))
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    return
                except OSError:
                    time.sleep(0.05)
            self.close()
        raise AssertionError(f"nginx did not start:\n{self.stderr()}")

    def stderr(self):
        return self.stderr_path.read_text(errors="replace")

    def access_log(self):
        """[(status, [upstream addresses], [upstream statuses])] per request, from the `upstream` log format."""
        rows = []
        for line in (self.prefix / "logs" / "access.log").read_text().splitlines():
            m = re.search(r'" (\d{3}) \S+ upstream=(.*) upstream_status=(.*)$', line)
            assert m, f"unexpected access log line: {line}"
            rows.append((int(m[1]), re.split(r"\s*[,:]\s+", m[2].strip()), re.split(r"\s*[,:]\s+", m[3].strip())))
        return rows

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: finish the requests, flush the log
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Load:
    """`threads` clients posting one image each in a loop through nginx until stop() (or `cap` requests each)."""

    def __init__(self, port, threads=4, cap=3000):
        self.port, self.cap = port, cap
        self.body = png_bytes((255, 255, 255))
        self.results = []  # (monotonic time, status or exception text)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for t in self._threads:
            t.start()

    def _run(self):
        conn = None
        for _ in range(self.cap):
            if self._stop.is_set():
                break
            try:
                conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
                conn.request("POST", "/v1/predict", body=self.body, headers={"Content-Type": "image/png"})
                resp = conn.getresponse()
                body = resp.read()
                outcome = resp.status if resp.status != 200 or b'"detections"' in body else f"200 without detections: {body[:200]}"
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                outcome = f"{type(e).__name__}: {e}"
                if conn:
                    conn.close()
                conn = None
            with self._lock:
                self.results.append((time.monotonic(), outcome))
        if conn:
            conn.close()

    def count(self):
        with self._lock:
            return len(self.results)

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)
        assert not any(t.is_alive() for t in self._threads), "a client thread is stuck"
        return list(self.results)


def predicts_ok(server):
    return sum(1 for e in server.events("request") if e.get("path") == "/v1/predict" and e.get("status") == 200)


def wait_until(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what}")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    # ~10 ms a run on one core (6 MatMul+Tanh layers of 512 x 512): tens of ms under load on a shared machine.
    return fake_models.slow_detector(tmp_path_factory.mktemp("models") / "slow6.onnx", layers=6, dim=512)


def test_sigterm_one_replica_mid_load_then_restart_it(model, tmp_path):
    a, b = Server(model, *REPLICA_ARGS), Server(model, *REPLICA_ARGS)
    servers, nginx, load = [a, b], None, None
    try:
        nginx = Nginx(tmp_path / "nginx", [a.port, b.port])
        load = Load(nginx.port)
        wait_until(lambda: predicts_ok(a) >= 5 and predicts_ok(b) >= 5, 20, "both replicas serve through nginx")

        port_a = a.port
        a.terminate(signal.SIGTERM)
        assert a.wait(timeout=20) == 0, a.stderr()
        assert a.find("draining") and a.find("stopped")["exit_code"] == 0
        served_by_b, n, gone = predicts_ok(b), load.count(), time.monotonic()
        # Gone for longer than fail_timeout (2 s): nginx tries the closed port at least once and moves on.
        wait_until(lambda: load.count() >= n + 20 and time.monotonic() - gone > 3.5, 15,
                   "requests keep being answered while replica A is gone")
        assert predicts_ok(b) > served_by_b

        a2 = Server(model, *REPLICA_ARGS, port=port_a)  # waits for /readyz 200
        servers.append(a2)
        assert a2.port == port_a
        # nginx tries A again after fail_timeout (2 s in the config) and then keeps sending it its share.
        wait_until(lambda: predicts_ok(a2) >= 5, 20, "the restarted replica serves requests again")
        n = load.count()
        wait_until(lambda: load.count() >= n + 20, 15, "load goes on after the restart")
        results = load.stop()
        load = None
    finally:
        if load:
            load.stop()
        if nginx:
            nginx.close()
        for s in servers:
            s.close()

    failed = [r for r in results if r[1] != 200]
    assert not failed, f"{len(failed)} of {len(results)} client requests failed, e.g. {failed[:5]}\n{nginx.stderr()}"
    log = nginx.access_log()
    assert len(log) == len(results)
    retried = [row for row in log if len(row[1]) > 1]
    assert retried, "no request was moved to the other replica: the SIGTERM did not land mid-load"
    assert all(row[0] == 200 for row in log)
    print(f"\n{len(results)} requests, all 200; {len(retried)} moved by nginx to the other replica "
          f"(upstream statuses {sorted({' '.join(r[2]) for r in retried})}); "
          f"A before SIGTERM {predicts_ok(a)}, B {predicts_ok(b)}, A restarted {predicts_ok(a2)}")


@pytest.mark.parametrize("fault", ["loading_forever", "load_failed"])
def test_replica_that_never_becomes_ready_gets_no_traffic(model, tmp_path, fault):
    if fault == "loading_forever":
        bad_model = tmp_path / "never.onnx"
        os.mkfifo(bad_model)  # the loader blocks opening it for reading: a load that never ends, using no CPU
    else:
        bad_model = tmp_path / "truncated.onnx"
        data = model.read_bytes()
        bad_model.write_bytes(data[: len(data) // 2])
    bad = Server(bad_model, *REPLICA_ARGS, wait_ready=False)
    good = Server(model, *REPLICA_ARGS)
    nginx = load = None
    try:
        assert bad.port, bad.stderr()
        if fault == "loading_forever":
            assert bad.get("/readyz").status == 503
            assert bad.get("/healthz").status == 200  # alive, not ready: what a liveness probe must not kill
        else:
            assert bad.wait(timeout=30) != 0
        nginx = Nginx(tmp_path / "nginx", [bad.port, good.port])
        load = Load(nginx.port, threads=2)
        wait_until(lambda: load.count() >= 60, 20, "60 requests through nginx")
        results = load.stop()
        load = None
        assert not bad.find("ready")
        assert predicts_ok(bad) == 0
        if fault == "loading_forever":
            assert bad.proc.poll() is None and bad.get("/readyz").status == 503
    finally:
        if load:
            load.stop()
        if nginx:
            nginx.close()
        if fault == "loading_forever" and bad.proc.poll() is None:
            # EOF on the FIFO: the load fails, the server exits (a SIGTERM alone would wait for the load).
            fd = os.open(bad_model, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
            try:
                bad.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                bad.proc.kill()
        bad.close()
        good.close()

    failed = [r for r in results if r[1] != 200]
    assert not failed, f"{len(failed)} of {len(results)} client requests failed, e.g. {failed[:5]}"
    assert predicts_ok(good) == len(results)
    bad_addr = f"127.0.0.1:{bad.port}"
    log = nginx.access_log()
    assert all(row[0] == 200 for row in log)
    # Whenever nginx tried the bad replica (once per fail_timeout), it got a 503 or no connection and moved on.
    for status, addrs, statuses in log:
        assert addrs[-1] != bad_addr, (addrs, statuses)
