"""The sink's connections die mid-batch: pg_terminate_backend() keeps killing every
pgbatchd-sink backend while clients insert one row at a time (ackmode=commit).
Every acknowledged row is in the table exactly once, every row answered with an
error is absent, and no row is written twice (an append-only table shows a
duplicate; a strict table turns a mistaken retry into 23505)."""

import threading
import time

import pytest

import sinkutil as su

CLIENTS = 6
PER_CLIENT = 150


def killer(pg, stop, killed):
	"""Terminates the sink's backends every few milliseconds until stop is set."""
	with pg.connect() as c:
		while not stop.is_set():
			rows = c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
				"WHERE application_name = 'pgbatchd-sink' AND pid <> pg_backend_pid()").fetchall()
			killed[0] += sum(1 for (ok,) in rows if ok)
			time.sleep(0.015)


def client(proxy, table, base, acked, failed):
	with su.Session.to(proxy) as s:
		for i in range(base, base + PER_CLIENT):
			msgs = s.run("INSERT INTO %s (k, v) VALUES (%d, 'row %d')" % (table, i, i))
			if msgs == su.insert_reply(1):
				acked.append(i)
				continue
			err = su.error_of(msgs)
			assert err is not None and msgs[-1] == su.READY_IDLE, su.show(msgs)
			failed.append((i, err.get("C"), err.get("M")))


@pytest.mark.parametrize("writemode,keyed", [(1, False), (0, False), (2, False), (1, True), (0, True), (2, True)])
def test_sink_backends_killed_mid_stream(pg, make_proxy, writemode, keyed):
	table = "fault_w%d_%s" % (writemode, "key" if keyed else "app")
	pg.sql("DROP TABLE IF EXISTS %s" % table)
	pg.sql("CREATE TABLE %s (k int%s, v text)" % (table, " PRIMARY KEY" if keyed else ""))
	opts = {"writemode": writemode, "conflictmode": "strict", "ackmode": "commit",
		"batchsize": 40, "batchwritetimeoutms": 20, "verbose": 0}
	proxy = su.start_sink_proxy(make_proxy, {table: opts},
		backend={"connectionmaxactive": 2, "maxretrytimes": 100, "retrywaittime": 5})
	acked, failed, killed, errors = [], [], [0], []
	stop = threading.Event()
	kt = threading.Thread(target=killer, args=(pg, stop, killed))
	kt.start()

	def run(base):
		try:
			client(proxy, table, base, acked, failed)
		except Exception as e:  # noqa: BLE001 - reported below
			errors.append(repr(e))

	threads = [threading.Thread(target=run, args=(c * PER_CLIENT,)) for c in range(CLIENTS)]
	try:
		for t in threads:
			t.start()
		for t in threads:
			t.join(120)
	finally:
		stop.set()
		kt.join()
	assert not errors, errors
	assert killed[0] > 0, "no sink backend was terminated: the test proved nothing"
	rows = su.direct(pg, "SELECT k, count(*) FROM %s GROUP BY k ORDER BY k" % table)
	present = {k: n for k, n in rows}
	dups = {k: n for k, n in present.items() if n != 1}
	assert not dups, "rows written more than once: %r" % dups
	missing = sorted(set(acked) - set(present))
	assert not missing, "acknowledged rows missing: %r" % missing[:20]
	wrong = [f for f in failed if f[0] in present]
	assert not wrong, "rows answered with an error were written: %r" % wrong[:10]
	# with retries left, a dying connection is never the client's problem
	assert not failed, failed[:10]
	assert len(acked) == CLIENTS * PER_CLIENT
	st = su.stats(proxy)
	assert st.sink["retries"] > 0, st


@pytest.mark.parametrize("writemode,keyed", [(1, False), (0, False), (2, False), (1, True), (0, True), (2, True)])
def test_commit_answer_lost(pg, make_proxy, writemode, keyed):
	"""The backend commits a batch but its answer never arrives: pgbatchd asks
	txid_status() on a new connection, finds it committed, and acknowledges the
	rows without writing them again (a blind retry duplicates them in the
	append-only table and fails with 23505 in the strict one)."""
	import cutrelay

	table = "lost_w%d_%s" % (writemode, "key" if keyed else "app")
	pg.sql("DROP TABLE IF EXISTS %s" % table)
	pg.sql("CREATE TABLE %s (k int%s, v text)" % (table, " PRIMARY KEY" if keyed else ""))
	relay = cutrelay.CutRelay(pg, cuts=4)
	try:
		opts = {"writemode": writemode, "conflictmode": "strict", "ackmode": "commit",
			"batchsize": 20, "batchwritetimeoutms": 20, "verbose": 0}
		proxy = su.start_sink_proxy(make_proxy, {table: opts},
			backend={"connectionmaxactive": 2, "maxretrytimes": 10, "retrywaittime": 5},
			backend_url="postgresql://127.0.0.1:%d/postgres" % relay.port)
		acked, failed = [], []
		threads = [threading.Thread(target=client, args=(proxy, table, c * PER_CLIENT, acked, failed))
			for c in range(3)]
		for t in threads:
			t.start()
		for t in threads:
			t.join(120)
	finally:
		relay.close()
	assert relay.done == 4, "only %d COMMIT answers were cut" % relay.done
	rows = su.direct(pg, "SELECT k, count(*) FROM %s GROUP BY k" % table)
	present = {k: n for k, n in rows}
	assert {k: n for k, n in present.items() if n != 1} == {}
	assert not failed, failed[:10]
	assert sorted(acked) == sorted(present) and len(acked) == 3 * PER_CLIENT
	resolved = [l for l in proxy.log().splitlines() if "committed before the connection was lost" in l]
	assert len(resolved) == 4, proxy.log()[-4000:]
