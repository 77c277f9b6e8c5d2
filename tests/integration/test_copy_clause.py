"""COPY ... FROM into a configured table gets the table's conflictmode (issue 17):
the client's COPY fills a temporary staging table on its own connection and one
INSERT ... SELECT with the clause moves the rows, in the same transaction. The
client hears what COPY into the table says directly (CopyInResponse, `COPY n`,
COPY's errors with their line and column); the table ends as the direct
equivalent leaves it: COPY into a staging table, then INSERT ... SELECT with the
clause written by hand (rows of one key in one COPY: as the same rows one by one)."""

import io
import subprocess

import psycopg
import pytest

import pgwire as w
import sinkutil as su

MODES = ["upsert", "update", "ignore", "strict"]
DDL = "CREATE TABLE {t} (k int PRIMARY KEY, v text, n int DEFAULT 7, g int GENERATED ALWAYS AS (k * 2) STORED)"
SEED = "INSERT INTO {t} (k, v, n) VALUES (1, 'old', 1), (2, 'old', 2)"


def fresh(pg, *names):
	for t in names:
		pg.sql("DROP TABLE IF EXISTS %s" % t)
		pg.sql(DDL.format(t=t))
		pg.sql(SEED.format(t=t))


def rows(pg, t):
	return pg.sql("SELECT k, v, n, g FROM %s ORDER BY k" % t)


def copy_in(server, sql, chunks, fail=None):
	"""One COPY FROM STDIN as a simple Query on a raw session: every message of
	the answer (CopyInResponse, CommandComplete or ErrorResponse, ReadyForQuery)."""
	with su.Session.to(server) as s:
		s.send(w.msg("Q", sql.encode() + b"\0"))
		out = []
		while True:
			t, p = s.read_msg()
			out.append((t, p))
			if t in ("G", "Z") or t == "E":
				break
		if out[-1][0] == "G":
			for c in chunks:
				s.send(w.copy_data(c))
			s.send(w.copy_fail(fail) if fail else w.copy_done())
			out += s.read_until("Z")
		elif out[-1][0] == "E":
			out += s.read_until("Z")
		return out


def staged_reference(pg, t, mode, cols, data, options=""):
	"""The direct equivalent: COPY into a staging table, then INSERT ... SELECT
	with the clause written by hand; returns COPY's count."""
	named = cols or ["k", "v", "n"]
	clause = su.mode_clause(mode, ["k"], ["v", "n"], named)
	collist = "(%s)" % ", ".join(named)
	with pg.connect() as conn:
		conn.execute("CREATE TEMP TABLE stage AS SELECT %s FROM %s WITH NO DATA" % (", ".join(named), t))
		with conn.cursor() as cur:
			with cur.copy("COPY stage %s FROM STDIN %s" % (collist, options)) as cp:
				cp.write(data)
			n = cur.rowcount
		conn.execute("INSERT INTO %s %s SELECT %s FROM stage%s" % (t, collist, ", ".join(named), clause))
		conn.execute("DROP TABLE stage")
	return n


CASES = {
	# name: (column list or None, COPY options, data)
	"text": (None, "", b"1\tnew\t10\n3\tthree\t\\N\n"),
	"csv_columns": (["k", "v"], "WITH (FORMAT csv)", b"2,\"two, csv\"\n4,four\n"),
	"csv_header": (["v", "k"], "WITH (FORMAT csv, HEADER true)", b"v,k\nfirst,1\nfive,5\n"),
	"where": (["k", "v", "n"], "WHERE k > 1", b"1\tskipped\t1\n2\tkept\t2\n6\tsix\t6\n"),
}


