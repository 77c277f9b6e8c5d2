"""Fleets (issue 19): pgbatchd raises its open-file limit and says how many
sessions it holds; out of descriptors, it stops accepting (logged once a
second, the loop does not spin) and accepts again as soon as one is freed."""

import os
import re
import socket
import subprocess
import threading

import psycopg

import harness
import sinkutil as su


def fd_limits(pid):
	with open("/proc/%d/limits" % pid) as f:
		for line in f:
			if line.startswith("Max open files"):
				soft, hard = line.split()[3:5]
				return int(soft), int(hard)
	raise AssertionError("no Max open files line")


def cpu_seconds(pid):
	"""utime + stime of the process, in seconds."""
	with open("/proc/%d/stat" % pid) as f:
		fields = f.read().rsplit(")", 1)[1].split()
	import os
	return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_open_file_limit_raised_and_reported(pg, make_proxy):
	"""Soft limit 256, hard 4096: it runs with 4096 and says how many
	sessions that holds (a client socket, and a backend socket for those with
	one; 32 kept aside); max_client_conn 100 fits, so no warning."""
	p = make_proxy(nofile=(256, 4096))
	assert fd_limits(p.pid) == (4096, 4096)
	p.wait_log(r"open-file limit 4096: room for 2032 client sessions with a backend each, 4064 without "
		r"\(max_client_conn 100\)")
	assert "more than the open-file limit" not in p.log()
	with p.connect() as c:
		assert c.execute("SELECT 1").fetchone() == (1,)


def test_default_max_client_conn_is_ten_thousand(pg, make_proxy):
	"""Without the key, max_client_conn is 10,000; a hard limit that cannot
	hold it is named at start-up, with what to do."""
	p = harness.Proxy(pg, nofile=(1024, 1024))
	del p.opts["max_client_conn"]
	p.start()
	try:
		p.wait_log(r"open-file limit 1024: room for 496 client sessions with a backend each, 992 without "
			r"\(max_client_conn 10000\)")
		p.wait_log(r"max_client_conn 10000 is more than the open-file limit 1024 holds \(496 sessions\): "
			r"raise the hard limit")
	finally:
		problems = p.stop()
		p.cleanup()
	assert problems == []


def test_out_of_descriptors_stops_accepting_without_spinning(pg, make_proxy):
	"""Hard limit 64: raw connections fill the descriptors until accept fails
	with EMFILE. The failure is logged, then again a second later (one line a
	second, with a count), and the process burns almost no CPU in between: it
	stopped accepting instead of retrying in a loop. A client that connects
	meanwhile waits in the backlog and is served once the raw connections
	close; nothing is left broken."""
	p = make_proxy(nofile=(64, 64))
	p.wait_log(r"max_client_conn 100 is more than the open-file limit 64 holds")
	raw = []
	try:
		for _ in range(80):
			raw.append(socket.create_connection((p.host, p.port), timeout=5))
		first = p.wait_log(r"accept failed: Too many open files \((\d+) times? since the last report; "
			r"\d+ sessions open\): not accepting until a connection closes")
		start_log = first.end()
		cpu0 = cpu_seconds(p.pid)
		second = p.wait_log(r"accept failed: Too many open files \((\d+) times? since", start=start_log)
		cpu1 = cpu_seconds(p.pid)
		# A loop retrying accept() burns a whole CPU between two reports a
		# second apart; paused, it does next to nothing.
		assert cpu1 - cpu0 < 0.5, "%.2f s of CPU between two reports: the loop spins" % (cpu1 - cpu0)
		assert int(second.group(1)) <= 5, second.group(0)

		result = {}

		def late_client():
			try:
				with psycopg.connect(p.dsn(), autocommit=True, connect_timeout=60) as c:
					result["row"] = c.execute("SELECT 41 + 1").fetchone()
			except Exception as e:      # reported by the assertion below
				result["error"] = e

		t = threading.Thread(target=late_client)
		t.start()
	finally:
		for s in raw:
			s.close()
	t.join(90)
	assert not t.is_alive()
	assert result == {"row": (42,)}, result
	with p.connect() as c:
		assert c.execute("SELECT 2").fetchone() == (2,)
	assert len(re.findall(r"accept failed", p.log())) < 20


# ------------------------------------------------------------ fleets without backends

def _raise_nofile():
	import resource
	soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
	if soft < hard:
		resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
	return hard


class MaxBackends(threading.Thread):
	"""Counts the server's connections from pgbatchd (TCP; the test's own
	admin connection is the Unix socket) until stopped; keeps the most seen."""

	def __init__(self, pg):
		super().__init__(daemon=True)
		self.conn = pg.connect()        # (opened first: psycopg waits with select())
		self.most = 0
		self.stopping = threading.Event()

	def run(self):
		with self.conn as c:
			while not self.stopping.is_set():
				n = c.execute("SELECT count(*) FROM pg_stat_activity WHERE client_addr IS NOT NULL").fetchone()[0]
				self.most = max(self.most, n)
				self.stopping.wait(0.01)

	def stop(self):
		self.stopping.set()
		self.join(30)
		return self.most


