"""Any torchvision Keypoint R-CNN with a ResNet-FPN backbone is recognised from its checkpoint: kprcnn train's
presets (with their recorded architecture), and the variants users build from torchvision without one
(resnet_fpn_backbone with resnet18/34/50/101, other head widths and depths). The model rebuilt from the checkpoint
computes what the user's model computes; what cannot be placed is an error naming the keys."""

from __future__ import annotations

import pytest
import torch
from conftest import run_exporter
from torchvision.models.detection import KeypointRCNN
from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
from torchvision.models.detection.faster_rcnn import TwoMLPHead
from torchvision.models.detection.keypoint_rcnn import KeypointRCNNHeads, KeypointRCNNPredictor
from torchvision.models.detection.rpn import RPNHead

from kprcnn_export import ExportError
from kprcnn_export.arch import PRESETS, Arch, infer_arch
from kprcnn_export.checkpoint import build_model, load_checkpoint


def user_model(backbone: str = "resnet18", fpn_layers=None, kp_layers=(512,) * 8, representation=1024,
               rpn_depth=1, k=4, classes=2, trainable=5):  # fmt: skip
    """A Keypoint R-CNN as a user builds it from torchvision's parts (random init, nn.BatchNorm2d or frozen)."""
    torch.manual_seed(0)
    body = resnet_fpn_backbone(backbone_name=backbone, weights=None, trainable_layers=trainable,
                               norm_layer=torch.nn.BatchNorm2d)  # fmt: skip
    c = body.out_channels
    kwargs = {}
    if representation != 1024:
        kwargs["box_head"] = TwoMLPHead(c * 49, representation)
        from torchvision.models.detection.faster_rcnn import FastRCNNPredictor

        kwargs["box_predictor"] = FastRCNNPredictor(representation, classes)
        classes = None
    if rpn_depth != 1:
        kwargs["rpn_head"] = RPNHead(c, 3, conv_depth=rpn_depth)
    model = KeypointRCNN(
        body, num_classes=classes,
        keypoint_head=KeypointRCNNHeads(c, list(kp_layers)),
        keypoint_predictor=KeypointRCNNPredictor(kp_layers[-1], k),
        min_size=256, max_size=400, **kwargs,
    )  # fmt: skip
    return model.eval()


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_round_trip(name):
    arch = PRESETS[name]
    state = arch.build(3, 2).state_dict()
    assert infer_arch(state, arch.to_dict()) == arch
    assert Arch.from_dict(arch.to_dict()) == arch


@pytest.mark.parametrize(
    "backbone, block, layers",
    [("resnet18", "basic", (2, 2, 2, 2)), ("resnet34", "basic", (3, 4, 6, 3)),
     ("resnet50", "bottleneck", (3, 4, 6, 3)), ("resnet101", "bottleneck", (3, 4, 23, 3))],  # fmt: skip
)
def test_resnet_fpn_backbones_are_recognised(backbone, block, layers):
    arch = infer_arch(user_model(backbone).state_dict())
    assert (arch.block, arch.layers, arch.returned_layers, arch.fpn_channels) == (block, layers, (1, 2, 3, 4), 256)
    assert arch.keypoint_layers == (512,) * 8 and arch.box_representation == 1024


def test_other_heads_are_recognised_and_compute_the_same(tmp_path):
    user = user_model("resnet18", kp_layers=(128, 128, 64), representation=256, rpn_depth=2, k=5)
    torch.save(user.state_dict(), tmp_path / "variant.pth")
    state, info = load_checkpoint(tmp_path / "variant.pth")
    arch = infer_arch(state)
    assert arch.keypoint_layers == (128, 128, 64) and arch.box_representation == 256 and arch.rpn_conv_depth == 2
    assert (info.num_keypoints, info.num_classes) == (5, 2)
    from kprcnn_export.options import ModelOptions

    rebuilt = build_model(state, info, ModelOptions(min_size=256, max_size=400))
    x = torch.rand(3, 200, 300, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = user([x])[0], rebuilt([x])[0]
    for key in ("boxes", "scores", "keypoints"):
        assert torch.allclose(expected[key], got[key], atol=1e-4), key


def test_unrecorded_anchors_for_other_levels_are_an_error():
    body = resnet_fpn_backbone(backbone_name="resnet18", weights=None, returned_layers=[2, 3, 4])
    from torchvision.models.detection.anchor_utils import AnchorGenerator

    anchors = AnchorGenerator(((32,), (64,), (128,), (256,)), ((0.5, 1.0, 2.0),) * 4)
    model = KeypointRCNN(body, num_classes=2, num_keypoints=3, rpn_anchor_generator=anchors)
    with pytest.raises(ExportError, match="does not record its anchor generator"):
        infer_arch(model.state_dict())
    recorded = Arch(block="basic", layers=(2, 2, 2, 2), returned_layers=(2, 3, 4),
                    anchor_sizes=((32,), (64,), (128,), (256,)))  # fmt: skip
    assert infer_arch(model.state_dict(), recorded.to_dict()).returned_layers == (2, 3, 4)


def test_recorded_architecture_must_match_the_weights():
    state = PRESETS["slim"].build(3, 2).state_dict()
    wrong = Arch(**{**PRESETS["slim"].to_dict(), "keypoint_layers": [64, 64]})
    with pytest.raises(ExportError, match="disagrees with its weights: keypoint_layers"):
        infer_arch(state, wrong.to_dict())


def test_other_backbones_name_the_keys_they_cannot_place(tmp_path):
    from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_fpn

    state = fasterrcnn_mobilenet_v3_large_fpn(weights=None, weights_backbone=None, num_classes=2).state_dict()
    with pytest.raises(ExportError, match=r"no ResNet body"):
        infer_arch(state)


def test_mobilenet_keypoint_checkpoint_is_refused_without_output(tmp_path, colormap_file):
    """Exporter end to end: a Keypoint R-CNN on a MobileNet backbone: the error names keys, nothing is written."""
    from torchvision.models.detection.backbone_utils import mobilenet_backbone

    body = mobilenet_backbone(backbone_name="mobilenet_v3_large", weights=None, fpn=True, trainable_layers=6)
    model = KeypointRCNN(body, num_classes=2, num_keypoints=3,
                         rpn_anchor_generator=__import__("torchvision").models.detection.anchor_utils.AnchorGenerator(
                             ((32, 64, 128, 256, 512),) * 3, ((0.5, 1.0, 2.0),) * 3))  # fmt: skip
    torch.save(model.state_dict(), tmp_path / "mobile.pth")
    result = run_exporter("--checkpoint", tmp_path / "mobile.pth", "--colormap", colormap_file, "-o",
                          tmp_path / "m.onnx", "--no-verify")  # fmt: skip
    assert result.returncode == 1 and "backbone.body" in result.stderr and "keys:" in result.stderr
    assert not (tmp_path / "m.onnx").exists()
