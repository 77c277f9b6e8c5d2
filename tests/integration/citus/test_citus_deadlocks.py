"""Many writers into one distributed table through Citus (issue 22, acceptance 3): 16 clients, ackmode = immediate, 100,000 upserts whose keys spread over every shard, 16 writers whose batches each touch many shards. Every acknowledged row is written, each key ends with the last value its client sent, no client ever sees an error (40P01 included), and the deadlocks met on the way are counted in the stats line (`deadlocks=`) and logged with each retry.

Clients own disjoint keys (k % CLIENTS == client) and send each key several
times, so that the upserts' DO UPDATE runs and the order per key matters.
FLUSH on the admin console answers once everything acknowledged is written.
"""

import os
import random

import psycopg

import sinkutil as su

CLIENTS = 16
ROWS = int(os.environ.get("CITUS_DEADLOCK_ROWS", "100000"))
KEYS_PER_CLIENT = 1500
GROUP = 100                 # Queries pipelined before their replies are read


def workload(client):
	rnd = random.Random(client)
	last, sqls = {}, []
	for i in range(ROWS // CLIENTS):
		k = client + CLIENTS * rnd.randrange(KEYS_PER_CLIENT)
		v = client * 1000000 + i
		last[k] = v
		sqls.append("INSERT INTO dl VALUES (%d, %d, 'c%d')" % (k, v, i))
	return sqls, last


def run_client(proxy, sqls, bad):
	with su.Session.to(proxy) as s:
		for i in range(0, len(sqls), GROUP):
			for sql, msgs in zip(sqls[i:i + GROUP], s.pipeline(sqls[i:i + GROUP])):
				if msgs != su.insert_reply(1):
					bad.append((sql, su.show(msgs)))


def test_sixteen_writers_lose_nothing(pg, make_proxy):
	pg.sql("CREATE TABLE dl (k bigint PRIMARY KEY, v bigint, c text)")
	pg.sql("SELECT create_distributed_table('dl', 'k')")
	proxy = su.start_sink_proxy(make_proxy, {"dl": {
		"conflictmode": "upsert", "ackmode": "immediate", "batchsize": 1000, "batchwritetimeoutms": 20}},
		backend={"connectionmaxactive": CLIENTS}, pgbatchd={"admin_users": "postgres"})
	work = [workload(c) for c in range(CLIENTS)]
	bad = []
	su.run_parallel(run_client, [(proxy, work[c][0], bad) for c in range(CLIENTS)], timeout=600)
	assert not bad, bad[:5]
	with psycopg.connect(host=proxy.host, port=proxy.port, user="postgres", dbname="pgbatchd",
			autocommit=True) as k:
		assert k.execute("FLUSH dl").statusmessage == "FLUSH"

	want = {}
	for _, last in work:
		want.update(last)
	got = dict(pg.sql("SELECT k, v FROM dl"))
	assert len(got) == len(want)
	assert got == want, "keys whose last value is not the one sent last: %d" % sum(
		1 for k in want if got.get(k) != want[k])
	st = su.stats(proxy)
	assert st.sink["rows_in"] == ROWS and st.sink["rows_written"] == ROWS, st
	assert st.sink["rows_failed"] == 0 and st.sink["batches_failed"] == 0, st
	log = proxy.log()
	retried = log.count("(40P01:")
	assert st.sink["deadlocks"] == retried, (st.sink["deadlocks"], retried)
	print("deadlocks met and retried: %d; batches: %d" % (retried, st.sink["batches"]))
	assert "giving up" not in log
