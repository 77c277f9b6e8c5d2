"""Transactions, the edges (issue 16): clients that recover from a statement's error with savepoints (psql's ON_ERROR_ROLLBACK), a FunctionCall after staged rows, an empty query after a refused one, a partition's trigger that skips rows, and a group whose re-run would take sequence values twice. Each runs the same client code directly (database "direct") and through pgbatchd (database "postgres") and compares the answers and the tables."""

import pytest
import psycopg
import psycopg2

import harness
from difftest import both, same, sessions
import pgwire as w
import sinkutil as su

PG_SETTINGS = {"timezone": "UTC"}


def test_psql_on_error_rollback(dbs, make_proxy):
	"""psql with ON_ERROR_ROLLBACK=on wraps each statement of a transaction
	in a savepoint and rolls back to it when the statement fails: the bad row
	alone is undone, the others commit. Its output and the table are the same
	through pgbatchd."""
	pg = dbs
	both(pg, "CREATE TABLE pe (id int PRIMARY KEY, v text NOT NULL)")
	proxy = su.start_sink_proxy(make_proxy, {"pe": {"conflictmode": "strict"}})
	script = b"""\\set ON_ERROR_ROLLBACK on
BEGIN;
INSERT INTO pe VALUES (1, 'a');
INSERT INTO pe VALUES (2, NULL);
INSERT INTO pe VALUES (3, 'c');
INSERT INTO pe VALUES (1, 'dup');
INSERT INTO pe VALUES (4, 'd');
COMMIT;
"""

	def run(port, db):
		r = harness.psql("127.0.0.1", port, ["-v", "ON_ERROR_STOP=0"], dbname=db, input=script, merge_stderr=True)
		return r.stdout.decode().splitlines()

	via, direct = run(proxy.port, "postgres"), run(pg.port, "direct")
	assert via == direct
	assert [r[0] for r in same(pg, "SELECT * FROM pe ORDER BY id")] == [1, 3, 4]


def test_after_a_savepoint_each_insert_answers_for_itself(dbs, make_proxy):
	"""INSERTs before the transaction's first SAVEPOINT are staged (and
	written before it); after it, each INSERT runs as sent, so its error is its
	own and ROLLBACK TO SAVEPOINT recovers exactly as directly. The next
	transaction stages again."""
	pg = dbs
	both(pg, "CREATE TABLE sp (id int PRIMARY KEY, v text NOT NULL)")
	proxy = su.start_sink_proxy(make_proxy, {"sp": {"conflictmode": "strict"}})
	steps = ["BEGIN", "INSERT INTO sp VALUES (1, 'a')", "INSERT INTO sp VALUES (2, 'b')", "SAVEPOINT s",
		"INSERT INTO sp VALUES (3, NULL)", "ROLLBACK TO SAVEPOINT s", "INSERT INTO sp VALUES (4, 'd')",
		"SAVEPOINT s", "INSERT INTO sp VALUES (1, 'dup')", "ROLLBACK TO SAVEPOINT s", "COMMIT",
		"BEGIN", "INSERT INTO sp VALUES (5, 'e')", "INSERT INTO sp VALUES (6, 'f')", "COMMIT"]
	s, d = sessions(pg, proxy)
	with s, d:
		for sql in steps:
			a, b = s.run(sql), d.run(sql)
			assert a == b, "%s\n through: %s\n direct:  %s" % (sql, su.show(a), su.show(b))
	assert [r[0] for r in same(pg, "SELECT * FROM sp ORDER BY id")] == [1, 2, 4, 5, 6]
	st = su.stats(proxy)
	assert st.sink.get("tx_rows") == 4, st      # 1, 2 and 5, 6 staged; 3, 4, 1 as sent


def test_function_call_follows_the_staged_rows(dbs, make_proxy):
	"""A FunctionCall message (libpq's PQfn, large objects) after staged
	INSERTs: the rows are written first, so the function sees them; after a
	refused staged row, the FunctionCall's answer is the row's error."""
	pg = dbs
	both(pg, "CREATE TABLE fc (id int PRIMARY KEY, v text NOT NULL); "
		"CREATE FUNCTION count_fc() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM fc'")
	proxy = su.start_sink_proxy(make_proxy, {"fc": {"conflictmode": "strict"}})
	s, d = sessions(pg, proxy)
	with s, d:
		oid = int(pg.sql("SELECT 'count_fc'::regproc::oid")[0][0])
		doid = int(pg.sql("SELECT 'count_fc'::regproc::oid", dbname="direct")[0][0])
		for x, o in ((s, oid), (d, doid)):
			x.ok("INSERT INTO fc VALUES (0, 'warm')")
			x.ok("BEGIN")
			x.ok("INSERT INTO fc VALUES (1, 'a')")
			x.ok("INSERT INTO fc VALUES (2, 'b')")
			x.send(w.function_call(o))
			x.fc = x.read_until("Z")
		assert s.fc == d.fc and s.fc[0][0] == "V", su.show(s.fc)
		assert s.fc[0][1][4:] == b"3"       # the staged rows are seen
		for x in (s, d):
			x.ok("COMMIT")
			x.ok("BEGIN")
		direct_err = su.error_of(d.run("INSERT INTO fc VALUES (3, NULL)"))
		assert s.run("INSERT INTO fc VALUES (3, NULL)") == [su.command_complete("INSERT 0 1"), ("Z", b"T")]
		s.send(w.function_call(oid))
		got = s.read_until("Z")
		assert su.error_of(got) == direct_err and got[-1] == ("Z", b"E"), su.show(got)
		for x in (s, d):
			x.ok("ROLLBACK")
	same(pg, "SELECT * FROM fc ORDER BY id")


