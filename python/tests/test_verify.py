"""Verification plumbing without a real model: a stub eager model and a stand-in `kprcnn predict` (a Python
script writing the documents we choose), so that agreement, each kind of disagreement and the failure paths run in
a second. The real thing (random-init model, real kprcnn binary) runs in test_export's session export."""

from __future__ import annotations

import copy
import json
import os
import stat
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from PIL import Image

from kprcnn_export import ExportError
from kprcnn_export.verify import (
    SYNTHETIC_INPUTS,
    VERIFY_SIZE,
    Tolerance,
    compare,
    find_cli,
    prepare_inputs,
    verify_export,
)

NAMES = ("a", "b", "c")


class StubModel(torch.nn.Module):
    """Returns one fixed detection per image (none for the near-blank one, like a trained model)."""

    def forward(self, images):
        out = []
        for image in images:
            n = 0 if float(image.std()) < 0.05 else 1  # the near-blank image: faint noise only
            out.append(
                {
                    "boxes": torch.tensor([[10.0, 20.0, 50.0, 60.0]])[:n],
                    "labels": torch.tensor([1])[:n],
                    "scores": torch.tensor([0.9])[:n],
                    "keypoints": torch.tensor([[[12.0, 22.0, 1.0], [30.0, 40.0, 1.0], [48.0, 58.0, 1.0]]])[:n],
                    "keypoints_scores": torch.tensor([[5.0, 6.0, 7.0]])[:n],
                }
            )
        return out


def stub_detection(shift: float = 0.0, score: float = 0.9, label: int = 1) -> dict:
    return {
        "label": label,
        "score": score,
        "box": [10.0 + shift, 20.0, 50.0, 60.0],
        "keypoints": [
            {"name": "a", "x": 12.0, "y": 22.0, "score": 5.0},
            {"name": "b", "x": 30.0, "y": 40.0 + shift, "score": 6.0},
            {"name": "c", "x": 48.0, "y": 58.0, "score": 7.0},
        ],
    }


FAKE_CLI = textwrap.dedent(
    """\
    #!{python}
    # Stand-in for `kprcnn predict`: writes <stem>.json for each image, detections from $FAKE_DETECTIONS.
    import json, os, sys
    from pathlib import Path
    from PIL import Image
    args = sys.argv[1:]
    assert args[0] == "predict", args
    opt = dict(zip(args[1::2], args[2::2]))
    assert opt["--threshold"] == "0" and opt["--size"] == "{size}", args
    if os.environ.get("FAKE_FAIL"):
        print("error: cannot load model: broken", file=sys.stderr)
        sys.exit(5)
    spec = json.loads(os.environ["FAKE_DETECTIONS"])
    for image in sorted(Path(opt["--input"]).glob("*.png")):
        w, h = Image.open(image).size
        doc = {{"image": image.name, "width": w, "height": h, "model": "m.onnx",
                "detections": spec.get(image.stem, spec.get("*", []))}}
        (Path(opt["--output"]) / (image.stem + ".json")).write_text(json.dumps(doc))
    """
)


@pytest.fixture
def fake_cli(tmp_path: Path) -> Path:
    path = tmp_path / "kprcnn"
    path.write_text(FAKE_CLI.format(python=sys.executable, size=VERIFY_SIZE))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def run_verify(fake_cli, monkeypatch, detections, images=()):
    monkeypatch.setenv("FAKE_DETECTIONS", json.dumps(detections))
    return verify_export(StubModel().eval(), Path("m.onnx"), fake_cli, NAMES, 0.05, 100, images=images)


def test_agreement(fake_cli, monkeypatch):
    lines = []
    monkeypatch.setenv("FAKE_DETECTIONS", json.dumps({"b_scene": [stub_detection()]}))
    report = verify_export(StubModel().eval(), Path("m.onnx"), fake_cli, NAMES, 0.05, 100, say=lines.append)
    assert report.ok and [c.name for c in report.comparisons] == ["a_blank", "b_scene"]
    blank, scene = report.comparisons
    assert (blank.expected, blank.actual, blank.size) == (0, 0, (320, 400))  # the blank one runs first
    assert (scene.expected, scene.matched, scene.size) == (1, 1, (480, 320)) and scene.max_box == 0.0
    assert any("b_scene (480x320): 1 detections (PyTorch) vs 1 (ONNX Runtime), max |diff| boxes 0" in s for s in lines)


@pytest.mark.parametrize(
    "detections, fragment",
    [
        ([stub_detection(shift=0.5)], "box[0] 10.5000, PyTorch 10.0000"),
        ([stub_detection(score=0.8)], "score 0.800000, PyTorch 0.900000"),
        ([stub_detection(label=2)], "label 2, PyTorch 1"),
        ([], "0 detections from ONNX Runtime, 1 from PyTorch"),
        ([stub_detection(), stub_detection(score=0.5)], "2 detections from ONNX Runtime, 1 from PyTorch"),
    ],
    ids=["box", "score", "label", "missing", "extra"],
)
def test_disagreement_fails_with_the_differences(fake_cli, monkeypatch, detections, fragment):
    with pytest.raises(ExportError) as info:
        run_verify(fake_cli, monkeypatch, {"b_scene": detections})
    message = str(info.value)
    assert message.startswith("verification failed") and fragment in message and "--no-verify" in message


