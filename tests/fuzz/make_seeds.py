#!/usr/bin/env python3
"""Seed corpora for the fuzz targets, written into OUT/<target>/ (the build runs this; nothing here is committed).

Real files of every kind each parser meets, small enough to keep executions fast: JPEG (baseline, progressive,
grey, CMYK, 4:2:0 and 4:4:4, EXIF orientations 1-8, truncated), PNG (every colour type and bit depth, palette
with tRNS, Adam7, eXIf before and after IDAT, header bombs), EXIF blocks in both byte orders, colormaps (valid,
the exporter's metadata text, broken), ONNX model bytes with external data (initializers, attributes, sparse
tensors, functions), postprocess output tensors (NaN/Inf, huge, negative sizes, K mismatch) and HTTP request
bodies (raw and multipart/form-data). Usage: make_seeds.py OUT [--model FAKE_MODEL.onnx]
"""
import argparse
import io
import json
import math
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def write(folder, name, data):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def pattern(w, h, mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "L": 1, "CMYK": 4, "RGBA": 4, "LA": 2}[mode]
    data = rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
    data[: h // 2] //= 2  # some structure, so the codecs do real work
    return Image.fromarray(data[..., 0] if channels == 1 else data, mode)


def to_bytes(image, fmt, **params):
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def exif_block(orientation, big_endian=False, prefix=True):
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = exif.tobytes()
    if big_endian:  # hand-built MM block: IFD0 with Orientation only
        data = b"Exif\0\0" + b"MM\0\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1)
        data += struct.pack(">HHII", 0x0112, 3, 1, orientation << 16) + b"\0\0\0\0"
    if not prefix and data.startswith(b"Exif\0\0"):
        data = data[6:]
    return data


# ---------------------------------------------------------------------------------------------------------------
# PNG by hand (every colour type / depth, interlace, chunk order)

def chunk(kind, payload):
    body = kind + payload
    return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def png(width, height, color_type, depth, rows, interlace=0, extra_before=b"", extra_after=b""):
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, interlace)
    raw = b"".join(b"\0" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra_before + chunk(b"IDAT", zlib.compress(raw)) +
            extra_after + chunk(b"IEND", b""))


def png_rows(width, height, channels, depth, seed):
    rng = np.random.default_rng(seed)
    row_bytes = math.ceil(width * channels * depth / 8)
    return [bytes(rng.integers(0, 256, row_bytes, dtype=np.uint8)) for _ in range(height)]


