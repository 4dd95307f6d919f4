"""`kprcnn eval` against pycocotools' COCOeval on generated cases: every one of the 22 stats (keypoints and bbox)
equal within 1e-9. The cases hold what changes answers: v = 0 keypoints, num_keypoints = 0 (ignored) and crowd
ground truth, images without ground truth or without detections, more than 20 detections per image, tied
scores, tiny and huge areas, two categories, results with and without boxes (pycocotools then takes areas from
the keypoints' extent). pycocotools runs in build/venv (scripts/setup.sh installs it); bad files are clear
errors naming the entry (fault row 17)."""
import json
import random
import subprocess
from pathlib import Path

import pytest

from test_cli import CLI

ROOT = Path(__file__).resolve().parents[2]
VENV_PYTHON = Path(CLI).parent.parent / "venv" / "bin" / "python" if CLI else Path("/nonexistent")
pytestmark = [
    pytest.mark.skipif(not CLI or not Path(CLI).exists(), reason="KPRCNN_CLI not built"),
    pytest.mark.skipif(not VENV_PYTHON.exists(), reason="no build/venv with pycocotools (scripts/setup.sh)"),
]
K = 3
SIGMAS = [0.05, 0.07, 0.1]


def generate(seed: int, with_boxes: bool) -> tuple[dict, list]:
    rng = random.Random(seed)
    images = [{"id": i, "file_name": f"{i}.jpg", "width": 640, "height": 480} for i in range(1, 13)]
    cats = [{"id": c, "name": f"c{c}", "keypoints": ["a", "b", "c"], "skeleton": []} for c in (1, 2)]
    anns, results = [], []
    for im in images:
        if im["id"] % 5 == 0:
            continue  # images without ground truth
        for _ in range(rng.randint(0, 7)):
            w = rng.choice([3.0, 12.0, 40.0, 150.0, 500.0]) * rng.uniform(0.5, 1.5)
            h = w * rng.uniform(0.5, 2)
            x, y = rng.uniform(0, 400), rng.uniform(0, 300)
            kps, labelled = [], 0
            for _k in range(K):
                v = rng.choice([0, 1, 2, 2, 2])
                if v:
                    kps += [round(x + rng.uniform(0, w), 2), round(y + rng.uniform(0, h), 2), v]
                    labelled += 1
                else:
                    kps += [0, 0, 0]
            if rng.random() < 0.1:
                kps, labelled = [0] * (3 * K), 0  # no keypoint labelled: ignored for keypoints
            anns.append({"id": len(anns) + 1, "image_id": im["id"], "category_id": rng.choice([1, 1, 2]),
                         "bbox": [x, y, w, h], "area": w * h * rng.uniform(0.5, 1), "iscrowd": int(rng.random() < 0.08),
                         "keypoints": kps, "num_keypoints": labelled})  # fmt: skip
    for im in images:
        if im["id"] % 4 == 0:
            continue  # images without detections
        own = [a for a in anns if a["image_id"] == im["id"]]
        for _ in range(rng.randint(0, 28)):  # more than maxDets 20 at times
            if own and rng.random() < 0.7:
                g = rng.choice(own)
                x, y, w, h = g["bbox"]
                jitter = rng.choice([0.01, 0.05, 0.2])
                box = [x + rng.gauss(0, jitter * w), y + rng.gauss(0, jitter * h), w * rng.uniform(0.8, 1.2),
                       h * rng.uniform(0.8, 1.2)]  # fmt: skip
                kps = []
                for k in range(K):
                    gx, gy = g["keypoints"][3 * k], g["keypoints"][3 * k + 1]
                    if g["keypoints"][3 * k + 2] == 0:
                        gx, gy = x + w / 2, y + h / 2
                    kps += [gx + rng.gauss(0, jitter * w), gy + rng.gauss(0, jitter * h), 1]
                cat = g["category_id"] if rng.random() < 0.9 else 3 - g["category_id"]
            else:
                w, h = rng.uniform(2, 300), rng.uniform(2, 300)
                box = [rng.uniform(0, 500), rng.uniform(0, 400), w, h]
                kps = [v for _ in range(K) for v in (rng.uniform(0, 640), rng.uniform(0, 480), 1)]
                cat = rng.choice([1, 2])
            score = round(rng.random(), 1) if rng.random() < 0.5 else rng.random()  # ties
            entry = {"image_id": im["id"], "category_id": cat, "keypoints": kps, "score": score}
            if with_boxes:
                entry["bbox"] = [max(0.0, box[0]), max(0.0, box[1]), max(0.1, box[2]), max(0.1, box[3])]
            results.append(entry)
    return {"info": {}, "images": images, "annotations": anns, "categories": cats}, results


