#!/usr/bin/env python3
"""Images/s of `python -m kprcnn.ray` with 1 and 2 actors beside `kprcnn predict` on the same folder.

Run with build/venv-scale's Python after building (scripts/make_scale_venv.sh; the module from <build>/python):
  build/venv-scale/bin/python bench/ray_batch.py [--build build] [--images 48] [--engine ort]
Never part of the test run; README "Scaling out" quotes the figures.

The folder: --images face scenes (kprcnn synth, 640x480 PNG, drawn by Debian's Python). Each row is one command run
end to end, wall clock from start to exit, all on this machine: `kprcnn predict --no-draw` (one process, its
default threads), then kprcnn.ray on a local Ray instance started by the command (so Ray's start-up is in its time:
what a user pays per job on one box) with 1 actor x all cores' threads and with N actors x 1 thread. Rows run
alternately, --repeats times; the best of each is kept. Results are checked equal in count to the predict run's.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=str(SOURCE / "build"))
    ap.add_argument("--model", default=None, help="default: the trained face model from the test-model store")
    ap.add_argument("--images", type=int, default=48)
    ap.add_argument("--engine", default="ort")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    build = Path(args.build).resolve()
    cores = os.cpu_count() or 1
    debian_python = os.environ.get("KPRCNN_PYTHON", "/usr/bin/python3")
    env = dict(os.environ, PYTHONPATH=str(SOURCE / "python"), KPRCNN_MODEL_CACHE=str(build / "test-models"))

    model = args.model
    if model is None:
        sys.path.insert(0, str(SOURCE / "tests" / "scale"))
        from trained_model import trained_model  # noqa: E402 (the tests' trained face model: one definition)

        model = str(trained_model(env))

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        draw = ("import sys\nfrom kprcnn_export.synth import face_scene\n"
                f"for i in range({args.images}):\n"
                "    face_scene(640, 480, seed=2, first_index=50 * i).save(sys.argv[1] + f'/scene{i:03d}.png')\n")
        subprocess.run([debian_python, "-c", draw, str(folder)], check=True, env=env)
        ray_env = dict(os.environ, PYTHONPATH=str(build / "python"), RAY_USAGE_STATS_ENABLED="0")
        common = ["--model", model, "--input", str(folder)]
        rows = {
            "kprcnn predict": lambda out: [str(build / "bin" / "kprcnn"), "predict", *common, "--output", out,
                                           "--engine", args.engine, "--no-draw", "--no-cache"],
            f"kprcnn.ray 1 actor x {cores} threads": lambda out: [sys.executable, "-m", "kprcnn.ray", *common,
                                                                  "--output", out, "--actors", "1", "--threads",
                                                                  str(cores), "-o", f"engine={args.engine}"],
            f"kprcnn.ray {cores} actors x 1 thread": lambda out: [sys.executable, "-m", "kprcnn.ray", *common,
                                                                  "--output", out, "--actors", str(cores),
                                                                  "--threads", "1", "-o", f"engine={args.engine}"],
        }  # fmt: skip
        best = {}
        for repeat in range(args.repeats):
            for name, cmd in rows.items():
                out = Path(tmp) / f"out-{len(best)}-{repeat}-{name.split()[0]}-{abs(hash(name))}"
                t0 = time.monotonic()
                r = subprocess.run(cmd(str(out)), capture_output=True, text=True, env=ray_env)
                dt = time.monotonic() - t0
                if r.returncode != 0:
                    sys.exit(f"{name} failed:\n{r.stderr[-3000:]}")
                n = len(list(out.glob("*.json")))
                if n != args.images:
                    sys.exit(f"{name}: {n} results for {args.images} images")
                best[name] = min(best.get(name, dt), dt)
    base = args.images / best["kprcnn predict"]
    print(f"CPU: {cpu_name()}, {cores} cores; {args.images} images 640x480, engine {args.engine}, best of "
          f"{args.repeats}")
    print("| command | wall s | images/s | vs kprcnn predict |")
    print("|---|---:|---:|---:|")
    for name, dt in best.items():
        print(f"| {name} | {dt:.2f} | {args.images / dt:.2f} | {args.images / dt / base:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
