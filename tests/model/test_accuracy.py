"""The bundled trained model's accuracy, measured as models/README.md says: COCO keypoint AP (pycocotools, OKS with
the sigmas `kprcnn synth` records) of `kprcnn predict --coco` on 200 validation scenes it never saw (seed 2; it
trained on seed 1). The claim is AP >= 0.6; the figure is printed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import BUILD_DIR, PYTHON_DIR, SOURCE_DIR

VENV_PYTHON = BUILD_DIR / "venv" / "bin" / "python"
VAL_SCENES = 200


@pytest.fixture(scope="module")
def val_split(tmp_path_factory):
    out = tmp_path_factory.mktemp("val")
    subprocess.run([sys.executable, "-m", "kprcnn_export.synth", "--out", str(out), "--count", str(VAL_SCENES),
                    "--seed", "2", "--quiet"], check=True, timeout=600,
                   env={"PYTHONPATH": str(PYTHON_DIR), "PATH": "/usr/bin:/bin"})  # fmt: skip
    return out


def test_trained_model_keypoint_ap(cli, trained_model, val_split, tmp_path):
    if not VENV_PYTHON.exists():
        pytest.skip("no build/venv (scripts/setup.sh makes it, with pycocotools)")
    results = tmp_path / "results.json"
    proc = subprocess.run([str(cli), "predict", "--model", str(trained_model.onnx), "--input", str(val_split),
                           "--output", str(tmp_path / "out"), "--threshold", "0.05", "--no-draw", "--quiet",
                           "--coco", str(results)], capture_output=True, text=True, timeout=1200)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    ap = subprocess.run([str(VENV_PYTHON), str(SOURCE_DIR / "scripts" / "coco_ap.py"), "--annotations",
                         str(val_split / "annotations.json"), "--results", str(results)],
                        capture_output=True, text=True, timeout=600)  # fmt: skip
    assert ap.returncode == 0, ap.stderr
    print("\n" + ap.stdout)
    stats = json.loads(ap.stdout.strip().splitlines()[-1])
    assert stats["images"] == VAL_SCENES and stats["sigmas"] == [0.06, 0.06, 0.0624]
    assert stats["keypoints"]["AP"] >= 0.6, stats["keypoints"]
