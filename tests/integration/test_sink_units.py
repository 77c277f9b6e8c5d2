"""Units: the rows of one client statement are written all together or (exceptionmode=ignore) all but the rejected ones, and each client hears the truth about its own rows.

test_bad_rows_in_a_shared_batch: eight clients' statements share one batch
(a held lock queues them behind a blocker on the only writer); four of them
carry one bad row beside a good one: a type error (22P02), a CHECK violation
(23514), a foreign key violation (23503), a duplicate key in conflictmode
strict (23505). For each exceptionmode x ackmode x writemode:
  strict: nothing of a bad statement is written; ackmode=commit: its client
    gets that row's error; immediate: every row of it is logged as not written;
  ignore: the good row is written; ackmode=commit: its client gets
    `INSERT 0 1` after a WARNING with the SQLSTATE; immediate: the bad row is logged;
  either way the good statements' rows are written and their clients hear
  `INSERT 0 n`.

test_error_fields_as_direct / test_ignore_counts_as_direct compare the reply
bytes with PostgreSQL's own for the same statement.
"""

import pytest

import harness
import sinkutil as su

DDL_PARENT = "CREATE TABLE {t}_parent (id int PRIMARY KEY)"
DDL = ("CREATE TABLE {t} (k int PRIMARY KEY, v int CHECK (v >= 0), p int REFERENCES {t}_parent (id), "
	"s text)")

# (name, rows as SQL, SQLSTATE of the bad row or None); the blocker's key is 0
UNITS = [
	("good1", ["(1, 1, NULL, 'g1')", "(2, 2, 1, 'g1b')"], None),
	("type", ["(10, 10, NULL, 'ok')", "(11, 'x', NULL, 'bad')"], "22P02"),
	("good2", ["(20, 20, NULL, 'g2')"], None),
	("check", ["(30, 30, NULL, 'ok')", "(31, -1, NULL, 'bad')"], "23514"),
	("fk", ["(40, 40, NULL, 'ok')", "(41, 41, 999, 'bad')"], "23503"),
	("dup", ["(50, 50, NULL, 'ok')", "(0, 5, NULL, 'dup')"], "23505"),
	("good3", ["(60, 60, 1, 'g3')"], None),
]
CASES = [(e, a, wm) for e in ("strict", "ignore") for a in ("commit", "immediate") for wm in (0, 1, 2)]


@pytest.mark.parametrize("exc,ack,writemode", CASES, ids=["%s-%s-w%d" % c for c in CASES])
def test_bad_rows_in_a_shared_batch(pg, make_proxy, exc, ack, writemode):
	t = "un_%s_%s_w%d" % (exc, ack, writemode)
	pg.sql(DDL_PARENT.format(t=t))
	pg.sql(DDL.format(t=t))
	pg.sql("INSERT INTO %s_parent VALUES (1)" % t)
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": "strict", "exceptionmode": exc,
		"ackmode": ack, "writemode": writemode, "copystageminrows": 1, "verbose": 1, "directwrite": 0,
		"batchsize": 1000, "batchwritetimeoutms": su.HUGE_TIMEOUT_MS, "adaptiveflush": 1}},
		backend={"connectionmaxactive": 1})
	with su.Session.to(proxy) as s:
		s.insert("INSERT INTO %s VALUES (-1, 0, NULL, 'catalog')" % t, 1)   # the catalog, loaded
	# (acknowledged at once: written before the lock is taken, so that the
	# blocker's is the batch it holds)
	harness.wait_for(lambda: su.direct(pg, "SELECT count(*) FROM %s WHERE k = -1" % t)[0][0] == 1,
		what="the catalog row written")
	sessions = [su.Session.to(proxy) for _ in UNITS]
	sqls = ["INSERT INTO %s VALUES %s" % (t, ", ".join(rows)) for _, rows, _ in UNITS]
	acks = {}

	def send():
		for i, (s, sql) in enumerate(zip(sessions, sqls)):
			if ack == "immediate":
				acks[i] = s.run(sql)
			else:
				s.send(su.w.msg("Q", sql.encode() + b"\0"))

	blocker = su.one_batch(pg, proxy, t, "INSERT INTO %s VALUES (0, 0, NULL, 'blocker')" % t, send,
		sum(len(rows) for _, rows, _ in UNITS))
	assert blocker.read_until("Z") == su.insert_reply(1)
	blocker.close()
	replies = acks if ack == "immediate" else {i: s.read_until("Z") for i, s in enumerate(sessions)}
	for s in sessions:
		s.close()
	# the statements met in one batch (immediate: wait for it to be written)
	fl = su.wait_flushes(proxy, lambda fl: any(f["units"] == len(UNITS) for f in fl), table=t)
	st = su.stats(proxy)

	present = {r[0]: r for r in su.direct(pg, "SELECT k, v, p, s FROM %s" % t)}
	logged = [l for l in proxy.log().splitlines() if "row not written" in l]
	for i, (name, rows, bad) in enumerate(UNITS):
		keys = [int(r[1:].split(",")[0]) for r in rows]
		msgs = replies[i]
		if bad is None:
			assert msgs == su.insert_reply(len(rows)), "%s: %s" % (name, su.show(msgs))
			assert all(k in present for k in keys), name
			continue
		good_key, bad_key = keys
		assert bad_key not in present or name == "dup", name
		if name == "dup":
			assert present[0][3] == "blocker"   # the row already there is untouched
		if ack == "immediate":
			assert msgs == su.insert_reply(len(rows)), "%s: %s" % (name, su.show(msgs))
		if exc == "strict":
			assert good_key not in present, "%s: a row of a rejected statement was written" % name
			if ack == "commit":
				err = su.error_of(msgs)
				assert err and err["C"] == bad and err["S"] == "ERROR" and msgs[-1] == su.READY_IDLE, \
					"%s: %s" % (name, su.show(msgs))
				assert len(msgs) == 2
			else:
				mine = [l for l in logged if "sqlstate=%s" % bad in l]
				assert len(mine) == 2, "%s: %r" % (name, mine)
		else:
			assert good_key in present, "%s: its good row is missing" % name
			if ack == "commit":
				notices = [su.w.fields(p) for ty, p in msgs if ty == "N"]
				assert len(notices) == 1 and notices[0]["C"] == bad and notices[0]["S"] == "WARNING", \
					"%s: %s" % (name, su.show(msgs))
				assert "1 row of this INSERT was rejected" in notices[0]["M"], notices[0]
				assert su.tags_of(msgs) == ["INSERT 0 1"] and msgs[-1] == su.READY_IDLE, su.show(msgs)
			else:
				mine = [l for l in logged if "sqlstate=%s" % bad in l]
				assert len(mine) == 1, "%s: %r" % (name, mine)
	# the bad rows of the batch were isolated
	assert st.sink["isolations"] >= 1, (st, fl)
	nbad = sum(1 for _, _, b in UNITS if b)
	assert st.sink["units_rejected"] == (nbad if exc == "strict" else 0), st


