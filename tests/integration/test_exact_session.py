"""An INSERT taken by pgbatchd goes where, as whom and with the values that the
same INSERT would get directly in that session: every script here runs once
directly and once through the proxy, on the same fresh objects, and must give
the same replies (SQLSTATE and message included) and the same table contents.
Each case also says how many rows the sink must have taken, so that passing
everything through cannot satisfy it."""

import pytest

import pgwire as w
import sinkutil as su

PG_SETTINGS = {"shared_preload_libraries": "pg_stat_statements", "pg_stat_statements.track": "all"}

ROLES = ["sess_a", "sess_b", "sess_ro", "sess_home", "sess_noins", "sess_ins"]
USERS = dict({"postgres": "postgres"}, **{r: "pw-" + r for r in ROLES})

TGT = "CREATE TABLE public.tgt (k int PRIMARY KEY, v text, who text DEFAULT current_user, " \
	"ts timestamptz, x xml)"


@pytest.fixture(scope="module")
def roles(pg):
	for r in ROLES:
		pg.sql("CREATE ROLE %s LOGIN" % r)
	pg.sql("GRANT sess_noins, sess_ins TO sess_a")
	pg.sql("ALTER ROLE sess_b SET search_path = alt_b")
	pg.sql("ALTER ROLE sess_ro SET default_transaction_read_only = on")
	pg.sql("CREATE TYPE sess_pt AS (n int, s text)")
	pg.sql("CREATE DOMAIN sess_dom AS int CHECK (VALUE >= 0)")
	pg.sql("CREATE TYPE sess_en AS ENUM ('red', 'blue')")
	return pg


def setup_objects(pg, extra, ddl=TGT):
	pg.sql(ddl)
	pg.sql("GRANT ALL ON public.tgt TO PUBLIC")
	pg.sql("REVOKE ALL ON public.tgt FROM sess_noins")
	pg.sql("GRANT SELECT ON public.tgt TO sess_noins")
	for sql in extra:
		pg.sql(sql)


def teardown_objects(pg, schemas):
	pg.sql("DROP TABLE IF EXISTS public.tgt")
	for s in schemas:
		pg.sql("DROP SCHEMA IF EXISTS %s CASCADE" % s)


def norm(t, p):
	"""A message as compared: an error or notice by its fields, a row by its values."""
	if t in ("E", "N"):
		f = w.fields(p)
		return (t, f.get("S"), f.get("C"), f.get("M"), f.get("D"))
	if t == "D":
		return (t, tuple(w.datarow(p)))
	if t == "T":        # names and types: a table's OID differs between the two runs
		n, at, cols = int.from_bytes(p[:2], "big"), 2, []
		for _ in range(n):
			end = p.index(b"\0", at)
			cols.append((bytes(p[at:end]), int.from_bytes(p[end + 7:end + 11], "big")))
			at = end + 19
		return (t, tuple(cols))
	return (t, bytes(p))


def transcript(server, user, params, script):
	with su.Session.to(server, user=user, params=params) as s:
		return [(sql, [norm(t, p) for t, p in s.run(sql)]) for sql in script]


def contents(pg, tables):
	return {t: pg.sql("SELECT to_jsonb(r)::text FROM %s r ORDER BY r.k" % t) for t in tables}


def same_as_direct(pg, make_proxy, case):
	extra, schemas = case.get("setup", []), case.get("schemas", [])
	tables = ["public.tgt"] + case.get("tables", [])
	user, params = case.get("user", "postgres"), case.get("params")
	ddl = case.get("ddl", TGT)
	teardown_objects(pg, schemas)
	setup_objects(pg, extra, ddl)
	try:
		want = transcript(pg, user, params, case["script"])
		want_rows = contents(pg, tables)
	finally:
		teardown_objects(pg, schemas)
	setup_objects(pg, extra, ddl)
	try:
		opts = dict({"ackmode": "commit", "exceptionmode": "strict"}, **case.get("conf", {}))
		proxy = su.start_sink_proxy(make_proxy, {"tgt": opts}, users=USERS)
		got = transcript(proxy, user, params, case["script"])
		got_rows = contents(pg, tables)
		st = su.stats(proxy)
	finally:
		teardown_objects(pg, schemas)
	for (sql, a), (_, b) in zip(want, got):
		assert a == b, "%s\n directly: %r\n proxy:    %r" % (sql, a, b)
	assert want_rows == got_rows
	assert st.sink.get("rows_in", 0) == case["taken"], st
	return st


FLIP_PATH = ["CREATE OR REPLACE FUNCTION public.tgt_path() RETURNS trigger LANGUAGE plpgsql AS "
	     "$$BEGIN IF NEW.v = 'flip' THEN PERFORM pg_catalog.set_config('search_path', 'alt9, public', false); "
	     "END IF; RETURN NEW; END$$",
	     "CREATE TRIGGER tgt_path AFTER INSERT ON public.tgt FOR EACH ROW EXECUTE FUNCTION public.tgt_path()"]

AUDIT = ["CREATE OR REPLACE FUNCTION public.tgt_audit() RETURNS trigger LANGUAGE plpgsql AS "
	 "$$BEGIN NEW.v := NEW.v || ':' || coalesce(current_setting('app.who', true), '-'); RETURN NEW; END$$",
	 "CREATE TRIGGER tgt_audit BEFORE INSERT ON public.tgt FOR EACH ROW EXECUTE FUNCTION public.tgt_audit()"]

