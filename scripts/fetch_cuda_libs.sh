#!/usr/bin/env bash
# NVIDIA's CUDA 12, cuDNN 9 and TensorRT 10 libraries from their official PyPI wheels, for ONNX Runtime's GPU build
# (scripts/fetch_onnxruntime.sh --gpu): `pip install --target DEST` (default build/third-party/nvidia), pinned. Not
# part of `make setup` (~4 GB, and only useful on a machine with an NVIDIA GPU and its driver). Prints the
# LD_LIBRARY_PATH that kprcnn --provider cuda|tensorrt needs. The driver (libcuda.so.1) comes with the GPU's driver
# install, never from here. Versions: what ONNX Runtime 1.22's GPU build is built against (CUDA 12.x, cuDNN 9.x).
# TensorRT: ONNX Runtime 1.22's TensorRT provider needs TensorRT 10 (libnvinfer.so.10); its PyPI packages
# (tensorrt-cu12-libs 10.x) are stubs that download the real wheel from NVIDIA's own index at install time, which
# only the package registries' ordinary clients reach here -- measured: "The installation of tensorrt-cu12-libs for
# version 10.9.0.34 failed ... pypi.nvidia.com is not reachable". Where it is reachable, add
# tensorrt-cu12-libs==10.9.0.34 to the list below (KPRCNN_TENSORRT=1 does).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$here/build/third-party/nvidia}
packages=(
  nvidia-cuda-runtime-cu12==12.9.79 nvidia-cublas-cu12==12.9.1.4 nvidia-cufft-cu12==11.4.1.4
  nvidia-curand-cu12==10.3.10.19 nvidia-cuda-nvrtc-cu12==12.9.86 nvidia-cudnn-cu12==9.10.2.21
)
[[ ${KPRCNN_TENSORRT:-0} == 1 ]] && packages+=(tensorrt-cu12-libs==10.9.0.34)
read -r -a pip <<<"${KPRCNN_PIP:-$here/build/venv/bin/python -m pip}"
"${pip[@]}" install --quiet --disable-pip-version-check --no-deps --target "$dest" "${packages[@]}"
paths=$(find "$dest" -name 'lib*.so*' -printf '%h\n' | sort -u | paste -sd:)
echo "fetch_cuda_libs: ready in $dest; for kprcnn --provider cuda|tensorrt:"
echo "  export LD_LIBRARY_PATH=$paths\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
