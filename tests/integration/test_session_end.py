"""A session ends as it does directly: what the client sent before its Terminate, or before it left, runs on the server -- a COMMIT sent with PQsendQuery and then PQfinish commits, a Query written with its Terminate in one write is answered and takes effect, a client that dies during a long INSERT does not cancel it -- and the answers still reach a client that reads them. Each scenario runs the same bytes directly (database "direct") and through pgbatchd (database "postgres"), waits until the server session has ended (pg_stat_activity), and compares the answers and the tables."""

import itertools
import socket

import pytest
from psycopg import pq

import harness
from difftest import HANG, both, same
import pgwire as w
import sinkutil as su

PG_SETTINGS = {"timezone": "UTC"}
_names = itertools.count()


def ended(pg, app):
	"""Waits until no server session of application_name app is left (the
	observable end of everything the client sent)."""
	harness.wait_for(lambda: not pg.sql("SELECT 1 FROM pg_stat_activity WHERE application_name = %s", (app,)),
		timeout=HANG, what="sessions of %s ended" % app)


def session(port, db, app):
	return su.Session("127.0.0.1", port, database=db, params={"application_name": app}, timeout=HANG)


def run_both(pg, proxy, fn):
	"""fn(port, db, app) directly and through pgbatchd; each side's server
	sessions are waited out before the next."""
	out = []
	for port, db in ((proxy.port, "postgres"), (pg.port, "direct")):
		app = "end_%d" % next(_names)
		out.append(fn(port, db, app))
		ended(pg, app)
	return out


TABLES = {"configured": {"et": {"conflictmode": "strict"}}, "not_configured": {}}

# what is written in one go, Terminate (or a half-close) right behind it
ENDINGS = {
	"query": [w.query("INSERT INTO et VALUES (1, 'a')")],
	"two_queries": [w.query("INSERT INTO et VALUES (1, 'a')"), w.query("INSERT INTO et VALUES (2, 'b')")],
	"multi_statement": [w.query("INSERT INTO et VALUES (1, 'a'); INSERT INTO et VALUES (2, 'b')")],
	"extended": [w.parse("", "INSERT INTO et VALUES ($1, $2)"), w.bind("", "", ["1", "a"]), w.execute(""),
		w.sync()],
	"extended_no_sync": [w.parse("", "INSERT INTO et VALUES ($1, $2)"), w.bind("", "", ["1", "a"]),
		w.execute("")],
	"transaction": [w.query("BEGIN"), w.query("INSERT INTO et VALUES (1, 'a')"), w.query("COMMIT")],
	"open_transaction": [w.query("BEGIN"), w.query("INSERT INTO et VALUES (1, 'a')")],
}


@pytest.mark.parametrize("how", ["terminate", "half_close"])
@pytest.mark.parametrize("ending", sorted(ENDINGS))
@pytest.mark.parametrize("tables", sorted(TABLES))
def test_messages_then_terminate_in_one_write(dbs, make_proxy, tables, ending, how):
	"""The messages and a Terminate in one write (or the messages and a
	half-close), then the client reads until the server closes: it gets the
	same answers, and the table the same rows, as directly."""
	pg = dbs
	both(pg, "DROP TABLE IF EXISTS et; CREATE TABLE et (id int PRIMARY KEY, v text NOT NULL)")
	proxy = su.start_sink_proxy(make_proxy, TABLES[tables])

	def run(port, db, app):
		with session(port, db, app) as s:
			data = b"".join(ENDINGS[ending])
			if how == "terminate":
				s.send(data + w.terminate())
			else:
				s.send(data)
				s.sock.shutdown(socket.SHUT_WR)
			return s.read_eof_or_error(timeout=HANG)

	via, direct = run_both(pg, proxy, run)
	assert via == direct, "through: %s\ndirect:  %s" % (su.show(via), su.show(direct))
	same(pg, "SELECT * FROM et ORDER BY id")


@pytest.mark.parametrize("tables", sorted(TABLES))
def test_libpq_sendquery_then_finish(dbs, make_proxy, tables):
	"""libpq: BEGIN and INSERTs awaited, COMMIT sent with PQsendQuery, then
	PQfinish without reading its result; and autocommit INSERTs sent so. The
	server runs them, as it reads them before the Terminate: the rows are
	committed, directly and through pgbatchd."""
	pg = dbs
	both(pg, "DROP TABLE IF EXISTS et; CREATE TABLE et (id int PRIMARY KEY, v text NOT NULL)")
	proxy = su.start_sink_proxy(make_proxy, TABLES[tables])

	def run(port, db, app):
		dsn = "host=127.0.0.1 port=%d user=postgres dbname=%s application_name=%s" % (port, db, app)
		for i in range(5):
			c = pq.PGconn.connect(dsn.encode())
			assert c.status == pq.ConnStatus.OK
			assert c.exec_(b"BEGIN").status == pq.ExecStatus.COMMAND_OK
			for k in (1, 2):
				r = c.exec_(b"INSERT INTO et VALUES (%d, 'tx')" % (i * 10 + k))
				assert r.status == pq.ExecStatus.COMMAND_OK, r.error_message
			c.send_query(b"COMMIT")
			c.finish()
			c = pq.PGconn.connect(dsn.encode())
			c.send_query(b"INSERT INTO et VALUES (%d, 'auto')" % (i * 10 + 5))
			c.finish()

	run_both(pg, proxy, run)
	assert len(same(pg, "SELECT * FROM et ORDER BY id")) == 15


