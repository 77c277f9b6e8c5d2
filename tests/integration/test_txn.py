"""Transactions stay the client's (issue 16): inside BEGIN ... COMMIT the rows of the INSERTs pgbatchd takes are written in the client's own transaction, on its own connection. Each scenario runs the same client code directly (database "direct") and through pgbatchd (database "postgres", the sink's) and compares every reply and the tables: refused rows, the client's own locks, rows that need their transaction, isolation, deferred constraints, the transaction's context (now(), SET LOCAL, currval), ignore counts, abandoned transactions and a killed pgbatchd."""

import signal

import psycopg
import psycopg2
import psycopg2.errors
import pytest

import harness
from difftest import HANG, both, no_hang, same, sessions
import pgwire as w
import sinkutil as su

PG_SETTINGS = {"timezone": "UTC"}


def rows(pg, sql, db):
	return pg.sql(sql, dbname=db)


def error_fields(msgs):
	"""Every field of the ErrorResponse in msgs but the source line (F, L, R
	and P kept: they say which check refused the row)."""
	e = su.error_of(msgs)
	assert e is not None, su.show(msgs)
	return e


def ready(msgs):
	assert msgs[-1][0] == "Z", su.show(msgs)
	return msgs[-1][1]


def tx_proxy(make_proxy, tables, **kw):
	return su.start_sink_proxy(make_proxy, tables, **kw)


# ---------------------------------------------------------------- refused rows

BAD = {
	"notnull": "INSERT INTO tb (id, v) VALUES (2, NULL)",
	"check": "INSERT INTO tb (id, v, n) VALUES (2, 'x', -1)",
	"duplicate": "INSERT INTO tb (id, v) VALUES (1, 'dup')",
}


@pytest.mark.parametrize("kind", sorted(BAD))
@pytest.mark.parametrize("after", ["SELECT 1", "SAVEPOINT s", "SET LOCAL work_mem = '8MB'", "COMMIT"])
def test_refused_row_then_next_statement(dbs, make_proxy, kind, after):
	"""BEGIN; a good INSERT; a refused one; another statement. Directly the
	refused INSERT fails; through pgbatchd it is answered `INSERT 0 1` and the
	next statement's answer is its error, every field, then the transaction
	is aborted (COMMIT ends it) exactly as directly."""
	pg = dbs
	t = "tb"
	both(pg, "DROP TABLE IF EXISTS tb; CREATE TABLE tb (id int PRIMARY KEY, v text NOT NULL, n int CHECK (n >= 0))")
	both(pg, "INSERT INTO tb VALUES (1, 'one', 1)")
	proxy = tx_proxy(make_proxy, {t: {"conflictmode": "strict", "exceptionmode": "strict"}})
	s, d = sessions(pg, proxy)
	with s, d:
		for x in (s, d):
			x.ok("BEGIN")
			assert su.tags_of(x.run("INSERT INTO tb (id, v) VALUES (3, 'three')")) == ["INSERT 0 1"]
		direct_err = error_fields(d.run(BAD[kind]))
		got = s.run(BAD[kind])
		assert got == [su.command_complete("INSERT 0 1"), ("Z", b"T")], su.show(got)
		late = s.run(after)
		assert error_fields(late) == direct_err
		direct_after = d.run(after)
		# the transaction is aborted, or (COMMIT) ended, as directly
		assert ready(late) == ready(direct_after) == (b"I" if after == "COMMIT" else b"E")
		if after != "COMMIT":
			for x in (s, d):
				assert error_fields(x.run("SELECT 2"))["C"] == "25P02"
				assert su.tags_of(x.run("ROLLBACK")) == ["ROLLBACK"]
		for x in (s, d):
			x.insert_ok = su.tags_of(x.run("INSERT INTO tb (id, v) VALUES (4, 'after')"))
		assert s.insert_ok == d.insert_ok == ["INSERT 0 1"]
	same(pg, "SELECT * FROM tb ORDER BY id")


def test_psycopg2_refused_row_then_select(dbs, make_proxy):
	"""psycopg2's default mode: the refused row's error is raised by the next
	statement instead of its own INSERT; same class, SQLSTATE and fields."""
	pg = dbs
	both(pg, "CREATE TABLE p2r (id int PRIMARY KEY, v text NOT NULL)")
	proxy = tx_proxy(make_proxy, {"p2r": {}})

	def run(port, db):
		c = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname=db)
		cur = c.cursor()
		cur.execute("INSERT INTO p2r VALUES (1, 'a')")
		raised = None
		try:
			cur.execute("INSERT INTO p2r VALUES (2, NULL)")
			cur.execute("SELECT count(*) FROM p2r")
		except psycopg2.Error as e:
			raised = (type(e).__name__, e.pgcode, e.diag.message_primary, e.diag.message_detail,
				e.diag.table_name, e.diag.column_name)
		c.rollback()
		cur.execute("INSERT INTO p2r VALUES (3, 'c')")
		c.commit()
		c.close()
		return raised

	via = no_hang(run, proxy.port, "postgres")
	direct = run(pg.port, "direct")
	assert direct[0] == "NotNullViolation"
	assert via == direct
	assert same(pg, "SELECT * FROM p2r ORDER BY id") == [(3, "c")]


