"""--box-score-thresh pushed into the graph: every detection above it is the one the default export gives, and a
session survives an image on which the graph returns no detection at all (then runs the next image).

On the trained model: one extra export (seconds, cached beside it). The default model's results come from the
parity run (`trained_run`, threshold 0.05, which keeps everything above PUSHDOWN).
"""

from __future__ import annotations

import json

import pytest
from conftest import SUBJECTS, cached_variant, image_subset, predict_folder

PUSHDOWN = 0.5  # between the trained model's confident faces and its weak detections; the blank image has none above
IMAGES = ["a_blank", "faces_landscape", "faces_portrait"]  # blank first: zero detections inside the graph, then scenes
COORD_TOL = 1e-3  # px: the keypoint head runs on fewer boxes, the same computation per box
SCORE_TOL = 1e-5


@pytest.fixture(scope="module")
def pushdown_model(trained_model):
    assert PUSHDOWN > SUBJECTS["trained"].threshold
    return cached_variant(trained_model, "--box-score-thresh", str(PUSHDOWN))


@pytest.fixture(scope="module")
def pushdown_run(cli, pushdown_model, trained_images, tmp_path_factory):
    images = image_subset(trained_images, tmp_path_factory.mktemp("pushdown-images"), IMAGES)
    # Threshold 0: whatever the graph returns, so that anything at or below PUSHDOWN would show.
    return predict_folder(cli, pushdown_model.onnx, images, tmp_path_factory.mktemp("pushdown"), threshold=0.0)


def test_threshold_is_recorded(pushdown_model):
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(pushdown_model.onnx), load_external_data=False).metadata_props}
    options = json.loads(meta["kprcnn.export_options"])
    assert options["box_score_thresh"] == PUSHDOWN and options["detections_per_img"] == 100


def test_zero_detections_then_detections_in_one_session(pushdown_run):
    assert pushdown_run.result.returncode == 0, pushdown_run.result.stderr
    assert pushdown_run.documents["a_blank"]["detections"] == []
    assert all(len(pushdown_run.documents[name]["detections"]) >= 1 for name in IMAGES[1:])


@pytest.mark.parametrize("name", IMAGES[1:])
def test_detections_above_the_threshold_are_identical(pushdown_run, trained_run, name):
    pushed = pushdown_run.documents[name]["detections"]
    everything = trained_run.documents[name]["detections"]
    default = [d for d in everything if d["score"] > PUSHDOWN]
    assert len(everything) > len(default), "premise: the default export also returns detections below PUSHDOWN"
    assert all(d["score"] > PUSHDOWN for d in pushed)
    assert len(pushed) == len(default), f"{len(pushed)} with the threshold in the graph, {len(default)} without"
    worst = 0.0
    for a, b in zip(pushed, default):
        assert a["label"] == b["label"]
        assert abs(a["score"] - b["score"]) <= SCORE_TOL, (a["score"], b["score"])
        coords = [*zip(a["box"], b["box"])]
        coords += [(p[k], q[k]) for p, q in zip(a["keypoints"], b["keypoints"]) for k in "xy"]
        worst = max([worst] + [abs(x - y) for x, y in coords])
    print(f"\n{name}: {len(pushed)} detections above {PUSHDOWN} identical; max |diff| coordinates {worst:.2g} px")
    assert worst <= COORD_TOL