def test_client_dies_during_a_long_insert(dbs, make_proxy):
	"""A client closes its socket while its INSERT ... SELECT still runs:
	directly the server finishes it (it notices the client only when it
	writes) and commits; pgbatchd does not cancel it either."""
	pg = dbs
	both(pg, "DROP TABLE IF EXISTS et; CREATE TABLE et (id int PRIMARY KEY, v text NOT NULL)")
	proxy = su.start_sink_proxy(make_proxy, TABLES["configured"])

	def run(port, db, app):
		with session(port, db, app) as s:
			s.send(w.query("INSERT INTO et SELECT g, 'slow' FROM generate_series(1, 3) g, pg_sleep(0.3)"))
			# the statement has started on the server: then the client dies
			harness.wait_for(lambda: pg.sql("SELECT 1 FROM pg_stat_activity WHERE application_name = %s "
				"AND query LIKE 'INSERT INTO et SELECT%%' AND state = 'active'", (app,)),
				timeout=HANG, what="the INSERT running")
			s.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
		return None

	run_both(pg, proxy, run)
	assert len(same(pg, "SELECT * FROM et ORDER BY id")) == 3


@pytest.mark.parametrize("tables", sorted(TABLES))
def test_query_behind_the_startup_packet_then_half_close(dbs, make_proxy, tables):
	"""A client writes its StartupMessage, a Query and a Terminate in one go
	and half-closes while pgbatchd is still logging in to the backend: the
	Query runs and is answered, as directly."""
	pg = dbs
	both(pg, "DROP TABLE IF EXISTS et; CREATE TABLE et (id int PRIMARY KEY, v text NOT NULL)")
	proxy = su.start_sink_proxy(make_proxy, TABLES[tables])

	def run(port, db, app):
		with w.Conn("127.0.0.1", port, timeout=HANG) as c:
			c.send(w.startup({"user": "postgres", "database": db, "application_name": app}) +
				w.query("INSERT INTO et VALUES (1, 'a')") + w.terminate())
			c.sock.shutdown(socket.SHUT_WR)
			msgs = c.read_eof_or_error(timeout=HANG)
		# what varies between servers (ParameterStatus, BackendKeyData) aside
		return [(t, p) for t, p in msgs if t not in "SK"]

	via, direct = run_both(pg, proxy, run)
	assert via == direct, "through: %s\ndirect:  %s" % (su.show(via), su.show(direct))
	assert same(pg, "SELECT * FROM et ORDER BY id") == [(1, "a")]


def test_a_session_that_runs_on_keeps_its_slot(dbs, make_proxy):
	"""max_client_conn = 1: a client sends a statement that waits on a lock,
	then Terminate, and leaves. Its server session runs on (as directly, where
	it counts against max_connections), and so it keeps its place: another
	client gets 53300 until the statement is done, then logs in."""
	pg = dbs
	proxy = make_proxy(max_client_conn=1)
	app = "end_%d" % next(_names)
	with pg.connect() as holder:
		holder.execute("SELECT pg_advisory_lock(7)")
		with session(proxy.port, "postgres", app) as s:
			s.send(w.query("SELECT pg_advisory_lock(7)") + w.terminate())
		harness.wait_for(lambda: pg.sql("SELECT 1 FROM pg_stat_activity WHERE application_name = %s "
			"AND wait_event_type = 'Lock'", (app,)), timeout=HANG, what="the statement waiting")
		with pytest.raises(w.ServerError) as ei:
			su.Session.to(proxy, timeout=HANG)
		assert ei.value.sqlstate == "53300"
		holder.execute("SELECT pg_advisory_unlock(7)")
	ended(pg, app)

	def login():
		try:
			return su.Session.to(proxy, timeout=HANG)
		except w.ServerError as e:
			assert e.sqlstate == "53300", e
			return None     # the slot is given back as the session's end is read

	with harness.wait_for(login, timeout=HANG, what="a free slot") as s:
		assert s.rows("SELECT 1") == [["1"]]
