"""Direct writes (directwrite = 1, ackmode = commit): an INSERT that arrives while the sink holds nothing else of its table is written at once on the client's own connection, and the client cannot tell.

test_replies_and_rows_as_direct: the same single-row statements, per
conflictmode, new keys and conflicting ones, run directly and through
pgbatchd by one client: every reply byte and the final table are the same,
and every unit went the direct way (direct_units in the stats, no batch).

test_written_by_the_session_itself: a trigger records the backend that wrote
each row: it is the client's own (pg_backend_pid() through pgbatchd).

test_extended_protocol_unit: psycopg's Parse/Bind/Execute/Sync INSERTs in
autocommit go the same way.

test_refused_row_goes_to_the_writers: a row the database refuses
(exceptionmode ignore and strict) is answered exactly as pgbatchd with
directwrite = 0 answers it (WARNING and INSERT 0 0, or the error), lands in
the rejects file, and is counted as given back.

test_later_rows_of_its_key_wait_for_it: the direct write waits for a lock (a
direct transaction holds the key); the next row of that key, from another
session, follows it: the table ends with the later row's value. Repeated,
with the holder committing or rolling back.

test_client_gone_while_it_runs: the client disconnects while its direct
write waits for a lock; the next row of that key waits until the server has
run the departed client's statement, then wins.

test_session_ended_while_it_runs: pgbatchd ends the session (a protocol
violation) while its direct write waits for a lock: the next row of that key
waits until the server has closed the lingering connection.

test_shutdown_cancels_a_blocked_direct_write: shutdown past its bound with a
direct write waiting for a lock: its client gets 57P01, the write is
cancelled on the server, nothing of it commits when the lock goes.
"""

import json
import signal
import socket

import pytest

import harness
from difftest import HANG
import sinkutil as su
from relay import Relay

MODES = ["upsert", "update", "ignore", "strict"]


def start(make_proxy, tables, **kw):
	"""Sessions with a backend of their own from their login (lazy_backend =
	0): direct writes are what is tested here. A session that starts without
	one: test_backendless.py."""
	kw["pgbatchd"] = dict(kw.get("pgbatchd") or {}, lazy_backend=0)
	return su.start_sink_proxy(make_proxy, tables, **kw)


def direct_count(proxy):
	return su.stats(proxy).sink


@pytest.mark.parametrize("mode", MODES)
def test_replies_and_rows_as_direct(pg, make_proxy, mode):
	t = "dw_" + mode
	su.twin_tables(pg, t, "CREATE TABLE {t} (k int PRIMARY KEY, a int, b text DEFAULT 'dflt')")
	proxy = start(make_proxy, {t: {"conflictmode": mode, "ackmode": "commit",
		"exceptionmode": "strict"}})
	# (columns named, values): new keys, then the same keys again
	stmts = [(["k", "a", "b"], "1, 10, 'x'"), (["k", "a"], "2, 20"), (["k", "a", "b"], "1, 11, 'y'"),
		 (["k", "b"], "2, 'z'"), (["k", "a"], "3, NULL"), (["k", "a"], "3, 4")]
	got, want = [], []
	with su.Session.to(proxy) as s, su.Session.to(pg) as d:
		for cols, vals in stmts:
			sql = "INSERT INTO %s (%s) VALUES (%s)" % ("{t}", ", ".join(cols), vals)
			got.append(s.run(sql.format(t=t)))
			want.append(d.run(sql.format(t=t + "_ref") + su.mode_clause(mode, ["k"], ["a", "b"], cols)))
	ref, own = (t + "_ref").encode(), t.encode()
	want = [[(ty, body.replace(ref, own)) for ty, body in msgs] for msgs in want]   # the twin's name
	for g, wnt, stmt in zip(got, want, stmts):
		assert g == wnt, "%s:\n%s\nvs directly:\n%s" % (stmt, su.show(g), su.show(wnt))
	assert su.dump(pg, t, "k") == su.dump(pg, t + "_ref", "k")
	st = direct_count(proxy)
	ok = sum(1 for wnt in want if not su.error_of(wnt))
	assert st["direct_units"] == ok and st["batches"] == ok - st["direct_units"] + st["direct_back"], st
	assert st["direct_back"] == len(stmts) - ok, st


