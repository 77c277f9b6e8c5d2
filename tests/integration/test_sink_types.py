"""Value round trips: every common type, in every literal spelling, intercepted and written by each writemode, must land exactly as the same INSERT run directly; errors the database raises for a value must reach the client as they would directly; the client's session settings (TimeZone, DateStyle, client_encoding, standard_conforming_strings) must mean what they mean directly."""

import pytest

import sinkutil as su

DDL = """CREATE TABLE {t} (
	id int PRIMARY KEY,
	i2 int2, i4 int4, i8 int8, n numeric, n2 numeric(10,2), f4 float4, f8 float8, bo bool,
	tx text, vc varchar(10), ch char(5), by bytea, da date, ti time, ts timestamp, tz timestamptz,
	uu uuid, js json, jb jsonb, ia int[], ta text[], iv interval)"""

# (column, literal as written in the INSERT). Each becomes one row: (id, column).
VALUES = [
	("i2", "0"), ("i2", "-32768"), ("i2", "32767"), ("i2", "'  12  '"), ("i2", "NULL"),
	("i4", "-2147483648"), ("i4", "2147483647"), ("i4", "'-7'"), ("i4", "007"), ("i4", "1.5"),
	("i4", "2.5"), ("i4", "-2.5"), ("i4", "1e3"),
	("i8", "9223372036854775807"), ("i8", "-9223372036854775808"), ("i8", "'42'"), ("i8", "4.4"),
	("n", "0"), ("n", "1.50"), ("n", "-0.000000000000000000001"), ("n", "1e-5"), ("n", "'NaN'"),
	("n", "123456789012345678901234567890.123456789012345678901234567890"), ("n", ".5"), ("n", "5."),
	("n", "'Infinity'"), ("n", "'-1.2E+3'"),
	("n2", "1.005"), ("n2", "'2.345'"), ("n2", "-99999999.99"),
	("f4", "0.1"), ("f4", "'NaN'"), ("f4", "'Infinity'"), ("f4", "'-Infinity'"), ("f4", "'-0'"),
	("f4", "3.4028235e38"), ("f4", "1.17549435e-38"), ("f4", "16777217"),
	("f8", "0.1"), ("f8", "'NaN'"), ("f8", "'infinity'"), ("f8", "'-Infinity'"), ("f8", "'-0'"), ("f8", "-0"),
	("f8", "-0.0"), ("f8", "1.7976931348623157e308"), ("f8", "4.9e-324"), ("f8", "9007199254740993"),
	("f8", "'1e-320'"), ("f8", "123456789.123456789"),
	("bo", "TRUE"), ("bo", "FALSE"), ("bo", "true"), ("bo", "'t'"), ("bo", "'yes'"), ("bo", "'off'"),
	("bo", "'1'"), ("bo", "' false '"), ("bo", "NULL"),
	("tx", "''"), ("tx", "'null'"), ("tx", "'NULL'"), ("tx", "'\\N'"), ("tx", "'\\.'"), ("tx", "E'tab\\there'"),
	("tx", "E'nl\\nand\\rcr'"), ("tx", "'back\\slash'"), ("tx", "'it''s'"), ("tx", "'\"dq\"'"),
	("tx", "$$dollar 'q' \\ $$"), ("tx", "$tag$a$$b$tag$"), ("tx", "U&'d\\0061t\\+01F600'"),
	("tx", "U&'!0041' UESCAPE '!'"), ("tx", "'unicode é ✓ 😀'"), ("tx", "'{1,2}'"), ("tx", "'(a,b)'"),
	("tx", "'a'\n'continued'"), ("tx", "E'\\x41\\101\\u00e9'"),
	("tx", "42"), ("tx", "007"), ("tx", "-0"), ("tx", ".5"), ("tx", "5."), ("tx", "1e3"), ("tx", "1.50"),
	("tx", "TRUE"), ("tx", "false"),
	("vc", "'0123456789'"), ("vc", "'trailing  '"), ("vc", "12345"),
	("ch", "'ab'"), ("ch", "'abcde'"), ("ch", "''"), ("ch", "'a    '"),
	("by", "'\\x'"), ("by", "'\\x0001ff'"), ("by", "'\\xDEADbeef'"), ("by", "E'\\\\x5c00'"),
	("by", "'a\\000b'"), ("by", "'plain'"), ("by", "'\\\\'"), ("by", "'tab\there'"),
	("da", "'2024-02-29'"), ("da", "'infinity'"), ("da", "'-infinity'"), ("da", "'0001-01-01 BC'"),
	("da", "'5874897-12-31'"), ("da", "'20240102'"), ("da", "'Jan 3, 2024'"),
	("ti", "'00:00'"), ("ti", "'23:59:59.999999'"), ("ti", "'24:00:00'"), ("ti", "'12:34:56.7891234'"),
	("ts", "'2024-01-01 12:34:56.123456'"), ("ts", "'2024-01-01 12:34:56.1234567'"), ("ts", "'infinity'"),
	("ts", "'1999-12-31T23:59:59'"), ("ts", "'epoch'"), ("ts", "'2000-01-01 00:00:00+05'"),
	("tz", "'2024-06-01 12:00:00+02'"), ("tz", "'2024-06-01 12:00:00'"), ("tz", "'2024-06-01 12:00 America/New_York'"),
	("tz", "'-infinity'"), ("tz", "'2024-06-01 12:00:00.000001Z'"),
	("uu", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"), ("uu", "'A0EEBC999C0B4EF8BB6D6BB9BD380A11'"),
	("uu", "'{a0eebc99-9c0b4ef8-bb6d6bb9-bd380a11}'"),
	("js", "'{\"b\": 1,  \"a\": [1, 2.50, null]}'"), ("js", "'\"str\\u00e9\"'"), ("js", "'null'"),
	("js", "'{\"k\":\"tab\\tnl\\n\"}'"), ("js", "E'{\"e\": \"tab\\\\there\"}'"),
	("jb", "'{\"b\": 1,  \"a\": [1, 2.50, null], \"a\": 2}'"), ("jb", "'[]'"), ("jb", "'\"x\"'"),
	("jb", "'{\"q\": \"it''s \\\\ \\\"quoted\\\"\"}'"),
	("ia", "'{}'"), ("ia", "'{1,2,3}'"), ("ia", "'{1,NULL,3}'"), ("ia", "'{{1,2},{3,4}}'"), ("ia", "'[0:1]={7,8}'"),
	("ta", "'{}'"), ("ta", "'{a,b}'"), ("ta", "'{\"with space\",\"quote\\\"d\",\"back\\\\slash\",NULL,\"NULL\"}'"),
	("ta", "'{\"\",\"comma,x\",\"brace}\"}'"), ("ta", "E'{\"tab\\there\",\"nl\\nx\"}'"),
	("iv", "'1 day 02:03:04.5'"), ("iv", "'P1Y2M3DT4H5M6S'"), ("iv", "'-1 mons +2 days'"),
	# typed literals: '...'::type, CAST(... AS type), type '...'
	("i4", "'5'::int"), ("i4", "'6'::integer"), ("i8", "CAST('7' AS bigint)"), ("n", "'1.25'::numeric"),
	("n2", "'3.14159'::numeric(10,2)"), ("f8", "'NaN'::float8"), ("f8", "'-0'::double precision"),
	("bo", "'t'::boolean"), ("bo", "CAST('no' AS bool)"), ("tx", "'x'::text"), ("tx", "text 'typed'"),
	("vc", "'v'::varchar(10)"), ("vc", "'vv'::character varying"), ("ch", "'c'::char(5)"),
	("by", "'\\x00'::bytea"), ("da", "DATE '2024-03-04'"), ("da", "'2024-03-05'::date"),
	("ti", "TIME '01:02:03'"), ("ts", "TIMESTAMP '2024-01-02 03:04:05'"),
	("ts", "'2024-01-02 03:04:05'::timestamp without time zone"),
	("tz", "TIMESTAMPTZ '2024-01-02 03:04:05+00'"), ("tz", "'2024-01-02 03:04:05+01'::timestamp with time zone"),
	("uu", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid"), ("js", "'{}'::json"), ("jb", "'{\"a\":1}'::jsonb"),
	("ia", "'{1,2}'::int[]"), ("ia", "CAST('{3}' AS integer[])"), ("ta", "'{x,NULL}'::text[]"),
	("iv", "INTERVAL '1 hour'"), ("iv", "'2 days'::interval"),
	("n", "NULL::numeric"), ("tx", "NULL::text"),
]

# Statements that fail directly: through the proxy they fail with the same SQLSTATE
# and message, and write nothing.
ERRORS = [
	"INSERT INTO {t} (id, bo) VALUES ({id}, 1)",                 # 42804: integer into boolean
	"INSERT INTO {t} (id, i4) VALUES ({id}, TRUE)",              # 42804
	"INSERT INTO {t} (id, i4) VALUES ({id}, 'abc')",             # 22P02
	"INSERT INTO {t} (id, i4) VALUES ({id}, '1.5')",             # 22P02
	"INSERT INTO {t} (id, i2) VALUES ({id}, 40000)",             # 22003
	"INSERT INTO {t} (id, i4) VALUES ({id}, 99999999999)",       # 22003
	"INSERT INTO {t} (id, vc) VALUES ({id}, '01234567890')",     # 22001
	"INSERT INTO {t} (id, da) VALUES ({id}, '2024-02-30')",      # 22008
	"INSERT INTO {t} (id, f8) VALUES ({id}, 1e400)",             # 22003
	"INSERT INTO {t} (id, jb) VALUES ({id}, '{bad')",            # 22P02
	"INSERT INTO {t} (id, by) VALUES ({id}, '\\xzz')",           # 22023
	"INSERT INTO {t} (id, ia) VALUES ({id}, '{1,x}')",           # 22P02
	"INSERT INTO {t} (id, uu) VALUES ({id}, 'not-a-uuid')",      # 22P02
	"INSERT INTO {t} (id, n2) VALUES ({id}, 123456789.1)",       # 22003
	"INSERT INTO {t} (id, i4) VALUES ({id}, 'abc'::int)",        # 22P02 (typed literal)
]


def fill(tmpl, table, ident):
	return tmpl.replace("{t}", table).replace("{id}", str(ident))


def compare(pg, table, ref):
	assert su.dump(pg, table, "id") == su.dump(pg, ref, "id")
	assert su.dump_json(pg, table, "id") == su.dump_json(pg, ref, "id")


def statements(table):
	out = [("INSERT INTO %s (id, %s) VALUES (%d, %s)" % (table, col, i + 1, lit))
		for i, (col, lit) in enumerate(VALUES)]
	# a few wide rows, every column at once, in one multi-row message
	base = len(VALUES) + 1
	wide = []
	for j in range(3):
		wide.append("(%d, %d, %d, %d, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)" % (
			base + j, j, j * 1000, j * 10 ** 12, "'%d.%d'" % (j, j), "1.2%d" % j, "'0.%d'" % (j + 1), "'-0'",
			["TRUE", "FALSE", "NULL"][j], "E'r%d\\t\\n\\\\'" % j, "'v%d'" % j, "'c%d'" % j, "'\\x%02x'" % j,
			"'2024-01-0%d'" % (j + 1), "'0%d:00'" % j, "'2024-01-01 0%d:00:00.00000%d'" % (j, j),
			"'2024-01-01 0%d:00:00+0%d'" % (j, j), "'00000000-0000-0000-0000-00000000000%d'" % j,
			"'[%d]'" % j, "'{\"j\": %d}'" % j, "'{%d,NULL}'" % j, "'{\"%d\",NULL,\"NULL\"}'" % j, "'%d days'" % j))
	out.append("INSERT INTO %s VALUES %s" % (table, ", ".join(wide)))
	return out


# writemode 1 twice: short runs of a keyed table skip the staging table by
# default (copystageminrows = 64); with 1 every row goes through COPY and the stage.
PATHS = [(0, None), (1, None), (1, 1), (2, None)]
PATH_IDS = ["w0", "w1", "w1-staged", "w2"]


@pytest.mark.parametrize("writemode,stage", PATHS, ids=PATH_IDS)
def test_round_trip_every_type(pg, make_proxy, writemode, stage):
	table = "ty_w%d%s" % (writemode, "s" if stage else "")
	ref = table + "_ref"
	pg.sql(DDL.format(t=table))
	pg.sql(DDL.format(t=ref))
	proxy = su.start_sink_proxy(make_proxy, {table: {"writemode": writemode, "ackmode": "commit",
		"batchsize": 40, "batchwritetimeoutms": 50, "adaptiveflush": 0, "copystageminrows": stage}},
		backend={"connectionmaxactive": 2})
	stmts = statements(table)
	with pg.connect() as conn:
		for sql in stmts:
			conn.execute(sql.replace(table, ref, 1))
	with su.Session.to(proxy) as s:
		# pipelined so that batches hold many rows; each answered like a direct INSERT
		for sql, msgs in zip(stmts, s.pipeline(stmts)):
			n = sql.count("), (") + 1
			assert msgs == su.insert_reply(n), "%s\n%s" % (sql, su.show(msgs))
	compare(pg, table, ref)
	st = su.stats(proxy)
	assert st.intercept["messages"] == len(stmts), st
	# the sink carried most rows itself (literals needing a conversion, e.g. a
	# number into a text column, may pass through; the contents prove either way)
	assert st.sink["rows_in"] >= len(VALUES) * 3 // 4, st


def test_typed_literals_of_the_column_type_are_carried(pg, make_proxy):
	"""A typed literal whose type is the column's own type needs no conversion: the sink takes it."""
	table = "ty_cast"
	pg.sql(DDL.format(t=table))
	stmts = ["INSERT INTO ty_cast (id, i4) VALUES (1, '5'::int4)",
		"INSERT INTO ty_cast (id, i8) VALUES (2, CAST('7' AS int8))",
		"INSERT INTO ty_cast (id, da) VALUES (3, DATE '2024-03-04')",
		"INSERT INTO ty_cast (id, tx) VALUES (4, 'x'::text)",
		"INSERT INTO ty_cast (id, ts) VALUES (5, TIMESTAMP '2024-01-02 03:04:05')",
		"INSERT INTO ty_cast (id, jb) VALUES (6, '{\"a\":1}'::jsonb)",
		"INSERT INTO ty_cast (id, ta) VALUES (7, '{x,NULL}'::text[])"]
	proxy = su.start_sink_proxy(make_proxy, {table: {}})
	with su.Session.to(proxy) as s:
		for sql in stmts:
			s.insert(sql, 1)
	assert su.count(pg, table) == len(stmts)
	st = su.stats(proxy)
	assert st.sink["rows_in"] == len(stmts), st
	assert st.intercept["messages"] == len(stmts), st


@pytest.mark.parametrize("writemode,stage", PATHS, ids=PATH_IDS)
def test_value_errors_same_as_direct(pg, make_proxy, writemode, stage):
	"""exceptionmode=strict, ackmode=commit: the client that sent a bad value gets the
	database's own error (its SQLSTATE), as it would directly; nothing is written."""
	table = "tyerr_w%d%s" % (writemode, "s" if stage else "")
	ref = table + "_ref"
	pg.sql(DDL.format(t=table))
	pg.sql(DDL.format(t=ref))
	proxy = su.start_sink_proxy(make_proxy, {table: {"writemode": writemode, "exceptionmode": "strict",
		"ackmode": "commit", "copystageminrows": stage}})
	with su.Session.to(pg) as d, su.Session.to(proxy) as s:
		for i, tmpl in enumerate(ERRORS):
			want = su.error_of(d.run(fill(tmpl, ref, i)))
			assert want is not None, tmpl
			msgs = s.run(fill(tmpl, table, i))
			got = su.error_of(msgs)
			assert got is not None, "%s\n%s" % (tmpl, su.show(msgs))
			# The SQLSTATE must be the database's. (The message may legitimately
			# differ: a COPY reports 'value "40000" is out of range for type
			# smallint' where the direct INSERT's cast says 'smallint out of range'.)
			assert got["C"] == want["C"], "%s: direct %r, proxy %r" % (tmpl, want, got)
			assert msgs[-1] == su.READY_IDLE
		# a good row after the bad ones still goes in
		s.insert("INSERT INTO %s (id, i4) VALUES (1000, 1)" % table, 1)
	assert pg.sql("SELECT id, i4 FROM %s" % table) == [(1000, 1)]


SETTINGS_CASES = [
	# (startup parameters, statements run first, column, literal)
	({"TimeZone": "Asia/Tokyo"}, [], "tz", "'2024-06-01 12:00:00'"),
	({"TimeZone": "America/St_Johns"}, [], "tz", "'2024-01-01 00:00'"),
	({}, ["SET TimeZone = 'Pacific/Chatham'"], "tz", "'2024-06-01 12:00:00'"),
	({"DateStyle": "SQL, DMY"}, [], "da", "'01/02/2024'"),
	({}, ["SET DateStyle = 'German'"], "da", "'03.04.2024'"),
	({}, ["SET standard_conforming_strings = off"], "tx", "'a\\tb\\\\c'"),
	({"client_encoding": "LATIN1"}, [], "tx", b"'caf\xe9'"),
	({}, ["SET IntervalStyle = 'sql_standard'"], "iv", "'-1 2:03:04'"),
]


@pytest.mark.parametrize("case", range(len(SETTINGS_CASES)))
def test_session_settings_apply_to_intercepted_rows(pg, make_proxy, case):
	"""A literal means what the client's session settings say, as it would directly:
	TimeZone and DateStyle for dates and times, client_encoding for the bytes of a
	string, standard_conforming_strings for backslashes in ''."""
	params, setup, col, literal = SETTINGS_CASES[case]
	table, ref = "tyset_%d" % case, "tyset_%d_ref" % case
	pg.sql(DDL.format(t=table))
	pg.sql(DDL.format(t=ref))
	proxy = su.start_sink_proxy(make_proxy, {table: {}})

	def run(server, t):
		if isinstance(literal, bytes):
			sql = b"INSERT INTO " + t.encode() + b" (id, " + col.encode() + b") VALUES (1, " + literal + b")"
		else:
			sql = "INSERT INTO %s (id, %s) VALUES (1, %s)" % (t, col, literal)
		with su.Session.to(server, params=params) as s:
			for q in setup:
				s.ok(q)
			msgs = s.run(sql)
			assert su.tags_of(msgs) == ["INSERT 0 1"], su.show(msgs)

	run(pg, ref)
	run(proxy, table)
	compare(pg, table, ref)
