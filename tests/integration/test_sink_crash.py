"""The server crashes (`pg_ctl restart -m immediate`) under a commit-mode stream: no acknowledged row is lost, none is written twice.

A batch whose COMMIT was sent when the connection broke is ambiguous: the
COMMIT may or may not have run. pgbatchd resolves it from the batch ledger (a
row each batch writes in its own transaction), never from transaction ids,
which a crash can hand out again. The server here runs synchronous_commit=on
(fsync off is fine: a crashed process's writes are in the OS), so a COMMIT
that answered is durable, as PostgreSQL promises.

- test_restarts_under_load: 10 clients, three crashes while they insert.
- test_lost_answer_then_crash: a relay delivers a batch's COMMIT and drops the
  answer; the server then crashes before pgbatchd asks. The ledger says the
  batch committed, so it is acknowledged and not written again.
- test_ledger_unavailable: a sink account that cannot create the ledger says so
  at startup and falls back to at-least-once (documented).
"""

import threading

import pytest

import cutrelay
import harness
import sinkutil as su

PG_SETTINGS = {"synchronous_commit": "on", "max_connections": "60"}
CLIENTS = 10
PER_CLIENT = 400


def table_for(pg, name, kind):
	pg.sql("DROP TABLE IF EXISTS %s" % name)
	pg.sql("CREATE TABLE %s (k int%s, v text)" % (name, "" if kind == "append" else " PRIMARY KEY"))


class Stream:
	"""Clients inserting one row per statement; a client whose connection drops
	reconnects and goes on (the row it was waiting for has an unknown outcome:
	neither acknowledged nor refused)."""

	def __init__(self, proxy, table):
		self.proxy = proxy
		self.table = table
		self.lock = threading.Lock()
		self.acked, self.refused, self.unknown = [], [], []
		self.inflight = {}

	def connect(self):
		def attempt():
			try:
				return su.Session.to(self.proxy, timeout=60)
			except Exception:  # the server is restarting: the login fails
				return None
		return harness.wait_for(attempt, timeout=120, interval=0.05, what="a session through pgbatchd")

	def client(self, c, first, count):
		s = None
		for k in range(first, first + count):
			if s is None:
				s = self.connect()
			self.inflight[c] = k
			try:
				msgs = s.run("INSERT INTO %s (k, v) VALUES (%d, 'row %d')" % (self.table, k, k))
			except Exception:
				with self.lock:
					self.unknown.append(k)
				s.close()
				s = None
				continue
			# the server's own notice of its shutdown reaches every session, as directly
			msgs = [m for m in msgs if m[0] != "N"]
			with self.lock:
				if msgs == su.insert_reply(1):
					self.acked.append(k)
				else:
					err = su.error_of(msgs)
					assert err is not None, su.show(msgs)
					self.refused.append((k, err.get("C"), err.get("M")))
		if s is not None:
			s.close()
		self.inflight.pop(c, None)


def check_exactly_once(pg, table, stream):
	present = dict(su.direct(pg, "SELECT k, count(*) FROM %s GROUP BY k" % table))
	dups = {k: n for k, n in present.items() if n != 1}
	assert not dups, "rows written more than once: %r" % dups
	missing = sorted(set(stream.acked) - set(present))
	assert not missing, "acknowledged rows missing: %r" % missing[:20]
	written = sorted(k for k, _, _ in stream.refused if k in present)
	assert not written, "rows refused to their client but written: %r" % written[:20]
	# with retries to spare, the database restarting is never a client's error
	assert not stream.refused, stream.refused[:10]
	assert set(present) <= set(stream.acked) | set(stream.unknown)


def run_stream(pg, proxy, table, clients, per_client, during):
	"""`clients` threads insert per_client rows each while during(stream) runs
	the faults; then every row is checked: acknowledged ones present once,
	refused ones absent, and each row either acknowledged or of unknown outcome."""
	stream = Stream(proxy, table)
	threads = [threading.Thread(target=stream.client, args=(c, c * per_client, per_client))
		for c in range(clients)]
	for t in threads:
		t.start()
	try:
		during(stream)
	finally:
		for t in threads:
			t.join(300)
	assert not any(t.is_alive() for t in threads), "a client hung"
	check_exactly_once(pg, table, stream)
	assert len(stream.acked) + len(stream.unknown) == clients * per_client


