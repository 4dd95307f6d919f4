"""The torchvision-eager side of the parity tests, and the comparison of two result documents.

Preprocessing is the recipe's, in Pillow: ``resize_img(img, target_sz=512, divisor=1)`` (shorter side -> 512, the
longer side int(longer / (shorter / 512)), Image.resize with its default filter: BICUBIC for RGB), then CHW
float / 255. Outputs are scaled back to the source image per axis, clamped to [0, W] x [0, H], thresholded with
score > threshold, as kprcnn's postprocess does. Results use the JSON layout of ``kprcnn predict``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


def plan_resize(width: int, height: int, target: int = 512, divisor: int = 1) -> tuple[int, int]:
    """(w, h) of the model input: the recipe's resize_img."""
    shorter = min(width, height)
    scale = shorter / target
    if width == height:
        new_w = new_h = target
    elif width < height:
        new_w, new_h = target, int(height / scale)
    else:
        new_w, new_h = int(width / scale), target
    if divisor > 1:
        new_w, new_h = new_w // divisor * divisor, new_h // divisor * divisor
    return new_w, new_h


def load_tensor(path: Path, size: int = 512, divisor: int = 1):
    """(CHW float32 tensor in 0..1, source (W, H), input (w, h))."""
    import torch
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("RGB")
        src = img.size
        new = plan_resize(*src, size, divisor)
        if new != src:
            img = img.resize(new)
        array = np.asarray(img, dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).contiguous(), src, new


def load_model(checkpoint: Path):
    """torchvision's model for a checkpoint, every weight loaded (strict): a plain state_dict is a
    keypointrcnn_resnet50_fpn; kprcnn train's {"model": ..., "kprcnn": {"arch": ...}} names its architecture,
    built from torchvision's classes (kprcnn_export.arch.Arch.build)."""
    import torch
    from torchvision.models.detection import keypointrcnn_resnet50_fpn

    obj = torch.load(checkpoint, map_location="cpu")
    if isinstance(obj, dict) and isinstance(obj.get("kprcnn"), dict):
        from kprcnn_export.arch import Arch

        meta = obj["kprcnn"]
        model = Arch.from_dict(meta["arch"]).build(meta["num_keypoints"], meta["num_classes"])
        state = {k: v.float() if v.is_floating_point() else v for k, v in obj["model"].items()}
    else:
        state = obj
        num_keypoints = state["roi_heads.keypoint_predictor.kps_score_lowres.weight"].shape[1]
        num_classes = state["roi_heads.box_predictor.cls_score.weight"].shape[0]
        model = keypointrcnn_resnet50_fpn(
            weights=None, weights_backbone=None, num_keypoints=num_keypoints, num_classes=num_classes
        )
    model.load_state_dict(state)
    return model.eval()


def postprocess(raw: dict, src: tuple[int, int], inp: tuple[int, int], threshold: float, names: list[str]) -> list:
    """torchvision's output dict (input-tensor pixels) -> kprcnn's detection list (source pixels)."""
    width, height = src
    sx, sy = width / inp[0], height / inp[1]
    boxes = raw["boxes"].double().numpy()
    scores = raw["scores"].double().numpy()
    labels = raw["labels"].numpy()
    keypoints = raw["keypoints"].double().numpy()
    kp_scores = raw["keypoints_scores"].double().numpy()
    detections = []
    for i in range(len(scores)):
        values = [scores[i], *boxes[i], *keypoints[i, :, :2].ravel(), *kp_scores[i]]
        if not scores[i] > threshold or not all(math.isfinite(v) for v in values):
            continue
        x1, y1, x2, y2 = boxes[i]
        detections.append(
            {
                "label": int(labels[i]),
                "score": float(scores[i]),
                "box": [clamp(x1 * sx, width), clamp(y1 * sy, height), clamp(x2 * sx, width), clamp(y2 * sy, height)],
                "keypoints": [
                    {
                        "name": names[k],
                        "x": clamp(keypoints[i, k, 0] * sx, width),
                        "y": clamp(keypoints[i, k, 1] * sy, height),
                        "score": float(kp_scores[i, k]),
                    }
                    for k in range(len(names))
                ],
            }
        )
    detections.sort(key=lambda d: -d["score"])  # stable: torchvision's order is kept among equal scores
    return detections


def clamp(value: float, upper: int) -> float:
    return float(min(max(value, 0.0), float(upper)))


