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
from kprcnn_export.arch import PRESETS
from kprcnn_export.demo import write_colormap
from kprcnn_export.export import METADATA_KEYS, OUTPUT_NAMES
from kprcnn_export.options import ModelOptions

CLI = os.environ.get("KPRCNN_CLI", "")
needs_cli = pytest.mark.skipif(not CLI or not Path(CLI).exists(), reason="KPRCNN_CLI (the kprcnn binary) not set")

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
    defaults = ModelOptions().resolve(PRESETS["resnet50_fpn"]).to_dict()  # torchvision's, sizes 800 / 1333 included
    assert {k: options[k] for k in defaults} == defaults and (defaults["min_size"], defaults["max_size"]) == (800, 1333)
    assert json.loads(meta["kprcnn.arch"])["name"] == "resnet50_fpn"
    assert options["simplify"] is None and options["verify"] is bool(CLI)


@needs_cli
def test_export_is_verified_against_pytorch(exported):
    """The session export ran eager and ONNX Runtime (kprcnn predict) on a blank image, then a scene, and agreed."""
    result = exported[0]
    assert "verified against PyTorch on 2 images" in result.stdout, result.stdout + result.stderr
    assert "max |diff| boxes" in result.stdout
    lines = [ln for ln in result.stderr.splitlines() if "(PyTorch) vs" in ln]
    assert [ln.split()[1] for ln in lines] == ["a_blank", "b_scene"], result.stderr
    assert "b_scene (480x320)" in lines[1] and "a_blank (320x400)" in lines[0]
    print("\n".join(lines))


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
    assert run_exporter("--colormap", "c.json").returncode == 2  # no checkpoint
    assert run_exporter("--checkpoint", "x.pth", "--no-verify", "--verify-image", "a.jpg").returncode == 2


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
def test_corrupt_checkpoints(tmp_path, colormap_file, kind, fragment):  # fault row 15
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


def test_keypoint_count_mismatch(tmp_path):  # fault row 15
    torch.save(head_state(num_keypoints=3), tmp_path / "best.pth")
    write_colormap(tmp_path / "four-colormap.json", ("a", "b", "c", "d"))
    assert_failed(run_exporter(tmp_path), "has 4 keypoints", "trained with 3", "use the colormap")
    assert leftovers(tmp_path) == []


def test_failure_keeps_an_existing_output(tmp_path):  # fault row 15
    torch.save(head_state(num_keypoints=3), tmp_path / "best.pth")
    write_colormap(tmp_path / "four-colormap.json", ("a", "b", "c", "d"))
    old = tmp_path / "four-best.onnx"
    old.write_bytes(b"the previous model")
    assert_failed(run_exporter(tmp_path), "has 4 keypoints")
    assert old.read_bytes() == b"the previous model"
    assert leftovers(tmp_path) == ["four-best.onnx"]


def test_wrong_architecture(tmp_path, training_folder, state_dict):  # fault row 15
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


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--batch-size", "4"], ["batch size 4 is not supported", "batch size 1"]),
        (["--box-score-thresh", "1.5"], ["--box-score-thresh 1.5 must be in [0, 1)"]),
        (["--min-size", "1000", "--max-size", "900"], ["--max-size 900 must be at least --min-size 1000"]),
        (["--skeleton", "left", "nose"], ['unknown label "nose"']),
    ],
    ids=["batch", "thresh", "sizes", "skeleton"],
)
def test_bad_knobs(tmp_path, colormap_file, args, fragments):
    torch.save(head_state(), tmp_path / "best.pth")
    assert_failed(run_exporter(tmp_path, "--no-verify", *args), *fragments)
    assert leftovers(tmp_path) == []


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


def test_fpn_levels_are_merged_by_one_gather(exported):
    """MultiScaleRoIAlign's rows go back in order through one Gather, not a ScatterElements over [N, C, H, W] per
    FPN level (what torchvision traces): 1-D index scatters only, one per pooler (box and keypoint heads)."""
    from kprcnn_export.export import _subgraphs

    scatters = [n for g in _subgraphs(exported[2].graph) for n in g.node if n.op_type == "ScatterElements"]
    assert len(scatters) == 2
    meta = {p.key: p.value for p in exported[2].metadata_props}
    assert json.loads(meta["kprcnn.export_options"])["roi_merge_levels"] == "gather"


@pytest.mark.parametrize("n", [0, 1, 7, 60])
@pytest.mark.parametrize("num_levels", [1, 4])
def test_merge_levels_by_gather_equals_torchvision(n, num_levels):
    from torchvision.ops import poolers

    from kprcnn_export.export import _merge_levels_by_gather

    generator = torch.Generator().manual_seed(n * 10 + num_levels)
    levels = torch.randint(0, num_levels, (n,), generator=generator)
    if n > 3:
        levels[2] = -5  # a region no level claims (NaN box): torchvision leaves its row zero
    results = [torch.randn(int((levels == k).sum()), 3, 2, 2, generator=generator) for k in range(num_levels)]
    expected = poolers._onnx_merge_levels(levels, results)
    assert torch.equal(_merge_levels_by_gather(levels, results), expected)


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


# --- the export flow around a fake graph (torch.onnx.export replaced by a tiny contract-valid model) -----------


