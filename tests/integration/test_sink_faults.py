"""The sink's connections fail mid-batch, and no acknowledged row is lost or written twice.

- pg_terminate_backend() kills pgbatchd-sink backends in the middle of their
  batches' transactions while clients insert one row at a time (ackmode=commit):
  pgbatchd retries on new connections. The kills are paced by progress (a round
  only after more rows were acknowledged) and bounded in number, so that a batch
  is not killed so often that its backoff (retrywaittime doubled per retry, up
  to 30 s) dominates the test's duration.
- A relay in front of the server (tests/lib/cutrelay.py) delivers a batch's
  COMMIT and then drops the connection before the answer: the batch did commit,
  and pgbatchd must find that out (txid_status()) instead of writing it again.

Every acknowledged row is in the table exactly once and no client gets an
error. Tables: "append" has no key (a second write shows as a duplicate),
"strict" has a primary key and conflictmode strict (a second write fails with
23505), "staged" is keyed upsert through writemode 1's staging table.
"""

import threading
import time

import pytest

import cutrelay
import sinkutil as su

CLIENTS = 6
PER_CLIENT = 150
CASES = [(1, "append"), (0, "append"), (2, "append"), (1, "strict"), (0, "strict"), (2, "strict"),
	(1, "staged")]
IDS = ["w%d-%s" % c for c in CASES]


def make_table(pg, prefix, writemode, kind):
	table = "%s_w%d_%s" % (prefix, writemode, kind)
	pg.sql("DROP TABLE IF EXISTS %s" % table)
	pg.sql("CREATE TABLE %s (k int%s, v text)" % (table, "" if kind == "append" else " PRIMARY KEY"))
	opts = {"writemode": writemode, "conflictmode": "upsert" if kind == "staged" else "strict",
		"ackmode": "commit", "batchsize": 40, "batchwritetimeoutms": 20, "verbose": 0,
		"copystageminrows": 1 if kind == "staged" else None}
	return table, {table: opts}


def insert_rows(proxy, table, nclients, acked=None):
	"""nclients sessions, each inserting PER_CLIENT rows one at a time; returns
	the keys acknowledged (appended to acked as they are) and (key, sqlstate,
	message) of those answered with an error."""
	acked = [] if acked is None else acked
	failed = []

	def client(base):
		# a batch whose connection is killed again and again backs off up to
		# 30 s a retry (retrywaittime doubled): an answer may take that long
		with su.Session.to(proxy, timeout=240) as s:
			for i in range(base, base + PER_CLIENT):
				msgs = s.run("INSERT INTO %s (k, v) VALUES (%d, 'row %d')" % (table, i, i))
				if msgs == su.insert_reply(1):
					acked.append(i)
					continue
				err = su.error_of(msgs)
				assert err is not None and msgs[-1] == su.READY_IDLE, su.show(msgs)
				failed.append((i, err.get("C"), err.get("M")))

	su.run_parallel(client, [(c * PER_CLIENT,) for c in range(nclients)], timeout=600)
	return acked, failed


def assert_exactly_once(pg, table, acked, failed, nclients):
	present = dict(su.direct(pg, "SELECT k, count(*) FROM %s GROUP BY k" % table))
	dups = {k: n for k, n in present.items() if n != 1}
	assert not dups, "rows written more than once: %r" % dups
	missing = sorted(set(acked) - set(present))
	assert not missing, "acknowledged rows missing: %r" % missing[:20]
	# with retries left, a failing connection is never the client's problem
	assert not failed, failed[:10]
	assert len(acked) == len(present) == nclients * PER_CLIENT


KILL_ROUNDS = 24     # rounds of kills in all
KILL_STEP = 20       # rows acknowledged between two rounds


def killer(pg, stop, killed, acked):
	"""Terminates the sink backends that are inside a transaction (a batch in
	flight), at most KILL_ROUNDS times, each round only after KILL_STEP more
	rows were acknowledged since the last: every batch gets through eventually
	without waiting out a long backoff."""
	with pg.connect() as c:
		last = -KILL_STEP
		while not stop.is_set() and killed[0] < KILL_ROUNDS:
			if len(acked) - last < KILL_STEP:
				stop.wait(0.01)
				continue
			rows = c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
				"WHERE application_name = 'pgbatchd-sink' AND xact_start IS NOT NULL "
				"AND pid <> pg_backend_pid()").fetchall()
			n = sum(1 for (ok,) in rows if ok)
			if n:
				killed[0] += n
				last = len(acked)
			else:
				stop.wait(0.002)


