#!/usr/bin/env bash
# The main job on the bundled model (Tests/Fixtures/nemo-tiny, trained on public-domain text):
# importance scoring, the Searches/nemo-tiny.yaml search with real evaluation, the leaderboard, export of the
# best trial, evaluation of the exported model against the original and against random keep-sets of the same
# size, and the report. Usage: Scripts/demo.sh PRUNEKIT_BINARY OUT_DIR
set -euo pipefail
BIN=${1:-.build/release/prunekit}
OUT=${2:-demo-out}
MODEL=Tests/Fixtures/nemo-tiny
DB="$OUT/prunekit.sqlite"
STUDY=nemo-tiny
# The search chose its trial on the first 8 held-out sequences (Searches/nemo-tiny.yaml); the final comparison
# uses the 16 after them, which no step has seen.
HELDOUT=(--data "$MODEL/heldout.jsonl" --skip 8 --samples 16 --seq-len 128)
mkdir -p "$OUT"
rm -f "$DB" "$DB-wal" "$DB-shm"   # a reproducible run from scratch (a search resumes from an existing database)
start=$(date +%s)

step() { printf '\n== %s\n' "$*"; }

step "1. inspect the source checkpoint"
"$BIN" inspect "$MODEL"

step "2. importance scores on 16 × 128 calibration tokens (stored in $DB)"
"$BIN" score "$MODEL" --data "$MODEL/calib.jsonl" --samples 16 --seq-len 128 --db "$DB"

step "3. architecture search: Searches/nemo-tiny.yaml (cost model + real evaluation of the top candidates)"
"$BIN" search Searches/nemo-tiny.yaml --db "$DB" --study "$STUDY"

step "4. leaderboard and Pareto front (throughput vs KL)"
"$BIN" leaderboard --db "$DB" --study "$STUDY" --top 5
"$BIN" leaderboard --db "$DB" --study "$STUDY" --pareto

step "5. export the best trial to a Hugging Face folder"
"$BIN" prune "$MODEL" "$OUT/nemo-tiny-pruned" --study "$STUDY" --trial best --db "$DB" --force
"$BIN" inspect "$OUT/nemo-tiny-pruned"

step "6. baseline: the same architecture (same layers dropped) with random width keep-sets"
"$BIN" prune "$MODEL" "$OUT/nemo-tiny-random" --study "$STUDY" --trial best --db "$DB" --random-seed 1 --force

step "7. held-out evaluation on unseen text (loss; KL and logit MSE against the original)"
"$BIN" eval "$MODEL" "${HELDOUT[@]}" --format json > "$OUT/eval-original.json"
"$BIN" eval "$OUT/nemo-tiny-pruned" "${HELDOUT[@]}" --reference "$MODEL" --format json > "$OUT/eval-pruned.json"
"$BIN" eval "$OUT/nemo-tiny-random" "${HELDOUT[@]}" --reference "$MODEL" --format json > "$OUT/eval-random.json"
python3 - "$OUT" <<'PY' 2>/dev/null || cat "$OUT"/eval-*.json
import json, sys
out = sys.argv[1]
rows = [("original", "eval-original.json"), ("pruned (best trial)", "eval-pruned.json"), ("random keep-sets, same size", "eval-random.json")]
print(f"{'model':30} {'loss':>8} {'ppl':>8} {'KL vs original':>15}")
for name, f in rows:
    d = json.load(open(f"{out}/{f}"))
    kl = d.get("reference", {}).get("kl")
    print(f"{name:30} {d['loss']:8.4f} {d['perplexity']:8.3f} {('%.4f' % kl) if kl is not None else '-':>15}")
PY

step "8. interop: the exported model in transformers (optional; needs python3 with torch + transformers)"
"$BIN" eval "$OUT/nemo-tiny-pruned" "${HELDOUT[@]}" --logits-out "$OUT/pruned-logits.safetensors" --force > /dev/null
PY=${PYTHON:-python3}
if "$PY" -c "import torch, transformers, safetensors" 2>/dev/null; then
    "$PY" Scripts/check_transformers.py "$OUT/nemo-tiny-pruned" --logits "$OUT/pruned-logits.safetensors" 2>&1 | grep -v "falling back\|Loading weights"
else
    echo "skipped: $PY has no torch/transformers (pip install torch transformers safetensors, or set PYTHON=...)"
fi

step "9. report"
"$BIN" report --db "$DB" --study "$STUDY" --out "Reports/$STUDY"

end=$(date +%s)
cat <<EOF2

== done in $((end - start)) s
  database (scores, study, trials)  $DB
  pruned model (best trial)         $OUT/nemo-tiny-pruned   (pruning.json maps it to the source)
  random-keep-set baseline          $OUT/nemo-tiny-random
  held-out evaluations              $OUT/eval-original.json, eval-pruned.json, eval-random.json
  report                            Reports/$STUDY/index.html, Reports/$STUDY/summary.md
  logits of the pruned model         $OUT/pruned-logits.safetensors (for Scripts/check_transformers.py)
EOF2
