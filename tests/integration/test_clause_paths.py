"""Every INSERT into a configured table gets its conflictmode, whatever path it takes (issue 17): RETURNING (Django's statement), a SELECT source, expressions, a join's ON, an alias, WITH (a data-modifying CTE too), several statements in one Query, EXPLAIN ANALYZE, PREPARE, the extended protocol with RETURNING, a client_encoding other than UTF8 and standard_conforming_strings off. Each statement runs through pgbatchd plain, and directly with the table's clause written by hand (the single-row equivalent, DESIGN.md); the answers and the tables must be the same."""

import struct

import psycopg
import psycopg2
import pytest

from difftest import HANG, both, same
import pgwire as w
import sinkutil as su

PG_SETTINGS = {"timezone": "UTC"}
MODES = ["ignore", "upsert", "update"]
DDL = "CREATE TABLE {t} (k int PRIMARY KEY, v text, n int DEFAULT 7)"
SEED = "INSERT INTO {t} VALUES (1, 'old', 1), (2, 'old', 2)"

# {t}: the table; {c}: where the clause goes, and the columns it names
# (None: every column, a positional INSERT of all three values)
STATEMENTS = {
	"returning": ("INSERT INTO {t} VALUES (1, 'new', 10){c} RETURNING k, v, n", None),
	"returning_expr": ("INSERT INTO {t} (k, v, n) VALUES (1, lower('EXPR'), 1 + 1){c} RETURNING k, v", ["k", "v", "n"]),
	"django": ('INSERT INTO "{t}" ("k", "v") VALUES (2, \'dj\'){c} RETURNING "{t}"."k"', ["k", "v"]),
	"select": ("INSERT INTO {t} (k, v) SELECT 2, 'sel'{c}", ["k", "v"]),
	"select_returning": ("INSERT INTO {t} (k, v) SELECT g, 'g' || g FROM generate_series(1, 3) g{c} RETURNING k",
		["k", "v"]),
	"join_on": ("INSERT INTO {t} (k, v) SELECT a.k, 'join' FROM {t} a JOIN {t} b ON a.k = b.k WHERE a.k = 1{c}",
		["k", "v"]),
	"alias": ("INSERT INTO {t} AS x (k, v) VALUES (1, 'alias'){c}", ["k", "v"]),
	"with": ("WITH s AS (SELECT 1 AS k) INSERT INTO {t} (k, v) SELECT k, 'with' FROM s{c}", ["k", "v"]),
	"with_cte_insert": ("WITH i AS (INSERT INTO {t} (k, v) VALUES (2, 'cte'){c} RETURNING k) SELECT count(*) FROM i",
		["k", "v"]),
	"multi_statement": ("INSERT INTO {t} (k, v) VALUES (1, 'm1'){c}; INSERT INTO {t} (k, v) VALUES (2, 'm2'){c}",
		["k", "v"]),
	"multi_with_select": ("INSERT INTO {t} (k, v) VALUES (1, 'ms'){c}; SELECT k, v FROM {t} ORDER BY k", ["k", "v"]),
	"explain_analyze": ("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) "
		"INSERT INTO {t} (k, v) VALUES (2, 'ex'){c}", ["k", "v"]),
	"prepare": ("PREPARE ins_{t}(int, text) AS INSERT INTO {t} (k, v) VALUES ($1, $2){c}; "
		"EXECUTE ins_{t}(1, 'prep'); DEALLOCATE ins_{t}", ["k", "v"]),
	"comment_before_returning": ("INSERT INTO {t} (k, v) VALUES (2, 'cm') /* c */ RETURNING k", ["k", "v"]),
	"ctas_cte": ("CREATE TEMP TABLE ctas_{t} AS WITH i AS (INSERT INTO {t} (k, v) VALUES (1, 'ctas'){c} "
		"RETURNING k) SELECT k FROM i", ["k", "v"]),
	"search_cycle": ("WITH RECURSIVE r (a, b) AS (SELECT 1, 2 UNION ALL SELECT a + 1, b FROM r WHERE a < 2) "
		"SEARCH DEPTH FIRST BY a, b SET ord CYCLE a, b SET cyc USING pth "
		"INSERT INTO {t} (k, v) SELECT a, 'rec' FROM r{c}", ["k", "v"]),
	"keyword_names": ("INSERT INTO {t} (k, v) SELECT x.natural, 'kw' AS returning FROM (SELECT 1 AS natural) x "
		"JOIN (SELECT 1 AS on) y ON true{c}", ["k", "v"]),
}


