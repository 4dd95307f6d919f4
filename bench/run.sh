#!/usr/bin/env bash
# `make bench`: build kprcnn, make the benchmark's venv (onnxruntime from PyPI, pinned), run bench/run_bench.py.
# Usage: bench/run.sh [BUILD_DIR] [run_bench.py options...]   e.g. bench/run.sh build --publish
# The venv (BUILD_DIR/bench-venv) sees Debian's torch, torchvision, Pillow and numpy (--system-site-packages) and
# adds onnxruntime (the same release as the C++ SDK, so that both sides run the same kernels) and onnx 1.17
# (ONNX Runtime's quantisation tooling needs onnx.reference; Debian 12's onnx 1.12 lacks it - venv only).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
shift || true
build=$(cd "$build" && pwd)
ORT_VERSION=1.22.0
ONNX_VERSION=1.17.0
venv=$build/bench-venv
if [[ ! -x $venv/bin/python ]]; then
  /usr/bin/python3 -m venv --system-site-packages "$venv"
fi
if ! "$venv/bin/python" -c "import onnxruntime, onnx, sys; sys.exit(onnxruntime.__version__ != '$ORT_VERSION' or onnx.__version__ != '$ONNX_VERSION')" 2>/dev/null; then
  "$venv/bin/pip" install --quiet "onnxruntime==$ORT_VERSION" "onnx==$ONNX_VERSION"
fi
cmake --build "$build" --target kprcnn_cli
exec "$venv/bin/python" "$here/bench/run_bench.py" --build "$build" --out "$build/bench" "$@"
