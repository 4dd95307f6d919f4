"""Fixtures for the model tests: two exported models (cached), their test images, the torchvision eager reference
(cached) and one `kprcnn predict` run per model over its images.

The subjects:
  - "trained": the repository's trained face model (models/face: the slim architecture, trained by `kprcnn train`
    on `kprcnn synth` scenes), exported in seconds. It behaves as users' models do: a few confident detections
    and many weak ones. Every test whose subject does not depend on the architecture runs on it, on scenes it
    never saw (the validation seed), compared at a low threshold so that the weak detections count too.
  - "random_resnet50": a random-init keypointrcnn_resnet50_fpn (the recipe's architecture), on one scene, for
    parity of the architecture users fine-tune. Its export is the exporter tests' verified one when they ran
    first (see model_store).

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
    CHECKPOINT, COLORMAP, LABELS, MODEL, NUM_CLASSES, NUM_KEYPOINTS, SEED, TRAINED_CHECKPOINT, TRAINED_COLORMAP,
    model_key, sha256_files, stored_folder, trained_key,
)

SIZE = 512  # kprcnn predict's --size (the recipe's)
VAL_SEED = 2  # kprcnn synth's validation seed: scenes the trained model never saw (it trained on seed 1)


@dataclass(frozen=True)
class ImageSpec:
    name: str
    width: int
    height: int
    kind: str  # "blank" (uniform grey), "scene" (kprcnn_export.demo.draw_scene), "faces" (kprcnn synth)
    seed: int = 0


@dataclass(frozen=True)
class Subject:
    name: str
    labels: tuple[str, ...]
    images: tuple[ImageSpec, ...]  # sorted by name: the CLI (which sorts a folder) runs the blank image first
    threshold: float  # kprcnn predict --threshold for the parity run
    min_detections: int  # premise: each scene gives at least this many above the threshold

    @property
    def scenes(self) -> list[ImageSpec]:
        return [s for s in self.images if s.kind != "blank"]


SUBJECTS = {
    "trained": Subject(
        "trained",
        ("left_eye", "right_eye", "nose"),
        (
            ImageSpec("a_blank", 700, 700, "blank"),
            ImageSpec("faces_landscape", 1024, 576, "faces", 0),
            ImageSpec("faces_portrait", 480, 640, "faces", 1),
            ImageSpec("faces_square", 600, 600, "faces", 2),
        ),
        threshold=0.05,  # what the graph returns (box_score_thresh 0.05): confident and weak detections alike
        min_detections=3,
    ),
    "random_resnet50": Subject(
        "random_resnet50",
        LABELS,
        (ImageSpec("landscape", 1024, 576, "scene", 2),),  # one scene: PyTorch eager takes ~40 s on it
        threshold=0.8,  # the recipe's default; the random model scores the scene's candidates above 0.93
        min_detections=10,
    ),
}
# Parametrisation of per-scene tests: (subject, image) pairs.
SCENE_CASES = [(s.name, img) for s in SUBJECTS.values() for img in s.scenes]
SCENE_IDS = [f"{s}-{img.name}" for s, img in SCENE_CASES]


@dataclass(frozen=True)
class CachedModel:
    folder: Path
    onnx: Path
    checkpoint: Path
    colormap: Path
    key: str


def _run_exporter(args: list[str], what: str) -> None:
    """`python -m kprcnn_export ARGS --no-verify` (the parity tests compare with eager more closely themselves)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(PYTHON_DIR), os.environ.get("PYTHONPATH")])))
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "kprcnn_export", *args, "--no-verify"],
        capture_output=True, text=True, env=env, timeout=1200,
    )  # fmt: skip
    assert result.returncode == 0, f"export failed:\n{result.stdout}\n{result.stderr}"
    print(f"\nexported {what} in {time.monotonic() - started:.0f} s: {result.stdout.strip()}")


def _export_random(folder: Path) -> None:
    from kprcnn_export.demo import write_checkpoint, write_colormap

    write_checkpoint(folder / CHECKPOINT, num_keypoints=NUM_KEYPOINTS, num_classes=NUM_CLASSES, seed=SEED)
    write_colormap(folder / COLORMAP, LABELS)
    _run_exporter([str(folder), "-o", str(folder / MODEL)], "the random-init parity model")


def _export_trained(folder: Path) -> None:
    shutil.copyfile(TRAINED_CHECKPOINT, folder / TRAINED_CHECKPOINT.name)
    shutil.copyfile(TRAINED_COLORMAP, folder / TRAINED_COLORMAP.name)
    _run_exporter([str(folder), "-o", str(folder / MODEL)], "the trained model")


def cached_variant(base: CachedModel, *export_args: str) -> CachedModel:
    """The same checkpoint exported with other exporter options (cached beside the base model)."""
    suffix = hashlib.sha256(" ".join(export_args).encode()).hexdigest()[:8]

    def make(folder: Path) -> None:
        args = ["--checkpoint", str(base.checkpoint), "--colormap", str(base.colormap), "-o", str(folder / MODEL),
                *export_args]  # fmt: skip
        _run_exporter(args, f"a variant ({' '.join(export_args)})")

    folder = stored_folder(f"{base.key}-{suffix}", make)
    return CachedModel(folder, folder / MODEL, base.checkpoint, base.colormap, base.key)


