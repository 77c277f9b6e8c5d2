"""The drivers people use, through pgbatchd, against the same statements run directly: pgjdbc (executeUpdate, executeBatch past prepareThreshold, reWriteBatchedInserts, autoCommit off), psycopg 3 (executemany, pipeline mode), psycopg2 in its default transaction mode, asyncpg (every parameter binary) and node-postgres (a pool). Each checks the table against a direct run and counts, from pg_stat_statements, how many INSERTs reached the backend."""

import asyncio
import datetime
import decimal
import json
import os
import uuid

import psycopg
import psycopg2
import pytest

import harness
import sinkutil as su

PG_SETTINGS = {"timezone": "UTC", "shared_preload_libraries": "pg_stat_statements"}
CLIENTS = os.path.join(harness.REPO, "tests", "clients")
JDBC_JAR = "/usr/share/java/postgresql.jar"
JT = "(id int PRIMARY KEY, n bigint, s text, f float8, ts timestamptz, b boolean, d numeric)"


@pytest.fixture(scope="module")
def jdbc_classes(tmp_path_factory):
	out = tmp_path_factory.mktemp("jdbc")
	res = harness.run(["javac", "-Xlint:all", "-Werror", "-cp", JDBC_JAR, "-d", str(out),
		os.path.join(CLIENTS, "JdbcLoad.java")], timeout=300)
	assert res.returncode == 0, res.stderr.decode()
	return str(out)


@pytest.fixture(scope="module")
def stats_ext(pg):
	pg.sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
	pg.create_database("direct")


def insert_calls(pg, table):
	"""INSERT executions into `table` the backend saw since the last reset
	(pgbatchd's own batches included)."""
	return int(pg.sql("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements "
		"WHERE query ILIKE %s", ("%insert into%" + table + "%",))[0][0])


def reset_calls(pg):
	pg.sql("SELECT pg_stat_statements_reset()")


def both(pg, ddl):
	for db in ("postgres", "direct"):
		pg.sql(ddl, dbname=db)


def same_table(pg, table, order="id"):
	q = "SELECT * FROM %s ORDER BY %s" % (table, order)
	via, direct = pg.sql(q), pg.sql(q, dbname="direct")
	assert via == direct
	return via


def jdbc(classes, port, db, mode, rows, table, first):
	res = harness.run(["java", "-cp", classes + ":" + JDBC_JAR, "JdbcLoad",
		"jdbc:postgresql://127.0.0.1:%d/%s" % (port, db), mode, str(rows), table, str(first)], timeout=300)
	out = res.stdout.decode().strip()
	assert res.returncode == 0, out + res.stderr.decode()
	return out


# ---------------------------------------------------------------- pgjdbc

@pytest.mark.parametrize("mode,rows,most", [
	("update", 300, 300),           # each executeUpdate waits for its commit: one row per batch
	("batch", 10000, 100),          # one Sync group per pgjdbc chunk
	("rewrite", 10000, 10),         # multi-row VALUES with up to 65535 parameters
	# autoCommit off: the rows are written in the client's own transaction. Each
	# executeUpdate is a Sync group of one row, run as sent (its answer is the
	# backend's own); an executeBatch chunk is one batch statement per Sync group
	("txcommit", 2000, 2000),
	("txbatch", 10000, 100),
])
def test_jdbc(pg, make_proxy, jdbc_classes, stats_ext, mode, rows, most):
	table = "jt_" + mode
	both(pg, "CREATE TABLE %s %s" % (table, JT))
	proxy = su.start_sink_proxy(make_proxy, {table: {"conflictmode": "strict", "exceptionmode": "strict"}})
	reset_calls(pg)
	via = jdbc(jdbc_classes, proxy.port, "postgres", mode, rows, table, 1)
	calls = insert_calls(pg, table)
	direct = jdbc(jdbc_classes, pg.port, "direct", mode, rows, table, 1)
	assert via == direct
	assert len(same_table(pg, table)) == rows
	# far fewer statements than rows reach the backend (update: one per row, as it waits)
	assert calls <= most, (mode, calls)
	st = su.stats(proxy)
	# autoCommit off: the rows went into the client's own transaction (one row
	# a group: as sent), not through the sink's writers
	written = {"txcommit": 0, "txbatch": "tx_rows"}.get(mode, "rows_written")
	assert st.intercept["rows"] == rows, st
	assert written == 0 or st.sink[written] == rows, st


