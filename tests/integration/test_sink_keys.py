"""Keys and names: composite keys, keys equal by typed value but spelled differently (and distinct ones that look alike: a microsecond apart), tables whose every column is a key column, tables without a key, conflictkey on a unique index, mixed-case / reserved-word / quote-bearing identifiers under casesensitive 0 and 1, a targetschema other than public, and unqualified names resolved by the client's search_path.

Rows are pipelined through one session with ackmode=immediate and adaptiveflush=0
so that each workload lands in few batches: rows with equal keys meet inside one
batch, where the sink must apply them in arrival order (never "ON CONFLICT DO
UPDATE command cannot affect row a second time") exactly as the serial
single-row reference does.
"""

import pytest

import sinkutil as su
import pgwire as w

# copystageminrows 1: writemode 1 takes the COPY-and-stage path however short the batch
BATCHY = {"ackmode": "immediate", "adaptiveflush": 0, "batchsize": 1000, "batchwritetimeoutms": 100,
	"verbose": 1, "copystageminrows": 1}
WRITEMODES = [0, 1, 2]


def check_serial(pg, proxy, table, ref, mode, key, nonkey, stmts, order_by, **session_kw):
	sqls = [su.insert_sql(table, cols, rows) for cols, rows in stmts]
	su.send_all(proxy, sqls, **session_kw)
	su.serial_reference(pg, ref, mode, key, nonkey, stmts)
	assert su.dump(pg, table, order_by) == su.dump(pg, ref, order_by)
	st = su.stats(proxy)
	assert st.intercept["messages"] == len(sqls), st
	assert st.sink["rows_in"] == sum(len(r) for _, r in stmts), st
	assert st.sink["rows_failed"] == 0, st
	return st


# ---------------------------------------------------------------- composite and typed keys

COMPOSITE = "CREATE TABLE {t} (a int, b text, c timestamp, v text, w int DEFAULT 5, PRIMARY KEY (a, b, c))"


@pytest.mark.parametrize("writers", [1, 3])
@pytest.mark.parametrize("writemode", WRITEMODES)
@pytest.mark.parametrize("mode", ["upsert", "update", "ignore"])
def test_composite_key(pg, make_proxy, mode, writemode, writers):
	table = "ck_%s_w%d_%d" % (mode, writemode, writers)
	pg.sql(COMPOSITE.format(t=table))
	pg.sql(COMPOSITE.format(t=table + "_ref"))
	ts = ["'2024-01-01 00:00:00'", "'2024-01-01 00:00:00.000001'", "'2024-01-01 00:00:00.000002'",
		"'2024-01-01T00:00:00'", "'Jan 1 2024 00:00:00.000001'"]
	stmts = []
	n = 0
	for a in (1, 2):
		for b in ("'x'", "'X'", "'x '", "E'x'"):
			for c in ts:
				n += 1
				cols = ["a", "b", "c", "v"] if n % 3 else ["c", "b", "a", "w"]
				vals = {"a": str(a), "b": b, "c": c, "v": "'v%d'" % n, "w": str(n)}
				stmts.append((cols, [[vals[k] for k in cols]]))
	# and a multi-row message whose rows collide with each other
	stmts.append((["a", "b", "c", "v", "w"], [["1", "'x'", ts[0], "'m1'", "1"], ["1", "'x'", ts[3], "'m2'", "DEFAULT"],
		["'1'", "'x'", ts[1], "NULL", "2"]]))
	proxy = su.start_sink_proxy(make_proxy, {table: dict(BATCHY, conflictmode=mode, writemode=writemode)},
		backend={"connectionmaxactive": writers})
	check_serial(pg, proxy, table, table + "_ref", mode, ["a", "b", "c"], ["v", "w"], stmts, "a, b, c")
	# rows of one key met inside a batch: fewer batches than there were keys
	fl = su.flushes(proxy, table=table)
	assert len(fl) < len(stmts) and max(f["rows"] for f in fl) > 1, fl
	# microsecond-distinct timestamps stayed distinct keys
	assert pg.sql("SELECT count(DISTINCT c) FROM %s" % table) == [(3,)]


