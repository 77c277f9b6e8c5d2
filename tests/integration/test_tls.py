"""TLS on both sides (issue 20). With clients: SSLRequest answered 'S' and the handshake done when client_tls_sslmode asks for it. pgjdbc (ssl=true, verify-full), psycopg 3 + psycopg2 and psql through TLS print exactly what they print directly; node-postgres writes through it; require refuses a plain client as PostgreSQL with only hostssl lines does; verify-ca / verify-full want a client certificate (and its CN); bytes sent after the SSLRequest, before the handshake, close the connection. With the server: a server that takes TCP only through TLS is reached by pass-through sessions, login checks and the sink (prefer, verify-full), and refuses pgbatchd as it refuses a plain client when TLS is off. Certificates are made by the test with the openssl CLI."""

import os
import socket
import struct
import subprocess

import pytest

import harness
import pgwire as w
import sinkutil as su
import test_clients as tc

CLIENTS = os.path.join(harness.REPO, "tests", "clients")


def openssl(*args, cwd):
	r = subprocess.run(["openssl"] + list(args), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
	assert r.returncode == 0, r.stdout.decode(errors="replace")


def make_cert(d, name, cn, san=None):
	"""name.key / name.crt signed by the test's CA."""
	openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
		"-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn, cwd=d)
	ext = os.path.join(d, name + ".ext")
	with open(ext, "w") as f:
		f.write("basicConstraints=CA:FALSE\n")
		if san:
			f.write("subjectAltName=%s\n" % san)
	openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
		"-out", name + ".crt", "-days", "2", "-extfile", ext, cwd=d)
	os.chmod(os.path.join(d, name + ".key"), 0o600)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
	d = str(tmp_path_factory.mktemp("tls"))
	openssl("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
		"-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=pgbatchd test CA", cwd=d)
	make_cert(d, "server", "localhost", "DNS:localhost,IP:127.0.0.1")
	make_cert(d, "postgres", "postgres")         # a client certificate for user postgres
	make_cert(d, "alice", "alice")               # ... for another user
	return {k: os.path.join(d, k) for k in ("ca.crt", "server.crt", "server.key", "postgres.crt",
		"postgres.key", "alice.crt", "alice.key")}


def tls_proxy(make_proxy, certs, mode, tables=None, **kw):
	opts = {"client_tls_sslmode": mode, "client_tls_key_file": certs["server.key"],
		"client_tls_cert_file": certs["server.crt"]}
	if mode in ("verify-ca", "verify-full"):
		opts["client_tls_ca_file"] = certs["ca.crt"]
	return su.start_sink_proxy(make_proxy, tables or {}, pgbatchd=opts, **kw)


def verify_env(certs, user_cert=None):
	e = {"PGSSLMODE": "verify-full", "PGSSLROOTCERT": certs["ca.crt"]}
	if user_cert:
		e["PGSSLCERT"] = certs[user_cert + ".crt"]
		e["PGSSLKEY"] = certs[user_cert + ".key"]
	return e


PSQL_SCRIPT = b"""SELECT 1 AS one;
INSERT INTO tl_t VALUES (1, 'one');
INSERT INTO tl_t VALUES (2, 'two'), (3, 'three');
INSERT INTO tl_t VALUES (1, 'dup');
SELECT count(*) FROM tl_t;
"""


def test_psql_through_tls(dbs, make_proxy, certs):
	"""psql with sslmode=require, then verify-full: every line as directly,
	the rows taken by the sink; \\conninfo says the connection is TLS."""
	pg = dbs
	for db in ("postgres", "direct"):
		pg.sql("CREATE TABLE tl_t (id int PRIMARY KEY, v text)", dbname=db)
	proxy = tls_proxy(make_proxy, certs, "require", {"tl_t": {"conflictmode": "strict", "exceptionmode": "strict"}})
	direct = harness.psql(pg.host, pg.port, ["-f", "-"], dbname="direct", input=PSQL_SCRIPT, merge_stderr=True)
	via = harness.psql(proxy.host, proxy.port, ["-f", "-"], input=PSQL_SCRIPT, merge_stderr=True,
		env={"PGSSLMODE": "require"})
	assert via.stdout == direct.stdout, "through:\n%s\ndirect:\n%s" % (via.stdout.decode(), direct.stdout.decode())
	assert su.dump(pg, "tl_t", "id") == su.dump(pg, "tl_t", "id", dbname="direct")
	info = harness.psql(proxy.host, proxy.port, ["-c", "\\conninfo"], env=verify_env(certs))
	assert info.returncode == 0, info.stderr
	assert b"SSL connection (protocol: TLSv1.3" in info.stdout, info.stdout
	assert su.stats(proxy).intercept["rows"] >= 3