@pytest.mark.parametrize("writemode,kind", CASES, ids=IDS)
def test_sink_backends_killed_mid_stream(pg, make_proxy, writemode, kind):
	table, tables = make_table(pg, "fault", writemode, kind)
	proxy = su.start_sink_proxy(make_proxy, tables,
		backend={"connectionmaxactive": 2, "maxretrytimes": 100, "retrywaittime": 5})
	killed, stop, acked = [0], threading.Event(), []
	kt = threading.Thread(target=killer, args=(pg, stop, killed, acked))
	kt.start()
	try:
		acked, failed = insert_rows(proxy, table, CLIENTS, acked)
	finally:
		stop.set()
		kt.join()
	assert killed[0] > 0, "no sink backend was terminated: the test proved nothing"
	assert_exactly_once(pg, table, acked, failed, CLIENTS)
	assert su.stats(proxy).sink["retries"] > 0


@pytest.mark.parametrize("writemode,kind", CASES, ids=IDS)
def test_commit_answer_lost(pg, make_proxy, writemode, kind):
	"""Four batches commit without their answer arriving: each is resolved as
	committed (logged) and acknowledged without being written again."""
	table, tables = make_table(pg, "lost", writemode, kind)
	relay = cutrelay.CutRelay(pg, cuts=4)
	try:
		proxy = su.start_sink_proxy(make_proxy, tables,
			backend={"connectionmaxactive": 2, "maxretrytimes": 10, "retrywaittime": 5},
			backend_url="postgresql://127.0.0.1:%d/postgres" % relay.port)
		acked, failed = insert_rows(proxy, table, 3)
	finally:
		relay.close()
	assert relay.done == 4, "only %d COMMIT answers were cut" % relay.done
	assert_exactly_once(pg, table, acked, failed, 3)
	resolved = [l for l in proxy.log().splitlines() if "committed before the connection was lost" in l]
	assert len(resolved) == 4, proxy.log()[-4000:]


def test_immediate_rows_that_fail_are_logged(pg, make_proxy):
	"""ackmode=immediate: a row the database rejects was acknowledged already,
	so it is not dropped silently: one log line names the table, the SQLSTATE,
	the message and every value (escaped: one event stays one line); the rows
	around it are written."""
	pg.sql("DROP TABLE IF EXISTS imm_fail")
	pg.sql("CREATE TABLE imm_fail (k int PRIMARY KEY, v text, n int CHECK (n >= 0))")
	proxy = su.start_sink_proxy(make_proxy, {"imm_fail": {"conflictmode": "strict", "ackmode": "immediate",
		"batchsize": 4, "batchwritetimeoutms": su.HUGE_TIMEOUT_MS, "adaptiveflush": 0, "verbose": 1}},
		backend={"connectionmaxactive": 1})
	with su.Session.to(proxy) as s:
		s.insert("INSERT INTO imm_fail VALUES (1, 'one', 1)", 1)
		s.insert("INSERT INTO imm_fail VALUES (1, E'dup\\nkey ''q''', 2)", 1)   # 23505
		s.insert("INSERT INTO imm_fail VALUES (2, 'neg', -5)", 1)                # 23514
		s.insert("INSERT INTO imm_fail VALUES (3, 'three', 3)", 1)               # the 4th row: a batch
	su.wait_flushes(proxy, lambda fl: len(fl) >= 1)
	assert su.direct(pg, "SELECT k, v, n FROM imm_fail ORDER BY k") == [(1, "one", 1), (3, "three", 3)]
	lines = [l for l in proxy.log().splitlines() if "row not written" in l]
	assert len(lines) == 2, proxy.log()[-3000:]
	dup = next(l for l in lines if "sqlstate=23505" in l)
	assert "table=public.imm_fail" in dup and "row=(k=E'1', v=E'dup\\nkey \\'q\\'', n=E'2')" in dup, dup
	neg = next(l for l in lines if "sqlstate=23514" in l)
	assert "row=(k=E'2', v=E'neg', n=E'-5')" in neg and "imm_fail_n_check" in neg, neg
	assert su.stats(proxy).sink["rows_failed"] == 2