TYPED_KEYS = [
	# (key type, spellings of ONE key value, a different value that looks alike)
	("numeric", ["1", "1.0", "1.00", "'1e0'", "'0.1E1'"], "'1.000001'"),
	("float8", ["0", "'-0'", "0.0", "'0e5'"], "'1e-300'"),
	("timestamptz", ["'2024-01-01 00:00:00+00'", "'2024-01-01 01:00:00+01'", "'2023-12-31 19:00:00-05'",
		"'2024-01-01 00:00:00.000000Z'"], "'2024-01-01 00:00:00.000001+00'"),
	("timestamp", ["'2024-01-01 00:00:00'", "'2024-01-01T00:00:00.000000'", "'Jan 1 2024'"],
		"'2024-01-01 00:00:00.000001'"),
	("time", ["'12:00'", "'12:00:00.000000'", "'12:00:00'"], "'12:00:00.000001'"),
	("uuid", ["'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'",
		"'{a0eebc999c0b4ef8bb6d6bb9bd380a11}'"], "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12'"),
	("int8", ["10", "'10'", "'  010 '", "'+10'"], "11"),
	("bool", ["TRUE", "'t'", "'yes'", "'on'", "'1'"], "FALSE"),
	("date", ["'2024-02-29'", "'20240229'", "'Feb 29, 2024'"], "'2024-03-01'"),
	("text", ["'abc'", "E'abc'", "$$abc$$", "U&'\\0061bc'"], "'abc '"),
	("bytea", ["'\\x616263'", "'abc'", "'\\x616263'::bytea"], "'\\x61626300'"),
	("interval", ["'1 day'", "'24 hours'", "'P1D'"], "'1 day 00:00:00.000001'"),
	("jsonb", ["'{\"a\":1,\"b\":2}'", "'{\"b\": 2, \"a\": 1}'"], "'{\"a\":1}'"),
]


# One writer: every write path reduces the spellings. Several writers: the rows of
# one key must meet in one writer (the placement of a key is deterministic, two
# counts make it unlikely that a wrong placement passes by luck).
WRITER_CASES = [(wm, 1) for wm in WRITEMODES] + [(1, 5), (1, 7)]


@pytest.mark.parametrize("writemode,writers", WRITER_CASES, ids=["w%d-x%d" % c for c in WRITER_CASES])
@pytest.mark.parametrize("ktype", [k[0] for k in TYPED_KEYS])
def test_keys_compare_by_typed_value(pg, make_proxy, ktype, writemode, writers):
	"""Spellings of one value are one key: reduced in the batch (the first row's key,
	the last row's values) and, with several writers, all sent through one writer,
	so per-key order holds; a value a hair apart is another key."""
	_, same, other = next(k for k in TYPED_KEYS if k[0] == ktype)
	table = "tk_%s_w%d_%d" % (ktype, writemode, writers)
	ddl = "CREATE TABLE {t} (k %s PRIMARY KEY, v int)" % ktype
	pg.sql(ddl.format(t=table))
	pg.sql(ddl.format(t=table + "_ref"))
	stmts = [(["k", "v"], [[s, str(i)]]) for i, s in enumerate(same)]
	stmts.append((["k", "v"], [[other, "100"]]))
	# The last row spells the key differently from the first: the serial reference
	# keeps the key as first inserted (DO UPDATE never changes key columns), so a
	# reduction must keep the first row's key and the last row's other columns.
	stmts.append((["v", "k"], [["200", same[-1]], ["201", same[1]]]))
	# Only the barrier (send_all's SELECT) flushes: one batch per writer.
	opts = dict(BATCHY, conflictmode="upsert", writemode=writemode, batchwritetimeoutms=su.HUGE_TIMEOUT_MS)
	proxy = su.start_sink_proxy(make_proxy, {table: opts}, backend={"connectionmaxactive": writers})
	su.send_all(proxy, [su.insert_sql(table, c, r) for c, r in stmts])
	fl = su.flushes(proxy, table=table)
	per_writer = {}
	for f in fl:
		per_writer[f["writer"]] = per_writer.get(f["writer"], 0) + f["rows"]
	assert sum(per_writer.values()) == len(same) + 3, fl
	assert max(per_writer.values()) >= len(same) + 2, \
		"rows of one key went through several writers (per-key order is lost): %r" % fl
	su.serial_reference(pg, table + "_ref", "upsert", ["k"], ["v"], stmts)
	assert su.dump(pg, table, "v") == su.dump(pg, table + "_ref", "v")
	assert pg.sql("SELECT v FROM %s ORDER BY v" % table) == [(100,), (201,)]


