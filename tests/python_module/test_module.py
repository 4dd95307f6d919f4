"""The Python module `kprcnn` from the build tree: the same answers as `kprcnn predict` to the bit (its JSON text,
per engine and input kind), predict from many threads on one Detector, and the errors bad inputs get."""

from __future__ import annotations

import io
import threading
import time

import numpy as np
import pytest
from PIL import Image as PilImage

import kprcnn
from conftest import ENGINES, THRESHOLD, cli_predict


@pytest.fixture(scope="module", params=ENGINES)
def engine(request):
    return request.param


@pytest.fixture(scope="module")
def detector(model, engine):
    return kprcnn.Detector(model, engine=engine, no_cache=True, concurrent_runs=4)


def test_version_and_engine(detector, engine):
    assert kprcnn.__version__.count(".") == 2
    assert detector.load_report["engine"] == engine
    assert detector.engine.startswith("onnxruntime " if engine == "ort" else "openvino ")
    assert [name for name, _ in detector.keypoints] == ["left_eye", "right_eye", "nose"]
    assert detector.info["num_keypoints"] == 3 and detector.info["inputs"][0]["name"] == "input"


def test_path_bytes_and_arrays_give_the_cli_document(detector, engine, scenes, cli_documents):
    for name, path in scenes.items():
        expected = cli_documents[engine, name]
        assert detector.predict(path, threshold=THRESHOLD).to_json() == expected, name
        assert detector.predict(str(path), threshold=THRESHOLD).to_json() == expected, name
        data = path.read_bytes()
        assert detector.predict(data, threshold=THRESHOLD, name=path.name).to_json() == expected, name
        image = kprcnn.read_image(path)
        assert detector.predict(image, threshold=THRESHOLD, name=path.name).to_json() == expected, name
        pixels = image.to_numpy()
        assert detector.predict(pixels, threshold=THRESHOLD, name=path.name).to_json() == expected, name
        # Not C-contiguous: the RGB channels of a BGR array reversed, and a padded crop.
        bgr = np.ascontiguousarray(pixels[..., ::-1])
        assert detector.predict(bgr[..., ::-1], threshold=THRESHOLD, name=path.name).to_json() == expected, name
        padded = np.zeros((pixels.shape[0] + 4, pixels.shape[1] + 6, 3), np.uint8)
        padded[2:-2, 3:-3] = pixels
        assert detector.predict(padded[2:-2, 3:-3], threshold=THRESHOLD, name=path.name).to_json() == expected


def test_decoded_pixels_are_pillows_for_png(scenes):
    path = scenes["faces_a"]
    assert np.array_equal(kprcnn.read_image(path).to_numpy(), np.asarray(PilImage.open(path).convert("RGB")))
    assert np.array_equal(kprcnn.decode_image(path.read_bytes()).to_numpy(), kprcnn.read_image(path).to_numpy())


def test_prediction_fields_match_the_document(detector, scenes):
    import json

    prediction = detector.predict(scenes["faces_a"], threshold=THRESHOLD)
    doc = json.loads(prediction.to_json())
    assert (prediction.width, prediction.height) == (doc["width"], doc["height"]) == (640, 480)
    assert len(prediction.detections) == len(doc["detections"]) >= 2
    assert prediction.keypoint_names == ["left_eye", "right_eye", "nose"]
    for d, expected in zip(prediction.detections, doc["detections"]):
        assert d.label == expected["label"]
        assert d.score == pytest.approx(expected["score"], abs=1e-6)
        assert d.box == pytest.approx(tuple(expected["box"]), abs=1e-3)
        assert d.keypoints.dtype == np.float32 and d.keypoints.shape == (3, 3)
        want = [[k["x"], k["y"], k["score"]] for k in expected["keypoints"]]
        np.testing.assert_allclose(d.keypoints, want, atol=1e-3)


def test_draw_is_the_cli_image(detector, engine, cli, model, scenes, tmp_path):
    path = scenes["faces_a"]
    cli_predict(cli, model, path, tmp_path, engine, draw=True)
    drawn_cli = np.asarray(PilImage.open(tmp_path / "faces_a.png").convert("RGB"))
    prediction = detector.predict(path, threshold=THRESHOLD)
    drawn = kprcnn.draw(kprcnn.read_image(path), prediction)
    assert isinstance(drawn, kprcnn.Image)
    assert np.array_equal(drawn.to_numpy(), drawn_cli)
    pixels = kprcnn.read_image(path).to_numpy()
    drawn_array = kprcnn.draw(pixels, prediction)
    assert isinstance(drawn_array, np.ndarray) and np.array_equal(drawn_array, drawn_cli)
    assert not np.array_equal(pixels, drawn_array)  # a copy was drawn on, not the caller's array
    drawn.save(tmp_path / "again.png")
    assert np.array_equal(np.asarray(PilImage.open(tmp_path / "again.png")), drawn_cli)
    assert np.array_equal(np.asarray(PilImage.open(io.BytesIO(drawn.encode_png()))), drawn_cli)