@pytest.mark.parametrize("writemode", [0, 1, 2])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_copy_gets_the_clause(pg, make_proxy, case, mode, writemode):
	cols, options, data = CASES[case]
	if mode == "strict":       # no conflicts: strict makes them errors
		data = data.replace(b"1\tnew", b"11\tnew").replace(b"2,", b"12,").replace(b",1\n", b",11\n")
		data = data.replace(b"2\tkept", b"12\tkept")
	t = "cp_%s_%s_%d" % (case, mode, writemode)
	fresh(pg, t, t + "_ref")
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": mode, "writemode": writemode}})
	collist = " (%s)" % ", ".join(cols) if cols else ""
	got = copy_in(proxy, "COPY %s%s FROM STDIN %s" % (t, collist, options), [data[:7], data[7:]])
	n = staged_reference(pg, t + "_ref", mode, cols, data, options)
	assert [m[0] for m in got] == ["G", "C", "Z"], got
	assert got[1] == su.command_complete("COPY %d" % n)
	# the CopyInResponse is the one COPY into the table itself gives
	direct = copy_in(pg, "COPY %s%s FROM STDIN %s" % (t + "_ref", collist, options), [], fail="no")
	assert got[0] == direct[0]
	assert rows(pg, t) == rows(pg, t + "_ref")
	# (strict: no clause, COPY runs as sent)
	assert (su.stats(proxy).sink["pass_clauses"] >= 1) == (mode != "strict")


@pytest.mark.parametrize("mode", ["upsert", "update"])
def test_one_key_twice_in_one_copy(pg, make_proxy, mode):
	"""Direct INSERT ... SELECT ... DO UPDATE would fail 21000 ("cannot affect
	row a second time"); the rows of one COPY are the same rows one by one: the
	last one's values stay."""
	t = "cp_twice_" + mode
	fresh(pg, t, t + "_ref")
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": mode}})
	data = b"1\ta\t1\n3\tb\t\\N\n1\tc\t\\N\n3\td\t4\n"
	got = copy_in(proxy, "COPY %s (k, v, n) FROM STDIN" % t, [data])
	assert got[1] == su.command_complete("COPY 4")
	su.serial_reference(pg, t + "_ref", mode, ["k"], ["v", "n"],
		[(["k", "v", "n"], [["1", "'a'", "1"], ["3", "'b'", "NULL"], ["1", "'c'", "NULL"], ["3", "'d'", "4"]])])
	assert rows(pg, t) == rows(pg, t + "_ref")


def fields_of(msgs):
	return [w.fields(p) for t, p in msgs if t == "E"]


@pytest.mark.parametrize("case", ["bad_value", "missing_column_data", "unknown_column", "copy_fail",
	"bad_option", "not_null", "end_of_input", "open_options", "own_semicolon", "comment_end"])
def test_errors_as_copy_words_them(pg, make_proxy, case):
	"""A bad row fails the COPY as it does directly, every field the same: the
	line and column in its CONTEXT, the table's name, the position of a bad
	option in the text the client sent. Nothing is written."""
	t = "cp_err_" + case
	fresh(pg, t)
	pg.sql("ALTER TABLE %s ALTER COLUMN v SET NOT NULL" % t)
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": "upsert"}})
	sql, data, fail = {
		"bad_value": ("COPY {t} (k, v, n) FROM STDIN", b"5\tok\t1\n6\tbad\tx\n", None),
		"missing_column_data": ("COPY {t} FROM STDIN", b"5\tok\t1\n6\tshort\n", None),
		"unknown_column": ("COPY {t} (k, zz) FROM STDIN", b"", None),
		"copy_fail": ("COPY {t} FROM STDIN", b"5\tok\t1\n", "client gave up"),
		"bad_option": ("COPY {t} FROM STDIN WITH (FORMAT bogus)", b"", None),
		"not_null": ("COPY {t} (k, n) FROM STDIN", b"7\t1\n", None),
		# syntax errors where the client's text ends: "at end of input", its position
		"end_of_input": ("COPY {t} FROM", b"", None),
		"open_options": ("COPY {t} FROM STDIN WITH (  ", b"", None),
		"own_semicolon": ("COPY {t} FROM;", b"", None),
		"comment_end": ("COPY {t} FROM -- nothing", b"", None),
	}[case]
	before = rows(pg, t)
	want = copy_in(pg, sql.format(t=t), [data], fail)
	got = copy_in(proxy, sql.format(t=t), [data], fail)
	assert rows(pg, t) == before
	if case == "not_null":
		# raised by the INSERT that moves the rows: as the direct equivalent
		# (COPY into a staging table, INSERT ... SELECT) gives it, no line
		err = fields_of(got)[0]
		assert err["C"] == "23502" and err["t"] == t and err["s"] == "public", err
		assert "W" not in err, err
		return
	assert [m[0] for m in got] == [m[0] for m in want]
	ge, we = fields_of(got), fields_of(want)
	assert len(ge) == len(we) == 1
	for f in ("L",):           # the server's source line: the same code, maybe another call site
		ge[0].pop(f, None)
		we[0].pop(f, None)
	assert ge == we


