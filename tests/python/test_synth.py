"""`kprcnn synth`: deterministic synthetic face scenes with COCO keypoint annotations that tell the truth about
where each keypoint is and whether it can be seen."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from test_cli import CLI

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
from kprcnn_export import synth  # noqa: E402

pytestmark = pytest.mark.skipif(not CLI or not Path(CLI).exists(), reason="KPRCNN_CLI not built")


def run(*args, check=0):
    proc = subprocess.run([CLI, "synth", *map(str, args)], capture_output=True, text=True, timeout=300)
    if check is not None:
        assert proc.returncode == check, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    run("--out", out, "--count", 40, "--seed", 7, "--quiet")
    return out, json.loads((out / "annotations.json").read_text())


def test_writes_a_coco_keypoint_file(dataset):
    out, doc = dataset
    assert [im["file_name"] for im in doc["images"]] == [f"{i:06d}.jpg" for i in range(1, 41)]
    assert [im["id"] for im in doc["images"]] == list(range(1, 41))  # = the numeric stem (predict --coco ids)
    (cat,) = doc["categories"]
    assert cat["keypoints"] == ["left_eye", "right_eye", "nose"]
    assert all(1 <= i <= 3 for pair in cat["skeleton"] for i in pair)
    assert len({a["id"] for a in doc["annotations"]}) == len(doc["annotations"]) > 40
    colormap = json.loads((out / "face-colormap.json").read_text())
    assert [item["label"] for item in colormap["items"]] == cat["keypoints"]
    for im in doc["images"]:
        with Image.open(out / im["file_name"]) as image:
            assert image.format == "JPEG" and image.size == (im["width"], im["height"]) == (320, 240)


def test_annotations_are_consistent(dataset):
    _, doc = dataset
    sizes = {im["id"]: (im["width"], im["height"]) for im in doc["images"]}
    per_image = {i: 0 for i in sizes}
    visibility = {0: 0, 1: 0, 2: 0}
    for a in doc["annotations"]:
        w, h = sizes[a["image_id"]]
        per_image[a["image_id"]] += 1
        x, y, bw, bh = a["bbox"]
        assert 0 <= x and 0 <= y and x + bw <= w and y + bh <= h and bw > 0 and bh > 0
        assert 0 < a["area"] <= bw * bh and a["iscrowd"] == 0 and a["category_id"] == 1
        kps = a["keypoints"]
        assert len(kps) == 9
        labelled = 0
        for kx, ky, v in zip(kps[0::3], kps[1::3], kps[2::3]):
            visibility[v] += 1
            if v == 0:
                assert kx == ky == 0  # COCO: not labelled
            else:
                labelled += 1
                assert 0 <= kx < w and 0 <= ky < h
        assert a["num_keypoints"] == labelled
    assert max(per_image.values()) <= 6 and min(per_image.values()) == 0  # some scenes have no face
    assert all(visibility.values()), f"every visibility occurs in 40 scenes: {visibility}"


def test_visible_keypoints_sit_on_their_face(dataset):
    """A visible eye is on its face: inside the face's visible box, the left eye (the face's own left) to the
    image's right of the right eye for faces that are about upright."""
    _, doc = dataset
    checked = 0
    for a in doc["annotations"]:
        x, y, bw, bh = a["bbox"]
        k = a["keypoints"]
        points = [(k[i], k[i + 1], k[i + 2]) for i in (0, 3, 6)]
        for px, py, v in points:
            if v == 2:
                assert x - 1 <= px <= x + bw + 1 and y - 1 <= py <= y + bh + 1
        (lx, ly, lv), (rx, ry, rv), (nx, ny, nv) = points
        if lv == rv == nv == 2 and bw > 30:
            checked += 1
            assert lx > rx or abs(ly - ry) > 0.5 * abs(lx - rx)  # rotated at most 45 degrees
            assert ny > min(ly, ry) - 0.5 * bh  # the nose is not above the eyes by half a face
    assert checked >= 5


def test_rotation_matches_pillow():
    """The keypoint arithmetic turns points the way Image.rotate turns pixels."""
    for degrees in (-45.0, -10.0, 30.0, 90.0):
        layer = Image.new("L", (101, 101), 0)
        layer.putpixel((50 + 30, 50 - 10), 255)  # offset (30, -10) from the centre
        turned = np.asarray(layer.rotate(degrees, resample=Image.BILINEAR, center=(50.5, 50.5)), np.float64)
        ys, xs = np.nonzero(turned)
        weights = turned[ys, xs]
        cx, cy = (xs * weights).sum() / weights.sum(), (ys * weights).sum() / weights.sum()
        dx, dy = synth._rotate(30.0, -10.0, degrees)  # the pixel centre (80.5, 40.5) from (50.5, 50.5)
        assert math.hypot(cx + 0.5 - (50.5 + dx), cy + 0.5 - (50.5 + dy)) < 0.75, degrees


def test_same_seed_same_files_other_seed_other_scenes(tmp_path, dataset):
    out, doc = dataset
    run("--out", tmp_path / "a", "--count", 5, "--seed", 7, "--quiet")
    run("--out", tmp_path / "b", "--count", 5, "--seed", 8, "--quiet")
    again = json.loads((tmp_path / "a" / "annotations.json").read_text())
    assert again["annotations"] == [a for a in doc["annotations"] if a["image_id"] <= 5]
    for i in range(1, 6):
        name = f"{i:06d}.jpg"
        assert (tmp_path / "a" / name).read_bytes() == (out / name).read_bytes()
        assert (tmp_path / "b" / name).read_bytes() != (out / name).read_bytes()


def test_size_face5_and_face_limits(tmp_path):
    run("--out", tmp_path, "--count", 6, "--seed", 1, "--size", "200x150", "--keypoints", "face5",
        "--min-face", 20, "--max-face", 60, "--quiet")  # fmt: skip
    doc = json.loads((tmp_path / "annotations.json").read_text())
    assert doc["categories"][0]["keypoints"][3:] == ["mouth_left", "mouth_right"]
    assert all(len(a["keypoints"]) == 15 for a in doc["annotations"])
    assert all(a["bbox"][2] <= 60 + 2 and a["bbox"][3] <= 60 + 2 for a in doc["annotations"])
    assert {(im["width"], im["height"]) for im in doc["images"]} == {(200, 150)}


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--count", "0"], "--count 0"),
        (["--count", "3", "--size", "10x10"], "--size 10x10"),
        (["--count", "3", "--size", "wide"], "expected WIDTHxHEIGHT"),
        (["--count", "3", "--keypoints", "paws"], "invalid choice"),
        (["--count", "3", "--seed", "-1"], "--seed -1"),
        (["--count", "3", "--min-face", "50", "--max-face", "20"], "face sizes"),
    ],
)
def test_bad_arguments_are_usage_errors(tmp_path, args, fragment):
    proc = run("--out", tmp_path / "x", *args, check=2)
    assert fragment in proc.stderr
    assert not (tmp_path / "x" / "annotations.json").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_folder(tmp_path):
    tmp_path.chmod(0o500)
    try:
        proc = run("--out", tmp_path / "x", "--count", 2, check=3)
    finally:
        tmp_path.chmod(0o700)
    assert "cannot create" in proc.stderr


def test_output_is_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    proc = run("--out", tmp_path / "file", "--count", 2, check=3)
    assert "cannot create" in proc.stderr
