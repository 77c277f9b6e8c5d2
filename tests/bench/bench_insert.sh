#!/bin/bash
# make bench (INSERT part): single-row INSERT throughput through pgbatchd against the same clients direct, their round-trip ceiling and a direct COPY, printed as rows/s and ratios.
#
# (a) 1 client, ROWS single-row INSERTs, one per round trip (pgbench -M simple):
#     through pgbatchd with ackmode=immediate, direct, and direct empty-statement
#     round trips (the most a one-at-a-time client can do).
# (b) CLIENTS clients x PER_CLIENT rows one at a time: through pgbatchd with
#     ackmode=commit (each INSERT answered after its batch commits), and direct.
# (c) a direct COPY of the same number of rows as (a): the ceiling.
# Self-contained: a throwaway PostgreSQL 15 and pgbatchd (release build) on free
# ports, stopped at the end. The table is the seed's test_adbpg_table with the
# seed's options (conflictmode=ignore, writemode=1 COPY); direct runs use plain
# INSERTs. Knobs: BENCH_ROWS (200000), BENCH_CLIENTS (64), BENCH_PER_CLIENT (2000),
# BENCH_THREADS (2), PGBATCHD (./pgbatchd), BENCH_DURABLE (set: fsync and
# synchronous_commit on, as in production). Speed is reported, never asserted;
# the pgbatchd leg of (a) runs three times and reports the median.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
PGBATCHD=${PGBATCHD:-$REPO/pgbatchd}
ROWS=${BENCH_ROWS:-200000}
CLIENTS=${BENCH_CLIENTS:-64}
PER_CLIENT=${BENCH_PER_CLIENT:-2000}
THREADS=${BENCH_THREADS:-2}
. "$REPO/scripts/lib.sh"
lib_init bench-insert

now() {
	date +%s.%N
}

pg_start max_connections=$((2 * CLIENTS + 20)) shared_buffers=128MB ${BENCH_DURABLE:+fsync=on synchronous_commit=on}
echo "== PostgreSQL 15 on 127.0.0.1:$PGPORT"

psql_direct -c "CREATE TABLE test_adbpg_table (b1 int, b2 int, b3 text, PRIMARY KEY (b1))"

# pgbatchd with the seed's table section; ackmode is the only knob that changes.
PXPORT=$(free_port)
start_pgbatchd() {
	{
		pgbatchd_conf "$PXPORT" max_client_conn=$((CLIENTS + 10))
		cat <<EOF
connectionmaxactive = 5
maxretrytimes = 2
retrywaittime = 200

[table test_adbpg_table]
conflictmode = ignore
writemode = 1
batchsize = 50000
batchwritetimeoutms = 50000
adaptiveflush = 1
ackmode = $1
EOF
	} >"$WORK/pgbatchd.ini"
	pgbatchd_start "$WORK/pgbatchd.ini" "$PXPORT"
}

# Every client numbers its own rows: b1 = client_id * 10^7 + n, unique across
# clients and runs of one phase. pgbench keeps a client's variables from one
# transaction to the next, so :n counts up from the -D start value.
cat >"$WORK/insert.sql" <<'EOF'
\set n :n + 1
\set b1 :client_id * 10000000 + :n
\set b2 random(1, 1000)
INSERT INTO test_adbpg_table VALUES (:b1, :b2, 'abcdefghij');
EOF
echo ';' >"$WORK/empty.sql"

RATE=""
# pgbench_run PORT SCRIPT CLIENTS TXNS: sets RATE (transactions/s = rows/s).
pgbench_run() {
	local port=$1 script=$2 c=$3 t=$4 out j=$THREADS
	[ "$c" -lt "$j" ] && j=$c
	out=$("$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -U postgres -n -M simple -f "$script" \
		-D n=0 -c "$c" -j "$j" -t "$t" postgres 2>&1) || {
		echo "bench: pgbench failed:" >&2
		echo "$out" >&2
		exit 1
	}
	# (a here-string, not a pipe: with pipefail, grep -q leaving early could fail the test)
	if ! grep -q "actually processed: $((c * t))/$((c * t))\$" <<<"$out"; then
		echo "bench: pgbench did not complete every transaction:" >&2
		echo "$out" >&2
		exit 1
	fi
	RATE=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' <<<"$out" | sed -n 1p)
	[ -n "$RATE" ] || { echo "bench: no tps in pgbench output:" >&2; echo "$out" >&2; exit 1; }
}

