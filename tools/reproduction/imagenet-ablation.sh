#!/usr/bin/env bash
# Issue #6, part 3: the ablation test over every photo in ../shared/images with both ../shared/models networks.
# For each (model, photo): `neuronscope explain` (paper perturbation, N = 50, top-5 per layer), then
# `neuronscope ablate` (zero mode; for SqueezeNet also mean mode). Then the per-model, per-depth table.
#
#   tools/reproduction/imagenet-ablation.sh [OUT]        (default OUT: out/reproduction/imagenet)
#
# Environment: SAMPLES (50), RANDOM_SETS (50), SEED (1), MODES_SQUEEZENET ("zero mean"), MODES_MOBILENET ("zero"),
# MODELS ("squeezenet mobilenetv2"), MOBILENET_LAYERS (every second recordable layer, 0, 2, ..., 52: expand, depthwise and projection convs and the classifier), THREADS (2), IMAGES (all of ../shared/images).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-out/reproduction/imagenet}
SHARED=${SHARED:-../shared}
SAMPLES=${SAMPLES:-50}
RANDOM_SETS=${RANDOM_SETS:-50}
SEED=${SEED:-1}
THREADS=${THREADS:-2}
MODES_SQUEEZENET=${MODES_SQUEEZENET:-"zero mean"}
MODES_MOBILENET=${MODES_MOBILENET:-"zero"}
MODELS=${MODELS:-"squeezenet mobilenetv2"}
MOBILENET_LAYERS=${MOBILENET_LAYERS:-"0,2,4,6,8,10,12,14,16,18,20,22,24,26,28,30,32,34,36,38,40,42,44,46,48,50,52"}
IMAGES=${IMAGES:-$(ls "$SHARED/images" | grep -Ei '\.(png|jpe?g)$')}
CLI="node packages/cli/dist/main.js"
mkdir -p "$OUT"

run() { # model-name model-file labels preprocess layers modes
  local name=$1 model=$2 labels=$3 preprocess=$4 layers=$5 modes=$6
  for image in $IMAGES; do
    # SKIP_DONE=1: skip photos whose last mode's result exists (to resume an interrupted run).
    [ -n "${SKIP_DONE:-}" ] && [ -s "$OUT/$name/${image%.*}/ablation-${modes##* }.json" ] && continue
    local stem=${image%.*}
    local dir="$OUT/$name/$stem"
    $CLI explain --model "$model" --labels "$labels" --image "$SHARED/images/$image" --preprocess "$preprocess" \
      --perturb paper --samples "$SAMPLES" --seed "$SEED" --layers "$layers" --threads "$THREADS" \
      --cache-dir "$OUT/cache" --out "$dir" --quiet
    for mode in $modes; do
      $CLI ablate --out "$dir" --mode "$mode" --random "$RANDOM_SETS" --threads "$THREADS" --json > "$dir/ablation-$mode.json"
      echo "$name $stem $mode: $(node -e "const a=JSON.parse(require('fs').readFileSync(process.argv[1],'utf8'));console.log('corr>p95',a.totals.correlationAboveP95,'prec>p95',a.totals.precisionAboveP95,'of',a.totals.layers)" "$dir/ablation-$mode.json")"
    done
  done
}

start=$(date +%s)
case " $MODELS " in *" squeezenet "*)
  run squeezenet "$SHARED/models/squeezenet1_1.onnx" "$SHARED/models/imagenet_classes.txt" imagenet all "$MODES_SQUEEZENET" ;;
esac
case " $MODELS " in *" mobilenetv2 "*)
  run mobilenetv2 "$SHARED/models/mobilenetv2_1.0_224.onnx" "$SHARED/models/imagenet_classes_1001.txt" inception \
    "$MOBILENET_LAYERS" "$MODES_MOBILENET" ;;
esac
echo "all runs in $(( $(date +%s) - start )) s"
node tools/reproduction/dist/ablation-table.js "$OUT" > "$OUT/table.md"
echo "wrote $OUT/table.md"
