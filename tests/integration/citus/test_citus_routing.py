"""Shard routing through Citus (issue 22, acceptance 4): pgbatchd groups a batch's rows of a hash-distributed table by the shard their distribution value hashes to, so that each batch statement it sends the coordinator touches one shard.

What the workers ran is read from their pg_stat_statements: Citus sends a
worker one statement per shard a coordinator statement touches (a VALUES
INSERT into `t_102008`, a COPY into it, ...). Every batch statement touching
one shard means the workers ran exactly as many shard statements as pgbatchd
sent batch statements; a batch of rows over 32 shards sent as one statement
makes the workers run up to 32 for it.
"""

import datetime
import random
import re
import zoneinfo

import psycopg
import pytest

import sinkutil as su
from conftest import SHARDS

CLIENTS = 8
ROWS = 400              # per client
GROUP = 50              # Queries pipelined before their replies are read


def reset_stats(citus):
	for s in [citus.coordinator] + citus.workers:
		s.sql("SELECT pg_stat_statements_reset()")


def statements(server, table):
	"""(query, calls, rows) of the INSERT and COPY statements into the table
	that the coordinator ran (pgbatchd's batch statements)."""
	return server.sql("SELECT query, calls, rows FROM pg_stat_statements WHERE query ~* %s",
		(r"^\s*(INSERT INTO|COPY)\s+[^ ]*\m" + table + r"\M",))


def run_client(proxy, sqls, bad):
	with su.Session.to(proxy) as s:
		for i in range(0, len(sqls), GROUP):
			for sql, msgs in zip(sqls[i:i + GROUP], s.pipeline(sqls[i:i + GROUP])):
				if msgs != su.insert_reply(1):
					bad.append((sql, su.show(msgs)))