def test_jdbc_rollback_writes_nothing(pg, make_proxy, jdbc_classes, stats_ext):
	both(pg, "CREATE TABLE jt_rb %s" % JT)
	proxy = su.start_sink_proxy(make_proxy, {"jt_rb": {}})
	via = jdbc(jdbc_classes, proxy.port, "postgres", "txrollback", 500, "jt_rb", 1)
	assert via == jdbc(jdbc_classes, pg.port, "direct", "txrollback", 500, "jt_rb", 1) == "txrollback 500"
	assert same_table(pg, "jt_rb") == []
	st = su.stats(proxy)
	assert st.intercept["rows"] == 500 and st.sink["rows_written"] == 0, st


def test_jdbc_batch_duplicate_key(pg, make_proxy, jdbc_classes, stats_ext):
	"""A strict-mode duplicate in a batch: BatchUpdateException 23505, and the
	table holds what it holds directly (the chunks before the bad one)."""
	both(pg, "CREATE TABLE jt_dup %s" % JT)
	proxy = su.start_sink_proxy(make_proxy, {"jt_dup": {"conflictmode": "strict", "exceptionmode": "strict"}})
	via = jdbc(jdbc_classes, proxy.port, "postgres", "batchdup", 2000, "jt_dup", 1)
	assert via == jdbc(jdbc_classes, pg.port, "direct", "batchdup", 2000, "jt_dup", 1)
	assert via.startswith("BatchUpdateException 23505"), via
	same_table(pg, "jt_dup")
	assert su.stats(proxy).sink["units_rejected"] >= 1


# ---------------------------------------------------------------- psycopg 3

def p3_rows(first, n):
	return [(i, "p3 %d" % i, decimal.Decimal(i) / 7) for i in range(first, first + n)]


def test_psycopg3_executemany_and_pipeline(pg, make_proxy, stats_ext):
	both(pg, "CREATE TABLE p3m (id int PRIMARY KEY, v text, n numeric)")
	proxy = su.start_sink_proxy(make_proxy, {"p3m": {}})
	ins = "INSERT INTO p3m VALUES (%s, %s, %s)"
	reset_calls(pg)
	for port, db in ((proxy.port, "postgres"), (pg.port, "direct")):
		with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname=db, autocommit=True) as conn:
			with conn.cursor() as cur:
				cur.executemany(ins, p3_rows(1, 2000))
				assert cur.rowcount == 2000
			with conn.pipeline():
				for r in p3_rows(5000, 500):
					conn.execute(ins, r)
		if db == "postgres":
			assert insert_calls(pg, "p3m") <= 6
	assert len(same_table(pg, "p3m")) == 2500


def test_psycopg3_mixed_pipeline_reads_its_writes(pg, make_proxy, stats_ext):
	both(pg, "CREATE TABLE p3x (id int PRIMARY KEY, v text, n numeric)")
	proxy = su.start_sink_proxy(make_proxy, {"p3x": {}})
	for port, db in ((proxy.port, "postgres"), (pg.port, "direct")):
		with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname=db, autocommit=True) as conn:
			with conn.pipeline():
				conn.execute("INSERT INTO p3x VALUES (%s, %s, %s)", (1, "first", 1))
				cur = conn.execute("SELECT v FROM p3x WHERE id = %s", (1,))
				conn.execute("INSERT INTO p3x VALUES (%s, %s, %s)", (2, "second", 2))
			assert cur.fetchall() == [("first",)]
			# a transaction (psycopg's default) sees its own rows
			conn.autocommit = False
			conn.execute("INSERT INTO p3x VALUES (%s, %s, %s)", (3, "tx", 3))
			assert conn.execute("SELECT count(*) FROM p3x").fetchone() == (3,)
			conn.commit()
	same_table(pg, "p3x")


# ---------------------------------------------------------------- psycopg2

