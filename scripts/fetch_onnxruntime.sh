#!/usr/bin/env bash
# Fetch the ONNX Runtime C/C++ SDK into DEST (default: build/third-party/onnxruntime) as
#   DEST/include/onnxruntime_c_api.h ...   DEST/lib/libonnxruntime.so(.1)
# the layout of an official release tarball, so CMake treats both the same (ONNXRUNTIME_ROOT).
#
# Sources (both pinned, both checksum-verified, nothing vendored in the repo):
#   library: the official Maven Central jar com.microsoft.onnxruntime:onnxruntime:$ORT_VERSION
#            (ai/onnxruntime/native/linux-x64/libonnxruntime.so), fetched with `mvn dependency:copy`.
#   headers: the official headers ship only in the onnxruntime-android AAR, which the package registry
#            reachable here does not serve (tried 1.21.0, 1.22.0, 1.22.2, 1.23.2: "could not find artifact").
#            Fallback: Debian 13's libonnxruntime-dev ($ORT_HEADERS_VERSION), downloaded (not installed) with
#            `apt-get download` through a private sources list. The C API is versioned (OrtGetApiBase()->GetApi(N)),
#            so a newer library serves code built against older headers.
# Re-running is a no-op once DEST/.stamp matches the pinned versions.
#
# --gpu [DEST] (default: build/third-party/onnxruntime-gpu): ONNX Runtime's GPU build instead, the official Maven
# Central jar com.microsoft.onnxruntime:onnxruntime_gpu:$ORT_VERSION (~500 MB): libonnxruntime.so plus the CUDA and
# TensorRT execution providers (libonnxruntime_providers_{shared,cuda,tensorrt}.so). Configure kprcnn with
# -DONNXRUNTIME_ROOT=DEST to use it (README, Engines). The providers load NVIDIA's libraries at run time (CUDA 12,
# cuDNN 9, TensorRT 10: NVIDIA's PyPI wheels, on LD_LIBRARY_PATH); without them, or without a GPU, --provider cuda
# is a clear error and --provider cpu still works.
set -euo pipefail

ORT_VERSION=1.22.0
ORT_JAR_SHA256=41bb3b51b6a2e489cd39f538d5a1c74e4333845ab1ccad63e752b6f19ebeee45
ORT_GPU_JAR_SHA256=010050c8368f09a8adfc6542a7cbb7b14f598773d0f90b95dd2fff48c8bd6e1b
ORT_HEADERS_DEB=libonnxruntime-dev
ORT_HEADERS_VERSION=1.21.0+dfsg-1
ORT_HEADERS_SHA256=14f7d959d5deacbcf1504830d4189f91fc67382b399ed9ae9d3aa9c4050ced08

here=$(cd "$(dirname "$0")/.." && pwd)
artifact=onnxruntime
jar_sha=$ORT_JAR_SHA256
libs=(libonnxruntime.so)
if [[ ${1:-} == --gpu ]]; then
  shift
  artifact=onnxruntime_gpu
  jar_sha=$ORT_GPU_JAR_SHA256
  libs=(libonnxruntime.so libonnxruntime_providers_shared.so libonnxruntime_providers_cuda.so
    libonnxruntime_providers_tensorrt.so)
  dest=${1:-$here/build/third-party/onnxruntime-gpu}
else
  dest=${1:-$here/build/third-party/onnxruntime}
fi
stamp="lib=$artifact:$ORT_VERSION headers=$ORT_HEADERS_VERSION"
[[ $artifact == onnxruntime ]] && stamp="lib=$ORT_VERSION headers=$ORT_HEADERS_VERSION"  # the CPU stamp predates --gpu
if [[ -f $dest/.stamp && $(cat "$dest/.stamp") == "$stamp" && -f $dest/lib/libonnxruntime.so ]]; then
  exit 0
fi

die() { echo "fetch_onnxruntime: $*" >&2; exit 1; }
check_sha() { # file expected
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  [[ $got == "$2" ]] || die "checksum mismatch for $1: expected $2, got $got (delete it and re-run)"
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
command -v mvn >/dev/null || die "mvn not found: run scripts/setup.sh (installs maven)"

echo "fetch_onnxruntime: library $artifact $ORT_VERSION (Maven jar)"
# --strict-checksums: Maven fails on a repository checksum mismatch; we also pin our own SHA-256.
mvn -q -B --strict-checksums dependency:copy \
  -Dartifact="com.microsoft.onnxruntime:$artifact:$ORT_VERSION:jar" -DoutputDirectory="$work" \
  >"$work/mvn.log" 2>&1 || { cat "$work/mvn.log" >&2; die "mvn could not fetch $artifact:$ORT_VERSION"; }
jar="$work/$artifact-$ORT_VERSION.jar"
check_sha "$jar" "$jar_sha"
for lib in "${libs[@]}"; do
  (cd "$work" && unzip -q -o "$jar" "ai/onnxruntime/native/linux-x64/$lib")
done

echo "fetch_onnxruntime: headers $ORT_HEADERS_VERSION (Debian 13 $ORT_HEADERS_DEB, download only)"
apt_dir="$work/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/sources"
# Reuse the mirror this machine is already configured with; only the suite differs.
uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[[ -n $uri ]] || uri=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[[ -n $uri ]] || die "no Debian mirror found in /etc/apt sources"
cat >"$apt_dir/sources/trixie.sources" <<EOF
Types: deb
URIs: $uri
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
apt_opts=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$apt_dir/sources"
  -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o "APT::Architecture=amd64"
  -o "APT::Sandbox::User=root")
apt-get "${apt_opts[@]}" -qq update >"$work/apt.log" 2>&1 || { cat "$work/apt.log" >&2; die "apt-get update (trixie list) failed"; }
(cd "$work" && apt-get "${apt_opts[@]}" -qq download "$ORT_HEADERS_DEB=$ORT_HEADERS_VERSION") >>"$work/apt.log" 2>&1 ||
  { cat "$work/apt.log" >&2; die "apt-get download $ORT_HEADERS_DEB=$ORT_HEADERS_VERSION failed"; }
deb=$(ls "$work"/${ORT_HEADERS_DEB}_*.deb)
check_sha "$deb" "$ORT_HEADERS_SHA256"
dpkg-deb -x "$deb" "$work/deb"

rm -rf "$dest.tmp"
mkdir -p "$dest.tmp/include" "$dest.tmp/lib"
cp -r "$work/deb/usr/include/onnxruntime/." "$dest.tmp/include/"
cp "$work/ai/onnxruntime/native/linux-x64/libonnxruntime.so" "$dest.tmp/lib/libonnxruntime.so.$ORT_VERSION"
for lib in "${libs[@]:1}"; do
  cp "$work/ai/onnxruntime/native/linux-x64/$lib" "$dest.tmp/lib/"  # dlopen'ed by name beside libonnxruntime
done
ln -s "libonnxruntime.so.$ORT_VERSION" "$dest.tmp/lib/libonnxruntime.so.1"
ln -s "libonnxruntime.so.1" "$dest.tmp/lib/libonnxruntime.so"
echo "$stamp" >"$dest.tmp/.stamp"
rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
mv "$dest.tmp" "$dest"
echo "fetch_onnxruntime: ready in $dest"
