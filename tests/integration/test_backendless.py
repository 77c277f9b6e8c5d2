"""Sessions without a backend of their own (issue 19): a session that only
inserts into configured tables is served by pgbatchd alone -- its login,
ParameterStatus, view and INSERTs -- and opens its own backend only when a
statement must pass through. Each case runs the same client code directly and
through pgbatchd and compares what the client sees and what lands, and checks
in pg_stat_activity that the session had no backend of its own."""

import os
import struct
import threading

import psycopg
import pytest

import harness
import pgwire as w
import sinkutil as su

PG_SETTINGS = {"timezone": "UTC", "shared_preload_libraries": "pg_stat_statements",
	"pg_stat_statements.track": "all"}

ROLES = ["bl_ing", "bl_ps", "bl_nologin", "bl_exp", "bl_noconn", "bl_lim", "bl_hba", "bl_late", "bl_w1", "bl_w2"]
USERS = dict({"postgres": "postgres"}, **{r: "pw-" + r for r in ROLES})
TABLES = {"bl_t": {}, "bl_lock": {}, "bl_p": {"targetschema": "bl_s1"}}


@pytest.fixture(scope="module")
def setup(pg):
	for r in ROLES:
		pg.sql("CREATE ROLE %s LOGIN PASSWORD 'pw-%s'" % (r, r))
	pg.sql("ALTER ROLE bl_nologin NOLOGIN")
	pg.sql("ALTER ROLE bl_exp VALID UNTIL '2000-01-01'")
	pg.sql("ALTER ROLE bl_lim CONNECTION LIMIT 1")
	pg.sql("REVOKE CONNECT ON DATABASE postgres FROM PUBLIC")
	for r in ROLES:
		if r != "bl_noconn":
			pg.sql("GRANT CONNECT ON DATABASE postgres TO %s" % r)
	pg.sql("ALTER ROLE bl_ps SET search_path = bl_s1, public")
	pg.sql("ALTER ROLE bl_ps SET TimeZone = 'Asia/Tokyo'")
	pg.sql("ALTER ROLE bl_ps SET DateStyle = 'SQL, DMY'")
	for s in ("public", "bl_s1", "bl_s2"):
		pg.sql("CREATE SCHEMA IF NOT EXISTS %s" % s)
		pg.sql("CREATE TABLE %s.bl_t (id int, ts timestamptz, d date, who text DEFAULT current_user)" % s)
		pg.sql("GRANT USAGE ON SCHEMA %s TO PUBLIC" % s)
		pg.sql("GRANT ALL ON %s.bl_t TO PUBLIC" % s)
	for s in ("bl_s1", "bl_s2"):
		pg.sql("CREATE TABLE %s.bl_p (id int, ts timestamptz, d date, who text DEFAULT current_user)" % s)
		pg.sql("GRANT ALL ON %s.bl_p TO PUBLIC" % s)
	pg.sql("CREATE TABLE bl_lock (id int)")
	pg.sql("GRANT ALL ON bl_lock TO PUBLIC")
	# password logins for two roles, so that VALID UNTIL counts; one role refused by a line
	pg.write_hba(HBA)
	harness.wait_for(lambda: refused_directly(pg, "bl_hba"), what="pg_hba.conf reloaded")
	return pg


HBA = ["host all bl_hba 127.0.0.1/32 reject", "host all bl_exp 127.0.0.1/32 scram-sha-256",
	"host all all 127.0.0.1/32 trust"]


def refused_directly(pg, user):
	c = w.Conn(pg.host, pg.port)
	try:
		c.login(user, "postgres", password=USERS.get(user, "x"))
		return False
	except w.ServerError:
		return True
	finally:
		c.close()


def proxy_for(make_proxy, **pgbatchd):
	"""One writer, and an idle session of its own held open: more sessions
	than connectionmaxactive, so that none opens a backend for direct
	writes (a lone session does: test_a_lone_session_...)."""
	p = su.start_sink_proxy(make_proxy, TABLES, users=USERS, pgbatchd=pgbatchd or None,
		backend={"connectionmaxactive": 1})
	p.companion = su.Session.to(p)
	return p


