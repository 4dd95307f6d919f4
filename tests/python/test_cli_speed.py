"""Behaviour of the speed features on tiny models (no timing assertions): the optimised-model cache, the folder
pipeline, --fast-decode and `kprcnn bench`."""
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from test_cli import CLI, COLORMAP, EXIT_ARGS, fake_detector, needs_openvino, noise_photo, read_json

pytestmark = pytest.mark.skipif(not CLI or not Path(CLI).exists(), reason="KPRCNN_CLI not built")


def run(*args, cache=None, check=0):
    env = dict(os.environ)
    if cache is not None:
        env["XDG_CACHE_HOME"] = str(cache)
    proc = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, timeout=120, env=env)
    if check is not None:
        assert proc.returncode == check, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def one_detection(path, box):
    return fake_detector(path, [box], [0.9], [[[20, 30, 1], [40, 50, 1], [60, 70, 1]]], [[1, 2, 3]],
                         colormap=COLORMAP)


@pytest.fixture
def image(tmp_path):
    return noise_photo(tmp_path)


ENGINES = [("ort", "*.onnx"), pytest.param("openvino", "*.ovblob", marks=needs_openvino)]


@pytest.mark.parametrize("engine, entry_glob", ENGINES)
def test_model_cache_gives_same_answers_and_follows_model_changes(tmp_path, image, engine, entry_glob):
    cache = tmp_path / "xdg"
    model = one_detection(tmp_path / "m.onnx", [10, 20, 100, 200])
    first = run("predict", "--engine", engine, "-m", model, "-i", image, "-o", tmp_path / "o1", cache=cache)
    assert "cached for the next start" in first.stderr
    entries = list((cache / "kprcnn").glob(entry_glob))
    assert len(entries) == 1 and entries[0].name.startswith("m-")
    second = run("predict", "--engine", engine, "-m", model, "-i", image, "-o", tmp_path / "o2", cache=cache)
    assert "(optimised-model cache)" in second.stderr
    uncached = run("predict", "--engine", engine, "--no-cache", "-m", model, "-i", image, "-o", tmp_path / "o3",
                   cache=cache)
    assert "cache" not in uncached.stderr.splitlines()[0]
    docs = [read_json(tmp_path / o / "photo.json") for o in ("o1", "o2", "o3")]
    assert docs[0] == docs[1] == docs[2]
    assert docs[0]["detections"] and docs[0]["detections"][0]["keypoints"][0]["name"] == "a"  # metadata kept

    # Same file name, other contents: a new entry, and the new model's answer (never the stale one).
    one_detection(model, [50, 60, 150, 250])
    third = run("predict", "--engine", engine, "-m", model, "-i", image, "-o", tmp_path / "o4", cache=cache)
    assert "cached for the next start" in third.stderr
    assert len(list((cache / "kprcnn").glob(entry_glob))) == 2
    box = read_json(tmp_path / "o4" / "photo.json")["detections"][0]["box"]
    assert box != docs[0]["detections"][0]["box"]
    assert box[0] == pytest.approx(50 * 450 / 768, abs=1e-3)  # input 768x512 for a 450x300 image


@pytest.mark.parametrize("engine, entry_glob", ENGINES)
def test_refused_model_leaves_no_cache_entry(tmp_path, image, engine, entry_glob):
    import onnx

    cache = tmp_path / "xdg"
    model = one_detection(tmp_path / "m.onnx", [10, 20, 100, 200])
    proto = onnx.load(str(model))
    for node in proto.graph.node:  # "scores" -> "score": not the Keypoint R-CNN contract
        node.output[:] = ["score" if o == "scores" else o for o in node.output]
    for out in proto.graph.output:
        out.name = "score" if out.name == "scores" else out.name
    onnx.save(proto, str(model))
    run("predict", "--engine", engine, "-m", model, "-i", image, "-o", tmp_path / "o", cache=cache, check=5)
    assert list((cache / "kprcnn").glob(entry_glob)) == []