def test_plain_client_refused_under_require(pg, make_proxy, certs):
	"""require: a client that does not ask for TLS gets PostgreSQL's FATAL
	for a pg_hba.conf with only hostssl lines; one that asks and is told N
	by nothing here (allow) connects in the clear."""
	proxy = tls_proxy(make_proxy, certs, "require")
	with w.Conn(proxy.host, proxy.port) as c:
		c.send(w.startup({"user": "postgres", "database": "postgres"}))
		msgs = c.read_until("E")
	err = su.error_of(msgs)
	assert (err["S"], err["C"], err["M"]) == ("FATAL", "28000",
		'no pg_hba.conf entry for host "127.0.0.1", user "postgres", database "postgres", no encryption'), err
	r = harness.psql(proxy.host, proxy.port, ["-Atc", "SELECT 1"], env={"PGSSLMODE": "disable"})
	assert r.returncode != 0 and b"no encryption" in r.stderr, r.stderr
	allow = tls_proxy(make_proxy, certs, "allow")
	for mode in ("disable", "require"):
		r = harness.psql(allow.host, allow.port, ["-Atc", "SELECT 5"], env={"PGSSLMODE": mode})
		assert r.stdout == b"5\n", (mode, r.stderr)


def test_client_certificates(pg, make_proxy, certs):
	"""verify-full: a certificate of the CA whose CN is the user connects;
	another CN, or none, is refused with PostgreSQL's words; verify-ca takes
	any certificate of the CA."""
	full = tls_proxy(make_proxy, certs, "verify-full")
	r = harness.psql(full.host, full.port, ["-Atc", "SELECT 6"], env=verify_env(certs, "postgres"))
	assert r.stdout == b"6\n", r.stderr
	r = harness.psql(full.host, full.port, ["-Atc", "SELECT 6"], env=verify_env(certs, "alice"))
	assert r.returncode != 0, r.stdout
	assert b'certificate validation (clientcert=verify-full) failed for user "postgres": CN mismatch' in r.stderr, \
		r.stderr
	r = harness.psql(full.host, full.port, ["-Atc", "SELECT 6"], env=verify_env(certs))
	assert r.returncode != 0 and b"connection requires a valid client certificate" in r.stderr, r.stderr
	ca = tls_proxy(make_proxy, certs, "verify-ca")
	r = harness.psql(ca.host, ca.port, ["-Atc", "SELECT 7"], env=verify_env(certs, "alice"))
	assert r.stdout == b"7\n", r.stderr


def test_bytes_before_the_handshake_close(pg, make_proxy, certs):
	"""An SSLRequest and a StartupMessage in one write (CVE-2021-23214's
	shape): 'S', then the FATAL in the clear, then the connection ends."""
	proxy = tls_proxy(make_proxy, certs, "prefer")
	s = socket.create_connection((proxy.host, proxy.port), timeout=10)
	try:
		s.sendall(struct.pack("!II", 8, 80877103) + w.startup({"user": "postgres", "database": "postgres"}))
		data = b""
		while True:
			chunk = s.recv(4096)
			if not chunk:
				break
			data += chunk
	finally:
		s.close()
	assert data[:1] == b"S", data
	assert b"received unencrypted data after SSL request" in data and b"08P01" in data, data


def test_handshake_failure_is_logged_and_others_go_on(pg, make_proxy, certs):
	"""A client that does not trust pgbatchd's certificate (verify-full
	against another CA) fails the handshake; the session is closed with
	OpenSSL's reason in the log and pgbatchd serves the next client."""
	proxy = tls_proxy(make_proxy, certs, "require")
	r = harness.psql(proxy.host, proxy.port, ["-Atc", "SELECT 1"],
		env={"PGSSLMODE": "verify-full", "PGSSLROOTCERT": certs["postgres.crt"]})
	assert r.returncode != 0 and b"certificate verify failed" in r.stderr, r.stderr
	harness.wait_for(lambda: "TLS handshake" in proxy.log(), 10, what="the handshake failure logged")
	r = harness.psql(proxy.host, proxy.port, ["-Atc", "SELECT 9"], env=verify_env(certs))
	assert r.stdout == b"9\n", r.stderr


@pytest.fixture(scope="module")
def jdbc_classes(tmp_path_factory):
	out = tmp_path_factory.mktemp("jdbc")
	res = harness.run(["javac", "-Xlint:all", "-Werror", "-cp", tc.JDBC_JAR, "-d", str(out),
		os.path.join(CLIENTS, "JdbcClient.java")], timeout=300)
	assert res.returncode == 0, (res.stdout + res.stderr).decode()
	return str(out)