def clause(mode, named):
	return su.mode_clause(mode, ["k"], ["v", "n"], named if named is not None else ["k", "v", "n"])


def hand(sql, mode, named):
	"""The direct equivalent: the clause where {c} stands (before a comment
	that precedes RETURNING too)."""
	c = clause(mode, named)
	if "{c}" not in sql:
		sql = sql.replace(" /* c */ RETURNING", "{c} /* c */ RETURNING")
	return sql.replace("{c}", c)


def fields_of(p):
	"""A RowDescription's fields, each without its table's OID (the two
	databases' tables differ in it)."""
	n = struct.unpack_from("!H", p, 0)[0]
	off, out = 2, []
	for _ in range(n):
		end = p.index(b"\0", off)
		out.append((p[off:end], p[end + 5:end + 19]))
		off = end + 19
	assert off == len(p)
	return out


def answers(msgs):
	"""The reply, with what names the table's OID left out."""
	out = []
	for t, p in msgs:
		if t == "T":
			out.append(("T", fields_of(p)))
		elif t in "EN":
			f = w.fields(p)
			out.append((t, f.get("C"), f.get("M"), f.get("D")))
		else:
			out.append((t, p))
	return out


@pytest.mark.parametrize("case", sorted(STATEMENTS))
@pytest.mark.parametrize("mode", MODES)
def test_simple_protocol_statement(dbs, make_proxy, mode, case):
	pg = dbs
	t = "c_%s_%s" % (mode, case)
	both(pg, DDL.format(t=t))
	both(pg, SEED.format(t=t))
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": mode}})
	sql, named = STATEMENTS[case]
	with su.Session.to(proxy, timeout=HANG) as s, su.Session.to(pg, database="direct", timeout=HANG) as d:
		# the catalog is loaded first: the clause is placed from it
		s.ok("INSERT INTO %s VALUES (100, 'warm')" % t)
		d.ok("INSERT INTO %s VALUES (100, 'warm')" % t)
		via = s.run(sql.replace("{c}", "").format(t=t))
		direct = d.run(hand(sql, mode, named).format(t=t))
	assert answers(via) == answers(direct), "through:\n%s\ndirect:\n%s" % (su.show(via), su.show(direct))
	same(pg, "SELECT * FROM %s ORDER BY k" % t)


@pytest.mark.parametrize("mode", MODES)
def test_extended_protocol_returning(dbs, make_proxy, mode):
	"""psycopg 3's executemany(returning=True): each row's Execute has
	RETURNING; the duplicates get the table's conflictmode."""
	pg = dbs
	t = "cx_%s" % mode
	both(pg, DDL.format(t=t))
	both(pg, SEED.format(t=t))
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": mode}})
	rows = [(1, "a"), (3, "c"), (2, "b")]

	def run(port, db, sql):
		with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname=db, autocommit=True) as c:
			cur = c.cursor()
			cur.executemany(sql, rows, returning=True)
			got = []
			while True:
				got.append(cur.fetchall())
				if not cur.nextset():
					break
			return got

	base = "INSERT INTO %s (k, v) VALUES (%%s, %%s){c} RETURNING k, v" % t
	via = run(proxy.port, "postgres", base.replace("{c}", ""))
	direct = run(pg.port, "direct", base.replace("{c}", clause(mode, ["k", "v"])))
	assert via == direct
	same(pg, "SELECT * FROM %s ORDER BY k" % t)


SETTINGS = {
	"latin1": ("SET client_encoding = 'LATIN1'", "INSERT INTO {t} (k, v) VALUES (1, 'caf\xe9'){c}"),
	"win1252": ("SET client_encoding = 'WIN1252'", "INSERT INTO {t} VALUES (2, 'na\xefve \u20ac', 3){c}"),
	"scs_off": ("SET standard_conforming_strings = off", "INSERT INTO {t} (k, v) VALUES (1, 'it\\'s'){c}"),
	"scs_off_escape_string_warning_off": ("SET standard_conforming_strings = off; SET escape_string_warning = off",
		"INSERT INTO {t} (k, v) VALUES (2, 'a\\\\b'){c}"),
	# N'' reads backslash escapes too: one statement, whose string holds what looks like a second
	"scs_off_nchar": ("SET standard_conforming_strings = off; SET escape_string_warning = off",
		"INSERT INTO {t} (k, v) VALUES (1, N'a\\'); INSERT INTO {t} (k, v) VALUES (2, ''); --'){c}"),
}