def test_written_by_the_session_itself(pg, make_proxy):
	t = "dw_pid"
	pg.sql("DROP TABLE IF EXISTS %s" % t)
	pg.sql("DROP TABLE IF EXISTS %s_log" % t)
	pg.sql("CREATE TABLE %s (k int PRIMARY KEY, v text)" % t)
	pg.sql("CREATE TABLE %s_log (k int, pid int, usr text)" % t)
	pg.sql("CREATE FUNCTION %s_f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
		"INSERT INTO %s_log VALUES (NEW.k, pg_backend_pid(), session_user); RETURN NEW; END $$" % (t, t))
	pg.sql("CREATE TRIGGER %s_t AFTER INSERT ON %s FOR EACH ROW EXECUTE FUNCTION %s_f()" % (t, t, t))
	proxy = start(make_proxy, {t: {"ackmode": "commit"}})
	with su.Session.to(proxy) as s:
		pid = int(s.rows("SELECT pg_backend_pid()")[0][0])
		for k in range(3):
			s.insert("INSERT INTO %s VALUES (%d, 'v')" % (t, k), 1)
	assert su.direct(pg, "SELECT k, pid FROM %s_log ORDER BY k" % t) == [(0, pid), (1, pid), (2, pid)]
	assert direct_count(proxy)["direct_units"] == 3


def test_extended_protocol_unit(pg, make_proxy):
	"""psycopg's parameterized INSERTs (Parse, Bind, Execute, Sync) in autocommit,
	one at a time and a pipelined pair: the lone ones are written by the
	session's own backend, the rows and row counts as directly."""
	import psycopg
	t = "dw_ext"
	pg.sql("DROP TABLE IF EXISTS %s" % t)
	pg.sql("DROP TABLE IF EXISTS %s_log" % t)
	pg.sql("CREATE TABLE %s (k int PRIMARY KEY, v text)" % t)
	pg.sql("CREATE TABLE %s_log (k int, pid int)" % t)
	pg.sql("CREATE FUNCTION %s_f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
		"INSERT INTO %s_log VALUES (NEW.k, pg_backend_pid()); RETURN NEW; END $$" % (t, t))
	pg.sql("CREATE TRIGGER %s_t AFTER INSERT ON %s FOR EACH ROW EXECUTE FUNCTION %s_f()" % (t, t, t))
	proxy = start(make_proxy, {t: {"ackmode": "commit", "conflictmode": "upsert"}})
	with psycopg.connect(host=proxy.host, port=proxy.port, user="postgres", dbname="postgres",
			autocommit=True) as conn:
		pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
		for k in range(3):
			assert conn.execute("INSERT INTO %s VALUES (%%s, %%s)" % t, (k, "v%d" % k)).rowcount == 1
		assert conn.execute("INSERT INTO %s VALUES (%%s, %%s)" % t, (1, "again")).rowcount == 1
		with conn.pipeline():
			conn.execute("INSERT INTO %s VALUES (%%s, %%s)" % t, (10, "p1"))
			conn.execute("INSERT INTO %s VALUES (%%s, %%s)" % t, (11, "p2"))
		assert conn.execute("SELECT count(*) FROM %s" % t).fetchone()[0] == 5
	assert su.dump(pg, t, "k") == ["(0,v0)", "(1,again)", "(2,v2)", "(10,p1)", "(11,p2)"]
	assert su.direct(pg, "SELECT k, pid FROM %s_log ORDER BY k" % t)[:3] == [(0, pid), (1, pid), (2, pid)]
	assert direct_count(proxy)["direct_units"] >= 4


