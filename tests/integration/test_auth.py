"""Authentication: clients against pgbatchd (trust, md5, scram-sha-256; plain, md5 and SCRAM secrets in auth_file), pgbatchd against backends that demand scram-sha-256, md5 or password, SSLRequest/GSSENCRequest answered 'N', and every [backend] url form."""

import re

import pytest

import harness
import pgwire as w

PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw", "dave": "dave-pw"}


@pytest.fixture(scope="module")
def secrets(pg):
	"""Real secrets from the server: alice and carol stored as SCRAM, bob and dave as md5."""
	with pg.connect() as c:
		c.execute("SET password_encryption = 'scram-sha-256'")
		c.execute("CREATE ROLE alice LOGIN PASSWORD 'alice-pw'")
		c.execute("CREATE ROLE carol LOGIN PASSWORD 'carol-pw'")
		c.execute("SET password_encryption = 'md5'")
		c.execute("CREATE ROLE bob LOGIN PASSWORD 'bob-pw'")
		c.execute("CREATE ROLE dave LOGIN PASSWORD 'dave-pw'")
		rows = c.execute("SELECT rolname, rolpassword FROM pg_authid WHERE rolname IN "
			"('alice', 'bob', 'carol', 'dave')").fetchall()
	s = dict(rows)
	assert s["alice"].startswith("SCRAM-SHA-256$") and s["bob"].startswith("md5")
	return s


@pytest.fixture
def hba(pg):
	"""Sets the backend's TCP auth method for one test; back to trust after."""
	def set_method(method):
		pg.set_hba(method)
	yield set_method
	pg.set_hba("trust")


def login(host, port, user, password=None, ssl_probe=False):
	"""('ok', current_user, auth request codes seen) or ('error', sqlstate, message)."""
	with w.Conn(host, port) as c:
		try:
			msgs = c.login(user, "postgres", password=password, ssl_probe=ssl_probe)
		except w.ServerError as e:
			return ("error", e.sqlstate, e.fields.get("M"))
		codes = [int.from_bytes(p[:4], "big") for t, p in msgs if t == "R"]
		return ("ok", c.scalar("SELECT current_user"), codes)


def psql_login(host, port, user, password, **env):
	res = harness.psql(host, port, ["-w", "-Atc", "SELECT current_user, session_user"], user=user,
		password=password, env=env)
	text = (res.stdout + res.stderr).decode(errors="replace")
	return res.returncode, re.sub(r'port \d+', "port N", text)


# ------------------------------------------------------------ client -> pgbatchd

CLIENT_CASES = [
	# (auth_type, user, what auth_file holds for the user)
	("trust", "alice", "plain"),
	("md5", "alice", "plain"),
	("md5", "bob", "md5"),
	("scram-sha-256", "alice", "plain"),
	("scram-sha-256", "carol", "scram"),
]


def userlist_entry(secrets, user, kind):
	return PASSWORDS[user] if kind == "plain" else secrets[user]


@pytest.mark.parametrize("auth,user,kind", CLIENT_CASES, ids=["%s-%s-%s" % c for c in CLIENT_CASES])
def test_client_auth(pg, secrets, make_proxy, hba, auth, user, kind):
	proxy = make_proxy(auth_type=auth, users={user: userlist_entry(secrets, user, kind), "postgres": "postgres"})
	expected_code = {"trust": [0], "md5": [5, 0], "scram-sha-256": [10, 11, 12, 0]}[auth]

	ok = login(proxy.host, proxy.port, user, PASSWORDS[user])
	assert ok == ("ok", user, expected_code)
	rc, out = psql_login(proxy.host, proxy.port, user, PASSWORDS[user])
	assert (rc, out) == (0, "%s|%s\n" % (user, user))

	if auth == "trust":
		assert login(proxy.host, proxy.port, user, "anything")[:2] == ("ok", user)
		return
	bad = login(proxy.host, proxy.port, user, "wrong-password")
	assert bad == ("error", "28P01", 'password authentication failed for user "%s"' % user)
	proxy.wait_log(r"authentication failed")
	# psql's message is the one it prints for PostgreSQL with the same method
	rc_p, out_p = psql_login(proxy.host, proxy.port, user, "wrong-password")
	hba(auth)
	rc_d, out_d = psql_login(pg.host, pg.port, user, "wrong-password")
	assert rc_d == 2 and 'password authentication failed for user "%s"' % user in out_d
	assert (rc_p, out_p) == (rc_d, out_d)
	# no password at all: psql -w gives up the same way
	assert psql_login(proxy.host, proxy.port, user, None)[0] == rc_d


@pytest.mark.parametrize("auth", ["md5", "scram-sha-256"])
def test_client_auth_unknown_user(pg, secrets, make_proxy, auth):
	proxy = make_proxy(auth_type=auth, users={"alice": "alice-pw"})
	assert login(proxy.host, proxy.port, "nobody", "x") == (
		"error", "28P01", 'password authentication failed for user "nobody"')
	# a known user with an empty password attempt
	assert login(proxy.host, proxy.port, "alice", "")[:2] == ("error", "28P01")
	assert login(proxy.host, proxy.port, "alice", "alice-pw")[:2] == ("ok", "alice")


