"""The exporter end to end: one real export (session fixture) checked in detail, and every failure mode checked
for a clear one-line error, a non-zero exit, and no output or temporary file left behind."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from pathlib import Path

import onnx
import pytest
import torch
import torchvision
from conftest import LABELS, assert_failed, head_state, leftovers, run_exporter

import kprcnn_export
from kprcnn_export import ExportError, default_output_path, export_onnx
from kprcnn_export.demo import write_colormap
from kprcnn_export.export import METADATA_KEYS, OUTPUT_NAMES

# --- the real export --------------------------------------------------------------------------------------------


def dims(value: onnx.ValueInfoProto) -> list[object]:
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


def test_export_writes_the_default_name_and_a_summary(exported, training_folder):
    result, path, _ = exported
    assert path.name == "hands-best.onnx" and path.stat().st_size > 100_000_000
    assert str(path) in result.stdout
    assert "K=3 (left, right, top)" in result.stdout and " MB" in result.stdout and " s" in result.stdout
    assert leftovers(training_folder) == ["hands-best.onnx"]  # no temporary file beside it


def test_export_passes_onnx_checker(exported):
    onnx.checker.check_model(str(exported[1]))


def test_model_interface(exported):
    graph = exported[2].graph
    assert [i.name for i in graph.input] == ["input"]
    assert [o.name for o in graph.output] == list(OUTPUT_NAMES)
    (inp,) = graph.input
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert dims(inp) == [1, 3, "height", "width"]
    outputs = {o.name: o for o in graph.output}
    expected = {
        "boxes": (onnx.TensorProto.FLOAT, ["detections", 4]),
        "labels": (onnx.TensorProto.INT64, ["detections"]),
        "scores": (onnx.TensorProto.FLOAT, ["detections"]),
        "keypoints": (onnx.TensorProto.FLOAT, ["detections", 3, 3]),
        "keypoints_scores": (onnx.TensorProto.FLOAT, ["detections", 3]),
    }
    for name, (elem_type, shape) in expected.items():
        assert outputs[name].type.tensor_type.elem_type == elem_type, name
        assert dims(outputs[name]) == shape, name


def test_opset_and_producer(exported):
    model = exported[2]
    assert {o.domain: o.version for o in model.opset_import}[""] == 16
    assert model.producer_name == "kprcnn_export" and model.producer_version == kprcnn_export.__version__
    assert model.graph.name == "keypointrcnn_resnet50_fpn"
    assert "3 keypoints (left, right, top)" in model.doc_string


def test_metadata(exported, training_folder):
    meta = {p.key: p.value for p in exported[2].metadata_props}
    assert set(METADATA_KEYS) <= set(meta)
    colormap = json.loads(meta["kprcnn.colormap"])
    assert [item["label"] for item in colormap["items"]] == list(LABELS)
    assert all(len(item["color"]) == 3 and all(0 <= c <= 1 for c in item["color"]) for item in colormap["items"])
    assert colormap["skeleton"] == [["left", "top"], ["right", "top"]]
    assert meta["kprcnn.format"] == "1"
    assert meta["kprcnn.num_keypoints"] == "3" and meta["kprcnn.num_classes"] == "2"
    assert meta["kprcnn.exporter_version"] == kprcnn_export.__version__
    assert meta["kprcnn.torch_version"] == torch.__version__
    assert meta["kprcnn.torchvision_version"] == torchvision.__version__
    assert meta["kprcnn.onnx_version"] == onnx.__version__
    assert meta["kprcnn.opset"] == "16"
    assert meta["kprcnn.checkpoint_name"] == "best.pth"
    digest = hashlib.sha256((training_folder / "best.pth").read_bytes()).hexdigest()
    assert meta["kprcnn.checkpoint_sha256"] == digest
    options = json.loads(meta["kprcnn.export_options"])
    assert options["opset_version"] == 16 and options["batch_size"] == 1
    assert options["input_names"] == ["input"] and options["output_names"] == list(OUTPUT_NAMES)
    assert options["dynamic_axes"]["input"] == {"2": "height", "3": "width"}
    assert all(options["dynamic_axes"][name] == {"0": "detections"} for name in OUTPUT_NAMES)


# --- naming -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "checkpoint, colormap, expected",
    [
        ("/t/best.pth", "/t/hands-colormap.json", "/t/hands-best.onnx"),
        ("/a/model.pt", "/b/dogs-colormap.json", "/a/dogs-model.onnx"),
        ("/t/best.pth", "/t/keypoints.json", "/t/keypoints-best.onnx"),
        ("/t/best.pth", "/t/-colormap.json", "/t/best.onnx"),
    ],
)
def test_default_output_path(checkpoint, colormap, expected):
    assert default_output_path(checkpoint, colormap) == Path(expected)


# --- failures at the command line -------------------------------------------------------------------------------


def test_usage_errors_exit_2(tmp_path):
    assert run_exporter().returncode == 2
    assert run_exporter(tmp_path, "--checkpoint", "x.pth").returncode == 2
    assert run_exporter("--checkpoint", "x.pth").returncode == 2


@pytest.mark.parametrize(
    "names, fragment",
    [
        ([], "found none"),
        (["best.pth", "a-colormap.json", "b-colormap.json"], "found a-colormap.json, b-colormap.json"),
        (["best.pth", "last.pth", "a-colormap.json"], "found best.pth, last.pth"),
    ],
)
def test_folder_without_exactly_one_of_each(tmp_path, names, fragment):
    for name in names:
        (tmp_path / name).write_text("{}")
    assert_failed(run_exporter(tmp_path), fragment)
    assert leftovers(tmp_path) == []


def checkpoint_case(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / "best.pth"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("these are not the weights you are looking for\n")
    elif kind == "truncated":
        torch.save(head_state(), path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "garbage":
        path.write_bytes(bytes(range(256)) * 8)
    return path


@pytest.mark.parametrize(
    "kind, fragment",
    [
        ("empty", "is empty (0 bytes)"),
        ("text", "not a readable PyTorch checkpoint"),
        ("truncated", "not a readable PyTorch checkpoint"),
        ("garbage", "not a readable PyTorch checkpoint"),
    ],
)
def test_corrupt_checkpoints(tmp_path, colormap_file, kind, fragment):
    checkpoint = checkpoint_case(tmp_path, kind)
    last = assert_failed(run_exporter(tmp_path), fragment)
    assert str(checkpoint) in last
    assert leftovers(tmp_path) == []


def test_missing_checkpoint(tmp_path, colormap_file):
    assert_failed(run_exporter("--checkpoint", tmp_path / "nope.pth", "--colormap", colormap_file), "does not exist")
    assert leftovers(tmp_path) == []


def test_bad_colormap_fails_before_loading(tmp_path):
    torch.save(head_state(), tmp_path / "best.pth")
    (tmp_path / "x-colormap.json").write_text('{"items": [{"label": "a", "color": [255, 0, 0]}]}')
    assert_failed(run_exporter(tmp_path), "x-colormap.json", "divide by 255")
    assert leftovers(tmp_path) == []


def test_keypoint_count_mismatch(tmp_path):
    torch.save(head_state(num_keypoints=3), tmp_path / "best.pth")
    write_colormap(tmp_path / "four-colormap.json", ("a", "b", "c", "d"))
    assert_failed(run_exporter(tmp_path), "has 4 keypoints", "trained with 3", "use the colormap")
    assert leftovers(tmp_path) == []


def test_failure_keeps_an_existing_output(tmp_path):
    torch.save(head_state(num_keypoints=3), tmp_path / "best.pth")
    write_colormap(tmp_path / "four-colormap.json", ("a", "b", "c", "d"))
    old = tmp_path / "four-best.onnx"
    old.write_bytes(b"the previous model")
    assert_failed(run_exporter(tmp_path), "has 4 keypoints")
    assert old.read_bytes() == b"the previous model"
    assert leftovers(tmp_path) == ["four-best.onnx"]


def test_wrong_architecture(tmp_path, training_folder, state_dict):
    state = dict(state_dict)
    state["roi_heads.keypoint_head.extra.weight"] = torch.zeros(1)
    del state["backbone.fpn.layer_blocks.0.0.weight"]
    torch.save(state, tmp_path / "odd.pth")
    write_colormap(tmp_path / "x-colormap.json", LABELS)
    assert_failed(run_exporter(tmp_path), "missing key(s): backbone.fpn.layer_blocks.0.0.weight", "unexpected key(s)")
    assert leftovers(tmp_path) == []


def test_untrusted_pickle_is_refused(tmp_path, colormap_file):
    torch.save({"model": head_state(), "args": argparse_namespace()}, tmp_path / "best.pth")
    assert_failed(run_exporter(tmp_path), "--trust-checkpoint")
    assert leftovers(tmp_path) == []


def argparse_namespace():
    import argparse

    return argparse.Namespace(lr=0.01)


def test_output_folder_missing(tmp_path, colormap_file):
    torch.save(head_state(), tmp_path / "best.pth")
    out = tmp_path / "no" / "such" / "model.onnx"
    assert_failed(run_exporter(tmp_path, "-o", out), "does not exist")
    assert not out.parent.exists() and leftovers(tmp_path) == []


def test_output_is_a_folder(tmp_path, colormap_file):
    torch.save(head_state(), tmp_path / "best.pth")
    assert_failed(run_exporter(tmp_path, "-o", tmp_path), "is a folder")


def test_output_folder_unwritable(tmp_path, colormap_file):
    torch.save(head_state(), tmp_path / "best.pth")
    if os.geteuid() == 0:
        folder = Path("/proc")  # root writes anywhere a mode allows; procfs refuses new files even to root
    else:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o555)
    try:
        assert_failed(run_exporter(tmp_path, "-o", folder / "model.onnx"), "cannot write to output folder")
    finally:
        if folder != Path("/proc"):
            folder.chmod(0o755)
    assert not (folder / "model.onnx").exists()


def test_bad_opset(tmp_path, colormap_file):
    torch.save(head_state(), tmp_path / "best.pth")
    assert_failed(run_exporter(tmp_path, "--opset", "9"), "opset 9 is not supported")


# --- failures during the export itself (in-process, torch.onnx.export replaced so no real export runs) -----------


@pytest.fixture
def small_folder(tmp_path, training_folder):
    """A folder with the session's full checkpoint (hard-linked or copied) and a colormap."""
    target = tmp_path / "best.pth"
    try:
        os.link(training_folder / "best.pth", target)
    except OSError:
        shutil.copyfile(training_folder / "best.pth", target)
    write_colormap(tmp_path / "hands-colormap.json", LABELS)
    return tmp_path


