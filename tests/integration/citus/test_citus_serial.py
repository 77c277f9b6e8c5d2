"""pgbatchd in front of a Citus coordinator (issue 22): it says what the backend is and how each table is spread, and it leaves every kind of Citus table exactly as the same rows written one by one through the coordinator, for every conflictmode x writemode x ackmode.

Table kinds: "hash" (distributed by the hash of its key, 32 shards),
"reference" (a copy on every node), "fkpair" (distributed, with a foreign key
to a co-located distributed table that holds only some of the keys: rows of
the others fail with 23503 in every mode). The workloads are test_sink_serial's
(three clients, disjoint keys, keys spelled several ways, values of every
kind, pipelined Queries); the reference is each row run alone, directly
through the coordinator, with the mode's single-row clause.

Citus re-raises a worker's error inside COPY (writemode 1, and the COPY behind
writemode 2's INSERT ... SELECT) as XX000 with the worker's message; the
replies must still carry the row's own SQLSTATE (23505, 23503), as a direct
single-row INSERT gets it.
"""

import os
import re
import shutil
import tempfile

import pytest

import sinkutil as su
import test_sink_serial as ser

KINDS = ["hash", "reference", "fkpair"]
ACKMODES = ["commit", "immediate", "spool"]
CASES = [(k, a) for k in KINDS for a in ACKMODES]
COLS = ser.shape_cols("plain")
DDL = ("CREATE TABLE {t} (k int PRIMARY KEY, a int, b text DEFAULT 'dflt', c text, "
	"d bigint DEFAULT 7, e numeric{extra})")
PARENT_SHARE = 0.9      # fkpair: the keys its parent table holds
FK_KEYS_PER_CLIENT = 8  # fkpair, conflictmodes other than strict
MESSAGES = 12           # Queries per client (test_sink_serial sends 36; Citus is ten times slower per row)


def create(conn, kind, t):
	"""The table t as `kind` (and, for fkpair, its parent t_parent). One
	connection for all of a test's DDL: each new one costs Citus a warm-up."""
	if kind == "fkpair":
		conn.execute("CREATE TABLE %s_parent (k int PRIMARY KEY)" % t)
		conn.execute("SELECT create_distributed_table('%s_parent', 'k')" % t)
		conn.execute(DDL.format(t=t, extra=", FOREIGN KEY (k) REFERENCES %s_parent (k)" % t))
		conn.execute("SELECT create_distributed_table('%s', 'k', colocate_with => '%s_parent')" % (t, t))
		return
	conn.execute(DDL.format(t=t, extra=""))
	if kind == "hash":
		conn.execute("SELECT create_distributed_table('%s', 'k')" % t)
	else:
		conn.execute("SELECT create_reference_table('%s')" % t)


def fill_parent(conn, t, keys, rnd):
	"""Some of the keys into t's parent table and into its reference's (as
	VALUES: Citus routes them per shard, where INSERT ... SELECT is slow)."""
	held = [k for k in keys if rnd.random() < PARENT_SHARE]
	for p in (t + "_parent", t + "_ref_parent"):
		conn.execute("INSERT INTO %s VALUES %s" % (p, ", ".join("(%d)" % k for k in held)))


def dump(conn, table):
	return [r[0] for r in conn.execute("SELECT t::text FROM %s t ORDER BY k" % table).fetchall()]


def gen_client(rnd, table, client, nkeys):
	"""test_sink_serial's workload of one client, MESSAGES Queries long."""
	saved = ser.MESSAGES_PER_CLIENT
	ser.MESSAGES_PER_CLIENT = MESSAGES
	try:
		return ser.gen_client(rnd, table, client, nkeys, COLS)
	finally:
		ser.MESSAGES_PER_CLIENT = saved


@pytest.fixture
def spool_dir():
	d = tempfile.mkdtemp(prefix="pgbatchd-spool-")
	yield d
	shutil.rmtree(d, ignore_errors=True)