def draw_image(spec: ImageSpec):
    from PIL import Image

    if spec.kind == "blank":
        return Image.new("RGB", (spec.width, spec.height), (128, 128, 128))
    if spec.kind == "scene":
        from kprcnn_export.demo import draw_scene

        return draw_scene(spec.width, spec.height, seed=spec.seed)
    from kprcnn_export.synth import face_scene

    # A validation scene scaled as the training scenes were (faces from 16 px at a 240-px shorter side): the
    # first one from index 1000 * seed on with at least two fully labelled faces.
    return face_scene(spec.width, spec.height, seed=VAL_SEED, first_index=spec.seed * 1000)


def predict_folder(cli: Path, model: Path, images: Path, output: Path, threshold: float) -> CliRun:
    """`kprcnn predict` over a folder (one session, sorted order), JSON only; documents by image stem."""
    cmd = [str(cli), "predict", "--model", str(model), "--input", str(images), "--output", str(output),
           "--threshold", str(threshold), "--size", str(SIZE), "--no-draw"]  # fmt: skip
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


@dataclass(frozen=True)
class CliRun:
    result: subprocess.CompletedProcess
    output: Path
    documents: dict[str, dict]


class Suite:
    """Per subject, made on first use and kept for the session: model, images, eager references, one CLI run."""

    def __init__(self, tmp: pytest.TempPathFactory):
        self.tmp = tmp
        self._memo: dict[tuple[str, str], object] = {}

    def _once(self, what: str, subject: str, make):
        key = (what, subject)
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def model(self, subject: str) -> CachedModel:
        def make() -> CachedModel:
            if subject == "trained":
                key = trained_key()
                folder = stored_folder(key, _export_trained)
                return CachedModel(folder, folder / MODEL, folder / TRAINED_CHECKPOINT.name,
                                   folder / TRAINED_COLORMAP.name, key)  # fmt: skip
            key = model_key()
            folder = stored_folder(key, _export_random)
            return CachedModel(folder, folder / MODEL, folder / CHECKPOINT, folder / COLORMAP, key)

        return self._once("model", subject, make)

    def image_dir(self, subject: str) -> Path:
        def make() -> Path:
            folder = self.tmp.mktemp(f"images-{subject}")
            for spec in SUBJECTS[subject].images:
                draw_image(spec).save(folder / f"{spec.name}.png")  # PNG: both sides decode the same pixels
            return folder

        return self._once("images", subject, make)

    def references(self, subject: str) -> dict[str, dict]:
        """torchvision eager results per image name, cached beside the model (keyed by image and parameters)."""

        def make() -> dict[str, dict]:
            spec_of = SUBJECTS[subject]
            cached = self.model(subject)
            results: dict[str, dict] = {}
            model = None
            for spec in spec_of.images:
                path = self.image_dir(subject) / f"{spec.name}.png"
                params = f"{sha256_files([path])} threshold={spec_of.threshold} size={SIZE}"
                cache = cached.folder / f"reference-{hashlib.sha256(params.encode()).hexdigest()[:20]}.json"
                if cache.is_file():
                    results[spec.name] = json.loads(cache.read_text())
                    continue
                if model is None:
                    model = reference.load_model(cached.checkpoint)
                started = time.monotonic()
                doc = reference.predict(model, path, spec_of.threshold, list(spec_of.labels), SIZE)
                doc["eager_seconds"] = round(time.monotonic() - started, 2)
                print(f"\neager reference {subject} {spec.name} ({spec.width}x{spec.height}): {doc['eager_seconds']} s")
                temp = cache.with_suffix(".tmp")
                temp.write_text(json.dumps(doc, indent=1))
                os.replace(temp, cache)
                results[spec.name] = doc
            return results

        return self._once("references", subject, make)

    def run(self, subject: str, engine: str = "auto") -> CliRun:
        """One `kprcnn predict --engine ENGINE` over the subject's folder (blank image first, then the scenes, one
        process), annotated images on."""

        def make() -> CliRun:
            out = self.tmp.mktemp(f"predict-{subject}-{engine}")
            cmd = [str(cli_path()), "predict", "--model", str(self.model(subject).onnx), "--input",
                   str(self.image_dir(subject)), "--output", str(out), "--threshold",
                   str(SUBJECTS[subject].threshold), "--size", str(SIZE), "--engine", engine]  # fmt: skip
            started = time.monotonic()
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
            print(f"\nkprcnn predict ({subject}, --engine {engine}): {time.monotonic() - started:.1f} s\n{result.stderr}")
            documents = {p.stem: json.loads(p.read_text()) for p in sorted(out.glob("*.json"))}
            return CliRun(result, out, documents)

        return self._once(f"run-{engine}", subject, make)


@pytest.fixture(scope="session")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Suite:
    return Suite(tmp_path_factory)


@pytest.fixture(scope="session")
def cli() -> Path:
    return cli_path()


# The trained model's fixtures, for the tests that use it alone.
@pytest.fixture(scope="session")
def trained_model(suite: Suite) -> CachedModel:
    return suite.model("trained")


@pytest.fixture(scope="session")
def trained_images(suite: Suite) -> Path:
    return suite.image_dir("trained")


@pytest.fixture(scope="session")
def trained_run(suite: Suite, cli: Path) -> CliRun:
    return suite.run("trained")


@pytest.fixture(scope="session")
def trained_references(suite: Suite) -> dict[str, dict]:
    return suite.references("trained")
