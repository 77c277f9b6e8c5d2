"""Serial equivalence with sessions that change what an INSERT means between
INSERTs: search_path (an unqualified name then resolves to a shadowing table in
another schema, which pgbatchd must leave alone), the current role (SET ROLE:
the rows are written as that role, and `DEFAULT current_user` records it), and
TimeZone (a timestamp without a zone is read in the session's zone). Seeded
random workloads from three concurrent clients; the reference runs each
client's statements directly, one row at a time with the upsert clause, in a
session that makes the same changes in the same order. Both tables, the
configured one and its shadow, must come out the same, and every INSERT gets
the reply PostgreSQL gives."""

import random

import pytest

import sinkutil as su

CLIENTS = 3
KEYS_PER_CLIENT = 5
STEPS_PER_CLIENT = 60
ZONES = ["UTC", "Asia/Kolkata", "America/St_Johns", "Pacific/Chatham"]
STAMPS = ["'2024-03-01 10:00'", "'2024-07-15 23:30:05'", "'2024-01-01 00:00+05'", "NULL", "DEFAULT"]
COLS = ["k", "a", "ts"]


def create(pg, t):
	pg.sql("CREATE TABLE public.%s (k int PRIMARY KEY, a int, ts timestamptz, who text DEFAULT current_user)" % t)
	pg.sql("CREATE TABLE shadow.%s (k int, a int, ts timestamptz, who text DEFAULT current_user)" % t)
	pg.sql("GRANT ALL ON public.%s, shadow.%s TO ser_role" % (t, t))


def gen_client(rnd, client):
	"""Steps: ("set", sql) or ("insert", cols, rows, shadowed); `shadowed`: the
	unqualified name resolves to shadow.<t> when the INSERT runs."""
	keys = [client + CLIENTS * i for i in range(KEYS_PER_CLIENT)]
	steps, shadow_first = [], False
	for _ in range(STEPS_PER_CLIENT):
		r = rnd.random()
		if r < 0.08:
			shadow_first = not shadow_first
			steps.append(("set", "SET search_path = shadow, public" if shadow_first else
				"SET search_path TO public"))
		elif r < 0.15:
			steps.append(("set", rnd.choice(["SET ROLE ser_role", "RESET ROLE"])))
		elif r < 0.24:
			steps.append(("set", "SET TimeZone = '%s'" % rnd.choice(ZONES)))
		else:
			qualified = rnd.random() < 0.2
			cols = ["k"] + rnd.sample(COLS[1:], rnd.randint(0, 2))
			rows = []
			# distinct keys in one statement: one that passes through (a zone the
			# sink does not share) is one INSERT ... ON CONFLICT, where a repeated
			# key is PostgreSQL's 21000
			for k in rnd.sample(keys, 1 if rnd.random() < 0.7 else rnd.randint(2, 3)):
				vals = {"k": str(k), "a": str(rnd.randint(-9, 9)), "ts": rnd.choice(STAMPS)}
				rows.append([vals[c] for c in cols])
			steps.append(("insert", cols, rows, shadow_first and not qualified, qualified))
	return steps


def insert_sql(t, step):
	_, cols, rows, _, qualified = step
	return "INSERT INTO %s%s (%s) VALUES %s" % ("public." if qualified else "", t, ", ".join(cols),
		", ".join("(%s)" % ", ".join(r) for r in rows))


def reference(pg, t, steps):
	import psycopg
	upd = " ON CONFLICT (k) DO UPDATE SET a = EXCLUDED.a, ts = EXCLUDED.ts, who = EXCLUDED.who"
	with pg.connect() as conn:
		conn.autocommit = True
		for step in steps:
			if step[0] == "set":
				conn.execute(step[1])
			elif step[3]:
				conn.execute(insert_sql(t, step))     # the shadow table: as sent
			else:
				_, cols, rows, _, qualified = step
				for r in rows:
					conn.execute("INSERT INTO %s%s (%s) VALUES (%s)" % ("public." if qualified else "", t,
						", ".join(cols), ", ".join(r)) + upd)


def run_client(proxy, t, steps):
	with su.Session.to(proxy) as s:
		for step in steps:
			if step[0] == "set":
				s.ok(step[1])
			else:
				sql = insert_sql(t, step)
				msgs = s.run(sql)
				assert msgs == su.insert_reply(len(step[2])), "%s\n%s" % (sql, su.show(msgs))
		s.ok("SELECT 1")     # readyourwrites: every row of the session is committed


@pytest.mark.parametrize("writemode,ackmode", [(0, "commit"), (1, "immediate"), (2, "commit")])
def test_serial_equivalence_with_session_changes(pg, make_proxy, writemode, ackmode):
	pg.sql("DO $$BEGIN CREATE ROLE ser_role; EXCEPTION WHEN duplicate_object THEN NULL; END$$")
	pg.sql("CREATE SCHEMA IF NOT EXISTS shadow")
	pg.sql("GRANT USAGE ON SCHEMA shadow TO ser_role")
	t = "sers_w%d_%s" % (writemode, ackmode)
	create(pg, t)
	create(pg, t + "_ref")
	rnd = random.Random(77 + writemode)
	clients = [gen_client(rnd, c) for c in range(CLIENTS)]
	proxy = su.start_sink_proxy(make_proxy, {t: {"writemode": writemode, "ackmode": ackmode, "batchsize": 9,
		"batchwritetimeoutms": 20, "copystageminrows": 1}}, backend={"connectionmaxactive": 2})
	su.run_parallel(run_client, [(proxy, t, steps) for steps in clients])
	for steps in clients:
		reference(pg, t + "_ref", steps)
	for schema in ("public", "shadow"):
		order = "k, a, ts, who"
		got = pg.sql("SELECT k, a, ts::text, who FROM %s.%s ORDER BY %s" % (schema, t, order))
		want = pg.sql("SELECT k, a, ts::text, who FROM %s.%s_ref ORDER BY %s" % (schema, t, order))
		assert got == want, schema
	taken = sum(len(s[2]) for steps in clients for s in steps if s[0] == "insert" and not s[3])
	shadowed = sum(1 for steps in clients for s in steps if s[0] == "insert" and s[3])
	assert shadowed > 0 and any(s[1] == "SET ROLE ser_role" for steps in clients for s in steps)
	st = su.stats(proxy)
	# every INSERT into the configured table is taken, except those whose literal
	# reads by a TimeZone the sink's connections do not share (they pass through)
	assert 0 < st.sink["rows_in"] <= taken, st
	assert st.sink["passthrough_search_path"] == shadowed, st
	assert st.sink["rows_in"] + st.sink["passthrough_session_settings_rows"] == taken \
		if "passthrough_session_settings_rows" in st.sink else True
