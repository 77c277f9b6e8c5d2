#!/bin/bash
# make bench (TLS part): issue 20's TLS goals — pass-through pgbench -S through TLS against PgBouncer through TLS (no worse than the plain ratio), and ingest through TLS against plain ingest (>= 0.8).
#
# Certificates are made here with the openssl CLI. pgbatchd and PgBouncer take
# TLS when asked (client_tls_sslmode = prefer), so the same instance serves a
# plain run and a TLS run (PGSSLMODE disable / require for pgbench). Ingest:
# single-row INSERTs, one per round trip, ackmode=commit, BENCH_TLS_CLIENTS
# (16) clients. Knobs: BENCH_SECONDS (10 here), BENCH_CLIENTS (8),
# BENCH_THREADS (2), PGBATCHD. Speed is reported, never asserted.
#
# Timed ratios on a 2-core machine that runs clients, proxies and server at
# once move by 20% from run to run, so the same goals are also given in
# instructions (callgrind, one client, marginal between BENCH_TLS_CG_N1 (1000)
# and BENCH_TLS_CG_N2 (6000) transactions), where lower is better:
# BENCH_TLS_CG=0 skips them.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
PGBATCHD=${PGBATCHD:-$REPO/pgbatchd}
SECS=${BENCH_SECONDS:-10}
CLIENTS=${BENCH_CLIENTS:-8}
INGEST=${BENCH_TLS_CLIENTS:-16}
THREADS=${BENCH_THREADS:-2}
. "$REPO/scripts/lib.sh"
lib_init bench-tls

pg_start max_connections=100 shared_buffers=128MB
"$PGBIN/pgbench" -h 127.0.0.1 -p "$PGPORT" -U postgres -i -s 10 -q postgres >/dev/null 2>&1
psql_direct -c "CREATE TABLE tls_bench (b1 bigint PRIMARY KEY, b2 bigint, b3 text)" >/dev/null
cat >"$WORK/insert.sql" <<'EOT'
\set n :n + 1
\set b1 :client_id * 100000000 + :n + :base
\set b2 :n * 7
INSERT INTO tls_bench VALUES (:b1, :b2, 'abcdefghij');
EOT

# a CA and a server certificate (EC P-256, as a current deployment would)
(
	cd "$WORK"
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key \
		-out ca.crt -days 2 -subj "/CN=bench CA" 2>/dev/null
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key \
		-out server.csr -subj "/CN=localhost" 2>/dev/null
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >server.ext
	openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 \
		-extfile server.ext 2>/dev/null
	chmod 600 server.key
	[ "$(id -u)" -eq 0 ] && chown postgres: server.key server.crt
)

PXPORT=$(free_port)
{
	pgbatchd_conf "$PXPORT" max_client_conn=200 client_tls_sslmode=prefer \
		client_tls_key_file="$WORK/server.key" client_tls_cert_file="$WORK/server.crt"
	printf '\n[table tls_bench]\nackmode = commit\n'
} >"$WORK/pgbatchd.ini"
pgbatchd_start "$WORK/pgbatchd.ini" "$PXPORT"
BNC_EXTRA="client_tls_sslmode = prefer
client_tls_key_file = $WORK/server.key
client_tls_cert_file = $WORK/server.crt
server_tls_sslmode = disable" pgbouncer_start 200

TPS=""
# run SSLMODE PORT ARGS...: pgbench; TPS without connection time
run() {
	local mode=$1 port=$2 out
	shift 2
	out=$(PGSSLMODE=$mode "$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -U postgres -n -T "$SECS" -j "$THREADS" \
		"$@" postgres 2>&1) || { echo "bench: pgbench failed:" >&2; echo "$out" >&2; exit 1; }
	TPS=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' <<<"$out" | sed -n 1p)
	[ -n "$TPS" ] || { echo "bench: no tps:" >&2; echo "$out" >&2; exit 1; }
}

echo "== TLS: pgbench -S -M prepared -c $CLIENTS, plain and TLS (TLSv1.3), $SECS s per run"
run disable "$PXPORT" -S -M prepared -c "$CLIENTS"; P_PLAIN=$TPS
run disable "$BNCPORT" -S -M prepared -c "$CLIENTS"; B_PLAIN=$TPS
run require "$PXPORT" -S -M prepared -c "$CLIENTS"; P_TLS=$TPS
run require "$BNCPORT" -S -M prepared -c "$CLIENTS"; B_TLS=$TPS
echo "== TLS: ingest, INSERT one per round trip, ackmode=commit, $INGEST clients"
run disable "$PXPORT" -M simple -f "$WORK/insert.sql" -D n=0 -D base=0 -c "$INGEST"; I_PLAIN=$TPS
run require "$PXPORT" -M simple -f "$WORK/insert.sql" -D n=0 -D base=5000000000 -c "$INGEST"; I_TLS=$TPS
awk -v pp="$P_PLAIN" -v bp="$B_PLAIN" -v pt="$P_TLS" -v bt="$B_TLS" -v ip="$I_PLAIN" -v it="$I_TLS" 'BEGIN {
	printf "  %-34s %10s %10s\n", "", "plain", "TLS"
	printf "  %-34s %10.0f %10.0f\n", "pgbatchd pass-through tps", pp, pt
	printf "  %-34s %10.0f %10.0f\n", "PgBouncer (session) tps", bp, bt
	printf "  %-34s %10.3f %10.3f   (goal: TLS no worse than plain)\n", "pgbatchd / PgBouncer", pp / bp, pt / bt
	printf "  %-34s %10.0f %10.0f\n", "ingest rows/s through pgbatchd", ip, it
	printf "  %-34s %21.3f   (goal: >= 0.8)\n", "ingest TLS / plain", it / ip
}'
pgbouncer_stop
pgbatchd_stop

