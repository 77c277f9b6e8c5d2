"""The sink writes as [backend] username, but a client may only write where its own role could: a role without INSERT gets the database's 42501 and nothing is written; a role with INSERT succeeds; column privileges and row-level security are enforced as directly; a REVOKE run through the proxy takes effect."""

import pytest

import sinkutil as su

ROLES = ["noins", "withins", "colins", "rlsuser"]
USERS = dict({"postgres": "postgres"}, **{r: "pw-" + r for r in ROLES})


@pytest.fixture(scope="module")
def schema(pg):
	for r in ROLES:
		pg.sql("CREATE ROLE %s LOGIN" % r)
	pg.sql("CREATE TABLE pv (k int PRIMARY KEY, v int, s text)")
	pg.sql("GRANT SELECT ON pv TO noins")
	# the table's conflict clause (upsert, the default) is written as the
	# client's role: ON CONFLICT DO UPDATE needs UPDATE, as it would directly
	pg.sql("GRANT SELECT, INSERT, UPDATE ON pv TO withins")
	pg.sql("GRANT SELECT, INSERT (k, v) ON pv TO colins")
	pg.sql("CREATE TABLE rl (k int PRIMARY KEY, v int)")
	pg.sql("GRANT SELECT, INSERT ON rl TO rlsuser")
	pg.sql("ALTER TABLE rl ENABLE ROW LEVEL SECURITY")
	pg.sql("CREATE POLICY rl_sel ON rl FOR SELECT TO rlsuser USING (true)")
	pg.sql("CREATE POLICY rl_ins ON rl FOR INSERT TO rlsuser WITH CHECK (v > 0)")
	return pg


def make(make_proxy, **opts):
	base = {"ackmode": "commit", "verbose": 1}
	base.update(opts)
	return su.start_sink_proxy(make_proxy, {"pv": base, "rl": base}, users=USERS)


def direct_error(pg, user, sql):
	with su.Session.to(pg, user=user) as d:
		d.ok("BEGIN")
		err = su.error_of(d.run(sql))
		d.run("ROLLBACK")
	assert err is not None, sql
	return err


@pytest.mark.parametrize("ackmode", ["commit", "immediate"])
def test_role_without_insert_gets_42501(schema, make_proxy, ackmode):
	pg = schema
	proxy = make(make_proxy, ackmode=ackmode)
	for sql in ("INSERT INTO pv VALUES (1, 1, 'no')", "INSERT INTO pv (k, v) VALUES (2, 2), (3, 3)"):
		want = direct_error(pg, "noins", sql)
		with su.Session.to(proxy, user="noins") as s:
			msgs = s.run(sql)
			got = su.error_of(msgs)
			assert got is not None, "%s\n%s" % (sql, su.show(msgs))
			assert (got["C"], got["M"]) == ("42501", want["M"]), got
			assert msgs[-1] == su.READY_IDLE
			# the session goes on normally
			assert s.rows("SELECT count(*) FROM pv") == [["0"]]
	assert su.count(pg, "pv") == 0


def test_role_with_insert_succeeds(schema, make_proxy):
	pg = schema
	pg.sql("TRUNCATE pv")
	proxy = make(make_proxy)
	with su.Session.to(proxy, user="withins") as s:
		s.insert("INSERT INTO pv VALUES (10, 1, 'yes')", 1)
		s.insert("INSERT INTO pv (k, s) VALUES (11, 'a'), (12, 'b')", 2)
	# a refused role and an allowed one interleaved: each gets its own answer
	with su.Session.to(proxy, user="noins") as bad, su.Session.to(proxy, user="withins") as good:
		assert su.error_of(bad.run("INSERT INTO pv VALUES (13, 1, 'no')"))["C"] == "42501"
		good.insert("INSERT INTO pv VALUES (14, 1, 'yes')", 1)
		assert su.error_of(bad.run("INSERT INTO pv VALUES (15, 1, 'no')"))["C"] == "42501"
	assert pg.sql("SELECT k FROM pv ORDER BY k") == [(10,), (11,), (12,), (14,)]
	st = su.stats(proxy)
	assert st.sink["rows_in"] == 4 and st.sink["rows_written"] == 4, st


