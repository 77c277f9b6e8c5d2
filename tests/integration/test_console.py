"""The admin console (issue 20): the virtual database pgbatchd, PgBouncer's convention. Each SHOW gives its columns and the values a known workload leaves; FLUSH makes buffered rows appear and answers once they are written; PAUSE holds a table's rows (acknowledged per ackmode: immediate at once, commit once resumed) while its flushes come due; RESUME releases them and ends an exceptionmode=strict stop; RELOAD and SHUTDOWN act as SIGHUP and SIGTERM; a user in neither admin_users nor stats_users is refused with 42501, a stats user may only SHOW; psql, pgjdbc (extended protocol), psycopg 3 (extended), psycopg2 and asyncpg read SHOW TABLES."""

import asyncio
import threading

import asyncpg
import psycopg
import psycopg2
import pytest

import harness
import pgwire as w
import sinkutil as su

JDBC_JAR = "/usr/share/java/postgresql.jar"

TABLE_COLUMNS = ["table", "conflictmode", "writemode", "ackmode", "state", "rows_in", "rows_written",
	"rows_skipped", "rows_rejected", "buffered_rows", "buffered_bytes", "batches", "retries", "held_flushes",
	"last_flush_reason", "last_flush_seconds_ago"]


def console(proxy, user="postgres", **kw):
	return psycopg.connect(host=proxy.host, port=proxy.port, user=user, dbname="pgbatchd", autocommit=True, **kw)


def show(proxy, what, user="postgres"):
	"""(column names, rows as dicts) of SHOW what, through psycopg 3 (extended protocol)."""
	with console(proxy, user) as c:
		cur = c.execute("SHOW " + what)
		names = [d.name for d in cur.description]
		return names, [dict(zip(names, r)) for r in cur.fetchall()]


def table_row(proxy, table):
	_, rows = show(proxy, "TABLES")
	return [r for r in rows if r["table"] == table][0]


def psql_console(proxy, sql, user="postgres"):
	return harness.psql(proxy.host, proxy.port, ["-At", "-F", "|", "-c", sql], user=user, dbname="pgbatchd",
		merge_stderr=True)


def make(pg, make_proxy, tables, **pgbatchd):
	for t, ddl in tables.items():
		pg.sql("DROP TABLE IF EXISTS %s; CREATE TABLE %s %s" % (t, t, ddl))
	opts = {"admin_users": "postgres", "stats_users": "watcher"}
	opts.update(pgbatchd)
	return opts


