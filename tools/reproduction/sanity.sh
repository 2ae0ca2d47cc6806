#!/usr/bin/env bash
# Issue #6, part 4: model-randomization sanity check (Adebayo et al. 2018) on SqueezeNet 1.1.
# For K in $TOPS: `neuronscope randomize --from-top K` (cascading from the classifier down), then `explain` every
# photo on the original and on each randomized model (same target class: the original's top-1), then compare.
#
#   tools/reproduction/sanity.sh [OUT]          (default OUT: out/reproduction/sanity)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-out/reproduction/sanity}
SHARED=${SHARED:-../shared}
PHOTOS=${PHOTOS:-"cat.png coffee.png bird.png dragonfly.png"}
TOPS=${TOPS:-"1 3 9 18 26"}
SAMPLES=${SAMPLES:-50}
SEED=${SEED:-1}
THREADS=${THREADS:-2}
MODEL="$SHARED/models/squeezenet1_1.onnx"
LABELS="$SHARED/models/imagenet_classes.txt"
CLI="node packages/cli/dist/main.js"
mkdir -p "$OUT"
for k in $TOPS; do
  $CLI randomize --model "$MODEL" --from-top "$k" --seed "$SEED" --out "$OUT/squeezenet_top$k.onnx" --json > "$OUT/top$k.json"
done
explain() { # model image out [target]
  $CLI explain --model "$1" --labels "$LABELS" --image "$SHARED/images/$2" --preprocess imagenet --perturb paper \
    --samples "$SAMPLES" --seed "$SEED" --threads "$THREADS" --no-cache --quiet --out "$3" ${4:+--target "$4"}
}
for photo in $PHOTOS; do
  stem=${photo%.*}
  explain "$MODEL" "$photo" "$OUT/$stem/original"
  target=$(node -e "console.log(JSON.parse(require('fs').readFileSync(process.argv[1],'utf8')).target.index)" "$OUT/$stem/original/summary.json")
  for k in $TOPS; do
    explain "$OUT/squeezenet_top$k.onnx" "$photo" "$OUT/$stem/top$k" "$target"
    echo "$stem top$k done"
  done
done
node tools/reproduction/dist/sanity-compare.js "$OUT" > "$OUT/table.md"
cat "$OUT/table.md"
