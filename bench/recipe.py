#!/usr/bin/env python3
"""The seed's Python pipeline, step by step, as the baseline of the benchmark (bench/ only).

  (a) --backend ort    Pillow + numpy + onnxruntime (PyPI) on the seed-style export
  (b) --backend torch  the same steps with PyTorch eager torchvision on the checkpoint
  (c) --backend openvino  the recipe with the engine switched in three lines: OpenVINO's Python API (PyPI), the
      LATENCY hint, f32 pinned (--ov-precision; OpenVINO's own default is bf16 on CPUs with AMX or AVX-512 BF16)

Steps (the recipe's): Image.open().convert("RGB"); resize_img(img, target_sz=512, divisor=1) with Pillow's
Image.resize; np.array(img, float32).transpose(2, 0, 1)[None] / 255; session.run (or model([tensor])); keep scores >
threshold; scale boxes and keypoints back to the source image; draw a filled circle per keypoint with
PIL.ImageDraw; img.save(PNG). Every stage is timed with time.perf_counter.

The recipe scales back with one factor (min(img.size) / min(input.size)); kprcnn scales per axis. The result
records both: "detections" in kprcnn's convention (per axis, clamped to the image, as its JSON) so that the
agreement columns compare the models, and "recipe_max_scale_shift_px", how far the recipe's single factor moves a
coordinate.

Modes:
  recipe.py --backend ort --model M.onnx --worker          line protocol (see bench/run_bench.py)
  recipe.py --backend ort --model M.onnx --once IMG OUT    one image in a fresh process (the cold measurement)
  recipe.py --backend ort --model M.onnx --folder DIR OUT  a folder, one image after the other (throughput)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import time
from pathlib import Path

T_START = time.perf_counter()

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

COLORS = [(230, 25, 25), (25, 100, 240), (240, 215, 25)]  # bench-colormap.json's three keypoint colours
STAGES = ("decode", "resize", "tensor", "session", "postprocess", "draw", "encode", "total")


def resize_img(img, target_sz=512, divisor=1):
    """The recipe's resize_img: shorter side -> target_sz, the longer one scaled and truncated."""
    min_dim = np.argmin(img.size)
    max_dim = np.argmax(img.size)
    ratio = min(img.size) / target_sz
    new_sz = []
    new_sz.insert(min_dim, target_sz)
    new_sz.insert(max_dim, int(max(img.size) / ratio))
    if divisor > 1:
        new_sz = [s - s % divisor for s in new_sz]
    return img.resize(new_sz)


class OrtBackend:
    def __init__(self, model: str):
        import onnxruntime as ort

        self.session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])  # the seed: defaults

    def run(self, tensor: np.ndarray):
        return self.session.run(None, {"input": tensor})


class OpenVinoBackend:
    def __init__(self, model: str, precision: str = "f32"):
        import openvino as ov

        config = {"PERFORMANCE_HINT": "LATENCY"}
        if precision != "default":
            config["INFERENCE_PRECISION_HINT"] = precision
        self.compiled = ov.Core().compile_model(model, "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.outputs = [self.compiled.output(n) for n in ("boxes", "labels", "scores", "keypoints", "keypoints_scores")]

    def run(self, tensor: np.ndarray):
        result = self.request.infer({"input": tensor})
        return [result[o] for o in self.outputs]


class TorchBackend:
    def __init__(self, checkpoint: str):
        import torch

        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
        from kprcnn_export.checkpoint import build_model, load_checkpoint

        self.torch = torch
        # The checkpoint's own architecture (torchvision's keypointrcnn_resnet50_fpn for a plain state_dict, the
        # recorded one for a kprcnn train folder) with torchvision's inference defaults: what the seed export runs.
        state, info = load_checkpoint(checkpoint)
        self.model = build_model(state, info)

    def run(self, tensor: np.ndarray):
        with self.torch.no_grad():
            out = self.model([self.torch.from_numpy(tensor[0])])[0]
        return [out[k].numpy() for k in ("boxes", "labels", "scores", "keypoints", "keypoints_scores")]


def predict(backend, path: Path, out: Path | None, threshold: float, size: int) -> dict:
    t = {}
    t0 = time.perf_counter()
    img = Image.open(path).convert("RGB")
    t1 = time.perf_counter()
    input_img = resize_img(img, target_sz=size, divisor=1)
    t2 = time.perf_counter()
    input_tensor_np = np.array(input_img, dtype=np.float32).transpose((2, 0, 1))[None] / 255
    t3 = time.perf_counter()
    model_output = backend.run(input_tensor_np)
    t4 = time.perf_counter()
    # the recipe's postprocess: threshold, one scale factor
    min_img_scale = min(img.size) / min(input_img.size)
    scores_mask = model_output[2] > threshold
    bbox_list = model_output[0][scores_mask] * min_img_scale
    keypoints = model_output[3][scores_mask][:, :, :-1] * min_img_scale
    t5 = time.perf_counter()
    draw = ImageDraw.Draw(img)
    radius = max(2.0, min(img.size) / 100)
    for kps in keypoints:
        for k, (x, y) in enumerate(kps):
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=COLORS[k % len(COLORS)])
    t6 = time.perf_counter()
    if out is not None:
        img.save(out)
    t7 = time.perf_counter()
    for name, a, b in zip(STAGES, (t0, t1, t2, t3, t4, t5, t6, t0), (t1, t2, t3, t4, t5, t6, t7, t7)):
        t[name] = (b - a) * 1000
    return {"stages": t, "input": list(input_img.size), "result": detections(model_output, img.size, input_img.size,
                                                                             threshold, bbox_list, keypoints)}


