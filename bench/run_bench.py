#!/usr/bin/env python3
"""kprcnn's speed benchmark: the seed's Python pipeline, PyTorch eager and kprcnn (exact and fast) measured in ONE
run on the same checkpoints and images, interleaved so that the machine's load falls on all of them alike.

Run through `make bench` (bench/run.sh: builds, makes the venv with onnxruntime from PyPI, then this script with
the venv's Python). Never part of the test run. Writes OUT/report.md, OUT/report.png and OUT/results.json
(default OUT: build/bench), and copies the report to bench/RESULTS.md and bench/results.png with --publish.

Pipelines (each a persistent process, fed one image at a time; a round goes over every pipeline per image):
  (a) seed     bench/recipe.py --backend ort:   Pillow + numpy + onnxruntime on the seed-style export
  (b) eager    bench/recipe.py --backend torch: the same steps with torchvision eager on the checkpoint
  (c) exact    kprcnn bench --worker on the exact export (threshold in the graph), tuned session, model cache
  (d) fast     kprcnn bench --worker on the fast export (bench/models.py FAST: per checkpoint) in INT8
  (d') fast-json  (d) with the JSON-only path (no annotated image): JPEGs decoded at reduced size (DCT scaling)
Cold: a fresh process per run (start -> annotated file written), alternating pipelines. Throughput: a folder of
20 images, one process per pipeline. Levers: kprcnn bench with variants interleaved in one process.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import models as bench_models  # noqa: E402
import ort_profile  # noqa: E402
from report import pct  # noqa: E402

STAGES = ("decode", "resize", "tensor", "session", "postprocess", "draw", "encode", "total")
PIPELINES = ("seed", "eager", "exact", "fast", "fast-json")
LABELS = {
    "seed": "(a) seed: Python + Pillow + onnxruntime",
    "eager": "(b) PyTorch eager",
    "exact": "(c) kprcnn exact",
    "fast": "(d) kprcnn fast (INT8 + the checkpoint's fast export)",
    "fast-json": "(d') kprcnn fast, JSON only (DCT decode)",
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --- processes -----------------------------------------------------------------------------------------------


class Worker:
    """A pipeline process speaking the line protocol of kprcnn bench --worker / recipe.py --worker."""

    def __init__(self, name: str, cmd: list[str], logdir: Path, env: dict | None = None):
        self.name = name
        self.log = open(logdir / f"{name}.log", "a")
        started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     bufsize=1, env=env)
        self.ready = self._read("ready")
        self.ready["spawn_to_ready_ms"] = (time.perf_counter() - started) * 1000

    def _read(self, expect: str) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name}: worker exited (see {self.log.name})")
        doc = json.loads(line)
        if doc.get("event") != expect:
            raise RuntimeError(f"{self.name}: expected {expect}, got {line.strip()[:300]}")
        return doc

    def run(self, image: Path, stem: Path | None) -> dict:
        self.proc.stdin.write(f"{image}\t{stem or ''}\n")
        self.proc.stdin.flush()
        return self._read("run")

    def close(self) -> dict:
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        doc = self._read("exit")
        _, status, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        doc["peak_rss_kb_wait4"] = usage.ru_maxrss
        self.log.close()
        return doc


def timed_process(cmd: list[str], wait_for: Path, env: dict | None = None, log: Path | None = None) -> dict:
    """Runs cmd in a fresh process: ms from spawn until `wait_for` exists (atomic writes: it is complete), total
    wall ms, exit code and the child's peak RSS."""
    if wait_for.exists():
        wait_for.unlink()
    out = open(log, "a") if log else subprocess.DEVNULL
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT if log else subprocess.DEVNULL, env=env)
    first = None
    while True:
        if first is None and wait_for.exists():
            first = (time.perf_counter() - t0) * 1000
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(0.005)
    wall = (time.perf_counter() - t0) * 1000
    if first is None and wait_for.exists():
        first = wall
    proc.returncode = os.waitstatus_to_exitcode(status)
    if log:
        out.close()
    return {"first_file_ms": first, "wall_ms": wall, "rc": proc.returncode, "peak_rss_kb": usage.ru_maxrss}


# --- comparison ----------------------------------------------------------------------------------------------