def test_refused_row_in_a_group_lands_on_its_execute(dbs, make_proxy):
	"""Extended protocol in a transaction: a Sync group of INSERTs is written at
	its Sync in a savepoint; a refused row rolls it back and the group runs as
	sent, so the error is the failing Execute's, byte for byte."""
	pg = dbs
	both(pg, "CREATE TABLE tg (id int PRIMARY KEY, v text NOT NULL)")
	proxy = tx_proxy(make_proxy, {"tg": {"conflictmode": "strict"}})
	ins = "INSERT INTO tg (id, v) VALUES ($1, $2)"

	def group(rows):
		out = [w.parse("", ins)]
		for r in rows:
			out += [w.bind("", "", list(r)), w.describe("P", ""), w.execute("")]
		return b"".join(out) + w.sync()

	steps = [
		(w.query("BEGIN"), 1),
		(group([("1", "a"), ("2", "b"), ("3", "c")]), 1),          # taken: one batch in a savepoint
		(group([("4", "d"), ("5", None), ("6", "f")]), 1),         # refused at its second Execute
		(w.query("ROLLBACK"), 1),
		(w.query("BEGIN"), 1),
		(group([("7", "g"), ("8", "h")]), 1),
		(group([("9", "i"), ("7", "dup")]), 1),                    # a duplicate of this transaction
		(w.query("COMMIT"), 1),
		(w.query("BEGIN"), 1),
		(group([("10", "j"), ("11", "k")]), 1),
		(w.query("COMMIT"), 1),
	]

	def run(port, db):
		out = []
		with su.Session("127.0.0.1", port, database=db, timeout=HANG) as s:
			for data, n in steps:
				s.send(data)
				out.append(s.read_until("Z", n))
		return out

	via, direct = run(proxy.port, "postgres"), run(pg.port, "direct")
	for i, (a, b) in enumerate(zip(via, direct)):
		assert a == b, "step %d\n through: %s\n direct:  %s" % (i, su.show(a), su.show(b))
	assert same(pg, "SELECT * FROM tg ORDER BY id") == [(10, "j"), (11, "k")]
	st = su.stats(proxy)
	assert st.sink["tx_batches"] >= 4, st


def test_trigger_notices_of_a_groups_batch(dbs, make_proxy):
	"""A transaction's Sync group written as one batch: the NOTICEs its rows'
	trigger raised reach the client, each as the server sent it and in the
	rows' order, ahead of the group's answers (which the batch answers
	together); every other message is the direct session's, byte for byte."""
	pg = dbs
	both(pg, """CREATE TABLE tn (id int PRIMARY KEY, v text);
		CREATE FUNCTION tn_note() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE NOTICE 'row % is %', NEW.id, NEW.v; RETURN NEW; END $$;
		CREATE TRIGGER tn_b BEFORE INSERT ON tn FOR EACH ROW EXECUTE FUNCTION tn_note()""")
	proxy = tx_proxy(make_proxy, {"tn": {"conflictmode": "strict"}})
	ins = "INSERT INTO tn (id, v) VALUES ($1, $2)"
	group = b"".join([w.parse("", ins)] + [w.bind("", "", [str(i), "v%d" % i]) + w.execute("")
		for i in (1, 2, 3)]) + w.sync()

	def run(port, db):
		with su.Session("127.0.0.1", port, database=db, timeout=HANG) as s:
			s.ok("BEGIN")
			s.send(group)
			got = s.read_until("Z")
			assert su.tags_of(s.run("COMMIT")) == ["COMMIT"]
		return got

	via, direct = run(proxy.port, "postgres"), run(pg.port, "direct")
	notices = [p for t, p in via if t == "N"]
	assert notices == [p for t, p in direct if t == "N"] and len(notices) == 3, \
		"through: %s\n direct:  %s" % (su.show(via), su.show(direct))
	assert [m for m in via if m[0] != "N"] == [m for m in direct if m[0] != "N"], \
		"through: %s\n direct:  %s" % (su.show(via), su.show(direct))
	assert [t for t, _ in via[:3]] == ["N", "N", "N"], su.show(via)     # ahead of the answers
	assert same(pg, "SELECT * FROM tn ORDER BY id") == [(1, "v1"), (2, "v2"), (3, "v3")]
	assert su.stats(proxy).sink["tx_batches"] >= 1