CASES = {
	# what a transaction set is forgotten when it ends (BEGIN and COMMIT keep the view)
	"tx_local_search_path_ends_with_commit": dict(
		schemas=["alt9"],
		setup=["CREATE SCHEMA alt9", "CREATE TABLE alt9.tgt (LIKE public.tgt INCLUDING ALL)",
			"GRANT ALL ON SCHEMA alt9 TO PUBLIC", "GRANT ALL ON alt9.tgt TO PUBLIC"],
		tables=["alt9.tgt"], conf={"conflictmode": "upsert"},
		script=["SET search_path = alt9, public", "INSERT INTO tgt (k, v) VALUES (1, 'alt9')",
			"BEGIN", "SET LOCAL search_path = public",
			"INSERT INTO tgt (k, v) VALUES (2, 'public, in the transaction') RETURNING k", "COMMIT",
			# alt9.tgt again: no clause, as directly (23505), not public.tgt's upsert
			"INSERT INTO tgt (k, v) VALUES (1, 'alt9 again') RETURNING k",
			"INSERT INTO public.tgt (k, v) VALUES (4, 'public, qualified')"],
		taken=1),
	"tx_set_rolled_back": dict(
		schemas=["alt9"],
		setup=["CREATE SCHEMA alt9", "CREATE TABLE alt9.tgt (LIKE public.tgt INCLUDING ALL)",
			"GRANT ALL ON SCHEMA alt9 TO PUBLIC", "GRANT ALL ON alt9.tgt TO PUBLIC",
			"INSERT INTO alt9.tgt (k, v) VALUES (1, 'alt9')"],
		tables=["alt9.tgt"], conf={"conflictmode": "upsert"},
		script=["SET search_path = alt9, public", "BEGIN", "SET search_path = public",
			"INSERT INTO tgt (k, v) VALUES (1, 'public, rolled back') RETURNING k", "ROLLBACK",
			"INSERT INTO tgt (k, v) VALUES (1, 'alt9: the SET was rolled back') RETURNING k",
			"START TRANSACTION", "INSERT INTO public.tgt (k, v) VALUES (3, 'public')", "END",
			"INSERT INTO tgt (k, v) VALUES (4, 'alt9 still')"],
		taken=1),
	# rows pgbatchd writes on the session's connection run the table's
	# triggers there: one that changes the session is seen
	"tx_rows_trigger_sets_search_path": dict(
		schemas=["alt9"],
		setup=["CREATE SCHEMA alt9", "CREATE TABLE alt9.tgt (LIKE public.tgt INCLUDING ALL)",
			"GRANT ALL ON SCHEMA alt9 TO PUBLIC", "GRANT ALL ON alt9.tgt TO PUBLIC"] + FLIP_PATH,
		tables=["alt9.tgt"],
		script=["INSERT INTO tgt (k, v) VALUES (1, 'a')", "BEGIN", "INSERT INTO tgt (k, v) VALUES (2, 'flip')",
			"COMMIT", "INSERT INTO tgt (k, v) VALUES (3, 'alt9: the trigger set the path')"],
		taken=2),
	"tx_passed_row_trigger_sets_search_path": dict(
		schemas=["alt9"],
		setup=["CREATE SCHEMA alt9", "CREATE TABLE alt9.tgt (LIKE public.tgt INCLUDING ALL)",
			"GRANT ALL ON SCHEMA alt9 TO PUBLIC", "GRANT ALL ON alt9.tgt TO PUBLIC"] + FLIP_PATH,
		tables=["alt9.tgt"],
		# (2.0 into an int: not taken, it runs as sent, in its place)
		script=["BEGIN", "INSERT INTO tgt (k, v) VALUES (2.0, 'flip')",
			"COMMIT", "INSERT INTO tgt (k, v) VALUES (3, 'alt9: the trigger set the path')"],
		taken=0),
	"tx_passed_row_trigger_sets_search_path_in_tx": dict(
		schemas=["alt9"],
		setup=["CREATE SCHEMA alt9", "CREATE TABLE alt9.tgt (LIKE public.tgt INCLUDING ALL)",
			"GRANT ALL ON SCHEMA alt9 TO PUBLIC", "GRANT ALL ON alt9.tgt TO PUBLIC"] + FLIP_PATH,
		tables=["alt9.tgt"],
		script=["BEGIN", "INSERT INTO tgt (k, v) VALUES (2.0, 'flip')",
			"INSERT INTO tgt (k, v) VALUES (3, 'alt9: the trigger set the path')", "COMMIT"],
		taken=0),
	# the staged rows go before the statement that follows them, and their
	# triggers may change what its table names mean: its conflict clause is
	# decided after them (here alt9.tgt, no clause: 23505 as directly)
	"tx_staged_row_trigger_sets_path_before_passed_insert": dict(
		schemas=["alt9"],
		setup=["CREATE SCHEMA alt9", "CREATE TABLE alt9.tgt (LIKE public.tgt INCLUDING ALL)",
			"GRANT ALL ON SCHEMA alt9 TO PUBLIC", "GRANT ALL ON alt9.tgt TO PUBLIC",
			"INSERT INTO alt9.tgt (k, v) VALUES (1, 'alt9')"] + FLIP_PATH,
		tables=["alt9.tgt"], conf={"conflictmode": "upsert"},
		script=["BEGIN", "INSERT INTO tgt (k, v) VALUES (2, 'flip')",
			"INSERT INTO tgt (k, v) VALUES (1.0, 'alt9: passed, no clause')", "ROLLBACK",
			"BEGIN", "INSERT INTO tgt (k, v) VALUES (3, 'flip')",
			"INSERT INTO tgt (k, v) VALUES (1, 'alt9: taken or not, no clause') RETURNING k", "ROLLBACK",
			"BEGIN", "INSERT INTO tgt (k, v) VALUES (4, 'flip')",
			"WITH r AS (INSERT INTO tgt (k, v) VALUES (1, 'alt9: in a WITH') RETURNING k) SELECT k FROM r",
			"COMMIT"],
		taken=3),
	# a custom setting (a placeholder: not in pg_settings) read by a trigger
	# (directwrite = 0: on the client's own connection a row would read it anyway)
	"custom_setting_set_read_by_trigger": dict(
		setup=AUDIT, conf={"directwrite": 0},
		script=["INSERT INTO tgt (k, v) VALUES (1, 'before')", "SET app.who = 'alice'",
			"INSERT INTO tgt (k, v) VALUES (2, 'after SET')",
			"SELECT pg_catalog.set_config('app.who', 'bob', false)",
			"INSERT INTO tgt (k, v) VALUES (3, 'after set_config')"],
		taken=1),
	"custom_setting_quoted_name": dict(
		setup=AUDIT, conf={"directwrite": 0},
		script=["INSERT INTO tgt (k, v) VALUES (1, 'before')", "SET \"app.who\" TO 'erin'",
			"INSERT INTO tgt (k, v) VALUES (2, 'after SET')"],
		taken=1),
	"custom_setting_by_set_config": dict(
		setup=AUDIT, conf={"directwrite": 0},
		script=["INSERT INTO tgt (k, v) VALUES (1, 'before')",
			"SELECT set_config('search_path', 'public', false)",
			"INSERT INTO tgt (k, v) VALUES (2, 'a built-in setting: the view sees it')",
			"SELECT 1, set_config('app.who', 'dave', false)",
			"INSERT INTO tgt (k, v) VALUES (3, 'after set_config')"],
		taken=2),
	"custom_setting_in_startup_options": dict(
		setup=AUDIT, conf={"directwrite": 0},
		params={"options": "-c app.who=carol"},
		script=["INSERT INTO tgt (k, v) VALUES (1, 'from the startup packet')"],
		taken=0),
	# search_path, every way a session can set it
	"set_upper_then_reset": dict(
		schemas=["alt1"],
		setup=["CREATE SCHEMA alt1", "CREATE TABLE alt1.tgt (LIKE public.tgt INCLUDING ALL)",
			"GRANT ALL ON SCHEMA alt1 TO PUBLIC", "GRANT ALL ON alt1.tgt TO PUBLIC"],
		tables=["alt1.tgt"],
		script=["SET Search_Path TO alt1", "INSERT INTO tgt (k, v) VALUES (1, 'alt')",
			"INSERT INTO public.tgt (k, v) VALUES (2, 'qualified')",
			"RESET search_path", "INSERT INTO tgt (k, v) VALUES (3, 'public')"],
		taken=2),
	"path_falls_through_then_shadowed": dict(
		schemas=["alt2"],
		setup=["CREATE SCHEMA alt2", "GRANT ALL ON SCHEMA alt2 TO PUBLIC"],
		tables=[],
		script=["SET search_path = alt2, public", "INSERT INTO tgt (k, v) VALUES (1, 'public')",
			"CREATE TABLE alt2.tgt (LIKE public.tgt)", "INSERT INTO tgt (k, v) VALUES (2, 'alt2')",
			"SELECT k, v FROM alt2.tgt", "DROP TABLE alt2.tgt",
			"INSERT INTO tgt (k, v) VALUES (3, 'public again')"],
		taken=2),
	"set_config_function": dict(
		schemas=["alt3"],
		setup=["CREATE SCHEMA alt3", "CREATE TABLE alt3.tgt (LIKE public.tgt)"],
		tables=["alt3.tgt"],
		script=["SELECT pg_catalog.set_config('search_path', 'alt3', false)",
			"INSERT INTO tgt (k, v) VALUES (1, 'alt3')",
			"SELECT set_config('search_path', 'public', true)",
			"INSERT INTO tgt (k, v) VALUES (2, 'alt3 still: is_local ended with its statement')"],
		taken=0),
	"role_default_search_path": dict(
		schemas=["alt_b"],
		setup=["CREATE SCHEMA alt_b AUTHORIZATION sess_b", "CREATE TABLE alt_b.tgt (LIKE public.tgt)",
			"ALTER TABLE alt_b.tgt OWNER TO sess_b"],
		tables=["alt_b.tgt"],
		user="sess_b",
		script=["INSERT INTO tgt (k, v) VALUES (1, 'role default')",
			"INSERT INTO public.tgt (k, v) VALUES (2, 'qualified')"],
		taken=1),
	"user_schema": dict(
		schemas=["sess_home"],
		setup=["CREATE SCHEMA sess_home AUTHORIZATION sess_home",
			"CREATE TABLE sess_home.tgt (LIKE public.tgt)", "ALTER TABLE sess_home.tgt OWNER TO sess_home"],
		tables=["sess_home.tgt"],
		user="sess_home",
		script=["INSERT INTO tgt (k, v) VALUES (1, '$user')", "SHOW search_path"],
		taken=0),
	"startup_options": dict(
		schemas=["alt4"],
		setup=["CREATE SCHEMA alt4", "CREATE TABLE alt4.tgt (LIKE public.tgt)"],
		tables=["alt4.tgt"],
		params={"options": "-c search_path=alt4"},
		script=["INSERT INTO tgt (k, v) VALUES (1, 'options')", "INSERT INTO public.tgt VALUES (2, 'q')"],
		taken=1),
	"set_local_in_transaction": dict(
		schemas=["alt5"],
		setup=["CREATE SCHEMA alt5", "CREATE TABLE alt5.tgt (LIKE public.tgt)"],
		tables=["alt5.tgt"],
		script=["BEGIN", "SET LOCAL search_path = alt5", "INSERT INTO tgt (k, v) VALUES (1, 'local')",
			"COMMIT", "INSERT INTO tgt (k, v) VALUES (2, 'after')"],
		taken=1),
	# temporary tables shadow the configured one
	"temp_table_then_dropped": dict(
		script=["CREATE TEMP TABLE tgt (k int PRIMARY KEY, v text, who text, ts timestamptz, x xml)",
			"INSERT INTO tgt (k, v) VALUES (1, 'temp')", "SELECT k, v FROM tgt",
			"DROP TABLE tgt", "INSERT INTO tgt (k, v) VALUES (2, 'public')"],
		taken=1),
	"temp_table_from_do_block": dict(
		script=["INSERT INTO tgt (k, v) VALUES (1, 'before')",
			"DO $$BEGIN CREATE TEMP TABLE tgt (LIKE public.tgt); END$$",
			"INSERT INTO tgt (k, v) VALUES (2, 'temp')", "SELECT k, v FROM pg_temp.tgt",
			"DISCARD TEMP", "INSERT INTO tgt (k, v) VALUES (3, 'after discard')"],
		taken=2),
	# identity: the role the session runs as
	"set_role_without_insert": dict(
		user="sess_a",
		script=["SET ROLE sess_noins", "INSERT INTO tgt (k, v) VALUES (1, 'refused')",
			"SET ROLE sess_ins", "INSERT INTO tgt (k, v) VALUES (2, 'as sess_ins')",
			"RESET ROLE", "INSERT INTO tgt (k, v) VALUES (3, 'as sess_a')"],
		taken=3),
	"session_authorization": dict(
		script=["SET SESSION AUTHORIZATION sess_ins", "INSERT INTO tgt (k, v) VALUES (1, 'auth')",
			"SELECT session_user, current_user", "RESET SESSION AUTHORIZATION",
			"INSERT INTO tgt (k, v) VALUES (2, 'super')"],
		taken=2),
	# read-only sessions and transactions
	"default_read_only": dict(
		script=["SET default_transaction_read_only = on", "INSERT INTO tgt (k, v) VALUES (1, 'ro')",
			"SET default_transaction_read_only = off", "INSERT INTO tgt (k, v) VALUES (2, 'rw')"],
		taken=1),
	"session_characteristics": dict(
		script=["SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
			"INSERT INTO tgt (k, v) VALUES (1, 'ro')"],
		taken=0),
	"role_read_only": dict(
		user="sess_ro",
		script=["INSERT INTO tgt (k, v) VALUES (1, 'ro')", "BEGIN READ WRITE",
			"INSERT INTO tgt (k, v) VALUES (2, 'rw')", "COMMIT"],
		taken=1),
	# settings that change how a literal reads
	"zone_abbreviations": dict(
		script=["SET TimeZone = 'UTC'", "SET timezone_abbreviations = 'India'",
			"INSERT INTO tgt (k, ts) VALUES (1, '2024-03-01 10:00 IST')",
			"INSERT INTO tgt (k, v) VALUES (2, 'no time in it')",
			"SET timezone_abbreviations = 'Australia'",
			"INSERT INTO tgt (k, ts) VALUES (3, '2024-03-01 10:00 EST')"],
		taken=3),       # written with the session's settings set for them
	"xmloption_document": dict(
		script=["SET xmloption = document", "INSERT INTO tgt (k, x) VALUES (1, '<a/><b/>')",
			"INSERT INTO tgt (k, x) VALUES (2, '<doc/>')", "INSERT INTO tgt (k, v) VALUES (3, 'plain')",
			"SET xmloption = content", "INSERT INTO tgt (k, x) VALUES (4, 'just text')"],
		taken=4),
	# typed literals whose cast changes the value
	"length_casts": dict(
		ddl="CREATE TABLE public.tgt (k int PRIMARY KEY, vc varchar(3), ch char(3), bt bit(3), "
			"vb varbit(3), nu numeric(6,2), t0 timestamp(0))",
		script=["INSERT INTO tgt (k, vc) VALUES (1, 'abcdef'::varchar(3))",
			"INSERT INTO tgt (k, vc) VALUES (2, 'abcdef')",
			"INSERT INTO tgt (k, ch) VALUES (3, 'xyzzy'::character(3))",
			"INSERT INTO tgt (k, ch) VALUES (4, 'pq'::char)",
			"INSERT INTO tgt (k, bt, vb) VALUES (5, B'10101'::bit(3), '1111'::bit varying(3))",
			"INSERT INTO tgt (k, bt) VALUES (6, '10101')",
			"INSERT INTO tgt (k, vc) VALUES (7, 'ab'::varchar(3))",
			"INSERT INTO tgt (k, nu, t0) VALUES (8, '1.239'::numeric(6,2), "
			"'2024-01-01 10:00:00.7'::timestamp(0))",
			"INSERT INTO tgt (k, vc) VALUES (9, 'abc'::varchar)"],
		taken=4),
}