def test_disk_full_during_export_leaves_nothing(small_folder, monkeypatch):
    def fake_export(model, args, f, **kwargs):
        with open(f, "wb") as out:
            out.write(b"partial model bytes")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), f)

    monkeypatch.setattr(torch.onnx, "export", fake_export)
    with pytest.raises(ExportError, match="No space left on device"):
        export_onnx(small_folder / "best.pth", small_folder / "hands-colormap.json")
    assert leftovers(small_folder) == []


def test_interrupt_during_export_leaves_nothing(small_folder, monkeypatch):
    def fake_export(model, args, f, **kwargs):
        Path(f).write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch.onnx, "export", fake_export)
    with pytest.raises(KeyboardInterrupt):
        export_onnx(small_folder / "best.pth", small_folder / "hands-colormap.json")
    assert leftovers(small_folder) == []


def test_exporter_contract_check(small_folder, monkeypatch):
    """A torch/torchvision that renamed the outputs would be caught before anything is written."""

    def fake_export(model, args, f, **kwargs):
        x = onnx.helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, [1, 3, None, None])
        y = onnx.helper.make_tensor_value_info("output", onnx.TensorProto.FLOAT, [None])
        graph = onnx.helper.make_graph([onnx.helper.make_node("Identity", ["input"], ["output"])], "g", [x], [y])
        onnx.save(onnx.helper.make_model(graph), f)

    monkeypatch.setattr(torch.onnx, "export", fake_export)
    with pytest.raises(ExportError, match="outputs \\['output'\\]"):
        export_onnx(small_folder / "best.pth", small_folder / "hands-colormap.json")
    assert leftovers(small_folder) == []