# ---------------------------------------------------------------- the client's own locks

LOCKERS = {
	"lock_table": ["LOCK TABLE tl"],
	"truncate": ["TRUNCATE tl"],
	"select_for_update": ["SELECT * FROM tl WHERE id = 1 FOR UPDATE"],
	"update_then_insert": ["UPDATE tl SET v = 'upd' WHERE id = 1"],
	"delete_then_insert": ["DELETE FROM tl WHERE id = 1"],
}


@pytest.mark.parametrize("locker", sorted(LOCKERS))
def test_own_lock_then_insert_commits(dbs, make_proxy, locker):
	"""The transaction's INSERTs come after its own lock on the table
	(ackmode=commit, the default): directly they just run; through pgbatchd
	they must not wait for the lock in a connection of pgbatchd's own."""
	pg = dbs
	both(pg, "DROP TABLE IF EXISTS tl; CREATE TABLE tl (id int PRIMARY KEY, v text)")
	both(pg, "INSERT INTO tl VALUES (1, 'one'), (100, 'hundred')")
	proxy = tx_proxy(make_proxy, {"tl": {"conflictmode": "upsert"}})
	s, d = sessions(pg, proxy)
	with s, d:
		# the catalog is warm (a cold one is issue 23's)
		s.insert("INSERT INTO tl VALUES (100, 'hundred')", 1)
		d.insert("INSERT INTO tl VALUES (100, 'hundred') ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v", 1)
		for x, clause in ((s, ""), (d, " ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v")):
			x.ok("BEGIN")
			for sql in LOCKERS[locker]:
				x.ok(sql)
			assert su.tags_of(x.run("INSERT INTO tl VALUES (1, 'new')" + clause)) == ["INSERT 0 1"]
			assert su.tags_of(x.run("INSERT INTO tl VALUES (2, 'two')" + clause)) == ["INSERT 0 1"]
			assert su.tags_of(x.run("COMMIT")) == ["COMMIT"]
	same(pg, "SELECT * FROM tl ORDER BY id")


