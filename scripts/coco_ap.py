#!/usr/bin/env python3
"""COCO keypoint and box AP of a results file (what `kprcnn predict --coco` writes), computed by pycocotools.

Usage: build/venv/bin/python scripts/coco_ap.py --annotations GT.json --results RESULTS.json [--sigmas a,b,c]
Sigmas default to the ground truth category's "kprcnn_oks_sigmas" (kprcnn synth writes them), else COCO's
0.025... is not guessed: give them. Prints pycocotools' summaries and one JSON line with the stats.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

KEYPOINT_STATS = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")
BBOX_STATS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--annotations", required=True)
    p.add_argument("--results", required=True)
    p.add_argument("--sigmas", help="comma-separated OKS sigmas, one per keypoint")
    args = p.parse_args()
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(args.annotations)
    cat = gt.loadCats(gt.getCatIds())[0]
    if args.sigmas:
        sigmas = [float(v) for v in args.sigmas.split(",")]
    elif "kprcnn_oks_sigmas" in cat:
        sigmas = cat["kprcnn_oks_sigmas"]
    else:
        print("error: no --sigmas and no kprcnn_oks_sigmas in the categories", file=sys.stderr)
        return 2
    if len(sigmas) != len(cat["keypoints"]):
        print(f"error: {len(sigmas)} sigmas for {len(cat['keypoints'])} keypoints", file=sys.stderr)
        return 2
    results = json.load(open(args.results))
    stats = {"sigmas": sigmas, "images": len(gt.getImgIds()), "detections": len(results)}
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(args.results) if results else None
    for iou_type, names in (("keypoints", KEYPOINT_STATS), ("bbox", BBOX_STATS)):
        if dt is None:
            stats[iou_type] = {n: 0.0 for n in names}
            continue
        ev = COCOeval(gt, dt, iou_type)
        if iou_type == "keypoints":
            ev.params.kpt_oks_sigmas = np.array(sigmas)
        with contextlib.redirect_stdout(io.StringIO()):
            ev.evaluate()
            ev.accumulate()
        print(f"{iou_type} (pycocotools):")
        ev.summarize()
        stats[iou_type] = {n: float(v) for n, v in zip(names, ev.stats)}
    print(json.dumps(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
