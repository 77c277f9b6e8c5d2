"""Group commit's gather (sink/gather.c, gatherwait): with ackmode=commit the
clients of an idle batch are expected back, and the table's next idle batch
may wait for them. The wait must end by itself when one does not come back
(it went idle, it closed), and every row must still be written and answered
exactly, under the wait as without it."""

import psycopg2

import harness
import pgwire as w
import sinkutil as su

# directwrite 0: a lone row goes through a writer's idle batch, whose client
# is then expected back; a long age limit: only the gather's own end frees it
GATHER = {"ackmode": "commit", "directwrite": 0, "gatherwait": "on", "batchwritetimeoutms": 600000}


def test_a_client_that_does_not_come_back_is_not_waited_for(pg, make_proxy):
	"""A's row is written by an idle batch: A is expected back, but stays
	idle. B's row waits for A at most as long as a batch takes, then goes:
	B is answered (with nothing else to end the wait: the age limit is ten
	minutes, B's socket times out after twenty seconds)."""
	pg.sql("DROP TABLE IF EXISTS g1; CREATE TABLE g1 (k int PRIMARY KEY, v text)")
	proxy = su.start_sink_proxy(make_proxy, {"g1": GATHER})
	with su.Session.to(proxy, timeout=20.0) as a, su.Session.to(proxy, timeout=20.0) as b:
		a.insert("INSERT INTO g1 VALUES (1, 'a')", 1)
		b.insert("INSERT INTO g1 VALUES (2, 'b')", 1)
		b.insert("INSERT INTO g1 VALUES (3, 'b again')", 1)
		a.insert("INSERT INTO g1 VALUES (4, 'a is back')", 1)
	assert pg.sql("SELECT k, v FROM g1 ORDER BY k") == [(1, "a"), (2, "b"), (3, "b again"), (4, "a is back")]
	st = su.stats(proxy)
	assert st.sink.get("direct_rows", 0) == 0 and st.sink.get("rows_written") == 4, st


def test_a_client_that_closes_is_not_waited_for(pg, make_proxy):
	"""A expected client that disconnects is not waited for either."""
	pg.sql("DROP TABLE IF EXISTS g2; CREATE TABLE g2 (k int PRIMARY KEY, v text)")
	proxy = su.start_sink_proxy(make_proxy, {"g2": GATHER})
	with su.Session.to(proxy, timeout=20.0) as b:
		with su.Session.to(proxy, timeout=20.0) as a:
			a.insert("INSERT INTO g2 VALUES (1, 'a')", 1)
		b.insert("INSERT INTO g2 VALUES (2, 'b')", 1)
	assert pg.sql("SELECT k FROM g2 ORDER BY k") == [(1,), (2,)]


def test_clients_in_lockstep_under_the_wait(pg, make_proxy):
	"""Eight clients, each INSERTing one row at a time (and a SELECT of its
	own rows now and then, which passes through while it is expected back),
	with the wait on: every INSERT answered `INSERT 0 1` after its row
	committed, every row there once."""
	pg.sql("DROP TABLE IF EXISTS g3; CREATE TABLE g3 (k int PRIMARY KEY, owner int, v text)")
	proxy = su.start_sink_proxy(make_proxy, {"g3": GATHER})

	def worker(n):
		conn = psycopg2.connect(host=proxy.host, port=proxy.port, user="postgres", dbname="postgres")
		conn.autocommit = True
		cur = conn.cursor()
		for i in range(60):
			cur.execute("INSERT INTO g3 VALUES (%s, %s, %s)", (n * 1000 + i, n, "v%d" % i))
			assert cur.statusmessage == "INSERT 0 1"
			if i % 15 == 14:
				cur.execute("SELECT count(*) FROM g3 WHERE owner = %s", (n,))
				assert cur.fetchone() == (i + 1,)
		conn.close()

	su.run_parallel(worker, [(n,) for n in range(8)])
	assert pg.sql("SELECT count(*), count(DISTINCT k) FROM g3") == [(480, 480)]
	st = su.stats(proxy)
	assert st.sink.get("rows_written") == 480, st


def test_clients_that_shared_a_batch_still_write_directly_when_alone(pg, make_proxy):
	"""A and B are answered by idle batches while X's direct write holds the
	table (a lock makes it wait), so both are expected back. Then each
	inserts alone, in turn: with gatherwait = off nothing waits for the
	other, so each row goes as a direct write on its client's own connection
	(an expectation of the other client kept them in batches before)."""
	pg.sql("DROP TABLE IF EXISTS g4; CREATE TABLE g4 (k int PRIMARY KEY, v text)")
	proxy = su.start_sink_proxy(make_proxy, {"g4": {"ackmode": "commit", "gatherwait": "off"}},
		backend={"connectionmaxactive": 1},
		pgbatchd={"lazy_backend": 0})   # (direct writes from the first row: sessions with backends)

	def lock_waiters():
		return pg.sql("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")[0][0]

	with su.Session.to(proxy) as x, su.Session.to(proxy) as a, su.Session.to(proxy) as b:
		locker = su.lock_table(pg, "g4")
		try:
			x.send(w.msg("Q", b"INSERT INTO g4 VALUES (100, 'x: direct, waits for the lock')\0"))
			harness.wait_for(lambda: lock_waiters() == 1, what="x's direct write waiting")
			a.send(w.msg("Q", b"INSERT INTO g4 VALUES (1, 'a')\0"))
			b.send(w.msg("Q", b"INSERT INTO g4 VALUES (2, 'b')\0"))
			harness.wait_for(lambda: lock_waiters() == 2 and su.stats(proxy).sink.get("rows_in") == 3,
					 what="a's and b's rows in the sink, a batch waiting")
		finally:
			locker.execute("COMMIT")
			locker.close()
		for s in (x, a, b):
			assert s.read_until("Z") == su.insert_reply(1)
		before = su.stats(proxy).sink
		assert before.get("batches", 0) in (1, 2) and before.get("direct_units") == 1, before
		for i in range(5):
			a.insert("INSERT INTO g4 VALUES (%d, 'a alone')" % (10 + 2 * i), 1)
			b.insert("INSERT INTO g4 VALUES (%d, 'b alone')" % (11 + 2 * i), 1)
		after = su.stats(proxy).sink
	assert after["direct_units"] - before["direct_units"] == 10, (before, after)
	assert after["batches"] == before["batches"], (before, after)
	assert pg.sql("SELECT count(*) FROM g4") == [(13,)]
