"""DDL pgbatchd does not see — run by another connection, in a DO block, as the
second statement of a Query — is caught before a batch is written: the batch's
transaction checks the catalog fingerprint of its tables first, and on a
mismatch the batch is rolled back, the tables' columns are read again and the
rows follow their columns by attnum. Every case compares with the same steps
run directly on a twin table."""

import pytest

import harness
import sinkutil as su

SWAP = "CREATE TABLE {t} (k int PRIMARY KEY, x text, y text)"
SWAP_XY = "BEGIN; ALTER TABLE {t} RENAME x TO tmp; ALTER TABLE {t} RENAME y TO x; " \
	"ALTER TABLE {t} RENAME tmp TO y; COMMIT"


both = su.twin_tables
direct = su.direct_ok


def rows(pg, t):
	return su.dump_json(pg, t, "k")


@pytest.mark.parametrize("ackmode", ["commit"])
def test_columns_swapped_by_another_connection(pg, make_proxy, ackmode):
	"""x and y swap names directly, between INSERTs through pgbatchd: positional and
	named VALUES land where they land directly, in this session and in a new one.
	(With ackmode=immediate, rows acknowledged before pgbatchd notices the change
	count as having arrived before it: test_rename_while_rows_are_buffered.)"""
	t = "swap_" + ackmode
	both(pg, t, SWAP)
	proxy = su.start_sink_proxy(make_proxy, {t: {"ackmode": ackmode, "exceptionmode": "strict"}})
	script = ["INSERT INTO {t} VALUES (1, 'X', 'Y')", "SWAP",
		"INSERT INTO {t} VALUES (2, 'X', 'Y')", "INSERT INTO {t} (k, x) VALUES (3, 'X')", "NEW",
		"INSERT INTO {t} VALUES (4, 'X', 'Y')", "SELECT k, x, y FROM {t} ORDER BY k"]

	def run(server, name):
		s = su.Session.to(server)
		out = []
		for step in script:
			if step == "SWAP":
				direct(pg, SWAP_XY.format(t=name))
			elif step == "NEW":
				s.close()
				s = su.Session.to(server)
			else:
				# (a RowDescription names the table by OID: the twins differ there)
				out.append([(m[0], bytes(m[1])) for m in s.run(step.format(t=name)) if m[0] != "T"])
		s.close()
		return out

	want = run(pg, t + "_ref")
	got = run(proxy, t)
	assert got == want
	assert rows(pg, t) == rows(pg, t + "_ref")
	st = su.stats(proxy)
	assert st.sink["rows_in"] == 4, st


def test_rename_while_rows_are_buffered(pg, make_proxy):
	"""ackmode=immediate: the row is acknowledged and buffered; the columns are then
	swapped directly; the session's next SELECT writes its rows first. The row keeps
	the meaning it had when it arrived (its values follow their columns, as if the
	INSERT had run before the ALTER), and the batch is written again once."""
	t = "swapbuf"
	both(pg, t, SWAP)
	proxy = su.start_sink_proxy(make_proxy, {t: {"ackmode": "immediate", "adaptiveflush": 0,
		"batchwritetimeoutms": su.HUGE_TIMEOUT_MS, "batchsize": su.HUGE_BATCH}})
	with su.Session.to(proxy) as s:
		s.insert("INSERT INTO %s VALUES (1, 'X', 'Y')" % t, 1)
		s.insert("INSERT INTO %s (y, k) VALUES ('Y', 2)" % t, 1)
		assert su.count(pg, t) == 0
		direct(pg, SWAP_XY.format(t=t))
		got = s.rows("SELECT k, x, y FROM %s ORDER BY k" % t)
	with su.Session.to(pg) as d:
		d.insert("INSERT INTO %s_ref VALUES (1, 'X', 'Y')" % t, 1)
		d.insert("INSERT INTO %s_ref (y, k) VALUES ('Y', 2)" % t, 1)
		d.ok(SWAP_XY.format(t=t + "_ref"))
		want = d.rows("SELECT k, x, y FROM %s_ref ORDER BY k" % t)
	assert got == want == [["1", "Y", "X"], ["2", "Y", None]], (got, want)
	assert rows(pg, t) == rows(pg, t + "_ref")
	st = su.stats(proxy)
	assert st.sink["rebases"] == 1, st
	# the writer's prepared fence check for the old snapshot was replaced
	# (DEALLOCATE, PREPARE) exactly as noted: no statement out of step
	assert "out of step" not in proxy.log()


