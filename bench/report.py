#!/usr/bin/env python3
"""The benchmark report: markdown tables and a PNG chart (drawn with Pillow) from run_bench.py's results.json.

  report.py RESULTS.json OUT_DIR [--publish bench/]    (run_bench.py calls write() itself)
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import ort_profile  # noqa: E402

STAGES = ("decode", "resize", "tensor", "session", "postprocess", "draw", "encode")
NAMES = {
    "seed": "(a) seed: Python + Pillow + onnxruntime",
    "eager": "(b) PyTorch eager",
    "exact": "(c) kprcnn exact",
    "fast": "(d) kprcnn fast: the checkpoint's fast export (bench/models.py FAST) in INT8",
    "fast-json": "(d') kprcnn fast, JSON only (DCT decode)",
}
SHORT = {"seed": "(a) seed", "eager": "(b) eager", "exact": "(c) exact", "fast": "(d) fast",
         "fast-json": "(d') fast JSON-only"}
CKPT = {"face": "trained: the bundled face model (models/face, slim architecture, internal size 240)",
        "allpass": "all-pass: random-init resnet50_fpn, the recipe's architecture (seed 0: all 100 candidates > 0.8)"}


def pct(values, q):
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def ms(v) -> str:
    if v is None:
        return "-"
    return f"{v / 1000:.2f} s" if v >= 1000 else (f"{v:.0f} ms" if v >= 10 else f"{v:.1f} ms")


def ratio(base, v) -> str:
    return "-" if not base or not v else f"{base / v:.2f}x"


def stage_values(runs: list, stage: str) -> list:
    return [r[stage] for r in runs]


def warm_total(res: dict, ckpt: str, pipeline: str, image: str):
    runs = res["pipelines"].get(ckpt, {}).get(pipeline, {}).get("runs", {}).get(image)
    return pct(stage_values(runs, "total"), 0.5) if runs else None


def image_names(res: dict, ckpt: str) -> list[str]:
    seed = res["pipelines"][ckpt]["seed"]["runs"]
    return list(seed.keys())


def summary_table(res: dict, ckpt: str) -> str:
    img = image_names(res, ckpt)[0]
    pipes = res["pipelines"][ckpt]
    cold = res.get("cold", {}).get(ckpt, {})
    folder = res.get("folder", {}).get(ckpt, {})
    agree = res.get("agreement", {}).get(ckpt, {})
    base_warm = warm_total(res, ckpt, "seed", img)
    base_cold = pct([r["first_file_ms"] for r in cold.get("seed", [])], 0.5)
    base_folder = folder.get("seed", {}).get("images_per_s")
    accuracy = res.get("accuracy", {}).get(ckpt)
    lines = [
        f"| pipeline | warm, {img.removesuffix('.jpg')} median (p90) | vs (a) | cold: start → annotated file | vs (a) "
        "| model load | peak RSS | folder (20 × 640×960) | vs (a) | agreement with (a) above the threshold |"
        + (" keypoint AP (val) |" if accuracy else ""),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|" + ("---:|" if accuracy else ""),
    ]
    for p in pipes:
        runs = pipes[p]["runs"][img]
        med, p90 = pct(stage_values(runs, "total"), 0.5), pct(stage_values(runs, "total"), 0.9)
        c = cold.get(p, [])
        cmed = pct([r["first_file_ms"] for r in c], 0.5)
        rss = max([r["peak_rss_kb"] for r in c], default=None)
        rss_text = f"{rss / 1024:.0f} MB" if rss else "-"
        load = pipes[p]["ready"].get("load_ms")
        f = folder.get(p, {}).get("images_per_s")
        fps = f"{f:.3f} img/s" if f else ("derived: " + f"{1000 / med:.3f} img/s" if p == "eager" and med else "-")
        a = agree.get(p, {})
        if p == "seed":
            agreement = "reference"
        elif a:
            counts = "/".join(str(v["actual"]) for v in a.values())
            exp = "/".join(str(v["expected"]) for v in a.values())
            mb = max(v["max_box_px"] for v in a.values())
            mk = max(v["max_keypoint_px"] for v in a.values())
            same = counts == exp and all(v["matched"] == v["expected"] for v in a.values())
            matched = sum(v["matched"] for v in a.values())
            agreement = f"{'same' if same else 'DIFFERENT'} detections ({counts} vs {exp} on the 3 images)"
            agreement += (f"; max box diff {mb:.2g} px, keypoint {mk:.2g} px" if matched
                          else "; none matched (IoU ≥ 0.5)" if any(v["expected"] for v in a.values()) else "")
            if not same and matched:
                agreement += f" over the {matched} matched"
        else:
            agreement = "-"
        lines.append(f"| {SHORT[p]} | {ms(med)} ({ms(p90)}) | {ratio(base_warm, med)} | {ms(cmed)} | "
                     f"{ratio(base_cold, cmed)} | {ms(load)} | {rss_text} | {fps} | {f'{f / base_folder:.2f}x' if f and base_folder else '-'} | {agreement} |"
                     + (f" {ap_cell(accuracy, p)} |" if accuracy else ""))
    if accuracy:
        acc = res["accuracy"]
        lines += ["", f"Keypoint AP: COCO keypoint AP (`kprcnn eval`, equal to pycocotools) of the detections above "
                  f"{acc.get('threshold')} on {acc.get('val')} validation scenes (kprcnn synth seed 2, 320×240), "
                  f"measured by bench/fast_mode.py on {acc.get('date')} (bench/FAST_MODE.md: every lever); points: "
                  "against exact mode. (b) eager computes what (a) does."]
    return "\n".join(lines)


def ap_cell(accuracy: dict, pipeline: str) -> str:
    scores = accuracy.get(pipeline if pipeline != "eager" else "seed")
    if not scores:
        return "-"
    ap, exact = scores["keypoints"]["AP"], accuracy["exact"]["keypoints"]["AP"]
    return f"{ap:.4f}" + ("" if pipeline in ("seed", "eager", "exact") else f" ({100 * (ap - exact):+.2f})")


def stage_table(res: dict, ckpt: str) -> str:
    pipes = res["pipelines"][ckpt]
    head = "| pipeline | image | detections | " + " | ".join(STAGES) + " | total | vs (a) |"
    lines = [head, "|---|---|---:|" + "---:|" * (len(STAGES) + 2)]
    for img in image_names(res, ckpt):
        base = warm_total(res, ckpt, "seed", img)
        for p in pipes:
            runs = pipes[p]["runs"].get(img)
            if not runs:
                continue
            dets = len(pipes[p]["last"][img]["result"]["detections"])
            cells = [f"{ms(pct(stage_values(runs, s), 0.5))} / {ms(pct(stage_values(runs, s), 0.9))}" for s in STAGES]
            tot = pct(stage_values(runs, "total"), 0.5)
            lines.append(f"| {SHORT[p]} | {img.removesuffix('.jpg')} | {dets} | " + " | ".join(cells) +
                         f" | **{ms(tot)}** / {ms(pct(stage_values(runs, 'total'), 0.9))} | {ratio(base, tot)} |")
    return "\n".join(lines)


LEVER_TEXT = {
    "seed-default": "seed export, ONNX Runtime defaults (spinning on), no model cache",
    "seed-nospin": "seed export, spinning off",
    "exact-spin": "exact export (threshold in the graph), spinning on",
    "exact": "**exact export, spinning off (kprcnn's default)**",
    "exact-noarena": "exact export, spinning off, CPU arena off",
    "exact-pattern": "exact export, spinning off, ONNX Runtime memory pattern on (its default; kprcnn turns it off)",
    "exact-t1": "exact export, 1 intra-op thread",
    "exact-int8": "exact export in INT8 (internal size 800)",
    "fast512": "exact + `--min-size 512` (no 512→800 upsampling in the graph), fp32",
    "fast-fp32": "the fast export (bench/models.py FAST) in fp32",
    "exact-size240": "exact export at `--size 240` (face's internal size: no resize in the graph)",
    "fast512-int8": "`--min-size 512`, INT8 (without the proposal cut)",
    "fast-int8": "**+ INT8 (static QDQ, U8S8 per-channel): the fast mode**",
    "exact-openvino": "exact export on OpenVINO f32 (what `--engine auto` runs for it)",
    "exact-openvino-bf16": "exact export on OpenVINO bf16 (`--precision bf16`; answers change)",
}


def levers_table(res: dict, ckpt: str) -> str:
    lv = res.get("levers", {}).get(ckpt)
    if not lv:
        return "(not measured)"
    acc = lv.get("accuracy_vs_exact", {})
    base = None
    lines = ["| variant (kprcnn, 640×960, one process, interleaved) | session median / p90 | vs first row | load | "
             "detections (exact) | matched to exact (IoU ≥ 0.5) | mean keypoint shift vs exact |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for v in lv["variants"]:
        runs = v["images"][0]["runs"]
        med = pct([r["session"] for r in runs], 0.5)
        base = base or med
        a = acc.get(v["name"], {})
        shift = "-" if a.get("mean_keypoint_px") is None else (
            f"{a['mean_keypoint_px']:.1f} px ({100 * a['mean_keypoint_rel_area']:.0f}% of √area)")
        lines.append(f"| {LEVER_TEXT.get(v['name'], v['name'])} | {ms(med)} / {ms(pct([r['session'] for r in runs], 0.9))}"
                     f" | {ratio(base, med)} | {ms(v['load_ms'])}{' (cache)' if v['cache_hit'] else ''} | "
                     f"{a.get('actual', '-')} ({a.get('expected', '-')}) | {a.get('matched', '-')} | {shift} |")
    return "\n".join(lines)


def efficiency(res: dict, ckpt: str) -> list[str]:
    prof = res.get("profile", {}).get(ckpt)
    ceil = res.get("ceiling")
    if not prof or not ceil:
        return []
    lines = ["| model | GFLOP per run (640×960) | of which keypoint head | session median | achieved | ceiling | "
             "efficiency | target: session ≤ 1.3 × FLOPs/ceiling |", "|---|---:|---:|---:|---:|---:|---:|---|"]
    lv = {v["name"]: v for v in res.get("levers", {}).get(ckpt, {}).get("variants", [])}
    for kind, lever in (("seed", "seed-nospin"), ("exact", "exact"), ("fast-int8", "fast-int8")):
        if kind not in prof or lever not in lv:
            continue
        f = prof[kind]["flops"]
        gflop = f["flops"] / 1e9
        kp = f["by_region"].get("keypoint head", 0) / 1e9
        sess = pct([r["session"] for r in lv[lever]["images"][0]["runs"]], 0.5)
        achieved = gflop / (sess / 1000)
        c = ceil["int8_gops"] if "int8" in kind else ceil["fp32_gflops"]
        ideal = gflop / c * 1000
        lines.append(f"| {kind} | {gflop:.0f} | {kp:.0f} | {ms(sess)} | {achieved:.0f} GFLOP/s | {c:.0f} | "
                     f"{100 * achieved / c:.0f}% | {sess / ideal:.2f}× ideal ({'met' if sess <= 1.3 * ideal else 'not met'}) |")
    return lines


def chart(res: dict, path: Path) -> None:
    """Speed-up over (a) per pipeline, warm and cold, one panel per checkpoint (linear scale)."""
    from PIL import Image, ImageDraw, ImageFont

    warm_color, cold_color = (66, 133, 244), (251, 188, 5)
    ckpts = list(res["pipelines"].keys())
    rows = []
    for ckpt in ckpts:
        img = image_names(res, ckpt)[0]
        base = warm_total(res, ckpt, "seed", img)
        cold = res.get("cold", {}).get(ckpt, {})
        base_cold = pct([r["first_file_ms"] for r in cold.get("seed", [])], 0.5)
        for p in res["pipelines"][ckpt]:
            w = warm_total(res, ckpt, p, img)
            c = pct([r["first_file_ms"] for r in cold.get(p, [])], 0.5)
            rows.append((ckpt, p, w, base / w if base and w else None, c, base_cold / c if base_cold and c else None))
    width, left, bar_h = 1100, 300, 16
    height = 100 + len(rows) * (2 * bar_h + 14) + 45 * len(ckpts) + 40
    im = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(im)
    try:
        font = ImageFont.truetype("DejaVuSans.ttf", 14)
        bold = ImageFont.truetype("DejaVuSans-Bold.ttf", 16)
    except OSError:
        font = bold = ImageFont.load_default()
    img_name = image_names(res, ckpts[0])[0].removesuffix(".jpg").removeprefix("img")
    d.text((20, 12), f"kprcnn vs the seed's Python pipeline (a): speed-up on {img_name} (higher is better)",
           fill="black", font=bold)
    d.rectangle([20, 40, 34, 54], fill=warm_color)
    d.text((40, 39), "warm (model loaded), median", fill="black", font=font)
    d.rectangle([280, 40, 294, 54], fill=cold_color)
    d.text((300, 39), "cold (fresh process → annotated file), median", fill="black", font=font)
    top = max([r[3] or 0 for r in rows] + [r[5] or 0 for r in rows] + [1.0])
    scale = lambda v: left + (width - left - 170) * v / top  # noqa: E731
    y = 70
    for ckpt in ckpts:
        d.text((20, y), CKPT.get(ckpt, ckpt), fill="black", font=bold)
        y += 28
        y0 = y
        for c, p, w, sw, cold, sc in rows:
            if c != ckpt:
                continue
            d.text((20, y + 8), SHORT[p], fill="black", font=font)
            for k, (value, speed, color) in enumerate(((w, sw, warm_color), (cold, sc, cold_color))):
                yy = y + k * (bar_h + 2)
                if speed:
                    d.rectangle([left, yy, scale(speed), yy + bar_h], fill=color)
                    d.text((scale(speed) + 6, yy + 1), f"{speed:.1f}×  ({ms(value)})", fill="black", font=font)
            y += 2 * bar_h + 14
        for t in range(1, int(top) + 1):
            if t == 1 or t % 2 == 0 or top < 8:
                x = scale(t)
                d.line([x, y0 - 4, x, y - 10], fill=(200, 200, 200) if t > 1 else (120, 120, 120))
        d.text((scale(1) - 8, y - 8), "1×", fill=(120, 120, 120), font=font)
        y += 17
    im.save(path, optimize=True)


def targets(res: dict) -> list[str]:
    out = ["| target (issue 5) | measured | |", "|---|---|---|"]

    def warm(ckpt, p):
        return warm_total(res, ckpt, p, image_names(res, ckpt)[0]) if ckpt in res["pipelines"] else None

    def cold(ckpt, p):
        return pct([r["first_file_ms"] for r in res.get("cold", {}).get(ckpt, {}).get(p, [])], 0.5)

    for ckpt in res["pipelines"]:
        a, c, d = warm(ckpt, "seed"), warm(ckpt, "exact"), warm(ckpt, "fast")
        if a and c:
            out.append(f"| exact ≥ 2× (a) warm, {ckpt} | {a / c:.2f}× | {'met' if a / c >= 2 else 'NOT met'} |")
        ac, cc = cold(ckpt, "seed"), cold(ckpt, "exact")
        if ac and cc:
            out.append(f"| exact ≥ 2× (a) cold, {ckpt} | {ac / cc:.2f}× | {'met' if ac / cc >= 2 else 'NOT met'} |")
        if a and d:
            out.append(f"| fast ≥ 10× (a) warm, {ckpt} | {a / d:.2f}× | {'met' if a / d >= 10 else 'NOT met'} |")
        ag = res.get("agreement", {}).get(ckpt, {}).get("fast vs exact", {})
        if ag:
            rel = [v["mean_keypoint_rel_area"] for v in ag.values() if v.get("mean_keypoint_rel_area") is not None]
            matched, expected = sum(v["matched"] for v in ag.values()), sum(v["expected"] for v in ag.values())
            text = f"{matched} of exact mode's {expected} detections found (IoU ≥ 0.5) on the 3 images"
            if rel:
                text += f"; mean displacement {100 * max(rel):.0f}% of √area (worst image)"
            ok = bool(rel) and max(rel) <= 0.02 and matched == expected
            out.append(f"| fast: same detections, mean keypoint displacement vs exact ≤ 2% of box size, {ckpt} | "
                       f"{text} | {'met' if ok else 'NOT met'} |")
        runs = res["pipelines"][ckpt].get("exact", {}).get("runs", {})
        shares = []
        for img, rs in runs.items():
            s = pct(stage_values(rs, "session"), 0.5)
            other = sum(pct(stage_values(rs, k), 0.5) for k in ("resize", "tensor", "postprocess", "draw"))
            shares.append((img, other / s if s else None))
        if shares:
            worst = max(shares, key=lambda x: x[1] or 0)
            out.append(f"| pre + post + draw ≤ 3% of session (exact), {ckpt} | {100 * worst[1]:.1f}% worst "
                       f"({worst[0].removesuffix('.jpg')}) | {'met' if worst[1] <= 0.03 else 'NOT met'} |")
        cold_exact = res.get("cold", {}).get(ckpt, {}).get("exact", [])
        if cold_exact:
            rss = max(r["peak_rss_kb"] for r in cold_exact) * 1024
            size = res.get("model_bytes", {}).get(f"{ckpt}-exact")
            if size:
                out.append(f"| peak RSS ≤ 1.5 × model file (exact CLI, 640×960), {ckpt} | {rss / size:.2f}× "
                           f"({rss / 2**20:.0f} MB / {size / 2**20:.0f} MB) | {'met' if rss <= 1.5 * size else 'NOT met'} |")
                folder_rss = res.get("folder", {}).get(ckpt, {}).get("exact", {}).get("peak_rss_kb")
                if folder_rss:
                    r = folder_rss * 1024
                    out.append(f"| peak RSS ≤ 1.5 × model file (exact CLI, folder of 20), {ckpt} | {r / size:.2f}× "
                               f"({r / 2**20:.0f} MB / {size / 2**20:.0f} MB) | {'met' if r <= 1.5 * size else 'NOT met'} |")
        for p in ("exact", "fast"):
            f = res.get("folder", {}).get(ckpt, {}).get(p, {})
            if f.get("session_s"):
                share = f["session_s"] / f["seconds"]
                runs = res["pipelines"][ckpt].get(p, {}).get("runs", {}).get(image_names(res, ckpt)[0])
                session = pct(stage_values(runs, "session"), 0.5) if runs else None
                alone = (f"; {100 * f['images_per_s'] * session / 1000:.0f}% of 1/(warm session median on "
                         f"{image_names(res, ckpt)[0].removesuffix('.jpg')})" if session else "")
                out.append(f"| folder throughput within 5% of 1/session time ({p}), {ckpt} | "
                           f"{f['images_per_s']:.3f} img/s = {100 * share:.1f}% of the {f['images'] / f['session_s']:.3f} "
                           f"img/s its own session times allow{alone} | {'met' if share >= 0.95 else 'NOT met'} |")
        hit = res["pipelines"][ckpt].get("exact", {}).get("ready", {})
        if hit.get("load_ms") is not None:
            out.append(f"| restart load ≤ 1 s (optimised-model cache), {ckpt} | {ms(hit['load_ms'])} | "
                       f"{'met' if hit['load_ms'] <= 1000 else 'NOT met'} |")
    return out


def load_range(res: dict) -> str:
    values = [v for entry in res.get("load", []) for v in (entry["before"][0], entry["after"][0])]
    return f"{min(values):.1f}-{max(values):.1f}" if values else "?"


def write(res: dict, out: Path, publish: Path | None = None) -> None:
    m = res.get("machine", {})
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime())
    lines = [
        "# kprcnn speed benchmark",
        "",
        f"Generated by `make bench` (bench/run_bench.py) on {when}, {res.get('minutes', 0):.0f} minutes. Machine: "
        f"{m.get('cpu')}, {m.get('cores')} cores ({', '.join(m.get('isa', []))}), Linux {m.get('kernel')}; "
        f"1-minute load average {load_range(res)} during the steps (a shared machine: "
        "every comparison below is interleaved, so the load falls on all pipelines alike). ONNX Runtime "
        f"{m.get('onnxruntime_pypi')} on both sides (PyPI wheel for Python, the same release for kprcnn), Pillow "
        f"{m.get('pillow')}, torch {m.get('torch')}, Python {m.get('python')}.",
        "",
        *[f"Note: {n}." for n in res.get("notes", [])],
        *([""] if res.get("notes") else []),
        "Checkpoints (bench/models.py): **face**, the bundled trained model (models/face: slim architecture, "
        "3 keypoints, internal size 240), whose accuracy is known (keypoint AP on the validation split, from "
        "bench/fast_mode.py); **all-pass**, a random-init keypointrcnn_resnet50_fpn (the recipe's architecture; "
        "seed 0): its 100 candidates all score 0.94-0.99, so with the threshold 0.8 all 100 reach the keypoint "
        "head (7.4 GFLOP each) - the worst case, no trained model behaves so, and no accuracy to measure. Images: "
        "kprcnn synth face scenes, JPEG q92: 640×960, 1920×1080, 4032×3024. Threshold 0.8, input shorter side 512 "
        "(the recipe's resize_img, divisor 1) except the fast mode's own size.",
        "",
        "Exports: (a) the seed-style export (default model settings: box_score_thresh 0.05, the architecture's "
        "internal size: 240 for face, 800 for resnet50_fpn); (c) `--box-score-thresh 0.8` (the predict threshold "
        "inside the graph: NMS and the keypoint head see only boxes that will be kept; the detections above 0.8 "
        "are the same); (d) exact + the checkpoint's fast options (face: `--rpn-post-nms-top-n 100 "
        "--rpn-pre-nms-top-n 300`, run at `--size 240` = its internal size; all-pass: `--min-size 512 "
        "--rpn-post-nms-top-n 300` at `--size 512`) quantised to INT8 with ONNX Runtime's `quantize_static` "
        "(`kprcnn quantize`: QDQ, U8S8, per-channel, MinMax on 12 other scenes at the pipeline's size). (d) "
        "changes the answers: on the trained model its AP is in the table, on all-pass only the agreement.",
        "",
    ]
    for ckpt in res["pipelines"]:
        lines += [f"## {CKPT.get(ckpt, ckpt)}", "", summary_table(res, ckpt), "", "<details><summary>per stage, every "
                  "image (median / p90)</summary>", "", stage_table(res, ckpt), "", "</details>", ""]
    lines += ["## Targets", ""] + targets(res) + [""]
    lines += ["## What each lever bought", "",
              "Every row on ONNX Runtime (`--engine ort`: spinning, the CPU arena and the memory pattern are its "
              "session settings) except the last two, the exact export on OpenVINO.", ""]
    for ckpt in res.get("levers", {}):
        lines += [f"**{ckpt}**", "", levers_table(res, ckpt), ""]
    lines += ["## Compute ceiling and efficiency", ""]
    ceil = res.get("ceiling")
    if ceil:
        lines += ["Single-Conv models (bench/ceiling.py) run by ONNX Runtime with the same thread count:", "",
                  "| convolution | GFLOP/s |", "|---|---:|"]
        lines += [f"| {k} | {v['gflops']:.0f} |" for k, v in ceil["shapes"].items()]
        lines += ["", f"Ceiling: **{ceil['fp32_gflops']:.0f} GFLOP/s fp32**, **{ceil['int8_gops']:.0f} GOP/s INT8**. "
                  "Model FLOPs: counted from the shapes of every Conv/ConvTranspose/Gemm/MatMul node in an ONNX "
                  "Runtime profile of the real run, graph optimisations off (bench/ort_profile.py).", ""]
        for ckpt in res.get("profile", {}):
            lines += [f"**{ckpt}**", ""] + efficiency(res, ckpt) + [""]
    lines += ["## Where the time goes: ONNX Runtime profile per operator", ""]
    for ckpt, prof in res.get("profile", {}).items():
        for kind, p in prof.items():
            lines += [f"**{ckpt}, {kind} model** (640×960, kprcnn session, mean of 3 runs)", "",
                      ort_profile.summary_markdown(p["summary"], top=8), ""]
    lines += ["## Agreement details", "", "| checkpoint | pipeline | image | detections (vs reference) | matched | "
              "max box px | max keypoint px | max score | mean keypoint displacement |", "|---|---|---|---|---:|---:|"
              "---:|---:|---|"]
    for ckpt, ag in res.get("agreement", {}).items():
        for p, per in ag.items():
            if p == "recipe_scale_shift_px":
                continue
            for img, v in per.items():
                disp = "-" if v["mean_keypoint_px"] is None else (
                    f"{v['mean_keypoint_px']:.2f} px = {100 * v['mean_keypoint_rel_area']:.2f}% of √area, "
                    f"{100 * v['mean_keypoint_rel_side']:.2f}% of the longer side")
                ref = "exact" if "vs exact" in p else "(a)"
                lines.append(f"| {ckpt} | {p} | {img.removesuffix('.jpg')} | {v['actual']} ({ref}: {v['expected']}) | "
                             f"{v['matched']} | {v['max_box_px']:.3g} | {v['max_keypoint_px']:.3g} | "
                             f"{v['max_score']:.2g} | {disp} |")
        shift = ag.get("recipe_scale_shift_px", {})
        if shift:
            lines += ["", f"({ckpt}) The recipe's single scale factor (min side ratio) moves coordinates by up to "
                      + ", ".join(f"{k.removesuffix('.jpg')} {v:.2f} px" for k, v in shift.items() if v is not None)
                      + " compared with per-axis scaling (kprcnn's); the agreement columns compare per-axis results.",
                      ""]
    lines.append("")
    lines.append("![chart](report.png)")
    # The engines side by side (bench/engines.py, run before this benchmark by bench/run.sh): its tables, one level
    # down, so that this report carries the four-way comparison too.
    engines = out / "engines.md"
    if engines.exists():
        body = engines.read_text().splitlines()
        lines += ["", "## Engines: Python onnxruntime, Python OpenVINO, kprcnn on each (bench/engines.py → ENGINES.md)",
                  ""] + ["#" + l if l.startswith("## ") else l for l in body[1:]]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    chart(res, out / "report.png")
    if publish:
        shutil.copy(out / "report.png", publish / "results.png")
        (publish / "RESULTS.md").write_text("\n".join(lines).replace("(report.png)", "(results.png)") + "\n")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--publish", type=Path)
    args = p.parse_args()
    write(json.loads(args.results.read_text()), args.out, args.publish)
    return 0


if __name__ == "__main__":
    sys.exit(main())