def test_show_after_a_known_workload(pg, make_proxy):
	"""Five rows in, one refused (rejected), one INSERT ... RETURNING passed
	through: SHOW TABLES / STATS / PASSTHROUGH / REJECTS / WRITERS / CLIENTS /
	CONFIG / VERSION say exactly that, with their columns."""
	pg.sql("DROP TABLE IF EXISTS cs_t; CREATE TABLE cs_t (id int PRIMARY KEY, v text CHECK (v <> 'bad'))")
	proxy = su.start_sink_proxy(make_proxy, {"cs_t": {"conflictmode": "upsert", "writemode": 1,
		"exceptionmode": "ignore"}}, backend={"connectionmaxactive": 2},
		pgbatchd={"admin_users": "postgres"})
	with psycopg.connect(host=proxy.host, port=proxy.port, user="postgres", dbname="postgres",
			autocommit=True) as c:
		for i in range(1, 6):
			c.execute("INSERT INTO cs_t VALUES (%d, 'v%d')" % (i, i))
		c.execute("INSERT INTO cs_t VALUES (6, 'bad')")
		assert c.execute("INSERT INTO cs_t VALUES (7, 'r') RETURNING id").fetchone() == (7,)
	assert su.count(pg, "cs_t") == 6

	names, rows = show(proxy, "TABLES")
	assert names == TABLE_COLUMNS
	assert len(rows) == 1
	t = rows[0]
	assert (t["table"], t["conflictmode"], t["writemode"], t["ackmode"], t["state"]) == \
		("public.cs_t", "upsert", "copy", "commit", "writing")
	assert (t["rows_in"], t["rows_written"], t["rows_rejected"], t["buffered_rows"], t["buffered_bytes"]) == \
		(6, 5, 1, 0, 0)
	assert t["batches"] >= 1 and t["last_flush_reason"] in ("idle", "age", "batchsize")
	assert t["last_flush_seconds_ago"] is not None and t["last_flush_seconds_ago"] >= 0

	names, rows = show(proxy, "STATS")
	assert names[:6] == ["sessions", "intercepted_messages", "intercepted_rows", "passthrough_inserts",
		"rows_in", "rows_written"]
	s = rows[0]
	assert (s["rows_in"], s["rows_written"], s["rows_rejected"], s["buffered_rows"]) == (6, 5, 1, 0)
	assert s["intercepted_messages"] == 6 and s["intercepted_rows"] == 6
	assert s["passthrough_inserts"] == 1
	assert s["sessions"] == 1      # this console
	assert s["avg_rows_per_batch"] > 0

	names, rows = show(proxy, "PASSTHROUGH")
	assert names == ["decided_by", "reason", "count"]
	counts = {(r["decided_by"], r["reason"]): r["count"] for r in rows}
	assert counts[("proxy", "returning")] == 1
	assert sum(counts.values()) == 1

	names, rows = show(proxy, "REJECTS")
	assert names == ["time", "table", "sqlstate", "message", "row", "acknowledged"]
	assert [(r["table"], r["sqlstate"], r["acknowledged"]) for r in rows] == [("public.cs_t", "23514", False)]
	assert "cs_t_v_check" in rows[0]["message"] and "v=bad" in rows[0]["row"]

	names, rows = show(proxy, "WRITERS")
	assert names == ["writer", "state", "backend_pid", "table", "rows_in_flight", "last_error"]
	assert [r["writer"] for r in rows] == [0, 1]
	pids = {r[0] for r in pg.sql("SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'pgbatchd%'")}
	for r in rows:
		assert r["rows_in_flight"] == 0 and r["table"] is None
		assert r["backend_pid"] is None or r["backend_pid"] in pids

	with console(proxy) as c1:
		names, rows = show(proxy, "CLIENTS")
		assert names == ["id", "user", "database", "address", "state", "tls", "backend_pid", "tx_status",
			"console"]
		assert sorted((r["database"], r["console"], r["state"]) for r in rows) == \
			[("pgbatchd", True, "active")] * 2
		assert c1.info.backend_pid in [r["id"] | 0x40000000 for r in rows]

	names, rows = show(proxy, "CONFIG")
	assert names == ["section", "key", "value", "default", "reloadable"]
	cfg = {(r["section"], r["key"]): r for r in rows}
	assert cfg[("pgbatchd", "admin_users")]["value"] == "postgres"
	assert cfg[("pgbatchd", "listen_port")]["reloadable"] is False
	assert cfg[("backend", "connectionmaxactive")]["value"] == "2"
	assert cfg[("table cs_t", "writemode")]["value"] == "1"
	assert cfg[("backend", "password")]["value"] in ("********", "")

	names, rows = show(proxy, "VERSION")
	assert names == ["version"] and rows[0]["version"].startswith("pgbatchd ")


def test_psql_reads_the_console(pg, make_proxy):
	"""psql (simple protocol): \\x output, an unknown command's error, and
	several statements in one Query."""
	pg.sql("DROP TABLE IF EXISTS cp_t; CREATE TABLE cp_t (id int PRIMARY KEY)")
	proxy = su.start_sink_proxy(make_proxy, {"cp_t": {}}, pgbatchd={"admin_users": "postgres"})
	r = harness.psql(proxy.host, proxy.port, ["-x", "-c", "SHOW TABLES"], dbname="pgbatchd", merge_stderr=True)
	assert r.returncode == 0, r.stdout
	out = r.stdout.decode()
	assert "-[ RECORD 1 ]" in out and "table                  | public.cp_t" in out
	r = psql_console(proxy, "SHOW NOTHING")
	assert r.returncode == 1
	assert 'ERROR:  unrecognized SHOW item "nothing"' in r.stdout.decode()
	r = psql_console(proxy, "SHOW VERSION; SHOW VERSION")
	assert r.returncode == 0 and r.stdout.decode().count("pgbatchd ") == 2
	r = psql_console(proxy, "FLUSH nosuch")
	assert r.returncode == 1 and 'ERROR:  table "nosuch" is not configured' in r.stdout.decode()


