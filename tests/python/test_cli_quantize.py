"""`kprcnn quantize` (the fast mode's INT8 model) on a tiny model whose outputs depend on the pixels through
Convs, so that quantisation really moves them: the model is written with its metadata, the accuracy against the
float model is measured and printed, and bad inputs are clear errors that leave no file behind.

Runs ONNX Runtime's Python tooling in the build's venv (scripts/setup.sh makes it): skipped when it is absent."""
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from test_cli import CLI, COLORMAP, read_json, save_model

VENV_PYTHON = Path(CLI).parent.parent / "venv" / "bin" / "python" if CLI else Path("/nonexistent")
pytestmark = [
    pytest.mark.skipif(not CLI or not Path(CLI).exists(), reason="KPRCNN_CLI not built"),
    pytest.mark.skipif(not VENV_PYTHON.exists(), reason="no build/venv (scripts/setup.sh makes it)"),
]


def quantize(*args, python=None, check=0):
    env = dict(os.environ)
    env.pop("KPRCNN_QUANTIZE_PYTHON", None)
    if python:
        env["KPRCNN_QUANTIZE_PYTHON"] = str(python)
    proc = subprocess.run([CLI, "quantize", *map(str, args)], capture_output=True, text=True, timeout=300, env=env)
    if check is not None:
        assert proc.returncode == check, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def conv_detector(path):
    """One detection whose box and 3 keypoints move with the image: Conv -> Relu -> Conv -> global mean, added to
    constant positions (a stand-in for the backbone + heads; quantising its Convs changes the answers a little)."""
    rng = np.random.default_rng(3)
    w1, b1 = rng.normal(0, 0.5, (8, 3, 3, 3)).astype(np.float32), rng.normal(0, 0.1, 8).astype(np.float32)
    w2, b2 = rng.normal(0, 0.5, (13, 8, 3, 3)).astype(np.float32), rng.normal(0, 0.1, 13).astype(np.float32)
    inits = [numpy_helper.from_array(v, n) for v, n in (
        (w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"),
        (np.array([[40, 30, 200, 180]], np.float32), "box0"),
        (np.array([[[60, 50, 1], [120, 90, 1], [180, 150, 1]]], np.float32), "kp0"),
        (np.array([1, 3, 3], np.int64), "kp_shape"), (np.array([1, 4], np.int64), "box_shape"),
        (np.array([0], np.int64), "s0"), (np.array([4], np.int64), "s4"), (np.array([13], np.int64), "s13"),
        (np.array([1], np.int64), "ax1"), (np.array(20.0, np.float32), "gain"),
        (np.array([0.95], np.float32), "scores_c"), (np.array([1], np.int64), "labels_c"),
        (np.array([[5.0, 6.0, 7.0]], np.float32), "keypoints_scores_c"))]  # fmt: skip
    nodes = [
        helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("ReduceMean", ["c2"], ["m"], axes=[2, 3], keepdims=0),  # [1, 13]
        helper.make_node("Mul", ["m", "gain"], ["g"]),
        helper.make_node("Slice", ["g", "s0", "s4", "ax1"], ["box_d"]),
        helper.make_node("Slice", ["g", "s4", "s13", "ax1"], ["kp_flat"]),
        helper.make_node("Reshape", ["box_d", "box_shape"], ["box_d2"]),
        helper.make_node("Add", ["box0", "box_d2"], ["boxes"]),
        helper.make_node("Reshape", ["kp_flat", "kp_shape"], ["kp_d"]),
        helper.make_node("Add", ["kp0", "kp_d"], ["keypoints"]),
    ]
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "height", "width"])]
    outputs = [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["N", 4]),
               helper.make_tensor_value_info("labels", TensorProto.INT64, ["N"]),
               helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N"]),
               helper.make_tensor_value_info("keypoints", TensorProto.FLOAT, ["N", 3, 3]),
               helper.make_tensor_value_info("keypoints_scores", TensorProto.FLOAT, ["N", 3])]
    nodes += [helper.make_node("Identity", [n + "_c"], [n]) for n in ("scores", "labels", "keypoints_scores")]
    metadata = {"kprcnn.num_keypoints": "3", "kprcnn.colormap": json.dumps(COLORMAP)}
    return save_model(path, nodes, inputs, outputs, inits, metadata)


