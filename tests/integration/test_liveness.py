"""Nothing waits forever (issue 23): a client's lock stalls no other session (the catalog is read without taking table locks), a client that leaves takes its locks with it, shutdown ends within shutdown_timeout with nothing acknowledged lost without a trace, and a forwarded CancelRequest lands before its connection is closed."""

import json
import os
import signal
import threading

import psycopg
import pytest

import harness
from difftest import HANG, both
import pgwire as w
import sinkutil as su

PG_SETTINGS = {"timezone": "UTC"}


def backend_gone(pg, pid):
	harness.wait_for(lambda: not pg.sql("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)),
		timeout=HANG, what="backend %d gone" % pid)


# ---------------------------------------------------------------- one client's lock

LOCKS = {
	"lock_table": ["LOCK TABLE {t}"],
	"truncate": ["TRUNCATE {t}"],
	"drop_create": ["DROP TABLE {t}", "CREATE TABLE {t} (id serial PRIMARY KEY, v int)"],
}


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_a_clients_lock_stalls_no_one_else(dbs, make_proxy, lock, warm):
	"""BEGIN; a lock on t1 (a serial column: a default to read); INSERT into
	t1 -- answered as directly, cold or warm catalog. Meanwhile, while the
	lock is held, another session's INSERTs into t2 (loaded) and t3 (never
	loaded) are answered: nothing pgbatchd asks for every session waits on
	that lock."""
	pg = dbs
	suffix = "%s_%s" % (lock, "warm" if warm else "cold")
	t1, t2, t3 = "l1_" + suffix, "l2_" + suffix, "l3_" + suffix
	for t in (t1, t2, t3):
		both(pg, "CREATE TABLE %s (id serial PRIMARY KEY, v int)" % t)
	proxy = su.start_sink_proxy(make_proxy, {t1: {}, t2: {}, t3: {}})
	with su.Session.to(proxy, timeout=HANG) as s, su.Session.to(pg, database="direct", timeout=HANG) as d, \
			su.Session.to(proxy, timeout=HANG) as other:
		other.insert("INSERT INTO %s (v) VALUES (0)" % t2, 1)
		if warm:
			for x in (s, d):
				x.run("INSERT INTO %s (v) VALUES (0)" % t1)
		replies = []
		for x in (s, d):
			r = [x.run("BEGIN")]
			for sql in LOCKS[lock]:
				r.append(x.run(sql.format(t=t1)))
			r.append(x.run("INSERT INTO %s (v) VALUES (1)" % t1))
			replies.append(r)
		# the lock is held (the client's transaction is open): others go on
		holder = int(s.rows("SELECT pg_backend_pid()")[0][0])
		assert pg.sql("SELECT count(*) FROM pg_locks WHERE pid = %s AND relation IS NOT NULL "
			"AND mode = 'AccessExclusiveLock'", (holder,))[0][0] >= 1
		other.insert("INSERT INTO %s (v) VALUES (2)" % t2, 1)
		other.insert("INSERT INTO %s (v) VALUES (3)" % t3, 1)
		for x, r in zip((s, d), replies):
			r.append(x.run("COMMIT"))
		assert replies[0] == replies[1], "\n%s\n%s" % (replies[0], replies[1])
	for t in (t1,):
		q = "SELECT * FROM %s ORDER BY id" % t
		assert pg.sql(q) == pg.sql(q, dbname="direct")
	assert pg.sql("SELECT v FROM %s ORDER BY id" % t2) == [(0,), (2,)]
	assert pg.sql("SELECT v FROM %s ORDER BY id" % t3) == [(3,)]


def test_client_that_leaves_takes_its_lock_with_it(dbs, make_proxy):
	"""A client holds a lock (its INSERT taken into its transaction, a cold
	catalog read while it holds the lock) and disconnects: its backend goes,
	the lock is released."""
	pg = dbs
	pg.sql("CREATE TABLE lv (id serial PRIMARY KEY, v int)")
	proxy = su.start_sink_proxy(make_proxy, {"lv": {}})
	s = su.Session.to(proxy, timeout=HANG)
	pid = int(s.rows("SELECT pg_backend_pid()")[0][0])
	s.ok("BEGIN")
	s.ok("LOCK TABLE lv")
	assert su.tags_of(s.run("INSERT INTO lv (v) VALUES (1)")) == ["INSERT 0 1"]
	s.close()
	backend_gone(pg, pid)
	with pg.connect() as c:
		with c.transaction():
			c.execute("LOCK TABLE lv NOWAIT")
	assert pg.sql("SELECT count(*) FROM lv") == [(0,)]


# ---------------------------------------------------------------- shutdown

def rejects(path):
	if not os.path.exists(path):
		return []
	with open(path) as f:
		return [json.loads(line) for line in f if line.strip()]


@pytest.mark.parametrize("how", ["timeout", "second_signal"])
def test_shutdown_ends_with_a_batch_blocked(dbs, how):
	"""SIGTERM while a direct session holds a lock both tables' batches wait
	for: after shutdown_timeout (or at a second signal) the batches are
	cancelled, the client waiting for its commit gets 57P01, the acknowledged
	row (ackmode=immediate) is in the rejects file, pgbatchd exits 0; once the
	lock goes, nothing of the cancelled batches is committed."""
	pg = dbs
	tc, ti = "sd_commit_" + how, "sd_imm_" + how
	for t in (tc, ti):
		pg.sql("CREATE TABLE %s (id int PRIMARY KEY, v text)" % t)
	proxy = harness.Proxy(pg, name="shutdown")
	rej = os.path.join(proxy.dir, "rejects.json")
	proxy.extra_sections = su.sink_sections({tc: {"ackmode": "commit", "directwrite": 0},   # a writer's batch
		ti: {"ackmode": "immediate", "rejectfile": rej}})
	proxy.opts["shutdown_timeout"] = 2 if how == "timeout" else 3600
	proxy.start()
	try:
		with su.Session.to(proxy) as warm:
			warm.insert("INSERT INTO %s VALUES (0, 'warm')" % tc, 1)
			warm.insert("INSERT INTO %s VALUES (0, 'warm')" % ti, 1)
			warm.ok("SELECT 1")
		locker = pg.connect()
		locker.execute("BEGIN")
		locker.execute("LOCK TABLE %s, %s IN EXCLUSIVE MODE" % (tc, ti))
		a = su.Session.to(proxy, timeout=HANG)
		a.send(w.query("INSERT INTO %s VALUES (1, 'waits for its commit')" % tc))
		b = su.Session.to(proxy, timeout=HANG)
		b.insert("INSERT INTO %s VALUES (1, 'acknowledged')" % ti, 1)
		harness.wait_for(lambda: su.waiting_on_lock(pg) == 2, timeout=HANG, what="both batches waiting")
		mark = len(proxy.log())
		proxy.signal(signal.SIGTERM)
		if how == "second_signal":
			proxy.wait_log("shutdown requested", timeout=HANG, start=mark)
			proxy.signal(signal.SIGTERM)
		proxy.proc.wait(HANG)
		assert proxy.proc.returncode == 0, proxy.output()[-4000:]
		got = a.read_eof_or_error(timeout=HANG)
		err = su.error_of(got)
		assert err and err["C"] == "57P01" and err["S"] == "FATAL", got
		assert [(r["table"], r["sqlstate"], r["values"]) for r in rejects(rej)] == \
			[("public." + ti, "57P01", {"id": "1", "v": "acknowledged"})], rejects(rej)
		locker.execute("ROLLBACK")
		locker.close()
		harness.wait_for(lambda: not pg.sql("SELECT 1 FROM pg_stat_activity WHERE application_name = "
			"'pgbatchd-sink'"), timeout=HANG, what="the sink's connections gone")
		assert pg.sql("SELECT id FROM %s ORDER BY id" % tc) == [(0,)]
		assert pg.sql("SELECT id FROM %s ORDER BY id" % ti) == [(0,)]
		log = proxy.output()
		assert "is abandoned" in log
		a.close()
		b.close()
	finally:
		proxy.kill()
		assert not proxy.sanitizer_reports(), proxy.sanitizer_reports()
		proxy.cleanup()


# ---------------------------------------------------------------- cancel

SESSIONS = 20


def stream_cancel_then_next(port, db, pg):
	"""psycopg 3: stream a pg_sleep(2), cancel it once it runs (the stream's
	own cleanup cancels once more), roll back, run a short statement. Returns
	what the short statement did: "ok", or the error it got."""
	with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname=db) as conn:
		pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
		conn.rollback()
		cur = conn.cursor()
		stream = cur.stream("SELECT pg_sleep(2)")

		def cancel_when_running():
			harness.wait_for(lambda: pg.sql("SELECT 1 FROM pg_stat_activity WHERE pid = %s AND state = 'active' "
				"AND query LIKE 'SELECT pg_sleep(2)%%'", (pid,)), timeout=HANG, what="pg_sleep running")
			conn.cancel()

		t = threading.Thread(target=cancel_when_running)
		t.start()
		try:
			for _ in stream:
				pass
		except psycopg.errors.QueryCanceled:
			pass
		t.join()
		conn.rollback()
		try:
			conn.execute("SELECT pg_sleep(0.05)")
			conn.rollback()
			return "ok"
		except psycopg.Error as e:
			return e.sqlstate