def test_threads_on_one_detector_agree(detector, scenes):
    """8 threads x 4 predicts on one Detector (concurrent_runs=4), two images interleaved: every answer is the
    single-threaded one."""
    names = ["faces_a", "faces_b"]
    images = {n: kprcnn.read_image(scenes[n]) for n in names}
    expected = {n: detector.predict(images[n], threshold=THRESHOLD).to_json() for n in names}
    results, errors = [], []

    def work(i):
        try:
            for j in range(4):
                n = names[(i + j) % 2]
                results.append((n, detector.predict(images[n], threshold=THRESHOLD).to_json()))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 32
    for n, text in results:
        assert text == expected[n]


def test_predict_releases_the_gil(model, scenes):
    """While a thread predicts, the main thread keeps running Python: the longest pause between its loop iterations
    is far shorter than a predict (holding the GIL, it would be at least one predict)."""
    detector = kprcnn.Detector(model, engine="ort", no_cache=True, threads=1)
    image = kprcnn.read_image(scenes["faces_a"])
    started = time.perf_counter()
    detector.predict(image)
    one = time.perf_counter() - started
    done = threading.Event()

    def work():
        for _ in range(3):
            detector.predict(image)
        done.set()

    thread = threading.Thread(target=work)
    last, longest = time.perf_counter(), 0.0
    thread.start()
    while not done.is_set():
        now = time.perf_counter()
        longest, last = max(longest, now - last), now
    thread.join()
    assert longest < one / 2, f"main thread paused {longest * 1000:.0f} ms; one predict takes {one * 1000:.0f} ms"


def test_bad_images(detector, tmp_path):
    def code(call):
        with pytest.raises(kprcnn.Error) as info:
            call()
        assert isinstance(info.value, RuntimeError)
        return info.value.code, str(info.value)

    assert code(lambda: detector.predict(tmp_path / "missing.png"))[0] == "io"
    assert code(lambda: kprcnn.read_image(tmp_path / "missing.png"))[0] == "io"
    assert code(lambda: detector.predict(b"not an image"))[0] == "image_decode"
    assert code(lambda: detector.predict(bytearray(b"\x89PNG\r\n\x1a\n truncated")))[0] == "image_decode"
    which, message = code(lambda: detector.predict(np.zeros((8, 8, 3), np.float32)))
    assert which == "invalid_argument" and "uint8" in message
    for shape in ((8, 8), (8, 8, 4), (8, 8, 3, 1), (0, 8, 3)):
        which, message = code(lambda: detector.predict(np.zeros(shape, np.uint8)))
        assert which == "invalid_argument", shape
    assert code(lambda: detector.predict(np.zeros((8, 8, 3), np.uint8), threshold=2))[0] == "invalid_argument"
    with pytest.raises(TypeError, match="expected an image"):
        detector.predict(42)
    with pytest.raises(TypeError, match="expected an image"):
        detector.predict([[1, 2, 3]])
    with pytest.raises(TypeError, match="got None"):
        kprcnn.to_coco_json([(1, None)])


def test_options_are_the_cli_table(model, scenes):
    """Detector() and predict() take the option table every front end shares (kprcnn/options.h), with its defaults
    and checks; predict(fast_decode=True) takes the shared pipeline's reduced decode."""
    table = {o["name"]: o for o in kprcnn.options()}
    assert table["threshold"]["default"] == "0.8" and table["size"]["range"] == (16, 4096)
    assert table["engine"]["choices"] == ["auto", "ort", "openvino"]
    assert {o["group"] for o in table.values()} == {"detector", "predict", "draw"}
    detector = kprcnn.Detector(model, engine="ort", no_cache=True, threads=1)
    with pytest.raises(TypeError, match="options: threshold, size, divisor, fast_decode"):
        detector.predict(scenes["faces_a"], treshold=0.5)
    with pytest.raises(TypeError, match="engine"):  # a load-time option is not a predict() one
        detector.predict(scenes["faces_a"], engine="ort")
    full = detector.predict(scenes["faces_a"], threshold=0.5)
    fast = detector.predict(scenes["faces_a"], threshold=0.5, fast_decode=True)
    assert (fast.width, fast.height) == (full.width, full.height)  # reported in the full image's frame