# composite, domain and enum columns, every write path
TYPED = "CREATE TABLE public.tgt (k int PRIMARY KEY, pt sess_pt, dm sess_dom, en sess_en, " \
	"arr sess_en[], v text)"
for _wm, _stage in ((0, None), (1, 1), (1, None), (2, None)):
	CASES["typed_columns_w%d%s" % (_wm, "s" if _stage else "")] = dict(
		ddl=TYPED, conf={"writemode": _wm, "copystageminrows": _stage},
		script=["INSERT INTO tgt (k, pt, dm, en, v) VALUES (1, '(1,\"a b\")', 5, 'red', 'after')",
			"INSERT INTO tgt VALUES (2, '(2,)', 7, 'blue', '{red,blue}', 'x'), (3, NULL, NULL, NULL, NULL, 'y')",
			"INSERT INTO tgt (k, dm) VALUES (4, -1)",
			"INSERT INTO tgt (k, en) VALUES (5, 'purple')",
			"INSERT INTO tgt (k, pt) VALUES (6, '(x,y)')",
			"INSERT INTO tgt (k, pt, arr, v) VALUES (7, '(9,z)', '{blue}', 'last')"],
		taken=7)


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_as_direct(roles, make_proxy, name):
	same_as_direct(roles, make_proxy, CASES[name])


