#!/usr/bin/env bash
# `make bench`: build kprcnn, make sure of BUILD_DIR/venv (scripts/make_venv.sh: Debian's torch, torchvision,
# Pillow, numpy + pinned onnxruntime, onnx and OpenVINO from PyPI), then with its Python: bench/fast_mode.py (the
# trained model's fast-mode levers on both engines, AP beside speed; ~15 min), bench/engines.py (Python onnxruntime,
# Python OpenVINO and kprcnn on each engine, same graphs; ~20 min) and bench/run_bench.py (the pipelines side by
# side, which takes its AP figures from the first and appends the engines' tables to its report).
# Usage: bench/run.sh [BUILD_DIR] [run_bench.py options...]   e.g. bench/run.sh build --publish
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
shift || true
build=$(cd "$build" && pwd)
venv=$build/venv
"$here/scripts/make_venv.sh" "$venv"
cmake --build "$build" --target kprcnn_cli
publish=()
for arg in "$@"; do [[ $arg == --publish ]] && publish=(--publish); done
"$venv/bin/python" "$here/bench/fast_mode.py" --build "$build" --out "$build/bench/fast-mode" "${publish[@]}"
"$venv/bin/python" "$here/bench/engines.py" --build "$build" --out "$build/bench" "${publish[@]}"
exec "$venv/bin/python" "$here/bench/run_bench.py" --build "$build" --out "$build/bench" "$@"