def test_bad_options(model, tmp_path):
    with pytest.raises(TypeError) as info:
        kprcnn.Detector(model, treads=2)
    for name in ("engine", "threads", "concurrent_runs", "cache_dir", "no_cache", "warm_up_runs"):
        assert name in str(info.value)  # the message names the valid options
    with pytest.raises(TypeError):
        kprcnn.Detector(model, threads="two")
    cases = [({"engine": "tensorflow"}, "engine_unavailable", "use auto, ort or openvino"),
             ({"provider": "rocm"}, "engine_unavailable", "rocm"),
             ({"precision": "int3"}, "invalid_argument", "use f32 or bf16"),
             ({"concurrent_runs": 0}, "invalid_argument", "concurrent_runs"),
             ({"threads": -1}, "invalid_argument", "threads"),
             ({"optimization": "max"}, "invalid_argument", "disabled, basic, extended, all")]  # fmt: skip
    for options, want, says in cases:
        with pytest.raises(kprcnn.Error) as error:
            kprcnn.Detector(model, no_cache=True, **options)
        assert error.value.code == want and says in str(error.value), options
    with pytest.raises(kprcnn.Error) as error:
        kprcnn.Detector(tmp_path / "missing.onnx")
    assert error.value.code == "io"
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    with pytest.raises(kprcnn.Error) as error:
        kprcnn.Detector(tmp_path / "bad.onnx", engine="ort", no_cache=True)
    assert error.value.code == "model_load"


def test_coco_results_and_eval_are_the_clis(cli, model, scenes, tmp_path):
    """to_coco_json is what `kprcnn predict --coco` writes for a folder, and kprcnn.eval what `kprcnn eval --json`
    reports, on a ground truth made from the detections moved by 2 px (so that AP is neither 0 nor 1 by design)."""
    import json
    import subprocess

    folder = tmp_path / "images"
    folder.mkdir()
    for path in scenes.values():
        (folder / path.name).write_bytes(path.read_bytes())
    inputs = sorted(folder.iterdir())  # the CLI's order; ids 1..N (the stems are not numbers)
    res = tmp_path / "results.json"
    proc = subprocess.run([str(cli), "predict", "-m", str(model), "-i", str(folder), "-o", str(tmp_path / "out"),
                           "--engine", "ort", "--threshold", str(THRESHOLD), "--no-cache", "--no-draw", "--coco",
                           str(res), "--quiet"], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    detector = kprcnn.Detector(model, engine="ort", no_cache=True)
    predictions = [(i + 1, detector.predict(p, threshold=THRESHOLD)) for i, p in enumerate(inputs)]
    assert kprcnn.to_coco_json(predictions) == res.read_text()

    images, annotations = [], []
    for image_id, prediction in predictions:
        images.append({"id": image_id, "file_name": inputs[image_id - 1].name, "width": prediction.width,
                       "height": prediction.height})  # fmt: skip
        for d in prediction.detections[::2]:  # every other detection: some results are false positives
            x1, y1, x2, y2 = d.box
            kps = [[float(x) + 2, float(y) + 2, 2] for x, y, _ in d.keypoints]
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": 1, "iscrowd": 0,
                                "bbox": [x1 + 2, y1 + 2, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1),
                                "keypoints": [v for k in kps for v in k], "num_keypoints": 3})  # fmt: skip
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps({"images": images, "annotations": annotations, "categories": [
        {"id": 1, "name": "face", "keypoints": prediction.keypoint_names, "skeleton": []}]}))
    report = tmp_path / "eval.json"
    proc = subprocess.run([str(cli), "eval", "--annotations", str(gt), "--results", str(res), "--json", str(report)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = kprcnn.eval(gt, res)
    assert result.to_json() == report.read_text()
    assert 0 < result.keypoints[0] < 1 and result.images == 3 and result.ground_truths == len(annotations)
    assert result.operating_point.threshold == 0.8 and result.sigmas_source == "default"
    with pytest.raises(kprcnn.Error) as error:
        kprcnn.eval(tmp_path / "missing.json", res)
    assert error.value.code == "io"
