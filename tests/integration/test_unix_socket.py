"""Unix sockets (issue 20): clients connect through unix_socket_dir, named as PostgreSQL names its socket (psql -h DIR -p PORT); a stale socket file is replaced, a live one is not taken over; the file goes when pgbatchd stops; the backend is reached by its socket directory, both by pass-through sessions and by the sink."""

import os
import shutil
import socket
import subprocess
import tempfile
import threading

import psycopg
import pytest

import harness
import sinkutil as su

PSQL_SCRIPT = b"""\\set ON_ERROR_STOP 1
SELECT 1 AS one, current_database() = current_database() AS same;
INSERT INTO us_t VALUES (1, 'one');
INSERT INTO us_t VALUES (2, 'two'), (3, 'three');
INSERT INTO us_t VALUES (1, 'dup');
SELECT count(*) FROM us_t;
"""


@pytest.fixture
def sockdir():
	d = tempfile.mkdtemp(prefix="pgbatchd-sock-")
	yield d
	shutil.rmtree(d, ignore_errors=True)


def sock_path(sockdir, proxy):
	return os.path.join(sockdir, ".s.PGSQL.%d" % proxy.port)


def psql_ok(host, port, sql):
	"""psql's output once it connects and runs sql (None until then)."""
	r = harness.psql(host, port, ["-Atc", sql])
	return r.stdout if r.returncode == 0 else None


def table(pg, name):
	for db in ("postgres", "direct"):
		pg.sql("DROP TABLE IF EXISTS %s; CREATE TABLE %s (id int PRIMARY KEY, v text)" % (name, name), dbname=db)


def test_psql_and_psycopg_through_the_socket(dbs, make_proxy, sockdir):
	"""psql -h DIR -p PORT and psycopg's host=DIR reach pgbatchd's socket:
	every reply is the direct session's (through PostgreSQL's own socket),
	the rows are taken by the sink, and a CancelRequest sent on the socket
	cancels as directly."""
	pg = dbs
	table(pg, "us_t")
	proxy = su.start_sink_proxy(make_proxy, {"us_t": {"conflictmode": "strict", "exceptionmode": "strict"}},
		pgbatchd={"unix_socket_dir": sockdir})
	assert os.path.exists(sock_path(sockdir, proxy))
	via = harness.psql(sockdir, proxy.port, ["-f", "-"], input=PSQL_SCRIPT, merge_stderr=True)
	direct = harness.psql(pg.sockdir, pg.port, ["-f", "-"], dbname="direct", input=PSQL_SCRIPT,
		merge_stderr=True)
	assert via.returncode == direct.returncode == 3, (via.stdout, direct.stdout)
	assert via.stdout == direct.stdout, "through:\n%s\ndirect:\n%s" % (via.stdout.decode(), direct.stdout.decode())

	for host, port, db in ((sockdir, proxy.port, "postgres"), (pg.sockdir, pg.port, "direct")):
		with psycopg.connect(host=host, port=port, user="postgres", dbname=db, autocommit=True) as c:
			for i in range(10, 20):
				c.execute("INSERT INTO us_t VALUES (%s, %s)", (i, "p%d" % i))
			with pytest.raises(psycopg.errors.QueryCanceled):
				with c.cursor() as cur:
					t = threading.Timer(0.3, c.cancel)
					t.start()
					try:
						cur.execute("SELECT pg_sleep(30)")
					finally:
						t.cancel()
			assert c.execute("SELECT 42").fetchone() == (42,)
	assert su.dump(pg, "us_t", "id") == su.dump(pg, "us_t", "id", dbname="direct")
	st = su.stats(proxy)
	assert st.intercept["rows"] >= 13, st.intercept_line


def test_stale_socket_is_replaced_and_removed_at_exit(pg, make_proxy, sockdir):
	"""A socket file nobody listens on (a killed server's) is replaced at
	start-up; pgbatchd removes its own when it stops."""
	# the proxy's port is chosen at start: a stale file for every port would
	# be needed beforehand, so the stale one is made after a first run, killed
	first = make_proxy(extra_pgbatchd={"unix_socket_dir": sockdir})
	path = sock_path(sockdir, first)
	first.kill()        # (SIGKILL: its file stays)
	assert os.path.exists(path)
	with pytest.raises(OSError):
		s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
		try:
			s.connect(path)
		finally:
			s.close()
	first.problems = []     # (killed on purpose)

	second = harness.Proxy(pg, extra_pgbatchd={"unix_socket_dir": sockdir})
	second.port = first.port
	second.write_config()
	proc = subprocess.Popen([second.binary, "-c", second.cfg_path], stdin=subprocess.DEVNULL,
		stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=second.env(), cwd=second.dir)
	try:
		harness.wait_for(lambda: "removed the stale socket" in second.log(), 20, what="the stale socket replaced")
		out = harness.wait_for(lambda: psql_ok(sockdir, first.port, "SELECT 7"), 20,
			what="psql through the new socket")
		assert out == b"7\n", out
	finally:
		proc.terminate()
		rc = proc.wait(30)
		output = proc.stdout.read().decode(errors="replace")
		proc.stdout.close()
	assert rc == 0, output
	assert not os.path.exists(path), "pgbatchd left %s behind" % path
	assert second.sanitizer_reports() == []
	second.cleanup()


def test_live_socket_is_not_taken_over(pg, make_proxy, sockdir):
	"""A second pgbatchd on the same socket path (another TCP address) refuses
	to start, saying why; the first keeps serving on it."""
	first = make_proxy(extra_pgbatchd={"unix_socket_dir": sockdir})
	other = harness.Proxy(pg, extra_pgbatchd={"unix_socket_dir": sockdir})
	other.port = first.port
	other.host = "127.0.0.2"
	other.write_config()
	r = subprocess.run([other.binary, "-c", other.cfg_path], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
		stderr=subprocess.STDOUT, env=other.env(), cwd=other.dir, timeout=60)
	text = r.stdout.decode(errors="replace") + other.log()
	assert r.returncode != 0, text
	assert "another server is listening there" in text, text
	assert other.sanitizer_reports() == []
	other.cleanup()
	assert psql_ok(sockdir, first.port, "SELECT 8") == b"8\n"


def test_backend_by_its_socket_directory(dbs, make_proxy):
	"""[backend] url host=DIR: pass-through sessions and the sink's writers
	reach PostgreSQL by its unix socket (the server sees no TCP peer)."""
	pg = dbs
	table(pg, "us_b")
	url = "host=%s port=%d dbname=postgres" % (pg.sockdir, pg.port)
	since = pg.sql("SELECT now()")[0][0]
	proxy = su.start_sink_proxy(make_proxy, {"us_b": {"conflictmode": "strict"}}, backend_url=url)
	with psycopg.connect(host=proxy.host, port=proxy.port, user="postgres", dbname="postgres",
			autocommit=True) as c:
		for i in range(5):
			c.execute("INSERT INTO us_b VALUES (%s, 'x')", (i,))
		assert c.execute("SELECT count(*) FROM us_b").fetchone() == (5,)
		# this session's own backend: a unix-socket peer
		assert c.execute("SELECT client_port FROM pg_stat_activity WHERE pid = pg_backend_pid()").fetchone() == (-1,)
	st = su.stats(proxy)
	assert st.sink["rows_written"] >= 5, st.sink_line
	# the sink's writers: every connection of pgbatchd's to the server is a unix one
	peers = pg.sql("SELECT DISTINCT client_port FROM pg_stat_activity WHERE datname = 'postgres' "
		"AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND backend_start >= %s", (since,))
	assert peers == [(-1,)], peers
