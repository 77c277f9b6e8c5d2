"""Flush triggers, each observed in the proxy's own per-batch log lines (table verbose = 1) and counters: batchsize, the oldest row's age, an idle writer (adaptiveflush), the read-your-writes barrier (and its absence with readyourwrites = 0), and the SIGTERM drain that commits every acknowledged row before pgbatchd exits 0."""

import signal
import threading
import time

import pytest

import harness
import sinkutil as su

DDL = "CREATE TABLE {t} (k int PRIMARY KEY, v text)"


def rows_sql(table, start, n):
	return su.insert_sql(table, None, [[str(i), "'r%d'" % i] for i in range(start, start + n)])


def proxy_for(make_proxy, table, pgbatchd=None, **opts):
	# (the writers' flush policy: a lone row is not written on its client's
	# connection instead, directwrite = 0)
	base = {"verbose": 1, "adaptiveflush": 0, "batchsize": su.HUGE_BATCH,
		"batchwritetimeoutms": su.HUGE_TIMEOUT_MS, "ackmode": "commit", "directwrite": 0}
	base.update(opts)
	return su.start_sink_proxy(make_proxy, {table: base}, backend={"connectionmaxactive": 1}, pgbatchd=pgbatchd)


def test_flush_on_batchsize(pg, make_proxy):
	pg.sql(DDL.format(t="fl_size"))
	proxy = proxy_for(make_proxy, "fl_size", batchsize=10)
	with su.Session.to(proxy) as s:
		# ackmode=commit and no other trigger can fire: the reply proves the batch was written
		s.insert(rows_sql("fl_size", 0, 10), 10)
	fl = su.flushes(proxy, table="fl_size")
	assert [(f["reason"], f["rows"]) for f in fl] == [("batchsize", 10)], proxy.log()[-3000:]
	assert su.count(pg, "fl_size") == 10
	st = su.stats(proxy)
	assert st.sink["flush_batchsize"] == 1 and st.sink["batches"] == 1, st


def test_batchsize_splits_and_the_rest_waits(pg, make_proxy):
	"""ackmode=immediate, batchsize 10: 25 rows make two full batches; 5 stay buffered
	(no other trigger can fire) until the shutdown drain writes them."""
	pg.sql(DDL.format(t="fl_split"))
	proxy = proxy_for(make_proxy, "fl_split", batchsize=10, ackmode="immediate")
	with su.Session.to(proxy) as s:
		for msgs in s.pipeline([rows_sql("fl_split", i, 1) for i in range(25)]):
			assert msgs == su.insert_reply(1), su.show(msgs)
	su.wait_flushes(proxy, lambda fl: len(fl) >= 2, table="fl_split")
	time.sleep(0.3)   # nothing else may flush: no third batch appears
	fl = su.flushes(proxy, table="fl_split")
	assert [(f["reason"], f["rows"]) for f in fl] == [("batchsize", 10), ("batchsize", 10)]
	assert su.count(pg, "fl_split") == 20
	assert proxy.stop() == []
	fl = su.flushes(proxy, table="fl_split")
	assert [(f["reason"], f["rows"]) for f in fl][2:] == [("shutdown", 5)]
	assert su.count(pg, "fl_split") == 25


def test_flush_on_age(pg, make_proxy):
	pg.sql(DDL.format(t="fl_age"))
	proxy = proxy_for(make_proxy, "fl_age", batchwritetimeoutms=300)
	with su.Session.to(proxy) as s:
		t0 = time.monotonic()
		s.insert(rows_sql("fl_age", 0, 1), 1)
		waited = time.monotonic() - t0
	fl = su.flushes(proxy, table="fl_age")
	assert [(f["reason"], f["rows"]) for f in fl] == [("age", 1)], proxy.log()[-3000:]
	# a lower bound only: nothing could have flushed it before its age was reached
	assert waited >= 0.25, waited
	st = su.stats(proxy)
	assert st.sink["flush_age"] == 1, st