def test_empty_query_after_a_refused_row(dbs, make_proxy):
	"""An empty Query after a refused staged row: its answer is the row's
	error (never a ReadyForQuery 'E' without one), then as directly."""
	pg = dbs
	both(pg, "CREATE TABLE eq (id int PRIMARY KEY, v text NOT NULL)")
	proxy = su.start_sink_proxy(make_proxy, {"eq": {"conflictmode": "strict"}})
	s, d = sessions(pg, proxy)
	with s, d:
		for x in (s, d):
			x.ok("BEGIN")
		direct_err = su.error_of(d.run("INSERT INTO eq VALUES (1, NULL)"))
		assert su.tags_of(s.run("INSERT INTO eq VALUES (1, NULL)")) == ["INSERT 0 1"]
		got = s.run("")
		assert got == [("E", got[0][1]), ("Z", b"E")] and su.error_of(got) == direct_err, su.show(got)
		for sql in ("", "SELECT 1", "ROLLBACK"):
			a, b = s.run(sql), d.run(sql)
			assert a == b, "%s\n through: %s\n direct:  %s" % (sql, su.show(a), su.show(b))


def test_a_partitions_trigger_counts(dbs, make_proxy):
	"""A BEFORE ROW trigger on one partition (not the parent) skips rows: the
	tags count only the rows inserted, in a transaction too (simple protocol,
	and an extended-protocol executemany)."""
	pg = dbs
	both(pg, """CREATE TABLE pa (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
CREATE TABLE pa_lo PARTITION OF pa FOR VALUES FROM (0) TO (100);
CREATE TABLE pa_hi PARTITION OF pa FOR VALUES FROM (100) TO (1000);
CREATE FUNCTION skip_row() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN IF NEW.v = 'skip' THEN RETURN NULL; END IF; RETURN NEW; END $$;
CREATE TRIGGER pa_hi_b BEFORE INSERT ON pa_hi FOR EACH ROW EXECUTE FUNCTION skip_row()""")
	proxy = su.start_sink_proxy(make_proxy, {"pa": {"conflictmode": "strict"}})

	def run(port, db):
		out = []
		c = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname=db)
		cur = c.cursor()
		for sql in ("INSERT INTO pa VALUES (101, 'skip')", "INSERT INTO pa VALUES (102, 'b')",
				"INSERT INTO pa VALUES (103, 'skip'), (104, 'd')", "INSERT INTO pa VALUES (1, 'lo')"):
			cur.execute(sql)
			out.append(cur.rowcount)
		c.commit()
		c.close()
		with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname=db) as c3:
			cur = c3.cursor()
			cur.executemany("INSERT INTO pa VALUES (%s, %s)", [(110, "a"), (111, "skip"), (112, "skip"), (5, "lo")])
			out.append(cur.rowcount)
		return out

	via, direct = run(proxy.port, "postgres"), run(pg.port, "direct")
	assert via == direct == [0, 1, 1, 1, 2]
	same(pg, "SELECT * FROM pa ORDER BY id")


def test_group_with_a_sequence_default_and_skipped_rows(dbs, make_proxy):
	"""conflictmode = ignore on a table whose other column is a bigserial: a
	transaction's executemany with duplicates skips them (fewer rows than
	sent). Directly (ON CONFLICT DO NOTHING) each row takes one sequence value;
	through pgbatchd the same ids are given -- the group is not written once
	and then again."""
	pg = dbs
	both(pg, "CREATE TABLE vg (k int PRIMARY KEY, id bigserial, v text)")
	proxy = su.start_sink_proxy(make_proxy, {"vg": {"conflictmode": "ignore"}})
	batches = [[(1, "a"), (2, "b"), (1, "dup"), (3, "c")], [(4, "d"), (2, "dup"), (5, "e")]]

	def run(port, db, sql):
		out = []
		with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname=db) as c:
			cur = c.cursor()
			for b in batches:
				cur.executemany(sql, b)
				out.append(cur.rowcount)
		return out

	via = run(proxy.port, "postgres", "INSERT INTO vg (k, v) VALUES (%s, %s)")
	direct = run(pg.port, "direct", "INSERT INTO vg (k, v) VALUES (%s, %s) ON CONFLICT DO NOTHING")
	assert via == direct == [3, 2]
	same(pg, "SELECT k, id, v FROM vg ORDER BY k")