@pytest.mark.parametrize("io", [16384, 64], ids=["io16384", "io64"])
@pytest.mark.parametrize("client", ["jdbc", "psycopg"])
def test_driver_transcripts_through_tls(pg, make_proxy, certs, jdbc_classes, client, io):
	"""pgjdbc (ssl=true, sslmode=verify-full) and psycopg 3 + psycopg2
	(sslmode=verify-full) through TLS print what they print directly, plain;
	with 64-byte reads too (records split, bytes left in OpenSSL's buffer)."""
	ddb, vdb = "tls_%s_direct_%d" % (client, io), "tls_%s_proxy_%d" % (client, io)
	pg.create_database(ddb)
	pg.create_database(vdb)
	proxy = tls_proxy(make_proxy, certs, "require", io_buffer_size=io)
	if client == "jdbc":
		direct = tc.run_jdbc(jdbc_classes, pg.host, pg.port, ddb)
		url = ("jdbc:postgresql://%s:%d/%s?ssl=true&sslmode=verify-full&sslrootcert=%s"
			% (proxy.host, proxy.port, vdb, certs["ca.crt"]))
		res = harness.run(["java", "-Xshare:auto", "-XX:TieredStopAtLevel=1", "-cp",
			"%s:%s" % (jdbc_classes, tc.JDBC_JAR), "JdbcClient", url, "postgres"], timeout=300)
	else:
		direct = tc.run_psycopg(pg.host, pg.port, ddb)
		dsn = "host=%s port=%d dbname=%s user=postgres sslmode=verify-full sslrootcert=%s" % (
			proxy.host, proxy.port, vdb, certs["ca.crt"])
		res = harness.run(["/usr/bin/python3", os.path.join(CLIENTS, "psycopg_client.py"), dsn], timeout=300)
	through = res.stdout.decode(errors="replace")
	assert res.returncode == 0, through + res.stderr.decode(errors="replace")
	assert through.splitlines() == direct.splitlines()


def test_node_postgres_through_tls(pg, make_proxy, certs):
	"""node-postgres with ssl (the CA given, the name checked) writes through
	a pgbatchd that requires TLS."""
	for db in ("postgres",):
		pg.sql("CREATE TABLE IF NOT EXISTS nt (id int PRIMARY KEY, v text, at timestamptz, n numeric)", dbname=db)
	proxy = tls_proxy(make_proxy, certs, "require", {"nt": {}})
	res = harness.run(["node", os.path.join(CLIENTS, "node_insert.js"), str(proxy.port), "postgres", "pool", "40"],
		timeout=120, cwd=CLIENTS, env={"NODE_PG_CA": certs["ca.crt"]})
	out = res.stdout.decode().strip()
	assert res.returncode == 0 and out == "inserted 40", out + res.stderr.decode()
	assert pg.sql("SELECT count(*) FROM nt")[0][0] == 40
	assert su.stats(proxy).intercept["rows"] >= 40


def test_ping_and_probes_with_tls(pg, make_proxy, certs):
	"""`pgbatchd --ping` against a pgbatchd with TLS: 'S' is an answer; the
	probe, gone before its handshake, and a check that resets after 'S' leave
	no line at the normal log level (one loop, in order: once a later half-sent packet's line is there,
	the probe's would be)."""
	proxy = tls_proxy(make_proxy, certs, "require")
	res = subprocess.run([proxy.binary, "--ping", "-c", proxy.cfg_path], stdout=subprocess.PIPE,
		stderr=subprocess.PIPE, env=proxy.env(), timeout=60)
	assert (res.returncode, res.stdout.decode()) == (0, "127.0.0.1:%d - accepting connections\n" % proxy.port)
	# a check that asks for TLS, is told 'S', then resets
	with socket.create_connection((proxy.host, proxy.port)) as s:
		s.sendall(struct.pack("!II", 8, 80877103))
		assert s.recv(1) == b"S"
		s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
	with socket.create_connection((proxy.host, proxy.port)) as s:
		half_port = s.getsockname()[1]
		s.sendall(b"\x00\x00\x00")
	proxy.wait_log(r":%d closing: client disconnected during startup" % half_port)
	assert proxy.log().count("closing: ") == 1, proxy.log()
	assert "TLS handshake" not in proxy.log()


# ---------------------------------------------------------------- TLS with the server

@pytest.fixture(scope="module")
def tls_pg(certs):
	"""A server with ssl = on whose pg_hba.conf takes TCP only through TLS
	(hostssl; hostnossl rejected), as a managed service's does."""
	import pwd
	import shutil as sh
	server = harness.PgServer(name="tls_server")
	pw = pwd.getpwnam("postgres")
	for f in ("server.crt", "server.key"):
		dst = os.path.join(server.dir, f)
		sh.copyfile(certs[f], dst)
		os.chown(dst, pw.pw_uid, pw.pw_gid)
		os.chmod(dst, 0o600)
	server.settings.update({"ssl": "on", "ssl_cert_file": os.path.join(server.dir, "server.crt"),
		"ssl_key_file": os.path.join(server.dir, "server.key")})
	try:
		server.start()
		server.write_hba(["hostssl all all 127.0.0.1/32 trust", "hostnossl all all 127.0.0.1/32 reject"])
		harness.wait_for(lambda: harness.psql(server.host, server.port, ["-Atc", "SELECT 1"],
			env={"PGSSLMODE": "disable"}).returncode != 0, 20, what="hostnossl rejected")
		server.sql("CREATE TABLE ts_t (id int PRIMARY KEY, v text)")
		yield server
	finally:
		server.stop()


