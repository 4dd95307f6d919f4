#!/usr/bin/env python3
"""This machine's practical compute ceiling for ONNX Runtime convolutions (GFLOP/s), fp32 and INT8.

Single-Conv models generated with the onnx package, in shapes that dominate Keypoint R-CNN (a ResNet 3x3 stage, a
1x1 bottleneck projection, the keypoint head's 3x3 512->512 on 14x14 RoIs), run by ONNX Runtime (PyPI, the
bench venv) with the thread count kprcnn uses. The INT8 variants are the same convolutions in QDQ form
(u8 activations, s8 per-channel weights), which ONNX Runtime fuses into QLinearConv - the kernels the fast
mode's model runs. The ceiling is the best shape's median: what ONNX Runtime's kernels reach on this machine
when nothing else limits them.

  ceiling.py [--threads 2] [--reps 7] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SHAPES = {  # name: (N, Cin, H, W, Cout, k)
    "3x3 256->256 @ 64x96": (1, 256, 64, 96, 256, 3),
    "1x1 1024->256 @ 64x96": (1, 1024, 64, 96, 256, 1),
    "3x3 512->512 @ 8x14x14 (keypoint head)": (8, 512, 14, 14, 512, 3),
}


def conv_model(n, cin, h, w, cout, k, int8: bool) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    weight = (rng.standard_normal((cout, cin, k, k)) * 0.05).astype(np.float32)
    bias = np.zeros(cout, np.float32)
    inits = [numpy_helper.from_array(bias, "b")]
    nodes = []
    if int8:
        scale_w = (np.abs(weight).reshape(cout, -1).max(axis=1) / 127).astype(np.float32)
        qw = np.clip(np.round(weight / scale_w[:, None, None, None]), -127, 127).astype(np.int8)
        inits += [numpy_helper.from_array(qw, "qw"), numpy_helper.from_array(scale_w, "sw"),
                  numpy_helper.from_array(np.zeros(cout, np.int8), "zw"),
                  numpy_helper.from_array(np.array(1 / 255, np.float32), "sx"),
                  numpy_helper.from_array(np.array(0, np.uint8), "zx"),
                  numpy_helper.from_array(np.array(0.05, np.float32), "sy"),
                  numpy_helper.from_array(np.array(128, np.uint8), "zy")]
        nodes += [helper.make_node("QuantizeLinear", ["x", "sx", "zx"], ["xq"]),
                  helper.make_node("DequantizeLinear", ["xq", "sx", "zx"], ["xd"]),
                  helper.make_node("DequantizeLinear", ["qw", "sw", "zw"], ["wd"], axis=0),
                  helper.make_node("Conv", ["xd", "wd", "b"], ["yc"], pads=[k // 2] * 4),
                  helper.make_node("QuantizeLinear", ["yc", "sy", "zy"], ["yq"]),
                  helper.make_node("DequantizeLinear", ["yq", "sy", "zy"], ["y"])]
    else:
        inits.append(numpy_helper.from_array(weight, "w"))
        nodes.append(helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[k // 2] * 4))
    graph = helper.make_graph(nodes, "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, cin, h, w])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, cout, h, w])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def measure(threads: int, reps: int, spin: bool = True) -> dict:
    import onnxruntime as ort

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (n, cin, h, w, cout, k) in SHAPES.items():
            flops = 2.0 * n * cout * h * w * cin * k * k
            for int8 in (False, True):
                path = Path(tmp) / "conv.onnx"
                onnx.save(conv_model(n, cin, h, w, cout, k, int8), str(path))
                o = ort.SessionOptions()
                o.intra_op_num_threads = threads
                o.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
                s = ort.InferenceSession(str(path), o, providers=["CPUExecutionProvider"])
                x = np.random.default_rng(1).random((n, cin, h, w), dtype=np.float32)
                for _ in range(2):
                    s.run(None, {"x": x})
                times = []
                for _ in range(reps):
                    t = time.perf_counter()
                    s.run(None, {"x": x})
                    times.append(time.perf_counter() - t)
                med = statistics.median(times)
                results[f"{'int8' if int8 else 'fp32'} {name}"] = {
                    "gflops": flops / med / 1e9, "ms": med * 1000, "gflop": flops / 1e9}
    fp32 = max(v["gflops"] for k, v in results.items() if k.startswith("fp32"))
    int8 = max(v["gflops"] for k, v in results.items() if k.startswith("int8"))
    return {"threads": threads, "shapes": results, "fp32_gflops": fp32, "int8_gops": int8}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--json")
    args = p.parse_args()
    result = measure(args.threads, args.reps)
    for name, v in result["shapes"].items():
        print(f"{name:52s} {v['gflops']:8.1f} GFLOP/s  ({v['gflop']:.2f} GFLOP in {v['ms']:.1f} ms)")
    print(f"ceiling: fp32 {result['fp32_gflops']:.1f} GFLOP/s, int8 {result['int8_gops']:.1f} GOP/s")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