def pycocotools_stats(gt: Path, res: Path) -> dict:
    proc = subprocess.run([str(VENV_PYTHON), str(ROOT / "scripts" / "coco_ap.py"), "--annotations", str(gt),
                           "--results", str(res), "--sigmas", ",".join(map(str, SIGMAS))],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def kprcnn_stats(gt: Path, res: Path, out: Path, check=0) -> dict | subprocess.CompletedProcess:
    proc = subprocess.run([CLI, "eval", "--annotations", str(gt), "--results", str(res), "--sigmas",
                           ",".join(map(str, SIGMAS)), "--json", str(out)], capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    if check is None:
        return proc
    assert proc.returncode == check, proc.stdout + proc.stderr
    return json.loads(out.read_text())


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("with_boxes", [True, False], ids=["bbox-results", "keypoint-results"])
def test_every_stat_equals_pycocotools(tmp_path, seed, with_boxes):
    gt_doc, results = generate(seed, with_boxes)
    gt, res = tmp_path / "gt.json", tmp_path / "res.json"
    gt.write_text(json.dumps(gt_doc))
    res.write_text(json.dumps(results))
    expected = pycocotools_stats(gt, res)
    got = kprcnn_stats(gt, res, tmp_path / "stats.json")
    assert got["images"] == 12 and got["detections"] == len(results)
    for kind in ("keypoints", "bbox"):
        assert list(got[kind]) == list(expected[kind])
        for name, value in expected[kind].items():
            assert abs(got[kind][name] - value) <= 1e-9, (kind, name, got[kind][name], value)


def test_the_cases_cover_what_they_claim():
    gt_doc, results = generate(0, True)
    anns = gt_doc["annotations"]
    assert any(a["iscrowd"] for a in anns) and any(a["num_keypoints"] == 0 for a in anns)
    assert any(0 in a["keypoints"][2::3] for a in anns) and any(a["area"] < 32**2 for a in anns)
    assert any(a["area"] > 96**2 for a in anns)
    per_image = {}
    for r in results:
        per_image[r["image_id"]] = per_image.get(r["image_id"], 0) + 1
    assert max(per_image.values()) > 20
    scores = [r["score"] for r in results]
    assert len(scores) > len(set(scores))  # ties


@pytest.mark.parametrize(
    "change, fragment",
    [
        (lambda gt, res: (gt, "[{not json"), "not valid JSON"),
        (lambda gt, res: (gt, [{**res[0], "image_id": 999}]), "image_id 999 is not in the ground truth"),
        (lambda gt, res: (gt, [{**res[0], "category_id": 7}]), "category_id 7 is not in the ground truth"),
        (lambda gt, res: (gt, [{**res[0], "keypoints": [1, 2, 1]}]), "has 3 numbers, expected 9"),
        (lambda gt, res: (gt, [{**res[0], "score": "high"}]), '"score" must be a number'),
        (lambda gt, res: ({**gt, "annotations": gt["annotations"] + gt["annotations"][:1]}, res), "duplicate annotation id"),
        (lambda gt, res: ({**gt, "annotations": [{**gt["annotations"][0], "area": -5}]}, res), '"area" is negative'),
        (lambda gt, res: ({k: v for k, v in gt.items() if k != "images"}, res), '"images" is missing'),
        (lambda gt, res: (gt, json.dumps(res)[:-1] + ', {"score": 1e400}]'), "number overflow parsing '1e400'"),
    ],
    ids=["json", "unknown-image", "unknown-category", "keypoint-length", "score-type", "duplicate-id",
         "negative-area", "no-images", "number-overflow"],
)
def test_bad_files_name_the_entry(tmp_path, change, fragment):
    gt_doc, results = generate(1, True)
    gt_doc, results = change(gt_doc, results)
    gt, res = tmp_path / "gt.json", tmp_path / "res.json"
    gt.write_text(json.dumps(gt_doc))
    res.write_text(results if isinstance(results, str) else json.dumps(results))
    proc = kprcnn_stats(gt, res, tmp_path / "stats.json", check=None)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert fragment in proc.stderr and not (tmp_path / "stats.json").exists()


def test_nan_coordinates_are_refused(tmp_path):
    gt_doc, results = generate(2, True)
    gt, res = tmp_path / "gt.json", tmp_path / "res.json"
    gt.write_text(json.dumps(gt_doc))
    res.write_text(json.dumps(results).replace(str(results[0]["keypoints"][0]), "NaN", 1))
    proc = kprcnn_stats(gt, res, tmp_path / "stats.json", check=None)
    assert proc.returncode == 2 and "not valid JSON" in proc.stderr  # JSON has no NaN; Python writes it anyway


def test_sigmas_from_the_dataset_and_wrong_counts(tmp_path):
    gt_doc, results = generate(3, True)
    gt_doc["categories"][0]["kprcnn_oks_sigmas"] = SIGMAS
    gt, res = tmp_path / "gt.json", tmp_path / "res.json"
    gt.write_text(json.dumps(gt_doc))
    res.write_text(json.dumps(results))
    proc = subprocess.run([CLI, "eval", "--annotations", str(gt), "--results", str(res)], capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0 and "OKS sigmas (kprcnn_oks_sigmas): 0.05 0.07 0.1" in proc.stdout
    proc = subprocess.run([CLI, "eval", "--annotations", str(gt), "--results", str(res), "--sigmas", "0.1,0.2"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 2 and "2 OKS sigmas (--sigmas) for 3 keypoints" in proc.stderr


def test_operating_point_by_hand(tmp_path):
    """Two faces and a crowd region; at threshold 0.8: one true positive 6 px off on each keypoint (a 100-px box),
    a duplicate and a stray detection (false positives), one on the crowd region (neither), one below the threshold
    (not counted): precision 1/3, recall 1/2, F1 0.4, error 6 px = 0.06 of the box, PCK@0.05 0, PCK@0.1 1."""
    face1 = [120.0, 130.0, 2, 160.0, 130.0, 2, 140.0, 160.0, 2]
    face2 = [420.0, 330.0, 2, 460.0, 330.0, 2, 440.0, 360.0, 2]
    gt = {"info": {}, "images": [{"id": 1}], "categories": [{"id": 1, "keypoints": ["a", "b", "c"]}],
          "annotations": [
              {"id": 1, "image_id": 1, "category_id": 1, "bbox": [100, 100, 100, 100], "area": 10000,
               "iscrowd": 0, "keypoints": face1, "num_keypoints": 3},
              {"id": 2, "image_id": 1, "category_id": 1, "bbox": [400, 300, 100, 100], "area": 10000,
               "iscrowd": 0, "keypoints": face2, "num_keypoints": 3},
              {"id": 3, "image_id": 1, "category_id": 1, "bbox": [600, 0, 100, 100], "area": 10000,
               "iscrowd": 1, "keypoints": [0] * 9, "num_keypoints": 0}]}  # fmt: skip
    off = [v + (3.6 if i % 3 == 0 else 4.8 if i % 3 == 1 else 0) for i, v in enumerate(face1)]
    results = [
        {"image_id": 1, "category_id": 1, "score": 0.9, "keypoints": off},
        {"image_id": 1, "category_id": 1, "score": 0.85, "keypoints": face1},  # duplicate
        {"image_id": 1, "category_id": 1, "score": 0.95, "keypoints": [10, 400, 1, 30, 400, 1, 20, 420, 1]},
        {"image_id": 1, "category_id": 1, "score": 0.5, "keypoints": face2},  # below the threshold
        {"image_id": 1, "category_id": 1, "score": 0.9, "keypoints": [620, 20, 1, 660, 20, 1, 640, 50, 1]},  # crowd
    ]
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(json.dumps(results))
    proc = subprocess.run([CLI, "eval", "--annotations", str(tmp_path / "gt.json"), "--results",
                           str(tmp_path / "res.json"), "--sigmas", "0.06,0.06,0.06", "--threshold", "0.8", "--json",
                           str(tmp_path / "s.json")], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "s.json").read_text())
    assert list(doc) == ["keypoints", "bbox", "operating_point", "images", "detections"]
    op = doc["operating_point"]
    assert list(op) == ["threshold", "precision", "recall", "f1", "mean_error_px", "mean_error_rel", "pck_0.05",
                        "pck_0.1"]  # fmt: skip
    expected = {"threshold": 0.8, "precision": 1 / 3, "recall": 0.5, "f1": 0.4, "mean_error_px": 6.0,
                "mean_error_rel": 0.06, "pck_0.05": 0.0, "pck_0.1": 1.0}  # fmt: skip
    for key, value in expected.items():
        assert op[key] == pytest.approx(value, abs=1e-9), key


# --- kprcnn eval --model M --images DIR: the model is run on the ground truth's images first -------------------


def fake_model_case(tmp_path):
    """Two 640x480 images (run at --size 480: the input tensor is the image, so the fake model's constant outputs are
    the reported coordinates) and a ground truth with one face on each; one more image in the folder the ground
    truth does not list (ignored)."""
    from PIL import Image

    from test_cli import fake_detector

    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("a.jpg", "b.png", "unlisted.jpg"):
        Image.new("RGB", (640, 480), (90, 120, 150)).save(folder / name)
    face = [120.0, 130.0, 2, 160.0, 130.0, 2, 140.0, 160.0, 2]
    gt = {"info": {}, "images": [{"id": 7, "file_name": "a.jpg", "width": 640, "height": 480},
                                 {"id": 9, "file_name": "b.png", "width": 640, "height": 480}],
          "categories": [{"id": 1, "keypoints": ["a", "b", "c"], "kprcnn_oks_sigmas": SIGMAS}],
          "annotations": [{"id": i + 1, "image_id": image, "category_id": 1, "bbox": [100, 100, 80, 80],
                           "area": 6400, "iscrowd": 0, "keypoints": face, "num_keypoints": 3}
                          for i, image in enumerate((7, 9))]}  # fmt: skip
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    model = fake_detector(tmp_path / "fake.onnx", boxes=[[100, 100, 180, 180], [300, 300, 340, 350]],
                          scores=[0.9, 0.03], keypoints=[[[121, 131, 1], [161, 129, 1], [140, 162, 1]],
                                                         [[310, 310, 1], [330, 310, 1], [320, 330, 1]]],
                          kp_scores=[[5, 5, 5], [5, 5, 5]])  # fmt: skip
    return tmp_path / "gt.json", folder, model, gt


def run_eval(*args, check=0):
    proc = subprocess.run([CLI, "eval", *map(str, args)], capture_output=True, text=True, timeout=120)
    if check is not None:
        assert proc.returncode == check, proc.stdout + proc.stderr
    return proc


def test_eval_runs_the_model_on_the_ground_truth_images(tmp_path):
    gt, folder, model, _ = fake_model_case(tmp_path)
    results, stats = tmp_path / "results.json", tmp_path / "stats.json"
    proc = run_eval("--annotations", gt, "--images", folder, "--model", model, "--size", 480, "--no-cache",
                    "--write-results", results, "--json", stats)  # fmt: skip
    assert "ran fake.onnx on 2 images" in proc.stderr
    written = json.loads(results.read_text())
    # Ground-truth image ids, in its order; the 0.03 detection is below --min-score 0.05.
    assert [(r["image_id"], r["score"]) for r in written] == [(7, pytest.approx(0.9)), (9, pytest.approx(0.9))]
    assert written[0]["keypoints"] == [121, 131, 2, 161, 129, 2, 140, 162, 2]
    assert written[0]["bbox"] == [100, 100, 80, 80]
    got = json.loads(stats.read_text())
    expected = pycocotools_stats(gt, results)
    for kind in ("keypoints", "bbox"):
        for name, value in expected[kind].items():
            assert abs(got[kind][name] - value) <= 1e-9, (kind, name)
    assert got["images"] == 2 and got["detections"] == 2 and got["operating_point"]["recall"] == 1.0
    # --min-score 0 keeps the low one too: two more detections, one false positive per image at any threshold.
    run_eval("--annotations", gt, "--images", folder, "--model", model, "--size", 480, "--no-cache", "--min-score",
             0, "--threshold", 0.01, "--json", stats)  # fmt: skip
    assert json.loads(stats.read_text())["operating_point"]["precision"] == 0.5


@pytest.mark.parametrize(
    "case, code, fragment",
    [
        ("missing-image", 3, "1 of the ground truth's 2 images are not in"),
        ("other-size", 2, "b.png is 320x240 (after EXIF orientation) but the ground truth says 640x480"),
        ("duplicate-file-name", 2, "duplicate file_name a.jpg"),
        ("no-file-name", 2, '"file_name" is missing'),
        ("results-and-model", 2, "give either --results FILE"),
        ("model-without-images", 2, "give either --results FILE"),
        ("write-results-without-model", 2, "--write-results needs --model"),
    ],
)
def test_eval_with_a_model_refuses_what_would_give_wrong_numbers(tmp_path, case, code, fragment):
    from PIL import Image

    gt, folder, model, doc = fake_model_case(tmp_path)
    args = ["--annotations", gt, "--images", folder, "--model", model, "--size", 480, "--no-cache"]
    if case == "missing-image":
        (folder / "b.png").unlink()
    elif case == "other-size":
        Image.new("RGB", (320, 240)).save(folder / "b.png")
    elif case == "duplicate-file-name":
        doc["images"][1]["file_name"] = "a.jpg"
    elif case == "no-file-name":
        del doc["images"][0]["file_name"]
    elif case == "results-and-model":
        args += ["--results", gt]
    elif case == "model-without-images":
        args = ["--annotations", gt, "--model", model]
    elif case == "write-results-without-model":
        args = ["--annotations", gt, "--results", gt, "--write-results", tmp_path / "r.json"]
    gt.write_text(json.dumps(doc))
    proc = run_eval(*args, "--json", tmp_path / "stats.json", check=code)
    assert fragment in proc.stderr
    assert not (tmp_path / "stats.json").exists()