def test_psycopg2_default_transaction_mode(pg, make_proxy, stats_ext):
	"""10k INSERTs then commit() are one unit; a SELECT inside another
	transaction sees that transaction's own rows (written into it first)."""
	both(pg, "CREATE TABLE p2t (id int PRIMARY KEY, v text, n numeric)")
	proxy = su.start_sink_proxy(make_proxy, {"p2t": {}})
	reset_calls(pg)
	for port, db in ((proxy.port, "postgres"), (pg.port, "direct")):
		c = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname=db)
		cur = c.cursor()
		for i in range(10000):
			cur.execute("INSERT INTO p2t VALUES (%s, %s, %s)", (i, "p2 %d" % i, i / 3))
		c.commit()
		if db == "postgres":
			assert insert_calls(pg, "p2t") <= 3
		for i in range(10000, 10100):
			cur.execute("INSERT INTO p2t VALUES (%s, %s, %s)", (i, "p2 %d" % i, i / 3))
		cur.execute("SELECT count(*), max(id) FROM p2t")
		assert cur.fetchone() == (10100, 10099)
		c.commit()
		c.close()
	assert len(same_table(pg, "p2t")) == 10100
	st = su.stats(proxy)
	assert st.sink["tx_rows"] == 10100 and st.sink["tx_batches"] <= 3, st


def test_psycopg2_commit_reports_row_error(pg, make_proxy, stats_ext):
	"""A strict duplicate staged in a transaction fails COMMIT with 23505 (as
	a deferred constraint would) and nothing of the transaction is written."""
	both(pg, "CREATE TABLE p2e (id int PRIMARY KEY, v text)")
	pg.sql("INSERT INTO p2e VALUES (5, 'there')")
	proxy = su.start_sink_proxy(make_proxy, {"p2e": {"conflictmode": "strict", "exceptionmode": "strict"}})
	c = psycopg2.connect(host="127.0.0.1", port=proxy.port, user="postgres", dbname="postgres")
	cur = c.cursor()
	for i in range(10):
		cur.execute("INSERT INTO p2e VALUES (%s, %s)", (i, "v"))
	with pytest.raises(psycopg2.errors.UniqueViolation) as ei:
		c.commit()
	assert ei.value.pgcode == "23505"
	assert c.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE
	cur.execute("SELECT count(*) FROM p2e")
	assert cur.fetchone() == (1,)
	c.rollback()
	c.close()


# ---------------------------------------------------------------- asyncpg

TYPES = "(id int PRIMARY KEY, i2 int2, i8 int8, f4 float4, f8 float8, nu numeric, bo bool, tx text, " \
	"vc varchar(20), bp char(5), nm name, by bytea, da date, ti time, tz timetz, ts timestamp, " \
	"tt timestamptz, iv interval, uu uuid, js json, jb jsonb, ai int4[], at text[])"


def typed_rows(first, n):
	rows = []
	for k in range(n):
		i = first + k
		rows.append((i, (i % 300) - 150, i * 1000003 - 5, i / 7.0, -i / 3.0,
			decimal.Decimal(i) / decimal.Decimal(8) - 3 if i % 5 else decimal.Decimal("NaN"),
			i % 2 == 0, "t'x\\ %d é" % i, "vc%d" % i, "b%d" % (i % 100), "nm%d" % i, bytes([i % 256, 0, 255]),
			datetime.date(1 + i % 3000, 1 + i % 12, 1 + i % 28),
			datetime.time(i % 24, i % 60, i % 60, i % 1000000),
			datetime.time(i % 24, 5, 6, tzinfo=datetime.timezone(datetime.timedelta(hours=(i % 27) - 13))),
			datetime.datetime(2000 + i % 50, 2, 3, 4, 5, 6, i % 1000000),
			datetime.datetime(1990 + i % 40, 6, 7, 8, 9, 10, tzinfo=datetime.timezone.utc),
			datetime.timedelta(days=i % 400 - 200, seconds=i % 86400, microseconds=i % 1000),
			uuid.UUID(int=i * 7919), json.dumps({"i": i, "s": "é"}), json.dumps([i, {"k": None}]),
			[i, None, -i], ["a b", None, "NULL", '"q"', "", "x\\y", "é{}"]))
	return rows


async def asyncpg_load(port, db, rows, table):
	import asyncpg
	conn = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres", database=db)
	try:
		cols = ", ".join("$%d" % (i + 1) for i in range(len(rows[0])))
		await conn.executemany("INSERT INTO %s VALUES (%s)" % (table, cols), rows)
		# copy-free single inserts with the same types
		await conn.execute("INSERT INTO %s VALUES (%s)" % (table, cols), *typed_rows(900000, 1)[0])
	finally:
		await conn.close()


