#!/bin/bash
# make demo: a throwaway PostgreSQL, pgbatchd in front of it, a short psql session through the proxy, then both stopped.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PGBIN=/usr/lib/postgresql/15/bin
PGBATCHD=${PGBATCHD:-$REPO/pgbatchd}
PYTHON=/usr/bin/python3

[ -x "$PGBATCHD" ] || { echo "demo: $PGBATCHD not built (run make)" >&2; exit 1; }

AS_PG=()
if [ "$(id -u)" -eq 0 ]; then
	AS_PG=(runuser -u postgres --)   # the server refuses to run as root
fi

WORK=$(mktemp -d /tmp/pgbatchd-demo.XXXXXX)
chmod 755 "$WORK"
[ "$(id -u)" -eq 0 ] && chown postgres: "$WORK"
PGDATA="$WORK/data"
PGBATCHD_PID=""

cleanup() {
	set +e
	if [ -n "$PGBATCHD_PID" ] && kill -0 "$PGBATCHD_PID" 2>/dev/null; then
		kill -TERM "$PGBATCHD_PID"
		wait "$PGBATCHD_PID"
		echo "== pgbatchd stopped (exit $?)"
	fi
	if [ -f "$PGDATA/postmaster.pid" ]; then
		"${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 && echo "== PostgreSQL stopped"
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	"$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

PGPORT=$(free_port)
echo "== starting PostgreSQL 15 on 127.0.0.1:$PGPORT"
"${AS_PG[@]}" "$PGBIN/initdb" -D "$PGDATA" -A trust --no-sync -U postgres -E UTF8 --locale=C >/dev/null
"${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -l "$WORK/postgres.log" -w \
	-o "-p $PGPORT -k $WORK -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null

PXPORT=$(free_port)
printf '"postgres" "postgres"\n' >"$WORK/userlist.txt"
cat >"$WORK/pgbatchd.ini" <<EOF
[pgbatchd]
listen_addr = 127.0.0.1
listen_port = $PXPORT
auth_type = trust
auth_file = $WORK/userlist.txt
logfile = $WORK/pgbatchd.log

[backend]
url = postgresql://127.0.0.1:$PGPORT/postgres
username = postgres
password = postgres
EOF
echo "== starting pgbatchd on 127.0.0.1:$PXPORT"
"$PGBATCHD" -c "$WORK/pgbatchd.ini" &
PGBATCHD_PID=$!
for _ in $(seq 200); do
	"$PYTHON" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$PXPORT" \
		2>/dev/null && break
	sleep 0.05
done

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

echo "== pgbatchd log"
cat "$WORK/pgbatchd.log"