# ---------------------------------------------------------------- as PostgreSQL says it

FIELDS_DDL = ("CREATE TABLE {t} (k int PRIMARY KEY, v int CONSTRAINT v_positive CHECK (v > 0), "
	"p int CONSTRAINT p_parent REFERENCES {t}_parent (id), u text NOT NULL DEFAULT 'x')")


@pytest.mark.parametrize("writemode", [0, 1, 2])
def test_error_fields_as_direct(pg, make_proxy, writemode):
	"""A CHECK, a foreign key, a unique and a NOT NULL violation: the
	ErrorResponse through pgbatchd has every field PostgreSQL's own has,
	byte for byte (schema, table, column, constraint, detail, source location)."""
	t = "ef_w%d" % writemode
	for name in (t, t + "_ref"):
		pg.sql("CREATE TABLE %s_parent (id int PRIMARY KEY)" % name)
		pg.sql(FIELDS_DDL.format(t=name))
		pg.sql("INSERT INTO %s_parent VALUES (1)" % name)
		pg.sql("INSERT INTO %s VALUES (1, 1, 1, 'first')" % name)
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": "strict", "exceptionmode": "strict",
		"ackmode": "commit", "writemode": writemode}})
	bad = ["VALUES (2, -5, NULL, 'a')", "VALUES (3, 3, 42, 'b')", "VALUES (1, 7, NULL, 'c')",
		"(k, v, u) VALUES (4, 4, NULL)", "VALUES (5, 5, NULL, 'd'), (6, 0, NULL, 'e')"]
	with su.Session.to(proxy) as through, su.Session.to(pg) as direct:
		for tail in bad:
			got = through.run("INSERT INTO %s %s" % (t, tail))
			want = direct.run("INSERT INTO %s_ref %s" % (t, tail))
			assert su.error_of(want) is not None
			# the table name differs: compare with it swapped
			assert [(ty, p.replace(t.encode() + b"_ref", t.encode())) for ty, p in want] == got, \
				"%s\nthrough pgbatchd:\n%s\ndirect:\n%s" % (tail, su.show(got), su.show(want))
	assert su.dump(pg, t, "k") == su.dump(pg, t + "_ref", "k")


@pytest.mark.parametrize("writemode", [0, 1, 2])
def test_ignore_counts_as_direct(pg, make_proxy, writemode):
	"""conflictmode=ignore, ackmode=commit: `INSERT 0 <rows written>`, as
	INSERT ... ON CONFLICT DO NOTHING answers directly."""
	t = "ic_w%d" % writemode
	for name in (t, t + "_ref"):
		pg.sql("CREATE TABLE %s (k int PRIMARY KEY, v text)" % name)
		pg.sql("INSERT INTO %s VALUES (1, 'old'), (3, 'old')" % name)
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": "ignore", "ackmode": "commit",
		"writemode": writemode, "copystageminrows": 1}})
	stmts = ["VALUES (1, 'a')", "VALUES (2, 'b')", "VALUES (1, 'c'), (2, 'd'), (3, 'e'), (4, 'f')",
		"VALUES (5, 'g'), (6, 'h'), (7, 'i')"]
	with su.Session.to(proxy) as through, su.Session.to(pg) as direct:
		for tail in stmts:
			got = through.run("INSERT INTO %s %s" % (t, tail))
			want = direct.run("INSERT INTO %s_ref %s ON CONFLICT (k) DO NOTHING" % (t, tail))
			assert got == want, "%s\n%s\n%s" % (tail, su.show(got), su.show(want))
		# several clients' statements in one batch: each hears its own count
		sqls = ["INSERT INTO %s VALUES (%d, 'x')" % (t, k) for k in (1, 8, 9, 3, 8)]
		for sql, msgs in zip(sqls, through.pipeline(sqls)):
			want = direct.run(sql.replace(t, t + "_ref") + " ON CONFLICT (k) DO NOTHING")
			assert msgs == want, "%s\n%s" % (sql, su.show(msgs))
	assert su.dump(pg, t, "k") == su.dump(pg, t + "_ref", "k")
