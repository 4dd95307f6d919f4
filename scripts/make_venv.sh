#!/usr/bin/env bash
# A venv for `kprcnn quantize` and `make bench`: Debian's Python and its packages (torch, torchvision, Pillow, numpy:
# --system-site-packages) plus two pinned PyPI packages: onnxruntime, the release the C++ SDK is
# (scripts/fetch_onnxruntime.sh), so that the quantisation tooling and the seed pipeline run the same kernels as
# kprcnn; and onnx 1.17 (the quantisation tooling needs onnx.reference, which Debian 12's onnx 1.12 lacks; the
# exporter keeps using Debian's); and pycocotools, the reference for COCO keypoint AP (models/README.md's figure,
# tests). Idempotent: seconds when the venv already has them.
# Usage: scripts/make_venv.sh VENV_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv=${1:?usage: make_venv.sh VENV_DIR}
ORT_VERSION=$(sed -n 's/^ORT_VERSION=//p' "$here/scripts/fetch_onnxruntime.sh")
ONNX_VERSION=1.17.0
PYCOCOTOOLS_VERSION=2.0.10
if [[ ! -x $venv/bin/python ]]; then
  /usr/bin/python3 -m venv --system-site-packages "$venv"
fi
if ! "$venv/bin/python" -c "import onnxruntime, onnx, sys; sys.exit(onnxruntime.__version__ != '$ORT_VERSION' or onnx.__version__ != '$ONNX_VERSION')" 2>/dev/null; then
  echo "setup: pip install onnxruntime==$ORT_VERSION onnx==$ONNX_VERSION into $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "onnxruntime==$ORT_VERSION" "onnx==$ONNX_VERSION"
fi
if ! "$venv/bin/python" -c "import pycocotools, importlib.metadata as m, sys; sys.exit(m.version('pycocotools') != '$PYCOCOTOOLS_VERSION')" 2>/dev/null; then
  echo "setup: pip install pycocotools==$PYCOCOTOOLS_VERSION into $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "pycocotools==$PYCOCOTOOLS_VERSION"
fi
