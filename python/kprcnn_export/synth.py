"""Synthetic keypoint data: ``python -m kprcnn_export.synth --out DIR --count N --seed S`` (``kprcnn synth``).

Writes ``DIR/000001.jpg`` ... and ``DIR/annotations.json``, a COCO keypoint-detection file (``images``,
``annotations`` with ``bbox``, ``area``, ``keypoints`` [x, y, v] * K, ``num_keypoints``, ``iscrowd``, and
``categories`` with the keypoint names and a 1-based ``skeleton``), plus ``DIR/face-colormap.json`` (the training
folder's colormap for these keypoints). The task is the recipe's: faces with their left eye, right eye and nose
(``--keypoints eyes-nose``; ``face5`` adds the mouth corners). "Left" is the face's own left, as in COCO: on a
face looking at the camera it is on the image's right.

What a scene holds, all drawn from one random generator seeded with (seed, image index), so a seed always gives
the same files and two seeds give different scenes (train and val splits are two seeds):
  - a textured background (gradients, smooth noise, stripes, checkers, random shapes);
  - 0-6 faces, 16-400 px tall (log-uniform, at most 80 % of the shorter side), rotated up to +-45 degrees, of
    varied skin tones, with eyes, nose, mouth and sometimes hair; placed so that a face overlaps an earlier one
    by at most a third, and may run off the border by up to 40 %;
  - occluders (bars, blobs) over some faces, covering at most half of one;
  - face-like distractors that are not faces: featureless skin ovals, ovals with their features scrambled,
    pairs of eyes on no face, balls and smileys in non-skin colours;
  - then blur, sensor noise and JPEG compression of random strength.
Visibility is set truthfully from what ends up on top of each pixel: v = 2 where the keypoint's pixel belongs
to its face in the final image, v = 1 where another face, an occluder or a distractor covers it (labelled, not
visible), v = 0 with x = y = 0 outside the image (not labelled). ``bbox`` is the visible part's bounding box and
``area`` its pixel count (COCO's segment area), so OKS scales with what can be seen.

Needs numpy and Pillow only (no torch).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kprcnn_export.common import atomic_write

KEYPOINT_SETS = {
    "eyes-nose": ("left_eye", "right_eye", "nose"),
    "face5": ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right"),
}
# Skeletons by name (written 1-based into the categories, by name into the colormap).
SKELETONS = {
    "eyes-nose": (("left_eye", "nose"), ("right_eye", "nose"), ("left_eye", "right_eye")),
    "face5": (
        ("left_eye", "nose"),
        ("right_eye", "nose"),
        ("left_eye", "right_eye"),
        ("mouth_left", "mouth_right"),
        ("nose", "mouth_left"),
        ("nose", "mouth_right"),
    ),
}
COLORS = {
    "left_eye": (0.95, 0.2, 0.2),
    "right_eye": (0.2, 0.45, 1.0),
    "nose": (1.0, 0.85, 0.1),
    "mouth_left": (0.2, 0.85, 0.3),
    "mouth_right": (0.8, 0.3, 0.9),
}
# Where each keypoint sits on an upright face of half-width a and half-height b, as (x/a, y/b) from the face's
# centre (x to the image's right, y down). The face's left eye is on the image's right.
LAYOUT = {
    "left_eye": (0.38, -0.12),
    "right_eye": (-0.38, -0.12),
    "nose": (0.0, 0.2),
    "mouth_left": (0.3, 0.5),
    "mouth_right": (-0.3, 0.5),
}
# OKS sigmas (COCO keypoint AP) for the face's keypoints: COCO's own for eyes and nose (0.025, 0.025, 0.026) are
# relative to a whole person's sqrt(area), about 2.4 times the width of that person's face; these objects are
# faces, so the same pixel tolerance needs sigmas 2.4 times larger. The mouth corners take the eyes' value.
OKS_SIGMAS = {"left_eye": 0.06, "right_eye": 0.06, "nose": 0.0624, "mouth_left": 0.06, "mouth_right": 0.06}
MIN_FACE, MAX_FACE = 16, 400
MAX_FACES = 6
DEFAULT_SIZE = (320, 240)
SUPERSAMPLE = 3  # faces are drawn this much larger, then reduced (anti-aliased edges)


class SynthError(Exception):
    """Bad arguments (exit 2) or an unwritable output folder (exit 3)."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


