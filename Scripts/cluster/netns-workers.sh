#!/bin/bash
# Separate hosts, simulated: a throwaway PostgreSQL server in one network namespace and N scoring workers in
# others, each namespace joined to a bridge by a veth pair (10.77.0.0/24), so the workers' traffic crosses a
# network interface as between machines. Needs root (ip netns); without network namespaces it says so and
# runs everything on loopback.
#
#   sudo [SCORE_OPTIONS="--remove 6"] Scripts/cluster/netns-workers.sh MODEL DATA [WORKERS=2] [data options, e.g. --samples 8 --seq-len 64]
#
# Prints the job id, the `prunekit jobs` report, and the scores (JSON) of the finished job; removes the
# namespaces, the bridge and the server on exit.
set -euo pipefail
MODEL="${1:?usage: netns-workers.sh MODEL DATA [WORKERS] [score options]}"
DATA="${2:?usage: netns-workers.sh MODEL DATA [WORKERS] [score options]}"
WORKERS="${3:-2}"
shift $(( $# < 3 ? $# : 3 ))
PRUNEKIT="${PRUNEKIT:-$(cd "$(dirname "$0")/../.." && pwd)/.build/release/prunekit}"
PGBIN="${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}"
[ -x "$PRUNEKIT" ] || { echo "prunekit not found at $PRUNEKIT (run swift build -c release)" >&2; exit 2; }
[ -x "$PGBIN/postgres" ] || { echo "PostgreSQL not found (set PGBIN)" >&2; exit 2; }
WORK="$(mktemp -d /tmp/prunekit-netns.XXXXXX)"
chmod 755 "$WORK"
PGUSER_OS=postgres; [ "$(id -u)" = 0 ] || PGUSER_OS="$(id -un)"
NS="pk$$"
USE_NETNS=0
if [ "$(id -u)" = 0 ] && ip netns add "${NS}probe" 2>/dev/null; then ip netns del "${NS}probe"; USE_NETNS=1; fi
run_as_pg() { if [ "$(id -u)" = 0 ]; then su "$PGUSER_OS" -s /bin/sh -c "$*"; else sh -c "$*"; fi; }

cleanup() {
  set +e
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
  run_as_pg "'$PGBIN/pg_ctl' -D '$WORK/pg' -m fast stop" >/dev/null 2>&1
  if [ "$USE_NETNS" = 1 ]; then
    for i in $(seq 0 "$WORKERS"); do ip netns del "$NS$i" 2>/dev/null; done
    ip link del "${NS}br" 2>/dev/null
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
PIDS=()

in_ns() { local i="$1"; shift; if [ "$USE_NETNS" = 1 ]; then ip netns exec "$NS$i" "$@"; else "$@"; fi; }

if [ "$USE_NETNS" = 1 ]; then
  ip link add "${NS}br" type bridge && ip addr add 10.77.0.254/24 dev "${NS}br" && ip link set "${NS}br" up
  for i in $(seq 0 "$WORKERS"); do
    ip netns add "$NS$i"
    ip link add "${NS}v$i" type veth peer name eth0 netns "$NS$i"
    ip link set "${NS}v$i" master "${NS}br" up
    ip netns exec "$NS$i" ip addr add "10.77.0.$((i + 1))/24" dev eth0
    ip netns exec "$NS$i" ip link set eth0 up
    ip netns exec "$NS$i" ip link set lo up
  done
  HOST=10.77.0.1
  echo "network namespaces: server $NS""0 at $HOST, workers $NS""1…$NS$WORKERS on bridge ${NS}br"
else
  HOST=127.0.0.1
  echo "network namespaces unavailable (needs root and ip netns): running server and workers on loopback"
fi

chown "$PGUSER_OS" "$WORK" 2>/dev/null || true
run_as_pg "'$PGBIN/initdb' -D '$WORK/pg' -U prunekit --auth=trust >/dev/null"
echo "listen_addresses = '$HOST'" >> "$WORK/pg/postgresql.conf"
echo "host all all 10.77.0.0/24 trust" >> "$WORK/pg/pg_hba.conf"
in_ns 0 su "$PGUSER_OS" -s /bin/sh -c "'$PGBIN/pg_ctl' -D '$WORK/pg' -o '-p 55432 -k $WORK' -l '$WORK/pg.log' -w start" >/dev/null 2>&1 \
  || run_as_pg "'$PGBIN/pg_ctl' -D '$WORK/pg' -o '-p 55432 -k $WORK' -l '$WORK/pg.log' -w start" >/dev/null
run_as_pg "'$PGBIN/createdb' -h '$WORK' -p 55432 -U prunekit prunekit"
DB="postgresql://prunekit@$HOST:55432/prunekit"

# shellcheck disable=SC2086 # SCORE_OPTIONS is a list of options
JOB=$(in_ns 1 "$PRUNEKIT" score "$MODEL" --data "$DATA" "$@" ${SCORE_OPTIONS:-} --db "$DB" --submit)
echo "job $JOB"
for i in $(seq 1 "$WORKERS"); do
  in_ns "$i" "$PRUNEKIT" worker "$MODEL" --data "$DATA" "$@" --db "$DB" --job "$JOB" --threads 1 --idle-exit 60 \
    > "$WORK/worker$i.log" 2>&1 &
  PIDS+=($!)
done
status=0
for p in "${PIDS[@]}"; do wait "$p" || status=$?; done
PIDS=()
for i in $(seq 1 "$WORKERS"); do sed "s/^/worker $i: /" "$WORK/worker$i.log"; done
[ "$status" = 0 ] || { echo "a worker failed (exit $status)" >&2; exit "$status"; }
in_ns 1 "$PRUNEKIT" jobs --db "$DB"
# shellcheck disable=SC2086
in_ns 1 "$PRUNEKIT" score "$MODEL" --data "$DATA" "$@" ${SCORE_OPTIONS:-} --db "$DB" --format json