# ---------------------------------------------------------------- all-key and key-less tables

@pytest.mark.parametrize("writemode", WRITEMODES)
@pytest.mark.parametrize("mode", ["upsert", "update", "ignore", "strict"])
def test_all_key_columns(pg, make_proxy, mode, writemode):
	"""Every column is in the key: upsert and update have nothing to set and work as DO NOTHING."""
	table = "ak_%s_w%d" % (mode, writemode)
	ddl = "CREATE TABLE {t} (a int, b text, PRIMARY KEY (a, b))"
	pg.sql(ddl.format(t=table))
	pg.sql(ddl.format(t=table + "_ref"))
	if mode == "strict":   # no conflicts: strict makes them errors
		stmts = [(["a", "b"], [[str(i), "'b%d'" % i]]) for i in range(10)]
		stmts.append((["b", "a"], [["'z'", "100"], ["'y'", "100"]]))
	else:
		stmts = [(["a", "b"], [[str(i % 3), "'b%d'" % (i % 2)]]) for i in range(10)]
		stmts.append((["b", "a"], [["'b0'", "0"], ["'b9'", "9"], ["'b9'", "'9'"]]))
	proxy = su.start_sink_proxy(make_proxy, {table: dict(BATCHY, conflictmode=mode, writemode=writemode)})
	check_serial(pg, proxy, table, table + "_ref", mode, ["a", "b"], [], stmts, "a, b")


@pytest.mark.parametrize("writemode", WRITEMODES)
@pytest.mark.parametrize("mode", ["upsert", "update", "ignore", "strict"])
def test_no_key_table_is_append_only(pg, make_proxy, mode, writemode):
	"""No primary key and no conflictkey: every row is appended, duplicates too, whatever the conflictmode."""
	table = "nk_%s_w%d" % (mode, writemode)
	pg.sql("CREATE TABLE %s (a int, b text DEFAULT 'd', c int)" % table)
	stmts = [(["a", "b"], [["1", "'same'"]])] * 5
	stmts += [(["c", "a"], [["7", "1"], ["7", "1"], ["NULL", "NULL"]]), (["a", "b", "c"], [["1", "DEFAULT", "2"]])]
	proxy = su.start_sink_proxy(make_proxy, {table: dict(BATCHY, conflictmode=mode, writemode=writemode)})
	su.send_all(proxy, [su.insert_sql(table, c, r) for c, r in stmts])
	assert pg.sql("SELECT a, b, c, count(*) FROM %s GROUP BY 1, 2, 3 ORDER BY 1, 2, 3" % table) == [
		(1, "d", 2, 1), (1, "d", 7, 2), (1, "same", None, 5), (None, "d", None, 1)]


# ---------------------------------------------------------------- conflictkey