def predict(model, path: Path, threshold: float, names: list[str], size: int = 512) -> dict:
    """The eager reference for one image, as a ``kprcnn predict`` JSON document (plus ``input_size``)."""
    import torch

    tensor, src, inp = load_tensor(path, size)
    with torch.no_grad():
        raw = model([tensor])[0]
    return {
        "image": path.name,
        "width": src[0],
        "height": src[1],
        "input_size": list(inp),
        "detections": postprocess(raw, src, inp, threshold, names),
    }


# --- comparison -------------------------------------------------------------------------------------------------


@dataclass
class Tolerance:
    """Absolute tolerances (no relative term: a relative one would let ~1 px pass at the right edge of a large
    image). The defaults hold the trained model to ~4x its measured differences against eager on both engines
    (coordinates <= 2.3e-4 px, keypoint scores <= 3.4e-4; Xeon, ONNX Runtime 1.22 and OpenVINO 2026.4)."""
    coord: float = 1e-3  # pixels, boxes and keypoints
    score: float = 1e-4
    keypoint_score: float = 2e-3  # heatmap logits (magnitude ~10-40) after a bicubic upsampling
    tie: float = 1e-4  # detections whose scores are this close (the score tolerance) may come in either order


@dataclass
class Comparison:
    matched: int = 0
    max_coord: float = 0.0  # largest coordinate difference, pixels
    max_score: float = 0.0
    max_keypoint_score: float = 0.0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.matched} detections matched; max |d| coordinates {self.max_coord:.3g} px, "
            f"scores {self.max_score:.3g}, keypoint scores {self.max_keypoint_score:.3g}"
        )


def iou(a: list[float], b: list[float]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match(expected: list, actual: list, tie: float) -> list[tuple[int, int]]:
    """Pairs (expected index, actual index), in order of ``actual``. Both lists are sorted by score; within a
    run of scores closer than ``tie`` the order is arbitrary, so the pair is chosen by the best box IoU."""
    pairs = []
    unmatched = list(range(len(expected)))
    for j, det in enumerate(actual):
        if not unmatched:
            break
        head = expected[unmatched[0]]["score"]
        group = [i for i in unmatched if abs(expected[i]["score"] - head) <= tie or abs(expected[i]["score"] - det["score"]) <= tie]
        best = max(group, key=lambda i: iou(expected[i]["box"], det["box"]))
        unmatched.remove(best)
        pairs.append((best, j))
    return pairs


def _close(a: float, b: float, tol: float) -> bool:
    return abs(a - b) <= tol


def compare(expected: list, actual: list, tol: Tolerance, where: str = "") -> Comparison:
    """Compare two detection lists (kprcnn JSON layout); every difference beyond ``tol`` is a problem."""
    result = Comparison()
    prefix = f"{where}: " if where else ""
    if len(expected) != len(actual):
        result.problems.append(f"{prefix}{len(actual)} detections, expected {len(expected)}")
    for i, j in match(expected, actual, tol.tie):
        e, a = expected[i], actual[j]
        tag = f"{prefix}detection {j} (expected #{i}, score {e['score']:.6f})"
        result.matched += 1
        if a["label"] != e["label"]:
            result.problems.append(f"{tag}: label {a['label']}, expected {e['label']}")
        d = abs(a["score"] - e["score"])
        result.max_score = max(result.max_score, d)
        if d > tol.score:
            result.problems.append(f"{tag}: score {a['score']:.6f}, expected {e['score']:.6f}")
        for axis, (va, ve) in enumerate(zip(a["box"], e["box"])):
            result.max_coord = max(result.max_coord, abs(va - ve))
            if not _close(va, ve, tol.coord):
                result.problems.append(f"{tag}: box[{axis}] {va:.4f}, expected {ve:.4f}")
        if [k["name"] for k in a["keypoints"]] != [k["name"] for k in e["keypoints"]]:
            result.problems.append(f"{tag}: keypoint names {[k['name'] for k in a['keypoints']]}")
            continue
        for ka, ke in zip(a["keypoints"], e["keypoints"]):
            for axis in ("x", "y"):
                result.max_coord = max(result.max_coord, abs(ka[axis] - ke[axis]))
                if not _close(ka[axis], ke[axis], tol.coord):
                    result.problems.append(f"{tag}: keypoint {ke['name']}.{axis} {ka[axis]:.4f}, expected {ke[axis]:.4f}")
            d = abs(ka["score"] - ke["score"])
            result.max_keypoint_score = max(result.max_keypoint_score, d)
            if not _close(ka["score"], ke["score"], tol.keypoint_score):
                result.problems.append(f"{tag}: keypoint {ke['name']} score {ka['score']:.5f}, expected {ke['score']:.5f}")
    return result