def test_column_privileges_enforced(schema, make_proxy):
	"""INSERT on (k, v) only: naming s is refused as directly. (k, v) passes
	through (the sink does not check column privileges) with the table's
	clause, ON CONFLICT DO UPDATE, which needs UPDATE: refused as the same
	statement with the clause is refused directly (issue 17: no path drops
	the clause). With ignore (DO NOTHING needs no UPDATE) it works."""
	pg = schema
	pg.sql("TRUNCATE pv")
	proxy = make(make_proxy)
	bad = "INSERT INTO pv (k, v, s) VALUES (20, 1, 'no')"
	want = direct_error(pg, "colins", bad)
	with su.Session.to(proxy, user="colins") as s:
		got = su.error_of(s.run(bad))
		assert got is not None and (got["C"], got["M"]) == (want["C"], want["M"]), got
		got = su.error_of(s.run("INSERT INTO pv VALUES (21, 1, 'no')"))
		assert got is not None and got["C"] == "42501", got
		want = direct_error(pg, "colins", "INSERT INTO pv (k, v) VALUES (22, 2)" +
				    su.mode_clause("upsert", ["k"], ["v", "s"], ["k", "v"]))
		got = su.error_of(s.run("INSERT INTO pv (k, v) VALUES (22, 2)"))
		assert got is not None and (got["C"], got["M"]) == (want["C"], want["M"]), got
	ignore = su.start_sink_proxy(make_proxy, {"pv": {"ackmode": "commit", "conflictmode": "ignore"}}, users=USERS)
	with su.Session.to(ignore, user="colins") as s:
		s.insert("INSERT INTO pv (k, v) VALUES (22, 2)", 1)
		s.insert("INSERT INTO pv VALUES (23, 3)", 1)
		s.insert("INSERT INTO pv VALUES (23, 4)", 0)
	assert pg.sql("SELECT * FROM pv ORDER BY k") == [(22, 2, None), (23, 3, None)]


def test_row_level_security_enforced(schema, make_proxy):
	"""The sink's own role bypasses RLS (it owns the table): a row the policy refuses
	must still be refused, as directly."""
	pg = schema
	proxy = make(make_proxy)
	bad = "INSERT INTO rl VALUES (1, -1)"
	want = direct_error(pg, "rlsuser", bad)
	with su.Session.to(proxy, user="rlsuser") as s:
		got = su.error_of(s.run(bad))
		assert got is not None and (got["C"], got["M"]) == (want["C"], want["M"]), got
		s.insert("INSERT INTO rl VALUES (2, 2)", 1)
	assert pg.sql("SELECT * FROM rl ORDER BY k") == [(2, 2)]


def test_revoke_through_the_proxy_takes_effect(schema, make_proxy):
	"""The privilege check is cached, but a REVOKE on the table that passes through
	pgbatchd must not leave a role writing where it no longer may."""
	pg = schema
	pg.sql("TRUNCATE pv")
	pg.sql("CREATE ROLE revokee LOGIN")
	pg.sql("GRANT SELECT, INSERT, UPDATE ON pv TO revokee")
	users = dict(USERS, revokee="pw")
	proxy = su.start_sink_proxy(make_proxy, {"pv": {"ackmode": "commit"}}, users=users)
	with su.Session.to(proxy, user="revokee") as s:
		s.insert("INSERT INTO pv VALUES (30, 1)", 1)
	with su.Session.to(proxy) as admin:
		admin.ok("REVOKE INSERT ON pv FROM revokee")
	with su.Session.to(proxy, user="revokee") as s:
		got = su.error_of(s.run("INSERT INTO pv VALUES (31, 1)"))
		assert got is not None and got["C"] == "42501", got
	with su.Session.to(proxy) as admin:
		admin.ok("GRANT INSERT ON pv TO revokee")
	with su.Session.to(proxy, user="revokee") as s:
		s.insert("INSERT INTO pv VALUES (32, 1)", 1)
		# a REVOKE run directly, not through pgbatchd, while the session is
		# connected: the rows are written as the role, so PostgreSQL refuses them
		pg.sql("REVOKE INSERT ON pv FROM revokee")
		want = direct_error(pg, "revokee", "INSERT INTO pv VALUES (33, 1)")
		got = su.error_of(s.run("INSERT INTO pv VALUES (33, 1)"))
		assert got is not None and got["C"] == want["C"] == "42501" and got["M"] == want["M"], (got, want)
		pg.sql("GRANT INSERT ON pv TO revokee")
		s.insert("INSERT INTO pv VALUES (34, 1)", 1)
	assert pg.sql("SELECT k FROM pv ORDER BY k") == [(30,), (32,), (34,)]