def test_copy_in_a_transaction_block(pg, make_proxy):
	"""Inside BEGIN, with rows INSERTed before it: the COPY's rows join the
	client's transaction, after them; ROLLBACK takes both away, COMMIT keeps both."""
	t = "cp_tx"
	fresh(pg, t, t + "_ref")
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": "upsert"}})
	for end in ("ROLLBACK", "COMMIT"):
		with su.Session.to(proxy) as s:
			s.ok("BEGIN")
			assert s.run("INSERT INTO %s (k, v) VALUES (1, 'tx-insert'), (8, 'eight')" % t) == \
				[su.command_complete("INSERT 0 2"), ("Z", b"T")]
			s.send(w.msg("Q", ("COPY %s (k, v) FROM STDIN" % t).encode() + b"\0"))
			assert s.read_msg()[0] == "G"
			s.send(w.copy_data(b"8\tcopied\n9\tnine\n") + w.copy_done())
			msgs = s.read_until("Z")
			assert msgs == [su.command_complete("COPY 2"), ("Z", b"T")], msgs
			assert s.rows("SELECT v FROM %s WHERE k = 8" % t) == [["copied"]]
			s.ok(end)
	with pg.connect() as conn:
		conn.execute("INSERT INTO %s_ref (k, v) VALUES (1, 'tx-insert'), (8, 'eight') "
			"ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v, n = EXCLUDED.n" % t)
		conn.execute("INSERT INTO %s_ref (k, v) VALUES (8, 'copied'), (9, 'nine') "
			"ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v" % t)
	assert rows(pg, t) == rows(pg, t + "_ref")


def test_copy_follows_acknowledged_rows(pg, make_proxy):
	"""ackmode=immediate: rows acknowledged and still buffered are written before
	the session's COPY runs (session order), so the COPY's upsert wins."""
	t = "cp_after_ack"
	fresh(pg, t)
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": "upsert", "ackmode": "immediate",
		"adaptiveflush": 0, "batchwritetimeoutms": su.HUGE_TIMEOUT_MS, "batchsize": su.HUGE_BATCH}})
	with su.Session.to(proxy) as s:
		s.insert("INSERT INTO %s (k, v) VALUES (5, 'acked')" % t, 1)
	got = copy_in(proxy, "COPY %s (k, v) FROM STDIN" % t, [b"5\tcopied\n"])
	assert got[1] == su.command_complete("COPY 1")
	assert pg.sql("SELECT v FROM %s WHERE k = 5" % t) == [("copied",)]


def test_copyclause_off_runs_copy_as_sent(pg, make_proxy):
	t = "cp_off"
	fresh(pg, t)
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": "upsert", "copyclause": 0}})
	want = copy_in(pg, "COPY %s (k, v) FROM STDIN" % t, [b"1\tdup\n"])
	got = copy_in(proxy, "COPY %s (k, v) FROM STDIN" % t, [b"1\tdup\n"])
	assert fields_of(got)[0]["C"] == "23505"
	assert fields_of(got) == fields_of(want)


