#!/usr/bin/env python3
"""ONNX Runtime profiles (SessionOptions EnableProfiling JSON): per-operator summary and model FLOPs.

  ort_profile.py summary PROFILE.json [--runs N]     per-operator table of a kprcnn profile (markdown)
  ort_profile.py flops MODEL.onnx IMAGE [--size 512]  model FLOPs for one image (see below), as JSON

FLOPs are counted from the shapes ONNX Runtime records for every node it runs (input_type_shape and
output_type_shape of the profile's node events), in a session with graph optimisations disabled so that every
node is an original ONNX operator: Conv 2*|out|*(Cin/groups)*kh*kw, ConvTranspose 2*|in|*(Cout/groups)*kh*kw,
Gemm/MatMul 2*M*N*K. These four hold all but a sliver of the arithmetic (the rest - RoiAlign, NMS, Resize,
elementwise - is memory-bound and not counted). The count is for the actual run: data-dependent parts (the
keypoint head per kept box, the box head per proposal) are counted as they ran on that image.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from collections import defaultdict
from pathlib import Path


def node_events(profile: list) -> list:
    return [e for e in profile if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time")]


def _shapes(entries) -> list[list[int]]:
    out = []
    for entry in entries or []:
        for _type, shape in entry.items():
            out.append([int(d) for d in shape])
    return out


def node_flops(op: str, ins: list[list[int]], outs: list[list[int]]) -> float:
    prod = lambda s: math.prod(s) if s else 0  # noqa: E731
    try:
        if op in ("Conv", "FusedConv", "QLinearConv", "ConvInteger"):
            w = ins[3] if op == "QLinearConv" else ins[1]
            return 2.0 * prod(outs[0]) * prod(w[1:])
        if op == "ConvTranspose":
            return 2.0 * prod(ins[0]) * prod(ins[1][1:])
        if op in ("Gemm", "FusedGemm", "MatMul", "FusedMatMul", "QGemm", "MatMulInteger", "QLinearMatMul"):
            a = ins[0]
            return 2.0 * prod(outs[0]) * a[-1]
    except (IndexError, TypeError):
        return 0.0
    return 0.0


def region(op: str, ins: list[list[int]]) -> str:
    """Where a node sits in Keypoint R-CNN, from its input shape (node names carry no scope in these exports)."""
    first = ins[0] if ins else []
    if op in ("Conv", "FusedConv", "QLinearConv", "ConvTranspose") and len(first) == 4 and first[2:] == [14, 14]:
        return "keypoint head"
    if op in ("Conv", "FusedConv", "QLinearConv") and len(first) == 5 and first[2:4] == [14, 14]:
        return "keypoint head"
    if op in ("Gemm", "FusedGemm", "QGemm", "MatMul"):
        return "box head"
    if op == "RoiAlign":
        return "RoiAlign"
    if op in ("Conv", "FusedConv", "QLinearConv", "ReorderInput", "ReorderOutput", "MaxPool", "Resize", "Add",
              "Relu", "QuantizeLinear", "DequantizeLinear"):
        return "backbone+FPN+RPN"
    return "other"


def summarize(path: Path, runs: int = 1) -> dict:
    profile = json.loads(Path(path).read_text())
    by_op: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    by_region: dict[str, float] = defaultdict(float)
    total = 0.0
    for e in node_events(profile):
        args = e.get("args", {})
        op = args.get("op_name", "?")
        dur = e.get("dur", 0) / 1000.0  # microseconds -> ms
        by_op[op][0] += dur
        by_op[op][1] += 1
        by_region[region(op, _shapes(args.get("input_type_shape")))] += dur
        total += dur
    runs = max(1, runs)
    ops = sorted(((op, v[0] / runs, v[1] / runs) for op, v in by_op.items()), key=lambda x: -x[1])
    return {"total_ms": total / runs, "ops": ops, "regions": {k: v / runs for k, v in by_region.items()}}


def summary_markdown(summary: dict, top: int = 12) -> str:
    lines = ["| operator | ms per run | share | nodes run |", "|---|---:|---:|---:|"]
    total = summary["total_ms"] or 1.0
    for op, ms, count in summary["ops"][:top]:
        lines.append(f"| {op} | {ms:.1f} | {100 * ms / total:.1f}% | {count:.0f} |")
    rest = sum(ms for _, ms, _ in summary["ops"][top:])
    if rest:
        lines.append(f"| (other {len(summary['ops']) - top} types) | {rest:.1f} | {100 * rest / total:.1f}% | |")
    lines.append(f"| **all operators** | **{total:.1f}** | | |")
    regions = ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in sorted(summary["regions"].items(), key=lambda x: -x[1]))
    return "\n".join(lines) + f"\n\nBy region (from node input shapes): {regions}.\n"


def count_flops(model: str, image: str, size: int) -> dict:
    import numpy as np
    import onnxruntime as ort
    from PIL import Image

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from recipe import resize_img

    img = resize_img(Image.open(image).convert("RGB"), size)
    x = np.array(img, dtype=np.float32).transpose((2, 0, 1))[None] / 255
    with tempfile.TemporaryDirectory() as tmp:
        o = ort.SessionOptions()
        o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        o.enable_profiling = True
        o.profile_file_prefix = str(Path(tmp) / "flops")
        s = ort.InferenceSession(model, o, providers=["CPUExecutionProvider"])
        out = s.run(None, {"input": x})
        profile = json.loads(Path(s.end_profiling()).read_text())
    by_op: dict[str, float] = defaultdict(float)
    by_region: dict[str, float] = defaultdict(float)
    for e in node_events(profile):
        args = e.get("args", {})
        if not args.get("op_name"):
            continue
        ins, outs = _shapes(args.get("input_type_shape")), _shapes(args.get("output_type_shape"))
        f = node_flops(args["op_name"], ins, outs)
        if f:
            by_op[args["op_name"]] += f
            by_region[region(args["op_name"], ins)] += f
    return {"model": model, "image": image, "input": list(img.size), "detections": int(len(out[2])),
            "flops": sum(by_op.values()), "by_op": dict(by_op), "by_region": dict(by_region)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("summary")
    s.add_argument("profile")
    s.add_argument("--runs", type=int, default=1)
    f = sub.add_parser("flops")
    f.add_argument("model")
    f.add_argument("image")
    f.add_argument("--size", type=int, default=512)
    args = p.parse_args()
    if args.cmd == "summary":
        print(summary_markdown(summarize(Path(args.profile), args.runs)))
    else:
        print(json.dumps(count_flops(args.model, args.image, args.size), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
