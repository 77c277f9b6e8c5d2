#!/bin/bash
# make bench (fleet part): issue 19's goals — many ingest clients on a server with max_connections = 100: rows/s through pgbatchd with BENCH_FLEET_CLIENTS against direct with 90 clients, logins per second of ingest sessions, memory per idle session.
#
# 1. pgbench, one single-row INSERT per transaction (ackmode=commit, durable
#    server), BENCH_FLEET_CLIENTS (1000) clients through pgbatchd; directly,
#    90 clients (what max_connections = 100 leaves). Goal: >= 5x.
# 2. Logins: pgbench -C (a new connection per transaction, the transaction an
#    INSERT), 8 clients, through pgbatchd and directly (a fork per login).
#    Goal: >= 5,000 logins/s through pgbatchd.
# 3. Memory: pgbatchd's RSS before and with BENCH_FLEET_CLIENTS idle ingest
#    sessions (logged in, one INSERT each): per session. Goal: <= 50 KB.
# Knobs: BENCH_FLEET_CLIENTS, BENCH_FLEET_SECONDS (10), PGBATCHD. Speed is
# reported, never asserted.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
PGBATCHD=${PGBATCHD:-$REPO/pgbatchd}
N=${BENCH_FLEET_CLIENTS:-1000}
SECS=${BENCH_FLEET_SECONDS:-10}
PY=/usr/bin/python3
. "$REPO/scripts/lib.sh"
lib_init bench-fleet
ulimit -n "$(ulimit -Hn)"

pg_start max_connections=100 shared_buffers=128MB fsync=on synchronous_commit=on
psql_direct -c "CREATE TABLE fleet_bench (b1 bigint PRIMARY KEY, b2 bigint, b3 text)" >/dev/null
cat >"$WORK/insert.sql" <<'EOF'
\set n :n + 1
\set b1 :client_id * 100000000 + :n + :base
\set b2 :n * 7
INSERT INTO fleet_bench VALUES (:b1, :b2, 'abcdefghij');
EOF

PXPORT=$(free_port)
{
	pgbatchd_conf "$PXPORT" max_client_conn=$((N + 100))
	printf '\n[table fleet_bench]\nackmode = commit\n'
} >"$WORK/pgbatchd.ini"

OUT=""
# pgbench_run PORT CLIENTS SCRIPT [ARGS...]: its output in OUT.
pgbench_run() {
	local port=$1 c=$2 script=$3 j=2
	shift 3
	[ "$c" -lt "$j" ] && j=$c
	OUT=$("$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -U postgres -n -M simple -f "$script" \
		-D n=0 -D base=$((RANDOM * 1000000000)) -c "$c" -j "$j" -T "$SECS" "$@" postgres 2>&1) || {
		echo "bench: pgbench failed:" >&2
		echo "$OUT" >&2
		exit 1
	}
}
tps_of() { sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$OUT" | sed -n 1p; }

echo "== fleet: one INSERT per transaction, ackmode=commit, max_connections=100, $SECS s per run"
pgbatchd_start "$WORK/pgbatchd.ini" "$PXPORT"
"$PY" - "$PXPORT" "$N" "$PGBATCHD_PID" <<'EOF'
import asyncio, sys
import psycopg
port, n, pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])

def rss():
	with open("/proc/%d/status" % pid) as f:
		return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))

async def main():
	dsn = "host=127.0.0.1 port=%d user=postgres dbname=postgres" % port
	async def one(i):
		c = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
		await c.execute("INSERT INTO fleet_bench VALUES (%d, 0, 'idle')" % (-1 - i))
		return c
	warm = [await one(n + i) for i in range(10)]     # writers, catalog, login cache: up
	before = rss()
	gate = asyncio.Semaphore(200)
	async def gated(i):
		async with gate:
			return await one(i)
	conns = await asyncio.gather(*[gated(i) for i in range(n)])
	after = rss()
	print("  memory: %d idle ingest sessions add %.1f KB each to pgbatchd's RSS (goal <= 50 KB)"
		% (n, (after - before) / n))
	for c in conns + warm:
		await c.close()
asyncio.run(main())
EOF
pgbench_run "$PGPORT" 90 "$WORK/insert.sql"
direct=$(tps_of)
pgbench_run "$PXPORT" "$N" "$WORK/insert.sql"
proxy=$(tps_of)
awk -v n="$N" -v d="$direct" -v p="$proxy" 'BEGIN {
	printf "  rows/s: direct (90 clients) %.0f, pgbatchd (%d clients) %.0f: %.2fx (goal >= 5x)\n", d, n, p, p / d }'

printf '\\set x 1\n' >"$WORK/login.sql"
pgbench_run "$PGPORT" 16 "$WORK/login.sql" -C
dl=$(tps_of)
pgbench_run "$PXPORT" 16 "$WORK/login.sql" -C
pl=$(tps_of)
awk -v d="$dl" -v p="$pl" 'BEGIN {
	printf "  logins/s (pgbench -C, 16 clients, a login and logout each): direct %.0f, pgbatchd %.0f (goal >= 5000)\n", d, p }'

pgbatchd_stop
