#!/usr/bin/python3
"""psycopg_client: drives psycopg 3 (and psycopg2) through prepares, executemany, pipeline mode, transactions, COPY and server-side cursors, printing a deterministic transcript.

Usage: psycopg_client.py "DSN"
The transcript holds no PIDs, OIDs, times or ports, so a run through pgbatchd
must print exactly what a direct run prints.
"""

import datetime
import decimal
import sys
import threading
import time
import uuid

import psycopg
import psycopg2
import psycopg2.extras
from psycopg import sql


def out(*a):
	print(*a, flush=True)


def err(e):
	d = e.diag
	return "%s %s: %s | detail=%s | constraint=%s" % (type(e).__name__, e.sqlstate, d.message_primary,
		d.message_detail, d.constraint_name)


def cancel_when_running(dsn, conn):
	"""Cancels conn's query once the server shows it running (no timing guess)."""
	with psycopg.connect(dsn, autocommit=True) as watcher:
		for _ in range(1000):
			if watcher.execute("SELECT 1 FROM pg_stat_activity WHERE state = 'active' "
					"AND query LIKE '%%/* to cancel */'").fetchone():
				break
			time.sleep(0.01)
	conn.cancel()


def psycopg3(dsn):
	notices = []
	with psycopg.connect(dsn, autocommit=True, application_name="psycopg_client") as conn:
		conn.add_notice_handler(lambda d: notices.append("%s %s: %s" % (d.severity, d.sqlstate, d.message_primary)))
		pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
		out("backend pid matches BackendKeyData:", pid == conn.info.backend_pid)
		out("server_version param:", conn.info.parameter_status("server_version") is not None,
			"integer_datetimes:", conn.info.parameter_status("integer_datetimes"))
		conn.execute("CREATE TABLE pt (id int PRIMARY KEY, name text NOT NULL, amount numeric, "
			"ts timestamptz, u uuid, js jsonb, arr int[], b bytea)")

		out("== auto-prepared statement (prepare_threshold 5) reused 10 times")
		conn.prepare_threshold = 5
		for i in range(1, 11):
			cur = conn.execute("INSERT INTO pt (id, name, amount, ts, u, js, arr, b) VALUES "
				"(%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id, amount",
				(i, "n%d" % i, decimal.Decimal("%d.5" % i),
					datetime.datetime(2024, 1, i, 1, 2, 3, tzinfo=datetime.timezone.utc),
					uuid.UUID(int=i), psycopg.types.json.Jsonb({"i": i, "l": [i, None]}), [i, i * 2],
					bytes([i, 0, 255])))
			out(" ", cur.fetchone())
		prepared = conn.execute("SELECT count(*) FROM pg_prepared_statements WHERE NOT from_sql").fetchone()[0]
		out("server-side prepared statements:", prepared)

		out("== binary parameters and results")
		with conn.cursor(binary=True) as cur:
			for i in (2, 7):
				cur.execute("SELECT id, name, amount, ts, u, js, arr, b FROM pt WHERE id = %b", (i,))
				out(" ", cur.fetchone())

		out("== executemany (pipelined) and pipeline mode")
		with conn.cursor() as cur:
			cur.executemany("INSERT INTO pt (id, name) VALUES (%s, %s)", [(100 + i, "many%d" % i) for i in range(40)])
			out("  rows:", conn.execute("SELECT count(*) FROM pt").fetchone())
		with conn.pipeline() as p:
			c1 = conn.execute("SELECT count(*) FROM pt WHERE id >= 100")
			c2 = conn.execute("UPDATE pt SET name = name || '+' WHERE id BETWEEN 100 AND 104")
			c3 = conn.execute("SELECT string_agg(name, ',' ORDER BY id) FROM pt WHERE id BETWEEN 100 AND 104")
			p.sync()
			out(" ", c1.fetchone(), c2.rowcount, c3.fetchone())

		out("== executemany with a unique violation in the middle")
		try:
			with conn.cursor() as cur:
				cur.executemany("INSERT INTO pt (id, name) VALUES (%s, %s)",
					[(200, "a"), (201, "b"), (5, "dup"), (202, "c")])
		except psycopg.Error as e:
			out(" ", err(e))
		out("  200..202 present:", conn.execute("SELECT count(*) FROM pt WHERE id >= 200").fetchone())

		out("== pipeline with an error: statements after it until the sync are skipped")
		try:
			with conn.pipeline():
				conn.execute("INSERT INTO pt (id, name) VALUES (300, 'p')")
				conn.execute("INSERT INTO pt (id, name) VALUES (301, NULL)")
				conn.execute("INSERT INTO pt (id, name) VALUES (302, 'q')")
		except psycopg.Error as e:
			out(" ", err(e))
		out("  300..302:", conn.execute("SELECT array_agg(id ORDER BY id) FROM pt WHERE id >= 300").fetchone())

		out("== transactions")
		conn.autocommit = False
		with conn.transaction():
			conn.execute("INSERT INTO pt (id, name) VALUES (400, 'committed')")
		try:
			with conn.transaction():
				conn.execute("INSERT INTO pt (id, name) VALUES (401, 'rolled back')")
				conn.execute("SELECT 1/0")
		except psycopg.errors.DivisionByZero as e:
			out(" ", err(e))
		with conn.transaction():
			conn.execute("INSERT INTO pt (id, name) VALUES (402, 'outer')")
			try:
				with conn.transaction():
					conn.execute("INSERT INTO pt (id, name) VALUES (402, 'dup in savepoint')")
			except psycopg.errors.UniqueViolation as e:
				out(" ", err(e))
			conn.execute("INSERT INTO pt (id, name) VALUES (403, 'after savepoint')")
		out(" ", conn.execute("SELECT array_agg(id ORDER BY id) FROM pt WHERE id >= 400").fetchone())
		conn.rollback()

		out("== server-side cursor")
		with conn.transaction():
			with conn.cursor(name="sscur") as cur:
				cur.itersize = 6
				cur.execute("SELECT g, md5(g::text) FROM generate_series(1, 25) g")
				out("  first:", cur.fetchmany(4))
				rest = cur.fetchall()
				out("  rest:", len(rest), rest[-1])
		conn.autocommit = True

		out("== COPY")
		with conn.cursor() as cur:
			with cur.copy("COPY pt (id, name, js) FROM STDIN") as cp:
				for i in range(500, 520):
					cp.write_row((i, "copy\t%d\n" % i, psycopg.types.json.Jsonb({"c": i})))
			out("  copied:", cur.rowcount)
			with cur.copy("COPY (SELECT id, name FROM pt WHERE id >= 500 ORDER BY id) TO STDOUT") as cp:
				rows = list(cp.rows())
			out("  copied out:", len(rows), rows[0], rows[-1])
			try:
				with cur.copy("COPY pt (id, name) FROM STDIN") as cp:
					cp.write_row((600, "ok"))
					raise RuntimeError("client abort")
			except RuntimeError:
				pass
			except psycopg.Error as e:
				out("  copy aborted:", err(e))
			out("  600 present:", conn.execute("SELECT count(*) FROM pt WHERE id = 600").fetchone())
			try:
				with cur.copy("COPY pt (id, name) FROM STDIN") as cp:
					cp.write(b"700\tok\nbad\trow\n")
			except psycopg.Error as e:
				out("  copy error:", err(e))

		out("== notices, errors, sql composition")
		conn.execute("DO $$BEGIN RAISE NOTICE 'psycopg notice %', 3; RAISE WARNING 'psycopg warning'; END$$")
		for q in ("SELECT 1/0", "SELECT * FROM nope", "SELEC 1", "SELECT 'x'::int"):
			try:
				conn.execute(q)
			except psycopg.Error as e:
				out(" ", err(e))
		cur = conn.execute(sql.SQL("SELECT {} FROM {} WHERE id = %s").format(sql.Identifier("name"),
			sql.Identifier("pt")), (1,))
		out(" ", cur.fetchone(), [d.name for d in cur.description])
		out(" ", conn.execute("SELECT %s::text, %s::int, %s", ("héllo ✓", None, True)).fetchone())
		canceller = threading.Thread(target=cancel_when_running, args=(dsn, conn))
		canceller.start()
		try:
			conn.execute("SELECT pg_sleep(20) /* to cancel */")
			out("  no cancel?!")
		except psycopg.errors.QueryCanceled as e:
			out("  cancel:", err(e))
		canceller.join()
		out(" ", conn.execute("SELECT 'alive after cancel'").fetchone())
		for n in notices:
			out("  notice:", n)
		final = conn.execute("SELECT count(*), sum(id), md5(string_agg(name, ',' ORDER BY id)) FROM pt").fetchone()
		out("final:", final)


