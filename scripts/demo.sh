#!/bin/bash
# make demo-proxy: a throwaway PostgreSQL, pgbatchd in front of it, a short psql session through the proxy, then both stopped.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PGBATCHD=${PGBATCHD:-$REPO/pgbatchd}
. "$REPO/scripts/lib.sh"
lib_init demo

pg_start
echo "== PostgreSQL 15 on 127.0.0.1:$PGPORT"

PXPORT=$(free_port)
pgbatchd_conf "$PXPORT" >"$WORK/pgbatchd.ini"
echo "== starting pgbatchd on 127.0.0.1:$PXPORT"
pgbatchd_start "$WORK/pgbatchd.ini" "$PXPORT"

echo "== psql through pgbatchd"
"$PGBIN/psql" -X -a -h 127.0.0.1 -p "$PXPORT" -U postgres -d postgres -v ON_ERROR_STOP=1 <<'SQL'
SELECT 'hello through pgbatchd' AS greeting, pg_backend_pid() > 0 AS own_backend;
CREATE TABLE demo (id int PRIMARY KEY, name text);
INSERT INTO demo VALUES (1, 'one'), (2, 'two');
COPY demo FROM STDIN;
3	three
\.
SELECT * FROM demo ORDER BY id;
BEGIN;
DELETE FROM demo;
ROLLBACK;
SELECT count(*) AS rows_after_rollback FROM demo;
SQL

pgbatchd_stop
echo "== pgbatchd stopped (exit $PGBATCHD_STATUS)"
echo "== pgbatchd log"
cat "$WORK/pgbatchd.log"
