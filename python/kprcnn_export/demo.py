"""Deterministic demo material: a random-init checkpoint, a colormap and a synthetic scene (license-clean).

Used by scripts/make_demo_checkpoint.py and by the tests (python/tests, tests/model), so that all of them export
and compare the same kind of model. Nothing here downloads anything.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

DEMO_LABELS = ("left", "right", "top")
DEMO_COLORS = ((0.9, 0.1, 0.1), (0.1, 0.4, 0.95), (0.95, 0.85, 0.1))


def demo_colormap(labels: tuple[str, ...] = DEMO_LABELS) -> dict[str, object]:
    """A colormap document with distinct colours (the first three are DEMO_COLORS)."""
    colors = list(DEMO_COLORS)
    rng = random.Random(1)
    while len(colors) < len(labels):
        colors.append((round(rng.random(), 3), round(rng.random(), 3), round(rng.random(), 3)))
    doc: dict[str, object] = {"items": [{"label": lab, "color": list(col)} for lab, col in zip(labels, colors)]}
    if len(labels) >= 3:
        doc["skeleton"] = [[labels[0], labels[2]], [labels[1], labels[2]]]
    return doc


def write_colormap(path: str | os.PathLike[str], labels: tuple[str, ...] = DEMO_LABELS) -> Path:
    path = Path(path)
    path.write_text(json.dumps(demo_colormap(labels), indent=2) + "\n", encoding="utf-8")
    return path


def random_state_dict(num_keypoints: int = 3, num_classes: int = 2, seed: int = 0) -> dict[str, object]:
    """state_dict of a random-init keypointrcnn_resnet50_fpn (nn.BatchNorm2d backbone), seeded."""
    import torch
    from torchvision.models.detection import keypointrcnn_resnet50_fpn

    torch.manual_seed(seed)
    model = keypointrcnn_resnet50_fpn(
        weights=None, weights_backbone=None, num_keypoints=num_keypoints, num_classes=num_classes
    )
    return model.state_dict()


def write_checkpoint(path: str | os.PathLike[str], num_keypoints: int = 3, num_classes: int = 2, seed: int = 0) -> Path:
    """torch.save a random-init state_dict atomically (temp file, then rename)."""
    import torch

    path = Path(path)
    temp = path.with_name(f".{path.name}.tmp")
    try:
        torch.save(random_state_dict(num_keypoints, num_classes, seed), temp)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return path


def draw_scene(width: int = 960, height: int = 640, seed: int = 0):
    """A synthetic RGB scene (sky/ground gradient, sun, boxes, discs, stick figures), deterministic per seed."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    horizon = int(height * rng.uniform(0.45, 0.65))
    for y in range(height):
        if y < horizon:
            t = y / max(1, horizon)
            color = (int(90 + 100 * t), int(140 + 80 * t), int(220 - 30 * t))
        else:
            t = (y - horizon) / max(1, height - horizon)
            color = (int(70 + 40 * t), int(130 - 40 * t), int(60 + 10 * t))
        draw.line([(0, y), (width, y)], fill=color)
    unit = min(width, height)
    sx, sy, sr = rng.uniform(0.1, 0.9) * width, rng.uniform(0.05, 0.25) * height, unit * 0.06
    draw.ellipse([sx - sr, sy - sr, sx + sr, sy + sr], fill=(250, 220, 90))
    for _ in range(4):  # boxes standing on the ground
        w, h = rng.uniform(0.08, 0.2) * unit, rng.uniform(0.1, 0.3) * unit
        x = rng.uniform(0, width - w)
        y = horizon + rng.uniform(0.0, 0.25) * (height - horizon)
        fill = tuple(rng.randrange(40, 230) for _ in range(3))
        draw.rectangle([x, y - h, x + w, y], fill=fill, outline=(20, 20, 20), width=max(1, unit // 200))
    for _ in range(3):  # discs
        r = rng.uniform(0.03, 0.08) * unit
        x, y = rng.uniform(r, width - r), rng.uniform(horizon, height - r)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=tuple(rng.randrange(40, 230) for _ in range(3)))
    for _ in range(2):  # stick figures: something keypoint-like
        s = rng.uniform(0.15, 0.3) * unit
        x = rng.uniform(0.15, 0.85) * width
        foot = horizon + rng.uniform(0.3, 0.8) * (height - horizon)
        hip, neck = (x, foot - 0.45 * s), (x, foot - 0.85 * s)
        line = dict(fill=(30, 30, 40), width=max(2, int(s / 25)))
        draw.line([(x - 0.2 * s, foot), hip, (x + 0.2 * s, foot)], **line)
        draw.line([hip, neck], **line)
        draw.line([(x - 0.3 * s, foot - 0.55 * s), (x, neck[1] + 0.1 * s), (x + 0.3 * s, foot - 0.55 * s)], **line)
        hr = 0.1 * s
        draw.ellipse([x - hr, neck[1] - 2 * hr, x + hr, neck[1]], fill=(240, 200, 170), outline=(30, 30, 40))
    return image