def test_abandoned_transaction_leaves_nothing(dbs, make_proxy):
	"""INSERT 100; BEGIN; TRUNCATE; INSERT 1; INSERT 2; the client leaves
	before COMMIT: its transaction is rolled back with everything in it,
	{100} stays, as directly."""
	pg = dbs
	both(pg, "CREATE TABLE ta (id int PRIMARY KEY)")
	proxy = tx_proxy(make_proxy, {"ta": {}})
	for server, db in ((proxy, "postgres"), (pg, "direct")):
		s = su.Session.to(server, database=db, timeout=HANG) if server is pg else su.Session.to(server, timeout=HANG)
		s.run("INSERT INTO ta VALUES (100)")
		pid = int(s.rows("SELECT pg_backend_pid()")[0][0])
		s.ok("BEGIN")
		s.ok("TRUNCATE ta")
		for k in (1, 2):
			assert su.tags_of(s.run("INSERT INTO ta VALUES (%d)" % k)) == ["INSERT 0 1"]
		# the staged rows went into the transaction (batchsize 1 would too)
		s.rows("SELECT count(*) FROM ta")
		s.close()
		harness.wait_for(lambda: not pg.sql("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)),
			timeout=HANG, what="the session's backend gone")
	assert same(pg, "SELECT * FROM ta ORDER BY id") == [(100,)]


def test_killed_pgbatchd_leaves_nothing_of_the_transaction(dbs):
	"""kill -9 of pgbatchd in the middle of a transaction whose rows were
	partly written into it already (batchsize 2): the backend rolls the whole
	transaction back; nothing of it stays."""
	pg = dbs
	pg.sql("CREATE TABLE tk (id int PRIMARY KEY)")
	pg.sql("INSERT INTO tk VALUES (100)")
	proxy = harness.start_proxy(pg, extra_sections=su.sink_sections({"tk": {"batchsize": 2}}))
	try:
		s = su.Session.to(proxy, timeout=HANG)
		pid = int(s.rows("SELECT pg_backend_pid()")[0][0])
		s.ok("BEGIN")
		s.ok("UPDATE tk SET id = 101 WHERE id = 100")
		for k in range(1, 6):
			assert su.tags_of(s.run("INSERT INTO tk VALUES (%d)" % k)) == ["INSERT 0 1"]
		# rows 1..4 are in the transaction already: the client's backend holds them
		harness.wait_for(lambda: pg.sql("SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
			"WHERE l.pid = %s AND c.relname = 'tk' AND l.mode = 'RowExclusiveLock'", (pid,))[0][0] == 1,
			timeout=HANG, what="the transaction writing tk")
		proxy.proc.send_signal(signal.SIGKILL)
		proxy.proc.wait()
		harness.wait_for(lambda: not pg.sql("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)),
			timeout=HANG, what="the session's backend gone")
		s.close()
	finally:
		proxy.kill()
		proxy.cleanup()
	assert pg.sql("SELECT * FROM tk ORDER BY id") == [(100,)]


# ---------------------------------------------------------------- rows that need their transaction

def test_unconfigured_parent_configured_child(dbs, make_proxy):
	"""psycopg2: a parent (not configured) and its children (configured, a
	foreign key to it) in one transaction: both commit, as directly."""
	pg = dbs
	both(pg, "CREATE TABLE par (id int PRIMARY KEY); CREATE TABLE kid (id int PRIMARY KEY, pid int REFERENCES par)")
	proxy = tx_proxy(make_proxy, {"kid": {}})

	def run(port, db):
		c = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname=db)
		cur = c.cursor()
		cur.execute("INSERT INTO par VALUES (1)")
		cur.execute("INSERT INTO kid VALUES (1, 1)")
		cur.execute("INSERT INTO kid VALUES (2, 1)")
		c.commit()
		c.close()

	no_hang(run, proxy.port, "postgres")
	run(pg.port, "direct")
	assert same(pg, "SELECT * FROM kid ORDER BY id") == [(1, 1), (2, 1)]
	assert same(pg, "SELECT * FROM par") == [(1,)]


@pytest.mark.parametrize("level", ["REPEATABLE READ", "SERIALIZABLE"])
def test_isolation_conflict_is_40001(dbs, make_proxy, level):
	"""An upsert over a row changed after the transaction's snapshot: 40001,
	as directly (through pgbatchd at COMMIT, by the late-error rule), and the
	other session's change stays."""
	pg = dbs
	t = "ti_" + level.split()[0].lower()
	both(pg, "CREATE TABLE %s (id int PRIMARY KEY, v text)" % t)
	both(pg, "INSERT INTO %s VALUES (1, 'old')" % t)
	proxy = tx_proxy(make_proxy, {t: {}})
	s, d = sessions(pg, proxy)
	with s, d:
		got = {}
		for x, db, clause in ((s, "postgres", ""), (d, "direct", " ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v")):
			x.ok("BEGIN ISOLATION LEVEL " + level)
			x.rows("SELECT * FROM %s" % t)      # the snapshot
			pg.sql("UPDATE %s SET v = 'other' WHERE id = 1" % t, dbname=db)
			r1 = x.run("INSERT INTO %s VALUES (1, 'mine')%s" % (t, clause))
			r2 = x.run("COMMIT")
			got[db] = (r1, r2)
		direct_err = error_fields(got["direct"][0])
		assert direct_err["C"] == "40001"
		assert got["postgres"][0] == [su.command_complete("INSERT 0 1"), ("Z", b"T")]
		assert error_fields(got["postgres"][1]) == direct_err and ready(got["postgres"][1]) == b"I"
	assert same(pg, "SELECT * FROM %s" % t) == [(1, "other")]


def test_deferred_foreign_key_fails_commit(dbs, make_proxy):
	"""A self-referencing DEFERRABLE INITIALLY DEFERRED foreign key: a row
	whose parent is never inserted fails COMMIT with 23503; one whose parent
	comes later in the transaction commits."""
	pg = dbs
	both(pg, "CREATE TABLE node (id int PRIMARY KEY, parent int REFERENCES node DEFERRABLE INITIALLY DEFERRED)")
	proxy = tx_proxy(make_proxy, {"node": {}})
	s, d = sessions(pg, proxy)
	with s, d:
		replies = []
		for x in (s, d):
			x.ok("BEGIN")
			assert su.tags_of(x.run("INSERT INTO node VALUES (1, 99)")) == ["INSERT 0 1"]
			replies.append(x.run("COMMIT"))
			x.ok("BEGIN")
			x.run("INSERT INTO node VALUES (2, 3)")
			x.run("INSERT INTO node VALUES (3, NULL)")
			assert su.tags_of(x.run("COMMIT")) == ["COMMIT"]
		assert replies[0] == replies[1], "%s\n%s" % (su.show(replies[0]), su.show(replies[1]))
		assert error_fields(replies[0])["C"] == "23503"
	assert same(pg, "SELECT * FROM node ORDER BY id") == [(2, 3), (3, None)]


# ---------------------------------------------------------------- the transaction's context

def test_now_set_local_and_trigger_see_the_transaction(dbs, make_proxy):
	"""DEFAULT now() is the transaction's time; a default and a trigger read
	the transaction's SET LOCAL settings; rows inserted after a new SET LOCAL
	read the new value."""
	pg = dbs
	both(pg, """CREATE TABLE ctx (id int PRIMARY KEY, at timestamptz DEFAULT now(),
		who text DEFAULT current_setting('app.who', true), note text);
		CREATE FUNCTION ctx_note() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN NEW.note := current_setting('app.note', true); RETURN NEW; END $$;
		CREATE TRIGGER ctx_b BEFORE INSERT ON ctx FOR EACH ROW EXECUTE FUNCTION ctx_note()""")
	proxy = tx_proxy(make_proxy, {"ctx": {"conflictmode": "strict"}})
	s, d = sessions(pg, proxy)
	with s, d:
		for x in (s, d):
			x.ok("BEGIN")
			x.ok("SET LOCAL app.who = 'alice'")
			x.ok("SET LOCAL app.note = 'first'")
			x.now = x.rows("SELECT now()::text")[0][0]
			x.run("INSERT INTO ctx (id) VALUES (1)")
			x.run("INSERT INTO ctx (id) VALUES (2)")
			x.ok("SET LOCAL app.note = 'second'")
			x.run("INSERT INTO ctx (id) VALUES (3)")
			assert su.tags_of(x.run("COMMIT")) == ["COMMIT"]
		for x, db in ((s, "postgres"), (d, "direct")):
			got = rows(pg, "SELECT id, at::text, who, note FROM ctx ORDER BY id", db)
			assert got == [(1, x.now, "alice", "first"), (2, x.now, "alice", "first"),
				(3, x.now, "alice", "second")], (db, got)


def test_currval_after_inserts_in_a_transaction(dbs, make_proxy):
	"""currval() and lastval() after a transaction's INSERTs, after its COMMIT
	and inside it, are the session's, as directly: the rows took their serial
	values in the client's own session."""
	pg = dbs
	both(pg, "CREATE TABLE cv (id serial PRIMARY KEY, v text)")
	proxy = tx_proxy(make_proxy, {"cv": {"conflictmode": "strict"}})
	s, d = sessions(pg, proxy)
	with s, d:
		got = []
		for x in (s, d):
			x.ok("BEGIN")
			x.run("INSERT INTO cv (v) VALUES ('a')")
			x.run("INSERT INTO cv (v) VALUES ('b'), ('c')")
			x.ok("COMMIT")
			after = x.run("SELECT currval('cv_id_seq'), lastval()")
			x.ok("BEGIN")
			x.run("INSERT INTO cv (v) VALUES ('d')")
			inside = x.run("SELECT currval('cv_id_seq'), lastval()")
			x.run("INSERT INTO cv (v) VALUES ('e')")
			x.ok("COMMIT")
			got.append((after, inside))
		assert got[0] == got[1], got
		assert su.error_of(got[0][0]) is None
	assert same(pg, "SELECT * FROM cv ORDER BY id") == [(1, "a"), (2, "b"), (3, "c"), (4, "d"), (5, "e")]


# ---------------------------------------------------------------- counts

def test_ignore_counts_are_the_databases(dbs, make_proxy):
	"""conflictmode=ignore in a transaction: a duplicate is `INSERT 0 0` and a
	new row `INSERT 0 1`, per statement (simple Query) and per Execute of a
	group (extended), exactly as the statement with ON CONFLICT DO NOTHING
	answers directly."""
	pg = dbs
	both(pg, "CREATE TABLE ig (id int PRIMARY KEY, v text)")
	both(pg, "INSERT INTO ig VALUES (1, 'old'), (5, 'old')")
	proxy = tx_proxy(make_proxy, {"ig": {"conflictmode": "ignore"}})
	clause = " ON CONFLICT (id) DO NOTHING"

	def run(port, db, cl):
		out = []
		ins = "INSERT INTO ig (id, v) VALUES ($1, $2)" + cl
		with su.Session("127.0.0.1", port, database=db, timeout=HANG) as s:
			out.append(s.run("BEGIN"))
			out.append(s.run("INSERT INTO ig VALUES (1, 'new')" + cl))
			out.append(s.run("INSERT INTO ig VALUES (2, 'new'), (1, 'x'), (3, 'y')" + cl))
			g = [w.parse("", ins)]
			for r in (("4", "a"), ("5", "b"), ("6", "c"), ("4", "d")):
				g += [w.bind("", "", list(r)), w.execute("")]
			s.send(b"".join(g) + w.sync())
			out.append(s.read_until("Z"))
			out.append(s.run("COMMIT"))
		return out

	via, direct = run(proxy.port, "postgres", ""), run(pg.port, "direct", clause)
	assert [su.tags_of(m) for m in direct] == [["BEGIN"], ["INSERT 0 0"], ["INSERT 0 2"],
		["INSERT 0 1", "INSERT 0 0", "INSERT 0 1", "INSERT 0 0"], ["COMMIT"]]
	for a, b in zip(via, direct):
		assert a == b, "\n%s\n%s" % (su.show(a), su.show(b))
	same(pg, "SELECT * FROM ig ORDER BY id")


# ---------------------------------------------------------------- a pipeline without INSERTs

@pytest.mark.parametrize("tables", [False, True])
def test_psycopg3_pipeline_error_then_sync(dbs, make_proxy, tables):
	"""psycopg 3, autocommit, pipeline mode: select 1; a missing table (42P01,
	fetched: the error is in); a statement sent after it, which the backend
	discards up to the Sync; sync; select 2 -- answered as directly, with and
	without [table] sections. (The statements sent after the error, before a
	Sync, get no answer from the backend: nothing must wait for one.)"""
	pg = dbs
	proxy = tx_proxy(make_proxy, {"pl": {}} if tables else {})
	if tables:
		both(pg, "CREATE TABLE IF NOT EXISTS pl (id int PRIMARY KEY)")

	def run(port, db):
		out = []
		with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname=db, autocommit=True) as conn:
			with conn.pipeline() as p:
				c1 = conn.execute("select 1")
				c2 = conn.execute("select * from doesnotexist")
				try:
					c2.fetchone()
				except psycopg.Error as e:
					out.append((type(e).__name__, e.sqlstate))
				try:
					conn.execute("select 'aborted'")
				except psycopg.Error as e:
					out.append((type(e).__name__, e.sqlstate))
				try:
					p.sync()
				except psycopg.Error as e:
					out.append(("sync", type(e).__name__))
				out.append(c1.fetchone())
				out.append(conn.execute("select 2").fetchone())
			out.append(conn.execute("select 3").fetchone())
		return out

	via = no_hang(run, proxy.port, "postgres")
	assert via == run(pg.port, "direct")
	assert via[-2:] == [(2,), (3,)]


