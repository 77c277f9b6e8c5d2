"""Differential wire-protocol tests: the same bytes sent to PostgreSQL and to pgbatchd must get the same reply bytes (BackendKeyData and notification PIDs normalized), plus 100 MB COPY and 50 MB query streaming through the proxy."""

import hashlib
import struct

import pytest

import pgwire as w
from wirecase import assert_same, q, render, run_case, send, until  # noqa: F401

IO_SIZES = [16384, 64]

SETUP_SQL = """
CREATE TABLE t (id int PRIMARY KEY, v text);
CREATE TABLE cp (a int, b text);
CREATE TABLE big (id int, payload text);
"""
RESET_SQL = "TRUNCATE t, cp; INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 10) g"

INT4 = 23
TEXT = 25
INT4ABS_OID = 1251   # pg_proc oid of int4abs, fixed in the catalog




def pbe(sql, params=(), types=(), maxrows=0):
	return [w.parse("", sql, types), w.bind("", "", params), w.describe("P", ""), w.execute("", maxrows)]


def _cases():
	c = {}
	c["simple_select"] = q("SELECT 1 AS a, 'x'::text AS b, NULL::int AS c, 2.5::float8 AS d")
	c["simple_table"] = q("SELECT * FROM t ORDER BY id")
	c["simple_error"] = q("SELECT 1/0")
	c["syntax_error_position"] = q("SELECT * FROM t WHERE nope = 1")
	c["empty_query"] = q("") + q("   ;  ")
	c["multi_statement"] = q("SELECT 1; SELECT 2 AS two; INSERT INTO t VALUES (100, 'a'); "
		"UPDATE t SET v = 'b' WHERE id = 100; SELECT count(*) FROM t")
	c["multi_statement_error_stops"] = q("SELECT 1; SELECT 1/0; SELECT 3") + q("SELECT 4")
	c["multi_statement_in_tx"] = q("BEGIN; INSERT INTO t VALUES (200, 'x'); COMMIT; SELECT v FROM t WHERE id = 200")
	c["transaction_status"] = (q("BEGIN") + q("SELECT 1/0") + q("SELECT 1") + q("ROLLBACK")
		+ q("BEGIN") + q("SAVEPOINT a") + q("SELECT nope") + q("ROLLBACK TO a") + q("SELECT 2") + q("COMMIT"))
	c["notice_and_parameter_status"] = (q("DO $$BEGIN RAISE NOTICE 'n1 %', 42; RAISE WARNING 'w1'; END$$")
		+ q("SET application_name = 'diff'") + q("SET DateStyle = 'SQL, DMY'") + q("SELECT date '2024-05-06'"))
	c["unnamed_statement"] = [send(*pbe("SELECT id, v FROM t WHERE id <= $1 ORDER BY id", ["3"], [INT4]), w.sync()), until()]
	c["named_statement_reused"] = [
		send(w.parse("s1", "SELECT v FROM t WHERE id = $1", [INT4]), w.sync()), until(),
		send(w.bind("", "s1", ["2"]), w.execute(""), w.bind("", "s1", ["7"]), w.execute(""),
			w.bind("", "s1", ["99"]), w.execute(""), w.sync()), until(),
		send(w.close("S", "s1"), w.sync()), until(),
		send(w.bind("", "s1", ["2"]), w.execute(""), w.sync()), until(),
	]
	c["describe_statement_and_portal"] = [send(
		w.parse("s2", "SELECT $1::int + $2::int AS s, $3::text AS t, id FROM t WHERE id = $1", []),
		w.describe("S", "s2"),
		w.bind("p2", "s2", ["1", "2", "x"]), w.describe("P", "p2"), w.execute("p2"),
		w.parse("s3", "INSERT INTO t VALUES ($1, $2)", [INT4, TEXT]), w.describe("S", "s3"),
		w.bind("p3", "s3", ["300", "three hundred"]), w.describe("P", "p3"), w.execute("p3"),
		w.describe("S", "no_such_statement"), w.execute("p3"), w.sync()), until(),
		send(w.describe("P", "no_such_portal"), w.sync()), until()]
	c["row_limit_portal_suspended"] = [send(
		w.parse("s4", "SELECT g FROM generate_series(1, 7) g", []),
		w.bind("p4", "s4"), w.execute("p4", 3), w.execute("p4", 3), w.execute("p4", 3),
		w.execute("p4", 3), w.close("P", "p4"), w.close("S", "s4"), w.sync()), until(),
		send(w.execute("p4", 1), w.sync()), until()]
	c["cursor_across_syncs_in_tx"] = q("BEGIN") + [send(
		w.parse("", "SELECT g FROM generate_series(1, 5) g"), w.bind("pc", ""), w.execute("pc", 2), w.sync()), until(),
		send(w.execute("pc", 2), w.sync()), until(), send(w.execute("pc", 0), w.sync()), until()] + q("COMMIT")
	c["flush_without_sync"] = [
		send(w.parse("", "SELECT 42 AS answer"), w.bind("", ""), w.describe("P", ""), w.execute(""), w.flush()),
		until("C"),
		send(w.parse("", "SELECT pg_sleep(0.05)"), w.flush()), until("1"),
		send(w.sync()), until()]
	pipelined = []
	for i in range(40):
		pipelined += [w.parse("", "INSERT INTO t VALUES ($1, $2)", [INT4, TEXT]),
			w.bind("", "", [str(1000 + i), "row %d" % i]), w.execute("")]
	c["pipeline_40_then_sync"] = [send(*pipelined, w.sync()), until()] + q("SELECT count(*), sum(id) FROM t")
	named = [w.parse("ins", "INSERT INTO t VALUES ($1, $2) RETURNING id * 2", [INT4, TEXT])]
	for i in range(25):
		named += [w.bind("", "ins", [str(2000 + i), "n%d" % i]), w.execute("")]
	c["pipeline_named_25"] = [send(*named, w.sync()), until()]
	c["pipeline_error_skips_until_sync"] = [send(
		*pbe("INSERT INTO t VALUES (500, 'ok')"),
		*pbe("INSERT INTO t VALUES (1, 'duplicate key')"),
		*pbe("INSERT INTO t VALUES (501, 'skipped')"),
		w.parse("never", "SELECT 1"), w.sync(),
		*pbe("SELECT count(*) FROM t WHERE id IN (500, 501)"), w.sync()), until("Z", 2),
		send(w.describe("S", "never"), w.sync()), until()]
	c["pipeline_error_in_tx"] = q("BEGIN") + [send(
		*pbe("INSERT INTO t VALUES (600, 'in tx')"), w.parse("", "SELEC broken"), w.bind("", ""),
		w.execute(""), w.sync()), until(), send(*pbe("SELECT 1"), w.sync()), until()] + q("ROLLBACK") + q(
		"SELECT count(*) FROM t WHERE id = 600")
	c["sync_only"] = [send(w.sync(), w.sync(), w.sync()), until("Z", 3)]
	c["binary_formats"] = [send(
		w.parse("", "SELECT $1::int4 * 2 AS dbl, $2::text AS t, $3::bytea AS b", [INT4, TEXT, 17]),
		w.bind("", "", [struct.pack("!i", -21), b"bin", b"\x00\x01\xff"], param_formats=[1, 1, 1],
			result_formats=[1]),
		w.describe("P", ""), w.execute(""), w.sync()), until()]
	c["big_result_row"] = q("SELECT repeat('x', 100000) AS big, repeat('y', 70000) AS big2") + [send(
		*pbe("SELECT repeat($1, 30000)", ["abc"]), w.sync()), until()]
	c["copy_in"] = [send(w.query("COPY cp FROM STDIN")), until("G"),
		send(w.copy_data(b"1\tone\n2\t"), w.copy_data(b"two\n3\t\\N\n"), w.copy_data(b""), w.copy_done()),
		until()] + q("SELECT * FROM cp ORDER BY a")
	c["copy_in_bad_data"] = [send(w.query("COPY cp FROM STDIN")), until("G"),
		send(w.copy_data(b"1\tone\nnot-int\ttwo\n"), w.copy_done()), until()] + q("SELECT count(*) FROM cp")
	c["copy_fail"] = [send(w.query("COPY cp FROM STDIN")), until("G"),
		send(w.copy_data(b"7\tseven\n"), w.copy_fail("client gave up")), until()] + q("SELECT count(*) FROM cp")
	c["copy_in_csv_multi_statement"] = [send(w.query("COPY cp FROM STDIN (FORMAT csv); SELECT count(*) FROM cp")),
		until("G"), send(w.copy_data(b'4,"a,b"\n5,\n'), w.copy_done()), until()]
	c["copy_in_extended"] = [send(w.parse("", "COPY cp FROM STDIN"), w.bind("", ""), w.execute(""), w.flush()),
		until("G"), send(w.copy_data(b"8\teight\n"), w.copy_done(), w.sync()), until()] + q(
		"SELECT * FROM cp ORDER BY a")
	c["copy_out"] = q("COPY (SELECT g, md5(g::text) FROM generate_series(1, 500) g) TO STDOUT") + q(
		"COPY t TO STDOUT (FORMAT csv, HEADER)") + q("COPY t TO STDOUT (FORMAT binary)")
	c["copy_out_extended"] = [send(*pbe("COPY (SELECT * FROM t ORDER BY id) TO STDOUT"), w.sync()), until()]
	c["notify_self"] = q("LISTEN ch") + q("NOTIFY ch, 'hello'") + q(
		"BEGIN; NOTIFY ch, 'a'; NOTIFY ch, 'b'; COMMIT") + [send(*pbe("SELECT pg_notify('ch', 'ext')"), w.sync()),
		until()] + q("UNLISTEN *") + q("NOTIFY ch, 'unheard'")
	c["function_call"] = [send(w.function_call(INT4ABS_OID, ["-17"])), until(),
		send(w.function_call(INT4ABS_OID, ["x"])), until()]
	c["error_fields_full"] = q("INSERT INTO t VALUES (NULL, 'null key')") + q(
		"DO $$BEGIN RAISE EXCEPTION 'custom' USING ERRCODE = '22023', DETAIL = 'd', HINT = 'h'; END$$")
	return c


