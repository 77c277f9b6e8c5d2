"""Every row is checked as it would be alone: no row of a batch is merged into another.

Each case runs its statements through pgbatchd (held in one batch by a lock
where it matters) and the same rows one by one, directly, into a twin table
(with the twin's own triggers, sequences and rules), then compares both
tables and everything the triggers and rules wrote.

- update mode: a rejected row's values never reach the table through another
  row of its key, and its client hears of it;
- a BEFORE INSERT trigger fires once per row, three rows of one key included;
- bigserial: each row takes its own value from the sequence, in the rows' order;
- a key column's DEFAULT: rows that omit the key are distinct rows, applied in order;
- a rule: COPY does not run rules, so the rows of a table with one go as INSERTs.
"""

import pytest

import sinkutil as su


def run_held(pg, proxy, table, stmts, blocker):
	"""Sends each statement from a session of its own, all queued behind a held
	blocker so that they share one batch; returns the replies in order."""
	sessions = [su.Session.to(proxy) for _ in stmts]

	def send():
		for s, sql in zip(sessions, stmts):
			s.send(su.w.msg("Q", sql.encode() + b"\0"))

	nrows = sum(sql.count("), (") + 1 for sql in stmts)
	b = su.one_batch(pg, proxy, table, blocker, send, nrows)
	b.read_until("Z")
	b.close()
	out = [s.read_until("Z") for s in sessions]
	for s in sessions:
		s.close()
	return out


def run_direct(pg, sql_rows):
	"""Each (sql, expected to fail) alone, in order; returns the SQLSTATE per statement."""
	import psycopg
	states = []
	with pg.connect() as conn:
		for sql in sql_rows:
			try:
				conn.execute(sql)
				states.append(None)
			except psycopg.Error as e:
				states.append(e.sqlstate)
	return states


@pytest.mark.parametrize("exc", ["strict", "ignore"])
@pytest.mark.parametrize("writemode", [0, 1, 2])
def test_update_mode_rejected_row(pg, make_proxy, writemode, exc):
	t = "rw_upd_%s_w%d" % (exc, writemode)
	for name in (t, t + "_ref"):
		pg.sql("CREATE TABLE %s_parent (id int PRIMARY KEY)" % name)
		pg.sql("CREATE TABLE %s (k int PRIMARY KEY, a int, b text, c int, p int REFERENCES %s_parent (id))"
			% (name, name))
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": "update", "exceptionmode": exc,
		"ackmode": "commit", "writemode": writemode, "copystageminrows": 1, "verbose": 1, "directwrite": 0}},
		backend={"connectionmaxactive": 1})
	with su.Session.to(proxy) as s:
		s.insert("INSERT INTO %s (k, a) VALUES (-1, 0)" % t, 1)
	stmts = ["INSERT INTO %s (k, a, b) VALUES (8, 80, 's18')",
		"INSERT INTO %s (k, a, b, c, p) VALUES (8, 88, 's27', 54, 99)",
		"INSERT INTO %s (b, k, p) VALUES ('s0', 8, NULL)"]
	got = run_held(pg, proxy, t, [q % t for q in stmts], "INSERT INTO %s (k) VALUES (-2)" % t)
	clauses = [" ON CONFLICT (k) DO UPDATE SET a = EXCLUDED.a, b = EXCLUDED.b",
		" ON CONFLICT (k) DO UPDATE SET a = EXCLUDED.a, b = EXCLUDED.b, c = EXCLUDED.c, p = EXCLUDED.p",
		" ON CONFLICT (k) DO UPDATE SET b = EXCLUDED.b, p = EXCLUDED.p"]
	states = run_direct(pg, [(q % (t + "_ref")) + c for q, c in zip(stmts, clauses)])
	assert states == [None, "23503", None]
	assert got[0] == su.insert_reply(1) and got[2] == su.insert_reply(1), [su.show(m) for m in got]
	if exc == "strict":
		assert su.error_of(got[1])["C"] == "23503", su.show(got[1])
	else:
		assert [su.w.fields(p)["C"] for ty, p in got[1] if ty == "N"] == ["23503"], su.show(got[1])
		assert su.tags_of(got[1]) == ["INSERT 0 0"]
	assert su.direct(pg, "SELECT k, a, b, c, p FROM %s WHERE k = 8" % t) == [(8, 80, "s0", None, None)]
	assert su.direct(pg, "SELECT k, a, b, c, p FROM %s WHERE k = 8" % t) == \
		su.direct(pg, "SELECT k, a, b, c, p FROM %s_ref WHERE k = 8" % t)


