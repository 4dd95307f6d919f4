"""The comparison logic and the recipe's resize arithmetic, checked without a model (fast)."""

from __future__ import annotations

import copy

import pytest

import reference


@pytest.mark.parametrize(
    "size, expected",
    [
        ((960, 640), (768, 512)),
        ((640, 960), (512, 768)),
        ((1024, 576), (910, 512)),
        ((700, 700), (512, 512)),
        ((512, 300), (873, 512)),  # upscaling
        ((1000, 3), (170666, 512)),
    ],
)
def test_plan_resize(size, expected):
    assert reference.plan_resize(*size) == expected


def test_plan_resize_divisor():
    assert reference.plan_resize(1024, 576, 512, divisor=32) == (896, 512)


def detection(score, box, kps=((10.0, 20.0, 5.0), (30.0, 40.0, 6.0))):
    names = ["a", "b"]
    return {
        "label": 1,
        "score": score,
        "box": list(box),
        "keypoints": [{"name": n, "x": x, "y": y, "score": s} for n, (x, y, s) in zip(names, kps)],
    }


@pytest.fixture
def dets():
    return [detection(0.99, (0, 0, 10, 10)), detection(0.95, (20, 20, 40, 40)), detection(0.9, (5, 5, 50, 50))]


def test_identical_lists_match(dets):
    result = reference.compare(dets, copy.deepcopy(dets), reference.Tolerance())
    assert result.problems == [] and result.matched == 3 and result.max_coord == 0


def test_ties_are_matched_by_iou():
    a = [detection(0.95, (0, 0, 10, 10)), detection(0.95 + 5e-6, (100, 100, 120, 130))]
    b = [a[1], a[0]]  # the other side put the tied pair in the other order
    assert reference.compare(a, b, reference.Tolerance()).problems == []


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda d: d[1]["box"].__setitem__(2, 40.5), "box[2]"),
        (lambda d: d[0].__setitem__("score", 0.9902), "score"),
        (lambda d: d[2]["keypoints"][1].__setitem__("y", 41.0), "keypoint b.y"),
        (lambda d: d[2]["keypoints"][0].__setitem__("score", 5.5), "keypoint a score"),
        (lambda d: d[0].__setitem__("label", 2), "label"),
        (lambda d: d.pop(), "2 detections, expected 3"),
        (lambda d: d[0]["keypoints"].reverse(), "keypoint names"),
    ],
)
def test_differences_are_reported(dets, mutate, fragment):
    other = copy.deepcopy(dets)
    mutate(other)
    problems = reference.compare(dets, other, reference.Tolerance()).problems
    assert any(fragment in p for p in problems), problems


def test_tolerance_is_absolute_even_for_large_coordinates():
    a = [detection(0.9, (1000.0, 1000.0, 2000.0, 2000.0))]
    b = copy.deepcopy(a)
    b[0]["box"][2] = 2000.0005  # within 1e-3 px
    assert reference.compare(a, b, reference.Tolerance()).problems == []
    b[0]["box"][2] = 2000.5  # 0.025 % of 2000: a relative tolerance would have let it pass
    assert any("box[2]" in p for p in reference.compare(a, b, reference.Tolerance()).problems)


def test_postprocess_scales_clamps_and_thresholds():
    torch = pytest.importorskip("torch")
    raw = {
        "boxes": torch.tensor([[-5.0, 10.0, 100.0, 600.0], [1.0, 2.0, 3.0, 4.0]]),
        "scores": torch.tensor([0.9, 0.5]),
        "labels": torch.tensor([1, 1]),
        "keypoints": torch.tensor([[[50.0, 256.0, 1.0]], [[0.0, 0.0, 1.0]]]),
        "keypoints_scores": torch.tensor([[3.0], [1.0]]),
    }
    (det,) = reference.postprocess(raw, src=(1024, 576), inp=(910, 512), threshold=0.8, names=["k"])
    sx, sy = 1024 / 910, 576 / 512
    assert det["box"] == pytest.approx([0.0, 10.0 * sy, 100.0 * sx, 576.0])
    assert (det["keypoints"][0]["x"], det["keypoints"][0]["y"]) == pytest.approx((50.0 * sx, 256.0 * sy))
    assert det["score"] == pytest.approx(0.9)