def iou(a, b) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def compare(expected: list, actual: list) -> dict:
    """Greedy match (each actual detection, by score, to the unmatched expected one with the best IoU >= 0.5);
    box/keypoint differences in px over matched pairs; keypoint displacement relative to the expected box's size
    (sqrt of its area, COCO's object scale) and longer side."""
    unmatched = list(range(len(expected)))
    box_max = kp_max = score_max = 0.0
    disp, rel_area, rel_side = [], [], []
    matched = 0
    for det in actual:
        if not unmatched:
            break
        best = max(unmatched, key=lambda i: iou(expected[i]["box"], det["box"]))
        if iou(expected[best]["box"], det["box"]) < 0.5:
            continue
        unmatched.remove(best)
        e = expected[best]
        matched += 1
        score_max = max(score_max, abs(e["score"] - det["score"]))
        box_max = max(box_max, max(abs(x - y) for x, y in zip(e["box"], det["box"])))
        w, h = e["box"][2] - e["box"][0], e["box"][3] - e["box"][1]
        for ke, ka in zip(e["keypoints"], det["keypoints"]):
            d = math.hypot(ke["x"] - ka["x"], ke["y"] - ka["y"])
            kp_max = max(kp_max, abs(ke["x"] - ka["x"]), abs(ke["y"] - ka["y"]))
            disp.append(d)
            if w > 0 and h > 0:
                rel_area.append(d / math.sqrt(w * h))
                rel_side.append(d / max(w, h))
    return {"expected": len(expected), "actual": len(actual), "matched": matched, "max_box_px": box_max,
            "max_keypoint_px": kp_max, "max_score": score_max,
            "mean_keypoint_px": statistics.fmean(disp) if disp else None,
            "mean_keypoint_rel_area": statistics.fmean(rel_area) if rel_area else None,
            "mean_keypoint_rel_side": statistics.fmean(rel_side) if rel_side else None}


# --- the benchmark -------------------------------------------------------------------------------------------


