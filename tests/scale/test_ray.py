"""kprcnn.ray on a real local Ray cluster (issue 15, scale-out part 1).

The cluster: `ray start --head` on 127.0.0.1 plus a second node process joined to it (`ray start --address`), one
CPU each, started once for the module and stopped at its end (`ray stop` with the head's temp dir). The job is
`python -m kprcnn.ray --address ...` in a subprocess, as a user runs it. Runs in build/venv-scale
(scripts/make_scale_venv.sh: Ray, tritonclient; no torch), so the test scenes are drawn by Debian's Python
(KPRCNN_PYTHON, kprcnn synth's face scenes) and the model comes from the shared test-model store.

test_results_equal_kprcnn_predict: 2 actors over both nodes, 8 scenes and one truncated PNG: every scene's
    OUT/<stem>.json equals `kprcnn predict`'s on the same folder (same detections; coordinates within 1e-3 px), the
    corrupt one is listed in OUT/_failed.json with code image_decode, exit status 1, and the Parquet rows match.
test_actor_killed_mid_job: SIGKILL one actor process once some results are written; Ray restarts it and re-runs its
    task: every image written exactly once (the command fails on a duplicate), exit status 0.
test_model_missing_on_workers: a model path no node has: each image reported with code io naming the node; the job
    finishes (exit status 1), no result file written.
"""

from __future__ import annotations

import json
import secrets
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed: scripts/make_scale_venv.sh build/venv-scale")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from trained_model import trained_model  # noqa: E402

SOURCE_DIR = Path(os.environ.get("KPRCNN_SOURCE_DIR", HERE.parent.parent))
BUILD_DIR = Path(os.environ.get("KPRCNN_BUILD_DIR", SOURCE_DIR / "build"))

PYTHON = sys.executable
DEBIAN_PYTHON = os.environ.get("KPRCNN_PYTHON", "/usr/bin/python3")
RAY = str(Path(PYTHON).parent / "ray")
THRESHOLD = 0.3
ACTOR_PROCESS = "ray::MapWorker(MapBatches(Predictor))"


# Ray's token authentication, one token for the cluster's nodes and the job's driver (how a real cluster is secured;
# a `ray start` without it refused this machine's second node with InvalidAuthToken).
TOKEN = secrets.token_hex(32)


def _env() -> dict:
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", PYTHONPATH=str(BUILD_DIR / "python"), RAY_AUTH_MODE="token",
               RAY_AUTH_TOKEN=TOKEN)  # fmt: skip
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def model() -> Path:
    return trained_model()