@pytest.mark.parametrize("writemode,kind,clients,per_client", [(1, "append", CLIENTS, PER_CLIENT),
	(0, "keyed", CLIENTS, PER_CLIENT), (1, "keyed", 16, 12500)],
	ids=["copy-append", "values-keyed", "copy-keyed-16x12500"])
def test_restarts_under_load(pg, make_proxy, writemode, kind, clients, per_client):
	"""pg_ctl restart -m immediate three times in the middle of the stream
	(the last case: 200k rows from 16 clients, through COPY and the staging
	table): no acknowledged row is missing, none is written twice, no row of a
	client that got an error is present."""
	table = "crash_w%d_%s_%d" % (writemode, kind, clients)
	table_for(pg, table, kind)
	proxy = su.start_sink_proxy(make_proxy, {table: {"writemode": writemode, "ackmode": "commit",
		"conflictmode": "strict", "batchsize": 50, "batchwritetimeoutms": 20, "verbose": 1}},
		backend={"connectionmaxactive": 5, "maxretrytimes": 100, "retrywaittime": 20},
		max_client_conn=200)
	def crashes(stream):
		for i in range(3):
			# wait for progress after each crash before the next one
			want = (i + 1) * clients * per_client // 5
			harness.wait_for(lambda: len(stream.acked) >= want, timeout=180, what="%d acknowledged rows" % want)
			pg.restart_immediate()

	run_stream(pg, proxy, table, clients, per_client, crashes)
	st = su.stats(proxy)
	assert st.sink["retries"] > 0, st


def test_relay_cuts_writer_connections(pg, make_proxy):
	"""A relay between pgbatchd and PostgreSQL cuts writer connections 20
	times during a stream from 8 clients (ackmode=commit, COPY through the
	staging table): every other cut cuts a batch mid-COPY, the others lose a
	COMMIT's answer. No acknowledged row is missing, none is written twice, no row of a
	client that got an error is present."""
	table = "crash_relay"
	table_for(pg, table, "keyed")
	relay = cutrelay.CutRelay(pg, cuts=20, mode="mix")
	clients, per_client = 8, 1500
	try:
		proxy = su.start_sink_proxy(make_proxy, {table: {"writemode": 1, "ackmode": "commit",
			"conflictmode": "strict", "copystageminrows": 1, "batchsize": 40, "batchwritetimeoutms": 10}},
			backend={"connectionmaxactive": 4, "maxretrytimes": 100, "retrywaittime": 10},
			backend_url="postgresql://127.0.0.1:%d/postgres" % relay.port, max_client_conn=50)
		run_stream(pg, proxy, table, clients, per_client,
			lambda stream: harness.wait_for(lambda: relay.done == 20, timeout=240, what="20 cuts"))
		assert relay.mid_copy >= 5, relay.mid_copy     # every other cut, when its batch had a COPY
	finally:
		relay.close()


def test_lost_answer_then_crash(pg, make_proxy):
	table = "crash_lost"
	table_for(pg, table, "append")
	relay = cutrelay.CutRelay(pg, cuts=1)
	try:
		proxy = su.start_sink_proxy(make_proxy, {table: {"writemode": 1, "ackmode": "commit", "verbose": 1,
			"directwrite": 0}},   # the ledger: a writer's batch
			backend={"connectionmaxactive": 1, "maxretrytimes": 30, "retrywaittime": 200},
			backend_url="postgresql://127.0.0.1:%d/postgres" % relay.port)
		stream = Stream(proxy, table)
		t = threading.Thread(target=stream.client, args=(0, 0, 40))
		t.start()
		try:
			harness.wait_for(lambda: relay.done == 1, timeout=60, what="a COMMIT answer cut")
			# the batch committed (its row is visible) and nobody told pgbatchd
			harness.wait_for(lambda: su.count(pg, table) == len(stream.acked) + 1, timeout=30,
				what="the cut batch committed")
			pg.restart_immediate()
		finally:
			t.join(300)
	finally:
		relay.close()
	assert not t.is_alive(), "the client hung"
	check_exactly_once(pg, table, stream)
	assert len(stream.acked) + len(stream.unknown) == 40
	log = proxy.log()
	assert "committed before the connection was lost (ledger)" in log, log[-4000:]
	assert su.stats(proxy).sink["ambiguous"] >= 1


