#!/bin/bash
# make bench (spool part): issue 21's goals — ackmode=spool against direct INSERTs and against ackmode=immediate, single-row INSERTs one per round trip on a durable server, and a lone client's latency.
#
# The server runs fsync=on and synchronous_commit=on; the spool is a
# directory under $WORK (the same disk). At BENCH_SPOOL_CLIENTS (16) clients,
# pgbench -T BENCH_SPOOL_SECONDS (10) directly, then through a fresh pgbatchd
# with the table's ackmode=spool, then with ackmode=immediate; it prints
# spool / direct (goal >= 3) and spool / immediate (goal >= 0.7), and the
# spool's fsyncs per second and units per fsync. Then one client with
# per-transaction latencies logged (pgbench -l): the median of direct's and
# of spool's (goal: spool's <= direct's). Speed is reported, never asserted.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
PGBATCHD=${PGBATCHD:-$REPO/pgbatchd}
CLIENTS=${BENCH_SPOOL_CLIENTS:-16}
SECS=${BENCH_SPOOL_SECONDS:-10}
THREADS=${BENCH_THREADS:-2}
. "$REPO/scripts/lib.sh"
lib_init bench-spool

pg_start max_connections=$((CLIENTS + 30)) shared_buffers=128MB fsync=on synchronous_commit=on
psql_direct -c "CREATE TABLE spool_bench (b1 bigint PRIMARY KEY, b2 bigint, b3 text)"
cat >"$WORK/insert.sql" <<'EOF'
\set n :n + 1
\set b1 :client_id * 100000000 + :n
\set b2 :n * 7
INSERT INTO spool_bench VALUES (:b1, :b2, 'abcdefghij');
EOF

PXPORT=$(free_port)
mkdir -p "$WORK/spool"
start_pgbatchd() {
	{
		pgbatchd_conf "$PXPORT" max_client_conn=$((CLIENTS + 10)) spool_dir="$WORK/spool"
		printf '\n[table spool_bench]\nackmode = %s\n' "$1"
	} >"$WORK/pgbatchd.ini"
	pgbatchd_start "$WORK/pgbatchd.ini" "$PXPORT"
}

RATE=""
# pgbench_for PORT CLIENTS [LOGPREFIX]: sets RATE (rows/s, without connection time).
pgbench_for() {
	local port=$1 c=$2 out j=$THREADS log=()
	[ "$c" -lt "$j" ] && j=$c
	[ -n "${3:-}" ] && log=(-l --log-prefix="$3")
	out=$(cd "$WORK" && "$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -U postgres -n -M simple -f "$WORK/insert.sql" \
		-D n=0 -c "$c" -j "$j" -T "$SECS" "${log[@]}" postgres 2>&1) || {
		echo "bench: pgbench failed:" >&2
		echo "$out" >&2
		exit 1
	}
	RATE=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' <<<"$out" | sed -n 1p)
	[ -n "$RATE" ] || { echo "bench: no tps in pgbench output:" >&2; echo "$out" >&2; exit 1; }
}

# median_us PREFIX: the median latency (µs) of the transactions pgbench logged
median_us() {
	cat "$WORK/$1".* | awk '{ print $3 }' | sort -n | awk '{ v[NR] = $1 } END { print (NR ? v[int((NR + 1) / 2)] : 0) }'
}

counter() {
	grep -o "$1=[0-9]*" "$WORK/pgbatchd.log" | tail -1 | cut -d= -f2
}

echo "== ackmode=spool, one INSERT per round trip, fsync and synchronous_commit on, $CLIENTS clients, $SECS s per run"
psql_direct -c "TRUNCATE spool_bench" >/dev/null
pgbench_for "$PGPORT" "$CLIENTS"
direct=$RATE
psql_direct -c "TRUNCATE spool_bench" >/dev/null
: >"$WORK/pgbatchd.log"
start_pgbatchd spool
pgbench_for "$PXPORT" "$CLIENTS"
spool=$RATE
pgbatchd_stop
fsyncs=$(counter spool_fsyncs)
batches=$(grep -o ' batches=[0-9]*' "$WORK/pgbatchd.log" | tail -1 | cut -d= -f2)
left=$(ls "$WORK/spool" | grep -c '\.seg$' || true)
psql_direct -c "TRUNCATE spool_bench" >/dev/null
start_pgbatchd immediate
pgbench_for "$PXPORT" "$CLIENTS"
immediate=$RATE
pgbatchd_stop
awk -v d="$direct" -v s="$spool" -v i="$immediate" -v f="${fsyncs:-0}" -v secs="$SECS" -v left="$left" -v b="${batches:-0}" 'BEGIN {
	printf "  direct %9.0f rows/s   spool %9.0f   immediate %9.0f\n", d, s, i
	printf "  spool / direct    = %6.2f   (issue 21 goal: >= 3)\n", s / d
	printf "  spool / immediate = %6.2f   (issue 21 goal: >= 0.7)\n", s / i
	printf "  spool fsyncs: %.0f per second, %.1f units each; segments left after SIGTERM: %d\n",
		f / secs, (f > 0 ? s * secs / f : 0), left
	printf "  batches of the spool run: %.0f per second, %.1f rows each\n", b / secs, (b > 0 ? s * secs / b : 0)
}'

echo "== one client: median latency of an INSERT (pgbench -l), $SECS s per run"
psql_direct -c "TRUNCATE spool_bench" >/dev/null
pgbench_for "$PGPORT" 1 direct
d50=$(median_us direct)
psql_direct -c "TRUNCATE spool_bench" >/dev/null
start_pgbatchd spool
pgbench_for "$PXPORT" 1 spool
s50=$(median_us spool)
pgbatchd_stop
awk -v d="$d50" -v s="$s50" 'BEGIN {
	printf "  direct p50 %6d us   spool p50 %6d us   spool / direct = %.2f   (issue 21 goal: <= 1)\n", d, s, s / d
}'
