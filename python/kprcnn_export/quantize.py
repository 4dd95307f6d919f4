"""python -m kprcnn_export.quantize IN.onnx [OUT.onnx] --calibration DIR: kprcnn's fast mode, a static INT8 model.

ONNX Runtime's quantisation tooling (``onnxruntime.quantization.quantize_static``) rewrites the compute-heavy
operators (Conv and the box head's Gemm) to 8-bit: weights per output channel to signed 8 bits, activations to
unsigned 8 bits (U8S8 in QDQ form, what ONNX Runtime runs on VNNI/AMX units). The activation ranges are calibrated
(MinMax: ONNX Runtime 1.22's Entropy and Percentile calibrators stack every run's tensors into one array and
fail on this graph's data-dependent shapes) on the user's own images, prepared exactly as ``kprcnn predict --size N``
prepares them (EXIF orientation,
RGB, shorter side N with Pillow's bicubic filter, CHW / 255). Box decoding, NMS, RoiAlign and the keypoint
decoding stay in float. The model's metadata (keypoint names, colours, export options) is kept, and
``kprcnn.quantization`` records how the model was made and how far its answers moved.

INT8 changes the answers. After writing the model, the accuracy against the input model is measured and printed:
both run through ``kprcnn predict`` (``$KPRCNN_CLI`` or ``kprcnn`` on PATH) on the check images (default: the
calibration images; better: others, with ``--check-images``), detections are paired by IoU >= 0.5 with the same
label, and the keypoint displacement is reported in pixels and as a share of the box size (the square root of the
box area). ``--max-displacement PCT`` turns the report into a gate: the output is not kept when the mean
displacement exceeds it or a detection is lost.

With ground truth (``--eval GT.json``, images in ``--eval-images DIR``, default GT.json's folder), both models are
scored by ``kprcnn eval --model`` (COCO keypoint and box AP as pycocotools computes it, and the operating point at
``--threshold``), the figures printed side by side and stored in the metadata; ``--max-ap-drop POINTS`` is then
the gate: nothing is written when the INT8 model's keypoint AP is more than POINTS AP points (AP x 100) below the
float model's. The displacement check then runs only when asked for (``--check-images`` or
``--max-displacement``).

Needs the Python packages ``onnxruntime`` (the release kprcnn runs, for the same kernels) and ``onnx`` >= 1.14
(``onnx.reference``): ``scripts/setup.sh`` installs both into ``build/venv``, which ``kprcnn quantize`` uses.
Exit status: 0 on success, 1 on an error (one line ``error: ...`` on stderr), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from kprcnn_export.common import find_cli, iou, plan_resize
from kprcnn_export.errors import ExportError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
OPERATORS = ("Conv", "Gemm")  # the compute: backbone, FPN, heads (Conv) and the box head's two layers (Gemm)

MATCH_IOU = 0.5


def list_images(folder: Path, what: str) -> list[Path]:
    if not folder.is_dir():
        raise ExportError(f"{what} {folder} is not a folder; give a folder of .jpg/.png images")
    files = sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ExportError(f"{what} {folder} holds no .jpg/.png images; put 10-100 of your own photos there")
    return files


def model_input(path: Path, size: int) -> np.ndarray:
    """The [1, 3, H, W] float tensor kprcnn predict feeds for this image."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as opened:
            image = ImageOps.exif_transpose(opened).convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise ExportError(f"cannot read calibration image {path}: {e}") from e
    target = plan_resize(*image.size, size)
    if target != image.size:
        image = image.resize(target, Image.BICUBIC)
    return (np.asarray(image, dtype=np.float32).transpose(2, 0, 1)[None] / 255.0).copy()


class CalibrationReader:
    """onnxruntime.quantization.CalibrationDataReader over the calibration images (one tensor at a time)."""

    def __init__(self, files: list[Path], size: int):
        self.files, self.size, self.index = files, size, 0

    def get_next(self):
        if self.index >= len(self.files):
            return None
        tensor = model_input(self.files[self.index], self.size)
        self.index += 1
        return {"input": tensor}

    def rewind(self):
        self.index = 0