@pytest.mark.parametrize("case", sorted(SETTINGS))
@pytest.mark.parametrize("mode", MODES)
def test_session_string_settings(dbs, make_proxy, mode, case):
	"""After the session changes how its SQL text reads (client_encoding,
	standard_conforming_strings), its INSERTs still get the clause."""
	pg = dbs
	t = "cs_%s_%s" % (mode, case)
	both(pg, DDL.format(t=t))
	both(pg, SEED.format(t=t))
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": mode}})
	setting, sql = SETTINGS[case]
	named = ["k", "v"] if "(k, v)" in sql else None

	def run(port, db, text):
		c = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname=db)
		c.autocommit = True
		cur = c.cursor()
		cur.execute("INSERT INTO %s VALUES (100, 'warm')" % t)
		cur.execute(setting)
		enc = "latin-1" if "LATIN1" in setting else "cp1252" if "WIN1252" in setting else "utf-8"
		raw = c.cursor()
		# psycopg2 sends bytes as they are: the statement in the client's encoding
		raw.execute(text.format(t=t).encode(enc))
		out = raw.statusmessage
		c.close()
		return out

	via = run(proxy.port, "postgres", sql.replace("{c}", ""))
	direct = run(pg.port, "direct", sql.replace("{c}", clause(mode, named)))
	assert via == direct
	same(pg, "SELECT * FROM %s ORDER BY k" % t)


@pytest.mark.parametrize("mode", MODES)
def test_prepared_under_utf8_executed_after_set_client_encoding(dbs, make_proxy, mode):
	"""A statement prepared (extended protocol) while the session was UTF8,
	executed after SET client_encoding = LATIN1: the executions pass through
	to the backend's copy of the statement, which has the clause."""
	pg = dbs
	t = "cp_%s" % mode
	both(pg, DDL.format(t=t))
	both(pg, SEED.format(t=t))
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": mode}})

	def run(port, db, sql):
		out = []
		with su.Session("127.0.0.1", port, database=db, timeout=HANG) as s:
			s.send(w.parse("ins", sql) + w.bind("", "ins", ["100", "warm"]) + w.execute("") + w.sync())
			out.append(answers(s.read_until("Z")))
			out.append(answers(s.run("SET client_encoding = 'LATIN1'")))
			for k, v in (("1", b"caf\xe9"), ("2", b"x")):
				s.send(w.bind("", "ins", [k, v]) + w.execute("") + w.sync())
				out.append(answers(s.read_until("Z")))
		return out

	base = "INSERT INTO %s (k, v) VALUES ($1, $2){c}" % t
	via = run(proxy.port, "postgres", base.replace("{c}", ""))
	direct = run(pg.port, "direct", base.replace("{c}", clause(mode, ["k", "v"])))
	assert via == direct
	same(pg, "SELECT * FROM %s ORDER BY k" % t)


@pytest.mark.parametrize("mode", ["strict"] + MODES)
def test_django_returning_id_psycopg2(dbs, make_proxy, mode):
	"""Django's INSERT ... RETURNING "t"."id" through psycopg2, in every
	conflictmode: the ids it gets back and the table are those of the
	statement with the clause written by hand."""
	pg = dbs
	t = "dj_%s" % mode
	both(pg, "CREATE TABLE %s (id serial PRIMARY KEY, name text, n int DEFAULT 7)" % t)
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": mode}})
	stmts = [
		('INSERT INTO "{t}" ("name") VALUES (%s) RETURNING "{t}"."id"', ("a",), ["name"]),
		('INSERT INTO "{t}" ("name", "n") VALUES (%s, %s) RETURNING "{t}"."id"', ("b", 2), ["name", "n"]),
		('INSERT INTO "{t}" ("id", "name") VALUES (%s, %s) RETURNING "{t}"."id"', (1, "again"), ["id", "name"]),
		('INSERT INTO "{t}" ("name") VALUES (%s), (%s) RETURNING "{t}"."id"', ("c", "d"), ["name"]),
	]

	def run(port, db, hand):
		c = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname=db)
		c.autocommit = True
		out = []
		for sql, args, named in stmts:
			cur = c.cursor()
			text = sql.format(t=t)
			if hand:
				text = text.replace(" RETURNING", su.mode_clause(mode, ["id"], ["name", "n"], named) + " RETURNING")
			try:
				cur.execute(text, args)
				out.append((cur.statusmessage, cur.fetchall()))
			except psycopg2.Error as e:
				out.append((e.pgcode, e.pgerror.splitlines()[0]))
		c.close()
		return out

	via = run(proxy.port, "postgres", False)
	direct = run(pg.port, "direct", True)
	assert via == direct
	same(pg, "SELECT * FROM %s ORDER BY id" % t)


