#!/usr/bin/env bash
# Fetch the OpenVINO C/C++ runtime into DEST (default: build/third-party/openvino) as
#   DEST/openvino/include/openvino/...   DEST/openvino/libs/libopenvino.so.*   DEST/openvino/cmake/OpenVINOConfig.cmake
# i.e. the `openvino/` folder of OpenVINO's official PyPI wheel, which carries the headers, the libraries (runtime,
# CPU plugin, ONNX frontend, TBB) and a relocatable CMake package. CMake finds it with
#   -DOpenVINO_DIR=DEST/openvino/cmake   (the default when DEST is build/third-party/openvino).
# Nothing from the wheel runs Python: kprcnn's OpenVINO engine (libkprcnn_openvino.so) links the C++ libraries.
#
# Source: `pip download openvino==$OV_VERSION` (pinned, SHA-256 checked, one wheel: CPython 3.11, manylinux_2_28
# x86-64; the C++ libraries inside are the same for every CPython tag). The Python packages of the project's venv
# (scripts/make_venv.sh) install the same wheel file, so the Python benchmarks run the same OpenVINO.
# Re-running is a no-op once DEST/.stamp matches. The wheel is kept as DEST/$OV_WHEEL.
set -euo pipefail

OV_VERSION=2026.4.1
OV_WHEEL=openvino-2026.4.1-22982-cp311-cp311-manylinux_2_28_x86_64.whl
OV_WHEEL_SHA256=2d22b1da03f7caf74df30e9f6417d0ab2f637e4a38e08e1dcd294d2c37407aaf

here=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$here/build/third-party/openvino}
stamp="openvino=$OV_VERSION sha256=$OV_WHEEL_SHA256"
if [[ -f $dest/.stamp && $(cat "$dest/.stamp") == "$stamp" && -f $dest/openvino/cmake/OpenVINOConfig.cmake ]]; then
  exit 0
fi

die() { echo "fetch_openvino: $*" >&2; exit 1; }
# pip: $KPRCNN_PIP (scripts/setup.sh passes the build venv's), else the system's.
read -r -a pip <<<"${KPRCNN_PIP:-/usr/bin/python3 -m pip}"
"${pip[@]}" --version >/dev/null 2>&1 || die "no pip (${pip[*]}): run scripts/setup.sh, or set KPRCNN_PIP"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "fetch_openvino: OpenVINO $OV_VERSION (PyPI wheel, C++ runtime only)"
"${pip[@]}" download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  --python-version 3.11 --implementation cp --abi cp311 --platform manylinux_2_28_x86_64 \
  "openvino==$OV_VERSION" -d "$work" >"$work/pip.log" 2>&1 || { cat "$work/pip.log" >&2; die "pip download openvino==$OV_VERSION failed"; }
[[ -f $work/$OV_WHEEL ]] || die "pip gave $(ls "$work" | grep -v pip.log), expected $OV_WHEEL (update OV_WHEEL and its SHA-256)"
got=$(sha256sum "$work/$OV_WHEEL" | cut -d' ' -f1)
[[ $got == "$OV_WHEEL_SHA256" ]] || die "checksum mismatch for $OV_WHEEL: expected $OV_WHEEL_SHA256, got $got"

rm -rf "$dest.tmp"
mkdir -p "$dest.tmp"
(cd "$dest.tmp" && unzip -q "$work/$OV_WHEEL" 'openvino/include/*' 'openvino/libs/*' 'openvino/cmake/*')
cp "$work/$OV_WHEEL" "$dest.tmp/"
echo "$stamp" >"$dest.tmp/.stamp"
rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
mv "$dest.tmp" "$dest"
echo "fetch_openvino: ready in $dest"
