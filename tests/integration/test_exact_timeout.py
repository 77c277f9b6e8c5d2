"""statement_timeout and CancelRequest for an INSERT that waits for its commit
(ackmode=commit): the client gets 57014 with PostgreSQL's message, exactly as
directly, and its rows are never written — whether they still wait in the
sink's queue or sit in a batch that is blocked on a lock (the batch carries the
units' own statement_timeout, and is written again without them). Rows of
other sessions in the same batch are written all the same."""

import re
import harness
import sinkutil as su

DDL = "CREATE TABLE {t} (k int PRIMARY KEY, v text)"


def table(pg, t):
	pg.sql("DROP TABLE IF EXISTS %s" % t)
	pg.sql(DDL.format(t=t))


def proxy_for(make_proxy, t, **opts):
	conf = {"ackmode": "commit", "exceptionmode": "strict", "adaptiveflush": 0,
		"batchwritetimeoutms": 5, "verbose": 1}
	conf.update(opts)
	return su.start_sink_proxy(make_proxy, {t: conf}, backend={"connectionmaxactive": 1})


def direct_timeout_error(pg, t):
	"""What PostgreSQL says when an INSERT waits on a lock past statement_timeout."""
	locker = su.lock_table(pg, t)
	try:
		with su.Session.to(pg) as d:
			d.ok("SET statement_timeout = 300")
			return su.error_of(d.run("INSERT INTO %s VALUES (-1, 'direct')" % t))
	finally:
		locker.execute("ROLLBACK")
		locker.close()


def test_timeout_in_a_locked_batch(pg, make_proxy):
	"""The session's INSERT is in a batch blocked by a lock; another session's row
	shares the batch. At the timeout the batch fails on its own statement_timeout:
	the timed-out statement gets 57014, the other is written once the lock goes."""
	t = "to_locked"
	table(pg, t)
	want = direct_timeout_error(pg, t)
	assert want["C"] == "57014", want
	proxy = proxy_for(make_proxy, t)
	locker = su.lock_table(pg, t)
	try:
		patient = su.Session.to(proxy)
		hasty = su.Session.to(proxy)
		hasty.ok("SET statement_timeout = 300")
		# one batch: both are queued while the writer waits on the lock
		blocker = su.Session.to(proxy)
		blocker.send(su.w.query("INSERT INTO %s VALUES (0, 'blocker')" % t))
		harness.wait_for(lambda: su.waiting_on_lock(pg) == 1, what="the first batch on the lock")
		patient.send(su.w.query("INSERT INTO %s VALUES (1, 'patient')" % t))
		hasty.send(su.w.query("INSERT INTO %s VALUES (2, 'hasty')" % t))
		harness.wait_for(lambda: su.stats(proxy).sink["queued_rows"] == 2, what="two rows queued")
		# the queued hasty row times out before any batch takes it
		msgs = hasty.read_until("Z")
		got = su.error_of(msgs)
		assert got is not None and (got["C"], got["M"]) == (want["C"], want["M"]), su.show(msgs)
		assert msgs[-1] == su.READY_IDLE
	finally:
		locker.execute("COMMIT")
		locker.close()
	assert blocker.read_until("Z") == su.insert_reply(1)
	assert patient.read_until("Z") == su.insert_reply(1)
	for s in (blocker, patient, hasty):
		s.close()
	assert pg.sql("SELECT k FROM %s ORDER BY k" % t) == [(0,), (1,)]


def test_session_timeout_in_other_units(pg, make_proxy):
	"""A statement_timeout the session gave in minutes (current_setting shows
	'1min') is its batch's in milliseconds: the writer's transaction, blocked
	on a lock, runs under SET LOCAL statement_timeout = what is left of its
	60000 ms (not 1, not none)."""
	t = "to_units"
	table(pg, t)
	proxy = proxy_for(make_proxy, t)
	locker = su.lock_table(pg, t)
	try:
		s = su.Session.to(proxy)
		s.ok("SET statement_timeout = '1min'")
		s.send(su.w.query("INSERT INTO %s VALUES (1, 'minute')" % t))
		harness.wait_for(lambda: su.waiting_on_lock(pg) == 1, what="the batch on the lock")
		blocked = [q for (q,) in pg.sql("SELECT query FROM pg_stat_activity WHERE wait_event_type = 'Lock'")]
		m = re.search(r"SET LOCAL statement_timeout = (\d+);", blocked[0]) if len(blocked) == 1 else None
		assert m and 1000 < int(m.group(1)) <= 60000, blocked
	finally:
		locker.execute("COMMIT")
		locker.close()
	assert s.read_until("Z") == su.insert_reply(1)
	s.close()
	assert pg.sql("SELECT k FROM %s" % t) == [(1,)]