def test_asyncpg_binary_types(pg, make_proxy, stats_ext):
	"""asyncpg sends every parameter binary: each type decodes to what a
	direct INSERT stores (compared as text, and with infinities too)."""
	both(pg, "CREATE TABLE ap %s" % TYPES)
	proxy = su.start_sink_proxy(make_proxy, {"ap": {}})
	rows = typed_rows(1, 400)
	reset_calls(pg)
	asyncio.run(asyncpg_load(proxy.port, "postgres", rows, "ap"))
	calls = insert_calls(pg, "ap")
	asyncio.run(asyncpg_load(pg.port, "direct", rows, "ap"))
	q = "SELECT ap::text FROM ap ORDER BY id"
	assert pg.sql(q) == pg.sql(q, dbname="direct")
	assert len(pg.sql(q)) == 401
	st = su.stats(proxy)
	assert st.sink["rows_written"] == 401 and sum(st.passthrough().values()) == 0, st
	assert calls <= 5, calls


def test_asyncpg_special_values(pg, make_proxy, stats_ext):
	both(pg, "CREATE TABLE aps (id int PRIMARY KEY, f8 float8, f4 float4, nu numeric, da date, ts timestamp, "
		"tt timestamptz, ai int8[], bc date)")
	proxy = su.start_sink_proxy(make_proxy, {"aps": {}})
	inf = float("inf")
	# (asyncpg cannot send a numeric infinity: test_ext_protocol.py sends one)
	rows = [(1, inf, -inf, decimal.Decimal("NaN"), datetime.date.max, datetime.datetime.min,
			datetime.datetime(1, 1, 1, tzinfo=datetime.timezone.utc), [], datetime.date(1, 1, 1)),
		(2, float("nan"), 0.0, decimal.Decimal("1e-300"), datetime.date.min, datetime.datetime.max,
			datetime.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=datetime.timezone.utc), [2 ** 62, None],
			datetime.date(2000, 2, 29)),
		(3, -0.0, 1e-45, decimal.Decimal("-0.000000000000000000001"), None, None, None, None, None)]

	async def load(port, db):
		import asyncpg
		conn = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres", database=db)
		try:
			await conn.executemany("INSERT INTO aps VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", rows)
			await conn.execute("INSERT INTO aps (id, da, ts, tt) VALUES ($1, $2, $3, $4)", 4,
				datetime.date(1999, 1, 1), datetime.datetime(1999, 1, 1),
				datetime.datetime(1999, 1, 1, tzinfo=datetime.timezone.utc))
		finally:
			await conn.close()
	asyncio.run(load(proxy.port, "postgres"))
	asyncio.run(load(pg.port, "direct"))
	q = "SELECT aps::text FROM aps ORDER BY id"
	assert pg.sql(q) == pg.sql(q, dbname="direct")
	st = su.stats(proxy)
	assert st.sink["rows_written"] == 4, st


# ---------------------------------------------------------------- node-postgres

def node(port, mode, n=50, first=1, db="postgres"):
	res = harness.run(["node", os.path.join(CLIENTS, "node_insert.js"), str(port), db, mode, str(n),
		str(first)], timeout=120, cwd=CLIENTS)
	out = res.stdout.decode().strip()
	assert res.returncode == 0, out + res.stderr.decode()
	return out


def test_node_pool_concurrent(pg, make_proxy, stats_ext):
	both(pg, "CREATE TABLE nt (id int PRIMARY KEY, v text, at timestamptz, n numeric)")
	proxy = su.start_sink_proxy(make_proxy, {"nt": {}})
	assert node(proxy.port, "pool") == node(pg.port, "pool", db="direct") == "inserted 50"
	assert len(same_table(pg, "nt")) == 50
	assert su.stats(proxy).sink["rows_written"] == 50


def test_node_quick_disconnect(pg, proxy):
	"""node-postgres's quick-disconnect case: Terminate may reach the socket
	before the StartupMessage; PostgreSQL closes silently, so must pgbatchd."""
	assert node(proxy.port, "quick", 20) == node(pg.port, "quick", 20) == "quick done"