def decode_seeds(out):
    d = out / "decode"
    base = pattern(16, 12)
    write(d, "baseline.jpg", to_bytes(base, "JPEG", quality=90))
    write(d, "q100-444.jpg", to_bytes(base, "JPEG", quality=100, subsampling=0))
    write(d, "q50-420.jpg", to_bytes(base, "JPEG", quality=50, subsampling=2))
    write(d, "progressive.jpg", to_bytes(pattern(24, 17), "JPEG", progressive=True, quality=85))
    write(d, "grey.jpg", to_bytes(pattern(13, 9, "L"), "JPEG"))
    write(d, "grey-progressive.jpg", to_bytes(pattern(13, 9, "L"), "JPEG", progressive=True))
    write(d, "cmyk.jpg", to_bytes(pattern(10, 10, "CMYK"), "JPEG"))
    write(d, "cmyk-progressive.jpg", to_bytes(pattern(10, 10, "CMYK"), "JPEG", progressive=True))
    write(d, "optimized.jpg", to_bytes(base, "JPEG", optimize=True))
    for o in range(1, 9):
        write(d, f"exif-{o}.jpg", to_bytes(pattern(7, 5, seed=o), "JPEG", exif=exif_block(o)))
    write(d, "exif-be-6.jpg", to_bytes(pattern(7, 5), "JPEG", exif=exif_block(6, big_endian=True)))
    jpeg = to_bytes(base, "JPEG")
    write(d, "truncated-half.jpg", jpeg[: len(jpeg) // 2])
    write(d, "truncated-header.jpg", jpeg[:40])
    sof = jpeg.find(b"\xff\xc0")
    if sof > 0:  # header bomb: 60000 x 60000 declared in SOF0
        bomb = bytearray(jpeg)
        bomb[sof + 5: sof + 9] = struct.pack(">HH", 60000, 60000)
        write(d, "bomb-60000.jpg", bytes(bomb))
        zero = bytearray(jpeg)
        zero[sof + 5: sof + 7] = b"\0\0"
        write(d, "zero-height.jpg", bytes(zero))

    for mode in ("RGB", "RGBA", "L", "LA"):
        write(d, f"pil-{mode}.png", to_bytes(pattern(9, 7, mode), "PNG"))
    write(d, "pil-P.png", to_bytes(pattern(9, 7).convert("P", palette=Image.ADAPTIVE, colors=16), "PNG"))
    write(d, "pil-P-trns.png", to_bytes(pattern(9, 7).convert("P", palette=Image.ADAPTIVE, colors=4), "PNG",
                                        transparency=1))
    write(d, "pil-1.png", to_bytes(pattern(9, 7, "L").convert("1"), "PNG"))
    write(d, "pil-I16.png", to_bytes(Image.fromarray(np.arange(63, dtype=np.uint16).reshape(7, 9) * 1000), "PNG"))
    for o in (3, 6, 8):
        write(d, f"pil-exif-{o}.png", to_bytes(pattern(5, 4), "PNG", exif=exif_block(o)))
    # colour type, channels, depth
    kinds = [(0, 1, 1), (0, 1, 2), (0, 1, 4), (0, 1, 8), (0, 1, 16), (2, 3, 8), (2, 3, 16), (4, 2, 8), (4, 2, 16),
             (6, 4, 8), (6, 4, 16)]
    for ct, ch, depth in kinds:
        for interlace in (0, 1):
            rows = png_rows(6, 5, ch, depth, seed=ct * 100 + depth)
            write(d, f"raw-ct{ct}-d{depth}-i{interlace}.png", png(6, 5, ct, depth, rows, interlace))
    palette = chunk(b"PLTE", bytes(range(48)))
    for depth in (1, 2, 4, 8):
        rows = [bytes([0x11] * math.ceil(6 * depth / 8)) for _ in range(5)]
        write(d, f"raw-palette-d{depth}.png", png(6, 5, 3, depth, rows, extra_before=palette))
    write(d, "raw-palette-trns.png", png(6, 5, 3, 8, [bytes(6)] * 5, extra_before=palette + chunk(b"tRNS", b"\0\x80")))
    exif = chunk(b"eXIf", exif_block(6, prefix=False))
    write(d, "raw-exif-before-idat.png", png(6, 5, 2, 8, png_rows(6, 5, 3, 8, 1), extra_before=exif))
    write(d, "raw-exif-after-idat.png", png(6, 5, 2, 8, png_rows(6, 5, 3, 8, 2), extra_after=exif))
    write(d, "raw-text-chunks.png", png(6, 5, 2, 8, png_rows(6, 5, 3, 8, 3),
                                        extra_before=chunk(b"tEXt", b"k\0v") + chunk(b"zTXt", b"k\0\0" + zlib.compress(b"v"))))
    write(d, "bomb-60000.png", png(60000, 60000, 2, 8, [])[:33] + chunk(b"IEND", b""))
    write(d, "zero-width.png", png(0, 5, 2, 8, [])[:33])
    full = png(6, 5, 2, 8, png_rows(6, 5, 3, 8, 4))
    write(d, "truncated.png", full[: len(full) - 20])
    write(d, "no-iend.png", full[:-12])
    write(d, "text.jpg", b"this is not an image\n")
    write(d, "gif.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")
    write(d, "magic-jpeg-only", b"\xff\xd8\xff")
    write(d, "magic-png-only", b"\x89PNG\r\n\x1a\n")


def exif_seeds(out):
    d = out / "exif"
    for o in range(1, 9):
        write(d, f"le-{o}", exif_block(o))
        write(d, f"be-{o}", exif_block(o, big_endian=True))
        write(d, f"bare-{o}", exif_block(o, prefix=False))
    # entry types SHORT, LONG, SBYTE, SSHORT, SLONG, LONG8, RATIONAL (out of line), a duplicate tag, a far offset
    for t, value in ((3, 6), (4, 6), (6, 6), (8, 6), (9, 6), (16, 6), (5, 6), (1, 6)):
        entry = struct.pack("<HHII", 0x0112, t, 1, value)
        write(d, f"type-{t}", b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", 1) + entry)
    two = struct.pack("<HHII", 0x0112, 3, 1, 3) + struct.pack("<HHII", 0x0112, 3, 1, 8)
    write(d, "duplicate", b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", 2) + two)
    write(d, "far-ifd", b"II*\0" + struct.pack("<I", 0xFFFFFFF0))
    write(d, "long-count", b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", 1) +
          struct.pack("<HHII", 0x0112, 3, 0x40000000, 8))
    write(d, "mixed-42", b"MM*\0" + struct.pack(">I", 8) + b"\0\0")


COLORMAP = {"items": [{"label": "a", "color": [1, 0, 0]}, {"label": "b", "color": [0, 1, 0]},
                      {"label": "c", "color": [0, 0, 1]}], "skeleton": [["a", "b"], ["b", "c"]]}


def colormap_seeds(out):
    d = out / "colormap"
    write(d, "valid.json", json.dumps(COLORMAP, indent=2))
    write(d, "metadata.json", json.dumps(COLORMAP, ensure_ascii=False, separators=(",", ":")))  # the exporter's text
    hands = {"items": [{"label": f"finger_{i}", "color": [i / 21, 0.5, 1 - i / 21]} for i in range(21)]}
    write(d, "hands-21.json", json.dumps(hands))
    write(d, "unicode.json", json.dumps({"items": [{"label": "pouce 👍", "color": [0.1, 0.2, 0.3]},
                                                   {"label": "日本", "color": [1, 1, 1]}]}, ensure_ascii=False))
    write(d, "null-skeleton.json", '{"items":[{"label":"x","color":[0,0,0]}],"skeleton":null}')
    write(d, "extra-keys.json", '{"version":2,"items":[{"label":"x","color":[0.5,0.5,0.5],"id":7}]}')
    bad = {
        "not-json": "{items: nope",
        "array": "[1,2,3]",
        "no-items": '{"labels":[]}',
        "empty-items": '{"items":[]}',
        "item-not-object": '{"items":[3]}',
        "no-label": '{"items":[{"color":[0,0,0]}]}',
        "empty-label": '{"items":[{"label":"","color":[0,0,0]}]}',
        "color-255": '{"items":[{"label":"a","color":[255,0,0]}]}',
        "color-2": '{"items":[{"label":"a","color":[0,0]}]}',
        "color-string": '{"items":[{"label":"a","color":"red"}]}',
        "color-nan": '{"items":[{"label":"a","color":[NaN,0,0]}]}',
        "color-huge": '{"items":[{"label":"a","color":[1e400,0,0]}]}',
        "duplicate": '{"items":[{"label":"a","color":[0,0,0]},{"label":"a","color":[1,1,1]}]}',
        "skeleton-unknown": '{"items":[{"label":"a","color":[0,0,0]}],"skeleton":[["a","z"]]}',
        "skeleton-shape": '{"items":[{"label":"a","color":[0,0,0]}],"skeleton":[["a"]]}',
        "skeleton-object": '{"items":[{"label":"a","color":[0,0,0]}],"skeleton":{}}',
        "invalid-utf8": b'{"items":[{"label":"\xff\xfe","color":[0,0,0]}]}',
        "escapes": '{"items":[{"label":"\\ud83d\\ude00\\u0000","color":[0,0,0]}]}',
        "deep": "[" * 600 + "]" * 600,
        "bom": "\ufeff" + json.dumps(COLORMAP),
    }
    for name, text in bad.items():
        write(d, name + ".json", text)


def coco_eval_seeds(out):
    """Ground truth NUL results (fuzz_coco_eval splits there), and ground truth alone (scored against a fixed list)."""
    d = out / "coco_eval"
    face = [10, 10, 2, 20, 10, 2, 15, 20, 2]
    gt = {"info": {}, "images": [{"id": 1, "file_name": "1.jpg", "width": 100, "height": 80}, {"id": 2}],
          "categories": [{"id": 1, "name": "face", "keypoints": ["a", "b", "c"], "kprcnn_oks_sigmas": [0.06, 0.06, 0.07]}],
          "annotations": [
              {"id": 1, "image_id": 1, "category_id": 1, "bbox": [5, 5, 20, 20], "area": 400, "iscrowd": 0,
               "keypoints": face, "num_keypoints": 3},
              {"id": 2, "image_id": 1, "category_id": 1, "bbox": [40, 40, 30, 30], "area": 900, "iscrowd": 1,
               "keypoints": [0] * 9, "num_keypoints": 0},
              {"id": 3, "image_id": 2, "category_id": 1, "bbox": [0, 0, 2, 2], "area": 3, "iscrowd": 0,
               "keypoints": [1, 1, 1, 0, 0, 0, 2, 2, 2], "num_keypoints": 2}]}  # fmt: skip
    results = [{"image_id": 1, "category_id": 1, "score": 0.9, "keypoints": [11, 10, 2, 20, 11, 2, 15, 21, 2],
                "bbox": [5, 6, 19, 20]},
               {"image_id": 1, "category_id": 1, "score": 0.9, "keypoints": face, "bbox": [40, 40, 30, 30]},
               {"image_id": 2, "category_id": 1, "score": 0.3, "keypoints": [1, 1, 2, 1, 2, 2, 2, 2, 2],
                "bbox": [0, 0, 2, 2]}]  # fmt: skip
    no_boxes = [{k: v for k, v in r.items() if k != "bbox"} for r in results]
    text = json.dumps(gt)
    write(d, "pair.json", text + "\0" + json.dumps(results))
    write(d, "pair-keypoints-only.json", text + "\0" + json.dumps(no_boxes))
    write(d, "pair-no-results.json", text + "\0[]")
    write(d, "gt-only.json", text)
    write(d, "gt-17.json", json.dumps({**gt, "categories": [{"id": 1, "keypoints": [str(i) for i in range(17)]}],
                                       "annotations": []}))
    bad = {
        "duplicate-image": text.replace('{"id": 2}', '{"id": 1}'),
        "negative-area": text.replace('"area": 400', '"area": -400'),
        "nan-results": text + "\0" + json.dumps(results).replace("0.3", "NaN"),
        "huge": text.replace("400", "1e400"),
        "unknown-image": text + "\0" + json.dumps([{**results[0], "image_id": 9}]),
        "short-keypoints": text + "\0" + json.dumps([{**results[0], "keypoints": [1, 2]}]),
        "deep": "[" * 600 + "]" * 600,
    }
    for name, value in bad.items():
        write(d, name + ".json", value)


def external_data_seeds(out, model):
    d = out / "external_data"
    if model and Path(model).exists():
        write(d, "fake-model.onnx", Path(model).read_bytes())
    try:
        from onnx import TensorProto, helper
    except ImportError:
        print("make_seeds: onnx not installed; model seeds skipped", file=sys.stderr)
        return

    def external(name, location):
        t = helper.make_tensor(name, TensorProto.FLOAT, [2], [1.0, 2.0])
        t.ClearField("float_data")
        t.data_location = TensorProto.EXTERNAL
        for key, value in (("location", location), ("offset", "0"), ("length", "8")):
            entry = t.external_data.add()
            entry.key, entry.value = key, value
        return t

    def model_bytes(graph, functions=()):
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], functions=list(functions))
        return m.SerializeToString()

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    for name, location in (("inside", "weights.bin"), ("parent", "../../etc/passwd"), ("absolute", "/etc/passwd")):
        g = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g", [x], [y], [external("w", location)])
        write(d, f"initializer-{name}.onnx", model_bytes(g))
    const = helper.make_node("Constant", [], ["c"], value=external("c", "const.bin"))
    g = helper.make_graph([const, helper.make_node("Add", ["x", "c"], ["y"])], "g", [x], [y])
    write(d, "attribute.onnx", model_bytes(g))
    sparse = helper.make_sparse_tensor(external("v", "values.bin"), helper.make_tensor("i", TensorProto.INT64, [1], [0]),
                                       [2])
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y], sparse_initializer=[sparse])
    write(d, "sparse.onnx", model_bytes(g))
    inner = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "inner", [], [y], [external("q", "sub.bin")])
    cond = helper.make_node("If", ["b"], ["y"], then_branch=inner, else_branch=inner)
    b = helper.make_tensor_value_info("b", TensorProto.BOOL, [])
    write(d, "subgraph.onnx", model_bytes(helper.make_graph([cond], "g", [b], [y])))
    f = helper.make_function("local", "f", ["x"], ["y"], [const], [helper.make_opsetid("", 13)])
    g = helper.make_graph([helper.make_node("f", ["x"], ["y"], domain="local")], "g", [x], [y])
    write(d, "function.onnx", model_bytes(g, [f]))
    write(d, "truncated.onnx", model_bytes(helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])], "g", [x], [y], [external("w", "weights.bin")]))[:-7])
    write(d, "varint-overflow", b"\x3a" + b"\xff" * 11)
    write(d, "group-wire-type", b"\x3b\x3c")
    write(d, "nested", b"\x3a\x10" + b"\x0a\x0e" + b"\x2a\x0c" + b"\x6a\x0a" + b"\x0a\x08location")


