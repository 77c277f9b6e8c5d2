"""Order: a session's statements commit in the order it sent them, across keys and tables; rows of one key in arrival order; tables whose rows interact otherwise in one order.

Every case runs many times with connectionmaxactive = 5, so that rows which
could go to different writers would, sooner or later, commit out of order:
- a parent and its child in one statement (a self-referencing foreign key);
- a chain of 200 statements, each child after its parent, from one session,
  ackmode=immediate (answered at once) and commit (pipelined);
- parents and children in two configured tables, one session after another;
- a second unique constraint: the first row to claim a value keeps it.
"""

import pytest

import sinkutil as su

RUNS = 30


def node_table(pg, t):
	pg.sql("CREATE TABLE %s (id int PRIMARY KEY, parent int REFERENCES %s (id), label text)" % (t, t))


@pytest.mark.parametrize("ack", ["commit", "immediate"])
def test_parent_and_child_in_one_statement(pg, make_proxy, ack):
	t = "ord_node1_" + ack
	node_table(pg, t)
	proxy = su.start_sink_proxy(make_proxy, {t: {"ackmode": ack, "conflictmode": "upsert", "verbose": 1,
		"batchsize": 3}}, backend={"connectionmaxactive": 5})
	sessions = [su.Session.to(proxy) for _ in range(6)]
	try:
		for run in range(RUNS):
			# six sessions at once, each with a pipeline of three families
			for i, s in enumerate(sessions):
				b = 1000 * run + 100 * i
				s.send(b"".join(su.w.msg("Q", ("INSERT INTO %s VALUES (%d, NULL, 'root'), (%d, %d, 'child')"
					% (t, b + 10 * j, b + 10 * j + 1, b + 10 * j)).encode() + b"\0") for j in range(3)))
			for s in sessions:
				for _ in range(3):
					msgs = s.read_until("Z")
					assert msgs == su.insert_reply(2), su.show(msgs)
		for s in sessions:
			s.ok("SELECT 1")     # after every row it sent is committed (readyourwrites)
	finally:
		for s in sessions:
			s.close()
	assert su.count(pg, t) == RUNS * 6 * 3 * 2
	assert su.direct(pg, "SELECT count(*) FROM %s WHERE parent IS NOT NULL" % t) == [(RUNS * 6 * 3,)]
	assert su.stats(proxy).sink["rows_failed"] == 0


@pytest.mark.parametrize("ack", ["commit", "immediate"])
def test_chain_of_statements(pg, make_proxy, ack):
	"""200 statements, each a child of the one before: directly every one
	succeeds, so through pgbatchd too, whatever the batching."""
	t = "ord_chain_" + ack
	node_table(pg, t)
	proxy = su.start_sink_proxy(make_proxy, {t: {"ackmode": ack, "batchsize": 7, "verbose": 1}},
		backend={"connectionmaxactive": 5})
	for run in range(3):
		base = 10000 * run
		sqls = ["INSERT INTO %s VALUES (%d, %s, 'n')" % (t, base + i, "NULL" if i == 0 else base + i - 1)
			for i in range(200)]
		with su.Session.to(proxy) as s:
			if ack == "immediate":
				for sql in sqls:
					s.insert(sql, 1)
			else:
				for sql, msgs in zip(sqls, s.pipeline(sqls)):
					assert msgs == su.insert_reply(1), "%s\n%s" % (sql, su.show(msgs))
			s.ok("SELECT 1")
	assert su.count(pg, t) == 600
	st = su.stats(proxy)
	assert st.sink["rows_failed"] == 0 and st.sink["batches"] > 3, st