CASES = _cases()


@pytest.fixture(scope="module")
def db(pg):
	pg.sql(SETUP_SQL)
	return pg


@pytest.fixture(scope="module")
def direct_replies():
	return {}


@pytest.mark.parametrize("io", IO_SIZES, ids=["io16384", "io64"])
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_same_reply_bytes(db, module_proxy_factory, direct_replies, case, io):
	steps = CASES[case]
	if case not in direct_replies:
		db.sql(RESET_SQL)
		direct_replies[case] = run_case(db.host, db.port, steps)
	direct = direct_replies[case]
	proxy = module_proxy_factory(io, io_buffer_size=io)
	db.sql(RESET_SQL)
	through = run_case(proxy.host, proxy.port, steps)
	assert_same(through, direct)


def test_cases_exercise_what_they_claim(db, direct_replies):
	"""Guards the case list: the replies contain what each case is about."""
	def types(case):
		if case not in direct_replies:
			db.sql(RESET_SQL)
			direct_replies[case] = run_case(db.host, db.port, CASES[case])
		return [t for t, _ in direct_replies[case]]
	assert "I" in types("empty_query")
	assert types("row_limit_portal_suspended").count("s") == 2
	assert "A" in types("notify_self")
	assert types("copy_fail").count("E") == 1
	assert "G" in types("copy_in_extended") and "H" in types("copy_out_extended")
	assert "V" in types("function_call")
	assert types("pipeline_named_25").count("D") == 25
	assert types("describe_statement_and_portal").count("t") == 2
	assert "n" in types("describe_statement_and_portal")


