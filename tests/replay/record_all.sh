#!/bin/sh
# Records every trace of tests/replay/traces anew (a PostgreSQL 15 per trace; needs javac, node-postgres, asyncpg).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
rec="/usr/bin/python3 $here/record.py"
jdbc=$(mktemp -d)
trap 'rm -rf "$jdbc"' EXIT
javac -d "$jdbc" -cp /usr/share/java/postgresql.jar "$repo/tests/clients/JdbcLoad.java"
JT="CREATE TABLE jt (id int PRIMARY KEY, n bigint, s text, f float8, ts timestamptz, b boolean, d numeric)"
PT="CREATE TABLE pt (id int PRIMARY KEY, v text, n numeric, at timestamptz, d date)"
java="java -cp $jdbc:/usr/share/java/postgresql.jar JdbcLoad jdbc:postgresql://127.0.0.1:{port}/postgres"

$rec --name jdbc_update --setup "$JT" --table "jt" --expect "SELECT * FROM jt ORDER BY id" -- $java update 12
$rec --name jdbc_batch --setup "$JT" --table "jt conflictmode=strict exceptionmode=strict" \
	--expect "SELECT * FROM jt ORDER BY id" -- $java batch 300
$rec --name jdbc_rewrite --setup "$JT" --table "jt" --expect "SELECT * FROM jt ORDER BY id" -- $java rewrite 300
$rec --name jdbc_txcommit --setup "$JT" --table "jt" --expect "SELECT * FROM jt ORDER BY id" -- $java txcommit 30
$rec --name jdbc_txrollback --setup "$JT" --table "jt" --expect "SELECT count(*) FROM jt" -- $java txrollback 20
$rec --name jdbc_batch_duplicate --setup "$JT" --table "jt conflictmode=strict exceptionmode=strict" \
	--expect "SELECT * FROM jt ORDER BY id" -- $java batchdup 40
for m in psycopg3_executemany psycopg3_pipeline psycopg2_tx asyncpg_executemany; do
	$rec --name "$m" --setup "$PT" --table "pt" --expect "SELECT * FROM pt ORDER BY id" -- \
		/usr/bin/python3 "$repo/tests/clients/pyload.py" "$m" 60
done
$rec --name node_pool --setup "CREATE TABLE nt (id int PRIMARY KEY, v text, at timestamptz, n numeric)" \
	--table "nt" --expect "SELECT * FROM nt ORDER BY id" -- node "$repo/tests/clients/node_insert.js" "{port}" postgres pool 40
printf '\\set k random(1, 1000000)\n\\set v :k * 3\nINSERT INTO pbi (k, v) VALUES (:k, :v);\n' > "$jdbc/ins.sql"
$rec --name pgbench_prepared --setup "CREATE TABLE pbi (k int PRIMARY KEY, v int NOT NULL)" \
	--table "pbi conflictmode=ignore" --expect "SELECT * FROM pbi ORDER BY k" -- \
	/usr/lib/postgresql/15/bin/pgbench -h 127.0.0.1 -p "{port}" -U postgres -n -M prepared -c 2 -j 1 -t 30 \
	--random-seed=3 -f "$jdbc/ins.sql" postgres