def fake_graph_export(model, args, f, **kwargs):
    """Writes a model with the real interface whose outputs are constants (one detection, K=3)."""
    from onnx import TensorProto, helper, numpy_helper

    import numpy as np

    consts = {
        "boxes": np.array([[1, 2, 30, 40]], np.float32),
        "labels": np.array([1], np.int64),
        "scores": np.array([0.9], np.float32),
        "keypoints": np.ones((1, 3, 3), np.float32),
        "keypoints_scores": np.ones((1, 3), np.float32),
    }
    nodes, inits = [], []
    for name, value in consts.items():
        inits.append(numpy_helper.from_array(value, name + "_const"))
        # Two Identity nodes per output: something for an optimiser to remove.
        nodes.append(helper.make_node("Identity", [name + "_const"], [name + "_mid"]))
        nodes.append(helper.make_node("Identity", [name + "_mid"], [name]))
    types = {"labels": TensorProto.INT64}
    ranks = {"boxes": 2, "labels": 1, "scores": 1, "keypoints": 3, "keypoints_scores": 2}
    outputs = [
        helper.make_tensor_value_info(n, types.get(n, TensorProto.FLOAT), [f"d{i}" for i in range(ranks[n])])
        for n in consts
    ]
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "height", "width"])]
    graph = helper.make_graph(nodes, "fake", inputs, outputs, initializer=inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", kwargs["opset_version"])])
    proto.ir_version = 8
    onnx.save(proto, f)


def meta_of(path: Path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


def test_no_colormap_names_the_keypoints_and_records_the_knobs(small_folder, monkeypatch):
    monkeypatch.setattr(torch.onnx, "export", fake_graph_export)
    (small_folder / "hands-colormap.json").unlink()
    messages = []
    knobs = ModelOptions(min_size=640, box_score_thresh=0.5, detections_per_img=10)
    result = export_onnx(small_folder / "best.pth", options=knobs, verify=False, progress=messages.append)
    assert result.path == small_folder / "best.onnx" and result.labels == ("kp0", "kp1", "kp2")
    meta = meta_of(result.path)
    assert [i["label"] for i in json.loads(meta["kprcnn.colormap"])["items"]] == ["kp0", "kp1", "kp2"]
    options = json.loads(meta["kprcnn.export_options"])
    recorded = knobs.resolve(PRESETS["resnet50_fpn"]).to_dict()  # max_size: the architecture's 1333
    assert {k: options[k] for k in recorded} == recorded and recorded["min_size"] == 640
    assert any("no colormap: naming the 3 keypoints kp0, kp1, kp2" in m for m in messages)


def test_no_cli_warns_and_skips_verification(small_folder, monkeypatch, tmp_path):
    monkeypatch.setattr(torch.onnx, "export", fake_graph_export)
    monkeypatch.delenv("KPRCNN_CLI", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "no-binaries-here"))
    messages = []
    result = export_onnx(small_folder / "best.pth", small_folder / "hands-colormap.json", progress=messages.append)
    assert result.verification is None and result.path.is_file()
    warning = [m for m in messages if m.startswith("warning: verification skipped")]
    assert warning and "kprcnn export" in warning[0] and "KPRCNN_CLI" in warning[0]
    assert json.loads(meta_of(result.path)["kprcnn.export_options"])["verify"] is False


def test_failed_verification_leaves_no_output(small_folder, monkeypatch):
    monkeypatch.setattr(torch.onnx, "export", fake_graph_export)
    monkeypatch.setattr("kprcnn_export.export.find_cli", lambda: Path("/bin/true"))

    def disagree(*args, **kwargs):
        raise ExportError("verification failed: b_scene: box[0] 10.5, PyTorch 10.0")

    monkeypatch.setattr("kprcnn_export.export.verify_export", disagree)
    old = small_folder / "hands-best.onnx"
    old.write_bytes(b"the previous model")
    with pytest.raises(ExportError, match="verification failed"):
        export_onnx(small_folder / "best.pth", small_folder / "hands-colormap.json")
    assert old.read_bytes() == b"the previous model" and leftovers(small_folder) == ["hands-best.onnx"]


@needs_cli
def test_simplify_falls_back_to_kprcnn_optimize(small_folder, monkeypatch):
    try:
        import onnxsim  # noqa: F401

        pytest.skip("onnxsim is installed: the fallback does not run")
    except ImportError:
        pass
    monkeypatch.setattr(torch.onnx, "export", fake_graph_export)
    messages = []
    result = export_onnx(
        small_folder / "best.pth", small_folder / "hands-colormap.json", simplify=True, verify=False,
        progress=messages.append,
    )  # fmt: skip
    assert result.simplified_with == "kprcnn optimize (basic)"
    assert any("onnxsim is not installed: simplifying with `kprcnn optimize --level basic`" in m for m in messages)
    assert any("nodes: 10 -> " in m for m in messages), messages
    model = onnx.load(str(result.path))
    onnx.checker.check_model(model)
    assert len(model.graph.node) < 10
    meta = {p.key: p.value for p in model.metadata_props}
    assert set(METADATA_KEYS) <= set(meta)
    assert json.loads(meta["kprcnn.export_options"])["simplify"] == "kprcnn optimize"
    assert leftovers(small_folder) == ["hands-best.onnx"]
