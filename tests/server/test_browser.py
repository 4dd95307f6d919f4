"""The web page end to end in a real browser: Debian's headless chromium, driven over the DevTools protocol.

Chromium runs with --remote-debugging-pipe: DevTools messages are NUL-terminated JSON on file descriptors 3 (to the
browser) and 4 (from it), so this needs nothing but the Python standard library and the `chromium` package (no
npm, no browser download). The test loads /, uploads an image through the page's file input, waits for the result,
checks the keypoint table and the annotated canvas (the keypoint's pixel has its class colour), checks that the
page fetched nothing but the server (it works offline), and saves a screenshot under the build folder.
"""
import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from PIL import Image

from conftest import Server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(not CHROMIUM, reason="chromium not installed (Debian package chromium)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
         "--disable-dev-shm-usage", "--remote-debugging-pipe"]


class Browser:
    """A minimal DevTools-protocol client over chromium's pipe transport (flattened target sessions)."""

    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="kprcnn-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # The child must see the pipes as fds 3 and 4.
        self.proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(3, 4), preexec_fn=lambda: (os.dup2(to_browser_r, 3), os.dup2(from_browser_w, 4)))
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events = []
        self.session = None

    def send(self, method, params=None, session=True, timeout=30):
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)
        raise TimeoutError(method)

    def _read(self):
        while b"\0" not in self._buffer:
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError(f"chromium closed the DevTools pipe (exit {self.proc.poll()})")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def open_page(self, width=1280, height=900):
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]
        for domain in ("Page", "Runtime", "Network", "DOM"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def evaluate(self, expression):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {expression}")

    def set_file(self, selector, path):
        root = self.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
        node = self.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        self.send("DOM.setFileInputFiles", {"nodeId": node, "files": [str(path)]})

    def screenshot(self, path):
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        Path(path).write_bytes(base64.b64decode(data))

    def requested_urls(self):
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def close(self):
        try:
            self.send("Browser.close", session=False, timeout=5)
        except Exception:  # noqa: BLE001 - best effort; we kill it below anyway
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture
def browser():
    b = Browser()
    yield b
    b.close()


def artifact_dir(tmp_path):
    d = Path(os.environ.get("KPRCNN_SERVER_TEST_DIR", tmp_path)) / "artifacts"
    d.mkdir(parents=True, exist_ok=True)
    return d


def test_page_uploads_an_image_and_shows_keypoints(browser, models, tmp_path):
    server = Server(models["bright"])
    try:
        image = tmp_path / "person.jpg"
        Image.new("RGB", (640, 480), (255, 255, 255)).save(image, quality=95)
        base = f"http://127.0.0.1:{server.port}/"
        browser.open_page()
        browser.send("Page.navigate", {"url": base})
        browser.wait_for("document.readyState === 'complete'")
        browser.wait_for("document.getElementById('model').textContent.includes('3 keypoints')")
        assert "bright.onnx" in browser.evaluate("document.getElementById('model').textContent")

        browser.set_file("#file", image)
        browser.wait_for("document.body.dataset.state === 'done'")
        status = browser.evaluate("document.getElementById('status').textContent")
        assert "1 detection" in status and "640×480" in status, status

        rows = browser.evaluate("""[...document.querySelectorAll('#keypoints tbody tr.kp')]
                                     .map(tr => [...tr.cells].map(td => td.textContent))""")
        assert [r[1] for r in rows] == ["a", "b", "c"], rows
        # The table shows what the JSON says: keypoint a at (10, 12) in the 682x512 model input, scaled back.
        assert float(rows[0][2]) == pytest.approx(10 * 640 / 682, abs=0.06)
        assert float(rows[0][3]) == pytest.approx(12 * 480 / 512, abs=0.06)
        assert rows[2][4] == "3.50"

        # The annotated canvas: full size, and keypoint a drawn in its class colour (#ff0000).
        canvas = browser.evaluate("""(() => { const c = document.getElementById('canvas');
            const p = c.getContext('2d').getImageData(9, 11, 1, 1).data;
            return {w: c.width, h: c.height, shown: getComputedStyle(c).display, pixel: [...p].slice(0, 3)}; })()""")
        assert (canvas["w"], canvas["h"], canvas["shown"]) == (640, 480, "block"), canvas
        assert canvas["pixel"] == [255, 0, 0], canvas

        # Offline: the page asked for nothing but the server.
        urls = browser.requested_urls()
        assert urls and all(u.startswith(base) or u.startswith(("blob:", "data:")) for u in urls), urls

        shot = artifact_dir(tmp_path) / "page.png"
        browser.screenshot(shot)
        assert Image.open(shot).size == (1280, 900)
        print(f"\nscreenshot: {shot}")

        # A bad file: the page shows the server's message, and the next image works again.
        bad = tmp_path / "notes.png"
        bad.write_text("not an image")
        browser.evaluate("document.body.dataset.state = ''")
        browser.set_file("#file", bad)
        error = browser.wait_for("(document.getElementById('error') || {}).textContent")
        assert error.startswith("400: ") and "not a JPEG or PNG" in error, error
        browser.set_file("#file", image)
        browser.wait_for("document.body.dataset.state === 'done'")
    finally:
        server.close()