def test_age_counts_from_the_oldest_row(pg, make_proxy):
	"""Row A at t0, row B at t0+0.7 s, timeout 1 s: both are written at about t0+1 s
	(A's age), not at t0+1.7 s (a timer restarted by B, the connector's bug)."""
	pg.sql(DDL.format(t="fl_oldest"))
	proxy = proxy_for(make_proxy, "fl_oldest", batchwritetimeoutms=1000)
	lat = {}

	def send(key, delay):
		time.sleep(delay)
		with su.Session.to(proxy) as s:
			t = time.monotonic()
			s.insert(rows_sql("fl_oldest", key, 1), 1)
			lat[key] = time.monotonic() - t

	threads = [threading.Thread(target=send, args=(0, 0.0)), threading.Thread(target=send, args=(1, 0.7))]
	for t in threads:
		t.start()
	for t in threads:
		t.join(30)
	fl = su.flushes(proxy, table="fl_oldest")
	assert [(f["reason"], f["rows"]) for f in fl] == [("age", 2)], (fl, lat)
	assert 0.9 <= lat[0] < 1.5, lat


def test_flush_when_writer_idle(pg, make_proxy):
	pg.sql(DDL.format(t="fl_idle"))
	proxy = proxy_for(make_proxy, "fl_idle", adaptiveflush=1)
	with su.Session.to(proxy) as s:
		for i in range(3):
			s.insert(rows_sql("fl_idle", i, 2), 2)
	fl = su.flushes(proxy, table="fl_idle")
	assert [(f["reason"], f["rows"]) for f in fl] == [("idle", 2)] * 3, proxy.log()[-3000:]
	st = su.stats(proxy)
	assert st.sink["flush_idle"] == 3, st


@pytest.mark.parametrize("ackmode", ["immediate", "commit"])
def test_idle_flush_in_flight_per_table(pg, make_proxy, ackmode):
	"""A lock held on the table keeps the first idle-writer batch in flight: no
	second idle batch of the table starts meanwhile, the other rows wait and
	then go together (group commit). With ackmode=immediate (nobody waits)
	and with ackmode=commit (clients wait) alike: once every row of the three
	sessions is placed, one batch waits for the lock and the rest of the rows
	wait in queues (a session's rows follow each other, so its later ones
	queue behind its first)."""
	table = "fl_inflight_" + ackmode
	pg.sql(DDL.format(t=table))
	proxy = su.start_sink_proxy(make_proxy, {table: {"verbose": 1, "adaptiveflush": 1,
		"batchsize": su.HUGE_BATCH, "batchwritetimeoutms": su.HUGE_TIMEOUT_MS, "ackmode": ackmode,
		"directwrite": 0}}, backend={"connectionmaxactive": 3})
	locker = pg.connect()
	sessions = [su.Session.to(proxy) for _ in range(4)]
	try:
		# the catalog is loaded before the lock: the first INSERT waits for it
		sessions[0].insert(rows_sql(table, 0, 1), 1)
		su.wait_count(pg, table, 1)
		locker.execute("BEGIN")
		locker.execute("LOCK TABLE %s IN EXCLUSIVE MODE" % table)
		first = rows_sql(table, 1, 1)
		rest = [rows_sql(table, k, 1) for k in range(2, 30)]
		if ackmode == "immediate":
			sessions[0].insert(first, 1)
			harness.wait_for(lambda: su.waiting_on_lock(pg) == 1, what="the first batch waiting")
			for msgs in sessions[1].pipeline(rest):
				assert msgs == su.insert_reply(1), su.show(msgs)
			# every row is placed, and the 28 wait in a queue: no batch took them
			harness.wait_for(lambda: su.stats(proxy).sink["queued_rows"] == 28, what="28 rows queued")
			assert su.waiting_on_lock(pg) == 1
		else:
			mine = {1: [first] + rest[:9], 2: rest[9:18], 3: rest[18:]}
			for i, qs in mine.items():
				sessions[i].send(b"".join(su.w.msg("Q", q.encode() + b"\0") for q in qs))
			harness.wait_for(lambda: su.stats(proxy).sink["rows_in"] == 30, what="every row placed")
			# every batch taken since the lock (the first one committed before it)
			# waits for it at the server: there is one
			taken = lambda: su.stats(proxy).sink["flush_idle"] - 1
			harness.wait_for(lambda: taken() >= 1 and su.waiting_on_lock(pg) == taken(),
				what="every batch taken waiting for the lock")
			assert taken() == 1, su.stats(proxy)
		locker.execute("COMMIT")
		if ackmode == "commit":
			for i, qs in mine.items():
				for _ in qs:
					assert sessions[i].read_until("Z") == su.insert_reply(1)
		su.wait_count(pg, table, 30)
	finally:
		locker.close()
		for x in sessions:
			x.close()
	fl = su.flushes(proxy, table=table)
	assert {f["reason"] for f in fl} == {"idle"}, fl
	if ackmode == "immediate":
		# the held batch, then everything that queued behind it in one
		assert [f["rows"] for f in fl] == [1, 1, 28], fl