def test_rows_are_written_as_the_client_role(schema, make_proxy):
	"""Role-dependent defaults see the client's role, not the sink's account."""
	pg = schema
	pg.sql("CREATE TABLE who (k int PRIMARY KEY, by text DEFAULT current_user, sess text DEFAULT session_user)")
	pg.sql("GRANT SELECT, INSERT, UPDATE ON who TO withins")
	proxy = su.start_sink_proxy(make_proxy, {"who": {"ackmode": "commit"}}, users=USERS)
	with su.Session.to(proxy, user="withins") as s:
		s.insert("INSERT INTO who (k) VALUES (1), (2)", 2)
	with su.Session.to(proxy) as s:
		s.insert("INSERT INTO who (k) VALUES (3)", 1)
	# directly, current_user is the role that runs the statement (session_user
	# is the sink's account: it logged in)
	assert pg.sql("SELECT k, by FROM who ORDER BY k") == [(1, "withins"), (2, "withins"), (3, "postgres")]
	assert su.stats(proxy).sink["rows_written"] == 3


def test_role_the_sink_cannot_become_passes_through(schema, make_proxy):
	"""The sink's account must be a member of a role to write as it; a role it
	cannot SET ROLE to has its INSERTs passed through (counted, said once)."""
	pg = schema
	pg.sql("CREATE ROLE sinkacct LOGIN")
	pg.sql("GRANT SELECT, INSERT, UPDATE ON pv TO sinkacct")
	pg.sql("GRANT withins TO sinkacct")
	pg.sql("TRUNCATE pv")
	users = dict(USERS, sinkacct="pw")
	proxy = su.start_sink_proxy(make_proxy, {"pv": {"ackmode": "commit"}}, users=users,
		backend_user="sinkacct", backend_password="pw")
	with su.Session.to(proxy, user="withins") as s:
		s.insert("INSERT INTO pv VALUES (40, 1)", 1)
	pg.sql("GRANT INSERT, UPDATE ON pv TO noins")
	with su.Session.to(proxy, user="noins") as s:
		for k in (41, 42):
			s.insert("INSERT INTO pv VALUES (%d, 1)" % k, 1)
	assert pg.sql("SELECT k FROM pv ORDER BY k") == [(40,), (41,), (42,)]
	st = su.stats(proxy)
	assert st.sink["rows_written"] == 1 and st.sink["passthrough_role"] == 2, st
	assert proxy.log().count("cannot SET ROLE to noins") == 1
	pg.sql("REVOKE INSERT, UPDATE ON pv FROM noins")


def test_writer_starting_as_another_role(pg, make_proxy):
	"""The sink's login starts its sessions as another role (a role setting in
	its url's options): a client whose role is the login still has its rows
	written as itself (SET LOCAL ROLE), as DEFAULT current_user shows."""
	pg.sql("DO $$BEGIN CREATE ROLE pv_writer SUPERUSER NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END$$")
	pg.sql("CREATE TABLE pv_who (k int PRIMARY KEY, who text DEFAULT current_user)")
	url = "postgresql://127.0.0.1:%d/postgres?options=-c%%20role%%3Dpv_writer" % pg.port
	proxy = su.start_sink_proxy(make_proxy, {"pv_who": {"ackmode": "commit"}}, backend_url=url)
	with su.Session.to(proxy) as s:
		s.insert("INSERT INTO pv_who (k) VALUES (1)", 1)
	assert pg.sql("SELECT who FROM pv_who") == [("postgres",)]
	assert su.stats(proxy).sink["rows_in"] == 1
