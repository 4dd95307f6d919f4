#!/usr/bin/env bash
# The demo: a training folder in the recipe's layout (random-init checkpoint + colormap + a generated sample
# image), exported with `kprcnn export`, then `kprcnn predict` on the sample. Everything lands in BUILD/demo.
# A random-init model's detections and keypoints are meaningless: this shows the pipeline, not a trained model.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
build=$(cd "$build" && pwd)
python=${KPRCNN_PYTHON:-/usr/bin/python3}
kprcnn="$build/bin/kprcnn"
folder="$build/demo/training-folder"
out="$build/demo/output"

"$python" "$here/scripts/make_demo_checkpoint.py" "$folder"
model="$folder/demo-checkpoint.onnx"
if [[ ! -f $model || $model -ot $folder/checkpoint.pth ]]; then
  "$kprcnn" export "$folder"
fi
"$kprcnn" info "$model"
# The recipe's default threshold (0.8). The random model's 100 candidate boxes all score 0.94-0.99, so they
# all pass: thin random slivers, each with its 3 coloured keypoints.
"$kprcnn" predict --model "$model" --input "$folder/sample.jpg" --output "$out" --threshold "${DEMO_THRESHOLD:-0.8}"

cat <<MSG

demo: annotated image  $out/sample.png
      detections JSON  $out/sample.json
      model            $model
Note: the demo model has random weights (seed 0), so its boxes and keypoints are meaningless; it exercises
the real export → ONNX Runtime → drawing path. Run your own training folder with:
  $kprcnn export /path/to/training-folder
  $kprcnn predict --model /path/to/training-folder/<name>.onnx --input IMAGE_OR_FOLDER --output OUT
MSG