@pytest.mark.parametrize("writemode", WRITEMODES)
@pytest.mark.parametrize("mode", ["upsert", "update", "ignore"])
def test_conflictkey_on_unique_index(pg, make_proxy, mode, writemode):
	"""A table without a primary key, conflictkey naming the columns of a unique index."""
	table = "cku_%s_w%d" % (mode, writemode)
	ddl = ("CREATE TABLE {t} (id bigint, tenant int NOT NULL, email text NOT NULL, "
		"v int, note text DEFAULT 'n'); CREATE UNIQUE INDEX ON {t} (tenant, email)")
	for t in (table, table + "_ref"):
		for part in ddl.format(t=t).split("; "):
			pg.sql(part)
	stmts = []
	for i in range(24):
		cols = ["id", "tenant", "email", "v"] if i % 4 else ["id", "email", "tenant", "note"]
		vals = {"id": str(i), "tenant": str(i % 2), "email": "'u%d@x'" % (i % 5), "v": str(i), "note": "'n%d'" % i}
		stmts.append((cols, [[vals[c] for c in cols]]))
	proxy = su.start_sink_proxy(make_proxy, {table: dict(BATCHY, conflictmode=mode, writemode=writemode,
		conflictkey="tenant,email")})
	check_serial(pg, proxy, table, table + "_ref", mode, ["tenant", "email"], ["id", "v", "note"], stmts,
		"tenant, email")
	assert su.count(pg, table) == 10


# ---------------------------------------------------------------- identifiers

@pytest.mark.parametrize("writemode", WRITEMODES)
def test_reserved_and_mixed_case_names_casesensitive0(pg, make_proxy, writemode):
	"""casesensitive = 0: unquoted names fold to lower case, quoted ones keep their case;
	reserved words and embedded quotes work because generated SQL quotes everything."""
	schema = "cs0_w%d" % writemode
	pg.sql('CREATE SCHEMA %s' % schema)
	pg.sql('CREATE TABLE %s."order" ("select" int PRIMARY KEY, "from" text, "MiXeD" text, "we""ird" int, '
		'"user" text DEFAULT current_user)' % schema)
	pg.sql('CREATE TABLE %s."order_ref" (LIKE %s."order" INCLUDING ALL)' % (schema, schema))
	proxy = su.start_sink_proxy(make_proxy, {"ORDER": dict(BATCHY, targetschema=schema.upper(), casesensitive=0,
		conflictmode="upsert", writemode=writemode)})
	cols = ['"select"', '"from"', '"MiXeD"', '"we""ird"']
	stmts = [(cols, [["1", "'f1'", "'m1'", "1"]]),
		(['"select"', '"MiXeD"'], [["2", "'m2'"]]),
		(cols, [["1", "'f1b'", "NULL", "2"], ["3", "'f3'", "'m3'", "3"]]),
		(['"select"', '"user"'], [["4", "'u4'"]])]
	sqls = ['INSERT INTO %s."order" ("select", "from", "MiXeD", "we""ird") VALUES (1, \'f1\', \'m1\', 1)' % schema,
		'insert into %s."order" ("select", "MiXeD") values (2, \'m2\')' % schema.upper(),
		'INSERT INTO %s."ORDER" ("select", "from", "MiXeD", "we""ird") VALUES (1, \'f1b\', NULL, 2), (3, \'f3\', \'m3\', 3)' % schema,
		'INSERT INTO "%s"."order" ("select", "user") VALUES (4, \'u4\')' % schema]
	# sqls[2] names "ORDER" quoted: a different (nonexistent) table, directly and through the proxy
	with su.Session.to(proxy) as s:
		for i, sql in enumerate(sqls):
			msgs = s.run(sql)
			if i == 2:
				err = su.error_of(msgs)
				assert err and err["C"] == "42P01", su.show(msgs)
			else:
				assert msgs == su.insert_reply(1), "%s\n%s" % (sql, su.show(msgs))
		s.ok("SELECT 1")
	del stmts[2]
	su.serial_reference(pg, '%s."order_ref"' % schema, "upsert", ['"select"'],
		['"from"', '"MiXeD"', '"we""ird"', '"user"'], stmts)
	assert su.dump(pg, '%s."order"' % schema, '"select"') == su.dump(pg, '%s."order_ref"' % schema, '"select"')
	assert su.count(pg, '%s."order"' % schema) == 3


