#!/usr/bin/env bash
# The demo: the repository's trained face model (models/face, a training folder as `kprcnn train` writes it) is
# exported with `kprcnn export` (verified against PyTorch), then `kprcnn predict` annotates synthetic scenes the
# model never saw (`kprcnn synth`, seed 3; it trained on seed 1): each face's eyes and nose, in colour.
# Everything lands in BUILD/demo.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
build=$(cd "$build" && pwd)
kprcnn="$build/bin/kprcnn"
demo="$build/demo"
model="$demo/face.onnx"
scenes="$demo/scenes"
out="$demo/output"
mkdir -p "$demo"

if [[ ! -f $model || $model -ot $here/models/face/face.pth ]]; then
  "$kprcnn" export "$here/models/face" -o "$model"
fi
"$kprcnn" info "$model" | sed -n '1,/^skeleton/p'
[[ -f $scenes/annotations.json ]] ||
  "$kprcnn" synth --out "$scenes" --count 3 --seed 3 --size 640x480 --min-face 32 --min-faces 2 --quiet
"$kprcnn" predict --model "$model" --input "$scenes" --output "$out" --threshold "${DEMO_THRESHOLD:-0.8}"

cat <<MSG

demo: annotated images  $out/000001.png $out/000002.png $out/000003.png
      detections JSON   $out/*.json
      model             $model (from models/face: see models/README.md for how it was trained)
Run your own training folder with:
  $kprcnn export /path/to/training-folder
  $kprcnn predict --model /path/to/training-folder/<name>.onnx --input IMAGE_OR_FOLDER --output OUT
MSG