def test_small_differences_pass_and_are_reported(fake_cli, monkeypatch):
    report = run_verify(fake_cli, monkeypatch, {"b_scene": [stub_detection(shift=0.004)]})
    assert report.ok and report.comparisons[1].max_box == pytest.approx(0.004)
    assert report.comparisons[1].max_keypoint == pytest.approx(0.004)


def test_onnx_runtime_failure_is_reported(fake_cli, monkeypatch):
    monkeypatch.setenv("FAKE_FAIL", "1")
    with pytest.raises(ExportError, match="could not run the exported model: error: cannot load model: broken"):
        run_verify(fake_cli, monkeypatch, {})


def test_user_images_are_prepared_like_kprcnn_predict_input(tmp_path):
    """EXIF orientation applied, shorter side scaled to VERIFY_SIZE; the blank image still runs first."""
    source = tmp_path / "photo.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    Image.new("RGB", (800, 400), (200, 30, 30)).save(source, exif=exif)
    folder = tmp_path / "prepared"
    folder.mkdir()
    paths = prepare_inputs(folder, [source])
    assert [p.name for p in paths] == [f"{SYNTHETIC_INPUTS[0][0]}.png", "b00_photo.png"]
    with Image.open(paths[1]) as prepared:
        assert prepared.size == (VERIFY_SIZE, 640)  # displayed 400x800 -> shorter side 320


def test_unreadable_user_image(tmp_path):
    (tmp_path / "bad.jpg").write_text("not an image")
    with pytest.raises(ExportError, match="cannot read --verify-image"):
        prepare_inputs(tmp_path, [tmp_path / "bad.jpg"])


def test_borderline_detections_are_left_out():
    """A detection at the box_score_thresh cut-off, or past a full detections_per_img list, may be on one side."""
    tol = Tolerance()
    expected = [stub_detection(score=0.9), stub_detection(score=0.05003)]
    actual = [stub_detection(score=0.9)]
    result = compare(expected, actual, tol, name="x", cutoffs=(0.05,))
    assert not result.problems and result.borderline == 1
    full_e = [stub_detection(score=0.9 - i * 0.01) for i in range(3)]
    full_a = copy.deepcopy(full_e[:2]) + [stub_detection(score=0.88003)]
    assert not compare(full_e, full_a, tol, name="x", cap=3).problems


def test_tied_scores_match_by_box(fake_cli):
    tol = Tolerance()
    one, two = stub_detection(score=0.9), stub_detection(score=0.90001)
    two["box"] = [100.0, 100.0, 150.0, 160.0]
    assert not compare([one, two], [two, one], tol, name="x").problems


def test_find_cli(tmp_path, monkeypatch, fake_cli):
    monkeypatch.setenv("KPRCNN_CLI", str(fake_cli))
    assert find_cli() == fake_cli
    monkeypatch.setenv("KPRCNN_CLI", str(tmp_path / "missing"))
    with pytest.raises(ExportError, match="is not an executable file"):
        find_cli()
    monkeypatch.delenv("KPRCNN_CLI")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert find_cli() is None
    monkeypatch.setenv("PATH", str(fake_cli.parent) + os.pathsep + os.environ.get("PATH", ""))
    assert find_cli() == fake_cli


def test_too_few_compared_detections_are_said_plainly(fake_cli, monkeypatch):
    """A check that compared (almost) nothing says so: e.g. a --box-score-thresh 0.8 export of a random model,
    whose graph returns nothing on the verification scenes."""
    lines: list[str] = []
    monkeypatch.setenv("FAKE_DETECTIONS", json.dumps({"b_scene": [stub_detection()]}))
    report = verify_export(StubModel().eval(), Path("m.onnx"), fake_cli, NAMES, 0.8, 100, say=lines.append)
    assert report.ok and report.compared == 1
    warning = [s for s in lines if s.startswith("warning: only 1 detection(s) were compared")]
    assert warning and "--verify-image" in warning[0] and "<= 0.8" in warning[0]


def test_a_differing_detection_is_rechecked_for_float_sensitivity(fake_cli, monkeypatch):
    """A mismatch makes verification re-run PyTorch on slightly perturbed inputs; the stub's answer does not move,
    so a 0.5 px difference stays a failure (and only the differing image is re-run)."""
    calls = []
    original = StubModel.forward

    def counting(self, images):
        calls.append(float(images[0].std()))
        return original(self, images)

    monkeypatch.setattr(StubModel, "forward", counting)
    with pytest.raises(ExportError, match="box\\[0\\] 10.5000"):
        run_verify(fake_cli, monkeypatch, {"b_scene": [stub_detection(shift=0.5)]})
    assert len(calls) == 2 + 3  # blank, scene, then three perturbed runs of the scene
