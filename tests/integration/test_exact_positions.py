"""A positional INSERT is read against the table as it is when its row is
written (as PostgreSQL reads it when it runs): after another connection drops
and adds a column, the values go to the columns that now hold those positions.
Named INSERTs keep their names. Every case is compared with the same steps run
directly on a twin table."""

import pytest

import sinkutil as su

T = "CREATE TABLE {t} (k int PRIMARY KEY, a text, b text)"
READD = "ALTER TABLE {t} DROP COLUMN a; ALTER TABLE {t} ADD COLUMN a text"


both = su.twin_tables
direct = su.direct_ok


def rows(pg, t):
	return su.dump_json(pg, t, "k")


def replies(s, sql):
	return [(m[0], su.error_of([m])["C"] if m[0] == "E" else bytes(m[1])) for m in s.run(sql) if m[0] != "T"]


@pytest.mark.parametrize("ackmode", ["commit"])
@pytest.mark.parametrize("conflictmode", ["upsert", "ignore", "strict"])
def test_readded_column_by_another_connection(pg, make_proxy, ackmode, conflictmode):
	"""a is dropped and added again directly between INSERTs through pgbatchd:
	a later positional VALUES fills (k, b, a), as it does directly; a named
	one fills the columns it names. (ackmode=immediate answers an INSERT before
	pgbatchd can know the table changed: test_acknowledged_rows_keep_their_columns.)"""
	t = "readd_%s_%s" % (ackmode, conflictmode)
	both(pg, t, T)
	proxy = su.start_sink_proxy(make_proxy, {t: {"ackmode": ackmode, "conflictmode": conflictmode,
		"exceptionmode": "strict"}})
	clause = {"upsert": " ON CONFLICT (k) DO UPDATE SET a = EXCLUDED.a, b = EXCLUDED.b",
		"ignore": " ON CONFLICT DO NOTHING", "strict": ""}[conflictmode]
	again = 1 if conflictmode != "strict" else 5
	script = ["INSERT INTO {t} VALUES (1, 'one-a', 'one-b')", "READD",
		"INSERT INTO {t} VALUES (2, 'two-b', 'two-a')", "INSERT INTO {t} (k, a) VALUES (3, 'three-a')",
		"INSERT INTO {t} VALUES (4, 'four-b')", "INSERT INTO {t} VALUES (%d, 'again-b', 'again-a')" % again,
		"SELECT k, a, b FROM {t} ORDER BY k"]

	def run(server, name, extra):
		out = []
		with su.Session.to(server) as s:
			for step in script:
				if step == "READD":
					direct(pg, READD.format(t=name))
				else:
					sql = step.format(t=name)
					got = replies(s, sql + extra if sql.startswith("INSERT") else sql)
					out.append(got)
		return out

	want = run(pg, t + "_ref", clause)
	got = run(proxy, t, "")
	assert got == want
	assert rows(pg, t) == rows(pg, t + "_ref")


@pytest.mark.parametrize("ddl", ["readd", "drop"])
@pytest.mark.parametrize("conflictmode", ["upsert", "strict"])
def test_acknowledged_rows_keep_their_columns(pg, make_proxy, conflictmode, ddl):
	"""ackmode=immediate: rows answered and still buffered when another connection
	drops a and adds it again ran, for their client, before that: they are
	written as if they had, positional or named — a's value went with the
	dropped column, b keeps its own — and the batch is written again once."""
	t = "%s_ack_%s" % (ddl, conflictmode)
	change = READD if ddl == "readd" else "ALTER TABLE {t} DROP COLUMN a"
	both(pg, t, T)
	proxy = su.start_sink_proxy(make_proxy, {t: {"ackmode": "immediate", "adaptiveflush": 0,
		"conflictmode": conflictmode, "batchwritetimeoutms": su.HUGE_TIMEOUT_MS,
		"batchsize": su.HUGE_BATCH}})
	inserts = ["INSERT INTO {t} VALUES (1, 'one-a', 'one-b')", "INSERT INTO {t} (b, k, a) VALUES ('two-b', 2, 'two-a')",
		"INSERT INTO {t} VALUES (3, 'three-a')"]
	with su.Session.to(proxy) as s:
		for sql in inserts:
			s.insert(sql.format(t=t), 1)
		assert su.count(pg, t) == 0
		direct(pg, change.format(t=t))
		got = s.rows("SELECT k, b FROM %s ORDER BY k" % t)
	with su.Session.to(pg) as d:
		for sql in inserts:
			d.insert(sql.format(t=t + "_ref"), 1)
		d.ok(change.format(t=t + "_ref"))
		want = d.rows("SELECT k, b FROM %s_ref ORDER BY k" % t)
	assert got == want == [["1", "one-b"], ["2", "two-b"], ["3", None]], (got, want)
	assert rows(pg, t) == rows(pg, t + "_ref")
	assert su.stats(proxy).sink["rebases"] == 1


@pytest.mark.parametrize("conflictmode", ["upsert", "strict"])
def test_readded_column_in_a_transaction_block(pg, make_proxy, conflictmode):
	"""The same inside BEGIN ... COMMIT, where pgbatchd stages the INSERTs and
	writes them on the client's own connection."""
	t = "readd_tx_" + conflictmode
	both(pg, t, T)
	proxy = su.start_sink_proxy(make_proxy, {t: {"ackmode": "commit", "conflictmode": conflictmode}})
	clause = {"upsert": " ON CONFLICT (k) DO UPDATE SET a = EXCLUDED.a, b = EXCLUDED.b", "strict": ""}[conflictmode]
	script = ["INSERT INTO {t} VALUES (1, 'one-a', 'one-b')", "READD", "BEGIN",
		"INSERT INTO {t} VALUES (2, 'two-b', 'two-a')", "INSERT INTO {t} (k, a) VALUES (3, 'three-a')",
		"INSERT INTO {t} VALUES (4, 'four-b')", "COMMIT", "SELECT k, a, b FROM {t} ORDER BY k"]

	def run(server, name, extra):
		out = []
		with su.Session.to(server) as s:
			for step in script:
				if step == "READD":
					direct(pg, READD.format(t=name))
					continue
				sql = step.format(t=name)
				out.append(replies(s, sql + extra if sql.startswith("INSERT") else sql))
		return out

	want = run(pg, t + "_ref", clause)
	got = run(proxy, t, "")
	assert got == want
	assert rows(pg, t) == rows(pg, t + "_ref")


def test_table_dropped_and_created_again(pg, make_proxy):
	"""ackmode=immediate: rows answered and buffered, then the table is dropped
	and created again directly: the rows are written into the new table by
	their columns' names, as they came (never as rows of defaults)."""
	t = "recreated"
	both(pg, t, T)
	proxy = su.start_sink_proxy(make_proxy, {t: {"ackmode": "immediate", "adaptiveflush": 0,
		"batchwritetimeoutms": su.HUGE_TIMEOUT_MS, "batchsize": su.HUGE_BATCH}})
	with su.Session.to(proxy) as s:
		s.insert("INSERT INTO %s VALUES (1, 'one-a', 'one-b')" % t, 1)
		s.insert("INSERT INTO %s (b, k) VALUES ('two-b', 2)" % t, 1)
		direct(pg, "DROP TABLE {t}; ".format(t=t) + T.format(t=t))
		got = s.rows("SELECT k, a, b FROM %s ORDER BY k" % t)
	assert got == [["1", "one-a", "one-b"], ["2", None, "two-b"]], got