@pytest.mark.parametrize("tables", [False, True], ids=["passthrough", "tables"])
def test_cancel_never_lands_on_the_next_statement(dbs, make_proxy, tables):
	"""20 sessions each cancel a streamed statement and then run another: no
	later statement is cancelled, as directly (pgbatchd closes the client's
	cancel connection only once the server closed its own)."""
	pg = dbs
	if tables:
		both(pg, "CREATE TABLE IF NOT EXISTS cx (id int PRIMARY KEY)")
	proxy = su.start_sink_proxy(make_proxy, {"cx": {}} if tables else {})
	for port, db in ((pg.port, "direct"), (proxy.port, "postgres")):
		results = []
		lock = threading.Lock()

		def one():
			r = stream_cancel_then_next(port, db, pg)
			with lock:
				results.append(r)

		su.run_parallel(one, [() for _ in range(SESSIONS)], timeout=HANG * 2)
		assert results == ["ok"] * SESSIONS, (db, results)


# ---------------------------------------------------------------- waits are visible

def test_a_blocked_batch_says_what_blocks_it(dbs, make_proxy):
	"""A batch waiting a few seconds for a lock logs, once, who holds it:
	pg_blocking_pids() of its writer, with that session's user, application
	and query."""
	pg = dbs
	pg.sql("CREATE TABLE wv (id int PRIMARY KEY)")
	proxy = su.start_sink_proxy(make_proxy, {"wv": {"directwrite": 0}})   # a writer's batch
	with su.Session.to(proxy, timeout=HANG) as s:
		s.insert("INSERT INTO wv VALUES (0)", 1)
		locker = pg.connect(application_name="the_locker")
		locker.execute("BEGIN")
		locker.execute("LOCK TABLE wv IN EXCLUSIVE MODE")
		lpid = locker.execute("SELECT pg_backend_pid()").fetchone()[0]
		s.send(w.query("INSERT INTO wv VALUES (1)"))
		m = proxy.wait_log(r"batch \d+ of writer \d+ \(1 rows of public\.wv\) has waited \d+ s, blocked by "
			r"pid (\d+) \(user postgres, application \"the_locker\", idle in transaction", timeout=HANG)
		assert int(m.group(1)) == lpid
		locker.execute("COMMIT")
		locker.close()
		assert s.read_until("Z") == su.insert_reply(1)
	assert len([l for l in proxy.log().splitlines() if "has waited" in l]) == 1