def one_unit_out_of_a_batch(pg, make_proxy, t, prepare, act, want):
	"""Two sessions' rows in one batch blocked by a lock; prepare(session) sets
	the second one up, act(proxy, session) is done once the batch waits. That
	session gets `want` (SQLSTATE, message); the batch is written again with the
	first row alone, which goes in once the lock is released."""
	table(pg, t)
	proxy = proxy_for(make_proxy, t, batchwritetimeoutms=su.HUGE_TIMEOUT_MS, batchsize=2)
	locker = su.lock_table(pg, t)
	try:
		patient = su.Session.to(proxy)
		other = su.Session.to(proxy)
		prepare(other)
		patient.send(su.w.query("INSERT INTO %s VALUES (1, 'patient')" % t))
		other.send(su.w.query("INSERT INTO %s VALUES (2, 'out')" % t))
		# batchsize 2: both leave together, and wait on the lock
		harness.wait_for(lambda: su.waiting_on_lock(pg) == 1, what="the batch on the lock")
		act(proxy, other)
		msgs = other.read_until("Z")
		got = su.error_of(msgs)
		assert got is not None and (got["C"], got["M"]) == want, su.show(msgs)
		# the batch is tried again with the patient row alone: on the lock again
		harness.wait_for(lambda: su.waiting_on_lock(pg) == 1, what="the batch again on the lock")
	finally:
		locker.execute("COMMIT")
		locker.close()
	assert patient.read_until("Z") == su.insert_reply(1)
	patient.close()
	other.close()
	assert pg.sql("SELECT k FROM %s ORDER BY k" % t) == [(1,)]


def test_timeout_of_a_batch_in_flight(pg, make_proxy):
	"""Both rows are in the batch that waits on the lock: it fails on the hasty
	unit's statement_timeout, which gets 57014; the batch is written again without
	it and the patient row goes in once the lock is released."""
	t = "to_inflight"
	table(pg, t)
	want = direct_timeout_error(pg, t)
	one_unit_out_of_a_batch(pg, make_proxy, t, lambda s: s.ok("SET statement_timeout = 400"),
		lambda proxy, s: None, (want["C"], want["M"]))


def test_cancel_request_for_a_queued_insert(pg, make_proxy):
	"""A CancelRequest with the session's key (the backend's, relayed by pgbatchd)
	while its INSERT waits in the queue: 57014 'canceling statement due to user
	request', as directly, and the row is never written."""
	t = "to_cancel"
	table(pg, t)
	proxy = proxy_for(make_proxy, t)
	locker = su.lock_table(pg, t)
	try:
		blocker = su.Session.to(proxy)
		blocker.send(su.w.query("INSERT INTO %s VALUES (0, 'blocker')" % t))
		harness.wait_for(lambda: su.waiting_on_lock(pg) == 1, what="the first batch on the lock")
		victim = su.Session.to(proxy)
		victim.send(su.w.query("INSERT INTO %s VALUES (1, 'cancelled')" % t))
		harness.wait_for(lambda: su.stats(proxy).sink["queued_rows"] == 1, what="the row queued")
		with su.w.Conn(proxy.host, proxy.port) as k:
			k.send(su.w.cancel_request(victim.pid, victim.secret))
		msgs = victim.read_until("Z")
		got = su.error_of(msgs)
		assert got is not None and (got["C"], got["M"]) == ("57014", "canceling statement due to user request"), \
			su.show(msgs)
		assert msgs[-1] == su.READY_IDLE
		victim.ok("SELECT 1")            # the session goes on
	finally:
		locker.execute("COMMIT")
		locker.close()
	assert blocker.read_until("Z") == su.insert_reply(1)
	blocker.close()
	victim.close()
	assert pg.sql("SELECT k FROM %s ORDER BY k" % t) == [(0,)]


def test_locked_table_does_not_hold_other_tables(pg, make_proxy):
	"""Table A is locked, its batch stuck on one writer; INSERTs into table B from
	six sessions at once are all written while A stays locked: new units go to a
	writer that is not stuck."""
	a, b = "lk_a", "lk_b"
	table(pg, a)
	table(pg, b)
	conf = {"ackmode": "commit", "batchwritetimeoutms": 5, "adaptiveflush": 0}
	proxy = su.start_sink_proxy(make_proxy, {a: conf, b: conf}, backend={"connectionmaxactive": 2})
	locker = su.lock_table(pg, a)
	try:
		stuck = su.Session.to(proxy)
		stuck.send(su.w.query("INSERT INTO %s VALUES (1, 'waits')" % a))
		harness.wait_for(lambda: pg.sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
			"'pgbatchd-sink' AND wait_event_type = 'Lock' AND now() - query_start > interval '150 ms'")[0][0] == 1,
			what="A's batch waiting on the lock")
		others = [su.Session.to(proxy, timeout=20) for _ in range(6)]
		for i, s in enumerate(others):
			s.send(su.w.query("INSERT INTO %s VALUES (%d, 'free')" % (b, i)))
		for s in others:
			assert s.read_until("Z") == su.insert_reply(1)
			s.close()
		assert su.count(pg, b) == 6 and su.count(pg, a) == 0
	finally:
		locker.execute("COMMIT")
		locker.close()
	assert stuck.read_until("Z") == su.insert_reply(1)
	stuck.close()


def test_cancel_request_for_an_insert_in_flight(pg, make_proxy):
	"""Both rows are in the batch that waits on the lock; a CancelRequest for one
	of them cancels the batch's statement (pg_cancel_backend on the catalog
	connection): that one gets 57014, the batch is written again without it."""
	def cancel(proxy, s):
		with su.w.Conn(proxy.host, proxy.port) as k:
			k.send(su.w.cancel_request(s.pid, s.secret))

	one_unit_out_of_a_batch(pg, make_proxy, "to_cancel_inflight", lambda s: None, cancel,
		("57014", "canceling statement due to user request"))
