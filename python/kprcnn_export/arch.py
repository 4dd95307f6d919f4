"""Keypoint R-CNN architectures: a plain description (``Arch``), the torchvision model it builds, and how it is
recognised from a checkpoint.

Any ``torchvision.models.detection.KeypointRCNN`` whose backbone is torchvision's ResNet + FPN
(``resnet_fpn_backbone`` or ``BackboneWithFPN`` over ``torchvision.models.resnet.ResNet``) is covered: resnet18,
34, 50, 101, 152, other block counts, any subset of returned layers, any FPN width, the ``TwoMLPHead`` box head
of any width, keypoint heads of any depth and width, RPN heads of any conv depth. What the state_dict shows is
read from it (block type and counts, returned layers, channel widths, head widths, anchors per position, RoI
output size of the box head). What it cannot show is taken from the ``"kprcnn"`` entry that ``kprcnn train``
writes into its checkpoints (anchor sizes, the keypoint RoI size, the training resize); without that entry
torchvision's defaults apply, and an anchor count that torchvision's defaults cannot produce is an error asking
for the entry.

The description is JSON-able (``Arch.to_dict``): the exporter stores it in the model's metadata
(``kprcnn.arch``), where ``kprcnn info`` shows it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace

from kprcnn_export.errors import ExportError

# Output channels of each ResNet stage: BasicBlock (resnet18/34) and Bottleneck (resnet50 and up, expansion 4).
_STAGE_WIDTH = {"basic": (64, 128, 256, 512), "bottleneck": (256, 512, 1024, 2048)}
_NAMED_RESNETS = {
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
    "resnet101": ("bottleneck", (3, 4, 23, 3)),
    "resnet152": ("bottleneck", (3, 8, 36, 3)),
}
_DEFAULT_ANCHOR_SIZES = ((32,), (64,), (128,), (256,), (512,))
_DEFAULT_RATIOS = (0.5, 1.0, 2.0)


@dataclass(frozen=True)
class Arch:
    """Everything needed to rebuild a Keypoint R-CNN except K and the class count (see ``build``)."""

    block: str = "bottleneck"  # "basic" | "bottleneck"
    layers: tuple[int, ...] = (3, 4, 6, 3)  # blocks in layer1..layer4 (0 for stages the backbone drops)
    returned_layers: tuple[int, ...] = (1, 2, 3, 4)  # stages feeding the FPN
    fpn_channels: int = 256
    extra_pool: bool = True  # LastLevelMaxPool: one more, coarser level ("pool")
    anchor_sizes: tuple[tuple[int, ...], ...] = _DEFAULT_ANCHOR_SIZES
    aspect_ratios: tuple[float, ...] = _DEFAULT_RATIOS
    rpn_conv_depth: int = 1
    box_roi_size: int = 7
    box_representation: int = 1024
    keypoint_roi_size: int = 14
    keypoint_layers: tuple[int, ...] = (512,) * 8
    min_size: int = 800  # the training resize (torchvision's defaults); the export's default --min-size
    max_size: int = 1333
    name: str = ""  # a preset's name, or "" for a described one

    def __post_init__(self) -> None:
        # Lists from JSON become tuples, so that equal architectures compare equal.
        object.__setattr__(self, "layers", tuple(int(v) for v in self.layers))
        object.__setattr__(self, "returned_layers", tuple(int(v) for v in self.returned_layers))
        object.__setattr__(self, "anchor_sizes", tuple(tuple(int(s) for s in lvl) for lvl in self.anchor_sizes))
        object.__setattr__(self, "aspect_ratios", tuple(float(r) for r in self.aspect_ratios))
        object.__setattr__(self, "keypoint_layers", tuple(int(v) for v in self.keypoint_layers))

    @property
    def num_levels(self) -> int:
        return len(self.returned_layers) + (1 if self.extra_pool else 0)

    @property
    def anchors_per_position(self) -> int:
        return len(self.anchor_sizes[0]) * len(self.aspect_ratios)

    def describe(self) -> str:
        body = _resnet_name(self.block, self.layers)
        stages = "".join(str(i) for i in self.returned_layers)
        text = (
            f"{body} (stages {stages}) + FPN {self.fpn_channels}{' + pool' if self.extra_pool else ''}, "
            f"box head {self.box_representation}, keypoint head {len(self.keypoint_layers)}x"
            f"{self.keypoint_layers[0] if self.keypoint_layers else 0}"
        )
        return f"{self.name}: {text}" if self.name else text

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["anchor_sizes"] = [list(s) for s in self.anchor_sizes]
        for key in ("layers", "returned_layers", "aspect_ratios", "keypoint_layers"):
            d[key] = list(d[key])
        return d

    @staticmethod
    def from_dict(d: Mapping[str, object]) -> Arch:
        known = set(Arch.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise ExportError(f"architecture entry has unknown fields {unknown}: written by a newer kprcnn?")
        try:
            arch = Arch(**{k: v for k, v in d.items()})  # type: ignore[arg-type]
        except (TypeError, ValueError) as e:
            raise ExportError(f"architecture entry is malformed: {e}") from e
        arch.validate()
        return arch

    def validate(self) -> Arch:
        problems = []
        if self.block not in _STAGE_WIDTH:
            problems.append(f"block {self.block!r} (basic or bottleneck)")
        if len(self.layers) != 4 or any(n < 0 for n in self.layers):
            problems.append(f"layers {list(self.layers)} (four block counts)")
        if not self.returned_layers or any(not 1 <= i <= 4 for i in self.returned_layers):
            problems.append(f"returned_layers {list(self.returned_layers)} (stages 1..4)")
        elif len(self.layers) == 4 and any(self.layers[i - 1] < 1 for i in range(1, max(self.returned_layers) + 1)):
            problems.append("a returned stage, or one before it, has no blocks")
        if len(self.anchor_sizes) != self.num_levels or len({len(s) for s in self.anchor_sizes}) != 1:
            problems.append(f"{len(self.anchor_sizes)} anchor size levels for {self.num_levels} feature levels")
        for name in ("fpn_channels", "box_representation", "box_roi_size", "keypoint_roi_size", "min_size"):
            if int(getattr(self, name)) < 1:
                problems.append(f"{name} {getattr(self, name)}")
        if not self.keypoint_layers:
            problems.append("no keypoint head layers")
        if problems:
            raise ExportError("architecture is not valid: " + "; ".join(problems))
        return self

    def build(self, num_keypoints: int, num_classes: int, **kwargs: object):
        """The torchvision KeypointRCNN (random init, nn.BatchNorm2d in the body). ``kwargs`` go to KeypointRCNN
        (inference settings: box_score_thresh, rpn_post_nms_top_n_test, min_size, ...)."""
        import torch
        from torchvision.models.detection import KeypointRCNN
        from torchvision.models.detection.anchor_utils import AnchorGenerator
        from torchvision.models.detection.backbone_utils import BackboneWithFPN
        from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
        from torchvision.models.detection.keypoint_rcnn import KeypointRCNNHeads, KeypointRCNNPredictor
        from torchvision.models.detection.rpn import RPNHead
        from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet
        from torchvision.ops import MultiScaleRoIAlign
        from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

        self.validate()
        block = BasicBlock if self.block == "basic" else Bottleneck
        # ResNet needs >= 1 block per stage; stages after the last returned one are dropped by BackboneWithFPN.
        body = ResNet(block, [max(1, n) for n in self.layers], norm_layer=torch.nn.BatchNorm2d)
        widths = _STAGE_WIDTH[self.block]
        return_layers = {f"layer{k}": str(v) for v, k in enumerate(self.returned_layers)}
        backbone = BackboneWithFPN(
            body,
            return_layers,
            [widths[i - 1] for i in self.returned_layers],
            self.fpn_channels,
            extra_blocks=LastLevelMaxPool() if self.extra_pool else None,
        )
        names = [str(v) for v in range(len(self.returned_layers))]
        c = self.fpn_channels
        anchors = AnchorGenerator(self.anchor_sizes, (self.aspect_ratios,) * self.num_levels)
        options = {"min_size": self.min_size, "max_size": self.max_size, **kwargs}
        return KeypointRCNN(
            backbone,
            num_classes=None,
            rpn_anchor_generator=anchors,
            rpn_head=RPNHead(c, self.anchors_per_position, conv_depth=self.rpn_conv_depth),
            box_roi_pool=MultiScaleRoIAlign(names, self.box_roi_size, 2),
            box_head=TwoMLPHead(c * self.box_roi_size**2, self.box_representation),
            box_predictor=FastRCNNPredictor(self.box_representation, num_classes),
            keypoint_roi_pool=MultiScaleRoIAlign(names, self.keypoint_roi_size, 2),
            keypoint_head=KeypointRCNNHeads(c, list(self.keypoint_layers)),
            keypoint_predictor=KeypointRCNNPredictor(self.keypoint_layers[-1], num_keypoints),
            num_keypoints=None,
            **options,
        )


def _resnet_name(block: str, layers: tuple[int, ...]) -> str:
    for name, (b, counts) in _NAMED_RESNETS.items():
        if b == block and counts == tuple(layers):
            return name
    return f"ResNet({block}, {list(layers)})"


PRESETS: dict[str, Arch] = {
    # The recipe's model: torchvision's keypointrcnn_resnet50_fpn, every default.
    "resnet50_fpn": Arch(name="resnet50_fpn"),
    # A common lighter variant: resnet_fpn_backbone("resnet18"), torchvision's heads.
    "resnet18_fpn": Arch(block="basic", layers=(2, 2, 2, 2), name="resnet18_fpn"),
    # Trains on a 2-core CPU and fits in a few MB: one BasicBlock per stage, stages 1-3 (strides 4-16) + pool,
    # a 64-channel FPN, a 128-wide box head, a 4x64 keypoint head; anchors for faces of 16-256 px; 240-px resize.
    "slim": Arch(
        block="basic",
        layers=(1, 1, 1, 0),
        returned_layers=(1, 2, 3),
        fpn_channels=64,
        anchor_sizes=((16, 24), (32, 48), (64, 96), (128, 192)),
        aspect_ratios=(0.75, 1.0, 1.33),
        box_representation=128,
        keypoint_layers=(64,) * 4,
        min_size=240,
        max_size=400,
        name="slim",
    ),
}


# --- recognition from a state_dict ------------------------------------------------------------------------------

_PREFIX_BODY = "backbone.body."


def _shape(state: Mapping[str, object], key: str) -> tuple[int, ...] | None:
    t = state.get(key)
    return tuple(t.shape) if t is not None else None  # type: ignore[attr-defined]


def _first(state: Mapping[str, object], *keys: str) -> tuple[int, ...] | None:
    for key in keys:
        shape = _shape(state, key)
        if shape is not None:
            return shape
    return None


def infer_arch(state: Mapping[str, object], recorded: Mapping[str, object] | None = None) -> Arch:
    """The architecture of a Keypoint R-CNN state_dict. ``recorded`` (the checkpoint's ``kprcnn`` arch entry, when
    present) supplies what the weights cannot show and must agree with what they do show. Raises ExportError
    naming the keys it cannot place."""
    keys = list(state)
    base = Arch.from_dict(recorded) if recorded else None
    body_keys = [k for k in keys if k.startswith(_PREFIX_BODY)]
    if not any(k.startswith(f"{_PREFIX_BODY}layer1.") for k in body_keys) or f"{_PREFIX_BODY}conv1.weight" not in keys:
        other = [k for k in body_keys if not re.match(r"backbone\.body\.(conv1|bn1|layer\d)\.", k)]
        raise ExportError(_unplaced(other or body_keys or keys, "no ResNet body: backbone.body.conv1, layer1.. missing"))
    block = "bottleneck" if any(re.match(r"backbone\.body\.layer\d\.\d+\.conv3\.weight$", k) for k in keys) else "basic"
    counts = []
    for stage in range(1, 5):
        indices = {int(m.group(1)) for k in body_keys if (m := re.match(rf"backbone\.body\.layer{stage}\.(\d+)\.", k))}
        counts.append(max(indices) + 1 if indices else 0)
    # FPN: one inner (1x1) block per returned stage, in stage order; its input width names the stage.
    inner = []
    for i in range(8):
        shape = _first(state, f"backbone.fpn.inner_blocks.{i}.0.weight", f"backbone.fpn.inner_blocks.{i}.weight")
        if shape is None:
            break
        inner.append(shape)
    if not inner:
        raise ExportError(_unplaced(keys, "no FPN (backbone.fpn.inner_blocks.*)"))
    widths = _STAGE_WIDTH[block]
    returned = []
    for shape in inner:
        if shape[1] not in widths:
            raise ExportError(
                f"backbone.fpn.inner_blocks take {shape[1]} channels, which no {block} ResNet stage gives "
                f"(stages give {list(widths)}): not a torchvision ResNet-FPN backbone"
            )
        returned.append(widths.index(shape[1]) + 1)
    fpn_channels = inner[0][0]
    last = max(returned)
    layers = tuple(counts[i] if i < last else 0 for i in range(4))
    extra = [k for k in body_keys if any(k.startswith(f"{_PREFIX_BODY}layer{s}.") for s in range(last + 1, 5))]
    if extra or any(counts[i] == 0 for i in range(last)):
        raise ExportError(_unplaced(extra or keys, "ResNet stages do not match the FPN's inputs"))
    cls = _first(state, "rpn.head.cls_logits.weight")
    if cls is None:
        raise ExportError(_unplaced(keys, "no RPN head (rpn.head.cls_logits.weight)"))
    num_anchors = cls[0]
    conv_depth = sum(
        1 for i in range(16) if _first(state, f"rpn.head.conv.{i}.0.weight") is not None
    ) or (1 if _first(state, "rpn.head.conv.weight") is not None else 0)
    fc6 = _first(state, "roi_heads.box_head.fc6.weight")
    if fc6 is None:
        raise ExportError(_unplaced(keys, "no TwoMLPHead box head (roi_heads.box_head.fc6.weight)"))
    roi = round((fc6[1] / fpn_channels) ** 0.5)
    if roi * roi * fpn_channels != fc6[1]:
        raise ExportError(f"roi_heads.box_head.fc6.weight takes {fc6[1]} inputs: not a whole square of {fpn_channels}")
    # Conv + ReLU pairs: weights at even indices (a missing one is named by the loader, not guessed here).
    kp_index = {int(m.group(1)) for kk in keys if (m := re.match(r"roi_heads\.keypoint_head\.(\d+)\.(weight|bias)$", kk))}
    kp_layers = []
    for i in range(max(kp_index) // 2 + 1 if kp_index else 0):
        shape = _first(state, f"roi_heads.keypoint_head.{2 * i}.weight", f"roi_heads.keypoint_head.{2 * i}.bias")
        kp_layers.append(shape[0] if shape else 512)
    if not kp_layers:
        for i in range(32):  # torchvision < 0.8 named them conv_fcn1.. (its loader renames them)
            shape = _first(state, f"roi_heads.keypoint_head.conv_fcn{i + 1}.weight")
            if shape is None:
                break
            kp_layers.append(shape[0])
    if not kp_layers:
        raise ExportError(_unplaced(keys, "no keypoint head (roi_heads.keypoint_head.*)"))
    seen = Arch(
        block=block,
        layers=layers,
        returned_layers=tuple(returned),
        fpn_channels=fpn_channels,
        rpn_conv_depth=conv_depth,
        box_roi_size=roi,
        box_representation=fc6[0],
        keypoint_layers=tuple(kp_layers),
    )
    if base is not None:
        shown = ("block", "layers", "returned_layers", "fpn_channels", "rpn_conv_depth", "box_roi_size",
                 "box_representation", "keypoint_layers")  # fmt: skip
        diff = [f"{k}: recorded {getattr(base, k)}, weights {getattr(seen, k)}" for k in shown
                if getattr(base, k) != getattr(seen, k)]  # fmt: skip
        if diff:
            raise ExportError("the checkpoint's recorded architecture disagrees with its weights: " + "; ".join(diff))
        if base.anchors_per_position != num_anchors:
            raise ExportError(
                f"rpn.head.cls_logits predicts {num_anchors} anchors per position, the recorded anchors give "
                f"{base.anchors_per_position}"
            )
        return base.validate()
    levels = len(returned) + 1
    if levels != len(_DEFAULT_ANCHOR_SIZES):
        raise ExportError(
            f"the FPN has {levels} levels (stages {returned} + pool) and the checkpoint does not record its anchor "
            f"generator (torchvision's default has sizes for {len(_DEFAULT_ANCHOR_SIZES)} levels, so the model was "
            "built with its own). Save the checkpoint as {'model': state_dict, 'kprcnn': {'arch': {'anchor_sizes': "
            "[[...] per level], 'aspect_ratios': [...], ...}}} (the fields of kprcnn_export.arch.Arch), or train "
            "with kprcnn train, which records it"
        )
    if num_anchors != len(_DEFAULT_RATIOS):
        raise ExportError(
            f"rpn.head.cls_logits predicts {num_anchors} anchors per position, and the checkpoint does not record "
            f"its anchor generator; torchvision's default gives {len(_DEFAULT_RATIOS)}. Train with kprcnn train, "
            "or save the checkpoint as {'model': state_dict, 'kprcnn': {'arch': {...}}} (see the README)"
        )
    arch = replace(seen, anchor_sizes=_DEFAULT_ANCHOR_SIZES)
    for name, preset in PRESETS.items():
        if replace(preset, name="") == arch:
            return replace(arch, name=name)
    return arch.validate()


def _unplaced(keys: list[str], why: str) -> str:
    sample = ", ".join(sorted(keys)[:4]) + (f", ... ({len(keys)} keys)" if len(keys) > 4 else "")
    return (
        f"not a torchvision Keypoint R-CNN with a ResNet-FPN backbone ({why}); keys: {sample}. kprcnn exports "
        "KeypointRCNN models whose backbone is torchvision's ResNet + FPN"
    )


def preset(name: str) -> Arch:
    if name not in PRESETS:
        raise ExportError(f"unknown architecture {name!r}: choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


__all__ = ["Arch", "PRESETS", "infer_arch", "preset"]