def psycopg2_part(dsn):
	conn = psycopg2.connect(dsn, application_name="psycopg2_client")
	try:
		cur = conn.cursor()
		cur.execute("SELECT pg_backend_pid()")
		out("psycopg2 backend pid matches:", cur.fetchone()[0] == conn.get_backend_pid())
		cur.execute("CREATE TABLE p2 (id int PRIMARY KEY, v text)")
		psycopg2.extras.execute_values(cur, "INSERT INTO p2 VALUES %s", [(i, "v%d" % i) for i in range(100)],
			page_size=30)
		conn.commit()
		try:
			psycopg2.extras.execute_batch(cur, "INSERT INTO p2 VALUES (%s, %s)", [(200, "a"), (3, "dup"), (201, "b")])
		except psycopg2.Error as e:
			out("psycopg2 error:", e.pgcode, e.diag.message_primary, e.diag.message_detail)
			conn.rollback()
		cur.execute("SELECT count(*), sum(id) FROM p2")
		out("psycopg2 rows:", cur.fetchone())
		named = conn.cursor(name="p2cur")
		named.itersize = 7
		named.execute("SELECT id FROM p2 ORDER BY id")
		out("psycopg2 named cursor sum:", sum(r[0] for r in named))
		named.close()
		conn.commit()
	finally:
		conn.close()


def main():
	dsn = sys.argv[1]
	psycopg3(dsn)
	psycopg2_part(dsn)
	out("done")


if __name__ == "__main__":
	main()
