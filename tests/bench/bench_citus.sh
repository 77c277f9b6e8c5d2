#!/bin/bash
# make bench (Citus part): issue 22's goal 5 — single-row INSERTs, one per round trip, from 64 clients into a hash-distributed table (32 shards) of a Citus coordinator with two workers: directly through the coordinator, then through pgbatchd with ackmode=commit and ackmode=immediate; ratios printed beside their targets, with rows and shard statements per batch.
#
# Citus is built and installed first when it is not (scripts/citus.sh). The
# three servers are durable (fsync and synchronous_commit on) and share this
# machine's cores and disk with pgbench and pgbatchd. For ackmode=immediate
# two rates are printed: the acknowledgements pgbench saw, and the rows
# written per second from the first INSERT until pgbatchd had drained every
# acknowledged row (SIGTERM drains) — the rate the backend took.
# Knobs: BENCH_CITUS_TABLE (more lines of the table's section, e.g.
# 'writemode = 0\n'), BENCH_CITUS_BACKEND (more [backend] lines),
# BENCH_CITUS_KEYTYPE (the distribution column's type, bigint; numeric: rows
# not grouped by shard), BENCH_CITUS_FSYNC (on), BENCH_CITUS_CLIENTS (64),
# BENCH_CITUS_SECONDS (15), BENCH_THREADS (2), PGBATCHD (./pgbatchd). Speed is
# reported, never asserted.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
PGBATCHD=${PGBATCHD:-$REPO/pgbatchd}
CLIENTS=${BENCH_CITUS_CLIENTS:-64}
SECS=${BENCH_CITUS_SECONDS:-15}
THREADS=${BENCH_THREADS:-2}
SHARDS=32
. "$REPO/scripts/lib.sh"

"$REPO/scripts/citus.sh" >/dev/null
lib_init bench-citus

WORKER_PORTS=()
on_cleanup() {
	local i
	for i in 0 1; do
		[ -f "$WORK/w$i/postmaster.pid" ] && "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$WORK/w$i" -m fast -w stop >/dev/null 2>&1
	done
	return 0
}

SETTINGS=(shared_preload_libraries=citus max_connections=$((4 * CLIENTS + 100)) max_prepared_transactions=200
	citus.shard_count=$SHARDS shared_buffers=128MB fsync=${BENCH_CITUS_FSYNC:-on} synchronous_commit=${BENCH_CITUS_FSYNC:-on})
pg_start "${SETTINGS[@]}"
for i in 0 1; do
	port=$(free_port)
	"${AS_PG[@]}" "$PGBIN/initdb" -D "$WORK/w$i" -A trust --no-sync -U postgres -E UTF8 --locale=C >/dev/null
	for kv in "${SETTINGS[@]}"; do echo "${kv%%=*} = ${kv#*=}"; done >>"$WORK/w$i/postgresql.conf"
	"${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$WORK/w$i" -l "$WORK/w$i.log" -w \
		-o "-p $port -k $WORK -c listen_addresses=127.0.0.1" start >/dev/null
	"$PGBIN/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -c "CREATE EXTENSION citus"
	WORKER_PORTS+=("$port")
done
psql_direct -c "CREATE EXTENSION citus" -c "SELECT citus_set_coordinator_host('127.0.0.1', $PGPORT)" >/dev/null
for port in "${WORKER_PORTS[@]}"; do
	psql_direct -c "SELECT citus_add_node('127.0.0.1', $port)" >/dev/null
done
psql_direct -c "CREATE TABLE citus_bench (b1 ${BENCH_CITUS_KEYTYPE:-bigint} PRIMARY KEY, b2 bigint, b3 text)" \
	-c "SELECT create_distributed_table('citus_bench', 'b1')" >/dev/null
cat >"$WORK/insert.sql" <<'EOF'
\set n :n + 1
\set b1 :client_id * 100000000 + :n
\set b2 :n * 7
INSERT INTO citus_bench VALUES (:b1, :b2, 'abcdefghij');
EOF

PXPORT=$(free_port)
start_pgbatchd() {
	{
		pgbatchd_conf "$PXPORT" max_client_conn=$((CLIENTS + 10))
		printf '%b' "${BENCH_CITUS_BACKEND:-}"
		printf '\n[table citus_bench]\nackmode = %s\n%b' "$1" "${BENCH_CITUS_TABLE:-}"
	} >"$WORK/pgbatchd.ini"
	: >"$WORK/pgbatchd.log"
	pgbatchd_start "$WORK/pgbatchd.ini" "$PXPORT"
}

RATE=""
# pgbench_for PORT: sets RATE (rows/s acknowledged, without connection time).
pgbench_for() {
	local out
	out=$("$PGBIN/pgbench" -h 127.0.0.1 -p "$1" -U postgres -n -M simple -f "$WORK/insert.sql" \
		-D n=0 -c "$CLIENTS" -j "$THREADS" -T "$SECS" postgres 2>&1) || {
		echo "bench: pgbench failed:" >&2
		echo "$out" >&2
		exit 1
	}
	RATE=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' <<<"$out" | sed -n 1p)
	[ -n "$RATE" ] || { echo "bench: no tps in pgbench output:" >&2; echo "$out" >&2; exit 1; }
}

stat_of() {
	grep -o " $1=[0-9]*" "$WORK/pgbatchd.log" | tail -1 | cut -d= -f2
}

now() {
	date +%s.%N
}

echo "== Citus $(psql_direct -Atc "SELECT extversion FROM pg_extension WHERE extname = 'citus'"): coordinator + 2 workers," \
	"$SHARDS shards, fsync on; $CLIENTS clients, one INSERT per round trip, $SECS s per run"
printf '  %-20s %10s %12s %7s %8s %10s %14s\n' leg "rows/s" "written/s" ratio target "rows/b" "shard stmts/b"
psql_direct -c "TRUNCATE citus_bench" >/dev/null
pgbench_for "$PGPORT"
direct=$RATE
printf '  %-20s %10.0f %12.0f %7s %8s %10s %14s\n' "direct (coordinator)" "$direct" "$direct" 1.00 - - -
for mode in commit immediate; do
	psql_direct -c "TRUNCATE citus_bench" >/dev/null
	start_pgbatchd "$mode"
	t0=$(now)
	pgbench_for "$PXPORT"
	acked=$RATE
	pgbatchd_stop
	t1=$(now)
	[ "$PGBATCHD_STATUS" = 0 ] || { echo "bench: pgbatchd exited with $PGBATCHD_STATUS" >&2; exit 1; }
	rows=$(psql_direct -Atc "SELECT count(*) FROM citus_bench")
	batches=$(stat_of batches)
	sstmts=$(stat_of shard_stmts)
	target=5
	[ "$mode" = immediate ] && target=20
	awk -v m="pgbatchd $mode" -v a="$acked" -v d="$direct" -v r="$rows" -v t0="$t0" -v t1="$t1" -v t="$target" \
		-v b="${batches:-0}" -v s="${sstmts:-0}" 'BEGIN {
		w = r / (t1 - t0)
		printf "  %-20s %10.0f %12.0f %7.2f %8s %10.1f %14.1f\n", m, a, w, (w < a ? w : a) / d, ">= " t,
			(b > 0 ? r / b : 0), (b > 0 ? s / b : 0)
	}'
done
echo "  (ratio: the lower of rows/s and written/s over direct; written/s counts from pgbench's start to the drained stop)"