def ssl_of_sessions(server):
	"""ssl (true/false) of every client backend but this one, by application_name."""
	return sorted(server.sql("SELECT a.application_name, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s "
		"USING (pid) WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()"))


def test_server_tls_pass_through_and_sink(tls_pg, make_proxy, certs):
	"""A server that takes TCP only through TLS, reached as libpq would by
	default (prefer) and with verify-full against the test's CA: a plain
	client's pass-through session and the sink's writers all use TLS; rows
	land; a certificate of another CA fails the login with OpenSSL's reason."""
	for opts in ({}, {"server_tls_sslmode": "verify-full", "server_tls_ca_file": certs["ca.crt"]}):
		proxy = make_proxy(backend=tls_pg, extra_sections=su.sink_sections({"ts_t": {"conflictmode": "upsert"}}),
			extra_pgbatchd=opts or None)
		base = tls_pg.sql("SELECT count(*) FROM ts_t")[0][0]
		with w.Conn(proxy.host, proxy.port) as c:
			c.login("postgres", "postgres")
			assert c.scalar("SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()") == "true"
			for i in range(5):
				c.simple("INSERT INTO ts_t VALUES (%d, 'x') ON CONFLICT (id) DO NOTHING" % (100 * len(opts) + i))
		su.wait_count(tls_pg, "ts_t", base + 5)
		sessions = ssl_of_sessions(tls_pg)
		assert ("pgbatchd-sink", True) in sessions and all(ssl for _, ssl in sessions), sessions
		harness.stop_proxy_checked(proxy)
	bad = make_proxy(backend=tls_pg, extra_sections=su.sink_sections({"ts_t": {}}),
		extra_pgbatchd={"server_tls_sslmode": "verify-full", "server_tls_ca_file": certs["postgres.crt"]})
	r = harness.psql(bad.host, bad.port, ["-Atc", "SELECT 1"], env={"PGSSLMODE": "disable"})
	assert r.returncode != 0 and b"certificate verify failed" in r.stderr, r.stderr


@pytest.mark.parametrize("how", ["server_tls_sslmode", "url"])
def test_server_tls_disable_meets_the_servers_refusal(tls_pg, make_proxy, how):
	"""TLS with the server off -- server_tls_sslmode = disable, or the url's
	own sslmode=disable over the default prefer -- against that server: the
	client gets the server's own FATAL, as directly without TLS."""
	if how == "url":
		proxy = make_proxy(backend=tls_pg,
			backend_url="postgresql://127.0.0.1:%d/postgres?sslmode=disable" % tls_pg.port)
	else:
		proxy = make_proxy(backend=tls_pg, extra_pgbatchd={"server_tls_sslmode": "disable"})
	via = harness.psql(proxy.host, proxy.port, ["-Atc", "SELECT 1"], env={"PGSSLMODE": "disable"})
	direct = harness.psql(tls_pg.host, tls_pg.port, ["-Atc", "SELECT 1"], env={"PGSSLMODE": "disable"})
	assert via.returncode == direct.returncode == 2
	assert b"pg_hba.conf rejects connection" in direct.stderr and b"no encryption" in direct.stderr
	assert via.stderr.replace(str(proxy.port).encode(), b"P") == direct.stderr.replace(str(tls_pg.port).encode(), b"P")


def test_session_ended_by_the_server_closes_tls_as_postgres_does(tls_pg, make_proxy, certs):
	"""pg_terminate_backend of one's own session through TLS: psql says what
	it says directly to a server with ssl = on -- the FATAL, then a TLS
	connection closed cleanly (close_notify), not an EOF in the middle."""
	proxy = make_proxy(backend=tls_pg, extra_pgbatchd={
		"client_tls_sslmode": "require", "client_tls_key_file": certs["server.key"],
		"client_tls_cert_file": certs["server.crt"]})
	args = ["-c", "SELECT pg_terminate_backend(pg_backend_pid())"]
	via = harness.psql(proxy.host, proxy.port, args, env={"PGSSLMODE": "require"})
	direct = harness.psql(tls_pg.host, tls_pg.port, args, env={"PGSSLMODE": "require"})
	assert b"terminating connection due to administrator command" in direct.stderr, direct.stderr
	assert (via.returncode, via.stdout, via.stderr) == (direct.returncode, direct.stdout, direct.stderr)
