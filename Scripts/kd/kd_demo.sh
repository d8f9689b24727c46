#!/usr/bin/env bash
# The paper's candidate selection end to end on the bundled model (arXiv 2508.14444 §4.2: candidates are
# compared after a short distillation): the demo search, the two best trials and a random-keep-set baseline of
# the best trial's size exported, a teacher top-K cache written, each student distilled with the same data,
# seed and steps (evaluated at 0, 25, 50, 100, 200, 400 steps), the results annotated into the study, then the
# leaderboard by post-KD loss and the report (Reports/nemo-tiny-kd).
# Usage: Scripts/kd/kd_demo.sh PRUNEKIT_BINARY OUT_DIR   (PYTHON=/path/to/python with torch + transformers)
set -euo pipefail
BIN=${1:-.build/release/prunekit}
OUT=${2:-demo-out/kd}
PY=${PYTHON:-python3}
STEPS=${KD_STEPS:-400}
BUDGETS=${KD_BUDGETS:-0,25,50,100,200,400}
MODEL=Tests/Fixtures/nemo-tiny
STUDY=nemo-tiny
DB="$OUT/prunekit.sqlite"

if ! "$PY" -c "import torch, transformers, safetensors, numpy" 2>/dev/null; then
    cat <<EOF
kd-demo needs a Python with torch, transformers, safetensors and numpy ($PY has not). For example:
    python3 -m venv /tmp/kd-venv && /tmp/kd-venv/bin/pip install torch transformers safetensors numpy pyarrow
    make kd-demo PYTHON=/tmp/kd-venv/bin/python