@pytest.mark.parametrize("ackmode", ["commit", "immediate"])
@pytest.mark.parametrize("mode", MODES)
def test_deferrable_conflict_key(dbs, make_proxy, mode, ackmode):
	"""A DEFERRABLE primary key cannot be ON CONFLICT's arbiter: directly,
	every INSERT with the clause fails 55000. Through pgbatchd the table's
	INSERTs pass through with the clause and get PostgreSQL's own answer, in
	both ackmodes (never acknowledged and then dropped), in both protocols."""
	pg = dbs
	t = "cd_%s_%s" % (mode, ackmode)
	both(pg, "CREATE TABLE %s (k int PRIMARY KEY DEFERRABLE, v text)" % t)
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": mode, "ackmode": ackmode}})
	c = su.mode_clause(mode, ["k"], ["v"], ["k", "v"])
	with su.Session.to(proxy, timeout=HANG) as s, su.Session.to(pg, database="direct", timeout=HANG) as d:
		for sql in ("INSERT INTO {t} VALUES (1, 'a'){c}", "INSERT INTO {t} (k, v) VALUES (2, 'b'), (3, 'c'){c}"):
			via = s.run(sql.format(t=t, c=""))
			direct = d.run(sql.format(t=t, c=c))
			assert answers(via) == answers(direct)
			assert via[0][0] == "E" and w.fields(via[0][1])["C"] == "55000"

	def ext(port, db, sql):
		with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname=db, autocommit=True) as conn:
			try:
				conn.cursor().executemany(sql, [(4, "d"), (5, "e")])
				return "ok"
			except psycopg.Error as e:
				return e.sqlstate

	sql = "INSERT INTO %s (k, v) VALUES (%%s, %%s){c}" % t
	assert ext(proxy.port, "postgres", sql.replace("{c}", "")) == ext(pg.port, "direct", sql.replace("{c}", c)) == "55000"
	same(pg, "SELECT * FROM %s ORDER BY k" % t)


@pytest.mark.parametrize("in_tx", [False, True])
def test_columns_unknown_is_a_clear_error(dbs, make_proxy, in_tx):
	"""conflictmode=update sets the columns an INSERT names: a list-less INSERT
	whose source's width pgbatchd cannot tell (SELECT *) fails with 0A000
	naming the table, never without the clause. The backend raises it, so a
	transaction is aborted as by any error."""
	pg = dbs
	t = "cu_update_%d" % in_tx
	both(pg, DDL.format(t=t))
	both(pg, SEED.format(t=t))
	both(pg, "CREATE TABLE IF NOT EXISTS cu_src AS SELECT 1 AS k, 'src'::text AS v, 5 AS n")
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": "update"}})
	with su.Session.to(proxy, timeout=HANG) as s:
		if in_tx:
			s.ok("BEGIN")
		got = s.run("INSERT INTO %s SELECT * FROM cu_src" % t)
		assert got[0][0] == "E", su.show(got)
		f = w.fields(got[0][1])
		assert f["C"] == "0A000" and t in f["M"] and "Name the columns" in f.get("H", "")
		assert got[-1] == ("Z", b"E" if in_tx else b"I")
		if in_tx:
			after = s.run("SELECT 1")
			assert w.fields(after[0][1])["C"] == "25P02"
			s.ok("ROLLBACK")
		# with its columns named, it runs with the clause
		via = s.run("INSERT INTO %s (k, v, n) SELECT * FROM cu_src" % t)
		assert via[0] == ("C", b"INSERT 0 1\0")
	with su.Session.to(pg, database="direct", timeout=HANG) as d:
		d.ok("INSERT INTO %s (k, v, n) SELECT * FROM cu_src%s" % (t, clause("update", ["k", "v", "n"])))
	same(pg, "SELECT * FROM %s ORDER BY k" % t)