def test_flush_makes_buffered_rows_appear(pg, make_proxy):
	"""ackmode=immediate rows wait for a day-long batchwritetimeoutms; FLUSH
	answers once they are written: the table has them when it returns."""
	pg.sql("DROP TABLE IF EXISTS cf_t; CREATE TABLE cf_t (id int PRIMARY KEY)")
	proxy = su.start_sink_proxy(make_proxy, {"cf_t": {"ackmode": "immediate", "batchsize": 100000,
		"batchwritetimeoutms": 86400000, "adaptiveflush": 0}}, pgbatchd={"admin_users": "postgres"})
	with psycopg.connect(host=proxy.host, port=proxy.port, user="postgres", dbname="postgres",
			autocommit=True) as c:
		for i in range(10):
			c.execute("INSERT INTO cf_t VALUES (%d)" % i)
	assert su.count(pg, "cf_t") == 0
	assert table_row(proxy, "public.cf_t")["buffered_rows"] == 10
	with console(proxy) as k:
		assert k.execute("FLUSH cf_t").statusmessage == "FLUSH"
		assert su.count(pg, "cf_t") == 10
	t = table_row(proxy, "public.cf_t")
	assert (t["buffered_rows"], t["rows_written"], t["last_flush_reason"]) == (0, 10, "barrier")
	# FLUSH of every table, with nothing buffered, answers too
	r = psql_console(proxy, "FLUSH")
	assert r.returncode == 0 and r.stdout.decode().strip() == "FLUSH"


def test_pause_holds_and_resume_releases(pg, make_proxy):
	"""PAUSE: immediate-mode rows are acknowledged and buffered; their flush
	comes due and is held (held_flushes counts it) while the table does not
	change; a commit-mode client waits; FLUSH of the paused table is refused.
	RESUME writes them, and the waiting client gets INSERT 0 1."""
	for t in ("cpi_t", "cpc_t"):
		pg.sql("DROP TABLE IF EXISTS %s; CREATE TABLE %s (id int PRIMARY KEY)" % (t, t))
	proxy = su.start_sink_proxy(make_proxy, {
		"cpi_t": {"ackmode": "immediate", "batchwritetimeoutms": 20},
		"cpc_t": {"ackmode": "commit", "batchwritetimeoutms": 20}},
		pgbatchd={"admin_users": "postgres"})
	with console(proxy) as k:
		assert k.execute("PAUSE cpi_t").statusmessage == "PAUSE"
		assert k.execute("PAUSE public.cpc_t").statusmessage == "PAUSE"
	with psycopg.connect(host=proxy.host, port=proxy.port, user="postgres", dbname="postgres",
			autocommit=True) as c:
		for i in range(3):
			assert c.execute("INSERT INTO cpi_t VALUES (%d)" % i).statusmessage == "INSERT 0 1"
	harness.wait_for(lambda: table_row(proxy, "public.cpi_t")["held_flushes"] >= 1, timeout=30,
		what="cpi_t's flush to come due while paused")
	t = table_row(proxy, "public.cpi_t")
	assert (t["state"], t["buffered_rows"], t["rows_written"]) == ("paused", 3, 0)
	assert su.count(pg, "cpi_t") == 0

	result = {}

	def commit_client():
		with psycopg.connect(host=proxy.host, port=proxy.port, user="postgres", dbname="postgres",
				autocommit=True) as c2:
			result["tag"] = c2.execute("INSERT INTO cpc_t VALUES (1)").statusmessage

	th = threading.Thread(target=commit_client)
	th.start()
	harness.wait_for(lambda: table_row(proxy, "public.cpc_t")["held_flushes"] >= 1, timeout=30,
		what="cpc_t's flush to come due while paused")
	assert th.is_alive() and "tag" not in result
	assert su.count(pg, "cpc_t") == 0
	r = psql_console(proxy, "FLUSH cpc_t")
	assert r.returncode == 1 and 'ERROR:  table "cpc_t" is paused' in r.stdout.decode()

	with console(proxy) as k:
		assert k.execute("RESUME").statusmessage == "RESUME"
	th.join(60)
	assert result == {"tag": "INSERT 0 1"}
	assert su.count(pg, "cpc_t") == 1
	su.wait_count(pg, "cpi_t", 3)
	t = table_row(proxy, "public.cpi_t")
	assert (t["state"], t["buffered_rows"], t["rows_written"]) == ("writing", 0, 3)