@pytest.mark.parametrize("exc", ["ignore", "strict"])
def test_refused_row_goes_to_the_writers(pg, make_proxy, tmp_path, exc):
	t = "dw_refuse_" + exc
	pg.sql("DROP TABLE IF EXISTS %s" % t)
	pg.sql("CREATE TABLE %s (k int PRIMARY KEY, v int CHECK (v >= 0))" % t)
	replies = {}
	for dw in (1, 0):
		pg.sql("TRUNCATE %s" % t)
		rejects = str(tmp_path / ("%s_%d.json" % (t, dw)))
		proxy = start(make_proxy, {t: {"ackmode": "commit", "exceptionmode": exc,
			"directwrite": dw, "rejectfile": rejects}})
		with su.Session.to(proxy) as s:
			s.insert("INSERT INTO %s VALUES (1, 1)" % t, 1)
			replies[dw] = s.run("INSERT INTO %s VALUES (2, -1)" % t)
			s.insert("INSERT INTO %s VALUES (3, 3)" % t, 1)
		st = direct_count(proxy)
		assert su.dump(pg, t, "k") == ["(1,1)", "(3,3)"]
		if exc == "ignore":
			with open(rejects) as f:
				lines = [json.loads(line) for line in f]
			assert len(lines) == 1 and lines[0]["sqlstate"] == "23514", lines
		if dw:
			assert st["direct_units"] == 2 and st["direct_back"] == 1, st
		else:
			assert st["direct_units"] == 0, st
		proxy.stop()
	assert replies[1] == replies[0], "%s\nvs directwrite = 0:\n%s" % (su.show(replies[1]), su.show(replies[0]))
	if exc == "ignore":
		assert [m[0] for m in replies[1]] == ["N", "C", "Z"], su.show(replies[1])
	else:
		assert su.error_of(replies[1])["C"] == "23514"


def wait_session_lock(pg, pid):
	harness.wait_for(lambda: pg.sql("SELECT count(*) FROM pg_stat_activity WHERE pid = %d "
		"AND wait_event_type = 'Lock'" % pid)[0][0] == 1, what="backend %d waiting for a lock" % pid)


@pytest.mark.parametrize("end", ["COMMIT", "ROLLBACK"])
def test_later_rows_of_its_key_wait_for_it(pg, make_proxy, end):
	t = "dw_order_" + end.lower()
	pg.sql("DROP TABLE IF EXISTS %s" % t)
	pg.sql("CREATE TABLE %s (k int PRIMARY KEY, v text)" % t)
	proxy = start(make_proxy, {t: {"ackmode": "commit", "conflictmode": "upsert"}},
		backend={"connectionmaxactive": 3})
	for run in range(5):
		holder = pg.connect()
		holder.execute("BEGIN")
		holder.execute("INSERT INTO %s VALUES (%d, 'holder')" % (t, run))
		a, b = su.Session.to(proxy), su.Session.to(proxy)
		pid = int(a.rows("SELECT pg_backend_pid()")[0][0])
		a.send(su.w.msg("Q", ("INSERT INTO %s VALUES (%d, 'first')" % (t, run)).encode() + b"\0"))
		wait_session_lock(pg, pid)          # written directly, and waiting
		b.send(su.w.msg("Q", ("INSERT INTO %s VALUES (%d, 'second')" % (t, run)).encode() + b"\0"))
		harness.wait_for(lambda: su.stats(proxy).sink["blocked"] >= run + 1, what="the second row waiting for the first")
		holder.execute(end)
		holder.close()
		assert a.read_until("Z") == su.insert_reply(1)
		assert b.read_until("Z") == su.insert_reply(1)
		a.close()
		b.close()
		assert su.direct(pg, "SELECT v FROM %s WHERE k = %d" % (t, run)) == [("second",)]