check_rows() {
	local want=$1 got
	got=$(psql_direct -At -c "SELECT count(*) FROM test_adbpg_table")
	[ "$got" = "$want" ] || { echo "bench: expected $want rows, found $got" >&2; exit 1; }
}

line() {
	printf '  %-46s %12.0f rows/s%s\n' "$1" "$2" "${3:-}"
}

echo "== (a) 1 client, $ROWS single-row INSERTs, one per round trip"
pgbench_run "$PGPORT" "$WORK/empty.sql" 1 "$ROWS"
A_CEIL=$RATE
line "direct empty-statement round trips (ceiling)" "$A_CEIL"

psql_direct -c "TRUNCATE test_adbpg_table"
pgbench_run "$PGPORT" "$WORK/insert.sql" 1 "$ROWS"
A_DIRECT=$RATE
check_rows "$ROWS"
line "direct INSERT" "$A_DIRECT"

# Three runs, the median reported: on a small machine the three processes of
# this leg (pgbench, pgbatchd, a backend) sometimes share a core badly and one
# run comes out several times slower than the others.
ACKS=() COMMITTED=()
for _ in 1 2 3; do
	psql_direct -c "TRUNCATE test_adbpg_table"
	start_pgbatchd immediate
	T0=$(now)
	pgbench_run "$PXPORT" "$WORK/insert.sql" 1 "$ROWS"
	pgbatchd_stop            # SIGTERM drains: every acknowledged row is committed at exit
	T1=$(now)
	check_rows "$ROWS"
	ACKS+=("$RATE")
	COMMITTED+=("$(awk -v r="$ROWS" -v a="$T0" -v b="$T1" 'BEGIN { print r / (b - a) }')")
done
median() {
	printf '%s\n' "$@" | sort -g | sed -n 2p
}
A_PROXY=$(median "${ACKS[@]}")
A_COMMITTED=$(median "${COMMITTED[@]}")
line "pgbatchd INSERT, ackmode=immediate (acks)" "$A_PROXY" "  (median of $(printf '%.0f ' "${ACKS[@]}"| sed 's/ $//'))"
line "pgbatchd INSERT, ackmode=immediate (committed)" "$A_COMMITTED" "  (incl. connect and drain)"

TOTAL_B=$((CLIENTS * PER_CLIENT))
echo "== (b) $CLIENTS clients x $PER_CLIENT single-row INSERTs, one at a time ($TOTAL_B rows)"
psql_direct -c "TRUNCATE test_adbpg_table"
pgbench_run "$PGPORT" "$WORK/insert.sql" "$CLIENTS" "$PER_CLIENT"
B_DIRECT=$RATE
check_rows "$TOTAL_B"
line "direct INSERT" "$B_DIRECT"

psql_direct -c "TRUNCATE test_adbpg_table"
start_pgbatchd commit
pgbench_run "$PXPORT" "$WORK/insert.sql" "$CLIENTS" "$PER_CLIENT"
B_PROXY=$RATE
pgbatchd_stop
check_rows "$TOTAL_B"
line "pgbatchd INSERT, ackmode=commit" "$B_PROXY"
BATCHES=$(grep -o 'batches=[0-9]*' "$WORK/pgbatchd.log" | tail -1 | cut -d= -f2)
[ -n "$BATCHES" ] && awk -v r="$TOTAL_B" -v b="$BATCHES" 'BEGIN { if (b > 0) printf "  (%d batches, %.1f rows per batch)\n", b, r / b }'

