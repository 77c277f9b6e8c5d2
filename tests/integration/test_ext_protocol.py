"""Differential wire-protocol tests of INSERTs pgbatchd takes through the extended protocol: Describe of a taken statement and of its portal, errors in the middle of a pipeline, Close, DEALLOCATE, DISCARD, binary parameters, transactions -- the reply bytes and the table equal PostgreSQL's."""

import struct

import pytest

import pgwire as w
from wirecase import assert_same, q, render, run_case, send, until  # noqa: F401
import sinkutil as su

INT4, INT8, TEXT, NUMERIC, FLOAT8, TSTZ, DATE = 23, 20, 25, 1700, 701, 1184, 1082

SETUP_SQL = """
CREATE TABLE ts (id int PRIMARY KEY, v text, n numeric, f float8, at timestamptz, d date);
CREATE TABLE other (id int);
"""
RESET_SQL = "TRUNCATE ts, other; INSERT INTO ts (id, v) VALUES (1, 'one')"
TABLES = {"ts": {"conflictmode": "strict", "exceptionmode": "strict"}}
ROWS = "SELECT ts::text FROM ts ORDER BY id"




def ins(stmt, params, formats=(), portal="", describe=True):
	"""Bind, (Describe portal,) Execute of a prepared INSERT."""
	m = [w.bind(portal, stmt, params, param_formats=formats)]
	if describe:
		m.append(w.describe("P", portal))
	m.append(w.execute(portal))
	return m


def numeric_bin(sign):
	"""numeric's binary form with no digits: 0xC000 NaN, 0xD000 +Infinity, 0xF000 -Infinity."""
	return struct.pack("!hhHH", 0, 0, sign, 0)