def test_resume_ends_a_strict_stop(pg, make_proxy):
	"""exceptionmode=strict with ackmode=immediate stops a table after a
	refused row (55000 for its INSERTs); RESUME table takes rows again, as
	SIGUSR2 does."""
	pg.sql("DROP TABLE IF EXISTS cs2_t; CREATE TABLE cs2_t (id int PRIMARY KEY, v int CHECK (v > 0))")
	proxy = su.start_sink_proxy(make_proxy, {"cs2_t": {"ackmode": "immediate", "exceptionmode": "strict"}},
		pgbatchd={"admin_users": "postgres"})
	with psycopg.connect(host=proxy.host, port=proxy.port, user="postgres", dbname="postgres",
			autocommit=True) as c:
		c.execute("INSERT INTO cs2_t VALUES (1, -1)")
		harness.wait_for(lambda: table_row(proxy, "public.cs2_t")["state"] == "stopped", timeout=30,
			what="the strict stop")
		with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
			c.execute("INSERT INTO cs2_t VALUES (2, 2)")
		with console(proxy) as k:
			assert k.execute("RESUME cs2_t").statusmessage == "RESUME"
		assert table_row(proxy, "public.cs2_t")["state"] == "writing"
		assert c.execute("INSERT INTO cs2_t VALUES (3, 3)").statusmessage == "INSERT 0 1"
	su.wait_count(pg, "cs2_t", 1)


def test_who_may_use_the_console(pg, make_proxy):
	"""A user in neither list gets PostgreSQL's FATAL 42501 for a database it
	may not connect to; a stats user may SHOW and nothing else."""
	pg.sql("DROP TABLE IF EXISTS cw_t; CREATE TABLE cw_t (id int PRIMARY KEY)")
	proxy = su.start_sink_proxy(make_proxy, {"cw_t": {}},
		pgbatchd={"admin_users": "postgres", "stats_users": "watcher, other"})
	with pytest.raises(psycopg.OperationalError) as e:
		console(proxy, user="nobody")
	assert 'permission denied for database "pgbatchd"' in str(e.value)
	raw = harness_error(proxy, "nobody")
	assert raw["S"] == "FATAL" and raw["C"] == "42501"
	assert raw["D"] == "The user is in neither admin_users nor stats_users."
	names, rows = show(proxy, "TABLES", user="watcher")
	assert [r["table"] for r in rows] == ["public.cw_t"]
	for cmd in ("FLUSH", "PAUSE cw_t", "RESUME", "RELOAD", "SHUTDOWN"):
		with console(proxy, user="other") as k:
			with pytest.raises(psycopg.errors.InsufficientPrivilege) as e:
				k.execute(cmd)
			assert "permission denied to run %s" % cmd.split()[0] in str(e.value)
	assert table_row(proxy, "public.cw_t")["state"] == "writing"


def harness_error(proxy, user):
	"""The fields of the ErrorResponse a raw login to the console gets."""
	conn = w.Conn(proxy.host, proxy.port)
	try:
		conn.send(w.startup({"user": user, "database": "pgbatchd"}))
		while True:
			t, body = conn.read_msg()
			if t == "E":
				return w.fields(body)
			assert t in ("R",), t
	finally:
		conn.close()


JAVA_SHOW = r"""
import java.sql.*;
public class ShowTables {
	public static void main(String[] a) throws Exception {
		try (Connection c = DriverManager.getConnection(a[0], "postgres", "")) {
			try (Statement s = c.createStatement(); ResultSet r = s.executeQuery("SHOW TABLES")) {
				ResultSetMetaData m = r.getMetaData();
				while (r.next())
					System.out.println(m.getColumnName(1) + "=" + r.getString(1) + " " + m.getColumnName(6) + "=" +
						r.getLong(6) + " " + m.getColumnName(5) + "=" + r.getString(5));
			}
			try (PreparedStatement p = c.prepareStatement("SHOW VERSION"); ResultSet r = p.executeQuery()) {
				r.next();
				System.out.println(r.getString("version").startsWith("pgbatchd ") ? "version ok" : "version bad");
			}
		}
	}
}
"""