@dataclass
class Face:
    id: int
    keypoints: list[tuple[float, float]]  # image coordinates, in LAYOUT order of the chosen names


def _skin(rng: np.random.Generator) -> tuple[int, int, int]:
    # Skin tones from pale to dark: interpolate between two anchors, then jitter.
    t = rng.uniform(0, 1)
    light, dark = np.array([242, 205, 180]), np.array([92, 58, 40])
    c = light * (1 - t) + dark * t + rng.normal(0, 10, 3)
    return tuple(int(v) for v in np.clip(c, 0, 255))


def _random_color(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(0, 256, 3))


def _background(rng: np.random.Generator, width: int, height: int):
    from PIL import Image, ImageDraw, ImageFilter

    kind = rng.integers(0, 4)
    base = np.zeros((height, width, 3), np.float32)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    angle = rng.uniform(0, 2 * math.pi)
    t = (xx * math.cos(angle) + yy * math.sin(angle)) / max(width, height)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    base += c0 * (1 - t[..., None]) + c1 * t[..., None]
    if kind == 1:  # smooth noise ("clouds") at a random scale
        cells = int(rng.integers(3, 12))
        small = rng.uniform(-60, 60, (cells, cells, 3)).astype(np.float32)
        noise = np.asarray(Image.fromarray(np.uint8(small + 128)).resize((width, height), Image.BICUBIC), np.float32)
        base += noise - 128
    elif kind == 2:  # stripes
        period = rng.uniform(6, 40)
        phase = rng.uniform(0, 2 * math.pi)
        a2 = rng.uniform(0, math.pi)
        s = np.sin((xx * math.cos(a2) + yy * math.sin(a2)) * 2 * math.pi / period + phase)
        base += (s[..., None] * rng.uniform(10, 50)) * rng.uniform(0.3, 1, 3)
    elif kind == 3:  # checkers
        cell = rng.uniform(8, 48)
        chk = ((np.floor(xx / cell) + np.floor(yy / cell)) % 2)[..., None]
        base += (chk - 0.5) * rng.uniform(10, 70, 3)
    image = Image.fromarray(np.uint8(np.clip(base, 0, 255)), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(0, 10))):  # clutter: rectangles, lines, circles
        x0, y0 = rng.uniform(-20, width), rng.uniform(-20, height)
        x1, y1 = x0 + rng.uniform(5, width / 2), y0 + rng.uniform(5, height / 2)
        shape = rng.integers(0, 3)
        color = _random_color(rng)
        if shape == 0:
            draw.rectangle([x0, y0, x1, y1], fill=color)
        elif shape == 1:
            draw.line([x0, y0, x1, y1], fill=color, width=int(rng.integers(1, 6)))
        else:
            draw.ellipse([x0, y0, x1, y1], outline=color, width=int(rng.integers(1, 4)))
    if rng.uniform() < 0.5:
        image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.5, 2.5))))
    return image


def _rotate(dx: float, dy: float, degrees: float) -> tuple[float, float]:
    """Where an offset from the centre goes when Pillow's ``Image.rotate(degrees)`` turns the layer (counter-
    clockwise on screen, y down)."""
    r = math.radians(degrees)
    return dx * math.cos(r) + dy * math.sin(r), -dx * math.sin(r) + dy * math.cos(r)


