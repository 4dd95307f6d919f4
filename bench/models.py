"""The benchmark's checkpoints, exports and deterministic images (bench/ only; never part of the test run).

Two checkpoints:
  face      the bundled trained model (models/face: slim architecture, 3 keypoints, internal size 240), the one
            whose accuracy is known: bench/fast_mode.py scores every variant on the validation split, and the
            report puts that AP beside the speeds.
  allpass   a random-init keypointrcnn_resnet50_fpn (kprcnn_export.demo, seed 0): the recipe's architecture, no
            accuracy to measure. Its 100 candidate detections all score 0.94-0.99, so with the threshold 0.8 every
            one of them reaches the keypoint head: the worst case, unlike any trained model.

Exports per checkpoint (python -m kprcnn_export, --no-verify: the bench compares outputs itself):
  seed.onnx       the seed's export: default model settings (box_score_thresh 0.05; the architecture's internal size)
  exact.onnx      --box-score-thresh THRESHOLD (the predict threshold): the keypoint head runs only on kept boxes
  fast-fp32.onnx  exact + FAST[checkpoint]["export"]: the fast mode's export options, chosen per architecture by
                  measurement (bench/FAST_MODE.md for the trained model)
  fast-int8.onnx  fast-fp32 statically quantised to INT8 (`kprcnn quantize --no-check` at FAST["size"], run by
                  run_bench.py); the fast pipeline runs it at --size FAST["size"]
  allpass also: fast512.onnx (exact + --min-size 512), for the lever table.

Images (kprcnn synth face scenes, JPEG q92): 640x960 (the seed's test image size), 1920x1080, 4032x3024; a
folder of 20 at 640x960; 12 calibration scenes of other sizes. Usage: models.py OUT_DIR [--threshold 0.8]
(idempotent: existing files are kept until the exporter's source or the trained model changes:
OUT_DIR/models/exporter-hash)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

TRAINED = ROOT / "models" / "face"
CHECKPOINTS = ("face", "allpass")
# The fast mode per checkpoint: export options on top of exact's, and the predict --size (= the internal size, so
# that the graph does not resize: bench/FAST_MODE.md's "input --size 240" lever).
FAST = {
    "face": {"export": ["--rpn-post-nms-top-n", "100", "--rpn-pre-nms-top-n", "300"], "size": 240},
    "allpass": {"export": ["--min-size", "512", "--rpn-post-nms-top-n", "300"], "size": 512},
}
# Images: (name, width, height, draw_scene seed). 640x960 as the seed's test image, Full HD, a 12 Mpx phone photo.
IMAGES = (("img640x960", 640, 960, 0), ("img1920x1080", 1920, 1080, 0), ("img4032x3024", 4032, 3024, 0))
FOLDER_COUNT = 20  # throughput folder: 20 images of 640x960, seeds 100..119
JPEG_QUALITY = 92


def colormap_of(out: Path, ckpt: str) -> Path:
    return out / ("face-colormap.json" if ckpt == "face" else "bench-colormap.json")


def write_checkpoints(out: Path) -> None:
    import shutil

    import torch

    from kprcnn_export.demo import random_state_dict, write_colormap

    out.mkdir(parents=True, exist_ok=True)
    if not (out / "bench-colormap.json").exists():
        write_colormap(out / "bench-colormap.json")
    for name in ("face.pth", "face-colormap.json"):
        if not (out / name).exists() or (out / name).read_bytes() != (TRAINED / name).read_bytes():
            shutil.copy(TRAINED / name, out / name)
    path = out / "allpass.pth"
    if not path.exists():
        temp = path.with_suffix(".tmp")
        torch.save(random_state_dict(num_keypoints=3, num_classes=2, seed=0), temp)
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
    for f in sorted((ROOT / "python" / "kprcnn_export").glob("*.py")) + sorted(TRAINED.iterdir()):
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
    for name in CHECKPOINTS:
        ckpt, colormap = out / f"{name}.pth", colormap_of(out, name)
        exact = ["--box-score-thresh", str(threshold)]
        export(python, ckpt, colormap, out / f"{name}-seed.onnx", [])
        export(python, ckpt, colormap, out / f"{name}-exact.onnx", exact)
        export(python, ckpt, colormap, out / f"{name}-fast-fp32.onnx", exact + FAST[name]["export"])
        if name == "allpass":
            export(python, ckpt, colormap, out / f"{name}-fast512.onnx", exact + ["--min-size", "512"])
    stamp.write_text(current + "\n")


def write_images(out: Path) -> None:
    from kprcnn_export.synth import face_scene

    out.mkdir(parents=True, exist_ok=True)

    def scene(path: Path, w: int, h: int, seed: int) -> None:
        if not path.exists():
            face_scene(w, h, seed=seed).save(path, quality=JPEG_QUALITY)

    for name, w, h, seed in IMAGES:
        scene(out / f"{name}.jpg", w, h, seed)
    folder = out / "folder"
    folder.mkdir(exist_ok=True)
    for i in range(FOLDER_COUNT):
        scene(folder / f"f{i:02d}.jpg", 640, 960, 100 + i)
    calib = out / "calibration"  # quantisation calibration: other scenes than the measured ones
    calib.mkdir(exist_ok=True)
    for i, (w, h) in enumerate([(640, 960), (960, 640), (1024, 768), (768, 1024), (800, 800), (1280, 720)] * 2):
        scene(calib / f"c{i:02d}.jpg", w, h, 200 + i)


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
