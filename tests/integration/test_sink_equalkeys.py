"""Keys PostgreSQL considers equal, spelled apart: a timestamptz with and without its offset (TimeZone UTC), text under a nondeterministic ICU collation ('abc' = 'ABC'), varchar(3) with trailing spaces past its length.

Rows of such keys, in one statement, in consecutive statements of one session
(one batch) and from two sessions, leave the table as the rows run one by one
directly with their conflictmode's clause, and each client hears the count
PostgreSQL gives for its rows (never 21000, "ON CONFLICT DO UPDATE command
cannot affect row a second time").
"""

import pytest

import sinkutil as su

PG_SETTINGS = {"timezone": "UTC"}

SHAPES = {
	# name: (key column declaration, spellings of one key, another key)
	"tstz": ("timestamptz", ["'2024-01-01 10:00:00+00'", "'2024-01-01 10:00:00'", "'2024-01-01 12:00:00+02'"],
		"'2024-01-01 10:00:00.000001+00'"),
	"icu": ("text COLLATE pgb_ci", ["'abc'", "'ABC'", "'aBc'"], "'abd'"),
	"vc3": ("varchar(3)", ["'abc'", "'abc   '", "'abc '"], "'ab '"),
}
MODES = ["upsert", "update", "ignore", "strict"]


def make_tables(pg, t, keydecl):
	pg.sql("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'pgb_ci') THEN "
		"CREATE COLLATION pgb_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false); "
		"END IF; END $$")
	for name in (t, t + "_ref"):
		pg.sql("CREATE TABLE %s (k %s PRIMARY KEY, v int, w text DEFAULT 'd')" % (name, keydecl))


def statements(spell, other):
	"""(cols, rows) statements: one multi-row statement of three spellings of a
	key, then single rows of each spelling and the other key."""
	return [
		(["k", "v"], [[spell[0], "1"], [spell[1], "2"], [other, "3"], [spell[2], "4"]]),
		(["k", "v", "w"], [[spell[1], "5", "'x'"]]),
		(["v", "k"], [["6", spell[2]]]),
		(["k", "w"], [[spell[0], "'y'"]]),
		(["k", "v"], [[other, "7"], [spell[1], "8"]]),
	]


def reference(pg, ref, mode, stmts):
	"""Each row alone, in order; returns the rows written per statement and the rows rejected."""
	import psycopg
	counts, rejected = [], 0
	with pg.connect() as conn:
		for cols, rows in stmts:
			n = 0
			for row in rows:
				sql = su.insert_sql(ref, cols, [row]) + su.mode_clause(mode, ["k"], ["v", "w"], cols)
				try:
					n += conn.execute(sql).rowcount
				except psycopg.errors.UniqueViolation:
					assert mode == "strict"
					rejected += 1
			counts.append(n)
	return counts, rejected


@pytest.mark.parametrize("writemode", [0, 1, 2])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_equal_keys(pg, make_proxy, shape, mode, writemode):
	keydecl, spell, other = SHAPES[shape]
	t = "eq_%s_%s_w%d" % (shape, mode, writemode)
	make_tables(pg, t, keydecl)
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": mode, "ackmode": "commit",
		"writemode": writemode, "copystageminrows": 1, "adaptiveflush": 0, "batchwritetimeoutms": 50,
		"verbose": 1}}, backend={"connectionmaxactive": 3})
	stmts = statements(spell, other)
	counts, rejected = reference(pg, t + "_ref", mode, stmts)
	sqls = [su.insert_sql(t, cols, rows) for cols, rows in stmts]
	with su.Session.to(proxy) as s:
		# pipelined: the statements share a batch
		for sql, msgs, n in zip(sqls, s.pipeline(sqls), counts):
			assert su.tags_of(msgs) == ["INSERT 0 %d" % n], "%s\n%s" % (sql, su.show(msgs))
			assert msgs[-1] == su.READY_IDLE and not su.error_of(msgs), su.show(msgs)
	assert su.dump(pg, t, "v") == su.dump(pg, t + "_ref", "v")
	# and from two sessions taking turns, each answered before the next sends
	counts2, rejected2 = reference(pg, t + "_ref", mode, stmts)
	with su.Session.to(proxy) as a, su.Session.to(proxy) as b:
		for i, (sql, n) in enumerate(zip(sqls, counts2)):
			msgs = (a if i % 2 == 0 else b).run(sql)
			assert su.tags_of(msgs) == ["INSERT 0 %d" % n], "%s\n%s" % (sql, su.show(msgs))
	assert su.dump(pg, t, "v") == su.dump(pg, t + "_ref", "v")
	assert su.stats(proxy).sink["rows_failed"] == rejected + rejected2