echo "== (c) direct COPY of $ROWS rows"
psql_direct -c "TRUNCATE test_adbpg_table"
psql_direct -c "\\copy (SELECT g, g % 1000 + 1, 'abcdefghij' FROM generate_series(1, $ROWS) g) TO '$WORK/rows.tsv'"
T0=$(now)
psql_direct -c "\\copy test_adbpg_table FROM '$WORK/rows.tsv'"
T1=$(now)
check_rows "$ROWS"
C_COPY=$(awk -v r="$ROWS" -v a="$T0" -v b="$T1" 'BEGIN { print r / (b - a) }')
line "direct COPY (one psql \\copy)" "$C_COPY"

# (e) one bad row in a thousand (a CHECK violation), exceptionmode=ignore,
# against the same stream with none: what isolating bad rows costs.
echo "== (e) $CLIENTS clients x $PER_CLIENT single-row INSERTs, 1 bad row per 1000 vs none (ackmode=commit)"
psql_direct -c "CREATE TABLE bad_rows (b1 int PRIMARY KEY, b2 int CHECK (b2 > 0), b3 text)"
printf '%s\n' '\set n :n + 1' '\set b1 :client_id * 10000000 + :n' '\set b2 :n % 1000 + 1' \
	"INSERT INTO bad_rows VALUES (:b1, :b2, 'abcdefghij');" >"$WORK/clean.sql"
sed 's/^\\set b2 .*/\\set b2 :n % 1000/' "$WORK/clean.sql" >"$WORK/bad.sql"
start_pgbatchd_bad() {
	{
		pgbatchd_conf "$PXPORT" max_client_conn=$((CLIENTS + 10))
		printf '%s\n' "connectionmaxactive = 5" "" "[table bad_rows]" "conflictmode = ignore" \
			"exceptionmode = ignore" "writemode = 1" "batchsize = 50000" "batchwritetimeoutms = 50000" \
			"ackmode = commit"
	} >"$WORK/pgbatchd.ini"
	pgbatchd_start "$WORK/pgbatchd.ini" "$PXPORT"
}
for kind in clean bad; do
	psql_direct -c "TRUNCATE bad_rows"
	start_pgbatchd_bad
	pgbench_run "$PXPORT" "$WORK/$kind.sql" "$CLIENTS" "$PER_CLIENT"
	pgbatchd_stop
	if [ "$kind" = clean ]; then E_CLEAN=$RATE; want=$TOTAL_B; else E_BAD=$RATE; want=$((TOTAL_B - TOTAL_B / 1000)); fi
	got=$(psql_direct -At -c "SELECT count(*) FROM bad_rows")
	[ "$got" = "$want" ] || { echo "bench: (e) $kind: expected $want rows, found $got" >&2; exit 1; }
	line "pgbatchd INSERT, $kind stream" "$RATE"
done

echo "== ratios"
awk -v ap="$A_PROXY" -v ac="$A_COMMITTED" -v ad="$A_DIRECT" -v ax="$A_CEIL" -v bp="$B_PROXY" -v bd="$B_DIRECT" \
	-v c="$C_COPY" 'BEGIN {
	printf "  (a) pgbatchd immediate / direct INSERT        = %6.2f\n", ap / ad
	printf "  (a) pgbatchd immediate / direct empty stmt   = %6.2f\n", ap / ax
	printf "  (a) pgbatchd committed / direct INSERT        = %6.2f\n", ac / ad
	printf "  (b) pgbatchd commit / direct INSERT           = %6.2f\n", bp / bd
	printf "  (b) pgbatchd commit / direct COPY             = %6.2f\n", bp / c
	printf "  (a) direct INSERT / direct COPY               = %6.2f\n", ad / c
}'
awk -v eb="$E_BAD" -v ec="$E_CLEAN" 'BEGIN {
	printf "  (e) 1 bad row per 1000 / clean stream         = %6.2f\n", eb / ec
}'
