#!/bin/bash
# make bench: pgbench -S throughput directly, through pgbatchd and through PgBouncer (session pool), printed as ratios.
#
# Self-contained: starts a throwaway PostgreSQL 15, pgbatchd (release build) and
# PgBouncer on free ports, runs one pgbench per target, stops everything.
# Knobs (environment): BENCH_SECONDS (15), BENCH_SCALE (10), BENCH_CLIENTS (8),
# BENCH_THREADS (2), PGBATCHD (./pgbatchd), BENCH_SKIP_INSERT, BENCH_SKIP_COMMIT,
# BENCH_SKIP_JDBC, BENCH_SKIP_FLEET, BENCH_SKIP_TLS, BENCH_SKIP_CITUS, BENCH_SKIP_CALLGRIND (set: skip that part). Speed is
# reported, never asserted.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
PGBATCHD=${PGBATCHD:-$REPO/pgbatchd}
SECONDS_PER_RUN=${BENCH_SECONDS:-15}
SCALE=${BENCH_SCALE:-10}
CLIENTS=${BENCH_CLIENTS:-8}
THREADS=${BENCH_THREADS:-2}
. "$REPO/scripts/lib.sh"
lib_init bench
pg_start max_connections=100 shared_buffers=128MB
echo "== PostgreSQL 15 on 127.0.0.1:$PGPORT (scale $SCALE)"
"$PGBIN/pgbench" -h 127.0.0.1 -p "$PGPORT" -U postgres -i -s "$SCALE" -q postgres 2>&1 | tail -1

# pgbatchd, release build, pass-through only (no [table] sections).
PXPORT=$(free_port)
pgbatchd_conf "$PXPORT" max_client_conn=200 verbose=0 >"$WORK/pgbatchd.ini"
pgbatchd_start "$WORK/pgbatchd.ini" "$PXPORT"

# PgBouncer in session mode: one server connection per client, like pgbatchd.
pgbouncer_start 200

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
[ -n "${BENCH_SKIP_INSERT:-}" ] || PGBATCHD="$PGBATCHD" "$REPO/tests/bench/bench_insert.sh"   # INSERT batching: rows/s and ratios
[ -n "${BENCH_SKIP_COMMIT:-}" ] || PGBATCHD="$PGBATCHD" "$REPO/tests/bench/bench_commit.sh"   # ackmode=commit by concurrency, against targets
[ -n "${BENCH_SKIP_SPOOL:-}" ] || PGBATCHD="$PGBATCHD" "$REPO/tests/bench/bench_spool.sh"     # ackmode=spool: against direct and immediate, a lone client's latency
[ -n "${BENCH_SKIP_JDBC:-}" ] || PGBATCHD="$PGBATCHD" "$REPO/tests/bench/bench_jdbc.sh"       # pgjdbc executeBatch: rows/s and ratios
[ -n "${BENCH_SKIP_FLEET:-}" ] || PGBATCHD="$PGBATCHD" "$REPO/tests/bench/bench_fleet.sh"     # 1,000 clients on max_connections = 100
[ -n "${BENCH_SKIP_TLS:-}" ] || PGBATCHD="$PGBATCHD" "$REPO/tests/bench/bench_tls.sh"         # TLS: pass-through and ingest, plain vs TLS
[ -n "${BENCH_SKIP_CITUS:-}" ] || PGBATCHD="$PGBATCHD" "$REPO/tests/bench/bench_citus.sh"       # Citus: 64 clients, commit and immediate against direct
[ -n "${BENCH_SKIP_CALLGRIND:-}" ] || PGBATCHD="$PGBATCHD" "$REPO/tests/bench/bench_callgrind.sh"   # instructions per row / statement