@pytest.fixture
def photos(tmp_path):
    d = tmp_path / "calibration"
    d.mkdir()
    rng = np.random.default_rng(4)
    for i in range(4):
        h, w = 240 + 20 * i, 320
        base = rng.integers(0, 255, (h // 16, w // 16, 3), np.uint8)
        img = Image.fromarray(base).resize((w, h), Image.BICUBIC)
        img.save(d / (f"p{i}.jpg" if i % 2 else f"p{i}.png"))
    return d


def test_quantize_writes_an_int8_model_with_metadata_and_prints_its_accuracy(tmp_path, photos):
    model = conv_detector(tmp_path / "m.onnx")
    out = tmp_path / "m-int8.onnx"
    proc = quantize(model, out, "--calibration", photos, "--size", 128)
    assert out.is_file() and not list(tmp_path.glob(".m-int8.onnx.*"))
    assert "4 detections vs 4 on 4 image(s), 4 of those paired" in proc.stdout
    assert "% of the box size" in proc.stdout

    q = onnx.load(str(out))
    ops = {n.op_type for n in q.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    meta = {m.key: m.value for m in q.metadata_props}
    assert json.loads(meta["kprcnn.colormap"]) == COLORMAP  # the float model's metadata is kept
    how = json.loads(meta["kprcnn.quantization"])
    assert "U8S8" in how["method"] and "4 image(s)" in how["calibration"] and "paired" in how["accuracy"]

    # The INT8 model runs in kprcnn predict, its answers near the float model's but not identical.
    outs = {}
    for name, m in (("f", model), ("q", out)):
        subprocess.run([CLI, "predict", "--no-cache", "-m", m, "-i", photos, "-o", tmp_path / name, "--size", "128",
                        "--no-draw", "-q"], check=True, capture_output=True)
        outs[name] = read_json(tmp_path / name / "p0.json")["detections"][0]
    f, qd = outs["f"], outs["q"]
    moved = [abs(a["x"] - b["x"]) + abs(a["y"] - b["y"]) for a, b in zip(f["keypoints"], qd["keypoints"])]
    assert max(moved) > 0, "quantisation changed nothing: the test model does not exercise it"
    assert max(moved) < 10
    assert [k["name"] for k in qd["keypoints"]] == ["a", "b", "c"]

    again = quantize(out, tmp_path / "twice.onnx", "--calibration", photos, check=1)
    assert "already quantised" in again.stderr


def test_max_displacement_gate_writes_nothing(tmp_path, photos):
    model = conv_detector(tmp_path / "m.onnx")
    out = tmp_path / "gated.onnx"
    proc = quantize(model, out, "--calibration", photos, "--size", 128, "--max-displacement", 0, check=1)
    assert "moved too far" in proc.stderr and "nothing written" in proc.stderr
    assert not out.exists() and not list(tmp_path.glob(".gated.onnx.*"))


def test_bad_inputs_are_clear_errors(tmp_path, photos):
    model = conv_detector(tmp_path / "m.onnx")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    assert "holds no .jpg/.png images" in quantize(model, tmp_path / "o.onnx", "--calibration", empty, check=1).stderr
    not_onnx = tmp_path / "x.onnx"
    not_onnx.write_bytes(b"not a model at all")
    assert "not an ONNX model" in quantize(not_onnx, tmp_path / "o.onnx", "--calibration", photos, check=1).stderr
    assert "not found" in quantize(tmp_path / "missing.onnx", "--calibration", photos, check=1).stderr
    assert "overwrite the input" in quantize(model, model, "--calibration", photos, check=1).stderr
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    assert "cannot read calibration image" in quantize(model, tmp_path / "o.onnx", "--calibration", bad,
                                                       check=1).stderr
    assert not (tmp_path / "o.onnx").exists()
    # A Python without the tooling (Debian's: no onnxruntime, onnx 1.12): says what is missing and how to get it.
    proc = quantize(model, tmp_path / "o.onnx", "--calibration", photos, python="/usr/bin/python3", check=1)
    assert "scripts/setup.sh" in proc.stderr and "onnxruntime" in proc.stderr
    assert "usage" in quantize(check=2).stderr.lower()


def ground_truth_from(model, photos, tmp_path, sigma):
    """A COCO ground truth whose objects are the float model's own detections (float AP = 1 by construction), with
    OKS sigmas so small that the INT8 model's sub-pixel moves cost AP."""
    subprocess.run([CLI, "predict", "--no-cache", "-m", model, "-i", photos, "-o", tmp_path / "gt-pred", "--size",
                    "128", "--no-draw", "-q"], check=True, capture_output=True)  # fmt: skip
    images, anns = [], []
    for i, photo in enumerate(sorted(photos.iterdir()), start=1):
        doc = read_json(tmp_path / "gt-pred" / (photo.stem + ".json"))
        images.append({"id": i, "file_name": photo.name, "width": doc["width"], "height": doc["height"]})
        for det in doc["detections"]:
            x1, y1, x2, y2 = det["box"]
            kps = [v for k in det["keypoints"] for v in (k["x"], k["y"], 2)]
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": 1, "bbox": [x1, y1, x2 - x1, y2 - y1],
                         "area": (x2 - x1) * (y2 - y1), "iscrowd": 0, "keypoints": kps, "num_keypoints": 3})
    gt = {"info": {}, "images": images, "annotations": anns,
          "categories": [{"id": 1, "name": "thing", "keypoints": ["a", "b", "c"], "kprcnn_oks_sigmas": [sigma] * 3}]}
    path = photos / "annotations.json"  # beside the images: --eval-images defaults to its folder
    path.write_text(json.dumps(gt))
    return path


def test_eval_scores_both_models_and_gates_on_the_ap_drop(tmp_path, photos):
    model = conv_detector(tmp_path / "m.onnx")
    gt = ground_truth_from(model, photos, tmp_path, sigma=0.01)
    out = tmp_path / "m-int8.onnx"
    proc = quantize(model, out, "--calibration", photos, "--size", 128, "--eval", gt)
    assert "keypoint AP" in proc.stderr and "float" in proc.stderr and "INT8" in proc.stderr
    assert "detections vs" not in proc.stdout  # with --eval, the displacement check only runs when asked for
    how = json.loads({m.key: m.value for m in onnx.load(str(out)).metadata_props}["kprcnn.quantization"])
    e = how["eval"]
    assert e["images"] == 4 and e["keypoint_ap_float"] == 1.0 and e["operating_point_float"]["recall"] == 1.0
    assert 0 <= e["keypoint_ap_int8"] < 1.0, "INT8 lost no AP even at this sigma: the test does not exercise it"
    lost = 100 * (e["keypoint_ap_float"] - e["keypoint_ap_int8"])
    assert f"({-lost:+.2f} points)" in proc.stdout

    gated = tmp_path / "gated.onnx"
    proc = quantize(model, gated, "--calibration", photos, "--size", 128, "--eval", gt, "--max-ap-drop",
                    round(lost / 2, 3), check=1)  # fmt: skip
    assert "keypoint AP points" in proc.stderr and "nothing written" in proc.stderr
    assert not gated.exists() and not list(tmp_path.glob(".gated.onnx.*"))
    quantize(model, gated, "--calibration", photos, "--size", 128, "--eval", gt, "--max-ap-drop", lost + 0.01)
    assert gated.is_file()


def test_eval_bad_inputs(tmp_path, photos):
    model = conv_detector(tmp_path / "m.onnx")
    assert "need --eval" in quantize(model, tmp_path / "o.onnx", "--calibration", photos, "--max-ap-drop", 1,
                                     check=1).stderr  # fmt: skip
    assert "is not a file" in quantize(model, tmp_path / "o.onnx", "--calibration", photos, "--eval",
                                       tmp_path / "nope.json", check=1).stderr  # fmt: skip
    gt = ground_truth_from(model, photos, tmp_path, sigma=0.05)
    other = tmp_path / "other"
    other.mkdir()
    proc = quantize(model, tmp_path / "o.onnx", "--calibration", photos, "--eval", gt, "--eval-images", other,
                    check=1)  # fmt: skip
    assert "kprcnn eval of m.onnx failed" in proc.stderr and "are not in" in proc.stderr
    assert not (tmp_path / "o.onnx").exists()
