"""A stream of 100k rows with one bad row in a thousand (cycling: a value out
of range, a CHECK violation, a duplicate key under conflictmode=strict), for
each exceptionmode x ackmode. Every good row of every unit that should be
written is in the table and no row of a strict unit that failed is; every bad
row is in the rejects file (one JSON line each, with its SQLSTATE, role,
client and values) and, where the client waits for it, was reported with the
right SQLSTATE. Counts are exact."""

import json
import os

import pytest

import sinkutil as su

ROWS = 100000
PER_STMT = 100
SESSIONS = 4
BAD = {0: ("22003", "s"), 1: ("23514", "v"), 2: ("23505", "k")}


def plan():
	"""Statements of PER_STMT rows; row i is bad when i % 1000 == 999, of kind
	(i // 1000) % 3. A duplicate repeats the key of the row just before it."""
	stmts = []
	for first in range(0, ROWS, PER_STMT):
		rows, bad = [], None
		for i in range(first, first + PER_STMT):
			k, v, s = i, i % 97, i % 100
			if i % 1000 == 999:
				kind = (i // 1000) % 3
				bad = (i, kind)
				if kind == 0:
					s = 40000
				elif kind == 1:
					v = -1
				else:
					k = i - 1
			rows.append((k, v, s))
		stmts.append((rows, bad))
	return stmts


def run_session(proxy, stmts, replies):
	with su.Session.to(proxy) as s:
		for idx, (rows, _) in stmts:
			sql = "INSERT INTO rj VALUES " + ", ".join("(%d, %d, %d)" % r for r in rows)
			replies[idx] = s.run(sql)
		s.ok("SELECT 1")    # read-your-writes: the session's rows are settled


@pytest.mark.parametrize("exc,ack", [("ignore", "commit"), ("ignore", "immediate"),
				      ("strict", "commit"), ("strict", "immediate")])
def test_bad_rows_in_a_stream(pg, make_proxy, tmp_path, exc, ack):
	pg.sql("DROP TABLE IF EXISTS rj")
	pg.sql("CREATE TABLE rj (k int PRIMARY KEY, v int CHECK (v >= 0), s smallint)")
	rejects = str(tmp_path / "rj.rejects.json")
	proxy = su.start_sink_proxy(make_proxy, {"rj": {"conflictmode": "strict", "exceptionmode": exc,
		"ackmode": ack, "batchsize": 5000, "batchwritetimeoutms": 50, "rejectfile": rejects}},
		backend={"connectionmaxactive": 2})
	stmts = plan()
	replies = {}
	shares = [[(i, stmts[i]) for i in range(c, len(stmts), SESSIONS)] for c in range(SESSIONS)]
	su.run_parallel(run_session, [(proxy, share, replies) for share in shares], timeout=600)

	want_keys, bad_rows, refused = set(), [], 0
	for idx, (rows, bad) in enumerate(stmts):
		msgs = replies[idx]
		good = [r for j, r in enumerate(rows) if bad is None or j != bad[0] % PER_STMT]
		if ack == "immediate" and exc == "strict" and su.error_of(msgs) is not None:
			# the table stopped after an acknowledged statement had a bad row
			err = su.error_of(msgs)
			assert err["C"] == "55000" and '"public"."rj"' in err["M"], su.show(msgs)
			refused += 1
			continue
		if bad is not None:
			bad_rows.append(bad)
		if ack == "immediate":
			assert msgs == su.insert_reply(len(rows)), su.show(msgs)
		elif bad is None:
			assert msgs == su.insert_reply(len(rows)), su.show(msgs)
		elif exc == "ignore":
			notices = [su.w.fields(p) for t, p in msgs if t == "N"]
			assert [n["C"] for n in notices] == [BAD[bad[1]][0]], su.show(msgs)
			assert su.tags_of(msgs) == ["INSERT 0 %d" % (len(rows) - 1)], su.show(msgs)
		else:
			err = su.error_of(msgs)
			assert err is not None and err["C"] == BAD[bad[1]][0], su.show(msgs)
		if bad is None or exc == "ignore":
			want_keys.update(r[0] for r in good)
	got = [r[0] for r in pg.sql("SELECT k FROM rj ORDER BY k")]
	assert len(got) == len(want_keys) and set(got) == want_keys

	if not (exc == "strict" and ack == "immediate"):
		assert refused == 0 and len(bad_rows) == ROWS // 1000
	st = su.stats(proxy)
	if exc == "strict" and ack == "commit":
		# each client heard of its statement's bad row (above): nothing to keep
		assert not os.path.exists(rejects) and st.sink["rows_rejected_file"] == 0, st
		return
	with open(rejects) as f:
		lines = [json.loads(line) for line in f]
	if exc == "strict":
		# acknowledged statements with a bad row: every row of each is kept,
		# the statement's error on each
		assert len(lines) == PER_STMT * len(bad_rows) == st.sink["rows_rejected_file"], st
		for i, kind in bad_rows:
			first = i - i % PER_STMT
			mine = [ln for ln in lines if first <= int(ln["values"]["k"]) < first + PER_STMT]
			assert len(mine) == PER_STMT and {ln["sqlstate"] for ln in mine} == {BAD[kind][0]}, mine[:2]
		return
	assert len(lines) == len(bad_rows) and all(ln["row"] for ln in lines)
	by_key = {}
	for line in lines:
		assert line["table"] == "public.rj" and line["role"] == "postgres", line
		assert line["client"] and line["client"].startswith("127.0.0.1"), line
		by_key.setdefault(int(line["values"]["k"]), []).append(line)
	for i, kind in bad_rows:
		k = i - 1 if kind == 2 else i
		found = [ln for ln in by_key.get(k, []) if ln["sqlstate"] == BAD[kind][0]]
		assert len(found) == 1, (i, kind, by_key.get(k))
		assert found[0]["message"]
	assert st.sink["rows_rejected_file"] == len(bad_rows), st
	assert os.path.getsize(rejects) > 0


def test_strict_immediate_stops_the_table(pg, make_proxy, tmp_path):
	"""exceptionmode=strict with ackmode=immediate: the statement was acknowledged
	before its bad row was refused. The table then takes no INSERT (55000, naming
	it) until SIGUSR2; the bad row is kept in the rejects file."""
	import signal
	import harness
	pg.sql("DROP TABLE IF EXISTS stopme")
	pg.sql("CREATE TABLE stopme (k int PRIMARY KEY, v int CHECK (v >= 0))")
	rejects = str(tmp_path / "stop.json")
	proxy = su.start_sink_proxy(make_proxy, {"stopme": {"exceptionmode": "strict", "ackmode": "immediate",
		"batchwritetimeoutms": 20, "rejectfile": rejects}})
	with su.Session.to(proxy) as s:
		s.insert("INSERT INTO stopme VALUES (1, 1), (2, -2)", 2)       # acknowledged, then refused
		harness.wait_for(lambda: "stops taking rows" in proxy.log(), what="the table stopping")
		err = su.error_of(s.run("INSERT INTO stopme VALUES (3, 3)"))
		assert err is not None and err["C"] == "55000" and '"public"."stopme"' in err["M"], err
		mark = len(proxy.log())
		proxy.signal(signal.SIGUSR2)
		harness.wait_for(lambda: "takes rows again" in proxy.log()[mark:], what="the table resuming")
		s.insert("INSERT INTO stopme VALUES (4, 4)", 1)
		assert s.rows("SELECT k FROM stopme ORDER BY k") == [["4"]]
	with open(rejects) as f:
		lines = [json.loads(line) for line in f]
	assert sorted((ln["sqlstate"], ln["row"], ln["values"]["k"]) for ln in lines) == \
		[("23514", False, "1"), ("23514", False, "2")]


def test_rejects_file_reopened_on_sighup(pg, make_proxy, tmp_path):
	"""logrotate: the file is renamed, pgbatchd gets SIGHUP, and the next refused
	row goes to a new file at the configured path; the old file keeps its lines."""
	import signal
	import harness
	pg.sql("DROP TABLE IF EXISTS rotated")
	pg.sql("CREATE TABLE rotated (k int PRIMARY KEY, v int CHECK (v >= 0))")
	path = str(tmp_path / "rotated.json")
	proxy = su.start_sink_proxy(make_proxy, {"rotated": {"ackmode": "commit", "rejectfile": path}})
	with su.Session.to(proxy) as s:
		msgs = s.run("INSERT INTO rotated VALUES (1, -1), (2, 2)")
		assert su.tags_of(msgs) == ["INSERT 0 1"], su.show(msgs)
		os.rename(path, path + ".1")
		mark = len(proxy.log())
		proxy.signal(signal.SIGHUP)
		proxy.wait_log(r"configuration reloaded", start=mark)
		msgs = s.run("INSERT INTO rotated VALUES (3, -3)")
		assert su.tags_of(msgs) == ["INSERT 0 0"], su.show(msgs)
	with open(path + ".1") as f:
		old = [json.loads(line)["values"]["k"] for line in f]
	harness.wait_for(lambda: os.path.exists(path), what="the new rejects file")
	with open(path) as f:
		new = [json.loads(line)["values"]["k"] for line in f]
	assert (old, new) == (["1"], ["3"])