def test_ingest_only_session_asks_once(roles, make_proxy):
	"""A session that only inserts asks for its view once, before its first INSERT;
	a statement that passes through makes the next INSERT ask again. The count is
	the backend's own (pg_stat_statements). (Sessions with a backend from their
	login; without one, the login's check asks: test_backendless.py.)"""
	pg = roles
	pg.sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
	teardown_objects(pg, [])
	setup_objects(pg, [])
	try:
		proxy = su.start_sink_proxy(make_proxy, {"tgt": {"ackmode": "commit", "exceptionmode": "strict"}}, users=USERS,
			pgbatchd={"lazy_backend": 0})
		pg.sql("SELECT pg_stat_statements_reset()")

		def asked():
			rows = pg.sql("SELECT coalesce(sum(calls), 0)::int FROM pg_stat_statements "
				"WHERE query LIKE '%current_setting%to_regclass%'")
			return rows[0][0]

		n = 10000
		with su.Session.to(proxy) as s:
			for i, msgs in enumerate(s.pipeline(["INSERT INTO tgt (k, v) VALUES (%d, 'r')" % i
							     for i in range(n)])):
				assert msgs == su.insert_reply(1), su.show(msgs)
			assert su.count(pg, "tgt") == n
			assert asked() == 1
			assert s.rows("SELECT 1") == [["1"]]        # passes through
			assert asked() == 1                          # nothing asked for a SELECT
			s.insert("INSERT INTO tgt (k, v) VALUES (-1, 'after a SELECT')", 1)
			s.insert("INSERT INTO tgt (k, v) VALUES (-2, 'and again')", 1)
			assert asked() == 2
		st = su.stats(proxy)
		assert st.sink["rows_in"] == n + 2, st
	finally:
		teardown_objects(pg, [])