def _scenes(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True)
    code = ("import sys\nfrom kprcnn_export.synth import face_scene\n"
            f"for i in range({count}):\n"
            f"    face_scene(320 + 32 * (i % 3), 256 + 16 * (i % 2), seed=2, first_index=100 * i)"
            f".save(sys.argv[1] + f'/scene{{i:02d}}.png')\n")  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(SOURCE_DIR / "python"))
    r = subprocess.run([DEBIAN_PYTHON, "-c", code, str(folder)], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    return sorted(folder.glob("*.png"))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A head node and a worker node on loopback; yields the address for --address."""
    port = _free_port()
    temp = Path("/tmp") / f"kprcnn-ray-{os.getpid()}"  # Ray's socket paths must stay short: not pytest's tmp dir
    common = ["--num-cpus", "1", "--object-store-memory", str(200 * 1024 * 1024), "--disable-usage-stats"]
    head = [RAY, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--temp-dir", str(temp),
            "--include-dashboard", "false", *common]  # fmt: skip
    r = subprocess.run(head, capture_output=True, text=True, env=_env(), timeout=180)
    assert r.returncode == 0, f"ray start --head failed:\n{r.stdout}\n{r.stderr}"
    address = f"127.0.0.1:{port}"
    try:
        worker = [RAY, "start", "--address", address, "--node-ip-address", "127.0.0.1", *common]
        r = subprocess.run(worker, capture_output=True, text=True, env=_env(), timeout=180)
        assert r.returncode == 0, f"ray start (worker node) failed:\n{r.stdout}\n{r.stderr}"
        yield address
    finally:
        subprocess.run([RAY, "stop", "--force"], capture_output=True, env=_env(), timeout=120)
        shutil.rmtree(temp, ignore_errors=True)


def _job(model, input_dir, out, address, *extra, wait=True):
    cmd = [PYTHON, "-m", "kprcnn.ray", "--model", str(model), "--input", str(input_dir), "--output", str(out),
           "--address", address, "-o", f"threshold={THRESHOLD}", "-o", "engine=ort", *map(str, extra)]  # fmt: skip
    if not wait:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    return subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=600)


def _assert_same_document(got: dict, want: dict, where: str) -> None:
    assert {k: v for k, v in got.items() if k != "detections"} == {k: v for k, v in want.items() if k != "detections"}
    assert len(got["detections"]) == len(want["detections"]), where
    for g, w in zip(got["detections"], want["detections"]):
        assert g["label"] == w["label"], where
        assert g["score"] == pytest.approx(w["score"], abs=1e-4), where
        assert g["box"] == pytest.approx(w["box"], abs=1e-3), where
        for gk, wk in zip(g["keypoints"], w["keypoints"]):
            assert gk["name"] == wk["name"]
            assert (gk["x"], gk["y"]) == pytest.approx((wk["x"], wk["y"]), abs=1e-3), where
            assert gk["score"] == pytest.approx(wk["score"], abs=2e-3), where


def test_results_equal_kprcnn_predict(cluster, model, tmp_path):
    images = _scenes(tmp_path / "in", 8)
    (tmp_path / "in" / "broken.png").write_bytes(images[0].read_bytes()[:300])
    cli = os.environ.get("KPRCNN_CLI") or str(BUILD_DIR / "bin" / "kprcnn")
    r = subprocess.run([cli, "predict", "--model", str(model), "--input", str(tmp_path / "in"), "--output",
                        str(tmp_path / "cli"), "--threshold", str(THRESHOLD), "--engine", "ort", "--no-draw",
                        "--no-cache"], capture_output=True, text=True, timeout=600)  # fmt: skip
    assert r.returncode == 1, r.stderr  # the broken image

    r = _job(model, tmp_path / "in", tmp_path / "out", cluster, "--actors", 2, "--batch-size", 2, "--parquet",
             tmp_path / "rows.parquet")  # fmt: skip
    assert r.returncode == 1, r.stderr
    assert "broken.png" in r.stderr
    for image in images:
        want = json.loads((tmp_path / "cli" / f"{image.stem}.json").read_text())
        got = json.loads((tmp_path / "out" / f"{image.stem}.json").read_text())
        assert want["detections"], f"{image.name}: the trained model finds faces in its scenes"
        _assert_same_document(got, want, image.name)
    failed = json.loads((tmp_path / "out" / "_failed.json").read_text())["failed"]
    assert [(f["image"], f["code"]) for f in failed] == [("broken", "image_decode")]
    assert not (tmp_path / "out" / "broken.json").exists()
    assert not list((tmp_path / "out").glob("*.tmp-*"))

    import pyarrow.parquet as pq

    rows = pq.read_table(tmp_path / "rows.parquet").to_pylist()
    assert sorted(row["image"] for row in rows) == sorted(i.name for i in images)
    for row in rows:
        want = json.loads((tmp_path / "cli" / f"{Path(row['image']).stem}.json").read_text())["detections"]
        assert row["scores"] == pytest.approx([d["score"] for d in want], abs=1e-4)
        assert len(row["keypoints"]) == sum(3 * len(d["keypoints"]) for d in want)


def _actor_pids() -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            except OSError:
                continue
            if cmdline.startswith(ACTOR_PROCESS):
                pids.append(int(proc.name))
    return pids


def test_actor_killed_mid_job(cluster, model, tmp_path):
    images = _scenes(tmp_path / "in", 24)
    out = tmp_path / "out"
    job = _job(model, tmp_path / "in", out, cluster, "--actors", 2, "--batch-size", 1, wait=False)
    killed = None
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and job.poll() is None:
            pids = _actor_pids()
            if pids and len(list(out.glob("*.json"))) >= 3:
                killed = pids[0]
                os.kill(killed, signal.SIGKILL)
                break
            time.sleep(0.05)
        stdout, stderr = job.communicate(timeout=600)
    finally:
        if job.poll() is None:
            job.kill()
    assert killed is not None, "the job ended before an actor could be killed: give it more images"
    assert job.returncode == 0, stderr
    assert "arrived twice" not in stderr
    assert sorted(p.stem for p in out.glob("*.json")) == sorted(i.stem for i in images)
    assert f"{len(images)} of {len(images)} images written" in stderr


def test_model_missing_on_workers(cluster, tmp_path):
    images = _scenes(tmp_path / "in", 3)
    r = _job(tmp_path / "nowhere.onnx", tmp_path / "in", tmp_path / "out", cluster, "--actors", 2)
    assert r.returncode == 1, r.stderr
    failed = json.loads((tmp_path / "out" / "_failed.json").read_text())["failed"]
    assert sorted(f["image"] for f in failed) == sorted(i.stem for i in images)
    assert {f["code"] for f in failed} == {"io"}
    assert all("nowhere.onnx" in f["error"] and " on " in f["error"] for f in failed)
    assert not list((tmp_path / "out").glob("scene*.json"))


def test_bad_arguments_fail_before_ray_starts(tmp_path):
    (tmp_path / "in").mkdir()
    r = subprocess.run([PYTHON, "-m", "kprcnn.ray", "--model", "m.onnx", "--input", str(tmp_path / "in"), "--output",
                        str(tmp_path / "out"), "-o", "no_such_option=1"], capture_output=True, text=True, env=_env(),
                       timeout=120)  # fmt: skip
    assert r.returncode == 2 and "unknown option 'no_such_option'" in r.stderr
    r = subprocess.run([PYTHON, "-m", "kprcnn.ray", "--model", "m.onnx", "--input", str(tmp_path / "in"), "--output",
                        str(tmp_path / "out")], capture_output=True, text=True, env=_env(), timeout=120)  # fmt: skip
    assert r.returncode != 0 and "no .jpg, .jpeg or .png files" in r.stderr
