#!/usr/bin/env python3
"""`kprcnn eval` against pycocotools' COCOeval on a large generated case (not a test): the same stats, and how
long each takes. Run with build/venv/bin/python (pycocotools):

    build/venv/bin/python bench/coco_eval_bench.py [--images 5000] [--cli build/bin/kprcnn]

The case is tests/python/test_eval_vs_pycocotools.py's generator repeated over --images images (K = 3, two
categories, crowd and unlabelled ground truth, up to 28 detections per image, tied scores). Times are wall
seconds of each tool run as users run it (process start and JSON reading included), the best of --repeat runs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=5000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--cli", default=str(ROOT / "build" / "bin" / "kprcnn"))
    args = p.parse_args()
    import os

    os.environ.setdefault("KPRCNN_CLI", args.cli)
    from test_eval_vs_pycocotools import SIGMAS, generate

    images, anns, results = [], [], []
    for block in range((args.images + 11) // 12):
        gt, res = generate(block, True)
        offset = block * 12
        for im in gt["images"]:
            images.append({**im, "id": im["id"] + offset})
        for a in gt["annotations"]:
            anns.append({**a, "id": len(anns) + 1, "image_id": a["image_id"] + offset})
        results += [{**r, "image_id": r["image_id"] + offset} for r in res]
    images = images[: args.images]
    kept = {im["id"] for im in images}
    anns = [a for a in anns if a["image_id"] in kept]
    results = [r for r in results if r["image_id"] in kept]
    folder = Path(tempfile.mkdtemp(prefix="coco-eval-bench-"))
    gt_path, res_path = folder / "gt.json", folder / "results.json"
    gt_path.write_text(json.dumps({"info": {}, "images": images, "annotations": anns, "categories": gt["categories"]}))
    res_path.write_text(json.dumps(results))
    sigmas = ",".join(map(str, SIGMAS))
    commands = {
        "pycocotools": [sys.executable, str(ROOT / "scripts" / "coco_ap.py"), "--annotations", str(gt_path),
                        "--results", str(res_path), "--sigmas", sigmas],
        "kprcnn eval": [args.cli, "eval", "--annotations", str(gt_path), "--results", str(res_path), "--sigmas",
                        sigmas, "--json", str(folder / "kprcnn.json")],
    }  # fmt: skip
    best, out = {}, {}
    for _ in range(args.repeat):  # interleaved
        for name, cmd in commands.items():
            t0 = time.monotonic()
            proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
            best[name] = min(best.get(name, 1e9), time.monotonic() - t0)
            out[name] = proc.stdout
    expected = json.loads(out["pycocotools"].strip().splitlines()[-1])
    got = json.loads((folder / "kprcnn.json").read_text())
    worst = max(abs(expected[k][n] - got[k][n]) for k in ("keypoints", "bbox") for n in expected[k])
    print(f"{len(images)} images, {len(anns)} ground-truth objects, {len(results)} detections")
    for name, seconds in best.items():
        print(f"  {name:12s} {seconds:7.2f} s")
    print(f"  kprcnn eval is {best['pycocotools'] / best['kprcnn eval']:.1f}x faster; largest stat difference {worst:.2g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