def test_messages_after_an_error_before_sync(dbs, make_proxy):
	"""The same at the wire: after an extended-protocol error, the messages
	sent before the Sync get no answer (not even to a Query), the Sync's
	ReadyForQuery comes, and the next group is answered -- byte for byte."""
	pg = dbs
	both(pg, "CREATE TABLE IF NOT EXISTS pw (id int PRIMARY KEY)")
	proxy = tx_proxy(make_proxy, {"pw": {}})

	def group(sql):
		return w.parse("", sql) + w.bind("", "") + w.describe("P", "") + w.execute("")

	def run(port, db):
		out = []
		with su.Session("127.0.0.1", port, database=db, timeout=HANG) as s:
			s.send(group("select 1") + group("select * from doesnotexist"))
			out.append(s.read_until("E"))
			s.send(group("select 'aborted'") + group("INSERT INTO pw VALUES (1)") + w.query("select 'q'") + w.sync())
			out.append(s.read_until("Z"))
			s.send(group("select 2") + w.flush())
			out.append(s.read_until("C"))
			s.send(w.sync())
			out.append(s.read_until("Z"))
			out.append(s.run("SELECT count(*) FROM pw"))
		return out

	via, direct = run(proxy.port, "postgres"), run(pg.port, "direct")
	assert via == direct, "\n%s\n%s" % ("\n".join(su.show(m) for m in via), "\n".join(su.show(m) for m in direct))