def detections(raw, src, inp, threshold, recipe_boxes, recipe_keypoints) -> dict:
    """kprcnn's JSON layout, per-axis scaling and clamping (what its postprocess does), for the comparison."""
    width, height = src
    sx, sy = width / inp[0], height / inp[1]
    boxes, labels, scores, kps, kp_scores = (np.asarray(a, dtype=np.float64) for a in raw)
    dets, shift = [], 0.0
    clamp = lambda v, hi: float(min(max(v, 0.0), float(hi)))  # noqa: E731
    for i in np.flatnonzero(raw[2] > threshold):
        values = [scores[i], *boxes[i], *kps[i, :, :2].ravel(), *kp_scores[i]]
        if not all(math.isfinite(v) for v in values):
            continue
        x1, y1, x2, y2 = boxes[i]
        dets.append({
            "label": int(labels[i]), "score": float(scores[i]),
            "box": [clamp(x1 * sx, width), clamp(y1 * sy, height), clamp(x2 * sx, width), clamp(y2 * sy, height)],
            "keypoints": [{"x": clamp(kps[i, k, 0] * sx, width), "y": clamp(kps[i, k, 1] * sy, height),
                           "score": float(kp_scores[i, k])} for k in range(kps.shape[1])],
        })
    mask = raw[2] > threshold
    if mask.any():  # what the recipe's single factor does to the same coordinates (unclamped)
        per_axis = np.array([sx, sy, sx, sy])
        shift = float(np.abs(raw[0][mask] * per_axis - recipe_boxes).max())
        exact = np.concatenate([raw[3][mask][:, :, 0:1] * sx, raw[3][mask][:, :, 1:2] * sy], axis=2)
        shift = max(shift, float(np.abs(exact - recipe_keypoints).max()))
    dets.sort(key=lambda d: -d["score"])
    return {"width": width, "height": height, "detections": dets, "candidates": int(len(raw[2])),
            "recipe_max_scale_shift_px": shift}


def peak_rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def emit(doc: dict) -> None:
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()


def make_backend(args):
    t = time.perf_counter()
    if args.backend == "ort":
        backend = OrtBackend(args.model)
    elif args.backend == "openvino":
        backend = OpenVinoBackend(args.model, args.ov_precision)
    else:
        backend = TorchBackend(args.model)
    return backend, (time.perf_counter() - t) * 1000


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=("ort", "torch", "openvino"), required=True)
    p.add_argument("--ov-precision", default="f32", choices=("f32", "bf16", "default"),
                   help="openvino: INFERENCE_PRECISION_HINT (default: OpenVINO's own choice for this CPU)")
    p.add_argument("--model", required=True, help="seed-style .onnx (ort) or checkpoint .pth (torch)")
    p.add_argument("--threshold", type=float, default=0.8)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--torch-threads", type=int, default=0)
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--worker", action="store_true")
    mode.add_argument("--once", nargs=2, metavar=("IMAGE", "OUT"))
    mode.add_argument("--folder", nargs=2, metavar=("DIR", "OUT"))
    args = p.parse_args()
    if args.backend == "torch" and args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    import_ms = (time.perf_counter() - T_START) * 1000
    backend, load_ms = make_backend(args)
    if args.once:
        # saved under a temporary name and renamed, so that the driver's "file exists" is "file complete" (kprcnn
        # writes atomically too)
        out = Path(args.once[1])
        temp = out.with_name(f".{out.stem}.tmp{out.suffix}")
        predict(backend, Path(args.once[0]), temp, args.threshold, args.size)
        os.replace(temp, out)
        return 0
    if args.folder:
        folder, out = Path(args.folder[0]), Path(args.folder[1])
        out.mkdir(parents=True, exist_ok=True)
        files = sorted(f for f in folder.iterdir() if f.suffix.lower() in (".jpg", ".jpeg", ".png"))
        t = time.perf_counter()
        session_ms = 0.0
        for f in files:
            session_ms += predict(backend, f, out / (f.stem + ".png"), args.threshold, args.size)["stages"]["session"]
        seconds = time.perf_counter() - t
        emit({"event": "folder", "images": len(files), "seconds": seconds, "session_s": session_ms / 1000,
              "load_ms": load_ms, "peak_rss_kb": peak_rss_kb()})
        return 0
    emit({"event": "ready", "load_ms": load_ms, "import_ms": import_ms, "peak_rss_kb": peak_rss_kb()})
    for line in sys.stdin:
        line = line.rstrip("\n")
        if line == "quit":
            break
        if not line:
            continue
        image, _, stem = line.partition("\t")
        try:
            doc = predict(backend, Path(image), Path(stem + ".png") if stem else None, args.threshold, args.size)
            emit({"event": "run", **doc})
        except Exception as e:  # noqa: BLE001 - reported to the driver, which stops
            emit({"event": "error", "message": f"{type(e).__name__}: {e}"})
    emit({"event": "exit", "peak_rss_kb": peak_rss_kb()})
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    sys.exit(main())
