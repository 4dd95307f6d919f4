"""kprcnn.triton: a client for a kprcnn model served by NVIDIA Triton (model repository from `kprcnn triton-repo`).

    import kprcnn.triton as kt
    print(kt.infer("localhost:8000", "face", "photo.jpg"))   # the JSON document `kprcnn predict` writes

    python -m kprcnn.triton --url localhost:8000 --model face photo.jpg ...

preprocess() decodes with kprcnn's own decoder (kprcnn.read_image / decode_image: EXIF orientation applied) and
resizes exactly as `kprcnn predict` does (src/preprocess.cpp: the recipe's resize plan, then Pillow's BICUBIC
resampler in 8-bit fixed point, ported here to numpy), giving the float32 [1, 3, H, W] tensor (pixel / 255).
postprocess() applies kprcnn's postprocessing (threshold, scale back per axis, clamp, drop non-finite, sort) and
writes the same JSON. tritonclient is imported only by infer(), so pre/post-processing need only numpy.
"""
import argparse
import json
import math
import os
import sys

import numpy as np

_PRECISION_BITS = 22


def plan_resize(width, height, target, divisor=1):
    """(width, height) of the model input: the recipe's resize_img plan (src/preprocess.cpp plan_resize)."""
    if width <= 0 or height <= 0 or target < 1:
        raise ValueError(f"cannot plan a resize of {width}x{height} to {target}")
    shorter, longer = min(width, height), max(width, height)
    ratio = float(shorter) / float(target)
    long_side = int(math.trunc(float(longer) / ratio))
    w, h = (target, long_side) if width < height else (long_side, target)
    if divisor > 0:
        w, h = w - w % divisor, h - h % divisor
    if w == 0 or h == 0:
        raise ValueError(f"size {target} rounded to 0 by divisor {divisor}")
    return w, h


def _bicubic(x):
    a = -0.5
    x = abs(x)
    if x < 1.0:
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    if x < 2.0:
        return (((x - 5.0) * x + 8.0) * x - 4.0) * a
    return 0.0


def _axis(in_size, out_size):
    """Pillow's taps for one axis: a dense [out, in] int64 matrix of 22-bit fixed-point coefficients."""
    scale = in_size / out_size
    filter_scale = max(scale, 1.0)
    support = 2.0 * filter_scale
    stride = int(math.ceil(support)) * 2 + 1
    m = np.zeros((out_size, in_size), dtype=np.int64)
    for i in range(out_size):
        center = (i + 0.5) * scale
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), in_size)
        n = min(hi - lo, stride)
        w = [_bicubic((lo + j - center + 0.5) / filter_scale) for j in range(n)]
        total = sum(w)
        for j in range(n):
            v = (w[j] / total if total != 0.0 else w[j]) * float(1 << _PRECISION_BITS)
            m[i, lo + j] = int(v - 0.5) if v < 0 else int(v + 0.5)
    return m


def _clip8(acc):
    return np.clip((acc + (1 << (_PRECISION_BITS - 1))) >> _PRECISION_BITS, 0, 255).astype(np.uint8)


def resize_bicubic(rgb, width, height):
    """Pillow-exact BICUBIC resize of an HxWx3 uint8 array (horizontal pass, rounded to 8 bits, then vertical)."""
    h0, w0 = rgb.shape[:2]
    if (w0, h0) == (width, height):
        return rgb.copy()
    src = rgb.astype(np.int64)
    if w0 != width:
        src = _clip8(np.einsum("ow,hwc->hoc", _axis(w0, width), src)).astype(np.int64)
    if h0 != height:
        src = _clip8(np.einsum("oh,hwc->owc", _axis(h0, height), src)).astype(np.int64)
    return src.astype(np.uint8)


def preprocess(image, shorter_side=512, divisor=1):
    """(tensor float32 [1, 3, H, W], scale) for a path, JPEG/PNG bytes, a kprcnn.Image or an HxWx3 uint8 array.

    scale is ((image_width, image_height), (input_width, input_height)): what postprocess() needs to map
    coordinates back to the source image per axis, as kprcnn does.
    """
    if isinstance(image, np.ndarray):
        rgb = image
    else:
        import kprcnn
        if isinstance(image, (bytes, bytearray)):
            image = kprcnn.decode_image(bytes(image))
        elif isinstance(image, (str, os.PathLike)):
            image = kprcnn.read_image(os.fspath(image))
        rgb = image.to_numpy()
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    iw, ih = plan_resize(w, h, shorter_side, divisor)
    resized = resize_bicubic(rgb, iw, ih)
    tensor = (resized.astype(np.float32) / np.float32(255.0)).transpose(2, 0, 1)[None]
    return np.ascontiguousarray(tensor), ((w, h), (iw, ih))