# ---------------------------------------------------------------- other clients' acknowledged rows

def test_rows_acknowledged_before_go_first(dbs, make_proxy):
	"""ackmode=immediate: A's row of key 1 is acknowledged, not yet written
	(no flush due). B's transaction then writes key 1 and commits: A's row
	was done before B began, as A was told, so B's must end last."""
	pg = dbs
	pg.sql("CREATE TABLE tim (id int PRIMARY KEY, v text)")
	proxy = tx_proxy(make_proxy, {"tim": {"ackmode": "immediate", "adaptiveflush": 0,
		"batchsize": su.HUGE_BATCH, "batchwritetimeoutms": su.HUGE_TIMEOUT_MS}},
		pgbatchd={"readyourwrites": 1})
	with su.Session.to(proxy, timeout=HANG) as a, su.Session.to(proxy, timeout=HANG) as b:
		a.insert("INSERT INTO tim VALUES (1, 'a')", 1)
		assert su.stats(proxy).sink["queued_rows"] == 1
		b.ok("BEGIN")
		assert su.tags_of(b.run("INSERT INTO tim VALUES (1, 'b')")) == ["INSERT 0 1"]
		assert su.tags_of(b.run("COMMIT")) == ["COMMIT"]
		a.ok("SELECT 1")    # whatever A still had is written by now
	assert pg.sql("SELECT * FROM tim") == [(1, "b")]