def test_drivers_read_show_tables(pg, make_proxy, tmp_path):
	"""pgjdbc (extended protocol, a PreparedStatement too), psycopg 3
	(extended), psycopg2 (simple, default transaction mode: BEGIN first) and
	asyncpg (named statements, Describe) each read SHOW TABLES."""
	pg.sql("DROP TABLE IF EXISTS cd_t; CREATE TABLE cd_t (id int PRIMARY KEY)")
	proxy = su.start_sink_proxy(make_proxy, {"cd_t": {}}, pgbatchd={"admin_users": "postgres"})
	with psycopg.connect(host=proxy.host, port=proxy.port, user="postgres", dbname="postgres",
			autocommit=True) as c:
		c.execute("INSERT INTO cd_t VALUES (1), (2)")
	src = tmp_path / "ShowTables.java"
	src.write_text(JAVA_SHOW)
	res = harness.run(["java", "-cp", JDBC_JAR, str(src),
		"jdbc:postgresql://%s:%d/pgbatchd" % (proxy.host, proxy.port)], timeout=300)
	assert res.returncode == 0, res.stderr.decode()
	assert res.stdout.decode().split("\n")[:2] == ["table=public.cd_t rows_in=2 state=writing", "version ok"]

	with console(proxy) as k:
		cur = k.execute("SHOW TABLES")
		row = dict(zip([d.name for d in cur.description], cur.fetchone()))
		assert (row["table"], row["rows_in"]) == ("public.cd_t", 2)

	c2 = psycopg2.connect(host=proxy.host, port=proxy.port, user="postgres", dbname="pgbatchd")
	try:
		cur = c2.cursor()
		cur.execute("SHOW TABLES")
		assert [d.name for d in cur.description] == TABLE_COLUMNS
		assert cur.fetchone()[:6] == ("public.cd_t", "upsert", "copy", "commit", "writing", 2)
		c2.commit()
	finally:
		c2.close()

	async def via_asyncpg():
		conn = await asyncpg.connect(host=proxy.host, port=proxy.port, user="postgres", database="pgbatchd")
		try:
			rows = await conn.fetch("SHOW TABLES")
			return [(r["table"], r["rows_in"]) for r in rows]
		finally:
			await conn.close()

	assert asyncio.run(via_asyncpg()) == [("public.cd_t", 2)]


def test_reload_and_shutdown(pg, make_proxy):
	"""RELOAD reads the file again (a broken file: F0000, the old config
	stays); SHUTDOWN answers, then drains and exits as SIGTERM does."""
	pg.sql("DROP TABLE IF EXISTS cr_t; CREATE TABLE cr_t (id int PRIMARY KEY)")
	proxy = su.start_sink_proxy(make_proxy, {"cr_t": {"ackmode": "immediate", "batchwritetimeoutms": 86400000,
		"adaptiveflush": 0}}, pgbatchd={"admin_users": "postgres"})
	with open(proxy.cfg_path) as f:
		good = f.read()
	with open(proxy.cfg_path, "w") as f:
		f.write(good.replace("admin_users = postgres", "admin_users = postgres, ops"))
	r = psql_console(proxy, "RELOAD")
	assert r.returncode == 0 and r.stdout.decode().strip() == "RELOAD"
	names, rows = show(proxy, "CONFIG", user="ops")
	assert [r["value"] for r in rows if r["key"] == "admin_users"] == ["postgres,ops"]
	with open(proxy.cfg_path, "w") as f:
		f.write(good + "\n[pgbatchd]\nno_such_key = 1\n")
	r = psql_console(proxy, "RELOAD")
	assert r.returncode == 1 and "ERROR:  " in r.stdout.decode() and "no_such_key" in r.stdout.decode()
	with open(proxy.cfg_path, "w") as f:
		f.write(good)
	with psycopg.connect(host=proxy.host, port=proxy.port, user="postgres", dbname="postgres",
			autocommit=True) as c:
		c.execute("INSERT INTO cr_t VALUES (1), (2), (3)")
	assert su.count(pg, "cr_t") == 0
	r = psql_console(proxy, "SHUTDOWN")
	assert r.stdout.decode().startswith("SHUTDOWN"), r.stdout
	assert proxy.proc.wait(60) == 0
	assert su.count(pg, "cr_t") == 3


