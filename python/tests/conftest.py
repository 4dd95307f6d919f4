"""Fixtures for the exporter's tests. Everything is written under pytest's tmp folders.

Costly things happen once per session: one random-init state_dict (seed 0, K=3, 2 classes), one checkpoint file,
and one full export (about a minute), verified against PyTorch eager through `kprcnn predict` when KPRCNN_CLI
names the binary (another minute or two). Error cases use small head-only checkpoints so they fail fast, before
any export, which is where the exporter checks them; the export flow itself is also driven around a fake graph
(test_export) and the verification around a stub model (test_verify), both in seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
import torch

PYTHON_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PYTHON_DIR))
# The model parity tests' store of exported models (tests/model/model_store.py), which this session's one full
# export is handed to when ctest runs both suites (KPRCNN_MODEL_CACHE set): make test then exports once, not twice.
MODEL_STORE_DIR = PYTHON_DIR.parent / "tests" / "model"

from kprcnn_export.checkpoint import BOX_WEIGHT, CLASS_WEIGHT, KEYPOINT_WEIGHT  # noqa: E402
from kprcnn_export.demo import random_state_dict, write_colormap  # noqa: E402

LABELS = ("left", "right", "top")
SEED, NUM_KEYPOINTS, NUM_CLASSES = 0, 3, 2  # the session's random-init checkpoint


def run_exporter(*args: str | os.PathLike[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``python -m kprcnn_export ARGS`` in a subprocess, as users run it."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PYTHON_DIR), env.get("PYTHONPATH")]))
    cmd = [sys.executable, "-m", "kprcnn_export", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def leftovers(folder: Path) -> list[str]:
    """Model or temporary files the exporter might have left in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.suffix in (".onnx", ".tmp") or p.name.endswith(".tmp"))


def assert_failed(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """Non-zero exit, one ``error: ...`` line on stderr naming the problem, no traceback."""
    assert result.returncode != 0, f"expected failure, got exit 0\nstdout: {result.stdout}\nstderr: {result.stderr}"
    err = result.stderr.strip()
    assert "Traceback" not in err, err
    last = err.splitlines()[-1] if err else ""
    assert last.startswith("error: "), err
    for fragment in fragments:
        assert fragment.lower() in last.lower(), f"{fragment!r} not in {last!r}"
    return last


def head_state(num_keypoints: int = 3, num_classes: int = 2) -> dict[str, torch.Tensor]:
    """Just the predictor tensors K and the class count are read from: enough for the checks before export."""
    return {
        KEYPOINT_WEIGHT: torch.zeros(512, num_keypoints, 4, 4),
        "roi_heads.keypoint_predictor.kps_score_lowres.bias": torch.zeros(num_keypoints),
        CLASS_WEIGHT: torch.zeros(num_classes, 1024),
        BOX_WEIGHT: torch.zeros(4 * num_classes, 1024),
    }


@pytest.fixture(scope="session")
def state_dict() -> dict[str, torch.Tensor]:
    """Random-init keypointrcnn_resnet50_fpn (nn.BatchNorm2d backbone), seed 0, K=3, 2 classes. Do not mutate."""
    return random_state_dict(num_keypoints=NUM_KEYPOINTS, num_classes=NUM_CLASSES, seed=SEED)


@pytest.fixture(scope="session")
def training_folder(tmp_path_factory: pytest.TempPathFactory, state_dict) -> Path:
    """A training folder as the recipe leaves it: hands-colormap.json + best.pth. Read-only for tests."""
    folder = tmp_path_factory.mktemp("training")
    torch.save(state_dict, folder / "best.pth")
    write_colormap(folder / "hands-colormap.json", LABELS)
    return folder


@pytest.fixture(scope="session")
def exported(training_folder: Path) -> tuple[subprocess.CompletedProcess[str], Path, onnx.ModelProto]:
    """The one full export of the session: ``python -m kprcnn_export FOLDER`` with default options (verified
    when KPRCNN_CLI is set, as ctest sets it)."""
    result = run_exporter(training_folder)
    assert result.returncode == 0, result.stderr
    path = training_folder / "hands-best.onnx"
    _hand_to_model_store(path, training_folder)
    return result, path, onnx.load(str(path))


def _hand_to_model_store(model: Path, training_folder: Path) -> None:
    """Give the verified export to the model parity tests' store (see MODEL_STORE_DIR) when it is the same
    checkpoint recipe; they would otherwise export this very checkpoint again."""
    if not os.environ.get("KPRCNN_MODEL_CACHE") or not (MODEL_STORE_DIR / "model_store.py").is_file():
        return
    sys.path.insert(0, str(MODEL_STORE_DIR))
    try:
        import model_store
    finally:
        sys.path.remove(str(MODEL_STORE_DIR))
    recipe = (model_store.SEED, model_store.NUM_KEYPOINTS, model_store.NUM_CLASSES, model_store.LABELS)
    if recipe == (SEED, NUM_KEYPOINTS, NUM_CLASSES, LABELS):
        model_store.adopt_export(model, training_folder / "best.pth", training_folder / "hands-colormap.json")


@pytest.fixture
def colormap_file(tmp_path: Path) -> Path:
    return write_colormap(tmp_path / "kp-colormap.json", LABELS)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests of the one full export carry the marker ``full_export``: ctest runs them as their own entry
    (`exporter_full`, next to the rest of the suite when ctest runs tests in parallel)."""
    for item in items:
        if "exported" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.full_export)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "full_export: uses the session's full (verified) export of resnet50_fpn")
