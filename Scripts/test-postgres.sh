#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests (`make test` uses it; see README "Studies on PostgreSQL").
#
#   Scripts/test-postgres.sh start DIR    install Debian's `postgresql` if missing (apt-get, as root or via sudo),
#                                         initdb a cluster in DIR (an empty folder), start it on 127.0.0.1 on a free
#                                         port, create the roles and the database; prints the URL
#   Scripts/test-postgres.sh url DIR      the URL of the test role: postgresql://prunekit:…@127.0.0.1:PORT/prunekit_test
#   Scripts/test-postgres.sh restart DIR  stop the server (fast: connections are cut) and start it again on the same port
#   Scripts/test-postgres.sh stop DIR     stop the server and remove DIR (safe to call twice, or after a failed start)
#
# Roles: `prunekit` (LOGIN, CREATEDB, owner of database prunekit_test: the tests create a database per test) and
# `prunekit_noperm` (LOGIN with the same password, CONNECT only: for the permission-denied test). Passwords are
# random per cluster; authentication over TCP is scram-sha-256, so a wrong password is refused for real.
# When run as root, DIR is given to the `postgres` user and the server runs as `postgres` (PostgreSQL refuses root).
# The cluster trades durability for speed (fsync off): it is for tests only.
set -euo pipefail

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|url|restart|stop DIR" >&2; exit 2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

pg_bindir() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

# Runs a server-side command as the cluster's owner.
as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

data="$dir/data"
log="$dir/server.log"

start_server() { # port
    # The server must inherit no descriptor of the caller's: a test runner waiting for a pipe or socket to close
    # (Foundation's Process watches one to see its child end) would wait for the server.
    (
        for fd in /proc/self/fd/*; do n=${fd##*/}; [ "$n" -gt 2 ] && eval "exec $n>&-" 2>/dev/null; done
        as_owner "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 -o "-p $1" start </dev/null >/dev/null 2>>"$dir/pg_ctl.log"
    )
}

case "$cmd" in
start)
    bin=$(pg_bindir || true)
    if [ -z "$bin" ]; then
        echo "test-postgres: installing Debian's postgresql (apt-get)" >&2
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql >/dev/null
        bin=$(pg_bindir) || { echo "test-postgres: postgresql installed but no initdb under /usr/lib/postgresql/*/bin" >&2; exit 1; }
    fi
    mkdir -p "$dir"
    [ -z "$(ls -A "$dir")" ] || { echo "test-postgres: $dir is not empty" >&2; exit 1; }
    if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; chmod 700 "$dir"; fi
    password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
    pwfile="$dir/superuser.pw"
    as_owner sh -c "umask 077; printf '%s\n' '$password' > '$pwfile'"
    as_owner "$bin/initdb" -D "$data" -U postgres --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
        -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    as_owner sh -c "cat >> '$data/postgresql.conf'" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
EOF
    # A free port: skip those in use, and retry when another process takes ours between the check and the start.
    port=""
    for _ in $(seq 1 20); do
        p=$((20000 + RANDOM % 30000))
        if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then continue; fi
        if start_server "$p"; then port=$p; break; fi
    done
    [ -n "$port" ] || { echo "test-postgres: the server did not start; its log:" >&2; cat "$log" >&2 || true; exit 1; }
    psql() { as_owner "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres "$@"; }
    psql -d postgres <<EOF
CREATE ROLE prunekit LOGIN CREATEDB PASSWORD '$password';
CREATE ROLE prunekit_noperm LOGIN PASSWORD '$password';
CREATE DATABASE prunekit_test OWNER prunekit;
EOF
    url="postgresql://prunekit:$password@127.0.0.1:$port/prunekit_test?sslmode=disable"
    as_owner sh -c "umask 077; printf '%s\n' '$url' > '$dir/url'; printf '%s\n' '$port' > '$dir/port'"
    echo "$url"
    ;;
url)
    cat "$dir/url"
    ;;
restart)
    bin=$(pg_bindir)
    as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
    start_server "$(cat "$dir/port")"
    ;;
stop)
    bin=$(pg_bindir || true)
    if [ -n "$bin" ] && [ -f "$data/postmaster.pid" ]; then
        as_owner "$bin/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    case "$dir" in /|/tmp|/tmp/|"$HOME") echo "test-postgres: refusing to remove $dir" >&2; exit 1 ;; esac
    rm -rf -- "$dir"
    ;;
*)
    echo "usage: $0 start|url|restart|stop DIR" >&2; exit 2
    ;;
esac