def _cases():
	c = {}
	c["describe_statement_and_portal"] = [send(
		w.parse("s1", "INSERT INTO ts (id, v) VALUES ($1, $2)", []), w.describe("S", "s1"),
		*ins("s1", ["10", "ten"]), w.sync()), until()] + q(ROWS)
	c["describe_typed_and_cast"] = [send(
		w.parse("s2", "INSERT INTO ts (id, v, n) VALUES ($1, $2::text, $3)", [INT4, 0, NUMERIC]),
		w.describe("S", "s2"), *ins("s2", ["11", "x", "1.50"]), *ins("s2", ["12", None, "-7"]), w.sync()),
		until()] + q(ROWS)
	c["unnamed_each_time"] = [send(
		w.parse("", "INSERT INTO ts (id, v) VALUES ($1, 'lit')", [INT4]), *ins("", ["20"]), w.sync(),
		w.parse("", "INSERT INTO ts (id, v) VALUES ($1, 'lit')", [INT4]), *ins("", ["21"]), w.sync()),
		until("Z", 2)] + q(ROWS)
	c["multi_row_values"] = [send(
		w.parse("", "INSERT INTO ts (id, v) VALUES ($1, $2), ($3, $4), (32, 'literal')", []),
		*ins("", ["30", "a", "31", "b"]), w.sync()), until()] + q(ROWS)
	c["error_mid_pipeline"] = [send(
		w.parse("s3", "INSERT INTO ts (id, v) VALUES ($1, $2)", [INT4, TEXT]),
		*ins("s3", ["40", "ok"]), *ins("s3", ["1", "duplicate key"]), *ins("s3", ["41", "skipped"]),
		w.parse("never", "INSERT INTO ts (id) VALUES ($1)", [INT4]), w.sync(),
		*ins("s3", ["42", "after sync"]), w.sync()), until("Z", 2),
		send(w.describe("S", "never"), w.sync()), until()] + q(ROWS)
	c["error_in_value"] = [send(
		w.parse("", "INSERT INTO ts (id, n) VALUES ($1, $2)", [INT4, 0]),
		*ins("", ["50", "1.5"]), *ins("", ["51", "not a number"]), w.sync()), until()] + q(ROWS)
	c["parse_type_mismatch"] = [send(
		w.parse("", "INSERT INTO ts (id) VALUES ($1)", [TEXT]), *ins("", ["60"]), w.sync()), until()] + q(ROWS)
	c["unknown_column"] = [send(
		w.parse("", "INSERT INTO ts (id, nope) VALUES ($1, $2)", []), *ins("", ["61", "x"]), w.sync()),
		until()] + q(ROWS)
	c["close_statement_and_portal"] = [send(
		w.parse("s4", "INSERT INTO ts (id) VALUES ($1)", [INT4]), *ins("s4", ["70"], describe=False),
		w.close("P", ""), w.close("S", "s4"), w.sync()), until(),
		send(*ins("s4", ["71"]), w.sync()), until(),
		send(w.parse("s4", "INSERT INTO ts (id) VALUES ($1 + 100)", [INT4]), *ins("s4", ["72"]), w.sync()),
		until()] + q(ROWS)
	c["reparse_named_is_an_error"] = [send(
		w.parse("s5", "INSERT INTO ts (id) VALUES ($1)", [INT4]), w.sync(),
		w.parse("s5", "INSERT INTO ts (id) VALUES ($1)", [INT4]), *ins("s5", ["80"]), w.sync(),
		*ins("s5", ["81"]), w.sync()), until("Z", 3)] + q(ROWS)
	# (a statement pgbatchd answered itself, taken or described: the backend
	# learns it first, then says 42P05)
	c["reparse_taken_is_an_error"] = [send(
		w.parse("s9", "INSERT INTO ts (id) VALUES ($1)", [INT4]), *ins("s9", ["70"]), w.sync()), until(),
		send(w.parse("s9", "INSERT INTO ts (id) VALUES ($1)"), w.describe("S", "s9"), w.sync()), until(),
		send(*ins("s9", ["71"]), w.sync()), until()] + q(ROWS)
	c["deallocate_and_discard"] = [send(
		w.parse("s6", "INSERT INTO ts (id) VALUES ($1)", [INT4]), *ins("s6", ["90"]), w.sync()), until()] + q(
		"DEALLOCATE s6") + [send(*ins("s6", ["91"]), w.sync()), until(),
		send(w.parse("s7", "INSERT INTO ts (id) VALUES ($1)", [INT4]), *ins("s7", ["92"]), w.sync()),
		until()] + q("DISCARD ALL") + [send(*ins("s7", ["93"]), w.sync()), until()] + q(
		"PREPARE s7 AS SELECT 1") + q("EXECUTE s7") + q(ROWS)
	c["execute_sql_of_taken_statement"] = [send(
		w.parse("s8", "INSERT INTO ts (id, v) VALUES ($1, $2)", [INT4, TEXT]), *ins("s8", ["95", "a"]),
		w.sync()), until()] + q("EXECUTE s8 (96, 'b')") + q(ROWS)
	c["binary_specials"] = [send(
		w.parse("", "INSERT INTO ts (id, n, f, at, d) VALUES ($1, $2, $3, $4, $5)",
			[INT4, NUMERIC, FLOAT8, TSTZ, DATE]),
		*ins("", [struct.pack("!i", 100), numeric_bin(0xD000), struct.pack("!d", float("-inf")),
			struct.pack("!q", 2 ** 63 - 1), struct.pack("!i", -2 ** 31)], formats=[1]),
		*ins("", [struct.pack("!i", 101), numeric_bin(0xF000), struct.pack("!d", float("nan")),
			struct.pack("!q", -2 ** 63), struct.pack("!i", 2 ** 31 - 1)], formats=[1]),
		*ins("", [struct.pack("!i", 102), numeric_bin(0xC000), struct.pack("!d", -0.0),
			struct.pack("!q", -63_000_000_000_000_000), struct.pack("!i", -800000)], formats=[1]),
		*ins("", [struct.pack("!i", 103), struct.pack("!hhHH", 3, -1, 0x4000, 7) + struct.pack("!hhh", 12, 3400, 5),
			struct.pack("!d", 1e308), struct.pack("!q", 1), struct.pack("!i", 0)], formats=[1]),
		w.sync()), until()] + q(ROWS)
	c["binary_invalid_passes_through"] = [send(
		w.parse("", "INSERT INTO ts (id, d) VALUES ($1, $2)", [INT4, DATE]),
		*ins("", [struct.pack("!i", 110), b"\x00\x01"], formats=[1]), w.sync()), until()] + q(ROWS)
	c["binary_unknown_type_passes_through"] = [send(
		w.parse("", "INSERT INTO ts (id, v) VALUES ($1, $2)", [INT4, 0]),
		*ins("", [struct.pack("!i", 111), b"abc"], formats=[1, 1]), w.sync()), until()] + q(ROWS)
	c["bind_count_mismatch"] = [send(
		w.parse("", "INSERT INTO ts (id, v) VALUES ($1, $2)", []), *ins("", ["120"]), w.sync()), until()] + q(ROWS)
	c["flush_after_execute"] = [send(
		w.parse("", "INSERT INTO ts (id) VALUES ($1)", [INT4]), *ins("", ["130"]), w.flush()), until("C"),
		send(*ins("", ["131"]), w.sync()), until()] + q(ROWS)
	c["flush_before_execute"] = [send(
		w.parse("s9", "INSERT INTO ts (id) VALUES ($1)", []), w.describe("S", "s9"), w.flush()), until("n"),
		send(*ins("s9", ["135"]), *ins("s9", ["136"]), w.sync()), until()] + q(ROWS)
	c["other_statement_in_group"] = [send(
		w.parse("", "INSERT INTO ts (id) VALUES ($1)", [INT4]), *ins("", ["140"]),
		w.parse("", "SELECT count(*) FROM ts"), w.bind("", ""), w.execute(""),
		w.parse("", "INSERT INTO ts (id) VALUES ($1)", [INT4]), *ins("", ["141"]), w.sync()), until()] + q(ROWS)
	c["transaction_staged_and_read"] = q("BEGIN") + [send(
		w.parse("", "INSERT INTO ts (id, v) VALUES ($1, $2)", []), *ins("", ["150", "tx"]), w.sync(),
		w.parse("", "INSERT INTO ts (id, v) VALUES ($1, $2)", []), *ins("", ["151", "tx"]), w.sync()),
		until("Z", 2)] + q("SELECT count(*) FROM ts WHERE v = 'tx'") + q("INSERT INTO ts (id) VALUES (152)") + q(
		"COMMIT") + q(ROWS)
	c["transaction_commit_extended"] = [send(
		w.parse("", "BEGIN"), w.bind("", ""), w.execute("", 0),
		w.parse("", "INSERT INTO ts (id, v) VALUES ($1, $2)", []), *ins("", ["160", "b"]), w.sync(),
		*ins("", ["161", "c"]), w.sync(),
		w.parse("", "COMMIT"), w.bind("", ""), w.execute("", 1), w.sync()), until("Z", 3)] + q(ROWS)
	c["transaction_rollback"] = q("BEGIN") + q("INSERT INTO ts (id) VALUES (170)") + [send(
		w.parse("", "INSERT INTO ts (id) VALUES ($1)", []), *ins("", ["171"]), w.sync()), until()] + q(
		"SET LOCAL work_mem = '8MB'") + q("SHOW work_mem") + q("ROLLBACK") + q(ROWS)
	c["transaction_aborted_by_error"] = q("BEGIN") + q("INSERT INTO ts (id) VALUES (180)") + q(
		"SELECT 1/0") + q("INSERT INTO ts (id) VALUES (181)") + q("COMMIT") + q(ROWS)
	c["transaction_savepoint"] = q("BEGIN") + q("INSERT INTO ts (id) VALUES (190)") + q("SAVEPOINT a") + q(
		"INSERT INTO ts (id) VALUES (191)") + q("ROLLBACK TO a") + q("INSERT INTO ts (id) VALUES (192)") + q(
		"COMMIT") + q(ROWS)
	# a transaction's Sync group of several rows: written at its Sync in a
	# savepoint; refused, it runs as sent and the error is its Execute's
	c["tx_group_refused_lands_on_execute"] = q("BEGIN") + [send(
		w.parse("t1", "INSERT INTO ts (id, v) VALUES ($1, $2)", [INT4, TEXT]),
		*ins("t1", ["200", "a"]), *ins("t1", ["201", "b"]), w.sync(),
		*ins("t1", ["202", "c"]), *ins("t1", ["1", "duplicate"]), *ins("t1", ["203", "skipped"]), w.sync()),
		until("Z", 2)] + q("SELECT 1") + q("ROLLBACK") + q(ROWS)
	c["tx_group_value_error_at_bind"] = q("BEGIN") + [send(
		w.parse("", "INSERT INTO ts (id, n) VALUES ($1, $2)", [INT4, 0]),
		*ins("", ["210", "1.5"]), *ins("", ["211", "not a number"]), *ins("", ["212", "2"]), w.sync()),
		until()] + q("COMMIT") + q(ROWS)
	c["tx_groups_then_commit"] = [send(
		w.parse("", "BEGIN"), w.bind("", ""), w.execute("", 0),
		w.parse("t2", "INSERT INTO ts (id, v) VALUES ($1, $2)", []), *ins("t2", ["220", "b"]),
		*ins("t2", ["221", "c"]), w.sync(), *ins("t2", ["222", "d"]), *ins("t2", ["223", "e"]), w.sync(),
		w.parse("", "COMMIT"), w.bind("", ""), w.execute("", 1), w.sync()), until("Z", 3)] + q(ROWS)
	# a Bind error on a statement pgbatchd answered itself, then the next group
	c["tx_bind_count_then_next_group"] = q("BEGIN") + [send(
		w.parse("t3", "INSERT INTO ts (id, v) VALUES ($1, $2)", [INT4, TEXT]),
		*ins("t3", ["230", "a"]), *ins("t3", ["231", "b"]), w.sync()), until(),
		send(*ins("t3", ["232"]), w.sync()), until(),
		send(*ins("t3", ["233", "c"]), w.sync()), until()] + q("ROLLBACK") + [send(
		*ins("t3", ["234"]), w.sync()), until(), send(*ins("t3", ["235", "d"]), *ins("t3", ["236", "e"]),
		w.sync()), until()] + q(ROWS)
	c["tx_bind_bad_utf8_then_next_group"] = q("BEGIN") + [send(
		w.parse("t4", "INSERT INTO ts (id, v) VALUES ($1, $2)", [INT4, TEXT]),
		*ins("t4", ["240", "a"]), *ins("t4", ["241", "b"]), w.sync()), until(),
		send(*ins("t4", ["242", b"\xff\xfe"]), w.sync()), until(),
		send(*ins("t4", ["243", "c"]), w.sync()), until()] + q("ROLLBACK") + [send(
		*ins("t4", ["244", b"\xc3"]), *ins("t4", ["245", "f"]), w.sync()), until(),
		send(*ins("t4", ["246", "g"]), *ins("t4", ["247", "h"]), w.sync()), until()] + q(ROWS)
	# the unnamed statement pgbatchd answered, described later (a Query of
	# pgbatchd's own, the session view, went to the backend in between)
	c["describe_unnamed_after_taken"] = [send(
		w.parse("", "INSERT INTO ts (id, v) VALUES ($1, $2)", []), w.sync()), until(),
		send(*ins("", ["250", "a"], describe=False), w.sync()), until(),
		send(w.describe("S", ""), w.sync()), until(),
		send(*ins("", ["251", "b"], describe=False), w.sync()), until()] + q(ROWS)
	c["tx_describe_unnamed_after_taken"] = q("BEGIN") + [send(
		w.parse("", "INSERT INTO ts (id, v) VALUES ($1, $2)", []), w.sync()), until(),
		send(*ins("", ["260", "a"], describe=False), *ins("", ["261", "b"], describe=False), w.sync()), until(),
		send(w.describe("S", ""), w.sync()), until(),
		send(*ins("", ["262", "c"]), *ins("", ["263", "d"]), w.sync()), until()] + q("COMMIT") + q(ROWS)
	# a bare Sync right behind a transaction's group, and behind staged
	# Queries one of which passes through: nothing overtakes them
	c["tx_group_then_bare_sync"] = q("BEGIN") + [send(
		w.parse("", "INSERT INTO ts (id, v) VALUES ($1, $2)", []), *ins("", ["270", "a"], describe=False),
		*ins("", ["271", "b"], describe=False), w.sync(), w.sync()), until("Z", 2)] + q("COMMIT") + q(ROWS)
	c["tx_staged_passed_then_bare_sync"] = q("BEGIN") + [send(
		w.query("INSERT INTO ts (id, v) VALUES (280, 'a')"), w.query("INSERT INTO ts (id, nosuch) VALUES (281, 1)"),
		w.sync()), until("Z", 3)] + q("ROLLBACK") + q(ROWS)
	return c


CASES = _cases()


@pytest.fixture(scope="module")
def db(pg):
	pg.sql(SETUP_SQL)
	return pg


@pytest.fixture(scope="module")
def sink_proxy(db, module_proxy_factory):
	return module_proxy_factory("sink", extra_sections=su.sink_sections(TABLES))


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_same_reply_bytes(db, sink_proxy, case):
	steps = CASES[case]
	db.sql(RESET_SQL)
	direct = run_case(db.host, db.port, steps)
	db.sql(RESET_SQL)
	through = run_case(sink_proxy.host, sink_proxy.port, steps)
	assert_same(through, direct)


def test_taken_cases_were_taken(db, sink_proxy):
	"""The cases about taken INSERTs ran through the sink, not the backend."""
	before = su.stats(sink_proxy).sink["rows_in"]
	db.sql(RESET_SQL)
	run_case(sink_proxy.host, sink_proxy.port, CASES["describe_typed_and_cast"])
	run_case(sink_proxy.host, sink_proxy.port, CASES["binary_specials"])
	assert su.stats(sink_proxy).sink["rows_in"] - before == 2 + 4