async def _ingest_client(dsn, i, connected, go, rows=10, sent=None, hold=None):
	"""One ingest client: psycopg's async connection, values bound client side
	(simple protocol). Connects, waits for every client to be connected,
	sends its rows one per round trip; returns the command tags. sent() and
	hold: told when its rows are answered, and kept open until hold is set."""
	conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True,
		cursor_factory=psycopg.AsyncClientCursor, connect_timeout=120)
	connected()
	await go.wait()
	tags = []
	async with conn:
		cur = conn.cursor()
		for n in range(rows):
			await cur.execute("INSERT INTO fleet (client, n) VALUES (%s, %s)", (i, n))
			tags.append(cur.statusmessage)
		if sent:
			sent()
		if hold:
			await hold.wait()
	return tags


def _run_fleet(p, n, extra=None):
	"""n ingest clients at once (connecting at most 200 at a time); extra(),
	if given, runs in a thread once all are connected and before they send."""
	import asyncio

	async def main():
		go = asyncio.Event()
		gate = asyncio.Semaphore(200)
		count = {"n": 0}
		all_in = asyncio.Event()

		def connected():
			count["n"] += 1
			gate.release()
			if count["n"] == n:
				all_in.set()

		async def client(i):
			await gate.acquire()
			return await _ingest_client(p.dsn(), i, connected, go)

		tasks = [asyncio.ensure_future(client(i)) for i in range(n)]
		waiter = asyncio.ensure_future(all_in.wait())
		done, _ = await asyncio.wait([waiter] + tasks, return_when=asyncio.FIRST_COMPLETED)
		for t in done:
			if t is not waiter:
				raise AssertionError("a client ended before all were connected: %r" % t.exception())
		side = await asyncio.to_thread(extra) if extra else None
		go.set()
		return await asyncio.gather(*tasks), side

	return asyncio.run(main())


def test_ten_thousand_ingest_clients_on_a_handful_of_connections(pg, make_proxy):
	"""10,000 clients at once (FLEET_CLIENTS), each sending 10 single-row
	INSERTs one per round trip, ackmode=commit, against a server with
	max_connections = 100: every client gets `INSERT 0 1` per row, every row
	lands once, and the server never sees more than connectionmaxactive + 2
	connections from pgbatchd (the writers, the catalog's, a login's check)."""
	n = int(os.environ.get("FLEET_CLIENTS", "10000"))
	assert _raise_nofile() > n + 200
	assert pg.sql("SHOW max_connections")[0][0] == "100"
	pg.sql("DROP TABLE IF EXISTS fleet")
	pg.sql("CREATE TABLE fleet (client int, n int)")
	p = su.start_sink_proxy(make_proxy, {"fleet": {"ackmode": "commit"}}, backend={"connectionmaxactive": 5},
		max_client_conn=n + 100)
	watch = MaxBackends(pg)
	adm = pg.connect()      # (opened before the fleet's descriptors: psycopg waits with select())
	watch.start()
	try:
		def all_connected():
			# every session is logged in, and none has a backend of its own
			return adm.execute("SELECT count(*) FROM pg_stat_activity WHERE client_addr IS NOT NULL "
				"AND application_name <> 'pgbatchd-sink'").fetchone()[0]
		tags, own = _run_fleet(p, n, all_connected)
	finally:
		most = watch.stop()
	with adm:
		assert own == 0
		assert all(t == ["INSERT 0 1"] * 10 for t in tags), [t for t in tags if t != ["INSERT 0 1"] * 10][:3]
		assert adm.execute("SELECT count(*), count(DISTINCT (client, n)) FROM fleet").fetchone() == (10 * n, 10 * n)
		assert adm.execute("SELECT count(*) FROM (SELECT client FROM fleet GROUP BY client "
			"HAVING count(*) <> 10) x").fetchone()[0] == 0
	assert most <= 5 + 2, "%d connections from pgbatchd at once" % most


async def _mixed_client(dsn, i, sent=None, hold=None):
	"""A client that also reads and runs DDL: every statement's status and rows."""
	out = []
	async with await psycopg.AsyncConnection.connect(dsn, autocommit=True,
			cursor_factory=psycopg.AsyncClientCursor, connect_timeout=120) as conn:
		cur = conn.cursor()
		for sql in ("CREATE TABLE mix_%d (a int)" % i,
				"INSERT INTO fleet (client, n) VALUES (%d, 0)" % (100000 + i),
				"INSERT INTO mix_%d VALUES (1), (2)" % i,
				"SELECT count(*) FROM mix_%d" % i,
				"SELECT count(*), sum(n) FROM fleet WHERE client = %d" % (100000 + i),
				"INSERT INTO fleet (client, n) VALUES (%d, 1)" % (100000 + i),
				"DROP TABLE mix_%d" % i):
			await cur.execute(sql)
			out.append((cur.statusmessage, await cur.fetchall() if cur.description else None))
		if sent:
			sent()
		if hold:
			await hold.wait()
	return out


