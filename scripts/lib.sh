# Shared by the demo and bench scripts (sourced, not run): a throwaway
# PostgreSQL 15 and a pgbatchd on free ports, each stopped by its PID.
#
# The sourcing script sets REPO and PGBATCHD, then calls lib_init NAME.
# It may define on_cleanup (run first at exit, e.g. to stop more servers).

PGBIN=/usr/lib/postgresql/15/bin
PYTHON=/usr/bin/python3
PGBATCHD_PID=""
PGBATCHD_STATUS=""

# lib_init NAME: the work directory, the exit trap; checks the binary.
lib_init() {
	LIB_NAME=$1
	[ -x "$PGBATCHD" ] || { echo "$LIB_NAME: $PGBATCHD not built (run make)" >&2; exit 1; }
	AS_PG=()
	if [ "$(id -u)" -eq 0 ]; then
		AS_PG=(runuser -u postgres --)   # the server refuses to run as root
	fi
	WORK=$(mktemp -d "/tmp/pgbatchd-$LIB_NAME.XXXXXX")
	chmod 755 "$WORK"
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres: "$WORK"
	fi
	PGDATA="$WORK/data"
	trap lib_cleanup EXIT
	trap 'exit 130' INT TERM
}

lib_cleanup() {
	set +e
	if declare -F on_cleanup >/dev/null; then
		on_cleanup
	fi
	pgbatchd_stop
	pgbouncer_stop
	pg_stop
	rm -rf "$WORK"
}

free_port() {
	"$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT: until something accepts connections there (10 s at most).
wait_port() {
	for _ in $(seq 200); do
		if "$PYTHON" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$1" 2>/dev/null; then
			return 0
		fi
		sleep 0.05
	done
	echo "$LIB_NAME: nothing listens on port $1" >&2
	return 1
}

# pg_start [SETTING=VALUE ...]: initdb and start on 127.0.0.1:$PGPORT (chosen
# here), durability off; the arguments are more postgresql.conf lines.
pg_start() {
	local kv
	PGPORT=$(free_port)
	"${AS_PG[@]}" "$PGBIN/initdb" -D "$PGDATA" -A trust --no-sync -U postgres -E UTF8 --locale=C >/dev/null
	{
		echo "fsync = off"
		echo "synchronous_commit = off"
		echo "full_page_writes = off"
		for kv in "$@"; do
			echo "${kv%%=*} = ${kv#*=}"
		done
	} >>"$PGDATA/postgresql.conf"
	"${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -l "$WORK/postgres.log" -w \
		-o "-p $PGPORT -k $WORK -c listen_addresses=127.0.0.1" start >/dev/null
}

pg_stop() {
	if [ -f "$PGDATA/postmaster.pid" ]; then
		"${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1
	fi
}

# pgbouncer_start MAX_CLIENTS: PgBouncer in session mode (one server
# connection per client, no batching: one hop and nothing else) on
# 127.0.0.1:$BNCPORT (chosen here) in front of the server, trust auth. It
# refuses to run as root, like the server: it runs as postgres (AS_PG).
# BNC_EXTRA: more [pgbouncer] lines (TLS keys, ...).
pgbouncer_start() {
	command -v pgbouncer >/dev/null || { echo "$LIB_NAME: pgbouncer not installed (run make deps)" >&2; return 1; }
	BNCPORT=$(free_port)
	printf '"postgres" ""\n' >"$WORK/pgbouncer.users"
	cat >"$WORK/pgbouncer.ini" <<EOT
[databases]
* = host=127.0.0.1 port=$PGPORT

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BNCPORT
unix_socket_dir =
auth_type = trust
auth_file = $WORK/pgbouncer.users
pool_mode = session
max_client_conn = $1
default_pool_size = $1
logfile = $WORK/pgbouncer.log
pidfile = $WORK/pgbouncer.pid
${BNC_EXTRA:-}
EOT
	[ "$(id -u)" -eq 0 ] && chown postgres: "$WORK/pgbouncer.ini" "$WORK/pgbouncer.users"
	"${AS_PG[@]}" pgbouncer -d "$WORK/pgbouncer.ini"
	wait_port "$BNCPORT"
}

# pgbouncer_stop: SIGTERM, then until its pid file is gone (5 s at most).
pgbouncer_stop() {
	if [ -f "$WORK/pgbouncer.pid" ]; then
		kill -TERM "$(cat "$WORK/pgbouncer.pid")" 2>/dev/null
		for _ in $(seq 50); do [ -f "$WORK/pgbouncer.pid" ] || break; sleep 0.1; done
	fi
}

psql_direct() {
	"$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"
}

# pgbatchd_conf PORT [PGBATCHD_KEY=VALUE ...]: a config's [pgbatchd] and
# [backend] sections on stdout (trust auth, the log in $WORK); more [backend]
# keys and [table] sections may follow it.
pgbatchd_conf() {
	local port=$1 kv
	shift
	printf '"postgres" "postgres"\n' >"$WORK/userlist.txt"
	echo "[pgbatchd]"
	echo "listen_addr = 127.0.0.1"
	echo "listen_port = $port"
	echo "auth_type = trust"
	echo "auth_file = $WORK/userlist.txt"
	echo "logfile = $WORK/pgbatchd.log"
	for kv in "$@"; do
		echo "${kv%%=*} = ${kv#*=}"
	done
	echo
	echo "[backend]"
	echo "url = postgresql://127.0.0.1:$PGPORT/postgres"
	echo "username = postgres"
	echo "password = postgres"
}

# pgbatchd_start INI PORT: starts it (stderr to $WORK/pgbatchd.stderr) and
# waits until it listens on PORT.
pgbatchd_start() {
	"$PGBATCHD" -c "$1" >>"$WORK/pgbatchd.stderr" 2>&1 &
	PGBATCHD_PID=$!
	wait_port "$2"
}

# pgbatchd_stop: SIGTERM (which drains every buffered row), then its exit
# status in PGBATCHD_STATUS.
pgbatchd_stop() {
	PGBATCHD_STATUS=""
	if [ -n "$PGBATCHD_PID" ] && kill -0 "$PGBATCHD_PID" 2>/dev/null; then
		kill -TERM "$PGBATCHD_PID"
		PGBATCHD_STATUS=0
		wait "$PGBATCHD_PID" || PGBATCHD_STATUS=$?
	fi
	PGBATCHD_PID=""
}