def test_barrier_read_your_writes(pg, make_proxy):
	pg.sql(DDL.format(t="fl_bar"))
	proxy = proxy_for(make_proxy, "fl_bar", ackmode="immediate")
	with su.Session.to(proxy) as s:
		s.insert(rows_sql("fl_bar", 0, 3), 3)
		s.insert(rows_sql("fl_bar", 3, 1), 1)
		assert su.count(pg, "fl_bar") == 0          # acknowledged, buffered, not written
		assert s.rows("SELECT count(*) FROM fl_bar") == [["4"]]
	fl = su.flushes(proxy, table="fl_bar")
	assert [f["reason"] for f in fl] == ["barrier"] and sum(f["rows"] for f in fl) == 4, fl
	st = su.stats(proxy)
	assert st.sink["flush_barrier"] == 1, st


def test_readyourwrites_off_does_not_wait(pg, make_proxy):
	"""readyourwrites = 0: the SELECT passes through at once and does not see rows
	still buffered (nothing else can flush them here); the drain writes them at exit."""
	pg.sql(DDL.format(t="fl_norw"))
	proxy = proxy_for(make_proxy, "fl_norw", ackmode="immediate", pgbatchd={"readyourwrites": 0})
	with su.Session.to(proxy) as s:
		s.insert(rows_sql("fl_norw", 0, 3), 3)
		assert s.rows("SELECT count(*) FROM fl_norw") == [["0"]]
	assert su.flushes(proxy, table="fl_norw") == []
	assert proxy.stop() == []
	assert [(f["reason"], f["rows"]) for f in su.flushes(proxy, table="fl_norw")] == [("shutdown", 3)]
	assert su.count(pg, "fl_norw") == 3


def test_sigterm_drains_every_acknowledged_row(pg, make_proxy):
	pg.sql(DDL.format(t="fl_term"))
	proxy = proxy_for(make_proxy, "fl_term", ackmode="immediate")
	n_clients, per_client = 4, 150
	sessions = [su.Session.to(proxy) for _ in range(n_clients)]
	try:
		for c, s in enumerate(sessions):
			sqls = [rows_sql("fl_term", c * per_client + i, 1) for i in range(per_client - 10)]
			sqls.append(rows_sql("fl_term", c * per_client + per_client - 10, 10))
			for msgs in s.pipeline(sqls):
				assert msgs == su.insert_reply(1) or msgs == su.insert_reply(10), su.show(msgs)
		assert su.count(pg, "fl_term") == 0
		st = su.stats(proxy)
		assert st.sink["rows_in"] == n_clients * per_client and st.sink["rows_written"] == 0, st

		proxy.signal(signal.SIGTERM)
		# sessions still open are ended with FATAL 57P01 once the sink is drained
		for s in sessions:
			msgs = s.read_eof_or_error(timeout=30)
			errs = [su.w.fields(p) for t, p in msgs if t == "E"]
			assert [e.get("C") for e in errs] in ([], ["57P01"]), su.show(msgs)
	finally:
		for s in sessions:
			s.close()
	assert proxy.proc.wait(60) == 0   # (a second SIGTERM would exit at once: wait, then stop)
	assert proxy.stop() == []
	assert proxy.returncode == 0
	assert su.count(pg, "fl_term") == n_clients * per_client
	fl = su.flushes(proxy, table="fl_term")
	assert {f["reason"] for f in fl} == {"shutdown"} and sum(f["rows"] for f in fl) == n_clients * per_client, fl
	assert "drained" in proxy.log()