def test_mixed_fleet_only_the_mixed_clients_get_backends(dbs, make_proxy):
	"""1,000 ingest clients and 20 clients that also SELECT and run DDL, all
	at once: while all are still connected, the 20 have backends of their
	own and the 1,000 none; the 20 saw what the same script sees directly,
	every ingest client got `INSERT 0 1` per row and every row landed once."""
	import asyncio
	pg = dbs
	n, m = 1000, 20
	assert _raise_nofile() > n + m + 200
	for db in ("postgres", "direct"):
		pg.sql("DROP TABLE IF EXISTS fleet", dbname=db)
		pg.sql("CREATE TABLE fleet (client int, n int)", dbname=db)
	p = su.start_sink_proxy(make_proxy, {"fleet": {"ackmode": "commit"}}, max_client_conn=n + m + 100)
	adm = pg.connect()

	def counts():
		return dict(adm.execute("SELECT application_name, count(*) FROM pg_stat_activity "
			"WHERE client_addr IS NOT NULL GROUP BY 1").fetchall())

	async def main():
		go, release, all_in, all_sent = (asyncio.Event() for _ in range(4))
		tally = {"in": 0, "sent": 0}

		def connected():
			tally["in"] += 1
			if tally["in"] == n:
				all_in.set()

		def sent():
			tally["sent"] += 1
			if tally["sent"] == n + m:
				all_sent.set()

		ing = [asyncio.ensure_future(_ingest_client(p.dsn(application_name="fleet_ing"), i, connected, go,
			rows=3, sent=sent, hold=release)) for i in range(n)]
		await all_in.wait()
		go.set()
		mix = [asyncio.ensure_future(_mixed_client(p.dsn(application_name="fleet_mix"), i, sent, release))
			for i in range(m)]
		await all_sent.wait()
		seen = await asyncio.to_thread(counts)
		release.set()
		return await asyncio.gather(*ing), await asyncio.gather(*mix), seen

	with adm:
		ing_tags, through, seen = asyncio.run(main())

		async def direct():
			return await asyncio.gather(*[_mixed_client(
				"host=%s port=%d dbname=direct user=postgres" % (pg.host, pg.port), i) for i in range(m)])
		assert through == asyncio.run(direct())
		assert seen.get("fleet_ing", 0) == 0 and seen.get("fleet_mix") == m, seen
		assert ing_tags == [["INSERT 0 1"] * 3] * n
		assert adm.execute("SELECT count(*), count(DISTINCT (client, n)) FROM fleet WHERE client < 100000"
			).fetchone() == (3 * n, 3 * n)
		assert adm.execute("SELECT count(*) FROM fleet WHERE client >= 100000").fetchone() == (2 * m,)


JDBC_JAR = "/usr/share/java/postgresql.jar"


def test_pgjdbc_fleet_beyond_max_connections(pg, make_proxy, tmp_path):
	"""300 pgjdbc connections open at once (its connect-time SETs, prepared
	INSERTs run one by one and in a batch: Parse, Describe, Bind, Execute),
	against a server with max_connections = 100: every row is acknowledged
	and lands once, and the server never sees more than connectionmaxactive
	+ 2 connections from pgbatchd."""
	n = 300
	assert pg.sql("SHOW max_connections")[0][0] == "100"
	res = harness.run(["javac", "-Xlint:all", "-Werror", "-cp", JDBC_JAR, "-d", str(tmp_path),
		os.path.join(harness.REPO, "tests", "clients", "JdbcFleet.java")], timeout=300)
	assert res.returncode == 0, (res.stdout + res.stderr).decode()
	pg.sql("DROP TABLE IF EXISTS fleet")
	pg.sql("CREATE TABLE fleet (client int, n int)")
	p = su.start_sink_proxy(make_proxy, {"fleet": {"ackmode": "commit"}}, backend={"connectionmaxactive": 5},
		max_client_conn=n + 100)
	watch = MaxBackends(pg)
	watch.start()
	url = "jdbc:postgresql://%s:%d/postgres?sslmode=disable" % (p.host, p.port)
	proc = subprocess.Popen(["java", "-Xshare:auto", "-XX:TieredStopAtLevel=1", "-cp", "%s:%s" % (tmp_path, JDBC_JAR),
		"JdbcFleet", url, "postgres", "postgres", str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
		stderr=subprocess.PIPE, text=True)
	try:
		line = proc.stdout.readline()
		own = pg.sql("SELECT count(*) FROM pg_stat_activity WHERE client_addr IS NOT NULL "
			"AND application_name <> 'pgbatchd-sink'")[0][0]
		proc.stdin.write("\n")
		proc.stdin.flush()
		assert proc.wait(timeout=300) == 0, proc.stderr.read()
	finally:
		most = watch.stop()
		if proc.poll() is None:
			proc.kill()
			proc.wait()
	assert line == "READY %d\n" % (10 * n), line + proc.stderr.read()
	assert own == 0
	assert pg.sql("SELECT count(*), count(DISTINCT (client, n)) FROM fleet")[0] == (10 * n, 10 * n)
	assert most <= 5 + 2, "%d connections from pgbatchd at once" % most
