"""INSERTs the proxy cannot carry pass through and behave exactly as directly (same replies, RETURNING rows included, same table contents), each counted under its reason; INSERTs into unconfigured tables are not counted; and read-your-writes: a session's SELECT sees every row it had acknowledged with ackmode=immediate."""

import struct

import pytest

import sinkutil as su

SCHEMA = [
	"CREATE SEQUENCE pt_seq START 100",
	"CREATE SEQUENCE pt_kseq START 1000",
	"CREATE TABLE pt (k int PRIMARY KEY DEFAULT nextval('pt_kseq'), v int, s text DEFAULT 'dflt', ts timestamptz)",
	"CREATE TABLE other (k int PRIMARY KEY, s text)",
]

# (statement, how the proxy treats it): a reason name from the intercept stats
# line, "ok" (intercepted), "sink:<key>" (the sink hands it back: counted as
# `sink` and as passthrough_<key>), or None (not a configured table: not counted).
CASES = [
	("INSERT INTO pt VALUES (1, 1+1, 'a')", "expression"),
	("INSERT INTO pt (k, v, ts) VALUES (2, 2, now())", "expression"),
	("INSERT INTO pt (k, v) VALUES (nextval('pt_seq'), 3)", "expression"),
	("INSERT INTO pt (k, v) VALUES (4, (SELECT 44))", "expression"),
	("INSERT INTO pt (k, v) VALUES (5, 2 * 3)", "expression"),
	("INSERT INTO pt (k, s) VALUES (6, lower('ABC'))", "expression"),
	("INSERT INTO pt (k, s) VALUES (7, 'r'), (8, 's') RETURNING k, s, v", "returning"),
	("INSERT INTO pt VALUES (1, 9, 'dup') ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v", "on_conflict"),
	("INSERT INTO pt VALUES (1, 10) ON CONFLICT DO NOTHING", "on_conflict"),
	("WITH x AS (SELECT 11 AS k) INSERT INTO pt (k) SELECT k FROM x", "with"),
	("INSERT INTO pt (k, v) SELECT g, g FROM generate_series(12, 14) g", "select"),
	("INSERT INTO pt DEFAULT VALUES", "select"),
	("INSERT INTO pt (k, v) VALUES (15, 15); INSERT INTO pt (k, v) VALUES (16, 16)", "multi_stmt"),
	("INSERT INTO pt (k, v) VALUES (17, 17); SELECT count(*) FROM pt", "multi_stmt"),
	("INSERT INTO pt (k, v) OVERRIDING USER VALUE VALUES (18, 18)", "overriding"),
	("INSERT INTO pt AS p (k, v) VALUES (19, 19)", "shape"),
	("INSERT INTO pt (k, v) VALUES (20, 20), (21)", "shape"),
	("INSERT INTO pt (k, v) VALUES (22, ", "syntax"),
	("INSERT INTO pt (k, v) VALUES (23, 23) RETURNING *", "returning"),
	("INSERT INTO pt (k, nosuch) VALUES (24, 24)", "sink:unknown_column"),
	("INSERT INTO pt (k, k) VALUES (25, 25)", "shape"),
	("INSERT INTO pt VALUES (26, 26, 'x', '2024-01-01', 5)", "sink:too_many_values"),
	("INSERT INTO other VALUES (1, 'x')", None),
	("INSERT INTO other VALUES (2, 'y'), (3, 'z')", None),
	("INSERT INTO public.other VALUES (4, 'w')", None),
	("/* lead */ INSERT INTO pt (k, v) VALUES (27, 27) -- tail", "ok"),
	("INSERT INTO pt (k, v) VALUES (28, 28);", "ok"),
	("  insert\ninto\tPT(k,v)values(29,29)", "ok"),
	("BEGIN", None),
	("INSERT INTO pt (k, v) VALUES (30, 30)", "tx"),         # staged, written into it before COMMIT
	("INSERT INTO pt (k, v) VALUES (31, 31), (32, 32)", "tx"),
	("COMMIT", None),
	("BEGIN", None),
	("INSERT INTO pt (k, v) VALUES (33, 33)", "staged"),     # staged, dropped by ROLLBACK
	("ROLLBACK", None),
	("INSERT INTO pt (k, v) VALUES (34, 34)", "ok"),
	("SELECT k, v, s, ts IS NOT NULL FROM pt ORDER BY k", None),
]


def row_description(p):
	n = struct.unpack_from("!H", p, 0)[0]
	off, out = 2, []
	for _ in range(n):
		end = p.index(b"\0", off)
		name = p[off:end].decode()
		typ = struct.unpack_from("!I", p, end + 7)[0]
		out.append((name, typ))
		off = end + 19
	return out


def summary(msgs):
	"""The reply with what differs between two databases (table OIDs) left out."""
	out = []
	for t, p in msgs:
		if t == "T":
			out.append(("T", row_description(p)))
		elif t == "D":
			out.append(("D", su.w.datarow(p)))
		elif t in ("E", "N"):
			f = su.w.fields(p)
			out.append((t, f.get("S"), f.get("C"), f.get("M"), f.get("D")))
		else:
			out.append((t, p))
	return out


