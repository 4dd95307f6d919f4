"""`kprcnn triton-repo` and the kprcnn.triton client (issue "Triton model repository").

(a) triton-repo on a trained test model: config.pbtxt parses as Triton's ModelConfig with the model's tensors,
    types, dynamic dims as -1, max_batch_size 0 and kprcnn's metadata as parameters; 1/model.onnx is a byte copy.
(b) a model whose metadata_props were stripped (build/venv's onnx) still gives a parseable config with
    kprcnn_missing. (c) the client's pre/post-processing with ONNX Runtime (build/venv's python, which has it; the
    scale venv does not) in place of the server equals `kprcnn predict`'s JSON within 1e-3 px. (d) errors.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent.parent
BUILD = Path(os.environ.get("KPRCNN_BUILD_DIR", SOURCE / "build"))
sys.path.insert(0, str(BUILD / "python"))  # the module in the build tree (ctest's PYTHONPATH: the exporter)
CLI = os.environ.get("KPRCNN_CLI", "")
ORT_PYTHON = os.environ.get("KPRCNN_ORT_PYTHON", str(BUILD / "venv" / "bin" / "python"))

if not CLI:
    pytest.skip("KPRCNN_CLI is not set (ctest sets it to the kprcnn binary)", allow_module_level=True)
text_format = pytest.importorskip("google.protobuf.text_format")
model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2")
import kprcnn  # noqa: E402
import kprcnn.triton as kt  # noqa: E402

sys.path.insert(0, str(HERE))
from trained_model import trained_model as _trained  # noqa: E402

_MODEL = []


def trained_model():
    """The trained face model (exported once into the test-model store), shared by the tests of this module."""
    if not _MODEL:
        _MODEL.append(_trained())
    return _MODEL[0]


def cli(*args):
    return subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, timeout=300)


def parse(path):
    return text_format.Parse(Path(path).read_text(), model_config_pb2.ModelConfig())


def test_repo_of_trained_model(tmp_path):
    model = trained_model()
    r = cli("triton-repo", model, tmp_path / "repo", "--name", "face kp", "--instances", 2)
    assert r.returncode == 0, r.stderr
    d = tmp_path / "repo" / "face_kp"
    assert (d / "1" / "model.onnx").read_bytes() == model.read_bytes()
    cfg = parse(d / "config.pbtxt")
    assert cfg.name == "face_kp" and cfg.backend == "onnxruntime" and cfg.max_batch_size == 0
    inputs = {t.name: t for t in cfg.input}
    outputs = {t.name: t for t in cfg.output}
    assert list(inputs) == ["input"]
    assert inputs["input"].data_type == model_config_pb2.TYPE_FP32
    assert list(inputs["input"].dims)[:2] == [1, 3] and list(inputs["input"].dims)[2:] == [-1, -1]
    assert set(outputs) == set(kt.OUTPUTS)
    assert outputs["labels"].data_type == model_config_pb2.TYPE_INT64
    assert outputs["keypoints"].data_type == model_config_pb2.TYPE_FP32 and len(outputs["keypoints"].dims) == 3
    assert outputs["boxes"].dims[0] == -1
    assert cfg.instance_group[0].count == 2 and cfg.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_CPU
    params = {k: v.string_value for k, v in cfg.parameters.items()}
    detector = kprcnn.Detector(str(model), engine="ort", no_cache=True)
    assert params == {**detector.info["metadata"]}
    assert kt.keypoint_names(params) == [name for name, _ in detector.keypoints]


def test_model_without_metadata(tmp_path):
    bare = tmp_path / "bare.onnx"
    code = ("import onnx,sys; m=onnx.load(sys.argv[1]); del m.metadata_props[:]; onnx.save(m, sys.argv[2])")
    if subprocess.run([ORT_PYTHON, "-c", code, str(trained_model()), str(bare)]).returncode != 0:
        pytest.skip(f"{ORT_PYTHON} cannot strip metadata (needs onnx)")
    r = cli("triton-repo", bare, tmp_path / "repo")
    assert r.returncode == 0, r.stderr
    cfg = parse(tmp_path / "repo" / "bare" / "config.pbtxt")
    params = {k: v.string_value for k, v in cfg.parameters.items()}
    assert "kprcnn.colormap" in params["kprcnn_missing"]
    assert len(cfg.output) == 5


ORT_RUNNER = """
import sys, numpy as np, onnxruntime as ort
s = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
for path in sys.argv[2:]:
    out = s.run(None, {"input": np.load(path)})
    np.savez(path + ".out.npz", **{o.name: v for o, v in zip(s.get_outputs(), out)})
