#!/usr/bin/env bash
# A venv for `kprcnn quantize` and `make bench`: Debian's Python and its packages (torch, torchvision, Pillow, numpy:
# --system-site-packages) plus two pinned PyPI packages: onnxruntime, the release the C++ SDK is
# (scripts/fetch_onnxruntime.sh), so that the quantisation tooling and the seed pipeline run the same kernels as
# kprcnn; and onnx 1.17 (the quantisation tooling needs onnx.reference, which Debian 12's onnx 1.12 lacks; the
# exporter keeps using Debian's); and pycocotools, the reference for COCO keypoint AP (models/README.md's figure,
# tests); and OpenVINO, installed from the wheel scripts/fetch_openvino.sh fetched and checked (the Python side of
# make bench's engine comparison runs the same OpenVINO build as kprcnn's engine); and nanobind + scikit-build-core,
# which build the Python module `kprcnn` (python/kprcnn_module: CMake finds nanobind through this venv's Python, and
# `pip install --no-build-isolation .` builds the wheel with both). Idempotent: seconds when the venv already has
# them. --base: only create the venv (setup.sh uses its pip to fetch OpenVINO first).
# Usage: scripts/make_venv.sh VENV_DIR [--base]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv=${1:?usage: make_venv.sh VENV_DIR}
ORT_VERSION=$(sed -n 's/^ORT_VERSION=//p' "$here/scripts/fetch_onnxruntime.sh")
ONNX_VERSION=1.17.0
PYCOCOTOOLS_VERSION=2.0.10
NANOBIND_VERSION=3.1.0
SKBUILD_CORE_VERSION=1.1.0
if [[ ! -x $venv/bin/python ]]; then
  /usr/bin/python3 -m venv --system-site-packages "$venv"
fi
[[ ${2:-} == --base ]] && exit 0
if ! "$venv/bin/python" -c "import onnxruntime, onnx, sys; sys.exit(onnxruntime.__version__ != '$ORT_VERSION' or onnx.__version__ != '$ONNX_VERSION')" 2>/dev/null; then
  echo "setup: pip install onnxruntime==$ORT_VERSION onnx==$ONNX_VERSION into $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "onnxruntime==$ORT_VERSION" "onnx==$ONNX_VERSION"
fi
if ! "$venv/bin/python" -c "import pycocotools, importlib.metadata as m, sys; sys.exit(m.version('pycocotools') != '$PYCOCOTOOLS_VERSION')" 2>/dev/null; then
  echo "setup: pip install pycocotools==$PYCOCOTOOLS_VERSION into $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "pycocotools==$PYCOCOTOOLS_VERSION"
fi
if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('nanobind') != '$NANOBIND_VERSION' or m.version('scikit-build-core') != '$SKBUILD_CORE_VERSION')" 2>/dev/null; then
  echo "setup: pip install nanobind==$NANOBIND_VERSION scikit-build-core==$SKBUILD_CORE_VERSION into $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "nanobind==$NANOBIND_VERSION" \
    "scikit-build-core==$SKBUILD_CORE_VERSION"
fi
OV_VERSION=$(sed -n 's/^OV_VERSION=//p' "$here/scripts/fetch_openvino.sh")
OV_WHEEL=$here/build/third-party/openvino/$(sed -n 's/^OV_WHEEL=//p' "$here/scripts/fetch_openvino.sh")
if ! "$venv/bin/python" -c "import openvino, sys; sys.exit(not openvino.__version__.startswith('$OV_VERSION-'))" 2>/dev/null; then
  [[ -f $OV_WHEEL ]] || "$here/scripts/fetch_openvino.sh"
  echo "setup: pip install openvino $OV_VERSION (the fetched wheel) into $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$OV_WHEEL"
fi
