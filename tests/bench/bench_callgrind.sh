#!/bin/bash
# make bench (callgrind part): pgbatchd's own instructions per intercepted row, per row in a transaction block, and per pass-through statement, as marginal costs between a short and a long run under valgrind --tool=callgrind.
#
# Each leg runs pgbatchd (release build) under callgrind twice, for N1 and N2
# units of work, and prints (Ir(N2) - Ir(N1)) / (N2 - N1): start-up, login and
# shutdown cancel out. The legs:
#   row    psql streams single-row INSERTs, autocommit (ackmode=immediate,
#          batchsize 5000, adaptiveflush 0: the rows are buffered and written in
#          a few batches);
#   tx     the same INSERTs inside one BEGIN ... COMMIT (staged, written into
#          the client's transaction);
#   pass   pgbench -M extended SELECTs (no [table]: every message passes through);
#   clause INSERT ... RETURNING into the configured table: each passes through
#          with the table's conflict clause placed by proxy/clause.c;
#   jdbc   pgjdbc executeBatch with autoCommit off, then commit (Bind/Execute
#          per row, 7 columns of 7 types; ackmode=commit, the rows written into
#          the client's transaction);
#   pile   the row leg with batchsize and batchwritetimeoutms raised so far
#          that every unit stays queued until shutdown writes them: a third run
#          of N3 rows, and the marginal cost to N3 against the one to N2 (issue
#          18: no superlinear cost, within 10%).
# Knobs: BENCH_CG_N1 (2000), BENCH_CG_N2 (22000), BENCH_CG_N3 (202000),
# BENCH_CG_LEGS ("row tx pass clause jdbc pile"), BENCH_CG_BATCH (the table's batchsize, 5000), BENCH_CG_KEEP (a directory: the callgrind outputs are kept there,
# for callgrind_annotate), PGBATCHD (./pgbatchd). Counts
# are reported, never asserted.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
PGBATCHD=${PGBATCHD:-$REPO/pgbatchd}
N1=${BENCH_CG_N1:-2000}
N2=${BENCH_CG_N2:-22000}
N3=${BENCH_CG_N3:-202000}
LEGS=${BENCH_CG_LEGS:-row tx pass clause jdbc pile}
. "$REPO/scripts/lib.sh"
lib_init bench-callgrind
command -v valgrind >/dev/null || { echo "bench: valgrind not installed" >&2; exit 1; }

pg_start shared_buffers=128MB
"$PGBIN/pgbench" -h 127.0.0.1 -p "$PGPORT" -U postgres -i -s 1 -q postgres >/dev/null 2>&1
psql_direct -c "CREATE TABLE cg (b1 bigint PRIMARY KEY, b2 bigint, b3 text)"
psql_direct -c "CREATE TABLE jt (id int PRIMARY KEY, n bigint, s text, f float8, ts timestamptz, b boolean, d numeric)"
JAR=/usr/share/java/postgresql.jar
case " $LEGS " in
*" jdbc "*) javac -d "$WORK" -cp "$JAR" "$REPO/tests/clients/JdbcLoad.java" ;;
esac

# under_callgrind INI PORT: pgbatchd under callgrind, listening on PORT
under_callgrind() {
	valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" "$PGBATCHD" -c "$1" \
		>>"$WORK/pgbatchd.stderr" 2>&1 &
	PGBATCHD_PID=$!
	for _ in $(seq 600); do
		"$PYTHON" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$2" \
			2>/dev/null && return 0
		sleep 0.1
	done
	echo "bench: pgbatchd under callgrind did not listen" >&2
	exit 1
}

