"""Finding and loading checkpoints: layouts, K / class inference, architecture checks (no export here)."""

from __future__ import annotations

import argparse
import math

import pytest
import torch
import torchvision
from conftest import head_state
from torchvision.models.detection import KeypointRCNN
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.ops.misc import FrozenBatchNorm2d

from kprcnn_export import ExportError, build_model, find_inputs, load_checkpoint
from kprcnn_export.checkpoint import CLASS_WEIGHT, KEYPOINT_WEIGHT, CheckpointInfo


def save(tmp_path, obj, name="ckpt.pth"):
    path = tmp_path / name
    torch.save(obj, path)
    return path


# --- finding the inputs of a training folder ------------------------------------------------------------------


def touch(folder, *names):
    for name in names:
        (folder / name).write_bytes(b"x")


def test_find_inputs_picks_the_one_checkpoint_and_colormap(tmp_path):
    touch(tmp_path, "best.pth", "hands-colormap.json", "notes.txt", "train.log")
    assert find_inputs(tmp_path) == (tmp_path / "best.pth", tmp_path / "hands-colormap.json")


@pytest.mark.parametrize("name", ["model.pt", "pytorch_model.bin"])
def test_find_inputs_accepts_pt_and_bin(tmp_path, name):
    touch(tmp_path, name, "a-colormap.json")
    assert find_inputs(tmp_path)[0] == tmp_path / name


@pytest.mark.parametrize("others", [[], ["colormap.json", "notes.txt"]])
def test_find_inputs_without_a_colormap(tmp_path, others):
    touch(tmp_path, "best.pth", *others)
    assert find_inputs(tmp_path) == (tmp_path / "best.pth", None)


@pytest.mark.parametrize(
    "names, fragments",
    [
        ([], ["checkpoint (*.pth, *.pt, *.bin), found none"]),
        (["a-colormap.json"], ["checkpoint (*.pth, *.pt, *.bin), found none"]),
        (["best.pth", "last.pt", "a-colormap.json"], ["found best.pth, last.pt"]),
        (["best.pth", "a-colormap.json", "b-colormap.json"], ["at most one *-colormap.json, found a-colormap.json"]),
    ],
)
def test_find_inputs_explains_what_it_found(tmp_path, names, fragments):
    touch(tmp_path, *names)
    with pytest.raises(ExportError) as info:
        find_inputs(tmp_path)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message
    assert "--checkpoint and --colormap" in message


def test_find_inputs_needs_a_folder(tmp_path):
    with pytest.raises(ExportError, match="is not a folder"):
        find_inputs(tmp_path / "nope")


# --- layouts ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "wrap, layout",
    [
        (lambda sd: sd, "a plain state_dict"),
        (lambda sd: {"model": sd, "epoch": 12, "optimizer": {"lr": 0.01, "betas": (0.9, 0.999)}}, 'the "model" entry'),
        (lambda sd: {"state_dict": sd, "epoch": 3}, 'the "state_dict" entry'),
        (lambda sd: {"model_state_dict": sd, "optimizer_state_dict": {"state": {}}}, 'the "model_state_dict" entry'),
        (lambda sd: {"module." + k: v for k, v in sd.items()}, "a plain state_dict"),
        (lambda sd: {"model": {"module." + k: v for k, v in sd.items()}}, 'the "model" entry'),
    ],
    ids=["plain", "model", "state_dict", "model_state_dict", "module-prefix", "model+module-prefix"],
)
def test_checkpoint_layouts(tmp_path, wrap, layout):
    state, info = load_checkpoint(save(tmp_path, wrap(head_state(3, 2))))
    assert info.layout == layout
    assert (info.num_keypoints, info.num_classes) == (3, 2)
    assert KEYPOINT_WEIGHT in state and not any(k.startswith("module.") for k in state)


def test_k_and_classes_come_from_the_predictor_shapes(tmp_path):
    _, info = load_checkpoint(save(tmp_path, head_state(num_keypoints=17, num_classes=5)))
    assert (info.num_keypoints, info.num_classes) == (17, 5)


def test_full_random_checkpoint_shapes(state_dict):
    # ConvTranspose2d(512, K, 4, 4) stores [in_channels, out_channels, kH, kW]; Linear(1024, C) stores [C, 1024].
    assert tuple(state_dict[KEYPOINT_WEIGHT].shape) == (512, 3, 4, 4)
    assert tuple(state_dict[CLASS_WEIGHT].shape) == (2, 1024)


@pytest.fixture(scope="module")
def whole_model():
    """A random-init keypointrcnn_resnet50_fpn object (K=3, 2 classes), as torch.save(model) would pickle it."""
    from torchvision.models.detection import keypointrcnn_resnet50_fpn

    torch.manual_seed(0)
    return keypointrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_keypoints=3, num_classes=2).eval()


@pytest.mark.parametrize(
    "wrap, layout",
    [
        (lambda m: m, "a pickled nn.Module"),
        (lambda m: {"model": m, "epoch": 7}, 'a pickled nn.Module under "model"'),
        (lambda m: torch.nn.DataParallel(m), "a pickled nn.Module"),  # keys "module.*", stripped
    ],
    ids=["model", "model-entry", "dataparallel"],
)
def test_whole_pickled_model_needs_trust(tmp_path, whole_model, wrap, layout):
    path = save(tmp_path, wrap(whole_model), "whole.bin")
    with pytest.raises(ExportError) as info:
        load_checkpoint(path)
    assert "whole pickled model" in str(info.value) and "--trust-checkpoint" in str(info.value)
    state, loaded = load_checkpoint(path, trust=True)
    assert loaded.layout == layout and (loaded.num_keypoints, loaded.num_classes) == (3, 2)
    expected = whole_model.state_dict()
    assert state.keys() == expected.keys() and all(torch.equal(state[k], expected[k]) for k in expected)


