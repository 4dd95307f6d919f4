"""The model cache on the trained model's export, for each engine: ONNX Runtime's graph saved after its optimisations
and loaded back (optimisations off), and OpenVINO's exported compiled model imported back, give exactly the
detections of a direct load. One image, three `kprcnn predict` runs per engine: no cache, first start (writes the
entry), restart (loads it). A damaged OpenVINO entry is detected by its checksum and rebuilt, never imported."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

IMAGE = "faces_landscape"


def predict(cli, model, image, out, cache, *extra):
    env = dict(os.environ, XDG_CACHE_HOME=str(cache))
    result = subprocess.run([str(cli), "predict", "--no-draw", "-m", str(model), "-i", str(image), "-o", str(out),
                             *extra], capture_output=True, text=True, timeout=1200, env=env)
    assert result.returncode == 0, result.stderr
    return result.stderr, json.loads((out / f"{IMAGE}.json").read_text())


@pytest.mark.parametrize("engine, suffix", [("ort", "*.onnx"), ("openvino", "*.ovblob")])
def test_cached_model_gives_identical_detections(cli, trained_model, trained_images, tmp_path, engine, suffix):
    """fault row 19 (the rebuilt entry's answers are the direct load's)."""
    image = tmp_path / f"{IMAGE}.png"
    shutil.copy(trained_images / f"{IMAGE}.png", image)
    cache = tmp_path / "xdg"
    engine_args = ("--engine", engine)
    _, direct = predict(cli, trained_model.onnx, image, tmp_path / "direct", cache, "--no-cache", *engine_args)
    first, written = predict(cli, trained_model.onnx, image, tmp_path / "first", cache, *engine_args)
    again, loaded = predict(cli, trained_model.onnx, image, tmp_path / "again", cache, *engine_args)
    assert "cached for the next start" in first, first
    assert "(optimised-model cache)" in again, again
    assert len(list((cache / "kprcnn").glob(suffix))) == 1
    assert direct["detections"], "the scene should have detections"
    assert written == direct
    assert loaded == direct  # bit-identical numbers, not merely close
    print(f"\n{len(direct['detections'])} detections identical; load: {first.splitlines()[0]} | {again.splitlines()[0]}")


@pytest.mark.parametrize("damage", ["flipped byte", "truncated", "empty"])
def test_damaged_openvino_entry_is_rebuilt_not_served(cli, trained_model, trained_images, tmp_path, damage):
    """fault row 19: the checksum trailer catches the damage before OpenVINO reads the blob."""
    image = tmp_path / f"{IMAGE}.png"
    shutil.copy(trained_images / f"{IMAGE}.png", image)
    cache = tmp_path / "xdg"
    args = ("--engine", "openvino")
    _, written = predict(cli, trained_model.onnx, image, tmp_path / "first", cache, *args)
    [entry] = (cache / "kprcnn").glob("*.ovblob")
    data = bytearray(entry.read_bytes())
    if damage == "flipped byte":
        data[len(data) // 2] ^= 0x40
    elif damage == "truncated":
        data = data[: len(data) - 1000]
    else:
        data = bytearray()
    entry.write_bytes(bytes(data))
    log, rebuilt = predict(cli, trained_model.onnx, image, tmp_path / "rebuilt", cache, *args)
    assert "(optimised-model cache)" not in log and "rebuilt" in log, log
    assert rebuilt == written
    # The rebuilt entry is whole again: the next start imports it.
    again, loaded = predict(cli, trained_model.onnx, image, tmp_path / "again", cache, *args)
    assert "(optimised-model cache)" in again, again
    assert loaded == written