def _face_layer(rng: np.random.Generator, a: float, b: float, degrees: float, kind: str):
    """An RGBA layer (square, side ~ 2.3 * max(a, b)) with a face or face-like distractor drawn upright around its
    centre and then rotated; returns (layer, keypoint offsets from the centre by name, after rotation)."""
    from PIL import Image, ImageDraw

    s = SUPERSAMPLE
    side = int(math.ceil(2.3 * max(a, b))) + 4
    big = Image.new("RGBA", (side * s, side * s), (0, 0, 0, 0))
    draw = ImageDraw.Draw(big)
    cx = cy = side * s / 2
    A, B = a * s, b * s
    skin = _skin(rng) if kind in ("face", "blank", "scrambled") else _random_color(rng)
    if kind != "eyes_only":
        if kind == "face" and rng.uniform() < 0.5:  # hair: a darker cap behind the top of the head
            hair = tuple(int(v) for v in rng.integers(0, 90, 3))
            draw.ellipse([cx - 1.08 * A, cy - 1.12 * B, cx + 1.08 * A, cy + 0.3 * B], fill=hair + (255,))
        draw.ellipse([cx - A, cy - B, cx + A, cy + B], fill=skin + (255,))
        # Shading: a slightly darker lower-left crescent, so the face is not flat.
        shade = tuple(max(0, v - int(rng.integers(8, 30))) for v in skin)
        draw.chord([cx - A, cy - B, cx + A, cy + B], 100, 200, fill=shade + (255,))
    offsets: dict[str, tuple[float, float]] = {}
    eye_r = max(A * rng.uniform(0.12, 0.17), 1.2 * s)
    pupil = tuple(int(v) for v in rng.integers(0, 70, 3)) + (255,)
    layout = dict(LAYOUT)
    if kind == "scrambled":  # features where a face has none: eyes low, nose high
        layout = {k: (float(rng.uniform(-0.6, 0.6)), float(rng.uniform(-0.6, 0.6))) for k in LAYOUT}
    jitter = {k: (rng.normal(0, 0.03), rng.normal(0, 0.03)) for k in LAYOUT}
    for name, (ux, uy) in layout.items():
        jx, jy = jitter[name]
        px, py = cx + (ux + jx) * A, cy + (uy + jy) * B
        offsets[name] = ((px - cx) / s, (py - cy) / s)
    if kind in ("face", "scrambled", "eyes_only", "smiley"):
        for name in ("left_eye", "right_eye"):
            px, py = offsets[name][0] * s + cx, offsets[name][1] * s + cy
            if kind != "smiley":
                draw.ellipse([px - 1.5 * eye_r, py - eye_r, px + 1.5 * eye_r, py + eye_r], fill=(245, 245, 240, 255))
            draw.ellipse([px - 0.7 * eye_r, py - 0.7 * eye_r, px + 0.7 * eye_r, py + 0.7 * eye_r], fill=pupil)
    if kind in ("face", "scrambled"):
        px, py = offsets["nose"][0] * s + cx, offsets["nose"][1] * s + cy
        nose = tuple(max(0, v - int(rng.integers(25, 60))) for v in skin) + (255,)
        w, h = A * rng.uniform(0.1, 0.16), B * rng.uniform(0.12, 0.2)
        draw.polygon([(px, py - 1.6 * h), (px - w, py), (px + w, py)], fill=nose)
        draw.ellipse([px - 0.8 * w, py - 0.35 * h, px + 0.8 * w, py + 0.35 * h], fill=nose)
    if kind in ("face", "smiley", "scrambled"):
        lx, ly = offsets["mouth_left"][0] * s + cx, offsets["mouth_left"][1] * s + cy
        rx, ry = offsets["mouth_right"][0] * s + cx, offsets["mouth_right"][1] * s + cy
        lips = tuple(int(v) for v in (rng.integers(120, 200), rng.integers(30, 80), rng.integers(40, 90))) + (255,)
        mid = ((lx + rx) / 2, (ly + ry) / 2 + B * rng.uniform(0.02, 0.1))
        draw.line([(lx, ly), mid, (rx, ry)], fill=lips, width=max(1, int(B * 0.06)), joint="curve")
    layer = big.rotate(degrees, resample=Image.BICUBIC).resize((side, side), Image.BOX)
    rotated = {k: _rotate(dx, dy, degrees) for k, (dx, dy) in offsets.items()}
    return layer, rotated


