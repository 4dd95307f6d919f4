"""Helpers shared by the exporter's verification and the quantiser, free of torch (the quantiser's Python may
lack it): where the kprcnn binary is, the recipe's resize arithmetic, box overlap."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from kprcnn_export.errors import ExportError

CLI_ENV = "KPRCNN_CLI"


def find_cli() -> Path | None:
    """The kprcnn binary: $KPRCNN_CLI, else ``kprcnn`` on PATH, else None."""
    env = os.environ.get(CLI_ENV)
    if env:
        path = Path(env)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ExportError(f"{CLI_ENV}={env} is not an executable file; point it at the kprcnn binary")
        return path
    found = shutil.which("kprcnn")
    return Path(found) if found else None


def plan_resize(width: int, height: int, target: int) -> tuple[int, int]:
    """(w, h) with the shorter side ``target``: the arithmetic of the recipe's resize_img (and kprcnn predict)."""
    shorter = min(width, height)
    scale = shorter / target
    if width == height:
        return target, target
    if width < height:
        return target, int(height / scale)
    return int(width / scale), target


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two [x1, y1, x2, y2] boxes (0 when both are empty)."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def atomic_write(path: str | os.PathLike[str], data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it and rename it over ``path``: readers see the old
    file or the whole new one, never a part (an interruption or a full disk leaves the old one)."""
    path = os.fspath(path)
    fd, temp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=os.path.dirname(path) or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise
