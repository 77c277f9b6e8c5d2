"""The session's state in its writes (issue 17): settings it set itself (a custom app.* setting read by a default or a trigger, session_replication_role), defaults that read facts of its connection (pg_backend_pid(), application_name), and currval()/lastval() after its INSERTs. Each case runs the same client code through pgbatchd and directly; the answers and the tables must be the same, in both ackmodes. Where pgbatchd cannot be exact it says so (currval() after a batched INSERT: 55000 naming why) and runs that session's INSERTs on its own connection from then on."""

import psycopg2
import pytest

from difftest import HANG, both, same
import harness
import pgwire as w
import sinkutil as su

PG_SETTINGS = {"timezone": "UTC"}
ACKMODES = ["commit", "immediate"]


def run(port, db, stmts, **conn):
	"""Each statement in autocommit; its status (or SQLSTATE and message) and rows."""
	c = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname=db, **conn)
	c.autocommit = True
	out = []
	for sql in stmts:
		cur = c.cursor()
		try:
			cur.execute(sql)
			out.append((cur.statusmessage, cur.fetchall() if cur.description else None))
		except psycopg2.Error as e:
			out.append((e.pgcode, e.pgerror.splitlines()[0]))
	c.close()
	return out


@pytest.mark.parametrize("ackmode", ACKMODES)
def test_custom_setting_read_by_default_and_trigger(dbs, make_proxy, ackmode):
	"""The multi-tenant pattern: SET app.tenant, then INSERTs whose default
	and trigger read it."""
	pg = dbs
	t = "tenant_%s" % ackmode
	both(pg, "CREATE TABLE %s (k int PRIMARY KEY, v text, tenant text DEFAULT current_setting('app.tenant', true), "
		 "seen text)" % t)
	both(pg, "CREATE FUNCTION %s_seen() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN "
		 "NEW.seen := current_setting('app.tenant', true); RETURN NEW; END$$" % t)
	both(pg, "CREATE TRIGGER seen BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION %s_seen()" % (t, t))
	proxy = su.start_sink_proxy(make_proxy, {t: {"ackmode": ackmode}})
	stmts = ["INSERT INTO %s (k, v) VALUES (1, 'before')" % t,
		 "SET app.tenant = 'acme'",
		 "INSERT INTO %s (k, v) VALUES (2, 'after set')" % t,
		 "SELECT set_config('app.tenant', 'beta', false)",
		 "INSERT INTO %s (k, v) VALUES (3, 'set_config')" % t,
		 "SELECT k, v, tenant, seen FROM %s ORDER BY k" % t]
	assert run(proxy.port, "postgres", stmts) == run(pg.port, "direct", stmts)
	same(pg, "SELECT * FROM %s ORDER BY k" % t)


@pytest.mark.parametrize("ackmode", ACKMODES)
def test_session_replication_role_replica(dbs, make_proxy, ackmode):
	"""session_replication_role = replica: foreign keys are not checked and
	ordinary triggers do not fire, as for a replication apply; through
	pgbatchd too (never 23503, never a row acknowledged and dropped)."""
	pg = dbs
	t = "kid_%s" % ackmode
	both(pg, "CREATE TABLE parent_%s (id int PRIMARY KEY)" % ackmode)
	both(pg, "CREATE TABLE %s (k int PRIMARY KEY, parent int REFERENCES parent_%s (id), v text)" % (t, ackmode))
	proxy = su.start_sink_proxy(make_proxy, {t: {"ackmode": ackmode, "exceptionmode": "strict"}})
	stmts = ["SET session_replication_role = replica",
		 "INSERT INTO %s VALUES (1, 42, 'orphan')" % t,
		 "INSERT INTO %s VALUES (2, 43, 'orphan'), (3, 44, 'orphan')" % t,
		 "RESET session_replication_role"]
	if ackmode == "commit":
		# checked again (an acknowledged row is another matter in immediate mode)
		stmts.append("INSERT INTO %s VALUES (4, 45, 'checked')" % t)
	stmts.append("SELECT k, parent FROM %s ORDER BY k" % t)
	via = run(proxy.port, "postgres", stmts)
	assert via == run(pg.port, "direct", stmts)
	assert via[-1][1] == [(1, 42), (2, 43), (3, 44)]
	if ackmode == "commit":
		assert via[4][0] == "23503"
	same(pg, "SELECT * FROM %s ORDER BY k" % t)


@pytest.mark.parametrize("ackmode", ACKMODES)
def test_defaults_reading_the_connection(dbs, make_proxy, ackmode):
	"""Defaults that read facts of the client's connection get the client's:
	its backend's pid, its application_name."""
	pg = dbs
	t = "conn_%s" % ackmode
	both(pg, "CREATE TABLE %s (k int PRIMARY KEY, pid int DEFAULT pg_backend_pid(), "
		 "app text DEFAULT current_setting('application_name'))" % t)
	proxy = su.start_sink_proxy(make_proxy, {t: {"ackmode": ackmode}})
	stmts = ["INSERT INTO %s (k) VALUES (1)" % t,
		 "INSERT INTO %s (k) VALUES (2), (3)" % t,
		 "SELECT count(*) FROM %s WHERE pid = pg_backend_pid() AND app = 'tenant-app'" % t]
	via = run(proxy.port, "postgres", stmts, application_name="tenant-app")
	direct = run(pg.port, "direct", stmts, application_name="tenant-app")
	assert via == direct
	assert via[-1][1] == [(3,)]


@pytest.mark.parametrize("ackmode", ACKMODES)
def test_currval_lastval_never_stale(dbs, make_proxy, ackmode):
	"""currval()/lastval() after a batched INSERT into a table with a sequence
	default: directly they give that INSERT's value. Through pgbatchd the
	value is not the session's (the row was written by another connection):
	the statement fails with 55000 saying so, never 'not yet defined' and
	never an earlier INSERT's value; from then on the session's INSERTs into
	that table run on its own connection and the values are exact."""
	pg = dbs
	t = "seq_%s" % ackmode
	both(pg, "CREATE TABLE %s (id serial PRIMARY KEY, v text)" % t)
	proxy = su.start_sink_proxy(make_proxy, {t: {"ackmode": ackmode}})
	first = ["INSERT INTO %s (v) VALUES ('passes') RETURNING id" % t,   # RETURNING: runs as sent
		 "INSERT INTO %s (v) VALUES ('batched')" % t]
	via = run(proxy.port, "postgres", first + ["SELECT lastval()", "INSERT INTO %s (v) VALUES ('again')" % t,
						   "SELECT currval('%s_id_seq'), lastval()" % t])
	direct = run(pg.port, "direct", first + ["SELECT lastval()", "INSERT INTO %s (v) VALUES ('again')" % t,
						 "SELECT currval('%s_id_seq'), lastval()" % t])
	assert via[:2] == direct[:2]
	assert direct[2] == ("SELECT 1", [(2,)])
	assert via[2][0] == "55000" and "currval() and lastval()" in via[2][1], via[2]
	assert via[3:] == direct[3:] == [("INSERT 0 1", None), ("SELECT 1", [(3, 3)])]
	same(pg, "SELECT * FROM %s ORDER BY id" % t)


@pytest.mark.parametrize("ackmode", ACKMODES)
def test_currval_inside_a_transaction_is_exact(dbs, make_proxy, ackmode):
	"""BEGIN; INSERT; SELECT currval() after an earlier batched INSERT: the
	transaction's row is written on the session's own connection, so
	currval() is its own and exact, as directly (no 55000, nothing aborted)."""
	pg = dbs
	t = "seqtx_%s" % ackmode
	both(pg, "CREATE TABLE %s (id serial PRIMARY KEY, v text)" % t)
	proxy = su.start_sink_proxy(make_proxy, {t: {"ackmode": ackmode}})
	stmts = ["INSERT INTO %s (v) VALUES ('batched')" % t, "BEGIN", "INSERT INTO %s (v) VALUES ('in tx')" % t,
		 "SELECT currval('%s_id_seq'), lastval()" % t, "COMMIT", "SELECT count(*) FROM %s" % t]
	via = run(proxy.port, "postgres", stmts)
	assert via == run(pg.port, "direct", stmts)
	assert via[3] == ("SELECT 1", [(2, 2)])
	same(pg, "SELECT * FROM %s ORDER BY id" % t)


def test_plain_sessions_still_batched(dbs, make_proxy):
	"""A session that set nothing of its own (psycopg2, pgjdbc's startup
	settings) keeps its INSERTs batched."""
	pg = dbs
	t = "plain_rows"
	both(pg, "CREATE TABLE %s (k int PRIMARY KEY, v text)" % t)
	proxy = su.start_sink_proxy(make_proxy, {t: {}})
	stmts = ["SET statement_timeout = '10s'", "SET extra_float_digits = 3", "SET application_name = 'x'"] + \
		["INSERT INTO %s VALUES (%d, 'r')" % (t, i) for i in range(5)]
	assert run(proxy.port, "postgres", stmts) == run(pg.port, "direct", stmts)
	st = su.stats(proxy)
	assert st.sink["rows_in"] == 5, st


def test_terminated_backend_takes_its_waiting_insert(dbs, make_proxy):
	"""pg_terminate_backend() of the client's own backend while its INSERT
	waits for its batch (ackmode=commit): directly a statement still running
	when its session is terminated is not written, and the client gets
	57P01. Through pgbatchd the waiting unit leaves the queue unwritten: the
	client gets the backend's FATAL, never "INSERT 0 1", and a drain at
	shutdown (which writes every row still queued) writes nothing."""
	pg = dbs
	t = "term_rows"
	both(pg, "CREATE TABLE %s (k int PRIMARY KEY, v text)" % t)
	proxy = su.start_sink_proxy(make_proxy, {t: {"ackmode": "commit", "adaptiveflush": 0,
						     "batchsize": su.HUGE_BATCH,
						     "batchwritetimeoutms": su.HUGE_TIMEOUT_MS}})
	with su.Session.to(proxy, timeout=HANG) as s:
		pid = s.rows("SELECT pg_backend_pid()")[0][0]
		s.send(w.query("INSERT INTO %s VALUES (1, 'waits')" % t))
		# the unit is queued: the sink counted its row
		harness.wait_for(lambda: su.stats(proxy).sink.get("rows_in", 0) >= 1, 15, what="the row taken")
		with psycopg2.connect(host="127.0.0.1", port=pg.port, user="postgres", dbname="postgres") as k:
			k.cursor().execute("SELECT pg_terminate_backend(%s)", (int(pid),))
		msgs = []
		try:
			while True:
				msgs.append(s.read_msg())
		except (EOFError, ConnectionError):
			pass
		except Exception:
			print(proxy.output())
			raise
	kinds = [(t_, w.fields(p).get("C") if t_ == "E" else p) for t_, p in msgs]
	assert kinds == [("E", "57P01")], su.show(msgs)
	assert proxy.stop() == []
	assert pg.sql("SELECT count(*) FROM %s" % t) == [(0,)]


@pytest.mark.parametrize("group", [False, True])
def test_terminated_backend_inside_a_transaction(dbs, make_proxy, group):
	"""The same inside a transaction block with staged rows (simple Query) or a
	held extended-protocol group: the client gets the FATAL, nothing of the
	transaction is written, and pgbatchd frees what it held (ASan)."""
	pg = dbs
	t = "term_tx_%d" % group
	both(pg, "CREATE TABLE %s (k int PRIMARY KEY, v text)" % t)
	proxy = su.start_sink_proxy(make_proxy, {t: {"ackmode": "commit"}})
	with su.Session.to(proxy, timeout=HANG) as s:
		pid = s.rows("SELECT pg_backend_pid()")[0][0]
		s.ok("BEGIN")
		if not group:
			assert s.run("INSERT INTO %s VALUES (1, 'staged')" % t)[0] == ("C", b"INSERT 0 1\0")
		else:
			s.send(w.parse("", "INSERT INTO %s VALUES ($1, $2)" % t) + w.bind("", "", ["2", "held"]) +
			       w.execute(""))
		with psycopg2.connect(host="127.0.0.1", port=pg.port, user="postgres", dbname="postgres") as k:
			k.cursor().execute("SELECT pg_terminate_backend(%s)", (int(pid),))
		msgs = []
		try:
			while True:
				msgs.append(s.read_msg())
		except (EOFError, ConnectionError):
			pass
	assert [(t_, w.fields(p).get("C")) for t_, p in msgs if t_ == "E"] == [("E", "57P01")], su.show(msgs)
	assert proxy.stop() == []
	assert pg.sql("SELECT count(*) FROM %s" % t) == [(0,)]
