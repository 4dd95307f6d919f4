"""The trained model through the other front ends: `kprcnn serve` answers what `kprcnn predict` answers, and the
annotated image shows each confident face's keypoints in their colours."""

from __future__ import annotations

import importlib.util
import io
import json
import subprocess
import sys

import pytest
from conftest import SIZE, SOURCE_DIR, SUBJECTS

import reference

SERVER_TESTS = SOURCE_DIR / "tests" / "server"
IMAGE = "faces_landscape"


def server_harness():
    """tests/server's Server class (real `kprcnn serve` on a free port), loaded under another module name."""
    sys.path.insert(0, str(SERVER_TESTS))
    try:
        spec = importlib.util.spec_from_file_location("server_harness", SERVER_TESTS / "conftest.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(SERVER_TESTS))
    return module


def test_serve_answers_what_predict_answers(trained_model, trained_images, trained_run):
    harness = server_harness()
    server = harness.Server(trained_model.onnx, "--workers", "1")
    try:
        body = (trained_images / f"{IMAGE}.png").read_bytes()
        threshold = SUBJECTS["trained"].threshold
        resp = server.post(f"/v1/predict?threshold={threshold}&size={SIZE}", body, content_type="image/png")
        assert resp.status == 200, resp.body[:500]
        served = json.loads(resp.body)
        expected = trained_run.documents[IMAGE]["detections"]
        assert len(expected) >= 3
        # Same pipeline, same model: equal to float rounding (the CLI may load the optimised-model cache).
        tol = reference.Tolerance(coord=1e-3, score=1e-5)
        result = reference.compare(expected, served["detections"], tol, where="serve")
        assert not result.problems, "\n".join(result.problems[:10])
        png = server.post("/v1/predict?threshold=0.8&annotate=png", body, content_type="image/png")
        assert png.status == 200 and png.getheader("Content-Type") == "image/png"
        from PIL import Image

        with Image.open(io.BytesIO(png.body)) as image:
            assert image.size == (1024, 576)
    finally:
        server.close()
        server.wait()


def test_annotated_image_shows_the_keypoints_in_their_colours(cli, trained_model, trained_images, tmp_path):
    from PIL import Image

    out = tmp_path / "out"
    proc = subprocess.run([str(cli), "predict", "--model", str(trained_model.onnx), "--input",
                           str(trained_images / f"{IMAGE}.png"), "--output", str(out), "--threshold", "0.8"],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / f"{IMAGE}.json").read_text())
    colors = {item["label"]: item["color"] for item in json.loads(
        (trained_model.colormap).read_text())["items"]}  # fmt: skip
    assert doc["detections"], "premise: the model is confident on some face of the scene"
    top = doc["detections"][0]  # drawn last: nothing covers its dots
    with Image.open(out / f"{IMAGE}.png") as annotated:
        rgb = annotated.convert("RGB")
        checked = 0
        for k, kp in enumerate(top["keypoints"]):
            others = [q for j, q in enumerate(top["keypoints"]) if j != k]
            if any(abs(q["x"] - kp["x"]) < 12 and abs(q["y"] - kp["y"]) < 12 for q in others):
                continue  # another dot may overlap this one
            want = tuple(round(c * 255) for c in colors[kp["name"]])
            got = rgb.getpixel((min(int(kp["x"]), 1023), min(int(kp["y"]), 575)))
            assert max(abs(a - b) for a, b in zip(got, want)) <= 2, (kp, got, want)
            checked += 1
    assert checked >= 2