class Bench:
    def __init__(self, args):
        self.args = args
        self.out = args.out.resolve()
        self.models = self.out / "models"
        self.images_dir = self.out / "images"
        self.logs = self.out / "logs"
        self.work = self.out / "work"
        self.kprcnn = (args.build / "bin" / "kprcnn").resolve()
        self.py = sys.executable
        self.cache = self.out / "model-cache"  # kprcnn's optimised-model cache for the bench (XDG_CACHE_HOME)
        self.results: dict = {"pipelines": {}, "cold": {}, "folder": {}, "levers": {}, "agreement": {}}
        self.images = [self.images_dir / f"{name}.jpg" for name, *_ in bench_models.IMAGES]

    def env(self, fresh_cache: Path | None = None) -> dict:
        env = dict(os.environ)
        env["XDG_CACHE_HOME"] = str(fresh_cache or self.cache)
        return env

    def model(self, ckpt: str, kind: str) -> Path:
        return self.models / f"{ckpt}-{kind}.onnx" if kind != "pth" else self.models / f"{ckpt}.pth"

    # preparation
    def prepare(self) -> None:
        for d in (self.logs, self.work):
            d.mkdir(parents=True, exist_ok=True)
        log("preparing checkpoints, images and exports (bench/models.py)")
        subprocess.run([os.environ.get("KPRCNN_PYTHON", "/usr/bin/python3"), str(HERE / "models.py"), str(self.out),
                        "--threshold", str(self.args.threshold)], check=True)
        for ckpt in self.args.models:
            pairs = [("fast-fp32", "fast-int8", self.fast_size(ckpt)), ("exact", "exact-int8", 512)]
            if ckpt == "allpass":
                pairs.append(("fast512", "fast512-int8", 512))
            for source, target, size in pairs:
                fp32, int8 = self.model(ckpt, source), self.model(ckpt, target)
                if not int8.exists() or int8.stat().st_mtime < fp32.stat().st_mtime:
                    log(f"quantising {fp32.name} -> {int8.name} (calibrated at --size {size})")
                    # the product's fast-mode quantiser; the bench measures the accuracy itself (--no-check)
                    subprocess.run([str(self.kprcnn), "quantize", str(fp32), str(int8), "--calibration",
                                    str(self.images_dir / "calibration"), "--size", str(size), "--no-check"],
                                   check=True, env={**os.environ, "KPRCNN_QUANTIZE_PYTHON": self.py})
        self.attach_accuracy()
        self.results["model_bytes"] = {p.stem: p.stat().st_size for p in self.models.glob("*.onnx")}
        info = subprocess.run([str(self.kprcnn), "info", str(self.model(self.args.models[0], "exact"))],
                              capture_output=True, text=True).stdout
        self.results["machine"]["kprcnn_onnxruntime"] = info.splitlines()[0].split("ONNX Runtime ")[-1] if info else "?"
        # first load of every kprcnn model writes its cache entry; the time of that first load is recorded
        self.results["cache_first_load"] = {}
        for ckpt in self.args.models:
            for kind in ("exact", "fast-int8"):
                w = Worker(f"cachefill-{ckpt}-{kind}", [str(self.kprcnn), "bench", "--worker", "-m",
                                                        str(self.model(ckpt, kind))], self.logs, self.env())
                self.results["cache_first_load"][f"{ckpt}-{kind}"] = w.ready
                w.close()

    def fast_size(self, ckpt: str) -> int:
        return bench_models.FAST[ckpt]["size"]

    def attach_accuracy(self) -> None:
        """The trained model's keypoint AP per pipeline, from bench/fast_mode.py's run (make bench runs it first):
        seed, exact and its "fast" variant (bench/models.py's FAST recipe)."""
        path = self.out / "fast-mode" / "fast-mode.json"
        if "face" not in self.args.models or not path.exists():
            return
        doc = json.loads(path.read_text())
        scores = doc.get("scores", {})
        if doc.get("fast_recipe") != bench_models.FAST["face"] or not {"seed", "exact", "fast"} <= set(scores):
            log(f"{path} is from another fast recipe: no AP in the report (run bench/fast_mode.py)")
            return
        pick = {"seed": "seed", "exact": "exact", "fast": "fast", "fast-json": "fast"}
        self.results["accuracy"] = {"face": {p: scores[v] for p, v in pick.items()},
                                    "val": doc.get("val"), "threshold": doc.get("threshold"),
                                    "date": doc.get("machine", {}).get("date")}

    def worker_cmd(self, ckpt: str, pipeline: str) -> list[str]:
        if pipeline == "seed":
            return [self.py, str(HERE / "recipe.py"), "--backend", "ort", "--model", str(self.model(ckpt, "seed")),
                    "--worker"]
        if pipeline == "eager":
            return [self.py, str(HERE / "recipe.py"), "--backend", "torch", "--model", str(self.model(ckpt, "pth")),
                    "--worker"]
        model = self.model(ckpt, "exact" if pipeline == "exact" else "fast-int8")
        cmd = [str(self.kprcnn), "bench", "--worker", "-m", str(model), "--threshold", str(self.args.threshold)]
        if pipeline.startswith("fast"):
            cmd += ["--size", str(self.fast_size(ckpt))]
        if pipeline == "fast-json":
            cmd += ["--variant", "decode=dct"]
        return cmd

    # warm, per stage, interleaved
    def warm(self, ckpt: str) -> None:
        pipelines = [p for p in PIPELINES if p != "eager" or not self.args.skip_eager]
        workers = {}
        for p in pipelines:  # loaded one after the other: load times are not contended by each other
            log(f"{ckpt}: starting {p}")
            workers[p] = Worker(f"{ckpt}-{p}", self.worker_cmd(ckpt, p), self.logs, self.env())
        runs = {p: {img.name: [] for img in self.images} for p in pipelines}
        last = {p: {} for p in pipelines}
        reps = self.args.reps
        for rep in range(-1, reps):  # rep -1: warm-up (first runs are slower for everyone), not recorded
            for img in self.images:
                for p in pipelines:
                    if p == "eager" and rep >= self.args.eager_reps:
                        continue
                    if p == "eager" and rep < 0 and img != self.images[0]:
                        continue  # eager: one warm-up run is enough (30+ s each)
                    stem = self.work / f"{ckpt}-{p}-{img.stem}"
                    doc = workers[p].run(img, stem)
                    log(f"{ckpt} rep {rep} {img.name} {p}: {doc['stages']['total']:.0f} ms "
                        f"({len(doc['result']['detections'])} dets) load {loadavg()[0]}")
                    if rep >= 0:
                        runs[p][img.name].append(doc["stages"])
                    last[p][img.name] = doc
        closing = {p: w.close() for p, w in workers.items()}
        self.results["pipelines"][ckpt] = {
            p: {"ready": workers[p].ready, "exit": closing[p], "runs": runs[p],
                "last": {k: {"input": v["input"], "result": v["result"]} for k, v in last[p].items()}}
            for p in pipelines}
        agreement = {}
        for p in pipelines:
            if p == "seed":
                continue
            for img in self.images:
                ref = last["seed"][img.name]["result"]["detections"]
                agreement.setdefault(p, {})[img.name] = compare(ref, last[p][img.name]["result"]["detections"])
            if p in ("fast", "fast-json"):
                for img in self.images:
                    ref = last["exact"][img.name]["result"]["detections"]
                    agreement.setdefault(p + " vs exact", {})[img.name] = compare(
                        ref, last[p][img.name]["result"]["detections"])
        agreement["recipe_scale_shift_px"] = {
            img.name: last["seed"][img.name]["result"].get("recipe_max_scale_shift_px") for img in self.images}
        self.results["agreement"][ckpt] = agreement

    # cold: fresh processes, start -> first annotated file
    def cold(self, ckpt: str) -> None:
        img = self.images[0]
        out = self.work / f"cold-{ckpt}"
        out.mkdir(exist_ok=True)
        cmds = {
            "seed": ([self.py, str(HERE / "recipe.py"), "--backend", "ort", "--model", str(self.model(ckpt, "seed")),
                      "--once", str(img), str(out / "seed.png")], out / "seed.png"),
            "exact": ([str(self.kprcnn), "predict", "-q", "-m", str(self.model(ckpt, "exact")), "-i", str(img), "-o",
                       str(out / "exact"), "--threshold", str(self.args.threshold)], out / "exact" / f"{img.stem}.png"),
            "fast": ([str(self.kprcnn), "predict", "-q", "-m", str(self.model(ckpt, "fast-int8")), "-i", str(img),
                      "-o", str(out / "fast"), "--threshold", str(self.args.threshold), "--size",
                      str(self.fast_size(ckpt))], out / "fast" / f"{img.stem}.png"),
        }
        if not self.args.skip_eager:
            cmds["eager"] = ([self.py, str(HERE / "recipe.py"), "--backend", "torch", "--model",
                              str(self.model(ckpt, "pth")), "--once", str(img), str(out / "eager.png")],
                             out / "eager.png")
        res = {p: [] for p in cmds}
        for rep in range(self.args.cold_reps):
            for p, (cmd, target) in cmds.items():
                if p == "eager" and rep > 0:
                    continue
                r = timed_process(cmd, target, self.env(), self.logs / f"cold-{ckpt}-{p}.log")
                log(f"{ckpt} cold {p}: {r['first_file_ms']:.0f} ms to file, rc {r['rc']}, "
                    f"{r['peak_rss_kb'] / 1024:.0f} MB")
                res[p].append(r)
        # the very first start on a machine (empty optimised-model cache), once
        fresh = Path(tempfile.mkdtemp(prefix="kprcnn-cache-", dir=self.work))
        for p in ("exact",):
            cmd, target = cmds[p]
            r = timed_process(cmd, target, self.env(fresh), self.logs / f"cold-{ckpt}-{p}-nocache.log")
            res[p + " (empty cache)"] = [r]
        shutil.rmtree(fresh, ignore_errors=True)
        self.results["cold"][ckpt] = res

    # folder throughput
    def folder(self, ckpt: str) -> None:
        folder = self.images_dir / "folder"
        n = len(list(folder.glob("*.jpg")))
        res = {}
        runs = {
            "seed": [self.py, str(HERE / "recipe.py"), "--backend", "ort", "--model", str(self.model(ckpt, "seed")),
                     "--folder", str(folder), str(self.work / f"folder-{ckpt}-seed")],
            "exact": [str(self.kprcnn), "predict", "-m", str(self.model(ckpt, "exact")), "-i", str(folder), "-o",
                      str(self.work / f"folder-{ckpt}-exact"), "--threshold", str(self.args.threshold)],
            "fast": [str(self.kprcnn), "predict", "-m", str(self.model(ckpt, "fast-int8")), "-i", str(folder), "-o",
                     str(self.work / f"folder-{ckpt}-fast"), "--threshold", str(self.args.threshold), "--size",
                     str(self.fast_size(ckpt))],
        }
        for p, cmd in runs.items():
            t = time.perf_counter()
            with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
                proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=self.env())
                _, status, usage = os.wait4(proc.pid, 0)  # wait4: this child's own peak RSS
                proc.returncode = os.waitstatus_to_exitcode(status)
                out.seek(0)
                err.seek(0)
                stdout, stderr = out.read(), err.read()
            wall = time.perf_counter() - t
            if proc.returncode != 0:
                raise RuntimeError(f"folder {p}: exit {proc.returncode}\n{stderr[-2000:]}")
            if p == "seed":
                doc = json.loads(stdout.strip().splitlines()[-1])
                seconds, session = doc["seconds"], doc.get("session_s")
            else:
                seconds = parse_predict_seconds(stderr, wall)
                # "[i/n] name: k detections (..., model M ms, total T ms)": the session time of every image
                session = sum(float(line.split(", model ")[1].split(" ms")[0]) / 1000
                              for line in stderr.splitlines() if line.startswith("[") and ", model " in line)
            res[p] = {"images": n, "seconds": seconds, "images_per_s": n / seconds, "wall_s": wall,
                      "session_s": session, "peak_rss_kb": usage.ru_maxrss}
            log(f"{ckpt} folder {p}: {n / seconds:.3f} images/s")
        self.results["folder"][ckpt] = res

    # levers: kprcnn variants interleaved in one process
    def levers(self, ckpt: str) -> None:
        m = lambda k: str(self.model(ckpt, k))  # noqa: E731
        variants = [
            f"name=seed-default,model={m('seed')},spin=1,cache=0",
            f"name=seed-nospin,model={m('seed')},spin=0,cache=0",
            f"name=exact-spin,model={m('exact')},spin=1",
            f"name=exact,model={m('exact')},spin=0",
            f"name=exact-noarena,model={m('exact')},spin=0,arena=0",
            f"name=exact-pattern,model={m('exact')},spin=0,pattern=1",
            f"name=exact-t1,model={m('exact')},spin=0,threads=1",
            f"name=exact-int8,model={m('exact-int8')},spin=0",
        ]
        fast = self.fast_size(ckpt)
        if ckpt == "allpass":
            variants += [f"name=fast512,model={m('fast512')},spin=0",
                         f"name=fast-fp32,model={m('fast-fp32')},spin=0",
                         f"name=fast512-int8,model={m('fast512-int8')},spin=0"]
        else:
            variants += [f"name=exact-size{fast},model={m('exact')},spin=0,size={fast}",
                         f"name=fast-fp32,model={m('fast-fp32')},spin=0,size={fast}"]
        variants.append(f"name=fast-int8,model={m('fast-int8')},spin=0,size={fast}")
        # The rows above are ONNX Runtime's levers (--engine ort below: spinning, arena and memory pattern are its
        # session settings); the last two put the exact export on the other engine, as `--engine auto` does.
        variants += [f"name=exact-openvino,model={m('exact')},engine=openvino",
                     f"name=exact-openvino-bf16,model={m('exact')},engine=openvino,precision=bf16"]
        out = self.work / f"levers-{ckpt}.json"
        outdir = self.work / f"levers-{ckpt}"
        cmd = [str(self.kprcnn), "bench", "-i", str(self.images[0]), "--reps", str(self.args.lever_reps),
               "--warmup", "1", "--threshold", str(self.args.threshold), "--json", str(out), "-o", str(outdir),
               "--engine", "ort"]
        for v in variants:
            cmd += ["--variant", v]
        log(f"{ckpt}: levers ({len(variants)} variants interleaved)")
        subprocess.run(cmd, check=True, env=self.env(), stdout=open(self.logs / f"levers-{ckpt}.txt", "w"))
        doc = json.loads(out.read_text())
        stem = self.images[0].stem
        exact = json.loads((outdir / f"exact-{stem}.json").read_text())["detections"]
        doc["accuracy_vs_exact"] = {}
        for v in doc["variants"]:
            dets = json.loads((outdir / f"{v['name']}-{stem}.json").read_text())["detections"]
            doc["accuracy_vs_exact"][v["name"]] = compare(exact, dets)
        self.results["levers"][ckpt] = doc

    def profile(self, ckpt: str) -> None:
        res = {}
        for kind in ("seed", "exact", "fast-int8"):
            prof = self.work / f"profile-{ckpt}-{kind}.json"
            size = self.fast_size(ckpt) if kind == "fast-int8" else 512
            cmd = [str(self.kprcnn), "bench", "-m", str(self.model(ckpt, kind)), "-i", str(self.images[0]), "--reps",
                   "2", "--warmup", "1", "--threshold", str(self.args.threshold), "--profile", str(prof), "--size",
                   str(size)]
            if kind == "seed":
                cmd.append("--no-cache")
            subprocess.run(cmd, check=True, env=self.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            summary = ort_profile.summarize(prof, runs=3)
            log(f"{ckpt} profile {kind}: {summary['total_ms']:.0f} ms of operators per run")
            flops = ort_profile.count_flops(str(self.model(ckpt, kind)), str(self.images[0]), size)
            res[kind] = {"summary": summary, "flops": flops}
        self.results.setdefault("profile", {})[ckpt] = res

    def ceiling(self) -> None:
        import ceiling

        log("compute ceiling (single-Conv ONNX models)")
        self.results["ceiling"] = ceiling.measure(threads=os.cpu_count() or 1, reps=7)


def parse_predict_seconds(stderr: str, wall: float) -> float:
    """Seconds spent on images by `kprcnn predict`: from its own 'done: ... in X s' line when present, else wall
    time minus the load time it prints."""
    for line in stderr.splitlines():
        if line.startswith("done:") and " in " in line and " s (" in line:
            return float(line.split(" in ")[-1].split(" s (")[0])
    load_ms = 0.0
    for line in stderr.splitlines():
        if line.startswith("loaded ") and " in " in line:
            load_ms = float(line.split(" in ")[1].split(" ms")[0])
    return wall - load_ms / 1000


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        flags = Path("/proc/cpuinfo").read_text()
        isa = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8") if f" {f}" in flags]
    except OSError:
        isa = []
    from importlib.metadata import version  # not `import torch` here: it registers its own onnx protos

    kprcnn_ort = "?"  # filled in by Bench.prepare (kprcnn info)
    return {"cpu": cpu, "cores": os.cpu_count(), "isa": isa, "python": platform.python_version(),
            "onnxruntime_pypi": version("onnxruntime"), "pillow": version("Pillow"), "torch": version("torch"),
            "kprcnn_onnxruntime": kprcnn_ort, "kernel": platform.release()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build", type=Path, default=ROOT / "build")
    p.add_argument("--out", type=Path, default=ROOT / "build" / "bench")
    p.add_argument("--models", default="face,allpass", help="checkpoints to measure (face, allpass)")
    p.add_argument("--threshold", type=float, default=0.8)
    p.add_argument("--reps", type=int, default=5, help="timed warm runs per image and pipeline")
    p.add_argument("--eager-reps", type=int, default=2)
    p.add_argument("--cold-reps", type=int, default=3)
    p.add_argument("--lever-reps", type=int, default=3)
    p.add_argument("--skip-eager", action="store_true")
    p.add_argument("--only", default="warm,cold,folder,levers,profile,ceiling")
    p.add_argument("--publish", action="store_true", help="copy the report to bench/RESULTS.md and bench/results.png")
    p.add_argument("--resume", action="store_true", help="keep the steps OUT/results.json already has")
    args = p.parse_args()
    args.models = [m for m in args.models.split(",") if m]
    only = set(args.only.split(","))
    bench = Bench(args)
    bench.results["machine"] = machine()
    bench.results["settings"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    results_path = bench.out / "results.json"
    if args.resume and results_path.exists():  # keep the steps a previous (interrupted) run finished
        previous = json.loads(results_path.read_text())
        for key, value in previous.items():
            if key not in ("machine", "settings"):
                bench.results[key] = value
    bench.results.setdefault("done", [])
    bench.results.setdefault("load", [])
    started = time.time()
    bench.prepare()

    def step(name: str, fn, *fn_args) -> None:
        if name in bench.results["done"]:
            log(f"{name}: kept from the previous run (--resume)")
            return
        before = loadavg()
        fn(*fn_args)
        bench.results["done"].append(name)
        bench.results["load"].append({"step": name, "before": before, "after": loadavg()})
        results_path.write_text(json.dumps(bench.results, indent=1))

    for ckpt in args.models:
        for name in ("warm", "cold", "folder", "levers", "profile"):
            if name in only:
                step(f"{name}:{ckpt}", getattr(bench, name), ckpt)
    if "ceiling" in only:
        step("ceiling", bench.ceiling)
    bench.results["minutes"] = bench.results.get("minutes", 0) + (time.time() - started) / 60
    results_path.write_text(json.dumps(bench.results, indent=1))
    import report

    report.write(bench.results, bench.out, publish=HERE if args.publish else None)
    log(f"report: {bench.out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