[ "${BENCH_TLS_CG:-1}" = 1 ] || exit 0
command -v valgrind >/dev/null || { echo "  (no valgrind: instruction counts skipped)"; exit 0; }
N1=${BENCH_TLS_CG_N1:-1000}
N2=${BENCH_TLS_CG_N2:-6000}
chmod 755 "$WORK"
total() { grep -E "^(summary|totals):" "$1" | head -1 | awk '{print $2}'; }
# cg_bnc N SSLMODE: PgBouncer's instructions for N pgbench -S transactions
cg_bnc() {
	local port out=$WORK/cg.bnc.$2.$1
	port=$(free_port)
	sed "s/^listen_port = .*/listen_port = $port/; /^pidfile/d" "$WORK/pgbouncer.ini" >"$WORK/pgbouncer.cg.ini"
	[ "$(id -u)" -eq 0 ] && chown postgres: "$WORK/pgbouncer.cg.ini" && touch "$out" && chown postgres: "$out"
	"${AS_PG[@]}" valgrind --tool=callgrind --callgrind-out-file="$out" pgbouncer "$WORK/pgbouncer.cg.ini" \
		>/dev/null 2>&1 &
	local vp=$!
	wait_port "$port"
	PGSSLMODE=$2 "$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -U postgres -n -S -M prepared -c 1 -t "$1" postgres \
		>/dev/null 2>&1
	kill -INT $(pgrep -P $vp) 2>/dev/null || kill -INT $vp
	wait $vp || true
	total "$out"
}
# cg_pgb N SSLMODE SCRIPT: pgbatchd's instructions for N transactions of pgbench (-S, or a script)
cg_pgb() {
	local port out=$WORK/cg.pgb.$2.$3.$1
	port=$(free_port)
	sed "s/^listen_port = .*/listen_port = $port/" "$WORK/pgbatchd.ini" >"$WORK/pgbatchd.cg.ini"
	valgrind --tool=callgrind --callgrind-out-file="$out" "$PGBATCHD" -c "$WORK/pgbatchd.cg.ini" >/dev/null 2>&1 &
	local vp=$!
	wait_port "$port"
	if [ "$3" = select ]; then
		PGSSLMODE=$2 "$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -U postgres -n -S -M prepared -c 1 -t "$1" \
			postgres >/dev/null 2>&1
	else
		PGSSLMODE=$2 "$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -U postgres -n -M simple -f "$WORK/insert.sql" \
			-D n=0 -D base=$((RANDOM * 100000 + 9000000000)) -c 1 -t "$1" postgres >/dev/null 2>&1
	fi
	kill -TERM $vp
	wait $vp || true
	total "$out"
}
marginal() { echo $(( ($2 - $1) / (N2 - N1) )); }
echo "== TLS: instructions (callgrind), one client, marginal between $N1 and $N2 transactions"
for mode in disable require; do
	b=$(marginal "$(cg_bnc "$N1" $mode)" "$(cg_bnc "$N2" $mode)")
	p=$(marginal "$(cg_pgb "$N1" $mode select)" "$(cg_pgb "$N2" $mode select)")
	i=$(marginal "$(cg_pgb "$N1" $mode insert)" "$(cg_pgb "$N2" $mode insert)")
	eval "CB_$mode=$b CP_$mode=$p CI_$mode=$i"
done
awk -v bp="$CB_disable" -v bt="$CB_require" -v pp="$CP_disable" -v pt="$CP_require" -v ip="$CI_disable" \
	-v it="$CI_require" 'BEGIN {
	printf "  %-34s %10s %10s\n", "", "plain", "TLS"
	printf "  %-34s %10d %10d\n", "pgbatchd per pgbench -S txn", pp, pt
	printf "  %-34s %10d %10d\n", "PgBouncer per pgbench -S txn", bp, bt
	printf "  %-34s %10.3f %10.3f   (goal: TLS no more than plain)\n", "pgbatchd / PgBouncer", pp / bp, pt / bt
	printf "  %-34s %10d %10d\n", "pgbatchd per ingested INSERT", ip, it
	printf "  %-34s %21.3f   (TLS adds what OpenSSL costs a record)\n", "plain / TLS", ip / it
}'
