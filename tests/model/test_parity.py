"""`kprcnn predict` (C++, on each engine: ONNX Runtime and OpenVINO in f32) against torchvision eager on the same
checkpoint: the trained face model on validation scenes (every detection the graph returns, weak ones included) and
a random-init keypointrcnn_resnet50_fpn on one scene (the recipe's architecture). The same tolerances hold for both
engines; the two engines also agree with each other on the trained model well within them.

Tolerances (reference.Tolerance, all absolute): on the trained model boxes and keypoints within 1e-3 px, detection
scores within 1e-4, keypoint scores (heatmap logits of magnitude ~10-40, out of a bicubic heatmap upsampling that
the engines and PyTorch round differently) within 2e-3 — about 4x the measured differences (2.3e-4 px, 3.4e-4;
Xeon, both engines). The random resnet50_fpn's 100 near-tied detections amplify float noise (measured 3.6e-3 px,
keypoint scores 6.6e-4): it is held to 1e-2 px. Order ties within 1e-4 are matched by box IoU. Detections whose score lies within the tolerance of a cut-off (the threshold,
or the 100th detection when the model's 100-detection cap is reached) may be present on one side only.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import SCENE_CASES, SCENE_IDS, SUBJECTS

import reference

TOL = reference.Tolerance()
TOL_RANDOM = reference.Tolerance(coord=1e-2)  # the random resnet50_fpn (docstring)
MAX_DETECTIONS = 100  # torchvision's detections_per_img


def without_borderline(expected: list, actual: list, threshold: float) -> tuple[list, list, int]:
    """Drop detections that may legitimately be on one side only (scores at a cut-off, within tolerance)."""
    cutoffs = [threshold]
    if len(expected) == MAX_DETECTIONS or len(actual) == MAX_DETECTIONS:
        last = min(d["score"] for d in (expected or actual))
        cutoffs.append(last)
    keep_e, keep_a = list(expected), list(actual)
    for cut in cutoffs:
        keep_e = [d for d in keep_e if abs(d["score"] - cut) > TOL.score]
        keep_a = [d for d in keep_a if abs(d["score"] - cut) > 2 * TOL.score]
    if len(cutoffs) > 1:  # past the cap, either side may hold a different last few
        floor = cutoffs[1] + 2 * TOL.score
        keep_e = [d for d in keep_e if d["score"] > floor]
        keep_a = [d for d in keep_a if d["score"] > floor]
    return keep_e, keep_a, len(expected) - len(keep_e)


SUBJECT_NAMES = list(SUBJECTS)


@pytest.mark.parametrize("subject", SUBJECT_NAMES)
def test_predict_succeeds_on_the_whole_folder(suite, subject):
    run = suite.run(subject)
    assert run.result.returncode == 0, run.result.stderr
    for spec in SUBJECTS[subject].images:
        assert (run.output / f"{spec.name}.json").is_file(), spec.name
        assert (run.output / f"{spec.name}.png").is_file(), spec.name  # annotated image (draw is on)


@pytest.mark.parametrize("subject", [s.name for s in SUBJECTS.values() if any(i.kind == "blank" for i in s.images)])
def test_blank_image_gives_the_eager_answer(suite, subject):
    """A uniform grey image first in the session: the trained model finds no face with confidence there; whatever
    eager finds, kprcnn finds, and the next images in the session still work (test_parity_with_torchvision)."""
    expected = suite.references(subject)["a_blank"]["detections"]
    doc = suite.run(subject).documents["a_blank"]
    assert (doc["width"], doc["height"]) == (700, 700)
    assert all(d["score"] < 0.5 for d in expected), "premise: no confident detection on a grey image"
    kept_e, kept_a, _ = without_borderline(expected, doc["detections"], SUBJECTS[subject].threshold)
    result = reference.compare(kept_e, kept_a, TOL if subject == "trained" else TOL_RANDOM, where=f"{subject} a_blank")
    assert not result.problems, "\n".join(result.problems[:20])


@pytest.mark.parametrize("subject, spec", SCENE_CASES, ids=SCENE_IDS)
def test_document_fields(suite, subject, spec):
    labels, threshold = SUBJECTS[subject].labels, SUBJECTS[subject].threshold
    doc = suite.run(subject).documents[spec.name]
    assert doc["image"] == f"{spec.name}.png"
    assert (doc["width"], doc["height"]) == (spec.width, spec.height)
    assert doc["model"] == suite.model(subject).onnx.name
    scores = [d["score"] for d in doc["detections"]]
    assert scores == sorted(scores, reverse=True)
    for det in doc["detections"]:
        assert det["score"] > threshold and det["label"] == 1
        x1, y1, x2, y2 = det["box"]
        assert 0 <= x1 <= x2 <= spec.width and 0 <= y1 <= y2 <= spec.height
        assert [k["name"] for k in det["keypoints"]] == list(labels)
        for k in det["keypoints"]:
            assert 0 <= k["x"] <= spec.width and 0 <= k["y"] <= spec.height


ENGINES = ["ort", "openvino"]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("subject, spec", SCENE_CASES, ids=SCENE_IDS)
def test_parity_with_torchvision(suite, subject, spec, engine):
    s = SUBJECTS[subject]
    run = suite.run(subject, engine)
    assert run.result.returncode == 0, run.result.stderr
    assert f"engine: {'onnxruntime' if engine == 'ort' else 'openvino'} " in run.result.stderr
    expected_doc, actual_doc = suite.references(subject)[spec.name], run.documents[spec.name]
    assert (actual_doc["width"], actual_doc["height"]) == (expected_doc["width"], expected_doc["height"])
    expected, actual, dropped = without_borderline(expected_doc["detections"], actual_doc["detections"], s.threshold)
    assert len(expected) >= s.min_detections, f"premise: at least {s.min_detections} detections above {s.threshold}"
    result = reference.compare(expected, actual, TOL if subject == "trained" else TOL_RANDOM, where=spec.name)
    confident = sum(d["score"] > 0.8 for d in expected)
    print(f"\n{subject} {spec.name} --engine {engine} {spec.width}x{spec.height} (input {expected_doc['input_size']}): "
          f"{result.summary()} ({confident} above 0.8){f'; {dropped} borderline left out' if dropped else ''}")
    assert not result.problems, "\n".join(result.problems[:20])


def test_trained_model_is_confident_on_faces_only(suite):
    """Premise of the trained subject: a few confident detections per scene, among many weak ones."""
    for spec in SUBJECTS["trained"].scenes:
        scores = [d["score"] for d in suite.references("trained")[spec.name]["detections"]]
        assert 1 <= sum(s > 0.8 for s in scores) <= 12, (spec.name, scores)
        assert sum(s <= 0.8 for s in scores) >= 1, (spec.name, scores)


@pytest.mark.parametrize("subject", SUBJECT_NAMES)
def test_info_names_the_keypoints_and_architecture(suite, cli, subject):
    model = suite.model(subject).onnx
    result = subprocess.run([str(cli), "info", str(model)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    for label in SUBJECTS[subject].labels:
        assert label in result.stdout
    assert "keypoints (3)" in result.stdout
    expected = "architecture: slim: " if subject == "trained" else "architecture: resnet50_fpn: resnet50"
    assert expected in result.stdout
    size = "240, longer side at most 400" if subject == "trained" else "800, longer side at most 1333"
    assert f"internal size: shorter side {size}" in result.stdout


@pytest.mark.parametrize("subject", SUBJECT_NAMES)
def test_model_metadata_carries_the_colormap(suite, subject):
    import onnx

    model = onnx.load(str(suite.model(subject).onnx), load_external_data=False)
    meta = {p.key: p.value for p in model.metadata_props}
    assert [i["label"] for i in json.loads(meta["kprcnn.colormap"])["items"]] == list(SUBJECTS[subject].labels)


def test_engines_give_the_same_detections(suite):
    """The trained model on every validation scene: OpenVINO (f32) returns ONNX Runtime's detections (weak ones
    included), matched as against eager (order ties by IoU, cut-off borderline left out), within the same
    tolerances (measured: ~5e-5 px apart)."""
    s = SUBJECTS["trained"]
    ort, openvino = suite.run("trained", "ort"), suite.run("trained", "openvino")
    assert ort.result.returncode == 0 and openvino.result.returncode == 0, ort.result.stderr + openvino.result.stderr
    assert ort.documents.keys() == openvino.documents.keys() and ort.documents
    compared = 0
    for name, a in ort.documents.items():
        expected, actual, _ = without_borderline(a["detections"], openvino.documents[name]["detections"], s.threshold)
        result = reference.compare(expected, actual, TOL, where=name)
        assert not result.problems, "\n".join(result.problems[:20])
        compared += len(expected)
    assert compared >= 6


def test_auto_engine_is_openvino_for_a_float_model(suite):
    run = suite.run("trained")
    assert run.result.returncode == 0, run.result.stderr
    assert "engine: openvino " in run.result.stderr and "(auto: " in run.result.stderr