def test_acknowledged_rows_behind_the_transactions_own_lock(dbs, make_proxy):
	"""The same with ackmode=immediate, but A's acknowledged row waits for a
	lock B's transaction holds: B's rows cannot wait for it (pgbatchd would be
	one edge of a deadlock PostgreSQL cannot see). They wait a bounded time,
	the log says so, COMMIT is answered, and A's row is written after."""
	pg = dbs
	pg.sql("CREATE TABLE tdl (id int PRIMARY KEY, v text)")
	proxy = tx_proxy(make_proxy, {"tdl": {"ackmode": "immediate"}})
	with su.Session.to(proxy, timeout=HANG) as a, su.Session.to(proxy, timeout=HANG) as b:
		b.insert("INSERT INTO tdl VALUES (0, 'catalog')", 1)
		b.ok("BEGIN")
		b.ok("LOCK TABLE tdl IN SHARE MODE")
		a.insert("INSERT INTO tdl VALUES (1, 'a')", 1)
		harness.wait_for(lambda: su.waiting_on_lock(pg) == 1, timeout=HANG, what="A's batch waiting for B's lock")
		assert su.tags_of(b.run("INSERT INTO tdl VALUES (1, 'b')")) == ["INSERT 0 1"]
		assert su.tags_of(no_hang(b.run, "COMMIT")) == ["COMMIT"]
		a.ok("SELECT 1")
	assert pg.sql("SELECT * FROM tdl ORDER BY id") == [(0, "catalog"), (1, "a")]
	proxy.wait_log("waited \\d+ ms for rows acknowledged to other clients")


# ---------------------------------------------------------------- pgjdbc

JDBC_JAR = "/usr/share/java/postgresql.jar"


def test_pgjdbc_refused_rows_in_transactions(dbs, make_proxy, tmp_path):
	"""pgjdbc, autoCommit off: a refused row at executeUpdate, in an
	executeBatch, inside a savepoint, after the transaction's own LOCK TABLE:
	the transcript through pgbatchd is the direct one, word for word (the
	extended protocol's errors land where PostgreSQL puts them)."""
	pg = dbs
	both(pg, "CREATE TABLE jx (id int PRIMARY KEY, v text NOT NULL)")
	proxy = tx_proxy(make_proxy, {"jx": {"conflictmode": "strict"}})
	src = harness.os.path.join(harness.REPO, "tests", "clients", "JdbcTx.java")
	res = harness.run(["javac", "-Xlint:all", "-Werror", "-cp", JDBC_JAR, "-d", str(tmp_path), src], timeout=300)
	assert res.returncode == 0, res.stderr.decode()

	def run(port, db):
		r = harness.run(["java", "-cp", str(tmp_path) + ":" + JDBC_JAR, "JdbcTx",
			"jdbc:postgresql://127.0.0.1:%d/%s" % (port, db), "jx"], timeout=300)
		assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
		return r.stdout.decode()

	via = no_hang(run, proxy.port, "postgres")
	direct = run(pg.port, "direct")
	assert "SQLSTATE 23502" in direct and "SQLSTATE 25P02" in direct
	assert via == direct
	same(pg, "SELECT * FROM jx ORDER BY id")
	assert su.stats(proxy).sink["tx_batches"] >= 2


# ---------------------------------------------------------------- found in review

def test_client_gone_while_key_values_are_read(dbs, make_proxy):
	"""A key the database reads (interval): the client leaves right after its
	staged INSERT, while the catalog connection reads the key; nothing of the
	dropped rows is touched after (the sanitizers would say so at stop)."""
	pg = dbs
	pg.sql("CREATE TABLE kv (k interval PRIMARY KEY, n int)")
	proxy = tx_proxy(make_proxy, {"kv": {}})
	with su.Session.to(proxy, timeout=HANG) as s:
		s.insert("INSERT INTO kv VALUES ('1 hour', 1)", 1)     # the catalog is loaded
	for i in range(20):
		s = su.Session.to(proxy, timeout=HANG)
		s.send(w.query("BEGIN") + w.query("INSERT INTO kv VALUES ('%d hours', %d)" % (i + 2, i)) + w.terminate())
		s.close()
	with su.Session.to(proxy, timeout=HANG) as s:
		assert s.rows("SELECT count(*) FROM kv") == [["1"]]