def test_copy_with_other_statements_is_refused(pg, make_proxy):
	"""A COPY among other statements of one Query cannot be staged (its count
	could not be told from theirs): a clear error naming the table, not a COPY
	without its clause."""
	t = "cp_multi"
	fresh(pg, t)
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": "upsert"}})
	got = copy_in(proxy, "SELECT 1; COPY %s (k, v) FROM STDIN" % t, [b"1\tdup\n"])
	err = fields_of(got)[0]
	assert err["C"] == "0A000" and t in err["M"], err
	assert rows(pg, t)[0][1] == "old"


def test_psycopg_copy_binary(pg, make_proxy):
	"""psycopg 3's copy() in binary format (write_row): the staging table has the
	table's types, so the binary rows read as they do directly."""
	t = "cp_psycopg"
	fresh(pg, t, t + "_ref")
	pg.sql("ALTER TABLE %s ADD COLUMN ts timestamptz, ADD COLUMN a numeric(6,2)[]" % t)
	pg.sql("ALTER TABLE %s_ref ADD COLUMN ts timestamptz, ADD COLUMN a numeric(6,2)[]" % t)
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": "upsert"}})
	import datetime
	import decimal
	data = [(1, "bin-one", None, datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
		[decimal.Decimal("1.25")]), (4, "bin-four", 40, None, None)]
	counts = []
	for server, name in ((proxy, t), (pg, t + "_ref")):
		with psycopg.connect(host=server.host, port=server.port, user="postgres", dbname="postgres") as conn:
			with conn.cursor() as cur:
				if server is pg:
					cur.execute("CREATE TEMP TABLE stage AS SELECT k, v, n, ts, a FROM %s WITH NO DATA" % name)
					target = "stage"
				else:
					target = name
				with cur.copy("COPY %s (k, v, n, ts, a) FROM STDIN (FORMAT BINARY)" % target) as cp:
					cp.set_types(["int4", "text", "int4", "timestamptz", "numeric[]"])
					for r in data:
						cp.write_row(r)
				counts.append(cur.rowcount)
				if server is pg:
					cur.execute("INSERT INTO %s (k, v, n, ts, a) SELECT k, v, n, ts, a FROM stage "
						"ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v, n = EXCLUDED.n, ts = EXCLUDED.ts, "
						"a = EXCLUDED.a" % name)
	assert counts == [2, 2]
	q = "SELECT k, v, n, ts, a FROM %s ORDER BY k"
	assert pg.sql(q % t) == pg.sql(q % (t + "_ref"))


def test_psql_copy(pg, make_proxy, tmp_path):
	"""psql's \\copy from a file, as a user runs it: psql prints COPY's count."""
	t = "cp_psql"
	fresh(pg, t)
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": "upsert"}})
	f = tmp_path / "rows.csv"
	f.write_text("1,from-psql\n7,seven\n")
	out = subprocess.run(["psql", "-X", "-h", proxy.host, "-p", str(proxy.port), "-U", "postgres", "-d", "postgres",
		"-v", "ON_ERROR_STOP=1", "-c", "\\copy %s (k, v) FROM '%s' WITH (FORMAT csv)" % (t, f)],
		capture_output=True, text=True, timeout=60)
	assert out.returncode == 0, out.stderr
	assert out.stdout.strip() == "COPY 2"
	assert pg.sql("SELECT k, v, n FROM %s ORDER BY k" % t) == [(1, "from-psql", 7), (2, "old", 2), (7, "seven", 7)]