TRIGGER = """
CREATE TABLE {t}_log (k int, n int);
CREATE FUNCTION {t}_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO {t}_log VALUES (NEW.k, (SELECT count(*) FROM {t}_log) + 1);
	NEW.v := NEW.v || '!';
	RETURN NEW;
END $$;
CREATE TRIGGER {t}_trg BEFORE INSERT ON {t} FOR EACH ROW EXECUTE FUNCTION {t}_count();
"""


@pytest.mark.parametrize("writemode", [0, 1, 2])
def test_row_trigger_fires_per_row(pg, make_proxy, writemode):
	t = "rw_trg_w%d" % writemode
	for name in (t, t + "_ref"):
		pg.sql("CREATE TABLE %s (k int PRIMARY KEY, v text)" % name)
		with pg.connect() as c:
			c.execute(TRIGGER.format(t=name))
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": "upsert", "ackmode": "commit",
		"writemode": writemode, "verbose": 1, "directwrite": 0}}, backend={"connectionmaxactive": 1})
	with su.Session.to(proxy) as s:
		s.insert("INSERT INTO %s VALUES (0, 'catalog')" % t, 1)
	stmts = ["INSERT INTO {t} VALUES (1, 'a'), (1, 'b')", "INSERT INTO {t} VALUES (2, 'c')",
		"INSERT INTO {t} VALUES (1, 'd'), (3, 'e')"]
	got = run_held(pg, proxy, t, [q.format(t=t) for q in stmts], "INSERT INTO %s VALUES (-1, 'x')" % t)
	assert [su.tags_of(m) for m in got] == [["INSERT 0 2"], ["INSERT 0 1"], ["INSERT 0 2"]]
	rows = []
	for q in stmts:
		for r in q.split("VALUES ")[1].split("), ("):
			rows.append(q.split(" VALUES")[0].format(t=t + "_ref") + " VALUES (" + r.strip("()") +
				") ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v")
	su.direct(pg, "INSERT INTO %s_ref VALUES (0, 'catalog'), (-1, 'x')" % t)
	run_direct(pg, rows)
	assert su.dump(pg, t, "k") == su.dump(pg, t + "_ref", "k")
	# one firing per row, in the order of the rows
	assert su.dump(pg, t + "_log", "n") == su.dump(pg, t + "_ref_log", "n")


@pytest.mark.parametrize("writemode", [0, 1, 2])
def test_bigserial_per_row(pg, make_proxy, writemode):
	t = "rw_ser_w%d" % writemode
	for name in (t, t + "_ref"):
		pg.sql("CREATE TABLE %s (k int PRIMARY KEY, s bigserial, v text)" % name)
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": "upsert", "ackmode": "commit",
		"writemode": writemode, "copystageminrows": 1}}, backend={"connectionmaxactive": 1})
	stmts = ["INSERT INTO {t} (k, v) VALUES (1, 'a'), (1, 'b'), (2, 'c')", "INSERT INTO {t} (k, v) VALUES (1, 'd')",
		"INSERT INTO {t} (v, k) VALUES ('e', 2), ('f', 3)"]
	with su.Session.to(proxy) as s:
		for q, msgs in zip(stmts, s.pipeline([q.format(t=t) for q in stmts])):
			assert msgs == su.insert_reply(q.count("), (") + 1), su.show(msgs)
	rows = []
	for q in stmts:
		head, vals = q.split(" VALUES ")
		for r in vals.split("), ("):
			rows.append(head.format(t=t + "_ref") + " VALUES (" + r.strip("()") +
				") ON CONFLICT (k) DO UPDATE SET s = EXCLUDED.s, v = EXCLUDED.v")
	run_direct(pg, rows)
	assert su.dump(pg, t, "k") == su.dump(pg, t + "_ref", "k")
	assert su.direct(pg, "SELECT last_value FROM %s_s_seq" % t) == su.direct(pg, "SELECT last_value FROM %s_ref_s_seq" % t)