def postprocess_seeds(out):
    d = out / "postprocess"

    def seed(name, n, k, inw, inh, w, h, threshold, values, mismatch=0, delta=0, radius=0.0, line=0.0,
             skeleton=((0, 1), (1, 2), (2, 0), (0, 0)), labels=None):
        head = struct.pack("<BBBb4ifff", n, k, mismatch, delta, inw, inh, w, h, threshold, radius, line)
        head += b"".join(struct.pack("<bb", a, b) for a, b in skeleton)
        floats = struct.pack(f"<{len(values)}f", *values)
        labels = labels if labels is not None else list(range(1, n + 1))
        write(d, name, head + floats + struct.pack(f"<{len(labels)}q", *labels))

    def values(n, k, box, score, kp, kps):
        return box * n + [score] * n + kp * (n * k) + [kps] * (n * k)

    nan, inf = float("nan"), float("inf")
    seed("normal", 2, 3, 32, 24, 40, 30, 0.5, values(2, 3, [1, 2, 20, 18], 0.9, [5, 6, 1], 2.5))
    seed("draw-boxes", 2, 3, 32, 24, 40, 30, 0.1, values(2, 3, [1, 2, 20, 18], 0.9, [5, 6, 1], 2.5), mismatch=0x40,
         radius=3.0, line=1.5)
    seed("nan-score", 2, 2, 16, 16, 16, 16, 0.5, values(2, 2, [1, 1, 5, 5], nan, [2, 2, 1], 1))
    seed("inf-box", 1, 2, 16, 16, 16, 16, 0.5, values(1, 2, [inf, -inf, 5, 5], 0.9, [2, 2, 1], 1))
    seed("nan-keypoint", 1, 2, 16, 16, 16, 16, 0.5, values(1, 2, [1, 1, 5, 5], 0.9, [nan, 2, 1], inf))
    seed("huge-outside", 3, 1, 10, 10, 40, 40, 0.0, values(3, 1, [-1e30, -5, 3e38, 1e9], 0.99, [1e38, -1e38, 0], 1))
    seed("negative-size", 1, 1, -32, 24, 40, 30, 0.5, values(1, 1, [1, 2, 3, 4], 0.9, [1, 1, 1], 1))
    seed("zero-size", 1, 1, 32, 0, 40, 30, 0.5, values(1, 1, [1, 2, 3, 4], 0.9, [1, 1, 1], 1))
    seed("huge-image", 1, 1, 1, 1, 2**31 - 1, 2**31 - 1, 0.5, values(1, 1, [1, 2, 3, 4], 0.9, [1, 1, 1], 1))
    seed("nan-threshold", 1, 1, 8, 8, 8, 8, nan, values(1, 1, [1, 2, 3, 4], 0.9, [1, 1, 1], 1))
    seed("k-mismatch", 2, 3, 8, 8, 8, 8, 0.5, values(2, 3, [1, 2, 3, 4], 0.9, [1, 1, 1], 1), mismatch=8, delta=-3)
    seed("k-scores-mismatch", 2, 3, 8, 8, 8, 8, 0.5, values(2, 3, [1, 2, 3, 4], 0.9, [1, 1, 1], 1), mismatch=16,
         delta=2)
    seed("box-mismatch", 2, 1, 8, 8, 8, 8, 0.5, values(2, 1, [1, 2, 3, 4], 0.9, [1, 1, 1], 1), mismatch=1, delta=1)
    seed("empty", 0, 17, 8, 8, 8, 8, 0.5, [])
    seed("bad-skeleton", 2, 3, 32, 24, 40, 30, 0.1, values(2, 3, [1, 2, 20, 18], 0.9, [5, 6, 1], 2.5),
         skeleton=((-1, 2), (3, 9), (127, -128), (2, 2)))
    seed("subnormal", 2, 2, 3, 7, 5, 11, 0.0, values(2, 2, [1e-45, 1e-40, 2, 3], 1e-45, [1e-44, 5, 0], -0.0))