def test_shutdown_does_not_wait_for_staged_rows(dbs):
	"""A client with rows staged in its open transaction: they are the
	transaction's, not the sink's, so SIGTERM's drain does not wait for
	them (no shutdown_timeout needed); the session gets 57P01 and its
	transaction is rolled back."""
	pg = dbs
	pg.sql("CREATE TABLE sds (id int PRIMARY KEY)")
	proxy = harness.Proxy(pg, name="staged")
	proxy.extra_sections = su.sink_sections({"sds": {}})
	proxy.opts["shutdown_timeout"] = 3600
	proxy.start()
	try:
		s = su.Session.to(proxy, timeout=HANG)
		s.ok("BEGIN")
		assert su.tags_of(s.run("INSERT INTO sds VALUES (1)")) == ["INSERT 0 1"]
		proxy.signal(signal.SIGTERM)
		proxy.proc.wait(HANG)
		assert proxy.proc.returncode == 0
		err = su.error_of(s.read_eof_or_error(timeout=HANG))
		assert err and err["C"] == "57P01", err
		assert "given up" not in proxy.output() and "after shutdown_timeout" not in proxy.output()
		s.close()
	finally:
		proxy.kill()
		assert not proxy.sanitizer_reports(), proxy.sanitizer_reports()
		proxy.cleanup()
	assert pg.sql("SELECT count(*) FROM sds") == [(0,)]


def test_wait_log_of_a_batch_of_long_names(dbs, make_proxy):
	"""The waiting batch's line names every table of it, however long their
	names (an autocommit group into two tables of 63-character names)."""
	pg = dbs
	schema = "s" * 63
	t1, t2 = "a" * 62 + "1", "b" * 62 + "2"
	pg.sql('CREATE SCHEMA "%s"' % schema)
	for t in (t1, t2):
		pg.sql('CREATE TABLE "%s"."%s" (id int PRIMARY KEY)' % (schema, t))
	proxy = su.start_sink_proxy(make_proxy, [(t1, {"targetschema": schema}), (t2, {"targetschema": schema})],
		backend={"connectionmaxactive": 1})
	with su.Session.to(proxy, timeout=HANG) as s:
		group = b""
		for t in (t1, t2):
			group += w.parse("", 'INSERT INTO "%s"."%s" (id) VALUES ($1)' % (schema, t)) + \
				w.bind("", "", ["0"]) + w.execute("")
		s.send(group + w.sync())
		s.read_until("Z")
		locker = pg.connect()
		locker.execute("BEGIN")
		locker.execute('LOCK TABLE "%s"."%s" IN EXCLUSIVE MODE' % (schema, t2))
		s.send(group.replace(b"\x00\x00\x00\x010", b"\x00\x00\x00\x011") + w.sync())
		proxy.wait_log(r"\(2 rows of %s\.%s %s\.%s\) has waited" % (schema, t1, schema, t2), timeout=HANG)
		locker.execute("COMMIT")
		locker.close()
		s.read_until("Z")