def test_passthrough_forms_behave_as_direct_and_are_counted(pg, make_proxy):
	pg.create_database("ptref")
	for ddl in SCHEMA:
		pg.sql(ddl)
		pg.sql(ddl, dbname="ptref")
	proxy = su.start_sink_proxy(make_proxy, {"pt": {"verbose": 1}})
	with su.Session.to(proxy) as s, su.Session.to(pg, database="ptref") as d:
		for sql, how in CASES:
			want, got = summary(d.run(sql)), summary(s.run(sql))
			assert got == want, "%s\n direct: %r\n proxy:  %r" % (sql, want, got)
	cols = "k, v, s, ts IS NOT NULL"
	assert pg.sql("SELECT %s FROM pt ORDER BY k" % cols) == pg.sql("SELECT %s FROM pt ORDER BY k" % cols,
		dbname="ptref")
	assert pg.sql("SELECT * FROM other ORDER BY k") == pg.sql("SELECT * FROM other ORDER BY k", dbname="ptref")

	st = su.stats(proxy)
	want = {}
	for _, how in CASES:
		if how and how not in ("ok", "staged", "tx"):
			key = "sink" if how.startswith("sink:") else how
			want[key] = want.get(key, 0) + 1
	got = st.passthrough()
	for reason in set(want) | set(got):
		assert got.get(reason, 0) == want.get(reason, 0), "%s: %r\n%r" % (reason, got, st)
	sink_cases = [how for _, how in CASES if how and how.startswith("sink:")]
	for how in sink_cases:
		key = "passthrough_" + how[5:]
		assert st.sink.get(key) == sink_cases.count(how), (key, st)
	n_ok = sum(1 for _, how in CASES if how == "ok")
	n_staged = sum(1 for _, how in CASES if how in ("staged", "tx"))
	rows_ok = sum(sql.count("), (") + 1 for sql, how in CASES if how == "ok")
	rows_tx = sum(sql.count("), (") + 1 for sql, how in CASES if how == "tx")
	# taken from the stream: the ones written by the sink, the ones it handed
	# back, the ones written into their transaction and the one a ROLLBACK dropped
	assert st.intercept["messages"] == n_ok + len(sink_cases) + n_staged, st
	assert st.sink["rows_written"] == rows_ok and st.sink["tx_rows"] == rows_tx, st
	assert st.sink["rows_in"] == rows_ok + rows_tx, st


@pytest.mark.parametrize("writemode", [0, 1, 2])
def test_read_your_writes_after_immediate_acks(pg, make_proxy, writemode):
	"""ackmode=immediate, nothing but the barrier can flush (adaptiveflush 0, huge size
	and timeout): the session's next statement sees every row it sent."""
	table = "ryw_w%d" % writemode
	pg.sql("CREATE TABLE %s (k int PRIMARY KEY, v text)" % table)
	proxy = su.start_sink_proxy(make_proxy, {table: {"ackmode": "immediate", "adaptiveflush": 0,
		"batchsize": su.HUGE_BATCH, "batchwritetimeoutms": su.HUGE_TIMEOUT_MS, "writemode": writemode}},
		backend={"connectionmaxactive": 3})
	with su.Session.to(proxy) as s, su.Session.to(proxy) as other:
		for i in range(0, 60, 3):
			s.insert(su.insert_sql(table, None, [[str(j), "'v%d'" % j] for j in range(i, i + 3)]), 3)
		# another session's rows are not its concern: it does not wait for them
		assert other.rows("SELECT count(*) FROM %s" % table) == [["0"]]
		assert s.rows("SELECT count(*), sum(k) FROM %s" % table) == [["60", str(sum(range(60)))]]
		# and again, after more rows: also a non-SELECT statement waits
		s.insert("INSERT INTO %s VALUES (100, 'x')" % table, 1)
		s.ok("UPDATE %s SET v = 'updated' WHERE k = 100" % table)
	assert pg.sql("SELECT v FROM %s WHERE k = 100" % table) == [("updated",)]
	assert su.count(pg, table) == 61


NEAR_CONSTANTS = ["-(5)", "-(-5)", "- 5", "+5", "(5)", "((5))", "-(5.0)", "- -5", "-0", "-0.0", "-(0)", "+-5",
	"-'5'", "'5'::int", "-'5'::int", "(-5)::text", "-5::text", "5::text", "-(5)::text", "'5' || '6'", "-1e3",
	"1e3::int", "(NULL)", "-NULL", "(TRUE)", "NOT TRUE", "-.5", "- .5", "0.5::numeric(3,0)", "$$5$$", "U&'5'"]


@pytest.mark.parametrize("column", ["v", "s", "n", "f"])
def test_near_constants_same_as_direct(pg, make_proxy, column):
	"""Values that are almost constants (signs, parentheses, casts, operators): whether
	the proxy carries them or passes them through, the reply and the stored value
	are what the database gives directly."""
	t = "nc_" + column
	ddl = "CREATE TABLE {t} (k int PRIMARY KEY, v int, s text, n numeric, f float8)"
	pg.sql(ddl.format(t=t))
	pg.sql(ddl.format(t=t + "_ref"))
	proxy = su.start_sink_proxy(make_proxy, {t: {}})
	with su.Session.to(proxy) as s, su.Session.to(pg) as d:
		for i, expr in enumerate(NEAR_CONSTANTS):
			want = summary(d.run("INSERT INTO %s_ref (k, %s) VALUES (%d, %s)" % (t, column, i, expr)))
			got = summary(s.run("INSERT INTO %s (k, %s) VALUES (%d, %s)" % (t, column, i, expr)))
			if want[0][0] == "E" and got[0][0] == "E":
				want, got = want[0][2], got[0][2]    # the same SQLSTATE (a COPY's message may differ)
			assert got == want, "%s into %s\n direct: %r\n proxy:  %r" % (expr, column, want, got)
	assert su.dump(pg, t, "k") == su.dump(pg, t + "_ref", "k")
