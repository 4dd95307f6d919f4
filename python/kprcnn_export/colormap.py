"""Colormap files: ``{"items": [{"label": "nose", "color": [r, g, b]}, ...], "skeleton": [["a", "b"], ...]}``.

Colours are floats in 0..1 (the training folder's ``*-colormap.json``); ``skeleton`` is optional. K, the number
of keypoints, is the number of items, in model order. The normalised text (``Colormap.to_json``) is what the
exporter stores in the model metadata under ``kprcnn.colormap``; the C++ ``kprcnn::parse_colormap`` reads it.
Without a colormap file the exporter uses ``default_colormap(K)``: names ``kp0..kp{K-1}`` and distinct colours.
"""

from __future__ import annotations

import colorsys
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, NoReturn

from kprcnn_export.errors import ExportError


@dataclass(frozen=True)
class Colormap:
    labels: tuple[str, ...]
    colors: tuple[tuple[float, float, float], ...]
    skeleton: tuple[tuple[str, str], ...] = field(default=())

    @property
    def num_keypoints(self) -> int:
        return len(self.labels)

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": [{"label": label, "color": list(color)} for label, color in zip(self.labels, self.colors)],
            "skeleton": [list(pair) for pair in self.skeleton],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    def with_skeleton(self, pairs: list[tuple[str, str]] | tuple[tuple[str, str], ...], source: str) -> Colormap:
        """This colormap with its skeleton replaced by ``pairs`` (label pairs), validated like a file's."""
        doc = self.to_dict()
        doc["skeleton"] = [list(pair) for pair in pairs]
        return parse_colormap(json.dumps(doc), source=source)


def default_colormap(num_keypoints: int) -> Colormap:
    """Names ``kp0..kp{K-1}`` and K distinct colours (hues spread by the golden ratio, so neighbours differ most),
    no skeleton: what the exporter stores when the training folder has no colormap."""
    if num_keypoints < 1:
        raise ExportError(f"cannot make a colormap for {num_keypoints} keypoints")
    golden = (math.sqrt(5.0) - 1.0) / 2.0
    colors = []
    for i in range(num_keypoints):
        # Alternate two brightness levels as well, so that many keypoints stay distinguishable.
        r, g, b = colorsys.hsv_to_rgb((i * golden) % 1.0, 0.85, 0.95 if i % 2 == 0 else 0.75)
        colors.append((round(r, 3), round(g, 3), round(b, 3)))
    return Colormap(tuple(f"kp{i}" for i in range(num_keypoints)), tuple(colors))


def _fail(source: str, message: str) -> NoReturn:
    raise ExportError(f"colormap {source}: {message}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_colormap(text: str, source: str = "<text>") -> Colormap:
    """Parse and validate colormap JSON text; ExportError names the problem (``source`` is used in messages)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        _fail(source, f"not valid JSON ({e.msg} at line {e.lineno} column {e.colno})")
    if not isinstance(doc, dict) or "items" not in doc:
        _fail(source, 'expected a JSON object with an "items" list: {"items": [{"label": "nose", "color": [1, 0, 0]}]}')
    items = doc["items"]
    if not isinstance(items, list) or not items:
        _fail(source, '"items" must be a non-empty list of {"label": ..., "color": [r, g, b]}')

    labels: list[str] = []
    colors: list[tuple[float, float, float]] = []
    for i, item in enumerate(items):
        where = f"item {i}"
        if not isinstance(item, dict):
            _fail(source, f'{where} is not an object {{"label": ..., "color": [r, g, b]}}')
        label = item.get("label")
        if not isinstance(label, str) or not label.strip():
            _fail(source, f'{where} has no "label" (a non-empty string)')
        where = f'item {i} ("{label}")'
        if label in labels:
            _fail(source, f'duplicate label "{label}" (items {labels.index(label)} and {i}); labels must be unique')
        color = item.get("color")
        if not isinstance(color, list) or len(color) != 3 or not all(_is_number(c) for c in color):
            _fail(source, f'{where}: "color" must be a list of 3 numbers [r, g, b] in 0..1, got {json.dumps(color)}')
        if not all(math.isfinite(c) for c in color):
            _fail(source, f'{where}: "color" has a non-finite value')
        if not all(0.0 <= c <= 1.0 for c in color):
            hint = " (it looks like 0..255: divide by 255)" if all(0 <= c <= 255 for c in color) else ""
            _fail(source, f'{where}: "color" values must be in 0..1, got {color}{hint}')
        labels.append(label)
        colors.append((float(color[0]), float(color[1]), float(color[2])))

    skeleton: list[tuple[str, str]] = []
    raw_skeleton = doc.get("skeleton", [])
    if raw_skeleton is None:
        raw_skeleton = []
    if not isinstance(raw_skeleton, list):
        _fail(source, '"skeleton" must be a list of label pairs [["a", "b"], ...]')
    for j, pair in enumerate(raw_skeleton):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            _fail(source, f'skeleton entry {j} must be a pair of labels ["a", "b"], got {json.dumps(pair)}')
        unknown = [p for p in pair if p not in labels]
        if unknown:
            _fail(source, f'skeleton entry {j} names unknown label "{unknown[0]}" (labels: {", ".join(labels)})')
        if pair[0] == pair[1]:
            _fail(source, f'skeleton entry {j} joins "{pair[0]}" to itself')
        skeleton.append((pair[0], pair[1]))

    return Colormap(tuple(labels), tuple(colors), tuple(skeleton))


def load_colormap(path: str | os.PathLike[str]) -> Colormap:
    """Read and validate a colormap file."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ExportError(f"cannot read colormap {path}: {e.strerror or e}") from e
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ExportError(f"colormap {path}: not UTF-8 text (is it the right file?)") from e
    return parse_colormap(text, source=path)
