"""Export knobs: defaults are torchvision's, validation, each knob reaches the model and the metadata (cheaply:
no real export here; the model tests export once with --box-score-thresh and check the graph's behaviour)."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
import torch
from conftest import head_state
from torchvision.models.detection import KeypointRCNN

import kprcnn_export.__main__ as cli
from kprcnn_export import ExportError
from kprcnn_export.checkpoint import CheckpointInfo, build_model
from kprcnn_export.colormap import default_colormap
from kprcnn_export.export import export_options, metadata_values
from kprcnn_export.options import ModelOptions

CUSTOM = ModelOptions(
    min_size=512,
    max_size=900,
    box_score_thresh=0.7,
    box_nms_thresh=0.4,
    detections_per_img=20,
    rpn_pre_nms_top_n=300,
    rpn_post_nms_top_n=200,
)


def test_defaults_are_torchvisions():
    params = inspect.signature(KeypointRCNN.__init__).parameters
    kwargs = ModelOptions().torchvision_kwargs()
    for name, value in kwargs.items():
        if name == "min_size":
            continue  # KeypointRCNN's None means (640, ..., 800) for training; evaluation uses the last, 800
        assert params[name].default == value, name
    assert kwargs["min_size"] == 800


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"min_size": 8}, "--min-size 8 must be at least 32"),
        ({"min_size": 800, "max_size": 600}, "--max-size 600 must be at least --min-size 800"),
        ({"box_score_thresh": 1.0}, "--box-score-thresh 1.0 must be in [0, 1)"),
        ({"box_score_thresh": float("nan")}, "--box-score-thresh nan"),
        ({"box_nms_thresh": 0.0}, "--box-nms-thresh 0.0 must be in (0, 1]"),
        ({"detections_per_img": 0}, "--detections-per-img 0 must be at least 1"),
        ({"rpn_pre_nms_top_n": 0}, "--rpn-pre-nms-top-n 0"),
        ({"rpn_post_nms_top_n": -1}, "--rpn-post-nms-top-n -1"),
    ],
)
def test_validation(changes, fragment):
    with pytest.raises(ExportError) as info:
        ModelOptions(**changes).validate()
    assert fragment in str(info.value)


def test_every_knob_reaches_the_model(state_dict):
    info = CheckpointInfo(Path("x.pth"), "test", 3, 2, len(state_dict))
    model = build_model(dict(state_dict), info, CUSTOM)
    assert model.transform.min_size[-1] == 512 and model.transform.max_size == 900
    assert model.roi_heads.score_thresh == 0.7 and model.roi_heads.nms_thresh == 0.4
    assert model.roi_heads.detections_per_img == 20
    assert model.rpn._pre_nms_top_n["testing"] == 300 and model.rpn._post_nms_top_n["testing"] == 200


def test_every_knob_is_recorded_in_the_metadata():
    torch_settings = {"opset_version": 16, "batch_size": 1, "do_constant_folding": True}
    options = export_options(torch_settings, CUSTOM, simplify="kprcnn optimize", verify=True, verify_images=["a.jpg"])
    info = CheckpointInfo(Path("/t/best.pth"), "test", 3, 2, 10)
    meta = metadata_values(default_colormap(3), info, 16, "ab" * 32, options)
    recorded = json.loads(meta["kprcnn.export_options"])
    assert {k: recorded[k] for k in CUSTOM.to_dict()} == CUSTOM.to_dict()
    assert recorded["opset_version"] == 16 and recorded["batch_size"] == 1
    assert recorded["simplify"] == "kprcnn optimize" and recorded["verify"] is True
    assert recorded["verify_images"] == ["a.jpg"]
    assert meta["kprcnn.checkpoint_name"] == "best.pth" and meta["kprcnn.opset"] == "16"
    assert [i["label"] for i in json.loads(meta["kprcnn.colormap"])["items"]] == ["kp0", "kp1", "kp2"]


def test_command_line_flags_map_to_the_options(tmp_path, monkeypatch):
    """Each --knob lands in the right ModelOptions field (export_onnx replaced: nothing is exported)."""
    seen = {}

    def fake_export(checkpoint, colormap, **kwargs):
        seen.update(kwargs, checkpoint=checkpoint, colormap=colormap)
        raise ExportError("stop here")

    monkeypatch.setattr("kprcnn_export.export.export_onnx", fake_export)
    torch.save(head_state(), tmp_path / "best.pth")
    argv = [
        "--checkpoint", str(tmp_path / "best.pth"), "--min-size", "512", "--max-size", "900",
        "--box-score-thresh", "0.7", "--box-nms-thresh", "0.4", "--detections-per-img", "20",
        "--rpn-pre-nms-top-n", "300", "--rpn-post-nms-top-n", "200", "--opset", "17", "--batch-size", "1",
        "--skeleton", "kp0", "kp1", "--skeleton", "kp1", "kp2", "--simplify", "--verify-image", "x.jpg",
    ]  # fmt: skip
    assert cli.main(argv) == 1
    assert seen["options"] == CUSTOM and seen["opset"] == 17 and seen["batch_size"] == 1
    assert seen["skeleton"] == [("kp0", "kp1"), ("kp1", "kp2")] and seen["simplify"] is True
    assert seen["verify"] is True and seen["verify_images"] == ["x.jpg"] and seen["colormap"] is None
