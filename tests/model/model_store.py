"""The parity test model and where it is kept: one random-init checkpoint exported once per exporter/torch version
and shared by the test suites that need a full export.

`tests/model` (model parity) exports it itself when the store has no copy; the exporter's own tests
(`python/tests`, which ctest runs first) export the same checkpoint as users do — verified against PyTorch — and
hand that export to the store, so `make test` pays for one full export instead of two. The store is
$KPRCNN_MODEL_CACHE (ctest: <build>/test-models), else <build>/test-models.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE_DIR = Path(os.environ.get("KPRCNN_SOURCE_DIR", HERE.parent.parent))
BUILD_DIR = Path(os.environ.get("KPRCNN_BUILD_DIR", SOURCE_DIR / "build"))
PYTHON_DIR = SOURCE_DIR / "python"

# The test model: random init, seed 0, K=3, 2 classes (background + 1). Changing this changes the store key.
SEED, NUM_KEYPOINTS, NUM_CLASSES = 0, 3, 2
LABELS = ("left", "right", "top")
# Files of a stored model folder.
MODEL, CHECKPOINT, COLORMAP = "model.onnx", "checkpoint.pth", "parity-colormap.json"
# The repository's trained model (models/face: kprcnn train's folder, exported by the tests as users would).
TRAINED_CHECKPOINT = SOURCE_DIR / "models" / "face" / "face.pth"
TRAINED_COLORMAP = SOURCE_DIR / "models" / "face" / "face-colormap.json"


def sha256_files(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def model_key() -> str:
    """Changes when the exporter's code, torch, torchvision or the test checkpoint recipe change."""
    import torch
    import torchvision

    sources = sorted((PYTHON_DIR / "kprcnn_export").glob("*.py"))
    recipe = f"seed={SEED} K={NUM_KEYPOINTS} classes={NUM_CLASSES} labels={','.join(LABELS)}"
    text = f"{sha256_files(sources)} torch={torch.__version__} torchvision={torchvision.__version__} {recipe}"
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def trained_key() -> str:
    """Changes when the exporter's code, torch, torchvision or the trained model change."""
    import torch
    import torchvision

    sources = sorted((PYTHON_DIR / "kprcnn_export").glob("*.py")) + [TRAINED_CHECKPOINT, TRAINED_COLORMAP]
    text = f"{sha256_files(sources)} torch={torch.__version__} torchvision={torchvision.__version__} trained"
    return "trained-" + hashlib.sha256(text.encode()).hexdigest()[:20]


def store_root() -> Path:
    return Path(os.environ.get("KPRCNN_MODEL_CACHE") or BUILD_DIR / "test-models")


def stored_folder(name: str, make: Callable[[Path], None]) -> Path:
    """<store>/<name>, made once by make(staging_folder) and renamed into place atomically."""
    root = store_root()
    folder = root / name
    if not (folder / MODEL).is_file():
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
        try:
            staging.chmod(0o755)
            make(staging)
            try:
                staging.rename(folder)  # atomic: a concurrent run either sees the whole folder or none
            except OSError:
                if not (folder / MODEL).is_file():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return folder


def adopt_export(model: Path, checkpoint: Path, colormap: Path) -> Path:
    """Keep an export of the test checkpoint (made elsewhere with default options) as the stored base model, unless
    the store already has one. The caller vouches that `checkpoint` is this module's recipe."""

    def make(folder: Path) -> None:
        shutil.copyfile(checkpoint, folder / CHECKPOINT)
        shutil.copyfile(colormap, folder / COLORMAP)
        shutil.copyfile(model, folder / MODEL)

    return stored_folder(model_key(), make)