def test_idle_batches_of_timed_out_units_are_given_back(pg, make_proxy):
	"""A commit-mode INSERT whose statement_timeout passes while its idle batch
	waits for a lock (one such batch of a table in flight: a second INSERT
	queues behind it and times out there) leaves that batch before it is
	done: the table's count of idle batches in flight still comes back to
	zero, so the next lone INSERT goes at once (batchwritetimeoutms is a day:
	it would never go otherwise)."""
	t = "fl_given_back"
	pg.sql(DDL.format(t=t))
	proxy = su.start_sink_proxy(make_proxy, {t: {"verbose": 1, "adaptiveflush": 1, "batchsize": su.HUGE_BATCH,
		"batchwritetimeoutms": su.HUGE_TIMEOUT_MS, "ackmode": "commit", "directwrite": 0}},
		backend={"connectionmaxactive": 3})
	with su.Session.to(proxy) as s:
		s.insert(rows_sql(t, 0, 1), 1)          # the catalog is read before the lock
	locker = su.lock_table(pg, t)
	hasty = [su.Session.to(proxy) for _ in range(2)]
	try:
		for h in hasty:
			h.ok("SET statement_timeout = 300")
		hasty[0].send(su.w.query(rows_sql(t, 10, 1)))
		harness.wait_for(lambda: su.waiting_on_lock(pg) == 1, what="the idle batch waiting")
		hasty[1].send(su.w.query(rows_sql(t, 11, 1)))
		for h in hasty:
			assert su.error_of(h.read_until("Z"))["C"] == "57014"
	finally:
		locker.execute("COMMIT")
		locker.close()
		for h in hasty:
			h.close()
	harness.wait_for(lambda: su.waiting_on_lock(pg) == 0, what="the cancelled batches gone")
	with su.Session.to(proxy) as s:
		s.insert(rows_sql(t, 100, 1), 1)
	assert [f["reason"] for f in su.flushes(proxy, table=t)][-1] == "idle"
	assert pg.sql("SELECT k FROM %s ORDER BY k" % t) == [(0,), (100,)]


def test_other_table_never_waits_behind_a_locked_one(pg, make_proxy):
	"""Table a is locked: the idle batch of a waits for it (one such batch of a
	table in flight) and two more of a's rows gather in queues. An INSERT into
	table b is written meanwhile: it never joins the queue of a's rows."""
	a, b = "fl_hol_a", "fl_hol_b"
	opts = {"verbose": 1, "adaptiveflush": 1, "batchsize": su.HUGE_BATCH,
		"batchwritetimeoutms": su.HUGE_TIMEOUT_MS, "ackmode": "commit", "directwrite": 0}
	for t in (a, b):
		pg.sql(DDL.format(t=t))
	proxy = su.start_sink_proxy(make_proxy, {a: opts, b: opts}, backend={"connectionmaxactive": 4})
	with su.Session.to(proxy) as s:
		s.insert(rows_sql(a, 0, 1), 1)
		s.insert(rows_sql(b, 0, 1), 1)
	locker = su.lock_table(pg, a)
	ss = [su.Session.to(proxy) for _ in range(4)]
	try:
		ss[0].send(su.w.query(rows_sql(a, 10, 1)))
		harness.wait_for(lambda: su.waiting_on_lock(pg) == 1, what="a's idle batch waiting")
		for i in (1, 2):
			ss[i].send(su.w.query(rows_sql(a, 10 + i, 1)))
			harness.wait_for(lambda: su.stats(proxy).sink["queued_rows"] == i, what="a's row %d queued" % i)
		ss[3].send(su.w.query(rows_sql(b, 13, 1)))
		assert ss[3].read_until("Z") == su.insert_reply(1)
		assert su.waiting_on_lock(pg) == 1 and pg.sql("SELECT k FROM %s ORDER BY k" % b) == [(0,), (13,)]
	finally:
		locker.execute("COMMIT")
		locker.close()
	for i in range(3):
		assert ss[i].read_until("Z") == su.insert_reply(1)
	for x in ss:
		x.close()
