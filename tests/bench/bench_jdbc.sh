#!/bin/bash
# make bench (JDBC part): one pgjdbc executeBatch of BENCH_JDBC_ROWS rows with autoCommit off and a commit, through pgbatchd (ackmode=commit), direct, and direct with reWriteBatchedInserts; rows/s and ratios.
#
# The time is the driver's own, from before executeBatch to after commit()
# returned (JdbcLoad prints it), so JVM start-up is not in it. Knobs:
# BENCH_JDBC_ROWS (100000), PGBATCHD (./pgbatchd). Speed is reported, never asserted.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
PGBATCHD=${PGBATCHD:-$REPO/pgbatchd}
ROWS=${BENCH_JDBC_ROWS:-100000}
JAR=/usr/share/java/postgresql.jar
. "$REPO/scripts/lib.sh"
lib_init bench-jdbc

pg_start shared_buffers=128MB
echo "== (d) pgjdbc executeBatch of $ROWS rows, autoCommit off, then commit (PostgreSQL 15 on 127.0.0.1:$PGPORT)"
javac -d "$WORK" -cp "$JAR" "$REPO/tests/clients/JdbcLoad.java"
psql_direct -c "CREATE TABLE jt (id int PRIMARY KEY, n bigint, s text, f float8, ts timestamptz, b boolean, d numeric)"

PXPORT=$(free_port)
{
	pgbatchd_conf "$PXPORT"
	cat <<CONF
connectionmaxactive = 5

[table jt]
conflictmode = strict
exceptionmode = strict
ackmode = commit
batchsize = 50000
CONF
} >"$WORK/pgbatchd.ini"

# jdbc PORT MODE: the driver's milliseconds for the batch and its commit
MS=""
jdbc() {
	local out
	psql_direct -c "TRUNCATE jt"
	out=$(java -cp "$WORK:$JAR" JdbcLoad "jdbc:postgresql://127.0.0.1:$1/postgres" "$2" "$ROWS" jt 1 2>&1) || {
		echo "bench: JdbcLoad $2 failed:" >&2
		echo "$out" >&2
		exit 1
	}
	MS=$(echo "$out" | sed -n 's/^ms \([0-9]*\)$/\1/p')
	local got
	got=$(psql_direct -At -c "SELECT count(*) FROM jt")
	[ "$got" = "$ROWS" ] || { echo "bench: expected $ROWS rows, found $got" >&2; exit 1; }
}
rate() {
	awk -v r="$ROWS" -v ms="$1" 'BEGIN { print r / (ms / 1000.0) }'
}

jdbc "$PGPORT" txbatch
D_DIRECT=$(rate "$MS")
jdbc "$PGPORT" txrewrite
D_REWRITE=$(rate "$MS")
pgbatchd_start "$WORK/pgbatchd.ini" "$PXPORT"
jdbc "$PXPORT" txbatch
D_PROXY=$(rate "$MS")
pgbatchd_stop
BATCHES=$(grep -o 'batches=[0-9]*' "$WORK/pgbatchd.log" | tail -1 | cut -d= -f2)

printf '  %-46s %12.0f rows/s\n' "direct executeBatch" "$D_DIRECT"
printf '  %-46s %12.0f rows/s\n' "direct executeBatch, reWriteBatchedInserts" "$D_REWRITE"
printf '  %-46s %12.0f rows/s  (%s batches)\n' "pgbatchd executeBatch, ackmode=commit" "$D_PROXY" "$BATCHES"
awk -v p="$D_PROXY" -v d="$D_DIRECT" -v r="$D_REWRITE" 'BEGIN {
	printf "  (d) pgbatchd / direct executeBatch           = %6.2f\n", p / d
	printf "  (d) pgbatchd / direct reWriteBatchedInserts  = %6.2f\n", p / r
}'