def load_tooling():
    """The quantisation tooling, or an ExportError that says how to get it."""
    try:
        import onnx
        import onnx.reference  # noqa: F401  (the tooling's shape inference needs it: onnx >= 1.14)
        import onnxruntime
        from onnxruntime import quantization
    except ImportError as e:
        raise ExportError(
            f"INT8 quantisation needs the Python packages onnxruntime and onnx >= 1.14 ({e}). "
            "`scripts/setup.sh` installs them into build/venv, which `kprcnn quantize` uses; or run this module with "
            "a Python that has them (pip install onnxruntime==1.22.0 onnx==1.17.0 in a venv made with "
            "--system-site-packages)"
        ) from e
    return onnx, onnxruntime, quantization


# --- accuracy ---------------------------------------------------------------------------------------------------


def run_cli(cmd: list[str], what: str, ok: tuple[int, ...] = (0,)) -> None:
    """Runs the kprcnn binary; an ExportError naming ``what`` with its last stderr lines when it fails."""
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=7200)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ExportError(f"{what}: could not run {cmd[0]}: {e}") from e
    if result.returncode not in ok:
        detail = (result.stderr.strip() or f"exit {result.returncode}").splitlines()
        raise ExportError(f"{what} failed: {' | '.join(detail[-3:])}")


def predict(cli: Path, model: Path, images: Path, output: Path, threshold: float, size: int) -> dict[str, list]:
    cmd = [str(cli), "predict", "--model", str(model), "--input", str(images), "--output", str(output),
           "--threshold", str(threshold), "--size", str(size), "--no-draw", "--quiet",
           "--engine", "ort"]  # fmt: skip  (both models on ONNX Runtime: the INT8 kernels measured are its own)
    run_cli(cmd, f"kprcnn predict of {model.name}", ok=(0, 1))  # 1: some images failed, reported per image
    return {p.stem: json.loads(p.read_text(encoding="utf-8"))["detections"] for p in sorted(output.glob("*.json"))}


def compare(reference: dict[str, list], quantised: dict[str, list]) -> dict:
    """Pairs each reference detection (best score first) with the unpaired quantised one of the same label that
    overlaps it most (IoU >= MATCH_IOU); keypoint displacement over the pairs, in px and / sqrt(box area)."""
    totals = {"images": len(reference), "reference": 0, "quantised": 0, "matched": 0}
    px, rel = [], []
    for stem, ref in reference.items():
        got = list(quantised.get(stem, []))
        totals["reference"] += len(ref)
        totals["quantised"] += len(got)
        for det in sorted(ref, key=lambda d: -d["score"]):
            best = max(range(len(got)), default=None,
                       key=lambda j: iou(det["box"], got[j]["box"]) if got[j]["label"] == det["label"] else -1)
            if best is None or got[best]["label"] != det["label"] or iou(det["box"], got[best]["box"]) < MATCH_IOU:
                continue
            other = got.pop(best)
            totals["matched"] += 1
            x1, y1, x2, y2 = det["box"]
            side = math.sqrt(max(x2 - x1, 1e-6) * max(y2 - y1, 1e-6))
            for a, b in zip(det["keypoints"], other["keypoints"]):
                d = math.hypot(a["x"] - b["x"], a["y"] - b["y"])
                px.append(d)
                rel.append(d / side)
    totals["mean_keypoint_px"] = statistics.fmean(px) if px else None
    totals["max_keypoint_px"] = max(px) if px else None
    totals["mean_keypoint_rel"] = statistics.fmean(rel) if rel else None
    return totals


def describe(acc: dict) -> str:
    text = (f"{acc['quantised']} detections vs {acc['reference']} on {acc['images']} image(s), "
            f"{acc['matched']} of those paired (IoU >= {MATCH_IOU}, same label)")
    if acc["mean_keypoint_px"] is not None:
        text += (f"; keypoint displacement mean {acc['mean_keypoint_px']:.2f} px = "
                 f"{100 * acc['mean_keypoint_rel']:.2f}% of the box size, max {acc['max_keypoint_px']:.2f} px")
    return text