def test_python_objects_need_trust(tmp_path):
    path = save(tmp_path, {"model": head_state(), "args": argparse.Namespace(lr=0.1)})
    with pytest.raises(ExportError) as info:
        load_checkpoint(path)
    assert "--trust-checkpoint" in str(info.value) and "Namespace" in str(info.value)
    _, loaded = load_checkpoint(path, trust=True)
    assert loaded.num_keypoints == 3


@pytest.mark.parametrize(
    "obj, fragment",
    [
        ({"epoch": 3, "optimizer": {}}, 'keys epoch, optimizer'),
        ([torch.zeros(1)], "holds a list"),
        ({"model": {"a": 1}}, "holds no state_dict"),
    ],
)
def test_no_state_dict_inside(tmp_path, obj, fragment):
    with pytest.raises(ExportError, match="holds") as info:
        load_checkpoint(save(tmp_path, obj))
    assert fragment in str(info.value)


def test_not_a_keypoint_rcnn(tmp_path):
    state = head_state()
    del state[KEYPOINT_WEIGHT]  # e.g. a Faster/Mask R-CNN checkpoint
    with pytest.raises(ExportError, match="not a torchvision Keypoint R-CNN.*kps_score_lowres"):
        load_checkpoint(save(tmp_path, state))


@pytest.mark.parametrize(
    "key, tensor, fragment",
    [
        (KEYPOINT_WEIGHT, torch.zeros(512, 3, 3, 3), "expected [channels, K, 4, 4]"),
        (CLASS_WEIGHT, torch.zeros(1, 1024), "num_classes >= 2"),
        ("roi_heads.box_predictor.bbox_pred.weight", torch.zeros(12, 1024), "inconsistent"),
    ],
)
def test_bad_predictor_shapes(tmp_path, key, tensor, fragment):
    state = head_state()
    state[key] = tensor
    with pytest.raises(ExportError) as info:
        load_checkpoint(save(tmp_path, state))
    assert fragment in str(info.value)


def test_non_finite_weights_are_rejected(tmp_path):
    state = head_state()
    state[CLASS_WEIGHT][0, 0] = math.nan
    with pytest.raises(ExportError, match="NaN or Inf.*cls_score"):
        load_checkpoint(save(tmp_path, state))


# --- building the model -----------------------------------------------------------------------------------------


def info_for(state, k=3, c=2):
    return CheckpointInfo(path=__import__("pathlib").Path("x.pth"), layout="test", num_keypoints=k, num_classes=c,
                          num_tensors=len(state))


def test_build_model_loads_every_weight(state_dict):
    model = build_model(dict(state_dict), info_for(state_dict))
    assert not model.training
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state_dict.items())


def frozen_bn_state(k=3, c=2):
    """What fine-tuning from pretrained weights leaves: a FrozenBatchNorm2d backbone (no num_batches_tracked)."""
    torch.manual_seed(1)
    backbone = torchvision.models.resnet50(weights=None, norm_layer=FrozenBatchNorm2d)
    model = KeypointRCNN(_resnet_fpn_extractor(backbone, 3), num_classes=c, num_keypoints=k).eval()
    # FrozenBatchNorm2d starts as the identity; give it non-trivial statistics, as training would.
    for module in model.modules():
        if isinstance(module, FrozenBatchNorm2d):
            n = module.weight.numel()
            module.weight.copy_(torch.rand(n) + 0.5)
            module.bias.copy_(torch.randn(n) * 0.1)
            module.running_mean.copy_(torch.randn(n) * 0.1)
            module.running_var.copy_(torch.rand(n) + 0.5)
    return model, model.state_dict()


def test_frozen_batchnorm_checkpoint_loads_and_computes_the_same():
    frozen, state = frozen_bn_state()
    assert not any(k.endswith("num_batches_tracked") for k in state)
    model = build_model(dict(state), info_for(state))
    assert isinstance(model.backbone.body.bn1, torch.nn.BatchNorm2d)
    x = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected, got = frozen.backbone(x), model.backbone(x)
    for name in expected:
        # Same math in another order: equal up to float32 rounding of activations that reach the thousands.
        scale = float(expected[name].abs().max())
        assert float((got[name] - expected[name]).abs().max()) <= 1e-5 * scale, name


def test_missing_and_unexpected_keys_are_named(state_dict):  # fault row 15
    state = dict(state_dict)
    del state["roi_heads.keypoint_head.0.weight"]
    state["roi_heads.mask_head.mask_fcn1.weight"] = torch.zeros(1)
    with pytest.raises(ExportError) as info:
        build_model(state, info_for(state))
    message = str(info.value)
    assert "1 missing key(s): roi_heads.keypoint_head.0.weight" in message
    assert "1 unexpected key(s): roi_heads.mask_head.mask_fcn1.weight" in message
    assert "resnet50_fpn" in message


def test_shape_mismatch_is_an_architecture_error(state_dict):
    state = dict(state_dict)
    state["backbone.body.conv1.weight"] = torch.zeros(64, 3, 3, 3)
    with pytest.raises(ExportError, match="does not fit resnet50_fpn.*backbone.body.conv1.weight"):
        build_model(state, info_for(state))