@pytest.mark.parametrize("stmt", ["insert_returning", "copy"])
def test_unreadable_catalog_is_an_error(pg, make_proxy, stmt):
	"""The table's catalog cannot be read (its conflictkey matches no unique
	index): a statement that needs the table's clause fails with the catalog's
	error, as an INSERT pgbatchd takes does, rather than running without it."""
	t = "cp_nokey_" + stmt
	fresh(pg, t)
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": "upsert", "conflictkey": "v"}})
	pg.sql("ALTER TABLE %s DROP CONSTRAINT %s_pkey" % (t, t))
	taken = su.Session.to(proxy).run("INSERT INTO %s (k, v) VALUES (1, 'x')" % t)
	if stmt == "copy":
		got = copy_in(proxy, "COPY %s (k, v) FROM STDIN" % t, [b"1\tx\n"])
	else:
		with su.Session.to(proxy) as s:
			got = s.run("INSERT INTO %s (k, v) VALUES (1, 'x') RETURNING k" % t)
	err, want = fields_of(got), fields_of(taken)
	assert err and err[0]["C"] == want[0]["C"] == "42P10", (err, want)
	assert err[0]["M"] == want[0]["M"] and t in err[0]["M"]
	assert pg.sql("SELECT count(*) FROM %s" % t) == [(2,)]


def test_big_query_with_an_insert_deep_inside(pg, make_proxy):
	"""A Query over max_inspect_bytes (1 MiB) that does not start with INSERT:
	read whole all the same (up to max_insert_bytes), so the INSERT deep inside
	it gets the table's clause, as in a short one."""
	t = "cp_big"
	fresh(pg, t)
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": "upsert"}})
	pad = "SELECT '%s'; " % ("p" * (3 << 19))       # 1.5 MiB
	with su.Session.to(proxy) as s:
		got = s.run(pad + "INSERT INTO %s (k, v) VALUES (1, 'deep')" % t)
	assert not fields_of(got), fields_of(got)
	assert got[-2:] == [su.command_complete("INSERT 0 1"), ("Z", b"I")]
	assert pg.sql("SELECT v FROM %s WHERE k = 1" % t) == [("deep",)]


def test_copy_ending_in_a_comment(pg, make_proxy):
	"""A COPY whose text ends in a -- comment: its rows are moved all the same
	(pgbatchd's statements after it start on a new line), and the session can
	COPY again."""
	t = "cp_comment"
	fresh(pg, t)
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": "upsert"}})
	with su.Session.to(proxy) as s:
		for i, v in enumerate([b"first", b"second"]):
			s.send(w.msg("Q", ("COPY %s (k, v) FROM STDIN -- load %d" % (t, i)).encode() + b"\0"))
			assert s.read_msg()[0] == "G"
			s.send(w.copy_data(b"1\t" + v + b"\n") + w.copy_done())
			assert s.read_until("Z") == [su.command_complete("COPY 1"), ("Z", b"I")]
	assert pg.sql("SELECT v FROM %s WHERE k = 1" % t) == [("second",)]


def test_column_added_by_another_connection(pg, make_proxy):
	"""A column added directly after pgbatchd read the catalog: the COPY that
	fills it fails with a clear error (55000) rather than losing its values,
	the table is read again, and the same COPY sent again fills every column."""
	t = "cp_added"
	fresh(pg, t)
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": "upsert"}})
	assert copy_in(proxy, "COPY %s (k, v) FROM STDIN" % t, [b"1\tread\n"])[1] == su.command_complete("COPY 1")
	pg.sql("ALTER TABLE %s ADD COLUMN z text" % t)
	data = [b"1\tagain\t5\tzed\n"]
	err = fields_of(copy_in(proxy, "COPY %s FROM STDIN" % t, data))
	assert err and err[0]["C"] == "55000" and t in err[0]["M"] and "catalog" in err[0]["M"], err
	got = copy_in(proxy, "COPY %s FROM STDIN" % t, data)
	assert got[1] == su.command_complete("COPY 1"), got
	assert pg.sql("SELECT k, v, n, z FROM %s WHERE k = 1" % t) == [(1, "again", 5, "zed")]