def asked_views(pg, settings):
	"""How many times the backend was asked a session's view: with the scan of
	its settings (pg_settings), or without."""
	rows = pg.sql("SELECT coalesce(sum(calls), 0)::int FROM pg_stat_statements "
		"WHERE query LIKE '%%current_setting%%to_regclass%%' AND query %s LIKE '%%pg_settings%%'" %
		("" if settings else "NOT"))
	return rows[0][0]


def test_returning_inserts_keep_the_view(roles, make_proxy):
	"""INSERT ... RETURNING (the ORM way) passes through with its table's
	clause. Into a table that no trigger, rule or volatile default can make
	change the session, an INSERT of constants returning plain columns leaves
	the session's view true: the next one is not held up by asking it again.
	Anything else asks again, and without the scan of every setting (about 1 ms
	of the server's) unless the writers may take the INSERT."""
	pg = roles
	pg.sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
	teardown_objects(pg, [])
	setup_objects(pg, [])
	try:
		proxy = su.start_sink_proxy(make_proxy, {"tgt": {"ackmode": "commit", "conflictmode": "upsert"}},
					    users=USERS, pgbatchd={"lazy_backend": 0})
		pg.sql("SELECT pg_stat_statements_reset()")

		def asked():
			return (asked_views(pg, True), asked_views(pg, False))

		n = 20
		with su.Session.to(proxy) as s:
			s.insert("INSERT INTO tgt (k, v) VALUES (0, 'taken')", 1)
			assert asked() == (1, 0)
			for i in range(1, n + 1):
				assert s.rows("INSERT INTO tgt (k, v) VALUES (%d, 'r') RETURNING k, v AS w" % i) == \
					[[str(i), "r"]]
			# the same row again: the table's clause made it an upsert
			assert s.rows("INSERT INTO tgt (k, v) VALUES (1, 'again') RETURNING *")[0][:2] == ["1", "again"]
			assert asked() == (1, 0)
			# a function in its RETURNING list: the view is asked again, without the settings
			assert s.rows("INSERT INTO tgt (k, v) VALUES (2, 'b') RETURNING pg_catalog.upper(v)") == [["B"]]
			assert s.rows("INSERT INTO tgt (k, v) VALUES (3, 'c') RETURNING k") == [["3"]]
			assert asked() == (1, 1)
			st = su.stats(proxy)
			assert st.sink["passthrough_private_settings"] == 0, st
			# a setting of its own: the next INSERT the writers could take asks
			# for the settings, and passes through (it is the session's to read)
			s.ok("SET array_nulls = off")
			assert s.rows("INSERT INTO tgt (k, v) VALUES (100, 'r') RETURNING k") == [["100"]]
			assert asked() == (1, 2)
			s.insert("INSERT INTO tgt (k, v) VALUES (101, 'as sent')", 1)
			assert asked() == (2, 2)
		st = su.stats(proxy)
		assert st.sink["passthrough_private_settings"] == 1, st
		assert st.sink["rows_in"] == 1, st
		assert pg.sql("SELECT k, v FROM tgt WHERE k IN (1, 101) ORDER BY k") == [(1, "again"), (101, "as sent")]
	finally:
		teardown_objects(pg, [])


FLIP_FN = ("CREATE FUNCTION public.tgt_flip(text) RETURNS boolean LANGUAGE plpgsql VOLATILE AS "
	   "$$BEGIN IF $1 = 'flip' THEN PERFORM pg_catalog.set_config('array_nulls', 'off', false); END IF; "
	   "RETURN true; END$$")
FLIP_WAYS = {
	"trigger": ["CREATE FUNCTION public.tgt_flip_tg() RETURNS trigger LANGUAGE plpgsql AS "
		    "$$BEGIN PERFORM public.tgt_flip(NEW.v); RETURN NEW; END$$",
		    "CREATE TRIGGER tgt_flip BEFORE INSERT ON public.tgt FOR EACH ROW EXECUTE FUNCTION public.tgt_flip_tg()"],
	"check": ["ALTER TABLE public.tgt ADD CONSTRAINT tgt_flip CHECK (public.tgt_flip(v))"],
	"domain": ["CREATE DOMAIN public.flip_text AS text CHECK (public.tgt_flip(VALUE))",
		   "ALTER TABLE public.tgt ALTER COLUMN v TYPE public.flip_text"],
}