def test_ledger_unavailable(pg, make_proxy):
	"""A sink account without CREATE: pgbatchd says at startup that a lost COMMIT
	answer will mean writing the batch again, and writes all the same."""
	pg.sql("DROP ROLE IF EXISTS noledger")
	pg.sql("CREATE ROLE noledger LOGIN PASSWORD 'noledger'")
	pg.sql("DROP TABLE IF EXISTS crash_noledger")
	pg.sql("CREATE TABLE crash_noledger (k int, v text)")
	pg.sql("GRANT INSERT, SELECT ON crash_noledger TO noledger")
	proxy = su.start_sink_proxy(make_proxy, {"crash_noledger": {"ackmode": "commit"}},
		backend_user="noledger", backend_password="noledger",
		users={"postgres": "postgres", "noledger": "noledger"},
		backend={"ledgertable": "noledger_schema.batches"})
	proxy.wait_log(r"cannot use the batch ledger \"noledger_schema\"\.\"batches\" .*at-least-once")
	with su.Session.to(proxy, user="noledger") as s:
		s.insert("INSERT INTO crash_noledger VALUES (1, 'a'), (2, 'b')", 2)
	assert su.count(pg, "crash_noledger") == 2


def test_ledger_dropped_under_a_writer(pg, make_proxy):
	"""The ledger table dropped while pgbatchd runs, after its writer prepared
	the ledger's INSERT on its connection: the next batch's EXECUTE fails
	(42P01), pgbatchd says it goes on at-least-once and writes the batch again
	without it; no row is lost or doubled."""
	pg.sql("DROP SCHEMA IF EXISTS dropled_schema CASCADE")
	pg.sql("DROP TABLE IF EXISTS crash_dropled")
	pg.sql("CREATE TABLE crash_dropled (k int PRIMARY KEY, v text)")
	proxy = su.start_sink_proxy(make_proxy, {"crash_dropled": {"ackmode": "commit", "directwrite": 0}},
		backend={"ledgertable": "dropled_schema.batches", "connectionmaxactive": 1})
	proxy.wait_log(r'batch ledger "dropled_schema"\."batches": a lost COMMIT answer is resolved from it')
	with su.Session.to(proxy) as s:
		s.insert("INSERT INTO crash_dropled VALUES (1, 'a')", 1)
		assert pg.sql("SELECT count(*) FROM dropled_schema.batches")[0][0] == 1
		pg.sql("DROP SCHEMA dropled_schema CASCADE")
		s.insert("INSERT INTO crash_dropled VALUES (2, 'b')", 1)
	proxy.wait_log(r"cannot write the batch ledger \(42P01: .*at-least-once")
	assert pg.sql("SELECT k, v FROM crash_dropled ORDER BY k") == [(1, "a"), (2, "b")]


def test_ledger_created_by_another_pgbatchd_at_the_same_time(pg, make_proxy):
	"""Replicas starting together against a fresh database (docker/'s scale
	profile): one's CREATE of the ledger waits for another's, then fails with a
	duplicate. It looks again and uses the ledger (exactly-once), rather than
	running at-least-once until its catalog connection is made anew."""
	pg.sql("DROP SCHEMA IF EXISTS race_schema CASCADE")
	pg.sql("DROP TABLE IF EXISTS crash_race")
	pg.sql("CREATE TABLE crash_race (k int PRIMARY KEY, v text)")
	other = pg.connect()        # the other replica, mid-creation
	try:
		other.execute("BEGIN")
		other.execute("CREATE SCHEMA race_schema")
		other.execute("CREATE TABLE race_schema.batches (instance bigint NOT NULL, id bigint NOT NULL, "
			"at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (instance, id))")
		proxy = su.start_sink_proxy(make_proxy, {"crash_race": {"ackmode": "commit", "directwrite": 0}},
			backend={"ledgertable": "race_schema.batches"})
		harness.wait_for(lambda: pg.sql("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
			"AND query LIKE '%CREATE SCHEMA%race_schema%'")[0][0] == 1, timeout=30,
			what="pgbatchd's CREATE SCHEMA to wait for the other's")
		other.commit()
	finally:
		other.close()
	proxy.wait_log(r'batch ledger "race_schema"\."batches": a lost COMMIT answer is resolved from it')
	assert "cannot use the batch ledger" not in proxy.log()
	with su.Session.to(proxy) as s:
		s.insert("INSERT INTO crash_race VALUES (1, 'a'), (2, 'b')", 2)
	assert pg.sql("SELECT count(*) FROM race_schema.batches")[0][0] >= 1
