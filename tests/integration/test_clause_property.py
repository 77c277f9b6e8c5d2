"""Property (issue 17): random INSERT spellings into upsert, ignore and update tables -- RETURNING, WITH (a data-modifying CTE too), several statements in one Query, EXPLAIN ANALYZE, column lists or none, VALUES / SELECT / expression sources, client_encoding LATIN1, standard_conforming_strings off, the simple and the extended protocol -- run through pgbatchd plain and directly with the table's clause written by hand (the single-row equivalent, DESIGN.md). Every answer and the tables must be the same."""

import random

import psycopg
import psycopg2
import pytest

from difftest import both, same
import sinkutil as su

PG_SETTINGS = {"timezone": "UTC"}
COLS = {"k": "int", "v": "text", "n": "int"}
STATEMENTS = 60


def gen_insert(rnd, t, mode, keys, extended, settings):
	"""One INSERT: (text with {c} where the clause goes, params or None)."""
	cols = rnd.choice([["k", "v"], ["k", "v", "n"], ["k", "n"], None, None])
	width = len(cols) if cols else rnd.choice([2, 3])
	named = cols or ["k", "v", "n"][:width]
	params = [] if extended else None

	def value(col, key):
		if col == "k":
			lit = str(key)
		elif col == "n":
			lit = str(rnd.randint(0, 99))
		else:
			word = rnd.choice(["plain", "it's", "caf\u00e9" if settings.get("latin1") else "cafe", "x y"])
			if extended and rnd.random() < 0.7:
				params.append(word)
				return "%s"
			lit = "'%s'" % word.replace("'", "''")
			if rnd.random() < 0.2:
				lit = "lower(%s)" % lit.upper()
		if extended and col != "v" and rnd.random() < 0.5:
			params.append(int(lit))
			return "%s"
		return lit

	nrows = rnd.choice([1, 1, 2, 3])
	rowkeys = [keys.pop() for _ in range(nrows)]
	head = "INSERT INTO %s%s" % (t, " (%s)" % ", ".join(cols) if cols else "")
	kind = rnd.choice(["values", "values", "select", "series"])
	if kind == "values" or nrows > 1 and kind != "series":
		src = "VALUES " + ", ".join("(%s)" % ", ".join(value(c, key) for c in named) for key in rowkeys)
	elif kind == "select":
		src = "SELECT " + ", ".join(value(c, rowkeys[0]) for c in named)
		rowkeys[1:] = []
	else:
		lo = rowkeys[0]
		exprs = {"k": "g", "v": "'g' || g", "n": "g * 2"}
		src = "SELECT %s FROM generate_series(%d, %d) g" % (", ".join(exprs[c] for c in named), lo, lo)
	returning = rnd.random() < 0.4
	sql = "%s %s{c}%s" % (head, src, " RETURNING k" if returning else "")
	return sql, named, params


def gen_statement(rnd, t, mode, keys, extended, settings):
	"""A Query / Parse text with {c0}, {c1}, ... and the columns each names."""
	wrap = rnd.choice(["plain", "plain", "with", "cte", "multi", "explain"] if not extended else
			  ["plain", "plain", "with", "cte"])
	sql, named, params = gen_insert(rnd, t, mode, keys, extended, settings)
	sites = [named]
	text = sql.replace("{c}", "{c0}")
	if wrap == "with":
		text = "WITH w AS (SELECT 1) " + text
	elif wrap == "cte":
		if " RETURNING" not in text:
			text += " RETURNING k"
		text = "WITH i AS (%s) SELECT count(*) FROM i" % text
	elif wrap == "multi":
		sql2, named2, _ = gen_insert(rnd, t, mode, keys, False, settings)
		text = text + "; " + sql2.replace("{c}", "{c1}")
		sites.append(named2)
	elif wrap == "explain":
		text = "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + text.replace(" RETURNING k", "")
	return text, sites, params


def clauses(mode, sites, hand):
	return {"c%d" % i: su.mode_clause(mode, ["k"], ["v", "n"], named) if hand else "" for i, named in enumerate(sites)}


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("mode", ["ignore", "upsert", "update"])
def test_random_spellings(dbs, make_proxy, mode, seed):
	pg = dbs
	t = "prop_%s_%d" % (mode, seed)
	both(pg, "CREATE TABLE %s (k int PRIMARY KEY, v text, n int DEFAULT 7)" % t)
	both(pg, "INSERT INTO %s SELECT g, 'seed', g FROM generate_series(1, 40, 3) g" % t)
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": mode}})
	rnd = random.Random(seed * 1000 + len(mode))
	settings = {"latin1": rnd.random() < 0.5, "scs_off": rnd.random() < 0.5}
	stmts = []
	for _ in range(STATEMENTS):
		keys = rnd.sample(range(1, 50), 8)     # distinct within a statement; repeats across them
		extended = rnd.random() < 0.4
		stmts.append((extended,) + gen_statement(rnd, t, mode, keys, extended, settings))

	def run(port, db, hand):
		c2 = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname=db)
		c2.autocommit = True
		c3 = psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname=db, autocommit=True)
		if settings["latin1"]:
			c2.set_client_encoding("LATIN1")
			c3.execute("SET client_encoding = 'LATIN1'")
		for c in (c2.cursor(), c3):
			if settings["scs_off"]:
				c.execute("SET standard_conforming_strings = off; SET escape_string_warning = off")
		out = []
		for extended, text, sites, params in stmts:
			sql = text.format(**clauses(mode, sites, hand))
			try:
				if extended:
					cur = c3.execute(sql, params)
					out.append((cur.statusmessage, cur.fetchall() if cur.description else None))
				else:
					cur = c2.cursor()
					cur.execute(sql)
					out.append((cur.statusmessage, cur.fetchall() if cur.description else None))
			except (psycopg.Error, psycopg2.Error) as e:
				out.append(("error", getattr(e, "sqlstate", None) or getattr(e, "pgcode", None)))
		c2.close()
		c3.close()
		return out

	via = run(proxy.port, "postgres", False)
	direct = run(pg.port, "direct", True)
	# the corpus is statements PostgreSQL runs, not errors that match trivially
	assert sum(1 for a in direct if a[0] != "error") >= STATEMENTS * 0.9, direct
	for i, (a, b) in enumerate(zip(via, direct)):
		assert a == b, "statement %d: %r\n through: %r\n direct:  %r" % (i, stmts[i][1], a, b)
	same(pg, "SELECT * FROM %s ORDER BY k" % t)