"""


def test_client_matches_predict(tmp_path):
    model = trained_model()
    synth = tmp_path / "synth"
    r = cli("synth", "--out", synth, "--count", 3, "--seed", 3, "--size", "400x300", "--min-face", 80, "--quiet")
    if r.returncode != 0:
        pytest.skip(f"kprcnn synth failed (needs the exporter's Python with numpy + Pillow): {r.stderr[-300:]}")
    images = tmp_path / "images"
    images.mkdir()
    found = sorted(synth.rglob("*.jpg"))
    assert found, r.stdout
    for i, jpg in enumerate(found):  # JPEG scenes, plus a PNG of a different aspect ratio (portrait)
        (images / f"img{i}.jpg").write_bytes(jpg.read_bytes())
    arr = kprcnn.read_image(str(found[0])).to_numpy()
    kprcnn.Image(np.ascontiguousarray(arr.transpose(1, 0, 2)[:, :250])).save(str(images / f"img{len(found)}.png"))
    names = sorted(p.name for p in images.iterdir())
    out = tmp_path / "out"
    r = cli("predict", "-m", model, "-i", images, "-o", out, "--no-draw", "-q", "--threshold", 0.0, "--engine", "ort")
    assert r.returncode == 0, r.stderr
    detector = kprcnn.Detector(str(model), engine="ort", no_cache=True)
    metadata = detector.info["metadata"]
    npys = []
    scales = {}
    for i, name in enumerate(names):
        tensor, scale = kt.preprocess(images / name, 512)
        p = tmp_path / f"t{i}.npy"
        np.save(p, tensor)
        npys.append(str(p))
        scales[i] = scale
    run = subprocess.run([ORT_PYTHON, "-c", ORT_RUNNER, str(model), *npys], capture_output=True, text=True)
    if run.returncode != 0 and "onnxruntime" in run.stderr:
        pytest.skip(f"{ORT_PYTHON} has no onnxruntime: {run.stderr[-200:]}")
    assert run.returncode == 0, run.stderr
    total = 0
    for i, name in enumerate(names):
        outputs = dict(np.load(npys[i] + ".out.npz"))
        mine = json.loads(kt.postprocess(outputs, scales[i], metadata, 0.0, name, model.name))
        theirs = json.loads((out / (Path(name).stem + ".json")).read_text())
        assert (mine["width"], mine["height"]) == (theirs["width"], theirs["height"])
        assert len(mine["detections"]) == len(theirs["detections"])
        for a, b in zip(mine["detections"], theirs["detections"]):
            assert a["label"] == b["label"] and abs(a["score"] - b["score"]) < 1e-4
            assert np.allclose(a["box"], b["box"], atol=1e-3)
            assert [k["name"] for k in a["keypoints"]] == [k["name"] for k in b["keypoints"]]
            assert np.allclose([(k["x"], k["y"]) for k in a["keypoints"]],
                               [(k["x"], k["y"]) for k in b["keypoints"]], atol=1e-3)
        total += len(theirs["detections"])
    assert total > 0, "no detections at threshold 0: the comparison compared nothing"


def test_resize_matches_kprcnn_input_size():
    assert kt.plan_resize(640, 480, 512) == (682, 512)
    assert kt.plan_resize(7, 7, 800) == (799, 800)


def test_errors(tmp_path):
    r = cli("triton-repo", tmp_path / "missing.onnx", tmp_path / "repo")
    assert r.returncode != 0 and "missing.onnx" in r.stderr
    assert not (tmp_path / "repo" / "missing").exists()
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    r = cli("triton-repo", junk, tmp_path / "repo")
    assert r.returncode != 0 and "error:" in r.stderr and not (tmp_path / "repo" / "junk").exists()
    model = trained_model()
    (tmp_path / "repo" / "m").mkdir(parents=True)
    (tmp_path / "repo" / "m" / "keep").write_text("x")
    r = cli("triton-repo", model, tmp_path / "repo", "--name", "m")
    assert r.returncode != 0 and "--force" in r.stderr
    assert (tmp_path / "repo" / "m" / "keep").exists()
    r = cli("triton-repo", model, tmp_path / "repo", "--name", "m", "--force")
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "repo" / "m" / "keep").exists() and (tmp_path / "repo" / "m" / "config.pbtxt").exists()
