"""The optimised-model cache on the trained model's export: the graph saved after ONNX Runtime's optimisations and loaded
back (optimisations off) gives exactly the detections of a direct load. One image, three `kprcnn predict` runs:
no cache, first start (writes the entry), restart (loads it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

IMAGE = "faces_landscape"


def predict(cli, model, image, out, cache, *extra):
    env = dict(os.environ, XDG_CACHE_HOME=str(cache))
    result = subprocess.run([str(cli), "predict", "--no-draw", "-m", str(model), "-i", str(image), "-o", str(out),
                             *extra], capture_output=True, text=True, timeout=1200, env=env)
    assert result.returncode == 0, result.stderr
    return result.stderr, json.loads((out / f"{IMAGE}.json").read_text())


def test_cached_model_gives_identical_detections(cli, trained_model, trained_images, tmp_path):
    image = tmp_path / f"{IMAGE}.png"
    shutil.copy(trained_images / f"{IMAGE}.png", image)
    cache = tmp_path / "xdg"
    _, direct = predict(cli, trained_model.onnx, image, tmp_path / "direct", cache, "--no-cache")
    first, written = predict(cli, trained_model.onnx, image, tmp_path / "first", cache)
    again, loaded = predict(cli, trained_model.onnx, image, tmp_path / "again", cache)
    assert "cached for the next start" in first, first
    assert "(optimised-model cache)" in again, again
    assert len(list((cache / "kprcnn").glob("*.onnx"))) == 1
    assert direct["detections"], "the scene should have detections"
    assert written == direct
    assert loaded == direct  # bit-identical numbers, not merely close
    print(f"\n{len(direct['detections'])} detections identical; load: {first.splitlines()[0]} | {again.splitlines()[0]}")