def test_scram_offers_same_mechanisms_as_postgres(pg, secrets, make_proxy, hba):
	proxy = make_proxy(auth_type="scram-sha-256", users={"alice": "alice-pw"})
	hba("scram-sha-256")
	replies = {}
	for leg, (host, port) in (("direct", (pg.host, pg.port)), ("proxy", (proxy.host, proxy.port))):
		with w.Conn(host, port) as c:
			c.send(w.startup({"user": "alice", "database": "postgres"}))
			replies[leg] = c.read_msg()
	assert replies["proxy"] == replies["direct"] == ("R", b"\0\0\0\x0aSCRAM-SHA-256\0\0")


# ------------------------------------------------------------ pgbatchd -> backend

BACKEND_CASES = [
	# (backend TCP method, user, auth_file entry kind)
	("scram-sha-256", "alice", "plain"),
	("md5", "dave", "plain"),
	("md5", "dave", "md5"),
	("md5", "alice", "plain"),       # SCRAM-stored password: PostgreSQL upgrades md5 to SCRAM
	("password", "alice", "plain"),
	("password", "dave", "plain"),
]


@pytest.mark.parametrize("method,user,kind", BACKEND_CASES, ids=["%s-%s-%s" % c for c in BACKEND_CASES])
def test_backend_auth(pg, secrets, make_proxy, hba, method, user, kind):
	proxy = make_proxy(auth_type="trust", users={user: userlist_entry(secrets, user, kind)})
	hba(method)
	# directly, the server now wants the password
	assert login(pg.host, pg.port, user, None)[:2] == ("error", "28P01")
	assert login(pg.host, pg.port, user, PASSWORDS[user])[:2] == ("ok", user)
	# through the proxy the client needs none: the proxy answers with auth_file's
	assert login(proxy.host, proxy.port, user)[:2] == ("ok", user)
	rc, out = psql_login(proxy.host, proxy.port, user, None)
	assert (rc, out) == (0, "%s|%s\n" % (user, user))


def test_backend_auth_with_backend_password(pg, secrets, make_proxy, hba):
	"""The [backend] username logs in with [backend] password when auth_file has no entry."""
	pg.sql("ALTER ROLE postgres PASSWORD 'pg-secret'")
	try:
		proxy = make_proxy(auth_type="trust", users={"alice": "alice-pw"}, backend_password="pg-secret")
		hba("scram-sha-256")
		assert login(proxy.host, proxy.port, "postgres")[:2] == ("ok", "postgres")
		assert login(proxy.host, proxy.port, "alice")[:2] == ("ok", "alice")
	finally:
		pg.sql("ALTER ROLE postgres PASSWORD NULL")


def test_backend_rejects_wrong_password(pg, secrets, make_proxy, hba):
	"""A wrong password in auth_file: the client sees the backend's own 28P01."""
	proxy = make_proxy(auth_type="trust", users={"alice": "not-alices-password"})
	hba("scram-sha-256")
	direct = login(pg.host, pg.port, "alice", "not-alices-password")
	assert direct == ("error", "28P01", 'password authentication failed for user "alice"')
	assert login(proxy.host, proxy.port, "alice") == direct
	proxy.wait_log(r"closing: \S")
	assert login(proxy.host, proxy.port, "alice")[:2] == ("error", "28P01")


def test_backend_md5_secret_cannot_answer_scram(pg, secrets, make_proxy, hba):
	proxy = make_proxy(auth_type="trust", users={"dave": secrets["dave"]})
	hba("scram-sha-256")
	res = login(proxy.host, proxy.port, "dave")
	assert res[:2] == ("error", "28P01")


# ------------------------------------------------------------ SSL / GSS negotiation

def test_ssl_request_answered_n(pg, proxy):
	for host, port in ((pg.host, pg.port), (proxy.host, proxy.port)):
		assert login(host, port, "postgres", ssl_probe=True)[:2] == ("ok", "postgres")


def test_gssenc_request_answered_n(pg, proxy):
	# Debian's PostgreSQL is built with GSSAPI and answers 'G' itself; the
	# proxy offers no GSS encryption, so it must answer 'N' and carry on.
	for host, port in ((proxy.host, proxy.port),):
		with w.Conn(host, port) as c:
			c.send(w.gssenc_request())
			assert c.read_byte() == b"N"
			c.login("postgres", "postgres")
			assert c.scalar("SELECT 'after gss'") == "after gss"


@pytest.mark.parametrize("sslmode", ["disable", "prefer", "require"])
def test_psql_sslmode(pg, proxy, sslmode):
	direct = psql_login(pg.host, pg.port, "postgres", None, PGSSLMODE=sslmode, PGGSSENCMODE="prefer")
	through = psql_login(proxy.host, proxy.port, "postgres", None, PGSSLMODE=sslmode, PGGSSENCMODE="prefer")
	assert through == direct
	if sslmode == "require":
		assert direct[0] == 2 and "server does not support SSL, but SSL was required" in direct[1]
	else:
		assert direct == (0, "postgres|postgres\n")


# ------------------------------------------------------------ [backend] url forms

@pytest.mark.parametrize("form", ["postgresql", "jdbc", "keyvalue"])
def test_backend_url_forms(pg, make_proxy, form):
	url = {
		"postgresql": "postgresql://127.0.0.1:%d/postgres" % pg.port,
		"jdbc": "jdbc:postgresql://127.0.0.1:%d/postgres?sslmode=disable" % pg.port,
		"keyvalue": "host=127.0.0.1 port=%d dbname=postgres" % pg.port,
	}[form]
	proxy = make_proxy(backend_url=url)
	with w.Conn(proxy.host, proxy.port) as c:
		c.login("postgres", "postgres")
		assert c.scalar("SHOW port") == str(pg.port)
		assert int(c.scalar("SELECT pg_backend_pid()")) == c.pid