def keypoint_names(metadata):
    """Keypoint names from the model's metadata (config.pbtxt parameters or metadata_props: kprcnn.colormap)."""
    text = (metadata or {}).get("kprcnn.colormap")
    if not text:
        return []
    doc = json.loads(text)
    return [item.get("label", f"kp{i}") for i, item in enumerate(doc.get("items", []))]


def _number(v):
    return float(np.float32(v))


def postprocess(outputs, scale, metadata=None, score_threshold=0.8, image_name="", model_name=""):
    """The 5 model outputs (dict name -> array) as the JSON document `kprcnn predict` writes (a str)."""
    (w, h), (iw, ih) = scale
    sx, sy = w / iw, h / ih
    boxes = np.asarray(outputs["boxes"], dtype=np.float32).reshape(-1, 4)
    n = boxes.shape[0]
    labels = np.asarray(outputs["labels"]).reshape(n)
    scores = np.asarray(outputs["scores"], dtype=np.float32).reshape(n)
    kps = np.asarray(outputs["keypoints"], dtype=np.float32)
    kps = kps.reshape(n, kps.shape[-2] if kps.ndim == 3 else kps.size // max(3 * n, 1), 3)
    kscores = np.asarray(outputs["keypoints_scores"], dtype=np.float32).reshape(n, kps.shape[1])
    names = keypoint_names(metadata)
    dets = []
    for i in range(n):
        if not scores[i] > np.float32(score_threshold):
            continue
        values = np.concatenate([boxes[i], kps[i, :, :2].ravel(), kscores[i], [scores[i]]])
        if not np.all(np.isfinite(values)):
            continue
        cx = lambda x: _number(min(max(float(np.float32(x * sx)), 0.0), w))  # noqa: E731
        cy = lambda y: _number(min(max(float(np.float32(y * sy)), 0.0), h))  # noqa: E731
        b = boxes[i]
        dets.append({
            "label": int(labels[i]), "score": _number(scores[i]),
            "box": [cx(b[0]), cy(b[1]), cx(b[2]), cy(b[3])],
            "keypoints": [{"name": names[k] if k < len(names) else f"kp{k}", "x": cx(kps[i, k, 0]),
                           "y": cy(kps[i, k, 1]), "score": _number(kscores[i, k])} for k in range(kps.shape[1])],
        })
    dets.sort(key=lambda d: -d["score"])  # stable, highest first
    doc = {"image": image_name, "width": w, "height": h, "model": model_name, "detections": dets}
    return json.dumps(doc, indent=2)


OUTPUTS = ("boxes", "labels", "scores", "keypoints", "keypoints_scores")


def infer(url, model_name, image, protocol="http", shorter_side=512, score_threshold=0.8):
    """Run `image` on Triton at `url` (host:port) and return kprcnn predict's JSON. Needs tritonclient."""
    if protocol == "http":
        import tritonclient.http as tc
    elif protocol == "grpc":
        import tritonclient.grpc as tc
    else:
        raise ValueError("protocol must be http or grpc")
    client = tc.InferenceServerClient(url=url)
    meta = client.get_model_config(model_name)
    params = (meta.get("parameters", {}) if isinstance(meta, dict)
              else {k: {"string_value": v.string_value} for k, v in meta.config.parameters.items()})
    metadata = {k: v.get("string_value", "") for k, v in params.items()}
    tensor, scale = preprocess(image, shorter_side)
    inp = tc.InferInput("input", list(tensor.shape), "FP32")
    inp.set_data_from_numpy(tensor)
    result = client.infer(model_name, [inp], outputs=[tc.InferRequestedOutput(o) for o in OUTPUTS])
    outputs = {o: result.as_numpy(o) for o in OUTPUTS}
    name = os.path.basename(image) if isinstance(image, (str, os.PathLike)) else ""
    return postprocess(outputs, scale, metadata, score_threshold, name, model_name)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m kprcnn.triton", description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="localhost:8000")
    ap.add_argument("--model", required=True)
    ap.add_argument("--protocol", choices=("http", "grpc"), default="http")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("images", nargs="+")
    a = ap.parse_args(argv)
    for path in a.images:
        print(infer(a.url, a.model, path, a.protocol, a.size, a.threshold))
    return 0


if __name__ == "__main__":
    sys.exit(main())