def test_client_gone_while_it_runs(pg, make_proxy):
	t = "dw_gone"
	pg.sql("DROP TABLE IF EXISTS %s" % t)
	pg.sql("CREATE TABLE %s (k int PRIMARY KEY, v text)" % t)
	proxy = start(make_proxy, {t: {"ackmode": "commit", "conflictmode": "upsert"}},
		backend={"connectionmaxactive": 3})
	holder = pg.connect()
	holder.execute("BEGIN")
	holder.execute("INSERT INTO %s VALUES (1, 'holder')" % t)
	a, b = su.Session.to(proxy), su.Session.to(proxy)
	pid = int(a.rows("SELECT pg_backend_pid()")[0][0])
	a.send(su.w.msg("Q", ("INSERT INTO %s VALUES (1, 'departed')" % t).encode() + b"\0"))
	wait_session_lock(pg, pid)
	a.sock.shutdown(socket.SHUT_RDWR)
	a.close()
	b.send(su.w.msg("Q", ("INSERT INTO %s VALUES (1, 'second')" % t).encode() + b"\0"))
	harness.wait_for(lambda: su.stats(proxy).sink["blocked"] >= 1, what="the second row waiting for the first")
	holder.execute("ROLLBACK")
	holder.close()
	assert b.read_until("Z") == su.insert_reply(1)
	b.close()
	assert su.direct(pg, "SELECT v FROM %s" % t) == [("second",)]


@pytest.mark.parametrize("how", ["timeout", "second_signal"])
def test_shutdown_cancels_a_blocked_direct_write(dbs, how):
	"""SIGTERM while a direct write waits for a lock: after shutdown_timeout (or
	at a second signal) its client gets 57P01 and pgbatchd exits 0; the write
	was cancelled on the server before that connection ended, so once the lock
	goes nothing of it is committed."""
	pg = dbs
	t = "dw_shut_" + how
	pg.sql("CREATE TABLE %s (id int PRIMARY KEY, v text)" % t)
	proxy = harness.Proxy(pg, name="dwshutdown")
	proxy.extra_sections = su.sink_sections({t: {"ackmode": "commit"}})
	proxy.opts["shutdown_timeout"] = 2 if how == "timeout" else 3600
	proxy.start()
	try:
		locker = pg.connect()
		locker.execute("BEGIN")
		locker.execute("LOCK TABLE %s IN EXCLUSIVE MODE" % t)
		a = su.Session.to(proxy, timeout=HANG)
		pid = int(a.rows("SELECT pg_backend_pid()")[0][0])
		a.send(su.w.query("INSERT INTO %s VALUES (1, 'waits for its commit')" % t))
		wait_session_lock(pg, pid)
		mark = len(proxy.log())
		proxy.signal(signal.SIGTERM)
		if how == "second_signal":
			proxy.wait_log("shutdown requested", timeout=HANG, start=mark)
			proxy.signal(signal.SIGTERM)
		proxy.proc.wait(HANG)
		assert proxy.proc.returncode == 0, proxy.output()[-4000:]
		err = su.error_of(a.read_eof_or_error(timeout=HANG))
		assert err and err["C"] == "57P01" and err["S"] == "FATAL", err
		# the server ended the write before pgbatchd let go of its connection
		assert not pg.sql("SELECT 1 FROM pg_stat_activity WHERE pid = %d" % pid)
		locker.execute("ROLLBACK")
		locker.close()
		assert pg.sql("SELECT id FROM %s" % t) == []
		a.close()
	finally:
		proxy.kill()
		assert not proxy.sanitizer_reports(), proxy.sanitizer_reports()
		proxy.cleanup()