# ---------------------------------------------------------------- big messages stream

MB = 1024 * 1024


@pytest.fixture
def big_proxy(make_proxy):
	# ASan keeps freed memory in a quarantine (256 MB by default) that counts in
	# RSS; a small one keeps VmHWM meaningful for a proxy that streams.
	return make_proxy(asan_options={"quarantine_size_mb": "4", "thread_local_quarantine_size_kb": "64"})


def test_copy_100mb_in_and_out_streams(db, big_proxy):
	proxy = big_proxy
	hwm_before = proxy.proc_status("VmHWM")
	row_payload = (b"0123456789abcdef" * 64)[:1000]
	nrows = 100 * MB // (len(row_payload) + 8)
	sent = hashlib.md5()
	db.sql("TRUNCATE big")
	with w.Conn(proxy.host, proxy.port, timeout=120) as conn:
		conn.login("postgres", "postgres")
		conn.send(w.query("COPY big FROM STDIN"))
		assert conn.read_msg()[0] == "G"
		chunk = []
		size = 0
		total = 0
		for i in range(nrows):
			line = b"%d\t%s\n" % (i, row_payload)
			chunk.append(line)
			size += len(line)
			if size >= 64 * 1024 or i == nrows - 1:
				data = b"".join(chunk)
				sent.update(data)
				total += len(data)
				conn.send(w.copy_data(data))
				chunk, size = [], 0
		conn.send(w.copy_done())
		replies = conn.read_until("Z")
		assert [(t, p) for t, p in replies if t == "C"] == [("C", b"COPY %d\0" % nrows)], render(replies)
		assert total >= 100 * 1000 * 1000

		conn.send(w.query("COPY (SELECT * FROM big ORDER BY id) TO STDOUT"))
		got = hashlib.md5()
		received = 0
		while True:
			t, p = conn.read_msg(timeout=120)
			if t == "d":
				got.update(p)
				received += len(p)
			elif t == "Z":
				break
			else:
				assert t in ("H", "c", "C"), (t, p[:200])
		assert received == total
		assert got.hexdigest() == sent.hexdigest()
	hwm_after = proxy.proc_status("VmHWM")
	print("VmHWM before %d kB, after the 100 MB COPY %d kB" % (hwm_before, hwm_after))
	assert hwm_after < 64 * 1024, "pgbatchd VmHWM %d kB after a 100 MB COPY stream" % hwm_after
	assert hwm_after - hwm_before < 32 * 1024, (hwm_before, hwm_after)


