"""pgbatchd's writer sessions on Citus (issue 22: writer settings). A batch statement whose rows span many shards opens connections to the workers (a distributed COPY, one per shard it writes), and Citus closes all but one per worker when the transaction ends (citus.max_cached_conns_per_worker = 1): every such batch opened them all again. pgbatchd's writers keep as many as Citus's executor opens per worker (writer.c sets the cache to citus.max_adaptive_executor_pool_size).

Rows of a table distributed by a double precision column are not grouped
by shard (shardmap.c hashes no float), and writemode 1 writes batches of more than
copystageminrows rows through a COPY. The workers log every connection. One
writer, two streams of 16,000 rows: the first opens the writer's connections,
the second opens none (without the setting: 510 in 17 batches, as many as
the first).
"""

import re

import psycopg

import sinkutil as su

CLIENTS = 8
ROWS = 2000             # per client and stream
GROUP = 50


def run_client(proxy, sqls, bad):
	with su.Session.to(proxy) as s:
		for i in range(0, len(sqls), GROUP):
			for sql, msgs in zip(sqls[i:i + GROUP], s.pipeline(sqls[i:i + GROUP])):
				if msgs != su.insert_reply(1):
					bad.append((sql, su.show(msgs)))


def stream(proxy, t, first):
	work = [["INSERT INTO %s VALUES (%d.5, %d)" % (t, first + c + CLIENTS * i, i) for i in range(ROWS)]
		for c in range(CLIENTS)]
	bad = []
	su.run_parallel(run_client, [(proxy, work[c], bad) for c in range(CLIENTS)], timeout=300)
	assert not bad, bad[:5]


def flush(proxy, t):
	"""Until every acknowledged row is written (FLUSH on the admin console)."""
	with psycopg.connect(host=proxy.host, port=proxy.port, user="postgres", dbname="pgbatchd",
			autocommit=True) as k:
		assert k.execute("FLUSH %s" % t).statusmessage == "FLUSH"


def internal_connections(citus, since):
	"""Connections the coordinator opened to the workers (application_name
	citus_internal) logged after the offsets `since`."""
	return sum(len(re.findall(r"connection authorized: .*application_name=citus_internal", log[at:]))
		for log, at in zip(citus.worker_logs(), since))


def test_writers_keep_their_worker_connections(citus, pg, make_proxy):
	t = "wconn"
	pg.sql("CREATE TABLE %s (k double precision PRIMARY KEY, v int)" % t)
	pg.sql("SELECT create_distributed_table('%s', 'k')" % t)
	proxy = su.start_sink_proxy(make_proxy, {t: {
		"conflictmode": "upsert", "writemode": 1, "ackmode": "immediate",
		"batchsize": 1000, "batchwritetimeoutms": 20}}, backend={"connectionmaxactive": 1},
		pgbatchd={"admin_users": "postgres"})
	at = [len(log) for log in citus.worker_logs()]
	stream(proxy, t, 0)
	flush(proxy, t)
	mid = [len(log) for log in citus.worker_logs()]
	b_mid = su.stats(proxy).sink["batches"]
	stream(proxy, t, 10 ** 6)
	flush(proxy, t)
	first = internal_connections(citus, at) - internal_connections(citus, mid)
	second = internal_connections(citus, mid)
	batches = su.stats(proxy).sink["batches"] - b_mid
	print("worker connections opened: first stream %d, second %d (%d batches)" % (first, second, batches))
	assert pg.sql("SELECT count(*) FROM %s" % t)[0][0] == 2 * CLIENTS * ROWS
	st = su.stats(proxy)
	assert st.sink["shard_stmts"] == 0 and st.sink["batches"] > 20, st
	assert first > 0
	assert second <= first // 4, (first, second, batches)
