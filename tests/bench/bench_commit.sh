#!/bin/bash
# make bench (commit-mode part): issue 18's goal 1 — single-row INSERTs, one per round trip, through pgbatchd with ackmode=commit against the same clients direct, at several concurrencies, on a durable server; each ratio printed beside its target, with rows per batch.
#
# For each client count: pgbench -T BENCH_COMMIT_SECONDS directly, through
# PgBouncer in session mode, then through a fresh pgbatchd (ackmode=commit, the
# defaults otherwise: adaptiveflush, connectionmaxactive 5), the table (b1
# bigint primary key, b2 bigint, b3 text) truncated before each run. PgBouncer
# batches nothing: its column is the price of one hop on this machine, which
# is what the goal at 1 client allows ("the price of one hop, no more"); at 1
# client pgbatchd's rows go on the client's own connection (direct% 100), so
# there pgbatchd is a hop too and its ratio to PgBouncer's is the figure. Twice: with synchronous_commit on (fsync on, as in
# production) and off. Knobs: BENCH_COMMIT_CLIENTS ("1 16 64 256"),
# BENCH_COMMIT_SECONDS (10), BENCH_THREADS (2), PGBATCHD (./pgbatchd). Speed is
# reported, never asserted.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
PGBATCHD=${PGBATCHD:-$REPO/pgbatchd}
CLIENT_COUNTS=${BENCH_COMMIT_CLIENTS:-1 16 64 256}
SECS=${BENCH_COMMIT_SECONDS:-10}
THREADS=${BENCH_THREADS:-2}
. "$REPO/scripts/lib.sh"
lib_init bench-commit

MAXC=1
for c in $CLIENT_COUNTS; do [ "$c" -gt "$MAXC" ] && MAXC=$c; done
pg_start max_connections=$((MAXC + 30)) shared_buffers=128MB fsync=on synchronous_commit=on
psql_direct -c "CREATE TABLE commit_bench (b1 bigint PRIMARY KEY, b2 bigint, b3 text)"
cat >"$WORK/insert.sql" <<'EOF'
\set n :n + 1
\set b1 :client_id * 100000000 + :n
\set b2 :n * 7
INSERT INTO commit_bench VALUES (:b1, :b2, 'abcdefghij');
EOF

PXPORT=$(free_port)
start_pgbatchd() {
	{
		pgbatchd_conf "$PXPORT" max_client_conn=$((MAXC + 10))
		printf '\n[table commit_bench]\nackmode = commit\n'
	} >"$WORK/pgbatchd.ini"
	pgbatchd_start "$WORK/pgbatchd.ini" "$PXPORT"
}

RATE=""
# pgbench_for PORT CLIENTS: sets RATE (rows/s, without connection time).
pgbench_for() {
	local port=$1 c=$2 out j=$THREADS
	[ "$c" -lt "$j" ] && j=$c
	out=$("$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -U postgres -n -M simple -f "$WORK/insert.sql" \
		-D n=0 -c "$c" -j "$j" -T "$SECS" postgres 2>&1) || {
		echo "bench: pgbench failed:" >&2
		echo "$out" >&2
		exit 1
	}
	RATE=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' <<<"$out" | sed -n 1p)
	[ -n "$RATE" ] || { echo "bench: no tps in pgbench output:" >&2; echo "$out" >&2; exit 1; }
}

# target SYNC CLIENTS: the goal's ratio, or "-" where it sets none
target() {
	case "$1:$2" in
	on:1) echo 0.9 ;; on:16) echo 2 ;; on:64) echo 3 ;; on:256) echo 4 ;;
	off:16) echo 1 ;; off:64) echo 2 ;; *) echo - ;;
	esac
}

for sync in on off; do
	psql_direct -c "ALTER SYSTEM SET synchronous_commit = $sync" -c "SELECT pg_reload_conf()" >/dev/null
	echo "== ackmode=commit, one INSERT per round trip, synchronous_commit=$sync, $SECS s per run"
	printf '  %7s %9s %16s %9s %7s %7s %10s %8s %7s\n' clients direct "pgbouncer (hop)" pgbatchd ratio target "/pgbouncer" \
		"rows/b" "direct%"
	for c in $CLIENT_COUNTS; do
		psql_direct -c "TRUNCATE commit_bench" >/dev/null
		pgbench_for "$PGPORT" "$c"
		direct=$RATE
		psql_direct -c "TRUNCATE commit_bench" >/dev/null
		# (started per run: its pooled server connections, idle after a
		# run, would hold max_connections' slots through the next ones)
		pgbouncer_start $((c + 10))
		pgbench_for "$BNCPORT" "$c"
		hop=$RATE
		pgbouncer_stop
		psql_direct -c "TRUNCATE commit_bench" >/dev/null
		start_pgbatchd
		pgbench_for "$PXPORT" "$c"
		proxy=$RATE
		pgbatchd_stop
		rows=$(grep -o 'rows_written=[0-9]*' "$WORK/pgbatchd.log" | tail -1 | cut -d= -f2)
		batches=$(grep -o ' batches=[0-9]*' "$WORK/pgbatchd.log" | tail -1 | cut -d= -f2)
		drows=$(grep -o 'direct_rows=[0-9]*' "$WORK/pgbatchd.log" | tail -1 | cut -d= -f2)
		# rows per batch: of the rows the writers wrote; direct%: the rows
		# written alone on their client's own connection (directwrite)
		awk -v c="$c" -v d="$direct" -v h="$hop" -v p="$proxy" -v t="$(target "$sync" "$c")" -v r="${rows:-0}" \
			-v b="${batches:-0}" -v dr="${drows:-0}" 'BEGIN {
			printf "  %7d %9.0f %9.0f (%4.2f) %9.0f %7.2f %7s %10.2f %8.1f %6.0f%%\n", c, d, h, h / d, p, p / d,
				(t == "-" ? "-" : ">= " t), p / h, (b > 0 ? (r - dr) / b : 0), (r > 0 ? 100 * dr / r : 0)
		}'
	done
done