@pytest.mark.parametrize("mode", ["upsert", "update", "ignore"])
@pytest.mark.parametrize("writemode", [0, 1, 2])
def test_default_key(pg, make_proxy, writemode, mode):
	t = "rw_dk_%s_w%d" % (mode, writemode)
	for name in (t, t + "_ref"):
		pg.sql("CREATE TABLE %s (k int PRIMARY KEY DEFAULT 7, v text, w int)" % name)
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": mode, "ackmode": "commit",
		"writemode": writemode, "copystageminrows": 1}}, backend={"connectionmaxactive": 2})
	stmts = ["INSERT INTO {t} (v) VALUES ('a'), ('b')", "INSERT INTO {t} VALUES (DEFAULT, 'c', 3)",
		"INSERT INTO {t} (k, w) VALUES (7, 70), (8, 80)", "INSERT INTO {t} (w, v) VALUES (9, 'd')"]
	clause = {"upsert": " ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v, w = EXCLUDED.w",
		"ignore": " ON CONFLICT (k) DO NOTHING"}
	with su.Session.to(proxy) as through, su.Session.to(pg) as direct:
		for q in stmts:
			head, vals = q.split(" VALUES ")
			cols = head.split("(")[1].rstrip(") ") if "(" in head else "k, v, w"
			written = 0
			for r in vals.split("), ("):
				c = clause.get(mode)
				if mode == "update":
					named = [x.strip() for x in cols.split(",") if x.strip() != "k"]
					c = " ON CONFLICT (k) DO UPDATE SET " + ", ".join("%s = EXCLUDED.%s" % (x, x) for x in named)
				sql = head.format(t=t + "_ref") + " VALUES (" + r.strip("()") + ")" + c
				for ty, p in direct.run(sql):
					if ty == "C":
						written += int(p.rstrip(b"\0").split()[-1])
			assert through.run(q.format(t=t)) == su.insert_reply(written), q
	assert su.dump(pg, t, "k") == su.dump(pg, t + "_ref", "k")


@pytest.mark.parametrize("writemode", [0, 1, 2])
def test_rule_runs(pg, make_proxy, writemode):
	t = "rw_rule_w%d" % writemode
	for name in (t, t + "_ref"):
		pg.sql("CREATE TABLE %s (k int PRIMARY KEY, v text)" % name)
		pg.sql("CREATE TABLE %s_audit (k int, v text)" % name)
		pg.sql("CREATE RULE %s_r AS ON INSERT TO %s DO ALSO INSERT INTO %s_audit VALUES (NEW.k, NEW.v)"
			% (name, name, name))
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": "strict", "ackmode": "commit",
		"writemode": writemode, "copystageminrows": 1}})
	stmts = ["INSERT INTO {t} VALUES (1, 'a'), (2, 'b')", "INSERT INTO {t} VALUES (3, 'c')"]
	with su.Session.to(proxy) as s:
		for q in stmts:
			s.insert(q.format(t=t), q.count("), (") + 1)
	for q in stmts:
		su.direct(pg, q.format(t=t + "_ref"))
	assert su.dump(pg, t, "k") == su.dump(pg, t + "_ref", "k")
	assert su.dump(pg, t + "_audit", "k") == su.dump(pg, t + "_ref_audit", "k")