def check_accuracy(source: Path, quantised: Path, images: list[Path], threshold: float, size: int) -> dict | None:
    cli = find_cli()
    if cli is None:
        print("warning: accuracy not measured: kprcnn not found (set KPRCNN_CLI or put it on PATH)",
              file=sys.stderr)
        return None
    with tempfile.TemporaryDirectory(prefix="kprcnn-quantize-") as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        for i, image in enumerate(images):  # one folder, unique stems (the originals may live anywhere)
            (folder / f"{i:04d}_{image.name}").symlink_to(image.resolve())
        reference = predict(cli, source, folder, Path(tmp) / "reference", threshold, size)
        result = predict(cli, quantised, folder, Path(tmp) / "quantised", threshold, size)
    return compare(reference, result)


# --- accuracy against ground truth (kprcnn eval) --------------------------------------------------------------

EVAL_ROWS = [("keypoints", "AP", "keypoint AP"), ("keypoints", "AP50", "keypoint AP50"),
             ("keypoints", "AP75", "keypoint AP75"), ("keypoints", "AR", "keypoint AR"), ("bbox", "AP", "box AP"),
             ("operating_point", "precision", "precision"), ("operating_point", "recall", "recall"),
             ("operating_point", "f1", "F1"), ("operating_point", "mean_error_px", "keypoint error, px"),
             ("operating_point", "pck_0.05", "PCK@0.05")]  # fmt: skip


def evaluate(cli: Path, model: Path, annotations: Path, images: Path, threshold: float, size: int, out: Path) -> dict:
    """kprcnn eval --model: the stats JSON (keypoints, bbox, operating_point, images, detections)."""
    cmd = [str(cli), "eval", "--annotations", str(annotations), "--images", str(images), "--model", str(model),
           "--threshold", str(threshold), "--size", str(size), "--json", str(out), "--quiet",
           "--engine", "ort"]  # fmt: skip  (as predict above)
    run_cli(cmd, f"kprcnn eval of {model.name}")
    return json.loads(out.read_text(encoding="utf-8"))


def eval_table(reference: dict, quantised: dict) -> str:
    lines = [f"{'':22}{'float':>10}{'INT8':>10}{'change':>10}"]
    for group, key, label in EVAL_ROWS:
        a, b = reference[group][key], quantised[group][key]
        change = f"{b - a:+10.4f}" if a >= 0 and b >= 0 else f"{'':>10}"
        lines.append(f"{label:22}{a:10.4f}{b:10.4f}{change}")
    return "\n".join(lines)


def ap_points_lost(reference: dict, quantised: dict) -> float:
    return 100 * (reference["keypoints"]["AP"] - quantised["keypoints"]["AP"])


def check_against_ground_truth(source: Path, quantised: Path, args: argparse.Namespace) -> dict:
    cli = find_cli()
    if cli is None:
        raise ExportError("--eval needs the kprcnn binary: set KPRCNN_CLI or put kprcnn on PATH")
    with tempfile.TemporaryDirectory(prefix="kprcnn-quantize-eval-") as tmp:
        images = args.eval_images or args.eval.parent
        reference = evaluate(cli, source, args.eval, images, args.threshold, args.size, Path(tmp) / "float.json")
        result = evaluate(cli, quantised, args.eval, images, args.threshold, args.size, Path(tmp) / "int8.json")
    return {"images": reference["images"], "threshold": args.threshold, "float": reference, "int8": result,
            "keypoint_ap_points_lost": ap_points_lost(reference, result)}


# --- quantisation -----------------------------------------------------------------------------------------------


