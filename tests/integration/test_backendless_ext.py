"""Extended-protocol sessions without a backend (issue 19): pgjdbc's
connect-time SETs (extra_float_digits, application_name) are answered by
pgbatchd and replayed on the backend the session opens later; a Parse and
Describe of an INSERT into a configured table (pgjdbc's batch, asyncpg's
prepare) are answered from the sink's catalog when it proves the statement
valid, else the session's backend is asked as before. Each case runs the same
client directly and through pgbatchd and compares every message, the table
and pg_stat_activity (no backend of the session's own)."""

import asyncio
import os
import subprocess

import asyncpg
import pytest

import harness
import pgwire as w
import sinkutil as su

USER = "bx_u"
USERS = {"postgres": "postgres", USER: "pw"}
CLIENTS = os.path.join(harness.REPO, "tests", "clients")
JDBC_JAR = "/usr/share/java/postgresql.jar"

DDL = ["CREATE DOMAIN bx_pos AS int CHECK (VALUE > 0)",
	"CREATE TABLE bx_t (id int PRIMARY KEY, n bigint, s varchar(20), ts timestamptz, f float8, b boolean, "
	"x numeric)",
	"CREATE TABLE bx_d (id int, p bx_pos, c char(3), g int GENERATED ALWAYS AS (id * 2) STORED, "
	"arr text[])"]


@pytest.fixture(scope="module")
def setup(pg):
	pg.sql("CREATE ROLE %s LOGIN PASSWORD 'pw'" % USER)
	for d in DDL:
		pg.sql(d)
	pg.sql("GRANT ALL ON bx_t, bx_d TO %s" % USER)
	return pg


