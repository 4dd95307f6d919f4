#!/usr/bin/env python3
"""The engines side by side (bench/ only, in `make bench`): the same graphs on ONNX Runtime and OpenVINO, each from
Python (the recipe, bench/recipe.py) and from kprcnn, measured in ONE run, interleaved.

Pipelines, per checkpoint (bench/models.py: face = the trained model, allpass = a random resnet50_fpn) and graph
(seed: the recipe's export; exact: kprcnn's, threshold in the graph):
  py-ort        recipe.py --backend ort                 Python onnxruntime, the recipe's session (defaults)
  py-ov         recipe.py --backend openvino            Python OpenVINO, LATENCY hint, f32 pinned (equal work)
  kprcnn-ort    kprcnn bench --worker --engine ort
  kprcnn-ov     kprcnn bench --worker --engine openvino (f32: exact mode)
  kprcnn-auto   kprcnn bench --worker (no --engine: what users get)
and, answers changed (bf16), for the fast mode: py-ov-default (OpenVINO's own precision choice for this CPU) and
kprcnn-ov-bf16 (--precision bf16).

Warm: each pipeline a persistent process, one run per image per round, pipelines in a rotating order; the figure is
the median of the model stage ("session": the engine's run, same input size on every pipeline) and of the whole
pipeline ("total": decode to encoded PNG). Cold: a fresh process per run, start -> annotated file written, caches
warm (kprcnn's model cache; Python has none). Folder: 20 images (face) / 5 (allpass), one process per pipeline.

The C++ tax (issue: kprcnn's ONNX Runtime session was 5-10 % slower than Python's on the same graph): the seed graph
in py-ort and in kprcnn-ort with each session setting that differs from Python's defaults turned back on (thread
spinning, memory pattern), interleaved the same way ("tax" table).

Usage: engines.py --build BUILD --out OUT [--reps 3] [--checkpoints face,allpass] [--publish]
Writes OUT/engines.md and OUT/engines.json; --publish copies the report to bench/ENGINES.md.
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
from run_bench import Worker, log, machine, timed_process  # noqa: E402

EQUAL = ("py-ort", "py-ov", "kprcnn-ort", "kprcnn-ov", "kprcnn-auto")
FAST = ("py-ov-default", "kprcnn-ov-bf16")
GRAPHS = ("seed", "exact")
IMAGES = ("img640x960", "img1920x1080")


class Engines:
    def __init__(self, args):
        self.args = args
        self.out = args.out.resolve()
        self.models = self.out / "models"
        self.images = self.out / "images"
        self.logs = self.out / "logs" / "engines"
        self.work = self.out / "work" / "engines"
        self.kprcnn = (args.build / "bin" / "kprcnn").resolve()
        self.py = sys.executable
        self.cache = self.out / "model-cache"
        self.results: dict = {"machine": machine(), "warm": {}, "cold": {}, "folder": {}, "load": {}}

    def env(self) -> dict:
        return dict(os.environ, XDG_CACHE_HOME=str(self.cache))

    def model(self, ckpt: str, graph: str) -> Path:
        return self.models / f"{ckpt}-{graph}.onnx"

    def prepare(self) -> None:
        for d in (self.logs, self.work):
            d.mkdir(parents=True, exist_ok=True)
        subprocess.run([os.environ.get("KPRCNN_PYTHON", "/usr/bin/python3"), str(HERE / "models.py"), str(self.out),
                        "--threshold", "0.8"], check=True)  # fmt: skip
        info = subprocess.run([str(self.kprcnn), "info", str(self.model("face", "exact"))], capture_output=True,
                              text=True, check=True).stdout  # fmt: skip
        self.results["machine"]["kprcnn_engines"] = [line for line in info.splitlines()[:3]]
        import openvino

        self.results["machine"]["openvino_pypi"] = openvino.__version__

    def cmd(self, pipeline: str, model: Path, mode: list[str]) -> list[str]:
        recipe = [self.py, str(HERE / "recipe.py"), "--model", str(model)]
        if pipeline == "py-ort":
            return recipe + ["--backend", "ort"] + mode
        if pipeline == "py-ov":
            return recipe + ["--backend", "openvino", "--ov-precision", "f32"] + mode
        if pipeline == "py-ov-default":
            return recipe + ["--backend", "openvino", "--ov-precision", "default"] + mode
        engine = {"kprcnn-ort": ["--engine", "ort"], "kprcnn-ov": ["--engine", "openvino"], "kprcnn-auto": [],
                  "kprcnn-ov-bf16": ["--engine", "openvino", "--precision", "bf16"]}[pipeline]  # fmt: skip
        return [str(self.kprcnn), *mode[:1], "-m", str(model), *engine, *mode[1:]]

    def warm(self, ckpt: str, graph: str) -> None:
        model = self.model(ckpt, graph)
        pipelines = EQUAL + FAST
        workers = {}
        for p in pipelines:
            mode = ["bench", "--worker"] if p.startswith("kprcnn") else ["--worker"]
            workers[p] = Worker(f"{ckpt}-{graph}-{p}", self.cmd(p, model, mode), self.logs, self.env())
            self.results["load"][f"{ckpt}/{graph}/{p}"] = workers[p].ready
        runs = {p: {"session": [], "total": []} for p in pipelines}
        out = self.work / f"{ckpt}-{graph}"
        out.mkdir(parents=True, exist_ok=True)
        for rep in range(-1, self.args.reps):  # -1: warm-up, not recorded
            for i, name in enumerate(IMAGES):
                order = pipelines[rep % len(pipelines):] + pipelines[: rep % len(pipelines)]
                for p in order:
                    doc = workers[p].run(self.images / f"{name}.jpg", out / f"{p}-{name}")
                    if rep >= 0:
                        runs[p]["session"].append(doc["stages"]["session"])
                        runs[p]["total"].append(doc["stages"]["total"])
            log(f"{ckpt}/{graph} round {rep}: " + ", ".join(
                f"{p} {runs[p]['session'][-1]:.0f}" for p in pipelines if runs[p]["session"]))
        for w in workers.values():
            w.close()
        self.results["warm"][f"{ckpt}/{graph}"] = {
            p: {k: statistics.median(v) for k, v in r.items()} | {"n": len(r["session"])} for p, r in runs.items()}

    def tax(self, ckpt: str) -> None:
        """kprcnn's ONNX Runtime session settings against Python's defaults, on the seed graph."""
        model = self.model(ckpt, "seed")
        variants = {"py-ort": None, "kprcnn-ort": "", "kprcnn-ort spin": "spin=1", "kprcnn-ort pattern": "pattern=1",
                    "kprcnn-ort spin+pattern": "spin=1,pattern=1"}  # fmt: skip
        workers = {}
        for name, variant in variants.items():
            if variant is None:
                cmd = self.cmd("py-ort", model, ["--worker"])
            else:
                cmd = [str(self.kprcnn), "bench", "--worker", "-m", str(model), "--engine", "ort"]
                cmd += ["--variant", variant] if variant else []
            workers[name] = Worker(f"tax-{ckpt}-{name.replace(' ', '_')}", cmd, self.logs, self.env())
        runs = {n: [] for n in variants}
        names = list(variants)
        for rep in range(-1, self.args.reps):
            for i, image in enumerate(IMAGES):
                k = (rep + i) % len(names)
                for n in names[k:] + names[:k]:
                    doc = workers[n].run(self.images / f"{image}.jpg", None)
                    if rep >= 0:
                        runs[n].append(doc["stages"]["session"])
        for w in workers.values():
            w.close()
        self.results.setdefault("tax", {})[ckpt] = {n: statistics.median(v) for n, v in runs.items()}
        log(f"tax {ckpt}: " + ", ".join(f"{n} {v:.1f}" for n, v in self.results["tax"][ckpt].items()))

    def cold(self, ckpt: str) -> None:
        model = self.model(ckpt, "exact")
        image = self.images / "img640x960.jpg"
        res: dict = {p: [] for p in ("py-ort", "py-ov", "kprcnn-ort", "kprcnn-ov")}
        for rep in range(-1, self.args.cold_reps):  # -1 fills kprcnn's model cache
            for p in res:
                target = self.work / f"cold-{ckpt}-{p}" / "img640x960.png"
                target.parent.mkdir(parents=True, exist_ok=True)
                if p.startswith("py"):
                    cmd = self.cmd(p, model, ["--once", str(image), str(target)])
                else:
                    cmd = self.cmd(p, model, ["predict", "-i", str(image), "-o", str(target.parent), "-q"])
                r = timed_process(cmd, target, self.env(), self.logs / f"cold-{ckpt}-{p}.log")
                if r["rc"] != 0:
                    raise RuntimeError(f"cold {p}: exit {r['rc']} (see {self.logs})")
                if rep >= 0:
                    res[p].append(r["first_file_ms"])
        self.results["cold"][ckpt] = {p: statistics.median(v) for p, v in res.items()}

    def folder(self, ckpt: str) -> None:
        count = 20 if ckpt == "face" else 5
        src = self.images / "folder"
        folder = self.work / f"folder-{ckpt}"
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for f in sorted(src.glob("*.jpg"))[:count]:
            os.link(f, folder / f.name)
        model = self.model(ckpt, "exact")
        res = {}
        for p in ("py-ort", "py-ov", "kprcnn-ort", "kprcnn-ov"):
            out = self.work / f"folder-out-{ckpt}-{p}"
            shutil.rmtree(out, ignore_errors=True)
            if p.startswith("py"):
                cmd = self.cmd(p, model, ["--folder", str(folder), str(out)])
            else:
                cmd = self.cmd(p, model, ["predict", "-i", str(folder), "-o", str(out), "-q"])
            t = time.perf_counter()
            subprocess.run(cmd, check=True, env=self.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            seconds = time.perf_counter() - t
            res[p] = {"images": count, "seconds": seconds, "images_per_s": count / seconds}
            log(f"folder {ckpt} {p}: {count / seconds:.2f} images/s")
        self.results["folder"][ckpt] = res

    def report(self) -> str:
        m = self.results["machine"]
        lines = [
            "# Engines side by side",
            "",
            f"Machine: {m['cpu']}, {m['cores']} cores, ISA {' '.join(m['isa'])}; Python onnxruntime "
            f"{m['onnxruntime_pypi']}, Python OpenVINO {m['openvino_pypi']}; kprcnn: {'; '.join(m['kprcnn_engines'])}. "
            f"Generated by `bench/engines.py` ({self.results.get('date', time.strftime('%Y-%m-%d'))}), rounds per "
            f"checkpoint {self.results.get('reps', {c: self.args.reps for c in self.args.checkpoints})} (each a run of "
            "every pipeline on a 640x960 and a 1920x1080 scene); medians. "
            "Ratios are taken within this one run (pipelines interleaved); compare ratios, not milliseconds, "
            "across machines.",
            "",
            "## Warm: model stage (the engine's run), ms",
            "",
            "Same graph, same input size (512 shorter side) on every pipeline. `x py-<engine>`: the same engine from "
            "Python on the same graph divided by this pipeline (> 1: kprcnn faster). `x py-ort`: the recipe as it "
            "is divided by this pipeline.",
            "",
            "| checkpoint / graph | pipeline | model ms | total ms | x same engine from Python | x py-ort |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for key, runs in self.results["warm"].items():
            base = runs["py-ort"]["session"]
            for p in EQUAL + FAST:
                r = runs[p]
                same = {"kprcnn-ort": "py-ort", "kprcnn-ov": "py-ov", "kprcnn-ov-bf16": "py-ov-default"}.get(p)
                same_x = f"{runs[same]['session'] / r['session']:.2f}" if same else ""
                label = p + (" (answers change: bf16)" if p in FAST else "")
                lines.append(f"| {key} | {label} | {r['session']:.1f} | {r['total']:.1f} | {same_x} | "
                             f"{base / r['session']:.2f} |")
        if self.results.get("tax"):
            lines += ["", "## The C++ tax: ONNX Runtime session settings, seed graph, model stage ms", "",
                      "kprcnn's defaults turn thread spinning and the memory pattern off (Python's defaults have both "
                      "on); each row turns them back on. `x py-ort`: py-ort's time / this row's (> 1: faster than "
                      "Python).", "", "| checkpoint | pipeline | model ms | x py-ort |", "|---|---|---:|---:|"]
            for ckpt, r in self.results["tax"].items():
                for n, v in r.items():
                    lines.append(f"| {ckpt} | {n} | {v:.1f} | {r['py-ort'] / v:.3f} |")
        lines += ["", "## Model load in a warm process (ms): engine set-up to ready, kprcnn's cache filled", "",
                  "| checkpoint / graph | " + " | ".join(EQUAL + FAST) + " |", "|---|" + "---:|" * len(EQUAL + FAST)]
        for key in self.results["warm"]:
            cells = []
            for p in EQUAL + FAST:
                r = self.results["load"].get(f"{key}/{p}", {})
                hit = " (cache)" if r.get("cache_hit") else ""
                cells.append(f"{r.get('load_ms', float('nan')):.0f}{hit}")
            lines.append(f"| {key} | " + " | ".join(cells) + " |")
        lines += ["", "## Cold: process start to the annotated PNG of one 640x960 image (exact graph), ms", "",
                  "kprcnn with its model cache filled (ONNX Runtime: optimised graph; OpenVINO: compiled model); "
                  "Python has no cache.", "", "| checkpoint | " + " | ".join(self.results["cold"].get("face", {})) +
                  " |", "|---|" + "---:|" * len(self.results["cold"].get("face", {}))]
        for ckpt, r in self.results["cold"].items():
            lines.append(f"| {ckpt} | " + " | ".join(f"{v:.0f}" for v in r.values()) + " |")
        lines += ["", "## Folder throughput (exact graph, annotated PNGs written), images/s", "",
                  "| checkpoint | images | " + " | ".join(next(iter(self.results["folder"].values()), {})) + " |",
                  "|---|---:|" + "---:|" * len(next(iter(self.results["folder"].values()), {}))]
        for ckpt, r in self.results["folder"].items():
            lines.append(f"| {ckpt} | {next(iter(r.values()))['images']} | " +
                         " | ".join(f"{v['images_per_s']:.2f}" for v in r.values()) + " |")
        return "\n".join(lines) + "\n"

    def run(self) -> None:
        self.results["reps"] = {c: self.args.reps for c in self.args.checkpoints}
        self.results["date"] = time.strftime("%Y-%m-%d")
        if self.args.report_only:  # re-render OUT/engines.json (e.g. after a change to this report)
            self.results = json.loads((self.out / "engines.json").read_text())
            text = self.report()
            (self.out / "engines.md").write_text(text)
            print(text)
            if self.args.publish:
                shutil.copy(self.out / "engines.md", HERE / "ENGINES.md")
            return
        self.prepare()
        for ckpt in self.args.checkpoints:
            for graph in GRAPHS:
                self.warm(ckpt, graph)
            self.tax(ckpt)
            self.cold(ckpt)
            self.folder(ckpt)
        (self.out / "engines.json").write_text(json.dumps(self.results, indent=1))
        text = self.report()
        (self.out / "engines.md").write_text(text)
        print(text)
        if self.args.publish:
            shutil.copy(self.out / "engines.md", HERE / "ENGINES.md")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build", type=Path, default=ROOT / "build")
    p.add_argument("--out", type=Path, default=ROOT / "build" / "bench")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--cold-reps", type=int, default=3)
    p.add_argument("--checkpoints", type=lambda s: s.split(","), default=list(bench_models.CHECKPOINTS))
    p.add_argument("--publish", action="store_true")
    p.add_argument("--report-only", action="store_true", help="re-render OUT/engines.json; measure nothing")
    Engines(p.parse_args()).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
