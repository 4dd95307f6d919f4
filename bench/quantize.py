#!/usr/bin/env python3
"""Static INT8 quantisation of a kprcnn export with ONNX Runtime's tooling (the fast mode's model).

  quantize.py IN.onnx OUT.onnx --calibration DIR [--size 512] [--format qdq|qoperator] [--ops Conv,Gemm]

Calibration: every image of DIR goes through the recipe's preprocessing (resize_img shorter side 512, CHW /255)
and the model; MinMax ranges of each quantised tensor are collected (ORT's MinMaxCalibrater). Weights are
quantised per output channel to signed 8 bits, activations to unsigned 8 bits (U8S8: the form that runs on VNNI
units, vpdpbusd, and on AMX). Only the compute-heavy operators (Conv and the box head's Gemm) are quantised; box
decoding, NMS, RoiAlign and the keypoint decoding stay in float. The model's metadata (keypoint names) is kept.
Run with the bench venv's Python (onnxruntime from PyPI).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recipe import resize_img  # noqa: E402


class Reader:
    """onnxruntime.quantization.CalibrationDataReader over a folder of images."""

    def __init__(self, folder: Path, size: int):
        self.files = sorted(f for f in folder.iterdir() if f.suffix.lower() in (".jpg", ".jpeg", ".png"))
        self.size = size
        self.index = 0

    def get_next(self):
        if self.index >= len(self.files):
            return None
        img = resize_img(Image.open(self.files[self.index]).convert("RGB"), self.size)
        self.index += 1
        return {"input": np.array(img, dtype=np.float32).transpose((2, 0, 1))[None] / 255}

    def rewind(self):
        self.index = 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("input", type=Path)
    p.add_argument("output", type=Path)
    p.add_argument("--calibration", type=Path, required=True)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--format", choices=("qdq", "qoperator"), default="qdq")
    p.add_argument("--ops", default="Conv,Gemm")
    args = p.parse_args()

    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    started = time.monotonic()
    source = onnx.load(str(args.input))
    metadata = {m.key: m.value for m in source.metadata_props}
    del source
    fd, temp = tempfile.mkstemp(prefix=f".{args.output.name}.", suffix=".tmp", dir=args.output.parent)
    os.close(fd)
    try:
        quantize_static(
            str(args.input),
            temp,
            Reader(args.calibration, args.size),
            quant_format=QuantFormat.QDQ if args.format == "qdq" else QuantFormat.QOperator,
            op_types_to_quantize=args.ops.split(","),
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
        )
        model = onnx.load(temp)
        present = {m.key for m in model.metadata_props}
        for key, value in metadata.items():
            if key not in present:
                entry = model.metadata_props.add()
                entry.key, entry.value = key, value
        entry = model.metadata_props.add()
        entry.key = "kprcnn.quantization"
        entry.value = (f"static INT8 {args.format.upper()}, U8S8 per-channel, MinMax on "
                       f"{len(Reader(args.calibration, args.size).files)} images, ops {args.ops}")
        onnx.save(model, temp)
        os.chmod(temp, 0o644)
        os.replace(temp, args.output)
    finally:
        Path(temp).unlink(missing_ok=True)
    print(f"wrote {args.output} ({args.output.stat().st_size / 1e6:.1f} MB) in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
