"""kprcnn_export: torchvision Keypoint R-CNN checkpoint + colormap -> ONNX model for kprcnn (C++ / ONNX Runtime).

Run as ``python -m kprcnn_export CHECKPOINT_DIR`` (see ``__main__.py``). The exporter owns the model contract that
the C++ side checks at load (input/output names, ranks, dynamic axes, opset) and writes everything the C++ side
needs (keypoint names and colours, K, versions) into the model's metadata, so the two sides cannot drift.

The torch-dependent parts (``checkpoint``, ``export``) load on first use, so importing the package is cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

from kprcnn_export.colormap import Colormap, load_colormap, parse_colormap  # noqa: E402
from kprcnn_export.errors import ExportError  # noqa: E402

_LAZY = {
    "CheckpointInfo": "checkpoint",
    "build_model": "checkpoint",
    "find_inputs": "checkpoint",
    "load_checkpoint": "checkpoint",
    "ExportResult": "export",
    "default_output_path": "export",
    "export_onnx": "export",
}

__all__ = ["__version__", "ExportError", "Colormap", "load_colormap", "parse_colormap", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"kprcnn_export.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'kprcnn_export' has no attribute {name!r}")