# --- RoiAlign pixel model ---------------------------------------------------------------------------------------


def roi_align_nodes(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    from kprcnn_export.export import _subgraphs

    return [n for g in _subgraphs(model.graph) for n in g.node if n.op_type == "RoiAlign"]


def test_exported_roi_align_matches_torchvision_aligned_false(exported):
    nodes = roi_align_nodes(exported[2])
    assert len(nodes) == 8  # 4 FPN levels, box and keypoint heads
    for node in nodes:
        modes = [a.s.decode() for a in node.attribute if a.name == "coordinate_transformation_mode"]
        assert modes == ["output_half_pixel"], node.name
    meta = {p.key: p.value for p in exported[2].metadata_props}
    assert json.loads(meta["kprcnn.export_options"])["roi_align_mode_fixed"] == 8


class _RoiAlign(torch.nn.Module):
    def forward(self, x):
        rois = torch.tensor([[0.0, 1.5, 2.0, 10.0, 12.5]])
        return torchvision.ops.roi_align(x, rois, (2, 2), spatial_scale=0.5, sampling_ratio=2, aligned=False)


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
@pytest.mark.parametrize("opset, changed", [(11, 0), (16, 1)])
def test_fix_roi_align(tmp_path, opset, changed):
    from kprcnn_export.export import _fix_roi_align

    path = tmp_path / "roi.onnx"
    torch.onnx.export(_RoiAlign(), (torch.rand(1, 1, 16, 16),), str(path), opset_version=opset)
    model = onnx.load(str(path))
    assert _fix_roi_align(model, opset) == changed
    (node,) = roi_align_nodes(model)
    modes = [a.s.decode() for a in node.attribute if a.name == "coordinate_transformation_mode"]
    assert modes == (["output_half_pixel"] if changed else [])
    assert _fix_roi_align(model, opset) == 0  # a stated mode is left alone
    onnx.checker.check_model(model)