def test_columns_unknown_extended_protocol(dbs, make_proxy):
	"""The same through the extended protocol, with a parameter: the error
	comes from the backend at the Execute, the statement's parameters bind."""
	pg = dbs
	t = "cux_update"
	both(pg, DDL.format(t=t))
	both(pg, "CREATE TABLE cux_src AS SELECT 1 AS k, 'src'::text AS v, 5 AS n")
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": "update"}})
	with psycopg.connect(host="127.0.0.1", port=proxy.port, user="postgres", dbname="postgres",
			     autocommit=True) as conn:
		with pytest.raises(psycopg.Error) as ei:
			conn.execute("INSERT INTO %s SELECT * FROM cux_src WHERE k = %%s" % t, (1,))
		assert ei.value.sqlstate == "0A000" and t in str(ei.value)
		# the session goes on
		assert conn.execute("SELECT count(*) FROM %s" % t).fetchone() == (0,)


def test_casesensitive_follows_postgresql_folding(dbs, make_proxy):
	"""[table Events] with casesensitive = 1 is the table "Events"; beside it
	[table events] (casesensitive = 0) is events. A statement's names read as
	PostgreSQL reads them: INSERT INTO Events is events, INSERT INTO "Events"
	is "Events", each with its own table's conflictmode."""
	pg = dbs
	both(pg, 'CREATE TABLE "Events" (k int PRIMARY KEY, v text)')
	both(pg, "CREATE TABLE events (k int PRIMARY KEY, v text)")
	both(pg, """INSERT INTO "Events" VALUES (1, 'old')""")
	both(pg, "INSERT INTO events VALUES (1, 'old')")
	proxy = su.start_sink_proxy(make_proxy, [("Events", {"conflictmode": "upsert", "casesensitive": 1}),
						 ("events", {"conflictmode": "ignore"})])
	stmts = [("""INSERT INTO "Events" VALUES (1, 'quoted'){c}""", su.mode_clause("upsert", ["k"], ["v"], ["k", "v"])),
		 ("INSERT INTO Events VALUES (1, 'unquoted'){c}", su.mode_clause("ignore", ["k"], ["v"], ["k", "v"])),
		 ("INSERT INTO EVENTS (k, v) VALUES (2, 'new'){c}", su.mode_clause("ignore", ["k"], ["v"], ["k", "v"])),
		 ("""INSERT INTO "Events" (k, v) VALUES (2, 'new'), (1, 'again'){c}""",
		  su.mode_clause("upsert", ["k"], ["v"], ["k", "v"]))]
	with su.Session.to(proxy, timeout=HANG) as s, su.Session.to(pg, database="direct", timeout=HANG) as d:
		for sql, c in stmts:
			assert answers(s.run(sql.format(c=""))) == answers(d.run(sql.format(c=c)))
		s.ok("SELECT 1")
	same(pg, 'SELECT * FROM "Events" ORDER BY k')
	same(pg, "SELECT * FROM events ORDER BY k")
	st = su.stats(proxy)
	assert st.sink["rows_in"] >= 4, st


@pytest.mark.parametrize("mode", ["upsert", "update"])
def test_non_ascii_column_in_another_encoding(dbs, make_proxy, mode):
	"""A clause naming a non-ASCII column is written in the session's
	client_encoding, even when the statement itself is ASCII."""
	pg = dbs
	t = "cg_%s" % mode
	both(pg, 'CREATE TABLE %s (k int PRIMARY KEY, "gr\u00f6\u00dfe" text DEFAULT \'d\')' % t)
	both(pg, "INSERT INTO %s VALUES (1, 'old')" % t)
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": mode}})
	named = ["k", '"gr\u00f6\u00dfe"']

	def run(port, db, sql):
		c = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname=db)
		c.autocommit = True
		cur = c.cursor()
		cur.execute("INSERT INTO %s VALUES (100, 'warm')" % t)
		cur.execute("SET client_encoding = 'LATIN1'")
		out = []
		for text in sql:
			try:
				cur.execute(text.encode("latin-1"))
				out.append(cur.statusmessage)
			except psycopg2.Error as e:
				out.append(e.pgcode)
		c.close()
		return out

	stmts = ["INSERT INTO %s (k) VALUES (1){c}" % t, 'INSERT INTO %s (k, "gr\u00f6\u00dfe") VALUES (1, \'new\'){c}' % t]
	via = run(proxy.port, "postgres", [x.replace("{c}", "") for x in stmts])
	direct = run(pg.port, "direct", [stmts[0].replace("{c}", su.mode_clause(mode, ["k"], named[1:], ["k"])),
					 stmts[1].replace("{c}", su.mode_clause(mode, ["k"], named[1:], named))])
	assert via == direct
	same(pg, "SELECT * FROM %s ORDER BY k" % t)