def _paste(scene, owner: np.ndarray, layer, x0: int, y0: int, ident: int) -> np.ndarray:
    """Composite ``layer`` onto ``scene`` at (x0, y0) and mark the pixels it now owns (alpha >= 50 %) with
    ``ident`` in ``owner``; returns that layer's own mask in scene coordinates (bool, full size)."""
    scene.paste(layer, (x0, y0), layer)
    alpha = np.asarray(layer.getchannel("A")) >= 128
    h, w = owner.shape
    lh, lw = alpha.shape
    sx0, sy0 = max(x0, 0), max(y0, 0)
    sx1, sy1 = min(x0 + lw, w), min(y0 + lh, h)
    mine = np.zeros_like(owner, dtype=bool)
    if sx1 > sx0 and sy1 > sy0:
        region = alpha[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0]
        owner[sy0:sy1, sx0:sx1][region] = ident
        mine[sy0:sy1, sx0:sx1] = region
    return mine


def _occluder(rng: np.random.Generator, size: float):
    """A bar or blob (RGBA layer) of about ``size`` px."""
    from PIL import Image, ImageDraw

    side = int(size * 1.5) + 2
    layer = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    color = _random_color(rng) + (255,)
    if rng.uniform() < 0.5:
        w = side * rng.uniform(0.15, 0.35)
        draw.rectangle([side / 2 - w / 2, 0, side / 2 + w / 2, side], fill=color)
        layer = layer.rotate(float(rng.uniform(0, 180)), resample=Image.BILINEAR)
    else:
        r = side * rng.uniform(0.2, 0.45)
        draw.ellipse([side / 2 - r, side / 2 - r * rng.uniform(0.6, 1), side / 2 + r, side / 2 + r], fill=color)
    return layer


def render_scene(
    seed: int, index: int, width: int, height: int, names: tuple[str, ...], max_faces: int = MAX_FACES,
    min_face: int = MIN_FACE, max_face: int = MAX_FACE, min_faces: int = 0,
):  # fmt: skip
    """One scene: (RGB PIL image, list of annotations without ids: bbox, area, keypoints, num_keypoints)."""
    from PIL import Image, ImageFilter

    rng = np.random.default_rng([seed, index])
    scene = _background(rng, width, height)
    owner = np.zeros((height, width), np.int32)  # 0 background, >0 face ids, <0 occluders and distractors
    top = max(min_face, min(max_face, int(0.8 * min(width, height))))
    faces: list[tuple[Face, tuple[float, float, float, float]]] = []
    count = int(rng.integers(min_faces, max_faces + 1))
    n_distract = int(rng.integers(0, 4))
    # Items in drawing order: faces and distractors interleaved, so each may cover the other.
    items = ["face"] * count + ["distractor"] * n_distract
    rng.shuffle(items)
    next_other = -1
    for item in items:
        size = float(math.exp(rng.uniform(math.log(min_face), math.log(top))))  # face height
        b, a = size / 2, size / 2 * rng.uniform(0.68, 0.85)
        degrees = float(rng.uniform(-45, 45))
        kind = "face" if item == "face" else str(rng.choice(["blank", "scrambled", "eyes_only", "smiley"]))
        for _attempt in range(20):  # a place overlapping earlier faces by at most a third of either
            cx = rng.uniform(-0.4 * a, width + 0.4 * a)
            cy = rng.uniform(-0.4 * b, height + 0.4 * b)
            box = (cx - a, cy - b, cx + a, cy + b)
            if all(_overlap(box, other) <= 1 / 3 for _, other in faces):
                break
        else:
            continue
        layer, offsets = _face_layer(rng, a, b, degrees, kind)
        x0, y0 = int(round(cx - layer.width / 2)), int(round(cy - layer.height / 2))
        centre = (x0 + layer.width / 2, y0 + layer.height / 2)
        if kind == "face":
            ident = len(faces) + 1
            _paste(scene, owner, layer, x0, y0, ident)
            kps = [(centre[0] + offsets[n][0], centre[1] + offsets[n][1]) for n in names]
            faces.append((Face(ident, kps), box))
            if rng.uniform() < 0.3:  # an occluder over part of this face, covering at most half of it
                for _attempt in range(5):
                    occ = _occluder(rng, size * rng.uniform(0.3, 0.8))
                    ox = int(cx + rng.uniform(-a, a) - occ.width / 2)
                    oy = int(cy + rng.uniform(-b, b) - occ.height / 2)
                    trial = owner.copy()
                    mine = _paste(scene.copy(), trial, occ, ox, oy, next_other)
                    face_px = int((owner == ident).sum())
                    covered = int(((owner == ident) & mine).sum())
                    if face_px and covered <= face_px // 2:
                        _paste(scene, owner, occ, ox, oy, next_other)
                        next_other -= 1
                        break
        else:
            _paste(scene, owner, layer, x0, y0, next_other)
            next_other -= 1
    image = scene
    if rng.uniform() < 0.4:
        image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 1.2))))
    if rng.uniform() < 0.6:
        pixels = np.asarray(image, np.float32) + rng.normal(0, rng.uniform(1, 8), (height, width, 3))
        image = Image.fromarray(np.uint8(np.clip(np.rint(pixels), 0, 255)), "RGB")
    annotations = []
    for face, _box in faces:
        mask = owner == face.id
        area = int(mask.sum())
        if area < 16:  # hidden or cut off almost entirely: not an object any more
            continue
        ys, xs = np.nonzero(mask)
        x1, y1, x2, y2 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
        keypoints: list[float] = []
        labelled = 0
        for x, y in face.keypoints:
            xi, yi = int(math.floor(x)), int(math.floor(y))
            if not (0 <= x < width and 0 <= y < height):
                keypoints += [0.0, 0.0, 0]
                continue
            visible = owner[yi, xi] == face.id
            keypoints += [round(float(x), 2), round(float(y), 2), 2 if visible else 1]
            labelled += 1
        annotations.append(
            {
                "bbox": [x1, y1, x2 - x1, y2 - y1],
                "area": area,
                "keypoints": keypoints,
                "num_keypoints": labelled,
                "iscrowd": 0,
            }
        )
    return image, annotations


