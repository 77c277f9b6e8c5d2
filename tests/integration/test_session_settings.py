"""Rows of sessions whose settings differ from the sink's connections' (issue
19, acceptance 4): TimeZone, DateStyle and IntervalStyle change how a literal
reads, and how a default computes, so the writers set the session's values
for its rows (set_config(..., true) in the batch's transaction). Sessions of
four different settings share one batch, and every row lands as it does when
the same statements run directly; none of the sessions opens a backend of its
own. A conflict key whose value reads a differing setting is read by the
database on the sink's connection, so such an INSERT passes through -- and
lands as directly too."""

import pytest

import harness
import pgwire as w
import sinkutil as su

PG_SETTINGS = {"timezone": "UTC", "datestyle": "ISO, MDY"}

USER = "ss_user"
USERS = {"postgres": "postgres", USER: "pw"}

# (startup options): the server's own, and three others
SETTINGS = [
	None,
	"-c TimeZone=Asia/Tokyo -c DateStyle=SQL,DMY",
	"-c TimeZone=America/New_York -c IntervalStyle=sql_standard -c DateStyle=German",
	"-c DateStyle=Postgres,YMD -c IntervalStyle=iso_8601",
]

# every value reads a setting; so does every default (a cast evaluated per row)
DDL = """CREATE TABLE {t} (id int PRIMARY KEY, ts timestamptz, tl timestamp, d date, iv interval,
	d_tl timestamp DEFAULT ('2026-06-01 12:00:00+00'::timestamptz)::timestamp,
	d_txt text DEFAULT ('2026-01-02 03:04:05+00'::timestamptz)::text,
	d_iv text DEFAULT ('-1 day 02:03:04'::interval)::text)"""

ROW = "INSERT INTO {t} (id, ts, tl, d, iv) VALUES ({id}, '2026-03-04 05:06:07', '2026-03-04 05:06:07', " \
	"'{d}', '-1 2:03:04')"
# per settings: dates that read in its field order (26/03/04 reads in YMD only
# among these, and is 2026-03-04 there; 03/04/2026 is April 3 in DMY)
DATES = [["03/04/2026", "04.03.2026"], ["03/04/2026", "26/03/04"], ["04.03.2026", "03/04/2026"],
	["26/03/04", "2026-03-04"]]


@pytest.fixture(scope="module")
def setup(pg):
	pg.sql("CREATE ROLE %s LOGIN PASSWORD 'pw' SUPERUSER" % USER)
	return pg


def options(opt):
	return {"options": opt} if opt else None