def test_query_50mb_streams(db, big_proxy):
	proxy = big_proxy
	hwm_before = proxy.proc_status("VmHWM")
	n = 50 * MB
	literal = b"ab" * (n // 2)
	with w.Conn(proxy.host, proxy.port, timeout=120) as conn:
		conn.login("postgres", "postgres")
		conn.send(w.query(b"SELECT length('" + literal + b"'), md5('" + literal + b"')"))
		replies = conn.read_until("Z", timeout=120)
		rows = [w.datarow(p) for t, p in replies if t == "D"]
		assert rows == [[b"%d" % n, hashlib.md5(literal).hexdigest().encode()]], render(replies)
		# the session is still in sync afterwards
		assert conn.scalar("SELECT 'after'") == "after"
	hwm_after = proxy.proc_status("VmHWM")
	print("VmHWM before %d kB, after the 50 MB query %d kB" % (hwm_before, hwm_after))
	assert hwm_after - hwm_before < 32 * 1024, "VmHWM grew from %d to %d kB on a 50 MB query" % (hwm_before, hwm_after)


# ---------------------------------------------------------------- startup parameters

STARTUP_PARAMS = {
	"application_name": "diff-app",
	"options": "-c work_mem=12345kB -c search_path=other,public -c geqo=off",
	"DateStyle": "SQL, DMY",
	"client_encoding": "LATIN1",
	"TimeZone": "Asia/Tokyo",
	"extra_float_digits": "1",
	"myapp.custom": "custom value",
}
SHOW_SQL = ("SELECT current_setting('application_name'), current_setting('work_mem'), "
	"current_setting('search_path'), current_setting('geqo'), current_setting('DateStyle'), "
	"current_setting('client_encoding'), current_setting('TimeZone'), current_setting('extra_float_digits'), "
	"current_setting('myapp.custom'), current_database(), current_user, chr(233)")


@pytest.mark.parametrize("database,user", [("postgres", "postgres"), ("otherdb", "postgres"),
	("otherdb", "other_role"), ("no_such_db", "postgres"), ("postgres", "no_such_role")],
	ids=["default", "other_db", "other_role", "unknown_db", "unknown_role"])
def test_startup_parameters_reach_backend(db, proxy, database, user):
	"""Every startup parameter reaches the session's backend, the session runs as
	the client's own user in its own database, and login errors are the backend's."""
	if not db.sql("SELECT 1 FROM pg_database WHERE datname = 'otherdb'"):
		db.sql("CREATE DATABASE otherdb")
		db.sql("CREATE ROLE other_role LOGIN")
	replies = {}
	for leg, (host, port) in (("direct", (db.host, db.port)), ("proxy", (proxy.host, proxy.port))):
		with w.Conn(host, port) as c:
			try:
				out = c.login(user, database, params=STARTUP_PARAMS)
				out += c.simple(SHOW_SQL)
			except w.ServerError as e:
				out = e.messages
			c.send(w.terminate())
			out += c.read_eof_or_error(timeout=10)
		replies[leg] = w.normalize(out)
	assert render(replies["proxy"]) == render(replies["direct"])
	assert replies["proxy"] == replies["direct"]
	if not database.startswith("no_such") and not user.startswith("no_such"):
		rows = [w.datarow(p) for t, p in replies["direct"] if t == "D"]
		assert rows[0][0] == b"diff-app" and rows[0][8] == b"custom value" and rows[0][11] == "é".encode("latin1")


@pytest.mark.parametrize("io", IO_SIZES, ids=["io16384", "io64"])
def test_async_notification_while_idle(db, module_proxy_factory, io):
	"""A NOTIFY from another session reaches an idle listener through the proxy
	without the listener sending anything, naming the sender's backend pid."""
	proxy = module_proxy_factory(io, io_buffer_size=io)
	for host, port in ((db.host, db.port), (proxy.host, proxy.port)):
		with w.Conn(host, port) as listener, w.Conn(db.host, db.port) as sender:
			listener.login("postgres", "postgres")
			sender.login("postgres", "postgres")
			listener.simple("LISTEN async_ch")
			sender.simple("NOTIFY async_ch, 'while you were idle'")
			t, p = listener.read_msg(timeout=10)
			assert t == "A"
			pid = struct.unpack_from("!I", p)[0]
			assert pid == sender.pid
			assert p[4:] == b"async_ch\0while you were idle\0"
			# and the session is still in sync
			assert listener.scalar("SELECT 'next'") == "next"