@pytest.mark.parametrize("writemode", [0, 1, 2])
@pytest.mark.parametrize("conflictmode", ["upsert", "strict"])
def test_each_batch_statement_one_shard(citus, pg, make_proxy, writemode, conflictmode):
	t = "rt_%d_%s" % (writemode, conflictmode)
	pg.sql("CREATE TABLE %s (k bigint PRIMARY KEY, v int, c text)" % t)
	pg.sql("SELECT create_distributed_table('%s', 'k')" % t)
	proxy = su.start_sink_proxy(make_proxy, {t: {
		"conflictmode": conflictmode, "writemode": writemode, "ackmode": "commit",
		"batchsize": 1000, "batchwritetimeoutms": 20}})
	rnd = random.Random(writemode)
	work, want = [], {}
	for c in range(CLIENTS):
		sqls = []
		for i in range(ROWS):
			k = c + CLIENTS * i if conflictmode == "strict" else c + CLIENTS * rnd.randrange(ROWS // 2)
			want[k] = i
			sqls.append("INSERT INTO %s VALUES (%d, %d, 'c%d')" % (t, k, i, i))
		work.append(sqls)
	reset_stats(citus)
	bad = []
	su.run_parallel(run_client, [(proxy, work[c], bad) for c in range(CLIENTS)], timeout=300)
	assert not bad, bad[:5]
	assert dict(pg.sql("SELECT k, v FROM %s" % t)) == want

	sent = statements(pg, t)
	ran = citus.workers_sql("SELECT query, calls, rows FROM pg_stat_statements WHERE query ~* %s",
		(r"^\s*(INSERT INTO|COPY)\s+[^ ]*\m" + t + r"_[0-9]+\M",))
	nsent = sum(c for _, c, _ in sent)
	nran = sum(c for _, c, _ in ran)
	shards = {re.search(t + r"_([0-9]+)", q).group(1) for q, _, _ in ran}
	print("%s: %d batch statements, %d shard statements on the workers, %d shards" % (
		t, nsent, nran, len(shards)))
	# every row reached the workers, over every shard ...
	assert sum(r for _, _, r in ran) == CLIENTS * ROWS
	assert len(shards) == SHARDS
	# ... and each statement pgbatchd sent became one shard's statement
	assert nsent > 0 and nran == nsent, (nsent, nran, sent)
	# (and pgbatchd counts them: shard_stmts in its stats line)
	assert su.stats(proxy).sink["shard_stmts"] == nsent


# Each type's values, written as a client would: the hash pgbatchd computes
# must be the one Citus routes by, or statements span shards.
TYPES = {
	"smallint": lambda i: "%d" % (i - 1600),
	"int": lambda i: "%d" % (i * 7919 - 10000000),
	"text": lambda i: "'k%d-%s'" % (i, "é" * (i % 5)),
	"varchar(40)": lambda i: "'v%d'" % (i * 31),
	"char(12)": lambda i: "'c%d'" % i,
	"uuid": lambda i: "'%08x-0000-4000-8000-%012x'" % (i * 2654435761 % 2 ** 32, i),
	"numeric": lambda i: "%d.%04d" % (i * 7 - 5000, i % 10000),
	"numeric(14,2)": lambda i: "'%d.%d'" % (i * 1000003, i % 10),
	"date": lambda i: "'%s'" % (datetime.date(1990, 1, 1) + datetime.timedelta(days=i * 3)),
	"timestamp": lambda i: "'%s.25'" % (datetime.datetime(2026, 1, 1) + datetime.timedelta(seconds=i * 37)),
	"timestamptz": lambda i: "'2026-%02d-%02d %02d:%02d:%02d.5+02'" % (1 + i % 12, 1 + i // 12 % 28, i // 336 % 24,
		i % 60, i * 7 % 60),
}


@pytest.mark.parametrize("typ", sorted(TYPES))
def test_distribution_column_types(citus, pg, make_proxy, typ):
	t = "rty_" + re.sub(r"\W", "", typ)
	pg.sql("CREATE TABLE %s (k %s PRIMARY KEY, v int)" % (t, typ))
	pg.sql("SELECT create_distributed_table('%s', 'k')" % t)
	proxy = su.start_sink_proxy(make_proxy, {t: {
		"conflictmode": "upsert", "writemode": 0, "ackmode": "commit",
		"batchsize": 1000, "batchwritetimeoutms": 20}})
	work = [["INSERT INTO %s VALUES (%s, %d)" % (t, TYPES[typ](c + CLIENTS * i), i) for i in range(ROWS // 4)]
		for c in range(CLIENTS)]
	reset_stats(citus)
	bad = []
	su.run_parallel(run_client, [(proxy, work[c], bad) for c in range(CLIENTS)], timeout=300)
	assert not bad, bad[:5]
	assert pg.sql("SELECT count(*) FROM %s" % t)[0][0] == CLIENTS * (ROWS // 4)
	nsent = sum(c for _, c, _ in statements(pg, t))
	nran = sum(c for _, c, _ in citus.workers_sql(
		"SELECT query, calls, rows FROM pg_stat_statements WHERE query ~* %s",
		(r"^\s*INSERT INTO\s+[^ ]*\m" + t + r"_[0-9]+\M",)))
	print("%s: %d batch statements, %d shard statements" % (typ, nsent, nran))
	assert nsent > 0 and nran == nsent
	assert su.stats(proxy).sink["shard_stmts"] == nsent


def stream(citus, pg, proxy, t, first):
	"""CLIENTS x ROWS // 4 new keys from `first` on; (batch statements,
	shard statements on the workers) of the stream."""
	work = [["INSERT INTO %s VALUES (%d, %d, 'x')" % (t, first + c + CLIENTS * i, i) for i in range(ROWS // 4)]
		for c in range(CLIENTS)]
	reset_stats(citus)
	bad = []
	su.run_parallel(run_client, [(proxy, work[c], bad) for c in range(CLIENTS)], timeout=300)
	assert not bad, bad[:5]
	nsent = sum(c for _, c, _ in statements(pg, t))
	nran = sum(c for _, c, _ in citus.workers_sql(
		"SELECT query, calls, rows FROM pg_stat_statements WHERE query ~* %s",
		(r"^\s*INSERT INTO\s+[^ ]*\m" + t + r"_[0-9]+\M",)))
	return nsent, nran


def test_a_split_shard_is_followed(citus, pg, make_proxy):
	"""A shard split while pgbatchd runs: its new ranges are read within
	seconds (shardwatch.c), and statements are one shard's again."""
	t = "rt_split"
	pg.sql("CREATE TABLE %s (k bigint PRIMARY KEY, v int, c text)" % t)
	pg.sql("SELECT create_distributed_table('%s', 'k')" % t)
	proxy = su.start_sink_proxy(make_proxy, {t: {
		"conflictmode": "upsert", "writemode": 0, "ackmode": "commit",
		"batchsize": 1000, "batchwritetimeoutms": 20}})
	nsent, nran = stream(citus, pg, proxy, t, 0)
	assert nsent > 0 and nran == nsent

	# split the shard holding hash 0 in two at its middle, both halves on its node
	shard, node, lo, hi = pg.sql("SELECT s.shardid, n.nodeid, s.shardminvalue::int, s.shardmaxvalue::int "
		"FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid) "
		"JOIN pg_dist_node n ON n.groupid = p.groupid "
		"WHERE s.logicalrelid = %s::regclass AND s.shardminvalue::int <= 0 AND s.shardmaxvalue::int >= 0",
		(t,))[0]
	pg.sql("SELECT citus_split_shard_by_split_points(%s, ARRAY[%s], ARRAY[%s, %s], 'block_writes')",
		(shard, str((lo + hi) // 2), node, node))
	proxy.wait_log(r"table public\.%s: Citus shards changed, %d shards now \(were %d\)" % (t, SHARDS + 1, SHARDS),
		timeout=60)
	nsent, nran = stream(citus, pg, proxy, t, 10 ** 6)
	print("after the split: %d batch statements, %d shard statements" % (nsent, nran))
	assert nsent > 0 and nran == nsent
	assert pg.sql("SELECT count(*) FROM %s" % t)[0][0] == 2 * CLIENTS * (ROWS // 4)


def test_rows_of_no_known_shard(citus, pg, make_proxy):
	"""A timestamptz written without its zone is not hashed here (the session's
	TimeZone reads it): a batch holding such rows is not grouped by shard for
	that table. The same instants, spelled with and without a zone in turn,
	end as the same statements run directly end (the last value of each
	instant wins, whichever spelling came last)."""
	t, direct = "rt_mixed", "rt_mixed_direct"
	for name in (t, direct):
		pg.sql("CREATE TABLE %s (k timestamptz PRIMARY KEY, v int)" % name)
		pg.sql("SELECT create_distributed_table('%s', 'k')" % name)
	zone = pg.sql("SHOW TimeZone")[0][0]
	proxy = su.start_sink_proxy(make_proxy, {t: {
		"conflictmode": "upsert", "writemode": 0, "ackmode": "commit",
		"batchsize": 1000, "batchwritetimeoutms": 20}})
	work = []
	for c in range(CLIENTS):
		sqls = []
		for i in range(ROWS // 4):
			at = datetime.datetime(2026, 1, 1) + datetime.timedelta(minutes=c + CLIENTS * (i % 40))
			# every other one gives the offset of the zone the server reads
			# the others in
			off = int(zoneinfo.ZoneInfo(zone).utcoffset(at).total_seconds()) // 60
			text = at.strftime("%Y-%m-%d %H:%M:%S") + (
				"%s%02d:%02d" % ("-" if off < 0 else "+", abs(off) // 60, abs(off) % 60) if i % 2 else "")
			sqls.append("INSERT INTO {t} VALUES ('%s', %d)" % (text, i))
		work.append(sqls)
	bad = []
	su.run_parallel(run_client, [(proxy, [q.format(t=t) for q in work[c]], bad) for c in range(CLIENTS)],
		timeout=300)
	assert not bad, bad[:5]
	# directly, with the clause conflictmode = upsert stands for (clients
	# own disjoint instants: their order is free)
	with psycopg.connect(host=pg.host, port=pg.port, user="postgres", dbname="postgres",
			autocommit=True) as conn:
		for sqls in work:
			for q in sqls:
				conn.execute(q.format(t=direct) + " ON CONFLICT (k) DO UPDATE SET v = excluded.v")
	got = pg.sql("SELECT k, v FROM %s ORDER BY k" % t)
	assert got == pg.sql("SELECT k, v FROM %s ORDER BY k" % direct)
	assert len(got) == CLIENTS * 40
	print("shard statements:", su.stats(proxy).sink["shard_stmts"], "batches:", su.stats(proxy).sink["batches"])