def test_session_ended_while_it_runs(pg, make_proxy):
	"""The client breaks the protocol while its direct write waits for a lock:
	pgbatchd ends the session at once (08P01), but its backend lingers and
	runs what it was sent. The next row of that key waits until the server has
	closed that connection (the write may have committed until then), then
	wins."""
	t = "dw_ended"
	pg.sql("DROP TABLE IF EXISTS %s" % t)
	pg.sql("CREATE TABLE %s (k int PRIMARY KEY, v text)" % t)
	proxy = start(make_proxy, {t: {"ackmode": "commit", "conflictmode": "upsert"}},
		backend={"connectionmaxactive": 3})
	holder = pg.connect()
	holder.execute("BEGIN")
	holder.execute("INSERT INTO %s VALUES (1, 'holder')" % t)
	a, b = su.Session.to(proxy), su.Session.to(proxy)
	pid = int(a.rows("SELECT pg_backend_pid()")[0][0])
	a.send(su.w.msg("Q", ("INSERT INTO %s VALUES (1, 'ended')" % t).encode() + b"\0"))
	wait_session_lock(pg, pid)
	a.send(b"\xff\x00\x00\x00\x04")     # no such message type
	err = su.error_of(a.read_eof_or_error(timeout=HANG))
	assert err and err["C"] == "08P01", err
	a.close()
	b.send(su.w.msg("Q", ("INSERT INTO %s VALUES (1, 'second')" % t).encode() + b"\0"))
	harness.wait_for(lambda: su.stats(proxy).sink["blocked"] >= 1, what="the second row waiting for the first")
	holder.execute("COMMIT")
	holder.close()
	# the departed write hits the holder's row; the second row goes after it
	assert b.read_until("Z") == su.insert_reply(1)
	b.close()
	assert su.direct(pg, "SELECT v FROM %s" % t) == [("second",)]
	assert not pg.sql("SELECT 1 FROM pg_stat_activity WHERE pid = %d" % pid)


def test_connection_reset_while_it_runs(pg, make_proxy):
	"""The connection between pgbatchd and the server is reset (a relay between
	them dies) while a direct write waits for a lock. The server's backend does
	not know yet: left alone it would run the INSERT once the lock goes, after
	rows that came later. pgbatchd ends that backend (by its pid and start,
	through a connection of its own) before the next row of the key is written,
	so that row stays the last, as directly after a lost connection."""
	t = "dw_reset"
	pg.sql("DROP TABLE IF EXISTS %s" % t)
	pg.sql("CREATE TABLE %s (k int PRIMARY KEY, v text)" % t)
	# only the row that is cut waits (for an advisory lock the test holds)
	pg.sql("CREATE OR REPLACE FUNCTION dw_reset_gate() RETURNS trigger LANGUAGE plpgsql AS "
		"$$BEGIN IF NEW.v = 'cut' THEN PERFORM pg_advisory_xact_lock(4242); END IF; RETURN NEW; END$$")
	pg.sql("CREATE TRIGGER gate BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION dw_reset_gate()" % t)
	relay = Relay(pg)
	holder = pg.connect()
	try:
		proxy = start(make_proxy, {t: {"ackmode": "commit", "conflictmode": "upsert"}},
			backend={"connectionmaxactive": 3}, backend_url=relay.url())
		holder.execute("SELECT pg_advisory_lock(4242)")
		a, b = su.Session.to(proxy), su.Session.to(proxy)
		pid = int(a.rows("SELECT pg_backend_pid()")[0][0])
		a.send(su.w.msg("Q", ("INSERT INTO %s VALUES (1, 'cut')" % t).encode() + b"\0"))
		wait_session_lock(pg, pid)         # written directly (by the session's backend), and waiting
		relay.cut(pg.sql("SELECT client_port FROM pg_stat_activity WHERE pid = %d" % pid)[0][0])
		err = su.error_of(a.read_eof_or_error(timeout=HANG))
		assert err is None or err["C"].startswith("08"), err
		a.close()
		b.send(su.w.msg("Q", ("INSERT INTO %s VALUES (1, 'second')" % t).encode() + b"\0"))
		assert b.read_until("Z") == su.insert_reply(1)
		b.close()
		# the cut backend was ended before the second row was written
		assert not pg.sql("SELECT 1 FROM pg_stat_activity WHERE pid = %d" % pid)
		proxy.wait_log(r"a session connection was lost while its INSERT ran: ending its backend \(pid %d\)" % pid)
	finally:
		holder.execute("SELECT pg_advisory_unlock(4242)")
		holder.close()
		relay.close()
	harness.wait_for(lambda: not pg.sql("SELECT 1 FROM pg_stat_activity WHERE pid = %d" % pid),
		what="the cut backend gone")
	assert su.direct(pg, "SELECT v FROM %s" % t) == [("second",)]
