#!/usr/bin/env python3
"""The fast mode's levers on the bundled trained model: for each, its keypoint AP on the validation split (kprcnn
eval, the same numbers as pycocotools) beside its warm speed, measured side by side with the seed recipe in one run.

Run through `make bench` (after bench/run_bench.py) or alone with the venv's Python:
  build/venv/bin/python bench/fast_mode.py --build build [--out build/bench/fast-mode] [--val 300] [--publish]
Never part of the test run. Writes OUT/fast-mode.json and OUT/fast-mode.md; --publish copies the table to
bench/FAST_MODE.md.

Data (kprcnn synth, deterministic): validation scenes seed 2 (the model trained on seed 1; the published AP of
models/README.md), calibration scenes seed 4 (neither), speed images seed 5 at 640x960 (the seed's test image
size). Every variant is scored as deployed: detections scoring above THRESHOLD (0.8) only, so "AP" is the keypoint
AP of what a user at that threshold gets, and the loss is against exact mode at the same threshold.

Variants (each a model + a --size; exports of models/face with `kprcnn export --no-verify`):
  seed          the recipe's export (default settings), run by bench/recipe.py (Python + Pillow + onnxruntime);
                its AP is kprcnn eval of the same model (kprcnn reproduces the recipe's preprocessing)
  exact         --box-score-thresh THRESHOLD: the same detections above it, the keypoint head only on kept boxes
  levers, one at a time on exact: the input size (--size 320, 240: the graph's internal resize is 240 for this
  architecture, so 512 is upsampled and shrunk again), the internal size (--min-size 192, 160), the proposals
  (--rpn-post-nms-top-n 300, 100), INT8 (kprcnn quantize: Conv+Gemm or Conv only; 50 or 10 MinMax calibration
  images; ONNX Runtime 1.22's Entropy and Percentile calibrators fail on this graph's data-dependent shapes), and
  the combinations the single levers suggest.
Engines: every variant names its engine (the `engine` column). The ONNX Runtime levers above run on `--engine ort`
(how they were chosen); the OpenVINO rows run the same exports on `--engine openvino`: f32 (exact mode), bf16
(`--precision bf16`: AMX / AVX-512 BF16 CPUs; f32 elsewhere), and ONNX Runtime's INT8 QDQ models as OpenVINO
compiles them.
Speed: one `kprcnn bench --worker` process per variant and recipe.py's worker for the seed, loaded once, then
rounds over the speed images in which every pipeline runs each image once (interleaved: the machine's load falls
on all alike); the median of the per-image totals (decode -> annotated PNG encoded) over REPS rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import models as bench_models  # noqa: E402
from run_bench import Worker, log, machine  # noqa: E402

CHECKPOINT = bench_models.TRAINED  # models/face
STAGES = ("decode", "resize", "tensor", "session", "postprocess", "draw", "encode", "total")
THRESHOLD = 0.8

ORT = ["--engine", "ort"]
OV = ["--engine", "openvino"]
OV_BF16 = ["--engine", "openvino", "--precision", "bf16"]
# name: (export options, quantize options or None, --size, what it changes[, engine options: default ORT])
VARIANTS = {
    "exact": ([], None, 512, "the exact export at the recipe's --size 512"),
    "size320": ([], None, 320, "input --size 320"),
    "size240": ([], None, 240, "input --size 240 (= the internal size: no resize in the graph)"),
    "min192": (["--min-size", "192", "--max-size", "320"], None, 512, "internal --min-size 192"),
    "min160": (["--min-size", "160", "--max-size", "267"], None, 512, "internal --min-size 160"),
    "post300": (["--rpn-post-nms-top-n", "300"], None, 512, "300 proposals (of 1000)"),
    "post100": (["--rpn-post-nms-top-n", "100"], None, 512, "100 proposals (of 1000)"),
    "post50": (["--rpn-post-nms-top-n", "50"], None, 512, "50 proposals (of 1000)"),
    "pre300": (["--rpn-pre-nms-top-n", "300"], None, 512, "300 proposals per level before the RPN's NMS (of 1000)"),
    "int8": ([], [], 512, "INT8 Conv+Gemm, MinMax, 50 images"),
    "int8-conv": ([], ["--operators", "Conv"], 512, "INT8 Conv only, MinMax, 50 images"),
    "int8-calib10": ([], ["--calibration-count", "10"], 512, "INT8 Conv+Gemm, MinMax, 10 images"),
    "int8-size240": ([], [], 240, "INT8 (calibrated at --size 240) + input --size 240"),
    "int8-size240-post300": (["--rpn-post-nms-top-n", "300"], [], 240,
                             "INT8 + input --size 240 + 300 proposals"),
    "post100-size240": (["--rpn-post-nms-top-n", "100"], None, 240, "100 proposals + input --size 240"),
    "post100-int8": (["--rpn-post-nms-top-n", "100"], [], 512, "100 proposals + INT8"),
    "post100-int8-size240": (["--rpn-post-nms-top-n", "100"], [], 240, "100 proposals + INT8 + input --size 240"),
    # The fast mode make bench measures (bench/models.py FAST["face"]): the best of the above within 1 AP point.
    "fast": (bench_models.FAST["face"]["export"], [], bench_models.FAST["face"]["size"],
             "**the fast mode** (bench/models.py): " + " ".join(bench_models.FAST["face"]["export"]) + " + INT8 + "
             f"input --size {bench_models.FAST['face']['size']}"),
    # OpenVINO (the default engine for float models): the same exports.
    "exact-ov": ([], None, 512, "exact on OpenVINO, f32 (what `--engine auto` runs)", OV),
    "exact-ov-bf16": ([], None, 512, "exact on OpenVINO, bf16", OV_BF16),
    "size240-ov-bf16": ([], None, 240, "OpenVINO bf16 + input --size 240", OV_BF16),
    "post100-size240-ov": (["--rpn-post-nms-top-n", "100"], None, 240,
                           "OpenVINO f32 + 100 proposals + input --size 240", OV),
    "post100-pre300-size240-ov-bf16": (bench_models.FAST["face"]["export"], None, 240,
                                       "OpenVINO bf16 + the fast export (no INT8) + input --size 240", OV_BF16),
    "int8-ov": ([], [], 512, "ONNX Runtime's INT8 QDQ model (int8) compiled by OpenVINO", OV),
    "fast-ov": (bench_models.FAST["face"]["export"], [], bench_models.FAST["face"]["size"],
                "the fast mode's INT8 model (fast) on OpenVINO", OV),
}
# Also timed (not scored: the same answers as the variant they copy): the JSON-only path, no annotated PNG
# (decode=dct: JPEGs decoded at reduced size), the way a service answering with JSON runs.
JSON_ONLY = ("exact", "fast", "exact-ov", "post100-pre300-size240-ov-bf16")


def run(cmd: list, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        raise SystemExit(f"error: {' '.join(map(str, cmd[:4]))} ... exit {proc.returncode}:\n{proc.stderr[-2000:]}")
    return proc


class FastMode:
    def __init__(self, args):
        self.args = args
        self.out = args.out.resolve()
        self.kprcnn = (args.build / "bin" / "kprcnn").resolve()
        self.models = self.out / "models"
        self.data = self.out / "data"
        self.env = dict(os.environ, XDG_CACHE_HOME=str(self.out / "model-cache"), KPRCNN_QUANTIZE_PYTHON=sys.executable)

    # --- data and models ---------------------------------------------------------------------------------------
    def synth(self, name: str, seed: int, count: int, extra: list) -> Path:
        folder = self.data / name
        stamp = folder / ".done"
        want = f"{seed} {count} {' '.join(extra)}"
        if stamp.exists() and stamp.read_text() == want:
            return folder
        shutil.rmtree(folder, ignore_errors=True)
        log(f"synth {name}: {count} scenes, seed {seed}")
        run([self.kprcnn, "synth", "--out", folder, "--count", count, "--seed", seed, "--quiet", *extra],
            env=self.env, timeout=3600)
        stamp.write_text(want)
        return folder

    def export(self, name: str, options: list) -> Path:
        path = self.models / f"{name}.onnx"
        if not path.exists():
            log(f"export {name}: {' '.join(options) or '(defaults)'}")
            run([self.kprcnn, "export", CHECKPOINT, "-o", path, "--no-verify", *options], env=self.env, timeout=3600)
        return path

    def prepare(self) -> None:
        self.models.mkdir(parents=True, exist_ok=True)
        stamp, current = self.models / "source-hash", bench_models.exporter_hash()  # exporter + trained model
        if stamp.exists() and stamp.read_text().strip() != current:
            log("exporter or model changed: exporting again")
            for f in self.models.glob("*.onnx"):
                f.unlink()
        stamp.write_text(current + "\n")
        self.val = self.synth("val", 2, self.args.val, [])
        calib = self.synth("calibration", 4, 50, [])
        self.calib = {50: calib}
        small = self.data / "calibration10"
        if not small.is_dir():
            small.mkdir(parents=True)
            for f in sorted(calib.glob("*.jpg"))[:10]:
                shutil.copy(f, small / f.name)
        self.calib[10] = small
        speed = self.synth("speed", 5, 3, ["--size", "640x960"])
        self.speed_images = sorted(speed.glob("*.jpg"))
        self.paths = {"seed": (self.export("seed", []), 512)}
        self.engines = {"seed": ORT}
        for name, (export, quant, size, *_) in VARIANTS.items():
            options = ["--box-score-thresh", str(THRESHOLD), *export]
            base = "exact" if not export else "exact-" + "-".join(o.lstrip("-") for o in export)
            fp32 = self.export(base, options)
            self.engines[name] = VARIANTS[name][4] if len(VARIANTS[name]) > 4 else ORT
            if quant is None:
                self.paths[name] = (fp32, size)
                continue
            quant = list(quant)
            count = 50
            if "--calibration-count" in quant:
                i = quant.index("--calibration-count")
                count = int(quant[i + 1])
                del quant[i : i + 2]
            int8 = self.models / f"{name.removesuffix('-ov')}.onnx"  # the ONNX Runtime variant's INT8 model
            if not int8.exists():
                log(f"quantise {name}: {' '.join(quant) or '(defaults)'}, {count} images at --size {size}")
                run([self.kprcnn, "quantize", fp32, int8, "--calibration", self.calib[count], "--size", size,
                     "--no-check", *quant], env=self.env, timeout=7200)  # fmt: skip
            self.paths[name] = (int8, size)

    # --- accuracy ----------------------------------------------------------------------------------------------
    def evaluate(self) -> dict:
        scores = {}
        for name, (model, size) in self.paths.items():
            out = self.out / "eval" / f"{name}.json"
            out.parent.mkdir(parents=True, exist_ok=True)
            log(f"eval {name} on {self.args.val} scenes")
            run([self.kprcnn, "eval", "--annotations", self.val / "annotations.json", "--images", self.val,
                 "--model", model, "--size", size, "--min-score", THRESHOLD, "--threshold", THRESHOLD, "--json", out,
                 "--quiet", *self.engines[name]], env=self.env, timeout=7200)  # fmt: skip
            scores[name] = json.loads(out.read_text())
        return scores

    # --- speed -------------------------------------------------------------------------------------------------
    def speed(self) -> dict:
        workers = {}
        seed_model, _ = self.paths["seed"]
        log("speed: starting the workers")
        workers["seed"] = Worker("fast-seed", [sys.executable, str(HERE / "recipe.py"), "--backend", "ort", "--model",
                                               str(seed_model), "--threshold", str(THRESHOLD), "--worker"],
                                 self.logs, self.env)  # fmt: skip
        for name, (model, size) in self.paths.items():
            if name == "seed":
                continue
            workers[name] = Worker(f"fast-{name}", [str(self.kprcnn), "bench", "--worker", "-m", str(model),
                                                    "--threshold", str(THRESHOLD), "--size", str(size),
                                                    *self.engines[name]], self.logs, self.env)  # fmt: skip
        for name in JSON_ONLY:
            model, size = self.paths[name]
            workers[name + " (JSON)"] = Worker(f"fast-{name}-json", [str(self.kprcnn), "bench", "--worker", "-m",
                                                                     str(model), "--threshold", str(THRESHOLD),
                                                                     "--size", str(size), "--variant", "decode=dct",
                                                                     *self.engines[name]],
                                               self.logs, self.env)  # fmt: skip
        totals = {name: {img.name: [] for img in self.speed_images} for name in workers}
        stages = {name: [] for name in workers}
        work = self.out / "work"
        work.mkdir(exist_ok=True)
        for rep in range(-1, self.args.reps):  # -1: warm-up
            for img in self.speed_images:
                for name, w in workers.items():
                    json_only = name.endswith("(JSON)")
                    doc = w.run(img, None if json_only else work / f"{name}-{img.stem}")
                    if rep >= 0:
                        totals[name][img.name].append(doc["stages"]["total"])
                        stages[name].append(doc["stages"])
            log(f"speed: round {rep + 1} of {self.args.reps} done")
        for w in workers.values():
            w.close()
        self.stages = {name: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for name, runs in stages.items()}
        return {name: {img: statistics.median(v) for img, v in per.items()} for name, per in totals.items()}

    # --- report ------------------------------------------------------------------------------------------------
    def report(self, scores: dict, speed: dict) -> str:
        def warm(name):  # mean over the speed images of the per-image medians
            return statistics.fmean(speed[name].values())

        seed_ms, exact_ap = warm("seed"), scores["exact"]["keypoints"]["AP"]
        rows = []
        for name in ["seed", *VARIANTS]:
            s = scores[name]
            k, op = s["keypoints"], s["operating_point"]
            what = "the recipe: default export, Python + Pillow + onnxruntime" if name == "seed" else VARIANTS[name][3]
            engine = " ".join(self.engines[name][1:]).replace("openvino bf16", "openvino --precision bf16")
            rows.append(f"| {name} | {engine} | {what} | {warm(name):.1f} ms | {seed_ms / warm(name):.2f}× | {k['AP']:.4f} | "
                        f"{100 * (k['AP'] - exact_ap):+.2f} | {k['AP50']:.4f} | {s['bbox']['AP']:.4f} | "
                        f"{op['f1']:.3f} | {op['mean_error_px']:.2f} |")  # fmt: skip
        for name in JSON_ONLY:
            json_name = name + " (JSON)"
            if json_name not in speed:
                continue
            rows.append(f"| {json_name} | {' '.join(self.engines[name][1:])} | {name}, JSON only: no annotated PNG, JPEG "
                        "decoded at reduced size | "
                        f"{warm(json_name):.1f} ms | {seed_ms / warm(json_name):.2f}× | (as {name}) | | | | | |")
        stage_rows = []
        for name, st in self.stages.items():
            stage_rows.append(f"| {name} | " + " | ".join(f"{st[k]:.1f}" for k in STAGES) + " |")
        machine = self.results["machine"]
        text = [
            "# Fast mode: speed against accuracy, lever by lever (bundled trained model)",
            "",
            f"Written by `bench/fast_mode.py` (part of `make bench`) on {machine['date']}: {machine['cpu']}, "
            f"{machine['cores']} cores ({', '.join(machine['isa'])}), ONNX Runtime {machine['onnxruntime_pypi']} (the "
            "recipe's Python; kprcnn links the same release). "
            "Model: models/face (slim architecture, internal size 240). Accuracy: COCO keypoint AP of the "
            f"detections scoring above {THRESHOLD} on {self.args.val} validation scenes (kprcnn synth seed 2, "
            "320×240; `kprcnn eval`, equal to pycocotools), and the loss in AP points against exact mode at the "
            f"same threshold. Speed: warm total per image (decode → annotated PNG), median of {self.args.reps} "
            f"interleaved rounds, mean over {len(self.speed_images)} face scenes of 640×960; ratios against the "
            "seed recipe in the same run.",
            "",
            "| variant | engine | what changes | warm | vs seed | keypoint AP | vs exact (points) | AP50 | box AP | "
            f"F1 @{THRESHOLD} | error px |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
            *rows,
            "",
            "Per stage (ms, medians over all speed images and rounds; the seed's stages are the recipe's own "
            "Python steps):",
            "",
            "| pipeline | " + " | ".join(STAGES) + " |",
            "|---|" + "---:|" * len(STAGES),
            *stage_rows,
            "",
        ]
        return "\n".join(text)

    def main(self) -> int:
        self.logs = self.out / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.results = {"machine": {**machine(), "date": time.strftime("%Y-%m-%d")}}
        self.prepare()
        scores = self.evaluate()
        speed = self.speed()
        self.results.update({"scores": scores, "speed_ms": speed, "fast_recipe": bench_models.FAST["face"],
                             "val": self.args.val, "threshold": THRESHOLD, "stages_ms": self.stages,
                             "variants": {k: [str(p), s] for k, (p, s) in self.paths.items()}})
        (self.out / "fast-mode.json").write_text(json.dumps(self.results, indent=1))
        table = self.report(scores, speed)
        (self.out / "fast-mode.md").write_text(table)
        print(table)
        if self.args.publish:
            (HERE / "FAST_MODE.md").write_text(table)
            log("published bench/FAST_MODE.md")
        return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build", type=Path, default=ROOT / "build")
    p.add_argument("--out", type=Path)
    p.add_argument("--val", type=int, default=300, help="validation scenes (default: %(default)s)")
    p.add_argument("--reps", type=int, default=7, help="timed rounds (default: %(default)s)")
    p.add_argument("--publish", action="store_true", help="also write bench/FAST_MODE.md")
    args = p.parse_args()
    args.out = args.out or args.build / "bench" / "fast-mode"
    return FastMode(args).main()


if __name__ == "__main__":
    sys.exit(main())