(CPU-only torch is enough: pip install torch --index-url https://download.pytorch.org/whl/cpu)
EOF
    exit 1
fi

step() { printf '\n== %s\n' "$*"; }
start=$(date +%s)
mkdir -p "$OUT"
rm -f "$DB" "$DB-wal" "$DB-shm"

step "1. importance scores and the Searches/nemo-tiny.yaml search (as in make demo)"
"$BIN" score "$MODEL" --data "$MODEL/calib.jsonl" --samples 16 --seq-len 128 --db "$DB" --quiet > /dev/null
"$BIN" search Searches/nemo-tiny.yaml --db "$DB" --study "$STUDY" --quiet > /dev/null
"$BIN" leaderboard --db "$DB" --study "$STUDY" --top 3

step "2. export the two best trials and a random-keep-set baseline of the best trial's architecture"
read -r BEST SECOND < <("$BIN" leaderboard --db "$DB" --study "$STUDY" --top 2 --format json \
    | "$PY" -c "import json,sys; t=json.load(sys.stdin)['trials']; print(t[0]['number'], t[1]['number'])")
"$BIN" prune "$MODEL" "$OUT/trial-$BEST" --study "$STUDY" --trial "$BEST" --db "$DB" --force --quiet > /dev/null
"$BIN" prune "$MODEL" "$OUT/trial-$SECOND" --study "$STUDY" --trial "$SECOND" --db "$DB" --force --quiet > /dev/null
"$BIN" prune "$MODEL" "$OUT/trial-$BEST-random" --study "$STUDY" --trial "$BEST" --db "$DB" --random-seed 1 --force --quiet > /dev/null
echo "trial $BEST -> $OUT/trial-$BEST, trial $SECOND -> $OUT/trial-$SECOND, random keep-sets (trial $BEST's size) -> $OUT/trial-$BEST-random"

step "3. teacher top-K caches (K 64, F16): 256 x 128 calibration tokens for training, 16 x 128 unseen held-out tokens"
"$BIN" teacher-cache "$MODEL" --data "$MODEL/calib.jsonl" --samples 256 --seq-len 128 --top-k 64 --out "$OUT/cache-train" --quiet
"$BIN" teacher-cache "$MODEL" --data "$MODEL/heldout.jsonl" --skip 8 --samples 16 --seq-len 128 --top-k 64 --out "$OUT/cache-heldout" --quiet
"$BIN" eval "$MODEL" --data "$MODEL/heldout.jsonl" --skip 8 --samples 16 --seq-len 128 --format json > "$OUT/eval-teacher.json"

step "4. distil each student: $STEPS steps of 8 x 128 tokens, forward KL on the top-64 (+ tail bucket), seed 0, evaluated at $BUDGETS"
STUDENTS=("$BEST:pruned:trial-$BEST" "$SECOND:pruned:trial-$SECOND" "$BEST:random-seed-1:trial-$BEST-random")
pids=()
for s in "${STUDENTS[@]}"; do
    IFS=: read -r trial label dir <<< "$s"
    "$PY" Scripts/kd/distill.py --student "$OUT/$dir" --cache "$OUT/cache-train" --heldout "$OUT/cache-heldout" --out "$OUT/$dir-kd" \
        --steps "$STEPS" --budgets "$BUDGETS" --seed 0 --threads 1 --json "$OUT/$dir-kd.json" > "$OUT/$dir-kd.log" 2>&1 &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
for s in "${STUDENTS[@]}"; do IFS=: read -r trial label dir <<< "$s"; grep -E "step|->" "$OUT/$dir-kd.log" | sed "s|^|[$dir] |"; done

step "5. annotate the study with the post-KD figures"
for s in "${STUDENTS[@]}"; do
    IFS=: read -r trial label dir <<< "$s"
    "$PY" - "$OUT/$dir-kd.json" <<'PY' | while read -r steps loss kl tokens; do
import json, sys
for p in json.load(open(sys.argv[1]))["curve"]:
    print(p["steps"], p["heldout_loss"], p["kl_to_teacher"], p["train_tokens"])
PY
        "$BIN" annotate --db "$DB" --study "$STUDY" --trial "$trial" --student "$label" --kd-steps "$steps" \
            --metric "kd_loss=$loss" --metric "kd_kl=$kl" --metric "kd_tokens=$tokens" --source "$OUT/$dir-kd.json" \
            --note "Scripts/kd/distill.py, top-64 forward KL, 8 x 128 tokens per step, seed 0" > /dev/null
    done
done
echo "annotated $(( ${#STUDENTS[@]} )) students at budgets $BUDGETS"

step "6. leaderboard after distillation, and the report"
"$BIN" leaderboard --db "$DB" --study "$STUDY" --objective kd_loss
"$BIN" report --db "$DB" --study "$STUDY" --out "Reports/$STUDY-kd"

step "7. findings"
"$PY" - "$OUT" "$BEST" "$SECOND" <<'PY'
import json, sys
out, best, second = sys.argv[1], sys.argv[2], sys.argv[3]
teacher = json.load(open(f"{out}/eval-teacher.json"))["loss"]
runs = [(f"trial {best} (importance)", f"trial-{best}"), (f"trial {second} (importance)", f"trial-{second}"),
        (f"trial {best} random keep-sets", f"trial-{best}-random")]
curves = {name: {p["steps"]: p for p in json.load(open(f"{out}/{d}-kd.json"))["curve"]} for name, d in runs}
steps = sorted(next(iter(curves.values())))
print(f"held-out loss (nats/token) of each student after N KD steps; teacher {teacher:.4f}")
print(f"{'student':32}" + "".join(f"{s:>9}" for s in steps))
for name, c in curves.items():
    print(f"{name:32}" + "".join(f"{c[s]['heldout_loss']:9.4f}" for s in steps))
imp, rnd = curves[runs[0][0]], curves[runs[2][0]]
print(f"{'lead of importance over random':32}" + "".join(f"{rnd[s]['heldout_loss'] - imp[s]['heldout_loss']:+9.4f}" for s in steps))
print(f"KL to teacher (top-64 + tail) before -> after: " + "; ".join(f"{n}: {c[steps[0]]['kl_to_teacher']:.4f} -> {c[steps[-1]]['kl_to_teacher']:.4f}" for n, c in curves.items()))
lead = [s for s in steps if rnd[s]["heldout_loss"] > imp[s]["heldout_loss"]]
gone = [s for s in steps if rnd[s]["heldout_loss"] <= imp[s]["heldout_loss"]]
if not gone:
    print(f"finding: the importance-pruned student stays ahead of the random baseline at every budget up to {steps[-1]} steps "
          f"(lead {rnd[steps[0]]['heldout_loss'] - imp[steps[0]]['heldout_loss']:.4f} -> {rnd[steps[-1]]['heldout_loss'] - imp[steps[-1]]['heldout_loss']:.4f} nats/token)")
else:
    print(f"finding: the importance-pruned student leads at {lead or 'no budget'}; the random baseline catches up by {gone[0]} steps")
PY

end=$(date +%s)
cat <<EOF

== done in $((end - start)) s
  study database with the KD annotations   $DB
  students and distilled students          $OUT/trial-*, $OUT/trial-*-kd (distillation.json in each)
  teacher caches                           $OUT/cache-train, $OUT/cache-heldout
  report                                   Reports/$STUDY-kd/index.html, Reports/$STUDY-kd/summary.md
EOF