def backends_of(pg, user):
	return pg.sql("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (user,))[0][0]


def login(host, port, user, params=None):
	"""The startup exchange; its messages (ParameterStatus in order, ...)."""
	c = w.Conn(host, port)
	try:
		return c, c.login(user, "postgres", password=USERS.get(user, "x"), params=params)
	except Exception:
		c.close()
		raise


def refusal(host, port, user):
	c = w.Conn(host, port)
	try:
		with pytest.raises(w.ServerError) as ei:
			c.login(user, "postgres", password=USERS.get(user, "x"))
		f = ei.value.fields
		return (f.get("S"), f.get("C"), f.get("M"), f.get("D"))
	finally:
		c.close()


def only(msgs, t):
	return [(m, p) for m, p in msgs if m == t]


# ------------------------------------------------------------ a session without a backend

def test_ingest_session_holds_no_backend_until_something_passes(setup, make_proxy):
	"""INSERTs into a configured table are answered exactly, with no backend
	of the session's own; its BackendKeyData is pgbatchd's. The first SELECT
	opens one (and sees the rows before it); INSERTs go on after it."""
	pg = setup
	p = proxy_for(make_proxy)
	pg.sql("TRUNCATE public.bl_t")
	c, said = login(p.host, p.port, "bl_ing")
	try:
		assert len(only(said, "K")) == 1 and c.pid >= 0x40000000
		for i in range(3):
			assert c.simple("INSERT INTO bl_t (id) VALUES (%d)" % i) == su.insert_reply(1)
		assert backends_of(pg, "bl_ing") == 0
		assert c.scalar("SELECT count(*) FROM bl_t") == "3"
		assert backends_of(pg, "bl_ing") == 1
		real = int(c.scalar("SELECT pg_backend_pid()"))
		assert real != c.pid
		assert c.simple("INSERT INTO bl_t (id) VALUES (3)") == su.insert_reply(1)
		assert c.scalar("SELECT string_agg(id::text || who, ',' ORDER BY id) FROM bl_t") == \
			"0bl_ing,1bl_ing,2bl_ing,3bl_ing"
	finally:
		c.close()
	assert "without a backend of its own" in p.log()


def test_parameter_status_and_view_as_a_backend_would_give(setup, make_proxy):
	"""A role with ALTER ROLE SET search_path, TimeZone and DateStyle, with and
	without `-c search_path=...` (and `-c DateStyle=...`) in its startup
	packet: the ParameterStatus messages (in order) are what a backend sends
	for that login, and the rows land in the schema and with the values
	PostgreSQL gives them, all with no backend of the session's own: the
	values TimeZone and DateStyle read are written with the session's settings
	set for them (the sink's connections have others). (bl_p is configured
	in bl_s1; bl_s2 has one too, first in no search_path here.)"""
	pg = setup
	p = proxy_for(make_proxy)
	ins = "INSERT INTO bl_p (id, ts, d) VALUES (%d, '2026-01-02 03:04:05', '03/04/2026')"
	for params in (None, {"options": "-c search_path=bl_s1,bl_s2 -c DateStyle=ISO,MDY"}):
		seen = {}
		for leg, (host, port) in (("direct", (pg.host, pg.port)), ("proxy", (p.host, p.port))):
			for s in ("bl_s1", "bl_s2"):
				pg.sql("TRUNCATE %s.bl_p" % s)
			c, said = login(host, port, "bl_ps", params)
			try:
				replies = [c.simple("INSERT INTO bl_p (id) VALUES (%d)" % i) for i in range(2)]
				replies += [c.simple(ins % i) for i in range(2, 4)]
				if leg == "proxy":
					assert backends_of(pg, "bl_ps") == 0
			finally:
				c.close()
			harness.wait_for(lambda: backends_of(pg, "bl_ps") == 0, what="session gone")
			rows = pg.sql("SELECT 'bl_s1', id, ts, d, who FROM bl_s1.bl_p UNION ALL "
				"SELECT 'bl_s2', id, ts, d, who FROM bl_s2.bl_p ORDER BY 1, 2")
			seen[leg] = (only(said, "S"), replies, rows)
		assert seen["proxy"] == seen["direct"]
		assert [r[0] for r in seen["direct"][2]] == ["bl_s1"] * 4
		assert replies == [su.insert_reply(1)] * 4
	assert p.log().count("without a backend of its own") == 3     # (and the companion's)


# ------------------------------------------------------------ login exactness

REFUSED = {
	"no_such_role": ("bl_nobody", None, "CREATE ROLE bl_nobody LOGIN PASSWORD 'x'"),
	"nologin": ("bl_nologin", None, "ALTER ROLE bl_nologin LOGIN"),
	"valid_until_past": ("bl_exp", None, "ALTER ROLE bl_exp VALID UNTIL 'infinity'"),
	"no_connect": ("bl_noconn", None, "GRANT CONNECT ON DATABASE postgres TO bl_noconn"),
	"hba_reject": ("bl_hba", None, None),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_login_refused_as_directly_then_accepted_once_fixed(setup, make_proxy, case):
	"""Each login PostgreSQL refuses is refused with the same FATAL (severity,
	SQLSTATE, message, detail) through pgbatchd; twice in a row, the second
	from the kept answer (one check in the log). Once the cause is fixed, a
	login through pgbatchd succeeds again within login_cache_seconds and its
	INSERT lands."""
	pg = setup
	user, _, fix = REFUSED[case]
	p = proxy_for(make_proxy, login_cache_seconds=1)
	direct = refusal(pg.host, pg.port, user)
	assert direct[0] == "FATAL"
	assert refusal(p.host, p.port, user) == direct
	assert refusal(p.host, p.port, user) == direct
	assert p.log().count("login check for %s: refused" % user) == 1
	assert backends_of(pg, user) == 0
	try:
		if fix:
			pg.sql(fix)
		else:
			pg.write_hba(HBA[1:])
			harness.wait_for(lambda: not refused_directly(pg, user), what="pg_hba.conf reloaded")
		if user == "bl_nobody":
			pg.sql("GRANT CONNECT ON DATABASE postgres TO bl_nobody")
		c, _ = login(pg.host, pg.port, user)     # directly: at once
		c.close()

		def through():
			try:
				c, _ = login(p.host, p.port, user)
			except w.ServerError:
				return False
			try:
				return c.simple("INSERT INTO bl_t (id) VALUES (-1)") == su.insert_reply(1)
			finally:
				c.close()
		harness.wait_for(through, timeout=30, what="login accepted after the fix")
	finally:
		undo = {"no_such_role": "DROP OWNED BY bl_nobody; DROP ROLE bl_nobody",
			"nologin": "ALTER ROLE bl_nologin NOLOGIN",
			"valid_until_past": "ALTER ROLE bl_exp VALID UNTIL '2000-01-01'",
			"no_connect": "REVOKE CONNECT ON DATABASE postgres FROM bl_noconn"}.get(case)
		if undo:
			harness.wait_for(lambda: backends_of(pg, user) == 0, what="sessions gone")
			for sql in undo.split("; "):
				pg.sql(sql)
		else:
			pg.write_hba(HBA)
			harness.wait_for(lambda: refused_directly(pg, user), what="pg_hba.conf reloaded")


def test_connection_limit_counts_sessions_through_pgbatchd(setup, make_proxy):
	"""CONNECTION LIMIT 1: the second session is refused as directly (53300,
	too many connections for role) while the first is open, through pgbatchd
	too -- a role with a limit gets its own backend at login, so that the
	server counts it; the refused one gets none."""
	pg = setup
	p = proxy_for(make_proxy)
	for host, port in ((pg.host, pg.port), (p.host, p.port)):
		first, _ = login(host, port, "bl_lim")
		try:
			got = refusal(host, port, "bl_lim")
			assert got[:3] == ("FATAL", "53300", 'too many connections for role "bl_lim"'), got
			assert backends_of(pg, "bl_lim") == 1
		finally:
			first.close()
		harness.wait_for(lambda: backends_of(pg, "bl_lim") == 0, what="first session gone")


# ------------------------------------------------------------ cancel and statement_timeout

def test_cancel_and_statement_timeout_without_a_backend(setup, make_proxy):
	"""An INSERT of a session without a backend waits for its batch (the table
	is locked): a CancelRequest with the key pgbatchd gave it ends the wait with
	57014 "canceling statement due to user request"; with statement_timeout in
	its startup packet, the wait ends with 57014 "... statement timeout" -- as
	directly; no row lands and still no backend of its own."""
	pg = setup
	p = proxy_for(make_proxy)
	pg.sql("TRUNCATE bl_lock")
	for leg, (host, port) in (("direct", (pg.host, pg.port)), ("proxy", (p.host, p.port))):
		locker = pg.connect()
		locker.autocommit = False
		locker.execute("LOCK TABLE bl_lock IN ACCESS EXCLUSIVE MODE")
		try:
			c, _ = login(host, port, "bl_ing")
			t, _ = login(host, port, "bl_ing", {"options": "-c statement_timeout=300"})
			try:
				c.send(w.query("INSERT INTO bl_lock VALUES (1)"))
				# directly its backend, through pgbatchd the writer's batch: waiting on the lock
				harness.wait_for(lambda: pg.sql("SELECT count(*) FROM pg_locks WHERE NOT granted")[0][0] > 0,
					what="the INSERT waiting")
				if leg == "proxy":
					assert backends_of(pg, "bl_ing") == 0
				k = w.Conn(host, port)
				k.send(w.cancel_request(c.pid, c.secret))
				k.read_eof_or_error()
				k.close()
				got = [(m, w.fields(pl)) if m == "E" else (m, pl) for m, pl in c.read_until("Z")]
				assert [(m, f.get("C"), f.get("M")) for m, f in got if m == "E"] == \
					[("E", "57014", "canceling statement due to user request")], got
				t.send(w.query("INSERT INTO bl_lock VALUES (2)"))
				got = [(m, w.fields(pl)) for m, pl in t.read_until("Z") if m == "E"]
				assert [(f.get("C"), f.get("M")) for _, f in got] == \
					[("57014", "canceling statement due to statement timeout")], got
				if leg == "proxy":
					assert backends_of(pg, "bl_ing") == 0
			finally:
				c.close()
				t.close()
		finally:
			locker.rollback()
			locker.close()
		harness.wait_for(lambda: backends_of(pg, "bl_ing") == 0, what="sessions gone")
		assert pg.sql("SELECT count(*) FROM bl_lock")[0][0] == 0


def test_a_lone_session_opens_its_backend_for_direct_writes(setup, make_proxy):
	"""A session alone (no more sessions than connectionmaxactive): its first
	row goes through the writers while its own backend opens; its next rows
	are written on that connection (direct writes), answered exactly. With
	more sessions than connectionmaxactive, nobody opens one that way."""
	pg = setup
	pg.sql("TRUNCATE public.bl_t")
	p = su.start_sink_proxy(make_proxy, TABLES, users=USERS, backend={"connectionmaxactive": 2})
	with su.Session.to(p, user="bl_ing") as s:
		assert s.simple("INSERT INTO bl_t (id) VALUES (0)") == su.insert_reply(1)
		p.wait_log(r"its backend logged in")
		for i in range(1, 5):
			assert s.simple("INSERT INTO bl_t (id) VALUES (%d)" % i) == su.insert_reply(1)
		st = su.stats(p).sink
		assert st["direct_units"] == 4 and st["batches"] == 1, st
		assert backends_of(pg, "bl_ing") == 1
	harness.wait_for(lambda: backends_of(pg, "bl_ing") == 0, what="session gone")
	crowd = [su.Session.to(p, user="bl_ing") for _ in range(3)]
	try:
		for i, s in enumerate(crowd):
			assert s.simple("INSERT INTO bl_t (id) VALUES (%d)" % (10 + i)) == su.insert_reply(1)
		assert backends_of(pg, "bl_ing") == 0
		assert su.stats(p).sink["direct_units"] == 4
	finally:
		for s in crowd:
			s.close()
	assert pg.sql("SELECT count(*) FROM public.bl_t")[0][0] == 8


def test_sessions_of_one_login_ask_nothing_of_the_server(setup, make_proxy):
	"""Twenty sessions of the same login, each inserting: one login check,
	one question of the view (pg_stat_statements counts the server's), no
	backend of their own."""
	pg = setup
	pg.sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
	p = proxy_for(make_proxy, login_cache_seconds=3600)
	pg.sql("SELECT pg_stat_statements_reset()")
	sessions = [su.Session.to(p, user="bl_ing") for _ in range(20)]
	try:
		for i, s in enumerate(sessions):
			assert s.simple("INSERT INTO bl_t (id) VALUES (%d)" % (100 + i)) == su.insert_reply(1)
		assert backends_of(pg, "bl_ing") == 0
	finally:
		for s in sessions:
			s.close()
	asked = pg.sql("SELECT coalesce(sum(calls), 0)::int FROM pg_stat_statements "
		"WHERE query LIKE '%current_setting%to_regclass%'")[0][0]
	assert asked == 1
	assert p.log().count("login: session ready, without a backend of its own") == 21


def test_a_protocol_option_the_server_does_not_know(setup, make_proxy):
	"""A `_pq_.` startup option: the server answers NegotiateProtocolVersion
	and logs in; through pgbatchd the same (its check relays it)."""
	pg = setup
	p = proxy_for(make_proxy)
	seen = {}
	for leg, (host, port) in (("direct", (pg.host, pg.port)), ("proxy", (p.host, p.port))):
		c, said = login(host, port, "bl_ing", {"_pq_.bl_option": "1"})
		try:
			seen[leg] = [(m, pl) for m, pl in said if m == "v"]
			assert c.simple("INSERT INTO bl_t (id) VALUES (1)") == su.insert_reply(1)
		finally:
			c.close()
	assert seen["proxy"] == seen["direct"] and len(seen["direct"]) == 1


def test_a_refused_backend_for_direct_writes_is_let_go(setup, make_proxy):
	"""A lone session's backend for direct writes is refused (the role got
	CONNECTION LIMIT 0 after its login was checked): the session goes on
	without one -- every INSERT answered `INSERT 0 1`, every row once. (It
	ended the session with the server's FATAL in place of an INSERT's
	answer, while the row was written: a client retrying wrote it twice.)"""
	pg = setup
	pg.sql("TRUNCATE public.bl_t")
	p = su.start_sink_proxy(make_proxy, TABLES, users=USERS, backend={"connectionmaxactive": 2},
		pgbatchd={"login_cache_seconds": 3600})
	c, _ = login(p.host, p.port, "bl_w1")
	c.close()
	harness.wait_for(lambda: backends_of(pg, "bl_w1") == 0, what="first session gone")
	pg.sql("ALTER ROLE bl_w1 CONNECTION LIMIT 0")
	try:
		c, _ = login(p.host, p.port, "bl_w1")
		try:
			for i in range(3):
				assert c.simple("INSERT INTO bl_t (id) VALUES (%d)" % i) == su.insert_reply(1)
			p.wait_log(r"its backend for direct writes was refused: it goes on without one")
			for i in range(3, 6):
				assert c.simple("INSERT INTO bl_t (id) VALUES (%d)" % i) == su.insert_reply(1)
		finally:
			c.close()
	finally:
		pg.sql("ALTER ROLE bl_w1 CONNECTION LIMIT -1")
	assert pg.sql("SELECT string_agg(id::text, ',' ORDER BY id) FROM public.bl_t")[0][0] == "0,1,2,3,4,5"



def test_idle_session_timeout_ends_a_session_without_a_backend(setup, make_proxy):
	"""idle_session_timeout (500 ms, from the startup packet): a session that
	inserted and then waits is ended by FATAL 57P05, as the server ends its
	own sessions -- also without a backend, where pgbatchd keeps the time."""
	pg = setup
	p = proxy_for(make_proxy)
	seen = {}
	for leg, (host, port) in (("direct", (pg.host, pg.port)), ("proxy", (p.host, p.port))):
		c, _ = login(host, port, "bl_ing", {"options": "-c idle_session_timeout=500"})
		try:
			assert c.simple("INSERT INTO bl_t (id) VALUES (1)") == su.insert_reply(1)
			if leg == "proxy":
				assert backends_of(pg, "bl_ing") == 0
			got = c.read_eof_or_error(timeout=60)
		finally:
			c.close()
		seen[leg] = [(m, w.fields(pl).get("S"), w.fields(pl).get("C"), w.fields(pl).get("M")) for m, pl in got]
	assert seen["proxy"] == seen["direct"] == \
		[("E", "FATAL", "57P05", "terminating connection due to idle-session timeout")], seen