@pytest.mark.parametrize("ack", ["commit", "immediate"])
def test_parents_and_children_in_two_tables(pg, make_proxy, ack):
	"""A parent table and a child table, both configured: a session inserts a
	parent, then its children; another session, told the parent is in
	(immediate: acknowledged), inserts more children of it."""
	p, c = "ord_parent_" + ack, "ord_child_" + ack
	pg.sql("CREATE TABLE %s (id int PRIMARY KEY, name text)" % p)
	pg.sql("CREATE TABLE %s (id int PRIMARY KEY, pid int NOT NULL REFERENCES %s (id), v int)" % (c, p))
	opts = {"ackmode": ack, "batchsize": 5, "verbose": 1}
	proxy = su.start_sink_proxy(make_proxy, {p: dict(opts), c: dict(opts)}, backend={"connectionmaxactive": 5})
	a, b = su.Session.to(proxy), su.Session.to(proxy)
	try:
		for run in range(RUNS):
			base = 100 * run
			if ack == "immediate":
				a.insert("INSERT INTO %s VALUES (%d, 'p%d')" % (p, run, run), 1)
				a.insert("INSERT INTO %s VALUES (%d, %d, 1), (%d, %d, 2)" % (c, base, run, base + 1, run), 2)
				b.insert("INSERT INTO %s VALUES (%d, %d, 3)" % (c, base + 2, run), 1)
				a.insert("INSERT INTO %s VALUES (%d, 'p%d again')" % (p, run + 1000, run), 1)
				b.insert("INSERT INTO %s VALUES (%d, %d, 4)" % (c, base + 3, run + 1000), 1)
			else:
				# a pipeline: each statement is sent before the one before it is answered
				sqls = ["INSERT INTO %s VALUES (%d, 'p%d')" % (p, run, run),
					"INSERT INTO %s VALUES (%d, %d, 1), (%d, %d, 2)" % (c, base, run, base + 1, run),
					"INSERT INTO %s VALUES (%d, 'p%d again')" % (p, run + 1000, run),
					"INSERT INTO %s VALUES (%d, %d, 4), (%d, %d, 3)" % (c, base + 3, run + 1000, base + 2, run)]
				for sql, msgs in zip(sqls, a.pipeline(sqls)):
					assert msgs == su.insert_reply(sql.count("), (") + 1), "%s\n%s" % (sql, su.show(msgs))
		a.ok("SELECT 1")
		b.ok("SELECT 1")
	finally:
		a.close()
		b.close()
	assert su.count(pg, c) == RUNS * 4 and su.count(pg, p) == RUNS * 2
	assert su.stats(proxy).sink["rows_failed"] == 0


@pytest.mark.parametrize("exc", ["strict", "ignore"])
def test_second_unique_constraint(pg, make_proxy, exc):
	"""uq(id pk, email unique): in one statement, and from two sessions one
	after the other, the first row to claim an email keeps it; the other row
	is rejected with 23505 (strict: its whole statement, as directly)."""
	t = "ord_uq_" + exc
	pg.sql("CREATE TABLE %s (id int PRIMARY KEY, email text UNIQUE)" % t)
	proxy = su.start_sink_proxy(make_proxy, {t: {"ackmode": "commit", "exceptionmode": exc, "verbose": 1}},
		backend={"connectionmaxactive": 5})
	with su.Session.to(proxy) as s1, su.Session.to(proxy) as s2:
		for run in range(RUNS):
			k = 10 * run
			msgs = s1.run("INSERT INTO %s VALUES (%d, 'e%d'), (%d, 'e%d')" % (t, k + 1, run, k + 2, run))
			if exc == "strict":
				assert su.error_of(msgs)["C"] == "23505", su.show(msgs)
			else:
				assert su.tags_of(msgs) == ["INSERT 0 1"], su.show(msgs)
				assert [su.w.fields(p)["C"] for ty, p in msgs if ty == "N"] == ["23505"]
			s1.insert("INSERT INTO %s VALUES (%d, 'f%d')" % (t, k + 3, run), 1)
			msgs = s2.run("INSERT INTO %s VALUES (%d, 'f%d')" % (t, k + 4, run))
			assert su.error_of(msgs)["C"] == "23505" if exc == "strict" else \
				su.tags_of(msgs) == ["INSERT 0 0"], su.show(msgs)
	rows = dict(su.direct(pg, "SELECT id, email FROM %s" % t))
	for run in range(RUNS):
		k = 10 * run
		assert rows.get(k + 3) == "f%d" % run and k + 4 not in rows
		if exc == "strict":
			assert k + 1 not in rows and k + 2 not in rows
		else:
			assert rows.get(k + 1) == "e%d" % run and k + 2 not in rows


def test_second_unique_constraint_immediate(pg, make_proxy):
	"""ackmode=immediate: a session answered already; another session's row
	claiming the same email afterwards is the one rejected, every time."""
	t = "ord_uq_imm"
	pg.sql("CREATE TABLE %s (id int PRIMARY KEY, email text UNIQUE)" % t)
	proxy = su.start_sink_proxy(make_proxy, {t: {"ackmode": "immediate", "verbose": 1}},
		backend={"connectionmaxactive": 5})
	with su.Session.to(proxy) as s1, su.Session.to(proxy) as s2:
		for run in range(RUNS):
			s1.insert("INSERT INTO %s VALUES (%d, 'e%d')" % (t, 2 * run, run), 1)
			s2.insert("INSERT INTO %s VALUES (%d, 'e%d')" % (t, 2 * run + 1, run), 1)
		s1.ok("SELECT 1")
		s2.ok("SELECT 1")
	rows = dict(su.direct(pg, "SELECT id, email FROM %s" % t))
	assert rows == {2 * run: "e%d" % run for run in range(RUNS)}
	assert su.stats(proxy).sink["rows_failed"] == RUNS
