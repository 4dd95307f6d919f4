"""Harness for the server tests: start the real `kprcnn serve` on a free port, read its JSON log, talk HTTP.

The command is `$KPRCNN_CLI serve` (ctest sets KPRCNN_CLI). Ports: `--port 0`, then the "listening" log line says
which port the kernel picked, so parallel runs never collide.
"""
import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
pytest.importorskip("onnx")
pytest.importorskip("numpy")
from PIL import Image  # noqa: E402

import fake_models  # noqa: E402

CLI = os.environ.get("KPRCNN_CLI", "")


def serve_command():
    if not CLI:
        pytest.skip("KPRCNN_CLI is not set (ctest sets it to the kprcnn binary)")
    assert Path(CLI).is_file(), f"KPRCNN_CLI={CLI} does not exist: build the kprcnn target first"
    return [CLI, "serve"]


class Server:
    """One `kprcnn serve` process. Its stderr (JSON lines) is collected in `self.log` by a reader thread."""

    def __init__(self, model, *args, wait_ready=True, timeout=30, env=None, port=0):
        """port=0: any free port (the usual); a fixed port restarts a replica where a load balancer expects it."""
        self.cmd = serve_command() + ["--model", str(model), "--port", str(port), *map(str, args)]
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     env=dict(os.environ, **(env or {})))
        self.log, self.raw = [], []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.port = None
        deadline = time.monotonic() + timeout
        while self.port is None and time.monotonic() < deadline:
            ev = self.find("listening")
            if ev:
                self.port = ev["port"]
            elif self.proc.poll() is not None:
                break
            else:
                time.sleep(0.02)
        if wait_ready:
            assert self.port, f"no 'listening' line; exit {self.proc.poll()}\n{self.stderr()}"
            self.wait_ready(deadline - time.monotonic())

    def _read(self):
        for line in self.proc.stderr:
            text = line.decode("utf-8", "replace").rstrip("\n")
            with self._lock:
                self.raw.append(text)
                try:
                    self.log.append(json.loads(text))
                except json.JSONDecodeError:
                    pass

    def events(self, name):
        with self._lock:
            return [e for e in self.log if e.get("event") == name]

    def find(self, name):
        found = self.events(name)
        return found[0] if found else None

    def stderr(self):
        with self._lock:
            return "\n".join(self.raw)

    def wait_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"server exited {self.proc.returncode}\n{self.stderr()}"
            try:
                if self.get("/readyz").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"not ready after {timeout} s\n{self.stderr()}")

    def wait_log(self, name, timeout=10, count=1):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.events(name)) >= count:
                return self.events(name)
            time.sleep(0.02)
        raise AssertionError(f"no {count} '{name}' log lines after {timeout} s\n{self.stderr()}")

    # --- HTTP ---
    def request(self, method, path, body=None, headers=None, timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            resp.body = resp.read()
            return resp
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body, content_type="application/octet-stream", **kw):
        return self.request("POST", path, body=body, headers={"Content-Type": content_type}, **kw)

    def metrics(self):
        resp = self.get("/metrics")
        assert resp.status == 200
        assert resp.getheader("Content-Type").startswith("text/plain; version=0.0.4")
        return parse_prometheus(resp.body.decode())

    def connect(self):
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def terminate(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout=30):
        rc = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return rc

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=5)


def parse_prometheus(text):
    """{(name, frozenset(labels.items())): value} from the text format; checks every sample has a # TYPE."""
    samples, types = {}, {}
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        if line.startswith("#"):
            continue
        head, value = line.rsplit(" ", 1)
        labels = {}
        if "{" in head:
            name, rest = head.split("{", 1)
            for pair in rest.rstrip("}").split('",'):
                if pair:
                    k, v = pair.split("=", 1)
                    labels[k] = v.strip('"')
        else:
            name = head
        base = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and name[: -len(suffix)] in types:
                base = name[: -len(suffix)]
        assert base in types, f"sample {name} has no # TYPE line"
        samples[(name, frozenset(labels.items()))] = float(value)
    return Metrics(samples)


class Metrics(dict):
    def value(self, name, **labels):
        return self.get((name, frozenset((k, str(v)) for k, v in labels.items())), 0.0)

    def total(self, name, **labels):
        want = {(k, str(v)) for k, v in labels.items()}
        return sum(v for (n, lab), v in self.items() if n == name and want <= set(lab))


def png_bytes(color=(255, 255, 255), size=(64, 48), fmt="PNG"):
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, fmt)
    return buf.getvalue()


def multipart(field, filename, data, content_type="image/png", boundary="kprcnn-test-boundary"):
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
            f"Content-Type: {content_type}\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    m = {
        "bright": fake_models.bright_detector(d / "bright.onnx"),
        "slow": fake_models.slow_detector(d / "slow.onnx", layers=12, dim=1024),
        "sized": fake_models.sized_detector(d / "sized.onnx"),
    }
    bad = d / "truncated.onnx"
    data = m["bright"].read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    m["truncated"] = bad
    return m


@pytest.fixture(scope="module")
def server(models):
    s = Server(models["bright"])
    yield s
    s.close()


@pytest.fixture(scope="module")
def slow_server(models):
    """One worker, a queue of one: the third concurrent request is refused."""
    s = Server(models["slow"], "--workers", 1, "--queue", 1, "--retry-after", 2)
    yield s
    s.close()
