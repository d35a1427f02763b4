#!/usr/bin/env bash
# Train the shipped network on one GPU from a corpus pack, end to end:
#   rebuild the corpus from the pack (no audio tools), time the training step (liveedit bench train),
#   then both stages, each in a fixed wall-time budget with its step count sized from the bench.
#
#   training/train_on_gpu.sh PACK_DIR OUT_DIR
#
# PACK_DIR: from `python training/make_corpus.py --pack data/corpus --out PACK_DIR` on a machine with
# FluidSynth (plus the corpus's text_features.pt, so this machine needs no text encoder). OUT_DIR gets
# stage1.pt (generation branch), default.pt (both branches: copy it to model/checkpoints/default.pt),
# log.csv, loss.png, bench.json, gpu_busy.csv and recipe.log. Settings through the environment:
#   PRESET (default_gpu), STAGE1_SECONDS (240), STAGE2_SECONDS (140), BENCH_STEPS (60),
#   SPLIT_MB (unset; split default.pt into parts of that many MB), DEADLINE (unset; seconds from the
#   start by which the script must end: stage 2 is cut short to fit).
set -euo pipefail
PACK=${1:?usage: training/train_on_gpu.sh PACK_DIR OUT_DIR}
OUT=${2:?usage: training/train_on_gpu.sh PACK_DIR OUT_DIR}
PRESET=${PRESET:-default_gpu}
STAGE1_SECONDS=${STAGE1_SECONDS:-240}
STAGE2_SECONDS=${STAGE2_SECONDS:-140}
BENCH_STEPS=${BENCH_STEPS:-60}
PY=${PYTHON:-python3}
cd "$(dirname "$0")/.."
mkdir -p "$OUT"
RUN="runs/$PRESET-gpu"
exec > >(tee -a "$OUT/recipe.log") 2>&1
t0=$(date +%s)
say() { echo "[$(( $(date +%s) - t0 )) s] $*"; }

say "device: $($PY -c 'import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu", torch.__version__)')"
if [ ! -f "$PACK/manifest.jsonl" ]; then
    say "rebuilding the corpus from $PACK"
    $PY training/make_corpus.py --out "$PACK" --rebuild --no-progress
fi

say "bench: one training step, batches prepared by DataLoader workers (shm: $(df -h /dev/shm 2>/dev/null | tail -1))"
WORKER_ARGS=()
if ! $PY -m liveedit bench train --preset "$PRESET" --corpus-dir "$PACK" --steps "$BENCH_STEPS" --bf16 both \
        --json "$OUT/bench.json"; then
    # DataLoader workers need shared memory; where they cannot run, batches are prepared in-process
    say "bench with workers failed: training with --workers 0"
    WORKER_ARGS=(--workers 0)
    $PY -m liveedit bench train --preset "$PRESET" --corpus-dir "$PACK" --steps "$BENCH_STEPS" --workers 0 \
        --json "$OUT/bench.json"
fi
# steps that fit the budgets at the measured rate (bf16 row); stage 2 runs both branches, ~0.55x the rate
read -r STEPS1 STEPS2 < <($PY - "$OUT/bench.json" "$STAGE1_SECONDS" "$STAGE2_SECONDS" <<'EOF'
import json, sys
rows = json.load(open(sys.argv[1]))["rows"]
rate = max(r["steps_per_s"] for r in rows)
print(max(50, int(0.9 * rate * float(sys.argv[2]))), max(50, int(0.9 * 0.55 * rate * float(sys.argv[3]))))
EOF
)
say "training: stage 1 $STEPS1 steps, stage 2 $STEPS2 steps"

if command -v nvidia-smi >/dev/null; then  # how busy the GPU is while training, once a second
    nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 1 > "$OUT/gpu_busy.csv" &
    SMI=$!
    trap 'kill $SMI 2>/dev/null || true' EXIT
fi
$PY training/train.py --preset "$PRESET" --stages 1 --data "corpus:$PACK" --run-dir "$RUN" \
    --stage1-steps "$STEPS1" --time-limit "$(( STAGE1_SECONDS + 30 ))" --out "$OUT/stage1.pt" --half "${WORKER_ARGS[@]}"
say "stage 1 done"
LIMIT2=$(( STAGE2_SECONDS + 30 ))
if [ -n "${DEADLINE:-}" ]; then  # finish (and split) before an outer time limit
    LEFT=$(( DEADLINE - ($(date +%s) - t0) - 15 ))
    LIMIT2=$(( LEFT < LIMIT2 ? LEFT : LIMIT2 ))
    say "stage 2 time limit $LIMIT2 s"
fi
$PY training/train.py --preset "$PRESET" --stages 2 --data "corpus:$PACK" --run-dir "$RUN" \
    --stage1-steps "$STEPS1" --stage2-steps "$STEPS2" --time-limit "$LIMIT2" \
    --out "$OUT/default.pt" --half "${WORKER_ARGS[@]}"
cp "$RUN/log.csv" "$RUN/loss.png" "$OUT/" 2>/dev/null || true
if [ -n "${SPLIT_MB:-}" ]; then  # for transports with a file-size limit: cat default.pt.part-* > default.pt
    split -b "${SPLIT_MB}m" "$OUT/default.pt" "$OUT/default.pt.part-" && rm "$OUT/default.pt"
fi
say "done: $OUT"