@pytest.mark.parametrize("way", sorted(FLIP_WAYS))
def test_returning_insert_that_sets_a_setting(roles, make_proxy, way):
	"""A trigger, a CHECK constraint or a domain's may change the session
	(set_config): after an INSERT ... RETURNING into its table the view is
	asked again, and the session's next INSERT passes through with the setting
	it made (as directly)."""
	pg = roles
	pg.sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
	teardown_objects(pg, [])
	setup_objects(pg, [FLIP_FN] + FLIP_WAYS[way])
	try:
		proxy = su.start_sink_proxy(make_proxy, {"tgt": {"ackmode": "commit", "conflictmode": "upsert"}},
					    users=USERS)
		pg.sql("SELECT pg_stat_statements_reset()")
		with su.Session.to(proxy) as s:
			s.insert("INSERT INTO tgt (k, v) VALUES (1, 'taken')", 1)
			assert s.rows("INSERT INTO tgt (k, v) VALUES (2, 'flip') RETURNING k") == [["2"]]
			s.insert("INSERT INTO tgt (k, v) VALUES (3, 'as sent')", 1)
			assert s.rows("SHOW array_nulls") == [["off"]]
			assert asked_views(pg, True) == 2
		st = su.stats(proxy)
		assert st.sink["rows_in"] == 1, st
		assert st.sink["passthrough_private_settings"] == 1, st
		assert su.count(pg, "tgt") == 3
	finally:
		pg.sql("DROP TABLE IF EXISTS public.tgt")
		pg.sql("DROP DOMAIN IF EXISTS public.flip_text")
		pg.sql("DROP FUNCTION IF EXISTS public.tgt_flip_tg()")
		pg.sql("DROP FUNCTION IF EXISTS public.tgt_flip(text)")


def test_extended_insert_in_a_transaction_skips_the_settings_scan(roles, make_proxy):
	"""An extended-protocol INSERT in a transaction block is written in that
	transaction, on the client's connection: its view is asked without the
	scan of every setting (pgjdbc with autoCommit off, one transaction per
	row: the scan cost the server about 1 ms a transaction). In autocommit the
	writers may take it: asked with the settings."""
	pg = roles
	pg.sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
	teardown_objects(pg, [])
	setup_objects(pg, [])
	try:
		proxy = su.start_sink_proxy(make_proxy, {"tgt": {"ackmode": "commit"}}, users=USERS)
		pg.sql("SELECT pg_stat_statements_reset()")

		def ext_insert(s, k, status):
			s.send(w.parse("", "INSERT INTO tgt (k, v) VALUES ($1, $2)") + w.bind("", "", [str(k), "x"]) +
			       w.execute("") + w.sync())
			msgs = s.read_until("Z")
			assert [t for t, _ in msgs] == ["1", "2", "C", "Z"], su.show(msgs)
			assert msgs[2][1] == b"INSERT 0 1\0" and msgs[3][1] == status, su.show(msgs)

		with su.Session.to(proxy) as s:
			s.insert("INSERT INTO tgt (k, v) VALUES (0, 'first')", 1)
			full = asked_views(pg, True)
			for k in (1, 2, 3):
				s.ok("BEGIN")
				ext_insert(s, k, b"T")
				s.ok("COMMIT")
			assert asked_views(pg, True) == full
			assert asked_views(pg, False) >= 1      # (asked, without the settings)
			ext_insert(s, 4, b"I")
			assert asked_views(pg, True) == full + 1
		assert su.count(pg, "tgt") == 5
	finally:
		teardown_objects(pg, [])


def test_transactions_keep_the_view(roles, make_proxy):
	"""BEGIN and COMMIT change nothing the view holds: a session of one-row
	transactions asks it once, not once per transaction (each question held
	the INSERT up by a round trip to the server)."""
	pg = roles
	pg.sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
	teardown_objects(pg, [])
	setup_objects(pg, [])
	try:
		proxy = su.start_sink_proxy(make_proxy, {"tgt": {"ackmode": "commit"}}, users=USERS,
			pgbatchd={"lazy_backend": 0})
		pg.sql("SELECT pg_stat_statements_reset()")
		with su.Session.to(proxy) as s:
			s.insert("INSERT INTO tgt (k, v) VALUES (0, 'autocommit')", 1)
			asked = asked_views(pg, True) + asked_views(pg, False)
			for k in range(1, 11):
				s.ok("BEGIN" if k % 2 else "START TRANSACTION")
				s.run("INSERT INTO tgt (k, v) VALUES (%d, 'in a transaction')" % k)
				s.ok("COMMIT" if k % 3 else "END;")
			assert asked_views(pg, True) + asked_views(pg, False) == asked
			s.ok("BEGIN ISOLATION LEVEL SERIALIZABLE")     # (not plain: asked again)
			s.run("INSERT INTO tgt (k, v) VALUES (11, 'in a transaction')")
			s.ok("COMMIT")
			assert asked_views(pg, True) + asked_views(pg, False) == asked + 1
		assert su.count(pg, "tgt") == 12
	finally:
		teardown_objects(pg, [])