def test_folder_pipeline_keeps_order_and_reports_throughput(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(5):
        Image.fromarray(rng.integers(0, 255, (120 + 10 * i, 160, 3), np.uint8)).save(folder / f"im{i}.png")
    (folder / "im2.png").write_bytes(b"not a png")  # a failure in the middle
    model = one_detection(tmp_path / "m.onnx", [10, 20, 100, 200])
    proc = run("predict", "--no-cache", "-m", model, "-i", folder, "-o", tmp_path / "out", check=1)
    progress = [ln for ln in proc.stderr.splitlines() if ln.startswith("[")]
    assert [ln.split("]")[0] for ln in progress] == [f"[{i}/5" for i in range(1, 6)]
    assert "error" in progress[2] and "im2.png" in progress[2]
    assert "images/s" in proc.stderr.splitlines()[-1]
    for i in (0, 1, 3, 4):
        assert read_json(tmp_path / "out" / f"im{i}.json")["height"] == 120 + 10 * i
        assert (tmp_path / "out" / f"im{i}.png").is_file()
    assert not (tmp_path / "out" / "im2.json").exists()


def test_fast_decode_reports_source_coordinates(tmp_path):
    photo = tmp_path / "in" / "big.jpg"
    photo.parent.mkdir()
    Image.fromarray(np.random.default_rng(2).integers(0, 255, (1536, 2048, 3), np.uint8)).save(photo, quality=90)
    model = one_detection(tmp_path / "m.onnx", [10, 20, 100, 200])
    run("predict", "--no-cache", "--no-draw", "-m", model, "-i", photo, "-o", tmp_path / "exact")
    run("predict", "--no-cache", "--no-draw", "--fast-decode", "-m", model, "-i", photo, "-o", tmp_path / "fast")
    exact, fast = read_json(tmp_path / "exact" / "big.json"), read_json(tmp_path / "fast" / "big.json")
    # The fake model's outputs do not depend on the pixels: same frame, same input size, same numbers.
    assert (fast["width"], fast["height"]) == (2048, 1536)
    assert fast == exact
    refused = run("predict", "--no-cache", "--fast-decode", "-m", model, "-i", photo, "-o", tmp_path / "x",
                  check=EXIT_ARGS)
    assert "--no-draw" in refused.stderr


def test_bench_help_and_a_tiny_run(tmp_path, image):
    help_text = run("bench", "--help").stdout
    assert "--variant" in help_text and "--worker" in help_text
    model = one_detection(tmp_path / "m.onnx", [10, 20, 100, 200])
    out = tmp_path / "bench.json"
    proc = run("bench", "--no-cache", "-m", model, "-i", image, "--reps", "2", "--warmup", "0", "--json", out,
               "-o", tmp_path / "runs", "--variant", "name=a", "--variant", "name=b,arena=0,spin=1",
               "--variant", "name=c,pattern=1")
    assert "peak RSS" in proc.stdout
    doc = json.loads(out.read_text())
    assert [v["name"] for v in doc["variants"]] == ["a", "b", "c"]
    # the session settings change nothing in the answers
    dets = [read_json(tmp_path / "runs" / f"{v}-photo.json")["detections"] for v in "abc"]
    assert dets[0] and dets[0] == dets[1] == dets[2]
    bad = run("bench", "--no-cache", "-m", model, "-i", image, "--variant", "pattern=2", check=EXIT_ARGS)
    assert "pattern takes 0 or 1" in bad.stderr
    for spec, fragment in (("threads=abc", "option threads: 'abc' is not an integer in [0, 256]"),
                           ("size=8", "option size: '8' is not an integer in [16, 4096]"),
                           ("warmup=2x", "warmup takes an integer")):
        bad = run("bench", "--no-cache", "-m", model, "-i", image, "--variant", spec, check=EXIT_ARGS)
        assert fragment in bad.stderr
    runs = doc["variants"][0]["images"][0]["runs"]
    assert len(runs) == 2
    assert set(runs[0]) == {"decode", "resize", "tensor", "session", "postprocess", "draw", "encode", "total"}