def test_rollback_while_staged_rows_are_written(dbs, make_proxy):
	"""batchsize 2: the staged rows go by themselves while a ROLLBACK TO
	SAVEPOINT is on its way; the ROLLBACK is answered as directly (ROLLBACK),
	never with the rows' error, and the transaction goes on."""
	pg = dbs
	both(pg, "CREATE TABLE trb (id int PRIMARY KEY)")
	both(pg, "INSERT INTO trb VALUES (1)")
	proxy = tx_proxy(make_proxy, {"trb": {"conflictmode": "strict", "batchsize": 2}})
	s, d = sessions(pg, proxy)
	with s, d:
		got = []
		for x in (s, d):
			x.ok("BEGIN")
			x.ok("SAVEPOINT a")
			r = x.pipeline(["INSERT INTO trb VALUES (1)", "INSERT INTO trb VALUES (2)", "ROLLBACK TO SAVEPOINT a"])
			got.append(r[-1])
			assert su.tags_of(x.run("INSERT INTO trb VALUES (3)")) == ["INSERT 0 1"]
			assert su.tags_of(x.run("COMMIT")) == ["COMMIT"]
		assert got[0] == got[1] == [su.command_complete("ROLLBACK"), ("Z", b"T")], got
	assert same(pg, "SELECT * FROM trb ORDER BY id") == [(1,), (3,)]


def test_upsert_of_a_key_only_table_counts_what_is_written(dbs, make_proxy):
	"""conflictmode=upsert on a table with nothing but its key: an upsert
	updates nothing, so a duplicate is DO NOTHING, and its count (0) is the
	database's, in a simple Query and in an extended group."""
	pg = dbs
	both(pg, "CREATE TABLE tags (name text PRIMARY KEY)")
	both(pg, "INSERT INTO tags VALUES ('a')")
	proxy = tx_proxy(make_proxy, {"tags": {}})
	clause = " ON CONFLICT (name) DO NOTHING"

	def run(port, db, cl):
		out = []
		with su.Session("127.0.0.1", port, database=db, timeout=HANG) as x:
			x.ok("BEGIN")
			out.append(x.run("INSERT INTO tags VALUES ('a')" + cl))
			out.append(x.run("INSERT INTO tags VALUES ('b'), ('b')" + cl))
			g = [w.parse("", "INSERT INTO tags VALUES ($1)" + cl)]
			for v in ("a", "c", "c"):
				g += [w.bind("", "", [v]), w.execute("")]
			x.send(b"".join(g) + w.sync())
			out.append(x.read_until("Z"))
			out.append(x.run("COMMIT"))
		return out

	via, direct = run(proxy.port, "postgres", ""), run(pg.port, "direct", clause)
	assert [su.tags_of(m) for m in direct] == [["INSERT 0 0"], ["INSERT 0 1"],
		["INSERT 0 0", "INSERT 0 1", "INSERT 0 0"], ["COMMIT"]]
	assert via == direct
	same(pg, "SELECT * FROM tags ORDER BY name")


def test_cancel_of_a_groups_batch_is_the_groups(dbs, make_proxy):
	"""A transaction's group waits for a row lock; a CancelRequest (or a
	deadlock, a statement_timeout) hits its batch: the group is not run again
	(that would wait on the same lock, the cancel lost); it gets 57014 and
	the transaction is aborted, as directly. Which Execute carries the error
	depends on timing directly; through pgbatchd it is the group's first."""
	pg = dbs
	both(pg, "CREATE TABLE tcx (id int PRIMARY KEY)")
	proxy = tx_proxy(make_proxy, {"tcx": {"conflictmode": "strict"}})

	def run(server, db):
		holder = pg.connect(dbname=db)
		holder.execute("BEGIN")
		holder.execute("INSERT INTO tcx VALUES (1)")
		s = su.Session(server.host, server.port, database=db, timeout=HANG)
		s.ok("BEGIN")
		s.send(w.parse("", "INSERT INTO tcx (id) VALUES ($1)") + w.bind("", "", ["2"]) + w.execute("") +
			w.bind("", "", ["1"]) + w.execute("") + w.sync())
		harness.wait_for(lambda: pg.sql("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND "
			"wait_event_type = 'Lock'", (db,))[0][0] >= 1, timeout=HANG, what="the group waiting")
		c = w.Conn(server.host, server.port)
		c.send(w.cancel_request(s.pid, s.secret))
		c.read_eof_or_error(timeout=HANG)
		got = s.read_until("Z")
		holder.execute("ROLLBACK")
		holder.close()
		after = s.run("SELECT 1")
		s.close()
		return got, after

	via, direct = run(proxy, "postgres"), run(pg, "direct")
	assert [t for t, _ in direct[0]] == ["1", "2", "C", "2", "E", "Z"]
	assert [t for t, _ in via[0]] == ["1", "2", "E", "Z"]
	assert su.error_of(via[0]) == su.error_of(direct[0])
	assert via[0][-1] == direct[0][-1] == ("Z", b"E")
	assert su.error_of(via[1])["C"] == su.error_of(direct[1])["C"] == "25P02"
	assert same(pg, "SELECT count(*) FROM tcx") == [(0,)]