def test_commit_pipelined_forgets_the_transaction(roles, make_proxy):
	"""COMMIT sent ahead of its answer, with a statement behind it that does not
	wait for it (a Query whose first statement is no INSERT gets its clause at
	once): a view asked inside the transaction is not used after it, the
	replies and the tables are as directly."""
	pg = roles
	script = ["SET search_path = alt9, public", "BEGIN", "SET LOCAL search_path = public",
		  "INSERT INTO tgt (k, v) VALUES (2, 'public') RETURNING k", "COMMIT",
		  "SELECT 1; INSERT INTO tgt (k, v) VALUES (1, 'alt9 dup') RETURNING k"]
	setup = ["CREATE SCHEMA alt9", "CREATE TABLE alt9.tgt (LIKE public.tgt INCLUDING ALL)",
		 "GRANT ALL ON SCHEMA alt9 TO PUBLIC", "GRANT ALL ON alt9.tgt TO PUBLIC",
		 "INSERT INTO alt9.tgt (k, v) VALUES (1, 'alt9')"]

	def run(server):
		with su.Session.to(server) as s:
			return [[norm(t, p) for t, p in msgs] for msgs in s.pipeline(script)]

	teardown_objects(pg, ["alt9"])
	setup_objects(pg, setup)
	try:
		want = run(pg)
		want_rows = contents(pg, ["public.tgt", "alt9.tgt"])
	finally:
		teardown_objects(pg, ["alt9"])
	setup_objects(pg, setup)
	try:
		proxy = su.start_sink_proxy(make_proxy, {"tgt": {"ackmode": "commit", "conflictmode": "upsert"}},
					    users=USERS)
		got = run(proxy)
		got_rows = contents(pg, ["public.tgt", "alt9.tgt"])
	finally:
		teardown_objects(pg, ["alt9"])
	assert any(m[0] == "E" and m[2] == "23505" for m in want[-1]), want
	for sql, a, b in zip(script, want, got):
		assert a == b, "%s\n directly: %r\n proxy:    %r" % (sql, a, b)
	assert want_rows == got_rows


def test_returning_attribute_call_changes_the_session(roles, make_proxy):
	"""RETURNING tgt.f is the call f(tgt) when tgt has no column f: a function
	may change the session there (set_config of search_path), so the view is
	asked again and the next unqualified INSERT goes where the new path says,
	as directly."""
	pg = roles
	teardown_objects(pg, ["alt"])
	setup_objects(pg, ["CREATE SCHEMA alt", "CREATE TABLE alt.tgt (k int PRIMARY KEY, v text)",
			   "GRANT ALL ON SCHEMA alt TO PUBLIC", "GRANT ALL ON alt.tgt TO PUBLIC",
			   "CREATE FUNCTION public.flip(public.tgt) RETURNS int LANGUAGE sql AS "
			   "$$SELECT length(pg_catalog.set_config('search_path', 'alt, public', false))$$"])
	try:
		proxy = su.start_sink_proxy(make_proxy, {"tgt": {"ackmode": "commit", "conflictmode": "upsert"}},
					    users=USERS)
		with su.Session.to(proxy) as s:
			s.insert("INSERT INTO tgt (k, v) VALUES (1, 'taken')", 1)
			assert s.rows("INSERT INTO tgt (k, v) VALUES (2, 'r') RETURNING tgt.flip") == [["11"]]
			s.insert("INSERT INTO tgt (k, v) VALUES (3, 'into alt')", 1)
		st = su.stats(proxy)
		assert st.sink["rows_in"] == 1, st
		assert pg.sql("SELECT k, v FROM alt.tgt") == [(3, "into alt")]
		assert pg.sql("SELECT k FROM public.tgt ORDER BY k") == [(1,), (2,)]
	finally:
		pg.sql("DROP FUNCTION IF EXISTS public.flip(public.tgt)")
		teardown_objects(pg, ["alt"])


def test_pass_through_keeps_conflictmode(roles, make_proxy):
	"""An INSERT into the configured upsert table that pgbatchd does not take
	(casts to other types: a timestamp read as timestamptz in the session's zone,
	...)
	still upserts: the table's clause is appended where its VALUES end, before a
	trailing semicolon or comment; and it runs after the session's earlier rows."""
	pg = roles
	teardown_objects(pg, [])
	setup_objects(pg, [])
	try:
		proxy = su.start_sink_proxy(make_proxy, {"tgt": {"ackmode": "immediate", "adaptiveflush": 0,
			"batchwritetimeoutms": su.HUGE_TIMEOUT_MS}}, users=USERS)
		with su.Session.to(proxy) as s:
			s.insert("INSERT INTO tgt (k, v) VALUES (1, 'buffered')", 1)    # acknowledged, buffered
			s.ok("SET TimeZone = 'Asia/Kolkata'")
			s.insert("INSERT INTO tgt (k, ts) VALUES (1, '2024-03-01 10:00'::timestamp); -- a comment", 1)
			s.insert("INSERT INTO tgt (k, v) VALUES (2, 'x'::varchar)", 1)
			s.insert("INSERT INTO tgt (k, v) VALUES (2, 'y'::name)", 1)
			s.insert("INSERT INTO tgt (k, v) VALUES (2, 'z'::name) /* c */", 1)
			got = s.rows("SELECT k, v, ts::text FROM tgt ORDER BY k")
		# upsert sets every column: the row of key 1 is the last INSERT's
		assert got == [["1", None, "2024-03-01 10:00:00+05:30"], ["2", "z", None]], got
		st = su.stats(proxy)
		assert st.sink["pass_clauses"] == 4, st
		assert st.sink["rows_in"] == 1, st
	finally:
		teardown_objects(pg, [])