def backends_of(pg):
	return pg.sql("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (USER,))[0][0]


def dump(pg, t):
	return pg.sql("SELECT id, ts, tl, d, iv, d_tl, d_txt, d_iv FROM %s ORDER BY id" % t)


def statements(t, dup):
	"""(settings index, statement) in the order sent: two of each settings;
	with dup, one repeats the blocker's id (a unique violation: the batch is
	written piece by piece, each under a savepoint)."""
	out = []
	for i in range(8):
		k = i % len(SETTINGS)
		out.append((k, ROW.format(t=t, id=0 if dup and i == 5 else 10 + i, d=DATES[k][i // len(SETTINGS)])))
	return out


def run_direct(pg, t, stmts):
	replies = []
	for k, sql in stmts:
		with su.Session.to(pg, user=USER, params=options(SETTINGS[k])) as s:
			replies.append(s.run(sql))
	return replies


@pytest.mark.parametrize("dup", [False, True], ids=["one_batch", "savepoints"])
def test_sessions_of_four_settings_share_a_batch(setup, make_proxy, dup):
	pg = setup
	t = "ss_b_%d" % dup
	blocker = "INSERT INTO %s (id) VALUES (0)" % t
	stmts = statements(t, dup)

	pg.sql(DDL.format(t="d_" + t))
	with su.Session.to(pg) as s:
		s.ok(blocker.replace(t, "d_" + t))
	want = run_direct(pg, "d_" + t, [(k, sql.replace(t, "d_" + t)) for k, sql in stmts])
	want = [[(m, p.replace(b"d_" + t.encode(), t.encode())) for m, p in msgs] for msgs in want]

	pg.sql(DDL.format(t=t))
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": "strict", "exceptionmode": "strict", "verbose": 1, "directwrite": 0, "batchsize": 1000,
		"batchwritetimeoutms": su.HUGE_TIMEOUT_MS}}, users=USERS, backend={"connectionmaxactive": 1})
	with su.Session.to(proxy) as s:
		s.insert("INSERT INTO %s (id) VALUES (-1)" % t, 1)      # the catalog, loaded
	pg.sql("DELETE FROM %s" % t)
	sessions = [su.Session.to(proxy, user=USER, params=options(SETTINGS[k])) for k, _ in stmts]

	def send():
		for s, (_, sql) in zip(sessions, stmts):
			s.send(w.msg("Q", sql.encode() + b"\0"))

	b = su.one_batch(pg, proxy, t, blocker, send, len(stmts))
	assert b.read_until("Z") == su.insert_reply(1)
	b.close()
	got = [s.read_until("Z") for s in sessions]
	assert backends_of(pg) == 0, "a session opened a backend of its own"
	for s in sessions:
		s.close()

	assert got == want
	assert [m for m in want if m != su.insert_reply(1)] == ([] if not dup else [want[5]])
	assert dump(pg, t) == dump(pg, "d_" + t)
	fl = su.wait_flushes(proxy, lambda fl: any(f["units"] == len(stmts) for f in fl), table=t)
	assert [f for f in fl if f["units"] == len(stmts)][0]["failed"] == (1 if dup else 0)
	assert su.stats(proxy).sink.get("passthrough_session_settings", 0) == 0


def test_a_conflict_key_that_reads_a_setting_passes_through(setup, make_proxy):
	"""Upserts from a session in Asia/Tokyo: a key with its zone written is
	taken (the writers set the session's TimeZone for the local timestamp
	beside it); a key without one -- an instant only the session's TimeZone
	tells, the same one here -- passes through with its clause."""
	pg = setup
	t = "ss_k"
	opt = options(SETTINGS[1])
	sqls = ["INSERT INTO {t} (k, v, tl) VALUES ('2026-01-01 00:00:00+00', 'zoned', '2026-01-01 00:00:00')",
		"INSERT INTO {t} (k, v, tl) VALUES ('2026-01-01 09:00:00', 'local', '2026-01-01 09:00:00')",
		"INSERT INTO {t} (k, v, tl) VALUES ('2026-01-02 00:00:00+09', 'zoned2', '02/01/2026 00:00:00')"]
	ddl = "CREATE TABLE {t} (k timestamptz PRIMARY KEY, v text, tl timestamp)"
	conflict = " ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v, tl = EXCLUDED.tl"

	pg.sql(ddl.format(t="d_" + t))
	with su.Session.to(pg, user=USER, params=opt) as s:
		want = [s.run(q.format(t="d_" + t) + conflict) for q in sqls]

	pg.sql(ddl.format(t=t))
	proxy = su.start_sink_proxy(make_proxy, {t: {"conflictmode": "upsert", "directwrite": 0}},
		users=USERS, backend={"connectionmaxactive": 1})
	companion = su.Session.to(proxy)    # more sessions than connectionmaxactive: no direct writes
	with su.Session.to(proxy, user=USER, params=opt) as s:
		got = [s.run(q.format(t=t)) for q in sqls[:1]]
		assert backends_of(pg) == 0
		got += [s.run(q.format(t=t)) for q in sqls[1:]]
		assert backends_of(pg) == 1         # the one that passed through opened it
	companion.close()
	assert got == want == [su.insert_reply(1)] * 3
	assert pg.sql("SELECT k, v, tl FROM %s ORDER BY k" % t) == pg.sql("SELECT k, v, tl FROM d_%s ORDER BY k" % t)
	assert [r[1] for r in pg.sql("SELECT k, v FROM %s ORDER BY k" % t)] == ["local", "zoned2"]
	assert su.stats(proxy).sink["passthrough_session_settings"] == 1
	harness.wait_for(lambda: backends_of(pg) == 0, what="the session's backend gone")


AUDIT = """CREATE OR REPLACE FUNCTION ss_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO ss_audit VALUES (NEW.id, current_setting('TimeZone')); RETURN NULL; END $$"""


def test_a_deferred_trigger_reads_its_rows_settings(setup, make_proxy):
	"""A deferred constraint trigger runs at COMMIT: a batch that sets a
	session's settings makes constraints immediate first, so that each row's
	trigger runs with its own session's settings (as directly, where each
	INSERT commits right after it), not with the settings set last."""
	pg = setup
	pg.sql("CREATE TABLE ss_audit (id int, tz text)")
	pg.sql(AUDIT)
	opts = [SETTINGS[1], None, SETTINGS[2]]

	def make(t):
		pg.sql("CREATE TABLE %s (id int PRIMARY KEY, v text)" % t)
		pg.sql("CREATE CONSTRAINT TRIGGER %s_tr AFTER INSERT ON %s DEFERRABLE INITIALLY DEFERRED "
			"FOR EACH ROW EXECUTE FUNCTION ss_audit()" % (t, t))

	make("d_ss_def")
	for i, o in enumerate(opts):
		with su.Session.to(pg, user=USER, params=options(o)) as s:
			s.insert("INSERT INTO d_ss_def VALUES (%d, 'x')" % (10 + i), 1)
	want = pg.sql("SELECT id, tz FROM ss_audit ORDER BY id")
	assert [r[1] for r in want] == ["Asia/Tokyo", "UTC", "America/New_York"]
	pg.sql("TRUNCATE ss_audit")
	make("ss_def")
	proxy = su.start_sink_proxy(make_proxy, {"ss_def": {"conflictmode": "strict", "directwrite": 0,
		"batchsize": 1000, "verbose": 1, "batchwritetimeoutms": su.HUGE_TIMEOUT_MS}}, users=USERS,
		backend={"connectionmaxactive": 1})
	with su.Session.to(proxy) as s:
		s.insert("INSERT INTO ss_def (id) VALUES (-1)", 1)      # the catalog, loaded
	sessions = [su.Session.to(proxy, user=USER, params=options(o)) for o in opts]

	def send():
		for i, s in enumerate(sessions):
			s.send(w.msg("Q", ("INSERT INTO ss_def VALUES (%d, 'x')" % (10 + i)).encode() + b"\0"))

	b = su.one_batch(pg, proxy, "ss_def", "INSERT INTO ss_def (id) VALUES (0)", send, len(opts))
	assert b.read_until("Z") == su.insert_reply(1)
	b.close()
	assert [s.read_until("Z") for s in sessions] == [su.insert_reply(1)] * len(opts)
	for s in sessions:
		s.close()
	su.wait_flushes(proxy, lambda fl: any(f["units"] == len(opts) for f in fl), table="ss_def")
	assert pg.sql("SELECT id, tz FROM ss_audit WHERE id >= 10 ORDER BY id") == want


def test_a_deferred_violation_met_at_a_change_of_settings_is_its_rows_alone(setup, make_proxy):
	"""A deferred foreign key one session's row violates fires where the
	batch changes to another session's settings (SET CONSTRAINTS ALL
	IMMEDIATE): the batch is isolated, that row's statement gets the error,
	the other session's row is written -- as directly."""
	pg = setup
	pg.sql("CREATE TABLE ss_parent (id int PRIMARY KEY)")
	pg.sql("INSERT INTO ss_parent VALUES (1)")
	pg.sql("CREATE TABLE ss_child (id int PRIMARY KEY, p int REFERENCES ss_parent DEFERRABLE INITIALLY DEFERRED)")
	proxy = su.start_sink_proxy(make_proxy, {"ss_child": {"conflictmode": "strict", "exceptionmode": "strict",
		"directwrite": 0, "batchsize": 1000, "verbose": 1, "batchwritetimeoutms": su.HUGE_TIMEOUT_MS}},
		users=USERS, backend={"connectionmaxactive": 1})
	with su.Session.to(proxy) as s:
		s.insert("INSERT INTO ss_child (id, p) VALUES (-1, 1)", 1)     # the catalog, loaded
	opts = [None, SETTINGS[1]]
	sessions = [su.Session.to(proxy, user=USER, params=options(o)) for o in opts]
	rows = ["INSERT INTO ss_child VALUES (10, 999)", "INSERT INTO ss_child VALUES (11, 1)"]

	def send():
		for k, (s, q) in enumerate(zip(sessions, rows)):
			s.send(w.msg("Q", q.encode() + b"\0"))
			harness.wait_for(lambda: su.stats(proxy).sink["queued_rows"] == k + 1, what="in order")

	b = su.one_batch(pg, proxy, "ss_child", "INSERT INTO ss_child (id, p) VALUES (0, 1)", send, 2)
	assert b.read_until("Z") == su.insert_reply(1)
	b.close()
	got = [s.read_until("Z") for s in sessions]
	for s in sessions:
		s.close()
	assert su.error_of(got[0])["C"] == "23503" and got[0][-1] == su.READY_IDLE
	assert got[1] == su.insert_reply(1)
	assert [r[0] for r in pg.sql("SELECT id FROM ss_child ORDER BY id")] == [-1, 0, 11]