def face_scene(width: int, height: int, seed: int = 0, min_faces: int = 2, first_index: int = 0):
    """A scene (RGB image) with at least ``min_faces`` fully labelled faces, scaled as the default scenes are
    (faces from 16 px at a 240-px shorter side): the first such scene of ``seed`` from ``first_index`` on
    (verification, tests)."""
    scale = min(width, height) / DEFAULT_SIZE[1]
    index = first_index
    while True:
        image, anns = render_scene(seed, index, width, height, KEYPOINT_SETS["eyes-nose"],
                                   min_face=max(8, int(MIN_FACE * scale)), max_face=int(MAX_FACE * scale))  # fmt: skip
        if sum(a["num_keypoints"] == 3 for a in anns) >= min_faces or index - first_index >= 1000:
            return image
        index += 1


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over the smaller box's area."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / smaller if smaller > 0 else 0.0


def categories(keypoint_set: str) -> list[dict]:
    names = KEYPOINT_SETS[keypoint_set]
    skeleton = [[names.index(a) + 1, names.index(b) + 1] for a, b in SKELETONS[keypoint_set]]
    return [
        {
            "id": 1,
            "name": "face",
            "supercategory": "face",
            "keypoints": list(names),
            "skeleton": skeleton,
            "kprcnn_oks_sigmas": [OKS_SIGMAS[n] for n in names],  # not COCO's: what evaluation should use
        }
    ]


def colormap(keypoint_set: str) -> dict:
    names = KEYPOINT_SETS[keypoint_set]
    return {
        "items": [{"label": n, "color": list(COLORS[n])} for n in names],
        "skeleton": [list(pair) for pair in SKELETONS[keypoint_set]],
    }