def server_seeds(out):
    d = out / "server_request"
    jpeg = to_bytes(pattern(8, 6), "JPEG")
    pngb = to_bytes(pattern(7, 5), "PNG")
    white = to_bytes(Image.new("RGB", (8, 8), (255, 255, 255)), "PNG")

    def request(name, content_type, query, body):
        write(d, name, content_type.encode() + b"\n" + query.encode() + b"\n" + body)

    def multipart(boundary, parts, preamble=b"", epilogue=b""):
        out_ = preamble
        for headers, data in parts:
            out_ += b"--" + boundary + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + data + b"\r\n"
        return out_ + b"--" + boundary + b"--\r\n" + epilogue

    request("raw-jpeg", "image/jpeg", "", jpeg)
    request("raw-png-annotate", "image/png", "annotate=png&boxes=1", pngb)
    request("white-json", "application/octet-stream", "threshold=0.5&size=16", white)
    request("white-jpeg", "", "annotate=jpeg&boxes=true&threshold=0", white)
    request("bad-query", "image/jpeg", "threshold=2&size=1&annotate=gif&boxes=maybe", jpeg)
    request("text", "text/plain", "", b"not an image")
    request("empty", "", "", b"")
    b = b"XyZ123"
    disp = b'Content-Disposition: form-data; name="file"; filename="photo.jpg"'
    request("multipart", "multipart/form-data; boundary=XyZ123", "", multipart(b, [([disp], jpeg)]))
    request("multipart-quoted", 'multipart/form-data; boundary="XyZ123"', "annotate=png",
            multipart(b, [([b'Content-Disposition: form-data; name="other"'], b"x"),
                          ([disp, b"Content-Type: image/png"], pngb)], preamble=b"preamble\r\n", epilogue=b"bye"))
    request("multipart-no-field", "multipart/form-data; boundary=XyZ123", "",
            multipart(b, [([b'Content-Disposition: form-data; name="image"'], jpeg)]))
    request("multipart-escaped-name", "Multipart/Form-Data; charset=utf-8; boundary=XyZ123", "",
            multipart(b, [([b'content-disposition: form-data; filename="a\\"b.png"; name="file"'], white)]))
    request("multipart-unterminated", "multipart/form-data; boundary=XyZ123", "", b"--XyZ123\r\n" + disp + b"\r\n\r\n" + jpeg)
    request("multipart-no-boundary", "multipart/form-data", "", jpeg)
    request("multipart-padding", "multipart/form-data; boundary=XyZ123", "",
            b"--XyZ123 \t\r\n" + disp + b"\r\n\r\n" + white + b"\r\n--XyZ123--")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--model", help="the fake model, also a seed for the external-data walk")
    args = parser.parse_args()
    decode_seeds(args.out)
    exif_seeds(args.out)
    colormap_seeds(args.out)
    coco_eval_seeds(args.out)
    external_data_seeds(args.out, args.model)
    postprocess_seeds(args.out)
    server_seeds(args.out)
    counts = {p.name: len(list(p.iterdir())) for p in sorted(args.out.iterdir()) if p.is_dir()}
    print("make_seeds: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