def test_unreadable_inserts_keep_conflictmode(roles, make_proxy):
	"""INSERTs the recognizer does not take at all — an expression, a SELECT source,
	RETURNING, DEFAULT VALUES — into the configured upsert table still upsert:
	each gives what the same statement with the table's clause gives directly.
	One into a same-named table elsewhere in the search_path is left alone."""
	pg = roles
	stmts = ["INSERT INTO tgt (k, v) VALUES (1, 'a' || 'b')",
		"INSERT INTO tgt (k, v) VALUES (1, upper('again'))",
		"INSERT INTO tgt (k, v, ts) VALUES (2, 'r', '2024-01-01 00:00+00'::timestamptz + interval '1 day') "
		"RETURNING k, v",
		"INSERT INTO tgt (k, v) VALUES (2, lower('R2')) RETURNING v;",
		"INSERT INTO tgt SELECT 3, 'sel', 'who'",
		"INSERT INTO public.tgt (k) SELECT 3 -- comment",
		"INSERT INTO tgt (k, v) VALUES (4, 'x'), (5, 'y' || '')"]
	clause = " ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v, who = EXCLUDED.who, ts = EXCLUDED.ts, x = EXCLUDED.x"

	def with_clause(sql):
		body, sep, rest = sql.partition(" RETURNING ")
		body = body.rstrip(";").replace(" -- comment", "")
		return body + clause + (sep + rest.rstrip(";") if sep else "")

	teardown_objects(pg, ["alt9"])
	setup_objects(pg, ["CREATE SCHEMA alt9", "CREATE TABLE alt9.tgt (LIKE public.tgt)"])
	try:
		with su.Session.to(pg) as d:
			want = [[norm(t, p) for t, p in d.run(with_clause(sql))] for sql in stmts]
			d.ok("SET search_path = alt9, public")
			want.append([norm(t, p) for t, p in d.run(stmts[0])])
			want_rows = contents(pg, ["public.tgt", "alt9.tgt"])
	finally:
		teardown_objects(pg, ["alt9"])
	setup_objects(pg, ["CREATE SCHEMA alt9", "CREATE TABLE alt9.tgt (LIKE public.tgt)"])
	try:
		proxy = su.start_sink_proxy(make_proxy, {"tgt": {"ackmode": "commit"}}, users=USERS)
		with su.Session.to(proxy) as s:
			s.insert("INSERT INTO tgt (k, v) VALUES (0, 'loads the catalog')", 1)
			got = [[norm(t, p) for t, p in s.run(sql)] for sql in stmts]
			s.ok("SET search_path = alt9, public")
			got.append([norm(t, p) for t, p in s.run(stmts[0])])
		got_rows = contents(pg, ["public.tgt", "alt9.tgt"])
		st = su.stats(proxy)
	finally:
		teardown_objects(pg, ["alt9"])
	for sql, a, b in zip(stmts + ["(alt9) " + stmts[0]], want, got):
		assert a == b, "%s\n directly: %r\n proxy:    %r" % (sql, a, b)
	want_rows["public.tgt"] = [r for r in got_rows["public.tgt"] if '"k": 0' in r[0]] + want_rows["public.tgt"]
	assert got_rows == want_rows
	assert st.sink["pass_clauses"] == len(stmts), st


def test_insert_over_the_inspection_cap_keeps_conflictmode(roles, make_proxy):
	"""An INSERT larger than max_inspect_bytes (1 MiB by default) is still read
	whole (max_insert_bytes): sent twice into the upsert table it upserts, as a
	short one does, instead of failing 23505 the second time."""
	pg = roles
	teardown_objects(pg, [])
	setup_objects(pg, [])
	try:
		proxy = su.start_sink_proxy(make_proxy, {"tgt": {"ackmode": "commit"}}, users=USERS)
		big = "x" * (3 << 19)    # 1.5 MiB
		with su.Session.to(proxy) as s:
			s.insert("INSERT INTO tgt (k, v) VALUES (1, '%s')" % big, 1)
			s.insert("INSERT INTO tgt (k, v) VALUES (1, '%s')" % (big + "y"), 1)
		assert pg.sql("SELECT k, length(v), right(v, 1) FROM tgt") == [(1, len(big) + 1, "y")]
		st = su.stats(proxy)
		assert st.sink["rows_in"] == 2, st
	finally:
		teardown_objects(pg, [])


def test_extended_insert_after_a_trigger_sets_the_path(roles, make_proxy):
	"""In a transaction block, an extended-protocol INSERT that passes through
	(RETURNING) after a row whose trigger changed search_path: its conflict
	clause is that of the table its name now means (alt9.tgt, none: 23505 as
	directly), not of public.tgt as the name meant before the trigger ran."""
	pg = roles
	schemas = ["alt9"]
	setup = ["CREATE SCHEMA alt9", "CREATE TABLE alt9.tgt (LIKE public.tgt INCLUDING ALL)",
		 "GRANT ALL ON SCHEMA alt9 TO PUBLIC", "GRANT ALL ON alt9.tgt TO PUBLIC",
		 "INSERT INTO alt9.tgt (k, v) VALUES (1, 'alt9')"] + FLIP_PATH

	def ext(s, sql, params):
		s.send(w.parse("", sql) + w.bind("", "", params) + w.describe("P", "") + w.execute("") + w.sync())
		return [norm(t, p) for t, p in s.read_until("Z")]

	def script(server):
		with su.Session.to(server) as s:
			out = [[norm(t, p) for t, p in s.run("BEGIN")]]
			out.append(ext(s, "INSERT INTO tgt (k, v) VALUES ($1, $2)", ["2", "flip"]))
			out.append(ext(s, "INSERT INTO tgt (k, v) VALUES ($1, $2) RETURNING k", ["1", "no clause"]))
			out.append([norm(t, p) for t, p in s.run("ROLLBACK")])
			return out

	teardown_objects(pg, schemas)
	setup_objects(pg, setup)
	try:
		want = script(pg)
	finally:
		teardown_objects(pg, schemas)
	assert want[2][-2:] == [("E", "ERROR", "23505", 'duplicate key value violates unique constraint "tgt_pkey"',
				 "Key (k)=(1) already exists."), ("Z", b"E")], want
	setup_objects(pg, setup)
	try:
		proxy = su.start_sink_proxy(make_proxy, {"tgt": {"ackmode": "commit", "conflictmode": "upsert"}},
					    users=USERS)
		got = script(proxy)
		st = su.stats(proxy)
	finally:
		teardown_objects(pg, schemas)
	assert got == want
	assert st.sink.get("pass_clauses", 0) >= 1, st     # (its clause was asked for)
