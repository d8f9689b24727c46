#!/usr/bin/env bash
# The main job on the bundled model. Usage: Scripts/demo.sh PRUNEKIT_BINARY OUT_DIR
set -euo pipefail
BIN=${1:-.build/release/prunekit}
OUT=${2:-demo-out}
MODEL=Tests/Fixtures/nemo-tiny
mkdir -p "$OUT"
echo "== inspect $MODEL"
"$BIN" inspect "$MODEL"