def generate(
    out: str | os.PathLike[str], count: int, seed: int, keypoint_set: str = "eyes-nose",
    size: tuple[int, int] = DEFAULT_SIZE, min_face: int = MIN_FACE, max_face: int = MAX_FACE,
    max_faces: int = MAX_FACES, quality: tuple[int, int] = (40, 95), progress=None, min_faces: int = 0,
) -> Path:  # fmt: skip
    """Write ``count`` scenes and their annotations into ``out``; returns the annotation file's path."""
    import io

    if keypoint_set not in KEYPOINT_SETS:
        raise SynthError(f"--keypoints {keypoint_set}: choose one of {', '.join(KEYPOINT_SETS)}")
    if not 0 <= seed < 1 << 31:
        raise SynthError(f"--seed {seed} must be in 0..2147483647")
    if count < 1 or count > 1_000_000:
        raise SynthError(f"--count {count} must be between 1 and 1000000")
    width, height = size
    if not (64 <= width <= 8192 and 64 <= height <= 8192):
        raise SynthError(f"--size {width}x{height}: each side must be 64..8192 pixels")
    if not (8 <= min_face <= max_face):
        raise SynthError(f"face sizes {min_face}..{max_face} px: need 8 <= min <= max")
    if not (0 <= max_faces <= 50):
        raise SynthError(f"--max-faces {max_faces} must be 0..50")
    if not (0 <= min_faces <= max_faces):
        raise SynthError(f"--min-faces {min_faces} must be 0..--max-faces ({max_faces})")
    names = KEYPOINT_SETS[keypoint_set]
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SynthError(f"cannot create {out}: {e.strerror or e}", code=3) from e
    images, annotations = [], []
    rng_q = np.random.default_rng([seed, 1 << 31])  # JPEG qualities: a stream of their own
    try:
        for i in range(count):
            image, anns = render_scene(seed, i, width, height, names, max_faces, min_face, max_face, min_faces)
            name = f"{i + 1:06d}.jpg"
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=int(rng_q.integers(quality[0], quality[1] + 1)))
            atomic_write(out / name, buffer.getvalue())
            images.append({"id": i + 1, "file_name": name, "width": width, "height": height})
            for ann in anns:
                annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": 1, **ann})
            if progress and ((i + 1) % 50 == 0 or i + 1 == count):
                progress(i + 1, count, len(annotations))
        doc = {
            "info": {
                "description": f"kprcnn synthetic faces ({keypoint_set}), seed {seed}",
                "kprcnn_synth": {
                    "seed": seed,
                    "count": count,
                    "keypoints": keypoint_set,
                    "size": [width, height],
                    "face_px": [min_face, max_face],
                    "faces": [min_faces, max_faces],
                },
            },
            "images": images,
            "annotations": annotations,
            "categories": categories(keypoint_set),
        }
        path = out / "annotations.json"
        atomic_write(path, (json.dumps(doc, separators=(",", ":")) + "\n").encode())
        atomic_write(out / "face-colormap.json", (json.dumps(colormap(keypoint_set), indent=2) + "\n").encode())
    except OSError as e:
        raise SynthError(f"cannot write into {out}: {e.strerror or e}", code=3) from e
    return path


def _parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = text.lower().split("x")
        return int(w), int(h)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--size {text!r}: expected WIDTHxHEIGHT, e.g. 320x240") from None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="kprcnn synth",
        description="Write synthetic face scenes (JPEG) and their COCO keypoint annotations (annotations.json).",
    )
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--count", type=int, required=True, help="number of scenes")
    p.add_argument("--seed", type=int, default=0, help="random seed: the same seed writes the same files (default 0)")
    p.add_argument("--keypoints", default="eyes-nose", choices=sorted(KEYPOINT_SETS), help="keypoint set")
    p.add_argument("--size", type=_parse_size, default=DEFAULT_SIZE, help="scene size WxH (default 320x240)")
    p.add_argument("--min-face", type=int, default=MIN_FACE, help=f"smallest face height, px (default {MIN_FACE})")
    p.add_argument("--max-face", type=int, default=MAX_FACE, help=f"largest face height, px (default {MAX_FACE}; "
                   "never above 80%% of the shorter side)")  # fmt: skip
    p.add_argument("--max-faces", type=int, default=MAX_FACES, help=f"most faces a scene (default {MAX_FACES})")
    p.add_argument("--min-faces", type=int, default=0, help="fewest faces a scene (default 0)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)

    def progress(done: int, total: int, faces: int) -> None:
        if not args.quiet:
            print(f"\rsynth: {done}/{total} scenes, {faces} faces", end="" if done < total else "\n", file=sys.stderr)

    try:
        path = generate(
            args.out, args.count, args.seed, args.keypoints, args.size, args.min_face, args.max_face,
            args.max_faces, progress=progress, min_faces=args.min_faces,
        )  # fmt: skip
    except SynthError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        print("\nerror: interrupted; annotations.json was not written", file=sys.stderr)
        return 130
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
