#!/bin/bash
# make bench (INSERT part): single-row INSERT throughput through pgbatchd against the same clients direct, their round-trip ceiling and a direct COPY, printed as rows/s and ratios.
#
# (a) 1 client, ROWS single-row INSERTs, one per round trip (pgbench -M simple):
#     through pgbatchd with ackmode=immediate, direct, and direct `SELECT 1`
#     round trips (the most a one-at-a-time client can do).
# (b) CLIENTS clients x PER_CLIENT rows one at a time: through pgbatchd with
#     ackmode=commit (each INSERT answered after its batch commits), and direct.
# (c) a direct COPY of the same number of rows as (a): the ceiling.
# Self-contained: a throwaway PostgreSQL 15 and pgbatchd (release build) on free
# ports, stopped at the end. The table is the seed's test_adbpg_table with the
# seed's options (conflictmode=ignore, writemode=1 COPY); direct runs use plain
# INSERTs. Knobs: BENCH_ROWS (200000), BENCH_CLIENTS (64), BENCH_PER_CLIENT (2000),
# BENCH_THREADS (2), PGBATCHD (./pgbatchd). Speed is reported, never asserted.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
PGBIN=/usr/lib/postgresql/15/bin
PGBATCHD=${PGBATCHD:-$REPO/pgbatchd}
ROWS=${BENCH_ROWS:-200000}
CLIENTS=${BENCH_CLIENTS:-64}
PER_CLIENT=${BENCH_PER_CLIENT:-2000}
THREADS=${BENCH_THREADS:-2}
PYTHON=/usr/bin/python3

[ -x "$PGBATCHD" ] || { echo "bench: $PGBATCHD not built (run make)" >&2; exit 1; }

AS_PG=()
if [ "$(id -u)" -eq 0 ]; then
	AS_PG=(runuser -u postgres --)   # the server refuses to run as root
fi

WORK=$(mktemp -d /tmp/pgbatchd-bench-insert.XXXXXX)
chmod 755 "$WORK"
[ "$(id -u)" -eq 0 ] && chown postgres: "$WORK"
PGDATA="$WORK/data"
PGBATCHD_PID=""

free_port() {
	"$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stop_pgbatchd() {
	if [ -n "$PGBATCHD_PID" ] && kill -0 "$PGBATCHD_PID" 2>/dev/null; then
		kill -TERM "$PGBATCHD_PID"
		wait "$PGBATCHD_PID" || true
	fi
	PGBATCHD_PID=""
}

cleanup() {
	set +e
	stop_pgbatchd
	if [ -f "$PGDATA/postmaster.pid" ]; then
		"${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() {
	for _ in $(seq 200); do
		if "$PYTHON" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$1" 2>/dev/null; then
			return 0
		fi
		sleep 0.05
	done
	echo "bench: nothing listens on port $1" >&2
	return 1
}

now() {
	date +%s.%N
}

PGPORT=$(free_port)
echo "== PostgreSQL 15 on 127.0.0.1:$PGPORT"
"${AS_PG[@]}" "$PGBIN/initdb" -D "$PGDATA" -A trust --no-sync -U postgres -E UTF8 --locale=C >/dev/null
cat >>"$PGDATA/postgresql.conf" <<EOF
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = $((2 * CLIENTS + 20))
shared_buffers = 128MB
EOF
"${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -l "$WORK/postgres.log" -w \
	-o "-p $PGPORT -k $WORK -c listen_addresses=127.0.0.1" start >/dev/null

psql_direct() {
	"$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"
}
psql_direct -c "CREATE TABLE test_adbpg_table (b1 int, b2 int, b3 text, PRIMARY KEY (b1))"

# pgbatchd with the seed's table section; ackmode is the only knob that changes.
PXPORT=$(free_port)
start_pgbatchd() {
	local ackmode=$1
	printf '"postgres" "postgres"\n' >"$WORK/userlist.txt"
	cat >"$WORK/pgbatchd.ini" <<EOF
[pgbatchd]
listen_addr = 127.0.0.1
listen_port = $PXPORT
auth_type = trust
auth_file = $WORK/userlist.txt
max_client_conn = $((CLIENTS + 10))
logfile = $WORK/pgbatchd.log

[backend]
url = postgresql://127.0.0.1:$PGPORT/postgres
username = postgres
password = postgres
connectionmaxactive = 5
maxretrytimes = 2
retrywaittime = 200

[table test_adbpg_table]
conflictmode = ignore
writemode = 1
batchsize = 50000
batchwritetimeoutms = 50000
adaptiveflush = 1
ackmode = $ackmode
EOF
	"$PGBATCHD" -c "$WORK/pgbatchd.ini" >>"$WORK/pgbatchd.stderr" 2>&1 &
	PGBATCHD_PID=$!
	wait_port "$PXPORT"
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
echo 'SELECT 1;' >"$WORK/select1.sql"

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
	if ! echo "$out" | grep -q "actually processed: $((c * t))/$((c * t))\$"; then
		echo "bench: pgbench did not complete every transaction:" >&2
		echo "$out" >&2
		exit 1
	fi
	RATE=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' | head -1)
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
pgbench_run "$PGPORT" "$WORK/select1.sql" 1 "$ROWS"
A_CEIL=$RATE
line "direct SELECT 1 round trips (ceiling)" "$A_CEIL"

psql_direct -c "TRUNCATE test_adbpg_table"
pgbench_run "$PGPORT" "$WORK/insert.sql" 1 "$ROWS"
A_DIRECT=$RATE
check_rows "$ROWS"
line "direct INSERT" "$A_DIRECT"

psql_direct -c "TRUNCATE test_adbpg_table"
start_pgbatchd immediate
T0=$(now)
pgbench_run "$PXPORT" "$WORK/insert.sql" 1 "$ROWS"
A_PROXY=$RATE
stop_pgbatchd            # SIGTERM drains: every acknowledged row is committed at exit
T1=$(now)
check_rows "$ROWS"
A_COMMITTED=$(awk -v r="$ROWS" -v a="$T0" -v b="$T1" 'BEGIN { print r / (b - a) }')
line "pgbatchd INSERT, ackmode=immediate (acks)" "$A_PROXY"
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
stop_pgbatchd
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

echo "== ratios"
awk -v ap="$A_PROXY" -v ac="$A_COMMITTED" -v ad="$A_DIRECT" -v ax="$A_CEIL" -v bp="$B_PROXY" -v bd="$B_DIRECT" \
	-v c="$C_COPY" 'BEGIN {
	printf "  (a) pgbatchd immediate / direct INSERT        = %6.2f\n", ap / ad
	printf "  (a) pgbatchd immediate / direct SELECT 1      = %6.2f\n", ap / ax
	printf "  (a) pgbatchd committed / direct INSERT        = %6.2f\n", ac / ad
	printf "  (b) pgbatchd commit / direct INSERT           = %6.2f\n", bp / bd
	printf "  (b) pgbatchd commit / direct COPY             = %6.2f\n", bp / c
	printf "  (a) direct INSERT / direct COPY               = %6.2f\n", ad / c
}'
