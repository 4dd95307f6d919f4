"""The benchmark's checkpoints, exports and deterministic images (bench/ only; never part of the test run).

Two checkpoints, both random-init keypointrcnn_resnet50_fpn with 3 keypoints (kprcnn_export.demo, seed 0):
  allpass   the demo/test checkpoint as is. Its 100 candidate detections all score 0.94-0.99, so with the recipe's
            threshold 0.8 every one of them reaches the keypoint head: the worst case, unlike any trained model.
  fewpass   the same weights with the box classifier's class-1 bias lowered by FEWPASS_BIAS_SHIFT (3.2): every
            candidate's odds fall by e^3.2 (~24x) and the ranking is unchanged, so the graph still returns 100
            candidates, but only the top few (2-3 on the bench images) score above 0.8 - the score distribution of a
            trained model on a photo with a couple of objects.

Exports per checkpoint (python -m kprcnn_export, --no-verify: the bench compares outputs itself):
  seed.onnx    the seed's export: default model settings (box_score_thresh 0.05, internal min_size 800)
  exact.onnx   --box-score-thresh THRESHOLD (the predict threshold): the keypoint head runs only on kept boxes
  fast512.onnx    exact + --min-size 512 (no 512 -> 800 upsampling inside the graph)
  fast-fp32.onnx  fast512 + --rpn-post-nms-top-n 300 (300 proposals instead of 1000 to the box head: RoiAlign,
                  its level merge and the box head's Gemm scale with them)
  fast-int8.onnx  fast-fp32 statically quantised to INT8 (`kprcnn quantize --no-check`, run by run_bench.py)

Usage: models.py OUT_DIR [--threshold 0.8]   (idempotent: existing files are kept until the exporter's source
changes: OUT_DIR/models/exporter-hash)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

FEWPASS_BIAS_SHIFT = 3.2
CHECKPOINTS = ("allpass", "fewpass")
# Images: (name, width, height, draw_scene seed). 640x960 as the seed's test image, Full HD, a 12 Mpx phone photo.
IMAGES = (("img640x960", 640, 960, 0), ("img1920x1080", 1920, 1080, 0), ("img4032x3024", 4032, 3024, 0))
FOLDER_COUNT = 20  # throughput folder: 20 images of 640x960, seeds 100..119
JPEG_QUALITY = 92


def write_checkpoints(out: Path) -> None:
    import torch

    from kprcnn_export.demo import random_state_dict, write_colormap

    out.mkdir(parents=True, exist_ok=True)
    if not (out / "bench-colormap.json").exists():
        write_colormap(out / "bench-colormap.json")
    state = None
    for name in CHECKPOINTS:
        path = out / f"{name}.pth"
        if path.exists():
            continue
        if state is None:
            state = random_state_dict(num_keypoints=3, num_classes=2, seed=0)
        s = dict(state)
        if name == "fewpass":
            bias = s["roi_heads.box_predictor.cls_score.bias"].clone()
            bias[1] -= FEWPASS_BIAS_SHIFT
            s["roi_heads.box_predictor.cls_score.bias"] = bias
        temp = path.with_suffix(".tmp")
        torch.save(s, temp)
        os.replace(temp, path)
        print(f"wrote {path}", flush=True)


def exporter_has_knobs(python: str) -> bool:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"))
    text = subprocess.run([python, "-m", "kprcnn_export", "--help"], capture_output=True, text=True, env=env).stdout
    return "--box-score-thresh" in text and "--min-size" in text


def export(python: str, checkpoint: Path, colormap: Path, out: Path, knobs: list[str]) -> None:
    if out.exists() and out.stat().st_mtime >= checkpoint.stat().st_mtime:
        return
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"))
    cmd = [python, "-m", "kprcnn_export", "--checkpoint", str(checkpoint), "--colormap", str(colormap), "-o", str(out)]
    cmd += ["--no-verify", *knobs]
    print("exporting", out.name, " ".join(knobs), flush=True)
    subprocess.run(cmd, check=True, env=env)


def exporter_hash() -> str:
    import hashlib

    h = hashlib.sha256()
    for f in sorted((ROOT / "python" / "kprcnn_export").glob("*.py")):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def export_all(out: Path, threshold: float, python: str) -> None:
    """Exports every checkpoint's variants; all of them again when the exporter's source changed since."""
    stamp, current = out / "exporter-hash", exporter_hash()
    if stamp.exists() and stamp.read_text().strip() != current:
        for old in out.glob("*.onnx"):
            print(f"exporter changed: re-exporting {old.name}", flush=True)
            old.unlink()
    if not exporter_has_knobs(python):
        sys.exit(
            "error: this kprcnn_export has no --box-score-thresh / --min-size; the exact and fast exports need them "
            "(update the exporter)"
        )
    colormap = out / "bench-colormap.json"
    for name in CHECKPOINTS:
        ckpt = out / f"{name}.pth"
        export(python, ckpt, colormap, out / f"{name}-seed.onnx", [])
        export(python, ckpt, colormap, out / f"{name}-exact.onnx", ["--box-score-thresh", str(threshold)])
        export(python, ckpt, colormap, out / f"{name}-fast512.onnx",
               ["--box-score-thresh", str(threshold), "--min-size", "512"])
        export(python, ckpt, colormap, out / f"{name}-fast-fp32.onnx",
               ["--box-score-thresh", str(threshold), "--min-size", "512", "--rpn-post-nms-top-n", "300"])
    stamp.write_text(current + "\n")


def write_images(out: Path) -> None:
    from kprcnn_export.demo import draw_scene

    out.mkdir(parents=True, exist_ok=True)
    for name, w, h, seed in IMAGES:
        path = out / f"{name}.jpg"
        if not path.exists():
            draw_scene(w, h, seed=seed).save(path, quality=JPEG_QUALITY)
    folder = out / "folder"
    folder.mkdir(exist_ok=True)
    for i in range(FOLDER_COUNT):
        path = folder / f"f{i:02d}.jpg"
        if not path.exists():
            draw_scene(640, 960, seed=100 + i).save(path, quality=JPEG_QUALITY)
    calib = out / "calibration"  # quantisation calibration: other scenes than the measured ones
    calib.mkdir(exist_ok=True)
    for i, (w, h) in enumerate([(640, 960), (960, 640), (1024, 768), (768, 1024), (800, 800), (1280, 720)] * 2):
        path = calib / f"c{i:02d}.jpg"
        if not path.exists():
            draw_scene(w, h, seed=200 + i).save(path, quality=JPEG_QUALITY)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--threshold", type=float, default=0.8)
    p.add_argument("--python", default=os.environ.get("KPRCNN_PYTHON", "/usr/bin/python3"),
                   help="Python with torch for the exporter")
    args = p.parse_args()
    write_checkpoints(args.out / "models")
    write_images(args.out / "images")
    export_all(args.out / "models", args.threshold, args.python)
    return 0


if __name__ == "__main__":
    sys.exit(main())
