"""`kprcnn optimize` and `kprcnn predict --coco` end to end on tiny hand-built ONNX models (milliseconds each).
The real model's optimisation (parity kept) is checked in tests/model/test_optimize.py."""
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from test_cli import COLORMAP, fake_detector, read_json, run  # noqa: E402

CLI = os.environ.get("KPRCNN_CLI", "")
pytestmark = pytest.mark.skipif(not CLI or not Path(CLI).exists(), reason="KPRCNN_CLI not built")

EXIT_OK, EXIT_ARGS, EXIT_IO, EXIT_MODEL = 0, 2, 3, 5


def foldable_model(path):
    """input -> Add(input, c1 + c2) with c1 + c2 a constant subexpression, plus Identity chains: basic
    optimisation folds the constant Add and removes the Identities. Carries metadata."""
    c1 = numpy_helper.from_array(np.ones((1,), np.float32), "c1")
    c2 = numpy_helper.from_array(np.full((1,), 2.0, np.float32), "c2")
    nodes = [
        helper.make_node("Add", ["c1", "c2"], ["c"]),
        helper.make_node("Identity", ["c"], ["c_id"]),
        helper.make_node("Add", ["input", "c_id"], ["sum"]),
        helper.make_node("Identity", ["sum"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, "h", "w"])], initializer=[c1, c2])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    metadata = {"kprcnn.colormap": json.dumps(COLORMAP), "kprcnn.export_options": '{"opset_version": 13}'}
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return path


def metadata(path):
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


# --- kprcnn optimize --------------------------------------------------------------------------------------------


def test_optimize_basic_folds_and_keeps_metadata(tmp_path):
    src = foldable_model(tmp_path / "in.onnx")
    out = tmp_path / "out" / "opt.onnx"
    out.parent.mkdir()
    proc = run("optimize", src, out, check=EXIT_OK)
    assert "nodes: 4 -> 1" in proc.stdout, proc.stdout
    assert " MB -> " in proc.stdout and "warning" not in proc.stderr
    optimized = onnx.load(str(out))
    onnx.checker.check_model(optimized)
    assert [n.op_type for n in optimized.graph.node] == ["Add"]
    assert metadata(out) == metadata(src)
    assert sorted(p.name for p in out.parent.iterdir()) == ["opt.onnx"]  # written via a temporary, renamed


@pytest.mark.parametrize("level", ["extended", "all"])
def test_higher_levels_warn_that_the_result_is_machine_specific(tmp_path, level):
    src = foldable_model(tmp_path / "in.onnx")
    proc = run("optimize", src, tmp_path / "opt.onnx", "--level", level, check=EXIT_OK)
    assert "warning" in proc.stderr and "tied to this machine" in proc.stderr
    assert metadata(tmp_path / "opt.onnx") == metadata(src)


def test_optimize_in_place(tmp_path):
    src = foldable_model(tmp_path / "m.onnx")
    expected = metadata(src)
    run("optimize", src, src, check=EXIT_OK)
    assert len(onnx.load(str(src)).graph.node) == 1 and metadata(src) == expected


def test_optimize_refusals_leave_nothing(tmp_path):
    src = foldable_model(tmp_path / "in.onnx")
    assert run("optimize", src, tmp_path / "o.onnx", "--level", "turbo").returncode == EXIT_ARGS
    assert run("optimize", tmp_path / "missing.onnx", tmp_path / "o.onnx").returncode == EXIT_ARGS
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage, not a model")
    proc = run("optimize", bad, tmp_path / "o.onnx", check=EXIT_MODEL)
    assert "cannot optimize model" in proc.stderr
    proc = run("optimize", src, tmp_path / "no" / "such" / "o.onnx", check=EXIT_IO)
    assert "cannot write" in proc.stderr and "exist?" in proc.stderr  # the atomic writer's message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.onnx", "in.onnx"]


# --- kprcnn predict --coco --------------------------------------------------------------------------------------


def two_detections(path):
    return fake_detector(
        path,
        boxes=[[10, 20, 30, 60], [0, 0, 100, 50]],
        scores=[0.95, 0.9],
        keypoints=[[[10, 20, 1], [20, 30, 1], [30, 40, 1]], [[1, 2, 1], [3, 4, 1], [5, 6, 1]]],
        kp_scores=[[1, 2, 3], [4, 5, 6]],
        labels=[1, 2],
        colormap=COLORMAP,
    )


def images(folder, names, size=(200, 100)):
    folder.mkdir()
    for name in names:
        Image.new("RGB", size, (90, 120, 150)).save(folder / name)
    return folder


def test_coco_results_file(tmp_path):
    model = two_detections(tmp_path / "fake.onnx")
    src = images(tmp_path / "val2017", ["000000000139.png", "000000397133.png"])
    coco = tmp_path / "results.json"
    # --size 100: the input tensor is the image itself (scale 1), so coordinates are the model's.
    proc = run("predict", "-m", model, "-i", src, "-o", tmp_path / "out", "--size", 100, "--coco", coco, check=EXIT_OK)
    assert "wrote COCO results of 2 images" in proc.stderr
    results = read_json(coco)
    assert [r["image_id"] for r in results] == [139, 139, 397133, 397133]  # numeric stems
    first = results[0]
    assert set(first) == {"image_id", "category_id", "keypoints", "score", "bbox"}
    assert first["category_id"] == 1 and first["score"] == pytest.approx(0.95)
    assert first["keypoints"] == pytest.approx([10, 20, 2, 20, 30, 2, 30, 40, 2])
    assert first["bbox"] == pytest.approx([10, 20, 20, 40])  # x, y, width, height
    assert results[1]["category_id"] == 2
    # The per-image JSON is still written next to it.
    assert len(read_json(tmp_path / "out" / "000000000139.json")["detections"]) == 2


def test_coco_ids_fall_back_to_positions(tmp_path):
    model = two_detections(tmp_path / "fake.onnx")
    src = images(tmp_path / "imgs", ["b.png", "a.png", "7.png"])
    coco = tmp_path / "r.json"
    run("predict", "-m", model, "-i", src, "-o", tmp_path / "out", "--threshold", 0.92, "--coco", coco, check=EXIT_OK)
    # Sorted order 7.png, a.png, b.png; not all stems are numbers, so 1-based positions.
    assert [r["image_id"] for r in read_json(coco)] == [1, 2, 3]


def test_coco_with_no_detections_is_an_empty_list(tmp_path):
    model = fake_detector(tmp_path / "none.onnx", boxes=[], scores=[], keypoints=[], kp_scores=[], colormap=COLORMAP)
    src = images(tmp_path / "imgs", ["1.png"])
    run("predict", "-m", model, "-i", src, "-o", tmp_path / "out", "--coco", tmp_path / "r.json", check=EXIT_OK)
    assert read_json(tmp_path / "r.json") == []


def test_coco_bad_path_fails_before_any_image(tmp_path):
    model = two_detections(tmp_path / "fake.onnx")
    src = images(tmp_path / "imgs", ["1.png"])
    proc = run("predict", "-m", model, "-i", src, "-o", tmp_path / "out", "--coco", tmp_path / "no" / "r.json",
               check=EXIT_IO)
    assert "does not exist" in proc.stderr and not (tmp_path / "out" / "1.json").exists()
    proc = run("predict", "-m", model, "-i", src, "-o", tmp_path / "out", "--coco", tmp_path, check=EXIT_IO)
    assert "is a folder" in proc.stderr
