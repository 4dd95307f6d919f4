"""The bundled trained model's accuracy, measured as models/README.md says: COCO keypoint AP (OKS with the sigmas
`kprcnn synth` records) on 200 validation scenes it never saw (seed 2; it trained on seed 1), by
`kprcnn eval --model --images` — which runs the model itself — and checked against pycocotools on the results it
wrote, and against `kprcnn predict --coco` on some of the same images. The claim is AP >= 0.6; the figure is
printed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import BUILD_DIR, PYTHON_DIR, SOURCE_DIR

VENV_PYTHON = BUILD_DIR / "venv" / "bin" / "python"
VAL_SCENES = 200
PREDICT_SUBSET = 12


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
    gt, results, stats = val_split / "annotations.json", tmp_path / "results.json", tmp_path / "stats.json"
    proc = subprocess.run([str(cli), "eval", "--annotations", str(gt), "--images", str(val_split), "--model",
                           str(trained_model.onnx), "--min-score", "0.05", "--write-results", str(results),
                           "--json", str(stats)], capture_output=True, text=True, timeout=1200)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    print("\n" + proc.stdout)
    got = json.loads(stats.read_text())
    assert got["images"] == VAL_SCENES and "OKS sigmas (kprcnn_oks_sigmas): 0.06 0.06 0.0624" in proc.stdout
    assert got["keypoints"]["AP"] >= 0.6, got["keypoints"]

    # pycocotools on the detections kprcnn eval ran and scored: the same 22 numbers.
    ap = subprocess.run([str(VENV_PYTHON), str(SOURCE_DIR / "scripts" / "coco_ap.py"), "--annotations", str(gt),
                         "--results", str(results)], capture_output=True, text=True, timeout=600)  # fmt: skip
    assert ap.returncode == 0, ap.stderr
    expected = json.loads(ap.stdout.strip().splitlines()[-1])
    for kind in ("keypoints", "bbox"):
        for name, value in expected[kind].items():
            assert abs(got[kind][name] - value) <= 1e-9, (kind, name, got[kind][name], value)

    # kprcnn predict --coco on the first scenes (file stems are the ground truth's ids) writes the same detections.
    subset = tmp_path / "subset"
    subset.mkdir()
    for image in sorted(val_split.glob("*.jpg"))[:PREDICT_SUBSET]:
        (subset / image.name).symlink_to(image)
    coco = tmp_path / "predict.json"
    proc = subprocess.run([str(cli), "predict", "--model", str(trained_model.onnx), "--input", str(subset),
                           "--output", str(tmp_path / "out"), "--threshold", "0.05", "--no-draw", "--quiet",
                           "--coco", str(coco)], capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    by_eval = [r for r in json.loads(results.read_text()) if r["image_id"] <= PREDICT_SUBSET]
    assert by_eval and json.loads(coco.read_text()) == by_eval
