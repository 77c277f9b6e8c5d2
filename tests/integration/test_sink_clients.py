"""Real drivers sending single-row INSERTs through pgbatchd: psycopg2 (scripts/datagen.py, several connections) and psycopg 3 (ClientCursor with client-side binding, and plain literal SQL) — which of them use the simple query protocol is checked on the proxy's counters, and every row lands."""

import os

import psycopg
import psycopg2

import harness
import sinkutil as su

DATAGEN = os.path.join(harness.REPO, "scripts", "datagen.py")


def test_datagen_psycopg2_clients(pg, make_proxy):
	"""psycopg2 interpolates parameters on the client: every INSERT is a simple Query."""
	pg.sql("CREATE TABLE test_adbpg_table (b1 int, b2 int, b3 text, PRIMARY KEY (b1))")
	proxy = su.start_sink_proxy(make_proxy, {"test_adbpg_table": {"conflictmode": "ignore"}})
	dsn = "host=%s port=%d dbname=postgres user=postgres" % (proxy.host, proxy.port)
	res = harness.run(["/usr/bin/python3", DATAGEN, "--dsn", dsn, "--field", "b1=sequence:1:600",
		"--field", "b2=random:1:1000", "--field", "b3=string:10", "--rows-per-second", "0", "--clients", "4",
		"--quiet"], timeout=120)
	out = res.stdout.decode()
	assert res.returncode == 0, out + res.stderr.decode()
	assert "600 rows inserted into test_adbpg_table by 4 client(s)" in out and ", 0 errors" in out, out
	assert pg.sql("SELECT count(*), min(b1), max(b1), count(DISTINCT b1), min(b2) >= 1, max(b2) <= 1000, "
		"bool_and(b3 ~ '^[0-9a-f]{10}$') FROM test_adbpg_table") == [(600, 1, 600, 600, True, True, True)]
	st = su.stats(proxy)
	assert st.intercept["messages"] == 600 and st.sink["rows_written"] == 600, st


def test_psycopg3_client_cursor_and_literal_sql(pg, make_proxy):
	"""psycopg 3 sends a statement without parameters as a simple Query (unless it
	prepares it: prepare=False); a ClientCursor binds parameters into the text."""
	pg.sql("CREATE TABLE p3 (id int PRIMARY KEY, note text, at date)")
	proxy = su.start_sink_proxy(make_proxy, {"p3": {}})
	kw = dict(host=proxy.host, port=proxy.port, user="postgres", dbname="postgres", autocommit=True)
	with psycopg.connect(cursor_factory=psycopg.ClientCursor, **kw) as conn:
		cur = conn.cursor()
		for i in range(50):
			cur.execute("INSERT INTO p3 (id, note, at) VALUES (%s, %s, %s)", (i, "it's\t%d\n" % i, "2024-01-%02d" % (i % 28 + 1)))
			assert cur.statusmessage == "INSERT 0 1"
	with psycopg.connect(**kw) as conn:
		for i in range(50, 60):
			cur = conn.execute("INSERT INTO p3 VALUES (%d, 'literal', '2024-02-01')" % i, prepare=False)
			assert cur.statusmessage == "INSERT 0 1"
	st = su.stats(proxy)
	assert st.intercept["messages"] == 60 and st.sink["rows_written"] == 60, st
	with psycopg.connect(**kw) as conn:
		# server-side binding: the extended protocol, whatever pgbatchd does with it, the rows land
		for i in range(60, 70):
			conn.execute("INSERT INTO p3 VALUES (%s, %s, %s)", (i, None, None))
		assert conn.execute("SELECT count(*) FROM p3").fetchone() == (70,)
	assert pg.sql("SELECT note FROM p3 WHERE id = 7") == [("it's\t7\n",)]
	assert pg.sql("SELECT count(*) FROM p3 WHERE note = 'literal' AND at = '2024-02-01'") == [(10,)]


def test_psycopg2_concurrent_sessions_interleaved_with_reads(pg, make_proxy):
	"""Several psycopg2 sessions, each inserting and reading back its own rows
	(ackmode=immediate: the read waits for the session's rows, readyourwrites)."""
	pg.sql("CREATE TABLE p2 (k int PRIMARY KEY, owner int, v text)")
	proxy = su.start_sink_proxy(make_proxy, {"p2": {"ackmode": "immediate", "adaptiveflush": 0,
		"batchwritetimeoutms": 200, "batchsize": 1000}})

	def worker(n):
		conn = psycopg2.connect(host=proxy.host, port=proxy.port, user="postgres", dbname="postgres")
		conn.autocommit = True
		cur = conn.cursor()
		for i in range(40):
			cur.execute("INSERT INTO p2 VALUES (%s, %s, %s)", (n * 1000 + i, n, "v%d" % i))
			assert cur.statusmessage == "INSERT 0 1"
			if i % 10 == 9:
				cur.execute("SELECT count(*) FROM p2 WHERE owner = %s", (n,))
				assert cur.fetchone() == (i + 1,)
		conn.close()

	su.run_parallel(worker, [(n,) for n in range(6)])
	assert pg.sql("SELECT count(*) FROM p2") == [(240,)]