def test_multi_row_insert_into_a_row_wise_table(dbs, make_proxy):
	"""A table pgbatchd writes one statement per row (a foreign key to itself,
	a statement trigger): in a transaction, an INSERT of several rows runs as
	sent, so rows that reference each other are checked together and the
	statement trigger fires once, as directly; single-row INSERTs are still
	staged."""
	pg = dbs
	both(pg, """CREATE TABLE tree (id int PRIMARY KEY, parent int REFERENCES tree);
CREATE TABLE stt (id int PRIMARY KEY); CREATE TABLE stt_log (n serial, what text, cnt bigint);
CREATE FUNCTION stt_stmt() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN INSERT INTO stt_log (what, cnt) SELECT 'stmt', count(*) FROM stt; RETURN NULL; END $$;
CREATE TRIGGER stt_s AFTER INSERT ON stt FOR EACH STATEMENT EXECUTE FUNCTION stt_stmt()""")
	proxy = su.start_sink_proxy(make_proxy, {"tree": {"conflictmode": "strict"}, "stt": {"conflictmode": "strict"}})

	def run(port, db):
		c = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname=db)
		cur = c.cursor()
		out = []
		for sql in ("INSERT INTO tree VALUES (1, NULL)", "INSERT INTO tree VALUES (2, 3), (3, 1)",
				"INSERT INTO tree VALUES (4, 2)", "INSERT INTO stt VALUES (1), (2), (3)",
				"INSERT INTO stt VALUES (4)"):
			cur.execute(sql)
			out.append(cur.rowcount)
		c.commit()
		c.close()
		return out

	via, direct = run(proxy.port, "postgres"), run(pg.port, "direct")
	assert via == direct == [1, 2, 1, 3, 1]
	same(pg, "SELECT * FROM tree ORDER BY id")
	assert same(pg, "SELECT what, cnt FROM stt_log ORDER BY n") == [("stmt", 3), ("stmt", 4)]
	st = su.stats(proxy)
	assert st.sink.get("passthrough_tx_rowwise") == 2 and st.sink.get("tx_rows") == 3, st


PASSING_BEHIND = {
	"select": ["INSERT INTO pb VALUES (1, 'x')", "INSERT INTO pb VALUES (2.0, 'passes')", "SELECT count(*) FROM pb",
		"COMMIT"],
	"rollback": ["INSERT INTO pb VALUES (1, 'x')", "INSERT INTO pb VALUES (2.0, 'passes')", "ROLLBACK"],
	"insert": ["INSERT INTO pb VALUES (1, 'x')", "INSERT INTO pb VALUES (2.0, 'passes')",
		"INSERT INTO pb VALUES (3, 'taken')", "COMMIT"],
}


@pytest.mark.parametrize("name", sorted(PASSING_BEHIND))
def test_pipelined_statements_wait_for_a_passing_insert(dbs, make_proxy, name):
	"""A staged INSERT that passes (2.0 into an int) after a row whose trigger
	may change the session waits for the view asked again behind the row;
	what the client pipelined after it (a SELECT, ROLLBACK, an INSERT, a Sync)
	waits too, and runs after it, as directly: same replies, same rows."""
	pg = dbs
	both(pg, "DROP TABLE IF EXISTS pb; CREATE TABLE pb (k int PRIMARY KEY, v text); "
		"CREATE OR REPLACE FUNCTION pb_noop() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'; "
		"CREATE TRIGGER pb_noop AFTER INSERT ON pb FOR EACH ROW EXECUTE FUNCTION pb_noop()")
	proxy = su.start_sink_proxy(make_proxy, {"pb": {"ackmode": "commit"}})
	s, d = sessions(pg, proxy)
	with s, d:
		for x in (s, d):
			x.ok("BEGIN")
		got, want = s.pipeline(PASSING_BEHIND[name]), d.pipeline(PASSING_BEHIND[name])
		assert got == want, "\n through: %s\n direct:  %s" % (got, want)
		for x in (s, d):
			x.ok("BEGIN")
			x.send(w.msg("Q", b"INSERT INTO pb VALUES (7, 'x')\0") + w.msg("Q", b"INSERT INTO pb VALUES (8.0, 'y')\0")
			       + w.sync())
			x.got = [x.read_until("Z") for _ in range(3)]
			x.ok("ROLLBACK")
		assert s.got == d.got, "\n through: %s\n direct:  %s" % (s.got, d.got)
	same(pg, "SELECT * FROM pb ORDER BY k")
	assert su.stats(proxy).sink.get("tx_rows", 0) >= 2
