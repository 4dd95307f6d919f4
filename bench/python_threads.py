#!/usr/bin/env python3
"""Throughput of the Python module's Detector.predict from 1, 2 and 4 Python threads on one Detector.

Run with the build venv's Python after building (the module from <build>/python):
  build/venv/bin/python bench/python_threads.py [--build build] [--engine ort] [--seconds 20] [--run-threads 1]
Never part of the test run; bench/PYTHON.md holds the published figures.

Each Detector is made with concurrent_runs = the thread count (so ONNX Runtime / OpenVINO expect that many calls
at once) and `--run-threads` intra-op threads per run (default 1: one core per call, so that what scales is the
number of Python threads, not the engine's own threading). Every thread predicts the same decoded 640x480 face
scene (kprcnn synth's validation seed) at --size 512 for the measured time, after one warm-up call per thread.
"serialised" rows run the same threads with a Python lock around predict: what holding the GIL through
inference would give (one predict at a time), the baseline the released GIL is compared with.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def trained_model(build: Path) -> Path:
    """The repository's trained model as the tests export it (tests/model/model_store; exported if missing)."""
    sys.path[:0] = [str(SOURCE / "tests" / "python_module"), str(SOURCE / "tests" / "model"), str(SOURCE / "python")]
    os.environ.setdefault("KPRCNN_BUILD_DIR", str(build))
    from conftest import _export_trained  # noqa: E402
    from model_store import MODEL, stored_folder, trained_key  # noqa: E402

    return stored_folder(trained_key(), _export_trained) / MODEL


def throughput(detector, image, threads: int, seconds: float, serialise: bool) -> float:
    lock = threading.Lock()
    counts = [0] * threads
    start = threading.Barrier(threads + 1)
    stop = threading.Event()

    def work(i):
        detector.predict(image)  # warm-up: this thread's first run (OpenVINO: its infer request)
        start.wait()
        while not stop.is_set():
            if serialise:
                with lock:
                    detector.predict(image)
            else:
                detector.predict(image)
            counts[i] += 1

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    start.wait()
    began = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in pool:
        t.join()
    return sum(counts) / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", type=Path, default=SOURCE / "build")
    parser.add_argument("--model", type=Path, help="default: the trained face model (models/face, exported)")
    parser.add_argument("--engine", default="ort", choices=["ort", "openvino", "auto"])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--run-threads", type=int, default=1, help="intra-op threads per predict")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured time per row")
    parser.add_argument("--no-serialised", action="store_true", help="skip the lock-around-predict rows")
    args = parser.parse_args()

    sys.path.insert(0, str(args.build / "python"))
    sys.path.insert(0, str(SOURCE / "python"))
    import kprcnn
    from kprcnn_export.synth import face_scene

    model = args.model or trained_model(args.build)
    pixels = __import__("numpy").asarray(face_scene(640, 480, seed=2, first_index=0))
    image = kprcnn.Image(pixels)
    print(f"kprcnn {kprcnn.__version__}, {model.name}, engine {args.engine}, {args.run_threads} intra-op thread(s) "
          f"per run, {args.seconds:.0f} s per row; CPU: {cpu_name()} ({os.cpu_count()} logical cores); "
          f"load average before: {os.getloadavg()[0]:.2f}")
    rows = []
    base = None
    for threads in args.threads:
        detector = kprcnn.Detector(model, engine=args.engine, threads=args.run_threads, concurrent_runs=threads,
                                   no_cache=True)  # fmt: skip
        modes = [False] if args.no_serialised or threads == 1 else [False, True]
        for serialise in modes:
            rate = throughput(detector, image, threads, args.seconds, serialise)
            base = base or rate
            rows.append((threads, "serialised (lock)" if serialise else "GIL released", rate, rate / base))
            print(f"  {threads} thread(s) {rows[-1][1]:>17}: {rate:6.2f} images/s  x{rate / base:.2f}", flush=True)
        engine = detector.engine
    print(f"\nengine: {engine}; load average after: {os.getloadavg()[0]:.2f}\n")
    print("| Python threads | predict | images/s | vs 1 thread |")
    print("|---|---|---|---|")
    for threads, mode, rate, ratio in rows:
        print(f"| {threads} | {mode} | {rate:.2f} | x{ratio:.2f} |")


if __name__ == "__main__":
    main()
