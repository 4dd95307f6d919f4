"""Export knobs: torchvision's inference-time settings of keypointrcnn_resnet50_fpn that the export freezes into
the ONNX graph. Every default is torchvision's own, so an export without options is the seed's graph.

  min_size / max_size     the model's internal resize: the shorter image side is scaled to min_size unless the
                          longer side would then exceed max_size (torchvision: 800 / 1333). A 512-px input is
                          upsampled to 800 inside the graph; a smaller min_size costs accuracy on small objects
                          and saves time roughly with the pixel count.
  box_score_thresh        candidate boxes scoring at or below it are dropped before NMS and the keypoint head
                          (torchvision: 0.05). Raising it to your prediction threshold saves the keypoint head's
                          work on boxes you discard anyway; every detection above it is unchanged.
  box_nms_thresh          IoU above which the box head's NMS suppresses a lower-scoring box of the same class (0.5).
  detections_per_img      at most this many detections per image, the best-scoring ones (100).
  rpn_pre_nms_top_n       proposals kept per FPN level before the RPN's NMS (1000 in torchvision's eval mode).
  rpn_post_nms_top_n      proposals kept after the RPN's NMS and sent to the box head (1000 in eval mode).
                          Fewer proposals are faster (the box head runs once per proposal) and may miss objects.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from kprcnn_export.errors import ExportError


@dataclass(frozen=True)
class ModelOptions:
    """The inference-time settings of the exported graph (defaults: torchvision's)."""

    min_size: int | None = None  # None: the architecture's training resize (torchvision's 800 / 1333)
    max_size: int | None = None
    box_score_thresh: float = 0.05
    box_nms_thresh: float = 0.5
    detections_per_img: int = 100
    rpn_pre_nms_top_n: int = 1000
    rpn_post_nms_top_n: int = 1000

    def validate(self) -> ModelOptions:
        """Raise ExportError naming the first knob out of range; return self."""
        min_size, max_size = self.sizes()
        checks = [
            (min_size >= 32, f"--min-size {min_size} must be at least 32 (pixels)"),
            (max_size >= min_size, f"--max-size {max_size} must be at least --min-size {min_size}"),
            (
                _finite(self.box_score_thresh) and 0.0 <= self.box_score_thresh < 1.0,
                f"--box-score-thresh {self.box_score_thresh} must be in [0, 1)",
            ),
            (
                _finite(self.box_nms_thresh) and 0.0 < self.box_nms_thresh <= 1.0,
                f"--box-nms-thresh {self.box_nms_thresh} must be in (0, 1]",
            ),
            (self.detections_per_img >= 1, f"--detections-per-img {self.detections_per_img} must be at least 1"),
            (self.rpn_pre_nms_top_n >= 1, f"--rpn-pre-nms-top-n {self.rpn_pre_nms_top_n} must be at least 1"),
            (self.rpn_post_nms_top_n >= 1, f"--rpn-post-nms-top-n {self.rpn_post_nms_top_n} must be at least 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise ExportError(message)
        return self

    def torchvision_kwargs(self) -> dict[str, object]:
        """Keyword arguments of torchvision's keypointrcnn_resnet50_fpn / FasterRCNN for these settings."""
        min_size, max_size = self.sizes()
        return {
            "min_size": min_size,
            "max_size": max_size,
            "box_score_thresh": self.box_score_thresh,
            "box_nms_thresh": self.box_nms_thresh,
            "box_detections_per_img": self.detections_per_img,
            "rpn_pre_nms_top_n_test": self.rpn_pre_nms_top_n,
            "rpn_post_nms_top_n_test": self.rpn_post_nms_top_n,
        }

    def sizes(self, default_min: int = 800, default_max: int = 1333) -> tuple[int, int]:
        """(min_size, max_size), the unset ones from the defaults given (torchvision's unless an architecture's)."""
        min_size = default_min if self.min_size is None else self.min_size
        max_size = max(min_size, default_max) if self.max_size is None else self.max_size
        return min_size, max_size

    def resolve(self, arch: object) -> ModelOptions:
        """These options with the sizes left unset taken from the architecture (its training resize)."""
        from dataclasses import replace

        min_size, max_size = self.sizes(int(getattr(arch, "min_size", 800)), int(getattr(arch, "max_size", 1333)))
        return replace(self, min_size=min_size, max_size=max_size).validate()

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _finite(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
