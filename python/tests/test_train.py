"""`kprcnn train` on tiny synthetic datasets: the training folder it writes exports and verifies, a seed gives the
same run, --resume continues exactly, interruption keeps the last complete checkpoint, bad datasets are clear
errors that write no checkpoint (fault row 18)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import PYTHON_DIR, run_exporter

from kprcnn_export.synth import generate

CLI = os.environ.get("KPRCNN_CLI")


def train(*args, check: int | None = 0, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PYTHON_DIR), env.get("PYTHONPATH")]))
    cmd = [sys.executable, "-W", "ignore", "-m", "kprcnn_export.train", "--quiet", "--threads", "1", *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check is not None:
        assert proc.returncode == check, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu")["model"]


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """Eight small scenes (four faces at most each)."""
    out = tmp_path_factory.mktemp("tiny")
    generate(out, count=8, seed=3, size=(160, 120), max_faces=4)
    return out


@pytest.fixture(scope="module")
def trained(tiny, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "face"
    train("--data", tiny, "--out", out, "--max-iters", 3, "--checkpoint-every", 2, "--fp16-weights")
    return out


def test_writes_the_recipes_training_folder(trained):
    names = sorted(p.name for p in trained.iterdir())
    assert names == ["face-colormap.json", "face.pth", "train-log.jsonl", "train-state.ckpt"]
    checkpoint = torch.load(trained / "face.pth", map_location="cpu")
    meta = checkpoint["kprcnn"]
    assert meta["iteration"] == 3 and meta["arch"]["name"] == "slim" and meta["keypoint_names"] == [
        "left_eye", "right_eye", "nose"]  # fmt: skip
    assert all(v.dtype == torch.float16 for v in checkpoint["model"].values() if v.is_floating_point())
    colormap = json.loads((trained / "face-colormap.json").read_text())
    assert [i["label"] for i in colormap["items"]] == meta["keypoint_names"]
    log = [json.loads(line) for line in (trained / "train-log.jsonl").read_text().splitlines()]
    assert log[-1]["iteration"] == 3 and "loss_keypoint" in log[-1]


@pytest.mark.skipif(not CLI, reason="KPRCNN_CLI not set: verification needs kprcnn predict")
def test_training_folder_exports_and_verifies(trained, tmp_path):
    result = run_exporter(trained, "-o", tmp_path / "face.onnx")
    assert result.returncode == 0, result.stderr
    assert "architecture: slim" in result.stderr
    assert "verified against PyTorch" in result.stdout
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "face.onnx")).metadata_props}
    assert json.loads(meta["kprcnn.arch"])["name"] == "slim"
    assert json.loads(meta["kprcnn.export_options"])["min_size"] == 240  # the architecture's training size


def test_same_seed_same_weights_and_resume_continues_exactly(tiny, tmp_path):
    straight = tmp_path / "straight"
    train("--data", tiny, "--out", straight, "--max-iters", 4, "--seed", 5)
    again = tmp_path / "again"
    train("--data", tiny, "--out", again, "--max-iters", 4, "--seed", 5)
    assert same(weights(straight / "face.pth"), weights(again / "face.pth"))
    other = tmp_path / "other"
    train("--data", tiny, "--out", other, "--max-iters", 4, "--seed", 6)
    assert not same(weights(straight / "face.pth"), weights(other / "face.pth"))
    # Two iterations, stop, then --resume to four: the weights of the uninterrupted run.
    resumed = tmp_path / "resumed"
    train("--data", tiny, "--out", resumed, "--max-iters", 2, "--seed", 5, "--checkpoint-every", 2)
    proc = train("--data", tiny, "--out", resumed, "--max-iters", 4, "--seed", 5, "--resume")
    assert "resuming at iteration 2" in proc.stderr
    assert same(weights(straight / "face.pth"), weights(resumed / "face.pth"))


def test_interrupt_keeps_the_last_checkpoint(tiny, tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(PYTHON_DIR))
    proc = subprocess.Popen(
        [sys.executable, "-W", "ignore", "-m", "kprcnn_export.train", "--data", str(tiny), "--out", str(out),
         "--max-iters", "1000", "--checkpoint-every", "1", "--threads", "1", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (out / "face.pth").exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert (out / "face.pth").exists(), "no checkpoint within 120 s"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "is kept" in err
    checkpoint = torch.load(out / "face.pth", map_location="cpu")  # complete, loadable
    state = torch.load(out / "train-state.ckpt", map_location="cpu")
    assert 1 <= checkpoint["kprcnn"]["iteration"] == state["iteration"] < 1000
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


def write_dataset(folder: Path, doc: dict, images: dict[str, bytes] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "annotations.json").write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    for name, data in (images or {}).items():
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture
def base(tiny) -> tuple[dict, dict[str, bytes]]:
    doc = json.loads((tiny / "annotations.json").read_text())
    images = {im["file_name"]: (tiny / im["file_name"]).read_bytes() for im in doc["images"]}
    return doc, images


def annotated(doc: dict) -> dict:
    """The first annotation (a face)."""
    return doc["annotations"][0]


@pytest.mark.parametrize(
    "change, fragment",
    [
        (lambda d: "{not json", "is not valid JSON"),
        (lambda d: {k: v for k, v in d.items() if k != "categories"}, '"categories" is missing'),
        (lambda d: annotated(d).update(keypoints=[1, 2, 2] * 2) or d, "keypoints must be 9 finite numbers"),
        (lambda d: annotated(d).update(keypoints=[float("nan")] * 9) or d, "keypoints must be 9"),
        (lambda d: annotated(d).update(image_id=999) or d, "image_id 999 is not in images"),
        (lambda d: annotated(d).update(bbox=[1, 2, -3, 4]) or d, "negative width"),
        (lambda d: d["categories"][0].update(keypoints=[]) or d, '"keypoints" must be a non-empty list'),
        (lambda d: d.update(annotations=[]) or d, "no usable annotation"),
        (lambda d: [a.update(bbox=[5000, 5000, 10, 10]) for a in d["annotations"]] and d, "no usable annotation"),
    ],
    ids=["json", "no-categories", "keypoint-count", "nan", "unknown-image", "negative-box", "no-keypoint-names",
         "no-annotations", "all-outside"],
)
def test_bad_datasets_are_clear_errors(tmp_path, base, change, fragment):
    doc, images = base
    doc = change(json.loads(json.dumps(doc)))
    data = write_dataset(tmp_path / "data", doc, images)
    proc = train("--data", data, "--out", tmp_path / "out", "--max-iters", 2, check=5)
    assert fragment in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out" / "face.pth").exists()


def test_bad_images_are_skipped_and_counted(tmp_path, base):
    doc, images = base
    names = sorted(images)
    del images[names[0]]  # missing
    images[names[1]] = b"not a jpeg"  # unreadable
    data = write_dataset(tmp_path / "data", doc, images)
    proc = train("--data", data, "--out", tmp_path / "out", "--max-iters", 1)
    assert "1 missing image" in proc.stderr and "1 unreadable image" in proc.stderr
    assert (tmp_path / "out" / "face.pth").exists()


def test_resuming_another_architecture_is_refused(trained, tiny, tmp_path):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(trained, out)
    before = (out / "face.pth").read_bytes()
    proc = train("--data", tiny, "--out", out, "--max-iters", 6, "--resume", "--arch", "resnet18_fpn", check=5)
    assert "not --arch resnet18_fpn" in proc.stderr
    assert (out / "face.pth").read_bytes() == before


def test_usage_errors(tmp_path, tiny):
    assert train("--out", tmp_path, "--max-iters", 1, check=2).returncode == 2  # no dataset
    assert "at least 1" in train("--data", tiny, "--out", tmp_path, "--max-iters", 0, check=2).stderr
    proc = train("--data", tiny, "--out", tmp_path / "o", "--max-iters", 1, "--resume", check=3)
    assert "nothing to resume" in proc.stderr