def test_backend_and_tables_said(pg, make_proxy):
	"""The log names the Citus coordinator and how each configured table is spread."""
	with pg.connect() as conn:
		create(conn, "hash", "said_h")
		create(conn, "reference", "said_r")
		conn.execute("CREATE TABLE said_l (k int PRIMARY KEY, v text)")
	p = su.start_sink_proxy(make_proxy, {t: {"batchsize": 10} for t in ("said_h", "said_r", "said_l")})
	version = pg.sql("SELECT extversion FROM pg_extension WHERE extname = 'citus'")[0][0]
	with su.Session.to(p) as s:
		for t in ("said_h", "said_r", "said_l"):
			assert s.run("INSERT INTO %s VALUES (1, 2)" % t) == su.insert_reply(1)
	log = p.log()
	assert "backend is a Citus %s coordinator" % version in log, log
	assert re.search(r"table public\.said_h: Citus distributed table, by the hash of k, 32 shards", log), log
	assert "table public.said_r: Citus reference table" in log, log
	assert "table public.said_l: a table of the Citus coordinator itself" in log, log


@pytest.mark.parametrize("kind,ackmode", CASES, ids=["%s-%s" % c for c in CASES])
def test_serial_equivalence(pg, make_proxy, spool_dir, kind, ackmode):
	"""Every conflictmode x writemode (one table each, one pgbatchd for all):
	the table equals the serial reference, and every reply is the one the
	single-row statements add up to."""
	idx = CASES.index((kind, ackmode))
	runs, tables = [], {}
	conn = pg.connect()
	for mode in ser.CONFLICTMODES:
		for wm in ser.WRITEMODES:
			v = idx * 12 + ser.CONFLICTMODES.index(mode) * 3 + wm
			table = "cs_%s_%s_%s_w%d" % (kind, ackmode, mode, wm)
			rnd = ser.random.Random(7000 + v)
			nkeys = ser.STRICT_KEYS_PER_CLIENT if mode == "strict" else \
				FK_KEYS_PER_CLIENT if kind == "fkpair" else ser.KEYS_PER_CLIENT
			for t in (table, table + "_ref"):
				create(conn, kind, t)
			if kind == "fkpair":
				keys = [c + ser.CLIENTS * i for c in range(ser.CLIENTS) for i in range(nkeys)]
				prnd = ser.random.Random(v)
				fill_parent(conn, table, keys, prnd)
			runs.append((table, mode, [gen_client(rnd, table, c, nkeys) for c in range(ser.CLIENTS)]))
			tables[table] = {
				"conflictmode": mode, "writemode": wm, "ackmode": ackmode,
				"batchsize": [7, 13, 50][v % 3],
				"batchwritetimeoutms": [15, 40][v % 2],
				"verbose": 1,
			}
	pgb = {"spool_dir": spool_dir} if ackmode == "spool" else None
	proxy = su.start_sink_proxy(make_proxy, tables, backend={"connectionmaxactive": 4}, pgbatchd=pgb)

	# every table's clients at once: 36 sessions
	replies = {}
	su.run_parallel(ser.run_client, [(proxy, clients[c], replies) for _, _, clients in runs
		for c in range(ser.CLIENTS)], timeout=300)
	# the references, each table's in a thread of its own (one connection each)
	outcomes = {}

	def reference(table, mode, clients):
		outcomes[table] = ser.build_reference(pg, table + "_ref", mode, clients, COLS)

	su.run_parallel(reference, runs, timeout=300)
	total_rows = total_failed = 0
	for table, mode, clients in runs:
		got, want = dump(conn, table), dump(conn, table + "_ref")
		assert got == want, "table differs from the serial reference (%s)" % table
		for groups in clients:
			for group in groups:
				for m in group:
					ser.check_reply(m, replies[id(m)], outcomes[table][id(m)],
						"immediate" if ackmode == "spool" else ackmode)
		total_rows += sum(len(m.rows) for groups in clients for g in groups for m in g)
		total_failed += sum(len(st) for st, _ in outcomes[table].values())
	conn.close()
	st = su.stats(proxy)
	assert st.sink["rows_in"] == total_rows, st
	assert st.sink["rows_failed"] == total_failed, st
	assert sum(v for k, v in st.sink.items() if k.startswith("passthrough_")) == 0, st
	if kind == "fkpair":
		# rows of keys the parent lacks were refused in every mode, and told apart
		assert total_failed > 0
	log = proxy.log()
	assert "XX000" not in log, log