@pytest.mark.parametrize("writemode", WRITEMODES)
def test_mixed_case_names_casesensitive1(pg, make_proxy, writemode):
	"""casesensitive = 1: the section's names are used exactly as written; a
	statement's names read as PostgreSQL reads them (issue 17): an unquoted
	MiXeD is mixed, which does not exist, as directly."""
	schema = "Cs1_W%d" % writemode
	pg.sql('CREATE SCHEMA "%s"' % schema)
	pg.sql('CREATE TABLE "%s"."MiXeD" ("Id" int PRIMARY KEY, "Val" text, "select" text, "lower" int)' % schema)
	proxy = su.start_sink_proxy(make_proxy, {"MiXeD": dict(BATCHY, targetschema=schema, casesensitive=1,
		conflictmode="upsert", writemode=writemode)})
	with su.Session.to(proxy) as s:
		s.insert('INSERT INTO "%s"."MiXeD" ("Id", "Val", "select", "lower") VALUES (1, \'a\', \'s\', 1)' % schema, 1)
		s.insert('INSERT INTO "%s"."MiXeD" ("Id", "Val") VALUES (2, \'b\'), (1, \'a2\')' % schema, 2)
		s.insert('INSERT INTO "%s"."MiXeD" ("Id", lower) VALUES (3, 3)' % schema, 1)
		got = s.run('INSERT INTO "%s".MiXeD ("Id") VALUES (4)' % schema)
		assert got[0][0] == "E" and w.fields(got[0][1])["C"] == "42P01", su.show(got)
		got = s.run('INSERT INTO "%s"."MiXeD" (Id) VALUES (5)' % schema)
		assert got[0][0] == "E" and w.fields(got[0][1])["C"] == "42703", su.show(got)
		s.ok("SELECT 1")
	assert pg.sql('SELECT * FROM "%s"."MiXeD" ORDER BY 1' % schema) == [(1, "a2", None, None), (2, "b", None, None),
		(3, None, None, 3)]


# ---------------------------------------------------------------- schemas

@pytest.mark.parametrize("writemode", WRITEMODES)
def test_targetschema(pg, make_proxy, writemode):
	schema = "etl_w%d" % writemode
	pg.sql("CREATE SCHEMA %s" % schema)
	pg.sql("CREATE TABLE %s.events (id int PRIMARY KEY, v text)" % schema)
	proxy = su.start_sink_proxy(make_proxy, {"events": dict(BATCHY, targetschema=schema, writemode=writemode)})
	su.send_all(proxy, ["INSERT INTO %s.events VALUES (1, 'a'), (2, 'b')" % schema,
		"INSERT INTO %s.EVENTS (v, id) VALUES ('c', 1)" % schema.upper()])
	assert pg.sql("SELECT * FROM %s.events ORDER BY id" % schema) == [(1, "c"), (2, "b")]
	st = su.stats(proxy)
	assert st.sink["rows_in"] == 3, st


def test_unqualified_name_follows_search_path(pg, make_proxy):
	"""An INSERT without a schema means what the client's search_path says, as it
	does directly: pgbatchd must not redirect it into its configured schema."""
	pg.sql("CREATE SCHEMA sp")
	pg.sql("CREATE TABLE sp.items (id int PRIMARY KEY, v text)")
	pg.sql("CREATE TABLE public.items (id int PRIMARY KEY, v text)")
	proxy = su.start_sink_proxy(make_proxy, {"items": dict(BATCHY, targetschema="sp")})
	# default search_path ("$user", public): directly this is public.items
	with su.Session.to(proxy) as s:
		s.insert("INSERT INTO items VALUES (1, 'public by search_path')", 1)
		s.ok("SELECT 1")
	# search_path = sp: directly this is sp.items
	with su.Session.to(proxy, params={"search_path": "sp"}) as s:
		s.insert("INSERT INTO items VALUES (2, 'sp by search_path')", 1)
		s.ok("SELECT 1")
	with su.Session.to(proxy) as s:
		s.ok("SET search_path = sp, public")
		s.insert("INSERT INTO items VALUES (3, 'sp by SET')", 1)
		s.ok("SELECT 1")
	assert pg.sql("SELECT id FROM public.items ORDER BY id") == [(1,)]
	assert pg.sql("SELECT id FROM sp.items ORDER BY id") == [(2,), (3,)]
