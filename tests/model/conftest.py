"""Fixtures for the model parity tests: an exported random-init model (cached), test images, the torchvision eager
reference (cached), and one `kprcnn predict` run over all images.

Environment (set by ctest, see tests/CMakeLists.txt): KPRCNN_CLI (the kprcnn binary), KPRCNN_MODEL_CACHE (where
exported models and reference results are kept between runs), KPRCNN_SOURCE_DIR, KPRCNN_BUILD_DIR, PYTHONPATH.
Run by hand: PYTHONPATH=python KPRCNN_CLI=build/bin/kprcnn /usr/bin/python3 -m pytest -q tests/model
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SOURCE_DIR = Path(os.environ.get("KPRCNN_SOURCE_DIR", HERE.parent.parent))
BUILD_DIR = Path(os.environ.get("KPRCNN_BUILD_DIR", SOURCE_DIR / "build"))
PYTHON_DIR = SOURCE_DIR / "python"
sys.path.insert(0, str(PYTHON_DIR))
sys.path.insert(0, str(HERE))

import reference  # noqa: E402
from model_store import (  # noqa: E402
    CHECKPOINT, COLORMAP, LABELS, MODEL, NUM_CLASSES, NUM_KEYPOINTS, SEED, sha256_files, model_key, stored_folder,
)

THRESHOLD = 0.8  # the recipe's default; the random model scores these scenes above 0.93, the blank image below 0.71
SIZE = 512


@dataclass(frozen=True)
class ImageSpec:
    name: str
    width: int
    height: int
    seed: int | None  # None: a blank (uniform grey) image, on which nothing passes THRESHOLD


# Sorted by name, so the CLI (which sorts a folder) runs the blank image first and real scenes after it.
IMAGES = (
    ImageSpec("a_blank", 700, 700, None),
    ImageSpec("landscape", 1024, 576, 2),
    ImageSpec("portrait", 640, 960, 1),
    ImageSpec("square", 700, 700, 3),
)
SCENES = [img for img in IMAGES if img.seed is not None]


@dataclass(frozen=True)
class CachedModel:
    folder: Path
    onnx: Path
    checkpoint: Path
    key: str


def _export_into(folder: Path) -> None:
    from kprcnn_export.demo import write_checkpoint, write_colormap

    write_checkpoint(folder / CHECKPOINT, num_keypoints=NUM_KEYPOINTS, num_classes=NUM_CLASSES, seed=SEED)
    write_colormap(folder / COLORMAP, LABELS)
    _run_exporter([str(folder), "-o", str(folder / MODEL)], "the parity model")


def _run_exporter(args: list[str], what: str) -> None:
    """`python -m kprcnn_export ARGS --no-verify` (the parity tests compare with eager more closely themselves)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(PYTHON_DIR), os.environ.get("PYTHONPATH")])))
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "kprcnn_export", *args, "--no-verify"],
        capture_output=True, text=True, env=env, timeout=1200,
    )
    assert result.returncode == 0, f"export failed:\n{result.stdout}\n{result.stderr}"
    print(f"\nexported {what} in {time.monotonic() - started:.0f} s: {result.stdout.strip()}")


@pytest.fixture(scope="session")
def cached_model(tmp_path_factory: pytest.TempPathFactory) -> CachedModel:
    """The random-init model exported once per exporter/torch version, via `python -m kprcnn_export` (or the
    exporter tests' verified export of the same checkpoint, when they ran first: see model_store)."""
    key = model_key()
    folder = stored_folder(key, _export_into)
    return CachedModel(folder, folder / MODEL, folder / CHECKPOINT, key)


def cached_variant(base: CachedModel, *export_args: str) -> CachedModel:
    """The same checkpoint exported with other exporter options (cached beside the base model)."""
    suffix = hashlib.sha256(" ".join(export_args).encode()).hexdigest()[:8]

    def make(folder: Path) -> None:
        args = ["--checkpoint", str(base.checkpoint), "--colormap", str(base.folder / COLORMAP),
                "-o", str(folder / MODEL), *export_args]
        _run_exporter(args, f"a variant ({' '.join(export_args)})")

    folder = stored_folder(f"{base.key}-{suffix}", make)
    return CachedModel(folder, folder / MODEL, base.checkpoint, base.key)