def test_ddl_still_open_when_the_batch_starts(pg, make_proxy):
	"""ackmode=immediate: two rows are acknowledged and buffered; then another
	connection swaps two columns' names in a transaction it keeps open while
	the rows' batch starts. The batch waits for that transaction (its tables are
	locked before the fence is checked) and sees its DDL once it commits: the
	rows keep the meaning they had when they were acknowledged, as if their
	INSERTs had run before the ALTER. (Checked first, the fence would pass on
	the catalog as it was, and the INSERT, waiting for the DDL's lock, would
	then run on the swapped columns.)"""
	t = "swapopen"
	both(pg, t, SWAP)
	proxy = su.start_sink_proxy(make_proxy, {t: {"ackmode": "immediate", "adaptiveflush": 0,
		"batchwritetimeoutms": su.HUGE_TIMEOUT_MS, "batchsize": su.HUGE_BATCH}})
	ddl = pg.connect()
	with su.Session.to(proxy) as s:
		s.insert("INSERT INTO %s VALUES (1, 'X', 'Y')" % t, 1)
		s.insert("INSERT INTO %s (y, k) VALUES ('Y', 2)" % t, 1)
		ddl.execute("BEGIN")
		for step in SWAP_XY.format(t=t).split("; ")[1:-1]:
			ddl.execute(step)
		# the session's read flushes the rows first (read-your-writes)
		s.send(su.w.query("SELECT k, x, y FROM %s ORDER BY k" % t))
		harness.wait_for(lambda: pg.sql("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
			"AND application_name = 'pgbatchd-sink'")[0][0] == 1, what="the batch waiting for the DDL")
		ddl.commit()
		got = [[None if v is None else v.decode() for v in su.w.datarow(p)] for (m, p) in s.read_until("Z") if m == "D"]
	ddl.close()
	with su.Session.to(pg) as d:
		d.insert("INSERT INTO %s_ref VALUES (1, 'X', 'Y')" % t, 1)
		d.insert("INSERT INTO %s_ref (y, k) VALUES ('Y', 2)" % t, 1)
		d.ok(SWAP_XY.format(t=t + "_ref"))
		want = d.rows("SELECT k, x, y FROM %s_ref ORDER BY k" % t)
	assert got == want == [["1", "Y", "X"], ["2", "Y", None]], (got, want)
	assert rows(pg, t) == rows(pg, t + "_ref")
	assert su.stats(proxy).sink["rebases"] == 1


@pytest.mark.parametrize("how", ["do_block", "second_statement"])
def test_ddl_the_proxy_does_not_parse(pg, make_proxy, how):
	"""A column added in a DO block, or renamed by the second statement of a Query
	sent through pgbatchd: the next INSERTs give what they give directly."""
	t = "ddl_" + how
	both(pg, t, SWAP)
	proxy = su.start_sink_proxy(make_proxy, {t: {"ackmode": "commit", "exceptionmode": "strict"}})
	if how == "do_block":
		ddl = "DO $$BEGIN ALTER TABLE {t} ADD COLUMN z int DEFAULT 7; " \
			"ALTER TABLE {t} RENAME COLUMN x TO x2; END$$"
	else:
		ddl = "SELECT 1; ALTER TABLE {t} RENAME COLUMN x TO y2; ALTER TABLE {t} RENAME COLUMN y TO x"
	script = ["INSERT INTO {t} VALUES (1, 'a', 'b')", ddl, "INSERT INTO {t} VALUES (2, 'c', 'd')",
		"INSERT INTO {t} (k, x) VALUES (3, 'e')", "INSERT INTO {t} VALUES (4, 'f', 'g', 8)"]

	def run(server, name):
		with su.Session.to(server) as s:
			return [[(m[0], su.error_of([m])["C"] if m[0] == "E" else bytes(m[1]))
				for m in s.run(step.format(t=name))] for step in script]

	want = run(pg, t + "_ref")
	got = run(proxy, t)
	assert got == want
	assert rows(pg, t) == rows(pg, t + "_ref")
	st = su.stats(proxy)
	assert st.sink["rows_in"] >= 2, st


def test_primary_key_changed_by_another_connection(pg, make_proxy):
	"""The primary key moves from a to b directly: the next upsert through pgbatchd
	conflicts on b, as the same INSERT ... ON CONFLICT would directly — not 42P10
	for the key pgbatchd had read."""
	t = "pkmove"
	both(pg, t, "CREATE TABLE {t} (a int PRIMARY KEY, b int NOT NULL, v text)")
	proxy = su.start_sink_proxy(make_proxy, {t: {"ackmode": "commit", "exceptionmode": "strict"}})
	move = "BEGIN; ALTER TABLE {t} DROP CONSTRAINT {t}_pkey; ALTER TABLE {t} ADD PRIMARY KEY (b); COMMIT"
	with su.Session.to(proxy) as s:
		s.insert("INSERT INTO %s VALUES (1, 10, 'first')" % t, 1)
		direct(pg, move.format(t=t))
		s.insert("INSERT INTO %s VALUES (2, 10, 'second')" % t, 1)
		s.insert("INSERT INTO %s VALUES (3, 30, 'third'), (4, 30, 'fourth')" % t, 2)
	with su.Session.to(pg) as d:
		d.insert("INSERT INTO %s_ref VALUES (1, 10, 'first') "
			"ON CONFLICT (a) DO UPDATE SET b = EXCLUDED.b, v = EXCLUDED.v" % t, 1)
		d.ok(move.format(t=t + "_ref"))
		upd = " ON CONFLICT (b) DO UPDATE SET a = EXCLUDED.a, v = EXCLUDED.v"
		d.insert("INSERT INTO %s_ref VALUES (2, 10, 'second')" % t + upd, 1)
		for row in ("(3, 30, 'third')", "(4, 30, 'fourth')"):
			d.insert("INSERT INTO %s_ref VALUES %s" % (t, row) + upd, 1)
	got = pg.sql("SELECT a, b, v FROM %s ORDER BY b" % t)
	assert got == pg.sql("SELECT a, b, v FROM %s_ref ORDER BY b" % t) == \
		[(2, 10, "second"), (4, 30, "fourth")], got