def backends(pg):
	return pg.sql("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (USER,))[0][0]


def start(make_proxy):
	"""A proxy with bx_t and bx_d configured (upsert on bx_t's key, strict
	on bx_d), and an idle session of its own held open, so that no session
	opens a backend for direct writes (a lone one does)."""
	p = su.start_sink_proxy(make_proxy, {"bx_t": {}, "bx_d": {"conflictmode": "strict"}}, users=USERS,
		backend={"connectionmaxactive": 1})
	p.companion = su.Session.to(p)
	return p


# ------------------------------------------------------------ pgjdbc

@pytest.fixture(scope="module")
def jdbc_classes(tmp_path_factory):
	out = tmp_path_factory.mktemp("jdbc")
	res = harness.run(["javac", "-Xlint:all", "-Werror", "-cp", JDBC_JAR, "-d", str(out),
		os.path.join(CLIENTS, "JdbcIngest.java")], timeout=300)
	assert res.returncode == 0, (res.stdout + res.stderr).decode()
	return str(out)


def run_ingest(classes, pg, host, port, first):
	"""Runs JdbcIngest to its READY; returns (transcript, backends of USER
	then), and lets it end."""
	url = "jdbc:postgresql://%s:%d/postgres?sslmode=disable" % (host, port)
	proc = subprocess.Popen(["java", "-Xshare:auto", "-XX:TieredStopAtLevel=1", "-cp",
		"%s:%s" % (classes, JDBC_JAR), "JdbcIngest", url, USER, "pw", str(first)],
		stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
	lines = []
	try:
		while True:
			line = proc.stdout.readline()
			if not line:
				break
			lines.append(line)
			if line == "READY\n":
				break
		assert lines and lines[-1] == "READY\n", "".join(lines) + proc.stderr.read()
		seen = backends(pg)
		proc.stdin.write("\n")
		proc.stdin.flush()
		assert proc.wait(timeout=120) == 0, proc.stderr.read()
	finally:
		if proc.poll() is None:
			proc.kill()
			proc.wait()
	return "".join(lines), seen


def test_pgjdbc_ingest_session_holds_no_backend(setup, make_proxy, jdbc_classes):
	"""pgjdbc's SETs at connect, executeUpdate, executeBatch (its Parse and
	Describe of the statement) and getParameterMetaData: what the driver
	reports and what lands equal a direct run; through pgbatchd the session
	never has a backend of its own."""
	pg = setup
	pg.sql("TRUNCATE bx_t")
	want, direct_backends = run_ingest(jdbc_classes, pg, pg.host, pg.port, 1)
	want_rows = su.dump(pg, "bx_t", "id")
	assert direct_backends == 1
	pg.sql("TRUNCATE bx_t")
	p = start(make_proxy)
	got, proxy_backends = run_ingest(jdbc_classes, pg, p.host, p.port, 1)
	assert got == want
	assert "batch: 1 1 1 1 1 1 1" in got and "parameters: int4 int8 varchar timestamptz float8 bool numeric" in got
	assert proxy_backends == 0, p.log()[-3000:]
	assert su.dump(pg, "bx_t", "id") == want_rows and len(want_rows) == 10


# ------------------------------------------------------------ asyncpg

async def asyncpg_ingest(host, port, pg):
	c = await asyncpg.connect(host=host, port=port, user=USER, password="pw", database="postgres", ssl=False)
	try:
		st = await c.prepare("INSERT INTO bx_t (id, n, s, ts, f, b, x) VALUES ($1, $2, $3, $4, $5, $6, $7)")
		types = [t.name for t in st.get_parameters()]
		await c.executemany("INSERT INTO bx_t (id, s, b) VALUES ($1, $2, $3)",
			[(i, "a%d" % i, i % 2 == 0) for i in range(20, 25)])
		await st.fetch(30, 7, "seven", None, 1.5, True, None)
		status = await c.execute("INSERT INTO bx_t (id, n) VALUES ($1, $2)", 31, 2 ** 40)
		return types, status, backends(pg)
	finally:
		await c.close()


def test_asyncpg_prepare_and_executemany_hold_no_backend(setup, make_proxy):
	pg = setup
	pg.sql("TRUNCATE bx_t")
	want = asyncio.run(asyncpg_ingest(pg.host, pg.port, pg))
	want_rows = su.dump(pg, "bx_t", "id")
	pg.sql("TRUNCATE bx_t")
	p = start(make_proxy)
	got = asyncio.run(asyncpg_ingest(p.host, p.port, pg))
	assert got[:2] == want[:2]
	assert got[0] == ["int4", "int8", "varchar", "timestamptz", "float8", "bool", "numeric"]
	assert want[2] == 1 and got[2] == 0
	assert su.dump(pg, "bx_t", "id") == want_rows and len(want_rows) == 7


# ------------------------------------------------------------ the messages

def exchange(conn, data):
	conn.send(data)
	return w.normalize(conn.read_until("Z"))


PREPARED = [
	# declared and undeclared parameters; a domain, char(n) and an array column
	w.parse("s1", "INSERT INTO bx_d (id, p, c, arr) VALUES ($1, $2, $3, $4)", [23, 0, 0, 0]) +
	w.describe("S", "s1") + w.sync(),
	# text and varchar into text-like columns, int2 into int, an unused declared parameter
	w.parse("s2", "INSERT INTO bx_d (c, id) VALUES ($2, $1)", [21, 1043, 20]) + w.describe("S", "s2") +
	w.sync(),
	# positional, several rows, DEFAULT for the generated column
	w.parse("s3", "INSERT INTO bx_d VALUES ($1, $2, $3, DEFAULT, $4), ($5, $6, $7, DEFAULT, NULL)") +
	w.describe("S", "s3") + w.sync(),
	# Parse then Sync, described later; then run
	w.parse("s4", "INSERT INTO bx_d (id) VALUES ($1)") + w.sync(),
	w.describe("S", "s4") + w.sync(),
	w.bind("", "s1", [b"1", b"5", b"ab", b"{x,y}"]) + w.execute("") + w.bind("", "s4", [b"2"]) +
	w.execute("") + w.sync(),
	# the SETs pgjdbc makes at connect, then again (unchanged: no ParameterStatus), and as a Query
	w.parse("", "SET extra_float_digits = 3") + w.bind("", "") + w.execute("") + w.sync(),
	w.parse("", "SET application_name = 'PostgreSQL JDBC Driver'") + w.bind("", "") +
	w.describe("P", "") + w.execute("") + w.sync(),
	w.parse("", "SET application_name = 'PostgreSQL JDBC Driver'") + w.bind("", "") + w.execute("") +
	w.sync(),
	w.query("set session application_name TO 'ingest-7';"),
	w.query("SET extra_float_digits TO 2"),
]

# what the backend decides (the catalog does not prove them valid)
REFUSED = [
	w.parse("", "INSERT INTO bx_d (id, c) VALUES ($1, $2)", [25, 25]) + w.describe("S", "") + w.sync(),
	w.parse("", "INSERT INTO bx_d (nope) VALUES ($1)") + w.describe("S", "") + w.sync(),
	w.parse("", "INSERT INTO bx_d (id) VALUES ($2)") + w.describe("S", "") + w.sync(),
	w.parse("", "INSERT INTO bx_d (g) VALUES ($1)") + w.describe("S", "") + w.sync(),
	w.parse("", "INSERT INTO bx_d (id) VALUES ($1::text)") + w.describe("S", "") + w.sync(),
]

AFTER = [
	w.query("SELECT current_setting('application_name'), current_setting('extra_float_digits'), "
		"(SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid())"),
	w.bind("", "s2", [b"7", b"xyz", b"9"]) + w.execute("") + w.bind("", "s3",
		[b"3", b"4", b"c", b"{}", b"5", b"6", b"d"]) + w.execute("") + w.sync(),
	w.query("SET application_name = 'PostgreSQL JDBC Driver'"),
	w.query("SELECT current_setting('application_name')"),
]


def run_script(pg, host, port, proxy_leg):
	out = {}
	pg.sql("TRUNCATE bx_d")
	with w.Conn(host, port) as c:
		out["login"] = [m for m in w.normalize(c.login(USER, "postgres", password="pw")) if m[0] == "S"]
		out["prepared"] = []
		for i, m in enumerate(PREPARED):
			out["prepared"].append(exchange(c, m))
			assert not proxy_leg or backends(pg) == 0, "step %d opened a backend" % i
		out["after"] = [exchange(c, m) for m in AFTER]
	with w.Conn(host, port) as c:
		c.login(USER, "postgres", password="pw")
		out["refused"] = [exchange(c, m) for m in REFUSED]
	out["rows"] = su.dump(pg, "bx_d", "id")
	return out


def test_messages_equal_direct(setup, make_proxy):
	"""Every answer -- ParseComplete, ParameterDescription, NoData, the SETs'
	CommandComplete and ParameterStatus (sent only when the value changes,
	before ReadyForQuery), the errors of statements the backend refuses --
	equals the server's; nothing reaches a backend until the first SELECT,
	which sees the SETs replayed (and no second ParameterStatus)."""
	pg = setup
	want = run_script(pg, pg.host, pg.port, False)
	p = start(make_proxy)
	got = run_script(pg, p.host, p.port, True)
	for k in ("login", "prepared", "after", "refused", "rows"):
		assert got[k] == want[k], k
	statuses = [m for step in want["prepared"] for m in step if m[0] == "S"]
	assert [s[1].split(b"\0")[1] for s in statuses] == [b"PostgreSQL JDBC Driver", b"ingest-7"]
	assert [m[0] for m in want["prepared"][0]] == ["1", "t", "n", "Z"]
	assert [w.fields(m[1])["C"] for step in want["refused"] for m in step if m[0] == "E"] == \
		["42804", "42703", "42P18", "428C9", "42804"]
	assert len(want["rows"]) == 5


# ------------------------------------------------------------ edge cases, each on a session of its own

def s_(*msgs):
	return b"".join(msgs)


INS = "INSERT INTO bx_d (id, c) VALUES ($1, $2)"

EDGES = {
	# declared `unknown` (705) is undeclared: described with the column's type
	"unknown_declared": (0, [s_(w.parse("a", INS, [705, 0]), w.describe("S", "a"), w.sync())]),
	# ... and unused, its type cannot be told: 42P18
	"unknown_unused": (1, [s_(w.parse("a", "INSERT INTO bx_d (id) VALUES ($1)", [0, 705]), w.describe("S", "a"),
		w.sync())]),
	# a name parsed twice: 42P05 (the first never reached a backend)
	"parse_twice": (1, [s_(w.parse("a", INS), w.describe("S", "a"), w.sync()),
		s_(w.parse("a", "INSERT INTO bx_d (id) VALUES ($1)"), w.describe("S", "a"), w.sync()),
		s_(w.bind("", "a", [b"1", b"x"]), w.execute(""), w.sync())]),
	"set_name_reused": (1, [s_(w.parse("q", "SET application_name = 'x1'"), w.bind("", "q"), w.execute(""), w.sync()),
		s_(w.parse("q", "SELECT 1"), w.bind("", "q"), w.execute(""), w.sync())]),
	# a Bind with more parameter formats than parameters: 08P01
	"set_bind_formats": (1, [s_(w.parse("", "SET extra_float_digits = 3"), w.bind("", "", [], [0, 0]), w.execute(""),
		w.sync())]),
	# Close of a statement described here, then a Describe of it: 26000
	"close_described": (1, [s_(w.parse("a", INS), w.describe("S", "a"), w.sync()), s_(w.close("S", "a"), w.sync()),
		s_(w.describe("S", "a"), w.sync())]),
	# ... after its table changed (a Parse of it would fail now): the Close
	# still closes, what follows it is answered
	"close_after_ddl": (1, [s_(w.parse("a", "INSERT INTO bx_e (id, n) VALUES ($1, $2)"), w.describe("S", "a"),
		w.sync()), lambda pg: pg.sql("ALTER TABLE bx_e DROP COLUMN n"),
		s_(w.close("S", "a"), w.parse("", "SELECT 1"), w.bind("", ""), w.execute(""), w.sync())]),
	# asyncpg's way: Parse, Describe, Flush; then run
	"flush_prepare": (0, [s_(w.parse("a", INS), w.describe("S", "a"), w.flush(), w.sync()),
		s_(w.bind("", "a", [b"4", b"y"]), w.execute(""), w.sync())]),
	# a schema the role may not use: 42501 at Parse
	"schema_usage": (1, [s_(w.parse("a", "INSERT INTO bx_hidden.bx_h (id) VALUES ($1)"), w.describe("S", "a"),
		w.sync())]),
}


@pytest.mark.parametrize("name", sorted(EDGES))
def test_edge_cases_equal_direct(setup, make_proxy, name):
	pg = setup
	pg.sql("CREATE SCHEMA IF NOT EXISTS bx_hidden")
	pg.sql("CREATE TABLE IF NOT EXISTS bx_hidden.bx_h (id int)")
	pg.sql("REVOKE ALL ON SCHEMA bx_hidden FROM PUBLIC")
	own, steps = EDGES[name]
	outs = []
	for leg in ("direct", "proxy"):
		host, port = pg.host, pg.port
		if leg == "proxy":
			p = su.start_sink_proxy(make_proxy, {"bx_d": {"conflictmode": "strict"},
				"bx_h": {"conflictmode": "strict", "targetschema": "bx_hidden"}, "bx_e": {}}, users=USERS, backend={"connectionmaxactive": 1})
			p.companion = su.Session.to(p)
			host, port = p.host, p.port
		pg.sql("TRUNCATE bx_d")
		with w.Conn(host, port) as c:
			c.login(USER, "postgres", password="pw")
			pg.sql("DROP TABLE IF EXISTS bx_e")
			pg.sql("CREATE TABLE bx_e (id int, n int)")
			pg.sql("GRANT ALL ON bx_e TO %s" % USER)
			said = [m(pg) if callable(m) else exchange(c, m) for m in steps]
			outs.append((said, su.dump(pg, "bx_d", "id"), backends(pg)))
	(want, want_rows, _), (got, got_rows, got_own) = outs
	assert got == want and got_rows == want_rows
	assert got_own == own, "backends of the session's own"


def test_an_error_said_for_a_later_message_waits_for_the_answers_before_it(setup, make_proxy):
	"""A statement described here is not at the backend; its table is dropped
	(through pgbatchd); the session's next group binds it, while the answer
	to its INSERT before is still owed (a lock holds its batch). The Parse
	sent ahead of the Bind fails: that error is the Bind's answer, after the
	INSERT's."""
	pg = setup
	for t in ("bx_o1", "bx_o2"):
		pg.sql("DROP TABLE IF EXISTS %s" % t)
		pg.sql("CREATE TABLE %s (id int)" % t)
		pg.sql("GRANT ALL ON %s TO %s" % (t, USER))
	p = su.start_sink_proxy(make_proxy, {
		"bx_o1": {"conflictmode": "strict", "directwrite": 0, "batchsize": 1},
		"bx_o2": {"conflictmode": "strict", "directwrite": 0}}, users=USERS, backend={"connectionmaxactive": 1})
	p.companion = su.Session.to(p)
	with su.Session.to(p) as s:
		s.insert("INSERT INTO bx_o1 VALUES (-1)", 1)        # the catalog, loaded
	with w.Conn(p.host, p.port) as c:
		c.login(USER, "postgres", password="pw")
		exchange(c, s_(w.parse("s2", "INSERT INTO bx_o2 (id) VALUES ($1)"), w.describe("S", "s2"), w.sync()))
		locker = su.lock_table(pg, "bx_o1")
		try:
			c.send(w.query("INSERT INTO bx_o1 VALUES (1)"))
			harness.wait_for(lambda: su.waiting_on_lock(pg) == 1, what="the INSERT's batch waiting")
			with su.Session.to(p) as d:
				d.ok("DROP TABLE bx_o2")
			gone = 'relation "bx_o2" does not exist'
			seen = pg.server_log().count(gone)
			c.send(s_(w.bind("", "s2", [b"5"]), w.execute(""), w.sync()))
			harness.wait_for(lambda: pg.server_log().count(gone) > seen,
				what="the Parse sent ahead of the Bind failed")
		finally:
			locker.execute("COMMIT")
			locker.close()
		got = w.normalize(c.read_until("Z")) + w.normalize(c.read_until("Z"))
	assert [t for t, _ in got] == ["C", "Z", "E", "Z"], got
	assert w.fields(got[2][1])["C"] == "42P01"
