"""`kprcnn optimize` on the trained model: fewer nodes, metadata kept, and the optimised model still gives
torchvision eager's answers (parity tolerances) and the original model's (tighter)."""

from __future__ import annotations

import re
import subprocess

import pytest
from conftest import SUBJECTS, image_subset, predict_folder
from test_parity import without_borderline

import reference

IMAGES = ["a_blank", "faces_landscape", "faces_square"]
THRESHOLD = SUBJECTS["trained"].threshold


@pytest.fixture(scope="module")
def optimized(cli, trained_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("optimized") / "model-basic.onnx"
    result = subprocess.run([str(cli), "optimize", str(trained_model.onnx), str(out)], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    print(f"\n{result.stdout}{result.stderr}")
    return result, out


@pytest.fixture(scope="module")
def optimized_run(cli, optimized, trained_images, tmp_path_factory):
    images = image_subset(trained_images, tmp_path_factory.mktemp("optimize-images"), IMAGES)
    return predict_folder(cli, optimized[1], images, tmp_path_factory.mktemp("optimize-predict"), THRESHOLD)


def test_optimize_reports_fewer_nodes(optimized):
    result, out = optimized
    nodes = re.search(r"nodes: (\d+) -> (\d+)", result.stdout)
    assert nodes and int(nodes[2]) < int(nodes[1]), result.stdout
    assert re.search(r"size: +[\d.]+ MB -> [\d.]+ MB", result.stdout)
    assert not result.stderr.strip()  # basic: no machine-specific warning
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]  # no temporary left


def test_metadata_is_kept(optimized, trained_model):
    import onnx

    def meta(path):
        return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}

    assert meta(optimized[1]) == meta(trained_model.onnx)


def test_optimized_model_keeps_parity(optimized_run, trained_run, trained_references):
    assert optimized_run.result.returncode == 0, optimized_run.result.stderr
    for name in IMAGES:
        # Against torchvision eager, with the parity tests' tolerances and cut-off handling.
        actual = optimized_run.documents[name]["detections"]
        expected, actual, _ = without_borderline(trained_references[name]["detections"], actual, THRESHOLD)
        result = reference.compare(expected, actual, reference.Tolerance(), where=name)
        assert not result.problems, "\n".join(result.problems[:20])
        # Against the unoptimised model: the same detections, to float rounding.
        original = trained_run.documents[name]["detections"]
        close = reference.compare(original, optimized_run.documents[name]["detections"],
                                  reference.Tolerance(coord=1e-3, score=1e-5), where=name)
        print(f"\n{name}: vs eager {result.summary()}; vs original {close.summary()}")
        assert not close.problems, "\n".join(close.problems[:20])


def test_session_load_time_is_reported(optimized_run, trained_run):
    """The figure users compare (ONNX Runtime's session set-up before and after): both runs report it."""
    def load_ms(stderr):
        m = re.search(r"loaded \S+ \(\d+ keypoints\) in (\d+) ms", stderr)
        return int(m[1]) if m else None

    original, optimized = load_ms(trained_run.result.stderr), load_ms(optimized_run.result.stderr)
    print(f"\nsession load: original {original} ms, optimized {optimized} ms")
    assert original is not None and optimized is not None, (trained_run.result.stderr, optimized_run.result.stderr)
