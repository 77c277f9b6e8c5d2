"""What a container relies on: `pgbatchd --ping` (the image's HEALTHCHECK: an SSLRequest answered, pg_isready's exit codes, no log line) and ${VAR} in the config (secrets from the environment; an unset variable stops pgbatchd with its name)."""

import socket
import struct
import subprocess

import harness
import pgwire as w


def ping(proxy, cfg_path=None):
	res = subprocess.run([proxy.binary, "--ping", "-c", cfg_path or proxy.cfg_path],
		stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=proxy.env(), timeout=60)
	return res.returncode, res.stdout.decode(), res.stderr.decode()


def test_ping_answers_like_pg_isready(pg, make_proxy):
	proxy = make_proxy(auth_type="scram-sha-256", users={"postgres": "postgres"})
	assert ping(proxy) == (0, "127.0.0.1:%d - accepting connections\n" % proxy.port, "")
	# HAProxy's TCP check: connect, then a reset
	with socket.create_connection((proxy.host, proxy.port)) as s:
		rst_port = s.getsockname()[1]
		s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
	# probes leave no line at the normal log level; a half-sent startup packet
	# does, and once it is there the probes' lines would be too (one loop, in order)
	with socket.create_connection((proxy.host, proxy.port)) as s:
		half_port = s.getsockname()[1]
		s.sendall(b"\x00\x00\x00")
	proxy.wait_log(r":%d closing: client disconnected during startup" % half_port)
	assert proxy.log().count("closing: ") == 1
	assert ":%d " % rst_port not in proxy.log()
	# pg_isready (a startup packet, then gone at the password request) agrees
	direct = subprocess.run(["/usr/lib/postgresql/15/bin/pg_isready", "-h", proxy.host, "-p", str(proxy.port)],
		stdout=subprocess.PIPE, env=harness.clean_env(), timeout=60)
	assert direct.returncode == 0
	# pgbatchd still serves
	with w.Conn(proxy.host, proxy.port) as c:
		c.login("postgres", "postgres", password="postgres")
		assert c.scalar("SELECT 'served'") == "served"


def test_ping_no_response_and_bad_config(pg, make_proxy, tmp_path):
	proxy = make_proxy()
	text = open(proxy.cfg_path).read()
	assert harness.stop_proxy_checked(proxy) is None
	cfg = tmp_path / "pgbatchd.ini"
	cfg.write_text(text)
	assert ping(proxy, str(cfg)) == (2, "127.0.0.1:%d - no response\n" % proxy.port, "")
	cfg.write_text(text + "no_such_key = 1\n")
	rc, out, err = ping(proxy, str(cfg))
	assert (rc, out) == (3, "")
	assert "no_such_key: unknown key in [backend]" in err


def test_backend_password_from_environment(pg, make_proxy):
	pg.sql("ALTER ROLE postgres PASSWORD 'pg-secret'")
	try:
		# no auth_file entry for postgres: pgbatchd logs in with [backend] password
		proxy = make_proxy(users={"alice": "alice-pw"}, backend_password="${PGB_TEST_BACKEND_PW}",
			env_extra={"PGB_TEST_BACKEND_PW": "pg-secret"})
		pg.set_hba("scram-sha-256")
		with w.Conn(proxy.host, proxy.port) as c:
			c.login("postgres", "postgres")
			assert c.scalar("SELECT current_user") == "postgres"
		# the same file with the variable unset: pgbatchd refuses to start, naming it
		res = subprocess.run([proxy.binary, "-c", proxy.cfg_path], stdout=subprocess.PIPE,
			stderr=subprocess.STDOUT, env=harness.clean_env(), timeout=60)
		out = res.stdout.decode()
		assert res.returncode == 1, out
		assert "pgbatchd.ini:%d: password: environment variable PGB_TEST_BACKEND_PW is not set" % (
			open(proxy.cfg_path).read().split("\n").index("password = ${PGB_TEST_BACKEND_PW}") + 1) in out
		assert "pg-secret" not in out
	finally:
		pg.set_hba("trust")
		pg.sql("ALTER ROLE postgres PASSWORD NULL")
