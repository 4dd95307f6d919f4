"""Fixtures for the Python module's tests: the module built in the build tree (<build>/python/kprcnn), the
repository's trained face model (exported once into the shared model store, as tests/model does), scenes it never
saw, and `kprcnn predict` run on them for the JSON the module must reproduce.

Environment (ctest sets it, tests/CMakeLists.txt): KPRCNN_BUILD_DIR, KPRCNN_SOURCE_DIR, KPRCNN_CLI,
KPRCNN_MODEL_CACHE, XDG_CACHE_HOME. Run by hand:
  KPRCNN_CLI=build/bin/kprcnn build/venv/bin/python -m pytest -q tests/python_module
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SOURCE_DIR = Path(os.environ.get("KPRCNN_SOURCE_DIR", HERE.parent.parent))
BUILD_DIR = Path(os.environ.get("KPRCNN_BUILD_DIR", SOURCE_DIR / "build"))
sys.path.insert(0, str(BUILD_DIR / "python"))  # the module as the build tree lays it out
sys.path.insert(0, str(SOURCE_DIR / "python"))  # kprcnn_export (the exporter and kprcnn synth's scenes)
sys.path.insert(0, str(SOURCE_DIR / "tests" / "model"))

from model_store import MODEL, TRAINED_CHECKPOINT, TRAINED_COLORMAP, stored_folder, trained_key  # noqa: E402

OPENVINO_BUILT = os.environ.get("KPRCNN_OPENVINO_BUILT", "ON") == "ON"
ENGINES = ["ort", pytest.param("openvino", marks=pytest.mark.skipif(not OPENVINO_BUILT, reason="no OpenVINO"))]
THRESHOLD = 0.3  # below the recipe's 0.8, so that weak detections are compared too
# Scenes of kprcnn synth's validation seed (the model trained on seed 1): (name, width, height, first index).
SCENES = [("faces_a", 640, 480, 0), ("faces_b", 480, 640, 1000)]


def _export_trained(folder: Path) -> None:
    """The same export tests/model makes of models/face (same store key, so whichever runs first makes it)."""
    shutil.copyfile(TRAINED_CHECKPOINT, folder / TRAINED_CHECKPOINT.name)
    shutil.copyfile(TRAINED_COLORMAP, folder / TRAINED_COLORMAP.name)
    env = dict(os.environ, PYTHONPATH=str(SOURCE_DIR / "python"))
    python = os.environ.get("KPRCNN_PYTHON", "/usr/bin/python3")
    result = subprocess.run([python, "-m", "kprcnn_export", str(folder), "-o", str(folder / MODEL), "--no-verify"],
                            capture_output=True, text=True, env=env, timeout=1200)  # fmt: skip
    assert result.returncode == 0, f"export failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="session")
def model() -> Path:
    return stored_folder(trained_key(), _export_trained) / MODEL


@pytest.fixture(scope="session")
def cli() -> Path:
    path = Path(os.environ.get("KPRCNN_CLI") or BUILD_DIR / "bin" / "kprcnn")
    assert path.is_file(), f"no kprcnn binary at {path}: build it or set KPRCNN_CLI"
    return path


@pytest.fixture(scope="session")
def scenes(tmp_path_factory) -> dict[str, Path]:
    """name -> PNG path (PNG: lossless, so path, bytes and the decoded array are the same pixels) plus one JPEG."""
    from kprcnn_export.synth import face_scene

    folder = tmp_path_factory.mktemp("scenes")
    paths = {}
    for name, width, height, first in SCENES:
        image = face_scene(width, height, seed=2, first_index=first)
        paths[name] = folder / f"{name}.png"
        image.save(paths[name])
    paths["faces_jpeg"] = folder / "faces_jpeg.jpg"
    face_scene(512, 384, seed=2, first_index=2000).save(paths["faces_jpeg"], quality=90)
    return paths


def cli_predict(cli: Path, model: Path, image: Path, out: Path, engine: str, draw: bool = False) -> str:
    """`kprcnn predict` on one image: the JSON text it writes (and out/<stem>.png when drawing)."""
    cmd = [str(cli), "predict", "--model", str(model), "--input", str(image), "--output", str(out), "--engine",
           engine, "--threshold", str(THRESHOLD), "--no-cache", *([] if draw else ["--no-draw"])]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return (out / f"{image.stem}.json").read_text()


@pytest.fixture(scope="session")
def cli_documents(cli, model, scenes, tmp_path_factory) -> dict[tuple[str, str], str]:
    """(engine, scene name) -> the CLI's JSON text."""
    docs = {}
    for engine in ("ort", "openvino") if OPENVINO_BUILT else ("ort",):
        out = tmp_path_factory.mktemp(f"cli-{engine}")
        for name, path in scenes.items():
            docs[engine, name] = cli_predict(cli, model, path, out, engine)
    return docs