def predict_folder(cli: Path, model: Path, images: Path, output: Path, threshold: float) -> CliRun:
    """`kprcnn predict` over a folder (one session, sorted order), JSON only; documents by image stem."""
    cmd = [str(cli), "predict", "--model", str(model), "--input", str(images), "--output", str(output),
           "--threshold", str(threshold), "--size", str(SIZE), "--no-draw"]
    started = time.monotonic()
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    print(f"\nkprcnn predict {model.name} on {images}: {time.monotonic() - started:.1f} s\n{result.stderr}")
    documents = {p.stem: json.loads(p.read_text()) for p in sorted(output.glob("*.json"))}
    return CliRun(result, output, documents)


def image_subset(image_dir: Path, folder: Path, names: list[str]) -> Path:
    """A folder with some of the test images (hard links), for runs that need only those."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        target = folder / f"{name}.png"
        if not target.exists():
            try:
                os.link(image_dir / f"{name}.png", target)
            except OSError:
                shutil.copyfile(image_dir / f"{name}.png", target)
    return folder


def draw_image(spec: ImageSpec):
    from PIL import Image

    from kprcnn_export.demo import draw_scene

    if spec.seed is None:
        return Image.new("RGB", (spec.width, spec.height), (128, 128, 128))
    return draw_scene(spec.width, spec.height, seed=spec.seed)


@pytest.fixture(scope="session")
def image_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test images as PNG (lossless: both sides decode the same pixels)."""
    folder = tmp_path_factory.mktemp("images")
    for spec in IMAGES:
        draw_image(spec).save(folder / f"{spec.name}.png")
    return folder


@pytest.fixture(scope="session")
def references(cached_model: CachedModel, image_dir: Path) -> dict[str, dict]:
    """torchvision eager results per image name, cached beside the model (keyed by image bytes and parameters)."""
    results: dict[str, dict] = {}
    model = None
    for spec in IMAGES:
        path = image_dir / f"{spec.name}.png"
        params = f"{sha256_files([path])} threshold={THRESHOLD} size={SIZE}"
        cache = cached_model.folder / f"reference-{hashlib.sha256(params.encode()).hexdigest()[:20]}.json"
        if cache.is_file():
            results[spec.name] = json.loads(cache.read_text())
            continue
        if model is None:
            model = reference.load_model(cached_model.checkpoint, NUM_KEYPOINTS, NUM_CLASSES)
        started = time.monotonic()
        doc = reference.predict(model, path, THRESHOLD, list(LABELS), SIZE)
        doc["eager_seconds"] = round(time.monotonic() - started, 2)
        print(f"\neager reference {spec.name} ({spec.width}x{spec.height}): {doc['eager_seconds']} s")
        temp = cache.with_suffix(".tmp")
        temp.write_text(json.dumps(doc, indent=1))
        os.replace(temp, cache)
        results[spec.name] = doc
    return results


def cli_path() -> Path:
    """The kprcnn binary: $KPRCNN_CLI (ctest sets it: missing is a failure), else build/bin/kprcnn (else skip)."""
    env = os.environ.get("KPRCNN_CLI")
    if env:
        path = Path(env)
        assert path.is_file(), f"KPRCNN_CLI={env} does not exist: build the kprcnn target first"
        return path
    path = BUILD_DIR / "bin" / "kprcnn"
    if not path.is_file():
        pytest.skip(f"no kprcnn binary ({path}); build it or set KPRCNN_CLI")
    return path


@pytest.fixture(scope="session")
def cli() -> Path:
    return cli_path()


@dataclass(frozen=True)
class CliRun:
    result: subprocess.CompletedProcess
    output: Path
    documents: dict[str, dict]


@pytest.fixture(scope="session")
def cli_run(cli: Path, cached_model: CachedModel, image_dir: Path, tmp_path_factory) -> CliRun:
    """One `kprcnn predict` over the whole folder: the blank image first, then the scenes, in one process."""
    out = tmp_path_factory.mktemp("predict")
    cmd = [str(cli), "predict", "--model", str(cached_model.onnx), "--input", str(image_dir), "--output", str(out),
           "--threshold", str(THRESHOLD), "--size", str(SIZE)]
    started = time.monotonic()
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    print(f"\nkprcnn predict on {len(IMAGES)} images: {time.monotonic() - started:.1f} s\n{result.stderr}")
    documents = {}
    for spec in IMAGES:
        path = out / f"{spec.name}.json"
        if path.is_file():
            documents[spec.name] = json.loads(path.read_text())
    return CliRun(result, out, documents)