def test_protocol_edges(pg, make_proxy):
	"""The raw protocol: a Bind with a parameter fails and the rest of the
	group is skipped to Sync; a FunctionCall gets its error and
	ReadyForQuery; COPY messages outside a COPY are ignored; an unknown
	message type ends the session with PostgreSQL's FATAL 08P01; two FLUSHes
	in one Query each answer."""
	pg.sql("DROP TABLE IF EXISTS ce_t; CREATE TABLE ce_t (id int PRIMARY KEY)")
	proxy = su.start_sink_proxy(make_proxy, {"ce_t": {}}, pgbatchd={"admin_users": "postgres"})
	conn = w.Conn(proxy.host, proxy.port)
	try:
		conn.login("postgres", "pgbatchd")
		assert conn.params["server_encoding"] == "UTF8" and conn.params["integer_datetimes"] == "on"
		conn.send(w.parse("", "SHOW VERSION") + w.bind("", "", params=[b"1"]) + w.execute("") + w.sync())
		got = conn.read_until("Z")
		assert [t for t, _ in got] == ["1", "E", "Z"]
		assert w.fields(got[1][1])["C"] == "0A000"
		conn.send(w.parse("s1", "SHOW VERSION") + w.describe("S", "s1") + w.bind("", "s1", result_formats=[1])
			+ w.describe("P", "") + w.execute("") + w.close("S", "s1") + w.sync())
		got = conn.read_until("Z")
		assert [t for t, _ in got] == ["1", "t", "T", "2", "T", "D", "C", "3", "Z"]
		assert w.datarow(got[5][1])[0].startswith(b"pgbatchd ")
		conn.send(w.function_call(1234))
		got = conn.read_until("Z")
		assert [t for t, _ in got] == ["E", "Z"] and w.fields(got[0][1])["C"] == "0A000"
		conn.send(w.copy_data(b"x") + w.copy_done() + w.query("FLUSH; FLUSH ce_t"))
		got = conn.read_until("Z")
		assert [(t, p) for t, p in got] == [("C", b"FLUSH\0"), ("C", b"FLUSH\0"), ("Z", b"I")]
		conn.send(w.msg("y", b""))
		t, p = conn.read_msg()
		assert t == "E" and w.fields(p)["C"] == "08P01" and w.fields(p)["S"] == "FATAL"
		assert w.fields(p)["M"] == "invalid frontend message type 121"
	finally:
		conn.close()


def test_cancel_ends_a_waiting_flush(pg, make_proxy):
	"""A FLUSH whose batch waits for a lock waits with it; a CancelRequest
	with the console session's key ends it with 57014 and the session goes
	on; the rows are written once the lock goes."""
	pg.sql("DROP TABLE IF EXISTS cc_t; CREATE TABLE cc_t (id int PRIMARY KEY)")
	proxy = su.start_sink_proxy(make_proxy, {"cc_t": {"ackmode": "immediate", "batchwritetimeoutms": 86400000,
		"adaptiveflush": 0}}, pgbatchd={"admin_users": "postgres"})
	with psycopg.connect(host=proxy.host, port=proxy.port, user="postgres", dbname="postgres",
			autocommit=True) as c:
		c.execute("INSERT INTO cc_t VALUES (1)")
	blocker = su.lock_table(pg, "cc_t")
	try:
		with console(proxy) as k:
			result = {}

			def flush():
				try:
					k.execute("FLUSH cc_t")
					result["ok"] = True
				except psycopg.Error as e:
					result["err"] = e

			th = threading.Thread(target=flush)
			th.start()
			harness.wait_for(lambda: su.waiting_on_lock(pg) == 1, timeout=30, what="the batch to wait for the lock")
			assert th.is_alive()
			k.cancel()
			th.join(30)
			assert isinstance(result.get("err"), psycopg.errors.QueryCanceled), result
			assert k.execute("SHOW VERSION").fetchone()[0].startswith("pgbatchd ")
	finally:
		blocker.rollback()
		blocker.close()
	su.wait_count(pg, "cc_t", 1)