# instructions LEG N: pgbatchd's total Ir for one run of the leg
instructions() {
	local leg=$1 n=$2 port
	port=$(free_port)
	if [ "$leg" = pass ]; then
		pgbatchd_conf "$port" >"$WORK/pgbatchd.ini"
	elif [ "$leg" = jdbc ]; then
		{
			pgbatchd_conf "$port"
			printf '\n[table jt]\nconflictmode = strict\nexceptionmode = strict\nackmode = commit\nbatchsize = 50000\n'
		} >"$WORK/pgbatchd.ini"
	elif [ "$leg" = pile ]; then
		{
			pgbatchd_conf "$port" max_buffer_bytes=4294967296
			printf '\n[table cg]\nackmode = immediate\nbatchsize = 10000000\nbatchwritetimeoutms = 86400000\nadaptiveflush = 0\n'
		} >"$WORK/pgbatchd.ini"
	else
		{
			pgbatchd_conf "$port"
			printf '\n[table cg]\nackmode = immediate\nbatchsize = %s\nadaptiveflush = 0\n' "${BENCH_CG_BATCH:-5000}"
		} >"$WORK/pgbatchd.ini"
	fi
	psql_direct -c "TRUNCATE cg, jt"
	under_callgrind "$WORK/pgbatchd.ini" "$port"
	case $leg in
	row | pile) "$PYTHON" -c 'import sys
for i in range(int(sys.argv[1])):
    print("INSERT INTO cg VALUES (%d, %d, %s);" % (i, i * 7, repr("row %d" % i)))' "$n" |
		"$PGBIN/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 >/dev/null ;;
	tx) "$PYTHON" -c 'import sys
print("BEGIN;")
for i in range(int(sys.argv[1])):
    print("INSERT INTO cg VALUES (%d, %d, %s);" % (i, i * 7, repr("row %d" % i)))
print("COMMIT;")' "$n" |
		"$PGBIN/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 >/dev/null ;;
	pass) "$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -U postgres -n -S -M extended -c 1 -t "$n" postgres \
		>/dev/null 2>&1 ;;
	clause) "$PYTHON" -c 'import sys
for i in range(int(sys.argv[1])):
    print("INSERT INTO cg VALUES (%d, %d, %s) RETURNING b1;" % (i, i * 7, repr("row %d" % i)))' "$n" |
		"$PGBIN/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 >/dev/null ;;
	jdbc) java -cp "$WORK:$JAR" JdbcLoad "jdbc:postgresql://127.0.0.1:$port/postgres" txbatch "$n" jt 1 >/dev/null 2>&1 ;;
	esac
	pgbatchd_stop
	[ "$leg" = pass ] || [ "$(psql_direct -At -c "SELECT count(*) FROM $([ "$leg" = jdbc ] && echo jt || echo cg)")" = "$n" ] ||
		{ echo "bench: $leg: rows missing" >&2; exit 1; }
	[ -z "${BENCH_CG_KEEP:-}" ] || cp "$WORK/cg.out" "$BENCH_CG_KEEP/callgrind.$leg.$n"
	sed -n 's/^summary: \([0-9]*\)$/\1/p; s/^totals: \([0-9]*\)$/\1/p' "$WORK/cg.out" | head -1
}

echo "== (c) pgbatchd instructions (callgrind), marginal between $N1 and $N2"
for leg in $LEGS; do
	a=$(instructions "$leg" "$N1")
	b=$(instructions "$leg" "$N2")
	if [ "$leg" = pile ]; then
		c=$(instructions "$leg" "$N3")
		awk -v a="$a" -v b="$b" -v c="$c" -v n1="$N1" -v n2="$N2" -v n3="$N3" 'BEGIN {
			m2 = (b - a) / (n2 - n1); m3 = (c - a) / (n3 - n1)
			printf "  %-48s %10.0f instructions to %d rows, %.0f to %d: %.3fx   (issue 18 goal: <= 1.10x)\n",
				"per INSERT, every unit queued until shutdown", m2, n2, m3, n3, m3 / m2
		}'
		continue
	fi
	awk -v a="$a" -v b="$b" -v n1="$N1" -v n2="$N2" -v leg="$leg" 'BEGIN {
		unit = "per INSERT (autocommit)"
		if (leg == "tx") unit = "per INSERT in a transaction block"
		if (leg == "pass") unit = "per pgbench transaction (-M extended, SELECT)"
		if (leg == "clause") unit = "per INSERT ... RETURNING (passes, with the clause)"
		if (leg == "jdbc") unit = "per row of a pgjdbc executeBatch (autoCommit off)"
		goal = leg == "row" ? "   (issue 18 goal: <= 5000, stretch 2500)" : leg == "jdbc" ? "   (issue 18 goal: <= 3000)" : ""
		printf "  %-48s %10.0f instructions%s\n", unit, (b - a) / (n2 - n1), goal
	}'
done