def test_clause_in_an_aborted_transaction(dbs, make_proxy):
	"""In an aborted transaction, ROLLBACK TO and an INSERT in the same Query:
	the INSERT runs, with the clause, as it does directly."""
	pg = dbs
	t = "ca_upsert"
	both(pg, DDL.format(t=t))
	both(pg, SEED.format(t=t))
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": "upsert"}})
	c = clause("upsert", ["k", "v"])
	with su.Session.to(proxy, timeout=HANG) as s, su.Session.to(pg, database="direct", timeout=HANG) as d:
		for sess, cl in ((s, ""), (d, c)):
			sess.ok("INSERT INTO %s VALUES (100, 'warm')" % t)
			sess.ok("BEGIN")
			sess.ok("SAVEPOINT a")
			sess.run("SELECT 1/0")
		via = s.run("ROLLBACK TO a; INSERT INTO %s (k, v) VALUES (1, 'in tx')" % t)
		direct = d.run("ROLLBACK TO a; INSERT INTO %s (k, v) VALUES (1, 'in tx')%s" % (t, c))
		assert answers(via) == answers(direct)
		s.ok("COMMIT")
		d.ok("COMMIT")
	same(pg, "SELECT * FROM %s ORDER BY k" % t)


def test_refused_statement_is_only_its_own(dbs, make_proxy):
	"""Several statements in one Query, the last one refused (0A000): the
	statements before it run, as they would before any failing statement."""
	pg = dbs
	t = "cr_update"
	both(pg, DDL.format(t=t))
	both(pg, "CREATE TABLE IF NOT EXISTS cr_src AS SELECT 1 AS k, 'src'::text AS v, 5 AS n")
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": "update"}})
	with su.Session.to(proxy, timeout=HANG) as s:
		got = s.run("CREATE TABLE cr_log (a int); COMMIT; INSERT INTO %s SELECT * FROM cr_src; "
			    "CREATE TABLE cr_never (a int)" % t)
		errs = [w.fields(p) for k, p in got if k == "E"]
		assert len(errs) == 1 and errs[0]["C"] == "0A000" and t in errs[0]["M"], su.show(got)
	assert pg.sql("SELECT to_regclass('cr_log') IS NOT NULL, to_regclass('cr_never') IS NULL") == [(True, True)]


@pytest.mark.parametrize("mode", MODES)
def test_held_group_passing_through_cold_catalog(dbs, make_proxy, mode):
	"""An extended-protocol group with an INSERT and a SELECT passes through
	whole (it holds a message pgbatchd does not take) as the session's very
	first statements, before the table's catalog was ever read: its INSERT
	still gets the clause (the group waits for the catalog)."""
	pg = dbs
	t = "hg_%s" % mode
	both(pg, DDL.format(t=t))
	both(pg, SEED.format(t=t))
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": mode}})

	def run(port, db, c):
		with su.Session("127.0.0.1", port, database=db, timeout=HANG) as s:
			s.send(w.parse("s1", "INSERT INTO %s (k, v) VALUES ($1, $2)%s" % (t, c)) +
			       w.bind("", "s1", ["1", "new"]) + w.execute("") +
			       w.parse("", "SELECT 1") + w.bind("", "") + w.execute("") + w.sync())
			return answers(s.read_until("Z"))

	assert run(proxy.port, "postgres", "") == run(pg.port, "direct", clause(mode, ["k", "v"]))
	same(pg, "SELECT * FROM %s ORDER BY k" % t)
