#!/usr/bin/env python3
"""Write a demo training folder: OUTDIR/demo-colormap.json, OUTDIR/checkpoint.pth, OUTDIR/sample.jpg.

The checkpoint is a random-init torchvision keypointrcnn_resnet50_fpn (3 keypoints: left, right, top; seed 0), so
no weights are downloaded; the sample is a synthetic scene drawn with Pillow. Files already present are kept
(idempotent). Needs torch + torchvision: run with /usr/bin/python3 (Debian's), e.g.
    /usr/bin/python3 scripts/make_demo_checkpoint.py demo-out/model
then  PYTHONPATH=python /usr/bin/python3 -m kprcnn_export demo-out/model   ->  demo-out/model/demo-checkpoint.onnx
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))

from kprcnn_export.demo import draw_scene, write_checkpoint, write_colormap  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", help="folder to write (created if missing)")
    args = parser.parse_args()
    out = Path(args.outdir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        colormap, checkpoint, sample = out / "demo-colormap.json", out / "checkpoint.pth", out / "sample.jpg"
        if not colormap.exists():
            write_colormap(colormap)
        if not checkpoint.exists():
            write_checkpoint(checkpoint, num_keypoints=3, seed=0)
        if not sample.exists():
            temp = sample.with_name(".sample.tmp.jpg")
            try:
                draw_scene(960, 640, seed=0).save(temp, quality=92)
                os.replace(temp, sample)
            finally:
                temp.unlink(missing_ok=True)
    except OSError as e:
        print(f"error: cannot write the demo folder {out}: {e.strerror or e}", file=sys.stderr)
        return 1
    for path in (colormap, checkpoint, sample):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