def quantize(args: argparse.Namespace) -> int:
    onnx, onnxruntime, q = load_tooling()
    source: Path = args.input
    if not source.is_file():
        raise ExportError(f"model {source} not found")
    output: Path = args.output or source.with_name(source.stem + "-int8.onnx")
    if output.resolve() == source.resolve():
        raise ExportError("the output would overwrite the input model; give another output name")
    if not output.parent.is_dir() or not os.access(output.parent, os.W_OK):
        raise ExportError(f"cannot write into {output.parent}: not a writable folder")
    calibration = list_images(args.calibration, "--calibration")
    check = list_images(args.check_images, "--check-images") if args.check_images else calibration
    if args.eval is not None and not args.eval.is_file():
        raise ExportError(f"--eval {args.eval} is not a file; give a COCO keypoint ground truth (JSON)")
    if args.eval_images is not None and not args.eval_images.is_dir():
        raise ExportError(f"--eval-images {args.eval_images} is not a folder")
    if (args.eval_images is not None or args.max_ap_drop is not None) and args.eval is None:
        raise ExportError("--eval-images and --max-ap-drop need --eval GT.json (the ground truth to score on)")
    if args.max_ap_drop is not None and not 0 <= args.max_ap_drop <= 100:
        raise ExportError("--max-ap-drop is in AP points (0-100)")
    displacement_check = not args.no_check and (
        args.eval is None or args.check_images is not None or args.max_displacement is not None)
    if args.threshold < 0 or args.threshold > 1 or not 16 <= args.size <= 4096:
        raise ExportError("--threshold must lie in [0, 1] and --size in [16, 4096]")
    operators = [op.strip() for op in args.operators.split(",") if op.strip()]
    if not operators or set(operators) - set(OPERATORS):
        raise ExportError(f"--operators {args.operators}: choose from {', '.join(OPERATORS)} (comma-separated)")

    try:
        model = onnx.load(str(source), load_external_data=False)
    except Exception as e:  # onnx raises DecodeError and friends, not one type
        raise ExportError(f"{source} is not an ONNX model ({e}); give a model written by `kprcnn export`") from e
    names = {i.name for i in model.graph.input}, {o.name for o in model.graph.output}
    expected = ({"input"}, {"boxes", "labels", "scores", "keypoints", "keypoints_scores"})
    if names[0] != expected[0] or not expected[1] <= names[1]:
        raise ExportError(f"{source} is not a kprcnn export (inputs {sorted(names[0])}, outputs {sorted(names[1])})")
    metadata = {m.key: m.value for m in model.metadata_props}
    if "kprcnn.quantization" in metadata:
        raise ExportError(f"{source} is already quantised ({metadata['kprcnn.quantization']}); quantise the float model")
    del model

    started = time.monotonic()
    print(f"quantising {source.name}: calibration on {len(calibration)} image(s) at --size {args.size} "
          f"(ONNX Runtime {onnxruntime.__version__})", file=sys.stderr)
    fd, temp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
    os.close(fd)
    try:
        import logging

        logging.getLogger().setLevel(logging.ERROR)  # the tooling warns per node about optional pre-processing
        try:
            q.quantize_static(
                str(source), temp, CalibrationReader(calibration, args.size),
                quant_format=q.QuantFormat.QDQ, op_types_to_quantize=operators, per_channel=True,
                activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8,
                calibrate_method=q.CalibrationMethod.MinMax,
                extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
            )  # fmt: skip
        except ExportError:
            raise
        except Exception as e:
            raise ExportError(f"ONNX Runtime's quantisation failed on {source.name}: {type(e).__name__}: {e}") from e
        quantised = onnx.load(temp)
        present = {m.key for m in quantised.metadata_props}
        for key, value in metadata.items():
            if key not in present:
                entry = quantised.metadata_props.add()
                entry.key, entry.value = key, value
        how = {
            "method": "static INT8, QDQ, U8S8 (activations asymmetric uint8, weights symmetric int8 per channel), "
            + " and ".join(operators),
            "calibration": f"MinMax on {len(calibration)} image(s), --size {args.size}",
            "onnxruntime": onnxruntime.__version__,
        }
        accuracy = None
        if args.eval is not None or displacement_check:
            onnx.save(quantised, temp)  # the checks run the model file
        if args.eval is not None:
            print(f"quantised in {time.monotonic() - started:.0f} s; scoring both models on {args.eval} "
                  f"(kprcnn eval, threshold {args.threshold})", file=sys.stderr)
            scored = check_against_ground_truth(source, Path(temp), args)
            table = eval_table(scored["float"], scored["int8"])
            lost = scored["keypoint_ap_points_lost"]
            print(f"accuracy on {scored['images']} ground-truth images:\n{table}", file=sys.stderr)
            how["eval"] = {"annotations": args.eval.name, "images": scored["images"], "threshold": args.threshold,
                           "keypoint_ap_float": scored["float"]["keypoints"]["AP"],
                           "keypoint_ap_int8": scored["int8"]["keypoints"]["AP"],
                           "box_ap_float": scored["float"]["bbox"]["AP"], "box_ap_int8": scored["int8"]["bbox"]["AP"],
                           "operating_point_float": scored["float"]["operating_point"],
                           "operating_point_int8": scored["int8"]["operating_point"]}  # fmt: skip
            if args.max_ap_drop is not None and lost > args.max_ap_drop:
                raise ExportError(
                    f"the INT8 model loses {lost:.2f} keypoint AP points on {args.eval.name} (--max-ap-drop "
                    f"{args.max_ap_drop:g}); nothing written. Calibrate on more of your own images, quantise fewer "
                    "operators, or use the float model"
                )
        if displacement_check:
            print(f"quantised in {time.monotonic() - started:.0f} s; measuring accuracy against {source.name} on "
                  f"{len(check)} image(s) (threshold {args.threshold})", file=sys.stderr)
            accuracy = check_accuracy(source, Path(temp), check, args.threshold, args.size)
            if accuracy is not None:
                how["accuracy"] = describe(accuracy)
                print(f"accuracy: {describe(accuracy)}", file=sys.stderr)
                if args.max_displacement is not None:
                    mean = accuracy["mean_keypoint_rel"]
                    lost = accuracy["matched"] < accuracy["reference"]
                    if lost or (mean is not None and 100 * mean > args.max_displacement):
                        raise ExportError(
                            f"the INT8 model moved too far from {source.name} (--max-displacement "
                            f"{args.max_displacement:g}%): {describe(accuracy)}; nothing written. Calibrate on more "
                            "of your own images, or use the float model"
                        )
        entry = quantised.metadata_props.add()
        entry.key, entry.value = "kprcnn.quantization", json.dumps(how)
        onnx.save(quantised, temp)
        os.chmod(temp, 0o644)
        os.replace(temp, output)
    finally:
        Path(temp).unlink(missing_ok=True)
    size_mb = output.stat().st_size / 1e6
    print(f"wrote {output} ({size_mb:.1f} MB, from {source.stat().st_size / 1e6:.1f} MB) in "
          f"{time.monotonic() - started:.0f} s")
    if accuracy is not None:
        print(f"accuracy vs {source.name}: {describe(accuracy)}")
    if "eval" in how:
        e = how["eval"]
        print(f"keypoint AP on {args.eval.name}: float {e['keypoint_ap_float']:.4f}, INT8 {e['keypoint_ap_int8']:.4f} "
              f"({100 * (e['keypoint_ap_int8'] - e['keypoint_ap_float']):+.2f} points)")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kprcnn quantize",
        description="Static INT8 quantisation of a kprcnn export (the fast mode), calibrated on your images, "
        "with its accuracy against the float model printed.",
    )
    p.add_argument("input", type=Path, help="a float model written by `kprcnn export`")
    p.add_argument("output", type=Path, nargs="?", help="the INT8 model (default: <input>-int8.onnx)")
    p.add_argument("--calibration", type=Path, required=True, metavar="DIR",
                   help="folder of your own images (10-100 representative ones) for the activation ranges")
    p.add_argument("--size", type=int, default=512, help="shorter side of the model input, as in kprcnn predict")
    p.add_argument("--operators", default="Conv,Gemm",
                   help="operator types quantised, comma-separated (default: %(default)s)")
    p.add_argument("--check-images", type=Path, metavar="DIR",
                   help="images for the accuracy check (default: the calibration images)")
    p.add_argument("--threshold", type=float, default=0.8, help="detections compared: score > threshold")
    p.add_argument("--max-displacement", type=float, metavar="PCT",
                   help="fail (write nothing) when a detection is lost or the mean keypoint displacement exceeds "
                   "PCT percent of the box size")
    p.add_argument("--no-check", action="store_true", help="skip the displacement check")
    p.add_argument("--eval", type=Path, metavar="GT.json",
                   help="COCO keypoint ground truth: score both models with kprcnn eval (AP, operating point)")
    p.add_argument("--eval-images", type=Path, metavar="DIR",
                   help="folder holding the ground truth's file_names (default: the folder of GT.json)")
    p.add_argument("--max-ap-drop", type=float, metavar="POINTS",
                   help="with --eval: fail (write nothing) when the INT8 keypoint AP is more than POINTS AP points "
                   "(AP x 100) below the float model's")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return quantize(args)
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; nothing written", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
