#!/usr/bin/env bash
# Fresh-machine setup for kprcnn on Debian 12: system packages, the ONNX Runtime SDK, configure + build.
# Idempotent and fast on re-runs: packages already installed are not touched, the SDK is fetched once,
# the build is incremental. Usage: scripts/setup.sh [BUILD_DIR]   (default: build)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}

# Compiler and build tools; image codecs; JSON, CLI and test libraries; PyTorch for the exporter and the
# parity tests (Debian's CPU builds: torch 1.13, torchvision 0.14); Maven to fetch ONNX Runtime.
packages=(
  g++ cmake ninja-build pkg-config make unzip ca-certificates clang-format
  libjpeg62-turbo-dev libpng-dev zlib1g-dev nlohmann-json3-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libmicrohttpd-dev wrk chromium  # kprcnn serve's HTTP library; its load and browser tests
  nginx yamllint                  # tests/scale: replicas behind nginx, lint of docs/deploy/kubernetes.yaml
  clang libclang-rt-14-dev        # make test-asan, make fuzz: Clang 14's libFuzzer and sanitizer runtimes
  python3 python3-torch python3-torchvision python3-onnx python3-pil python3-numpy python3-pytest
  python3-dev                     # Python.h for the Python module (bindings/python)
  python3-venv fonts-dejavu-core  # build/venv (kprcnn quantize, make bench: onnxruntime from PyPI); the chart's font
  maven default-jre-headless
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

"$here/scripts/fetch_onnxruntime.sh" "$here/build/third-party/onnxruntime"
mkdir -p "$build"
# OpenVINO's C++ runtime from its PyPI wheel (the second engine, libkprcnn_openvino.so), with the venv's pip.
"$here/scripts/make_venv.sh" "$build/venv" --base
KPRCNN_PIP="$build/venv/bin/python -m pip" "$here/scripts/fetch_openvino.sh" "$here/build/third-party/openvino"
# kprcnn quantize (ONNX Runtime's Python tooling), make bench (Python onnxruntime and OpenVINO: the same wheel)
"$here/scripts/make_venv.sh" "$build/venv"
# kprcnn.ray and the Triton client (tests/scale): Ray Data + tritonclient in a venv of their own (numpy 2)
"$here/scripts/make_scale_venv.sh" "$build/venv-scale"

# Configure once; again from scratch when the compiler or KPRCNN_CMAKE_ARGS differ from what this script last
# configured the folder with (a Makefile change of a build's flags then takes effect without `make clean`).
configure="CC=${CC:-} CXX=${CXX:-} ${KPRCNN_CMAKE_ARGS:-}"
stamp=$build/.kprcnn-configure
if [[ -f $stamp && $(cat "$stamp") != "$configure" ]]; then
  echo "setup: $build was configured with '$(cat "$stamp")', now '$configure': configuring it again"
  rm -rf "$build/CMakeCache.txt" "$build"/CMakeFiles/[0-9]* "$build/build.ninja"
fi
if [[ ! -f $build/build.ninja ]]; then
  cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release ${KPRCNN_CMAKE_ARGS:-}
  printf '%s\n' "$configure" >"$stamp"
fi
cmake --build "$build" -j "$(nproc)"
