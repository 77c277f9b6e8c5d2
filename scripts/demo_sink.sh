#!/bin/bash
# The seed's scenario as a demo: a throwaway PostgreSQL, pgbatchd with test_adbpg_table configured as in conf/pgbatchd.ini, datagen INSERTs through it, the result, then everything stopped.
#
# The seed's Flink job streams datagen_source (f_sequence 1..1000, f_random 1..1000,
# a 10-character random string) into test_adbpg_table at 5 rows/s through the
# ADBPG connector. Here the same rows come from scripts/datagen.py as ordinary
# single-row INSERTs over DEMO_CLIENTS connections, and pgbatchd batches them.
# Then a burst from more clients shows the batches growing under load.
# Knobs (environment): DEMO_ROWS (1000), DEMO_RATE (500 rows/s; the seed's is 5),
# DEMO_CLIENTS (4), DEMO_BURST_ROWS (20000), DEMO_BURST_CLIENTS (32), PGBATCHD (./pgbatchd).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PGBATCHD=${PGBATCHD:-$REPO/pgbatchd}
ROWS=${DEMO_ROWS:-1000}
RATE=${DEMO_RATE:-500}
CLIENTS=${DEMO_CLIENTS:-4}
BURST_ROWS=${DEMO_BURST_ROWS:-20000}
BURST_CLIENTS=${DEMO_BURST_CLIENTS:-32}
. "$REPO/scripts/lib.sh"
lib_init demo-sink

pg_start
echo "== PostgreSQL 15 on 127.0.0.1:$PGPORT"

echo "== the seed's table"
psql_direct -e -c "CREATE TABLE test_adbpg_table (b1 int, b2 int, b3 text, PRIMARY KEY (b1))"

# The sample configuration, pointed at this server and port; the table logs one
# line per batch (verbose = 1) so the batching shows in the log below.
PXPORT=$(free_port)
sed -e "s|^listen_port = .*|listen_port = $PXPORT|" \
	-e "s|^url = .*|url = postgresql://127.0.0.1:$PGPORT/postgres|" \
	-e "s|^;logfile = .*|logfile = $WORK/pgbatchd.log|" \
	"$REPO/conf/pgbatchd.ini" |
awk '/^\[table / { intable = 1 } intable && /^verbose = / { $0 = "verbose = 1" } { print }' >"$WORK/pgbatchd.ini"
echo "== pgbatchd configuration (the [table] section)"
sed -n '/^\[table /,$p' "$WORK/pgbatchd.ini" | grep -v '^#' | grep -v '^;' | grep -v '^$'

echo "== starting pgbatchd on 127.0.0.1:$PXPORT"
pgbatchd_start "$WORK/pgbatchd.ini" "$PXPORT"

batches() {
	grep -c 'flush table=' "$WORK/pgbatchd.log" || true
}
# rows written alone on their client's own connection (directwrite = 1)
direct_rows() {
	grep -o 'direct table=[^ ]* rows=[0-9]*' "$WORK/pgbatchd.log" | awk -F'rows=' '{ n += $2 } END { print n + 0 }'
}

DSN="host=127.0.0.1 port=$PXPORT dbname=postgres user=postgres"
echo "== datagen, the seed's source: $ROWS rows at $RATE rows/s from $CLIENTS clients, single-row INSERTs"
"$PYTHON" "$REPO/scripts/datagen.py" --dsn "$DSN" --table test_adbpg_table \
	--field b1=sequence:1:"$ROWS" --field b2=random:1:1000 --field b3=string:10 \
	--rows-per-second "$RATE" --clients "$CLIENTS"
B1=$(batches)
D1=$(direct_rows)
echo "   -> $D1 rows written directly, each on its client's own connection, and $B1 batches: at low load"
echo "      nothing else of the table is in flight, so a lone row goes at once (directwrite = 1)"

echo "== datagen, a burst: $BURST_ROWS more rows, unthrottled, from $BURST_CLIENTS clients"
"$PYTHON" "$REPO/scripts/datagen.py" --dsn "$DSN" --table test_adbpg_table \
	--field b1=sequence:$((ROWS + 1)):$((ROWS + BURST_ROWS)) --field b2=random:1:1000 --field b3=string:10 \
	--rows-per-second 0 --clients "$BURST_CLIENTS"
B2=$(batches)
D2=$(direct_rows)
awk -v b="$((B2 - B1))" -v r="$BURST_ROWS" -v d="$((D2 - D1))" -v c="$BURST_CLIENTS" 'BEGIN {
	printf "   -> %d rows in %d batches, %.1f rows per batch, and %d rows written directly:\n", r - d, b, (b ? (r - d) / b : 0), d
	printf "      each of the %d clients waits for its row'"'"'s commit; the rows that arrive while a batch\n", c
	printf "      commits go together in the next one (group commit), so batches grow with the clients\n" }'

echo "== the table (read directly from PostgreSQL)"
psql_direct <<'SQL'
SELECT count(*) AS rows, min(b1), max(b1), count(DISTINCT b1) AS distinct_keys FROM test_adbpg_table;
SELECT * FROM test_adbpg_table ORDER BY b1 LIMIT 5;
SQL

kill -USR1 "$PGBATCHD_PID"
sleep 0.3
echo "== pgbatchd: the last batches and its counters"
grep -E 'flush table=' "$WORK/pgbatchd.log" | tail -5 || true
grep -E 'stats: (intercepted|sink)' "$WORK/pgbatchd.log" | tail -2 | cut -c1-300
pgbatchd_stop
echo "== pgbatchd stopped (exit $PGBATCHD_STATUS)"
