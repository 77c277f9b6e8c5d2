#!/bin/bash
# make bench: pgbench -S throughput directly, through pgbatchd and through PgBouncer (session pool), printed as ratios.
#
# Self-contained: starts a throwaway PostgreSQL 15, pgbatchd (release build) and
# PgBouncer on free ports, runs one pgbench per target, stops everything.
# Knobs (environment): BENCH_SECONDS (15), BENCH_SCALE (10), BENCH_CLIENTS (8),
# BENCH_THREADS (2), PGBATCHD (./pgbatchd). Speed is reported, never asserted.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
PGBIN=/usr/lib/postgresql/15/bin
PGBATCHD=${PGBATCHD:-$REPO/pgbatchd}
SECONDS_PER_RUN=${BENCH_SECONDS:-15}
SCALE=${BENCH_SCALE:-10}
CLIENTS=${BENCH_CLIENTS:-8}
THREADS=${BENCH_THREADS:-2}
PYTHON=/usr/bin/python3

[ -x "$PGBATCHD" ] || { echo "bench: $PGBATCHD not built (run make)" >&2; exit 1; }
command -v pgbouncer >/dev/null || { echo "bench: pgbouncer not installed (run make deps)" >&2; exit 1; }

# The server and PgBouncer refuse to run as root: run them as postgres.
AS_PG=()
if [ "$(id -u)" -eq 0 ]; then
	AS_PG=(runuser -u postgres --)
fi

WORK=$(mktemp -d /tmp/pgbatchd-bench.XXXXXX)
chmod 755 "$WORK"
[ "$(id -u)" -eq 0 ] && chown postgres: "$WORK"
PGDATA="$WORK/data"
PGBATCHD_PID=""

free_port() {
	"$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cleanup() {
	set +e
	if [ -n "$PGBATCHD_PID" ] && kill -0 "$PGBATCHD_PID" 2>/dev/null; then
		kill -TERM "$PGBATCHD_PID"
		wait "$PGBATCHD_PID" 2>/dev/null
	fi
	if [ -f "$WORK/pgbouncer.pid" ]; then
		kill -TERM "$(cat "$WORK/pgbouncer.pid")" 2>/dev/null
		for _ in $(seq 50); do [ -f "$WORK/pgbouncer.pid" ] || break; sleep 0.1; done
	fi
	if [ -f "$PGDATA/postmaster.pid" ]; then
		"${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() {
	local port=$1
	for _ in $(seq 200); do
		if "$PYTHON" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$port" 2>/dev/null; then
			return 0
		fi
		sleep 0.05
	done
	echo "bench: nothing listens on port $port" >&2
	return 1
}

PGPORT=$(free_port)
echo "== PostgreSQL 15 on 127.0.0.1:$PGPORT (scale $SCALE)"
"${AS_PG[@]}" "$PGBIN/initdb" -D "$PGDATA" -A trust --no-sync -U postgres -E UTF8 --locale=C >/dev/null
cat >>"$PGDATA/postgresql.conf" <<EOF
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
shared_buffers = 128MB
EOF
"${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -l "$WORK/postgres.log" -w \
	-o "-p $PGPORT -k $WORK -c listen_addresses=127.0.0.1" start >/dev/null
"$PGBIN/pgbench" -h 127.0.0.1 -p "$PGPORT" -U postgres -i -s "$SCALE" -q postgres 2>&1 | tail -1

# pgbatchd, release build, pass-through only (no [table] sections).
PXPORT=$(free_port)
mkdir -p "$WORK/pgbatchd"
printf '"postgres" "postgres"\n' >"$WORK/pgbatchd/userlist.txt"
cat >"$WORK/pgbatchd/pgbatchd.ini" <<EOF
[pgbatchd]
listen_addr = 127.0.0.1
listen_port = $PXPORT
auth_type = trust
auth_file = $WORK/pgbatchd/userlist.txt
max_client_conn = 200
logfile = $WORK/pgbatchd/pgbatchd.log
verbose = 0

[backend]
url = postgresql://127.0.0.1:$PGPORT/postgres
username = postgres
password = postgres
EOF
"$PGBATCHD" -c "$WORK/pgbatchd/pgbatchd.ini" >"$WORK/pgbatchd/stderr.log" 2>&1 &
PGBATCHD_PID=$!
wait_port "$PXPORT"

# PgBouncer in session mode: one server connection per client, like pgbatchd.
BNCPORT=$(free_port)
printf '"postgres" ""\n' >"$WORK/pgbouncer.users"
cat >"$WORK/pgbouncer.ini" <<EOF
[databases]
* = host=127.0.0.1 port=$PGPORT

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BNCPORT
unix_socket_dir =
auth_type = trust
auth_file = $WORK/pgbouncer.users
pool_mode = session
max_client_conn = 200
default_pool_size = 20
logfile = $WORK/pgbouncer.log
pidfile = $WORK/pgbouncer.pid
EOF
[ "$(id -u)" -eq 0 ] && chown postgres: "$WORK/pgbouncer.ini" "$WORK/pgbouncer.users"
"${AS_PG[@]}" pgbouncer -d "$WORK/pgbouncer.ini"
wait_port "$BNCPORT"

# One pgbench run; sets TPS (excluding connection time) and prints it.
TPS=""
run() {
	local name=$1 port=$2 out
	out=$("$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -U postgres -n -S -M prepared \
		-c "$CLIENTS" -j "$THREADS" -T "$SECONDS_PER_RUN" postgres 2>&1) || {
		echo "bench: pgbench against $name failed:" >&2
		echo "$out" >&2
		exit 1
	}
	TPS=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\) .*/\1/p' | head -1)
	[ -n "$TPS" ] || { echo "bench: no tps in pgbench output:" >&2; echo "$out" >&2; exit 1; }
	printf '  %-10s %12.1f tps\n' "$name" "$TPS"
}

echo "== pgbench -S -M prepared -c $CLIENTS -j $THREADS -T $SECONDS_PER_RUN"
run direct "$PGPORT"
DIRECT=$TPS
run pgbatchd "$PXPORT"
PROXY=$TPS
run pgbouncer "$BNCPORT"
BOUNCER=$TPS

echo "== ratios"
awk -v p="$PROXY" -v d="$DIRECT" -v b="$BOUNCER" 'BEGIN {
	printf "  pgbatchd / direct    = %.3f\n", p / d
	printf "  pgbatchd / pgbouncer = %.3f\n", p / b
}'
PGBATCHD="$PGBATCHD" "$REPO/tests/bench/bench_insert.sh"   # INSERT batching: rows/s and ratios
