"""The admin console at its edges (issue 20, from a review and a hostile run): a client that does not read its answers is not read either; input pipelined behind a waiting FLUSH is all answered; SHUTDOWN between two FLUSHes and through the extended protocol is carried out after its answer; quoted names as PostgreSQL reads them; long queries; Execute's row limit; several statements in one Parse; any number of prepared statements; the unnamed portal ends at Sync; a failed transaction block; result formats that do not fit; a paused table removed by RELOAD; FLUSH of a table paused while it waits; held flushes counted once per held batch; HEAD on a keep-alive metrics connection."""

import http.client
import re
import socket
import threading

import psycopg
import pytest

import harness
import pgwire as w
import sinkutil as su

HUGE = {"ackmode": "immediate", "batchsize": 100000, "batchwritetimeoutms": 86400000, "adaptiveflush": 0}


def tables(pg, *names):
	for t in names:
		pg.sql("DROP TABLE IF EXISTS %s; CREATE TABLE %s (id int PRIMARY KEY)" % (t, t))


def start(make_proxy, tabs, **pgb):
	opts = {"admin_users": "postgres", "stats_users": "watcher"}
	opts.update(pgb.pop("pgbatchd", {}))
	return su.start_sink_proxy(make_proxy, tabs, pgbatchd=opts, **pgb)


def console(proxy, user="postgres", timeout=30):
	c = w.Conn(proxy.host, proxy.port, timeout=timeout)
	c.login(user, "pgbatchd")
	return c


def types(msgs):
	return "".join(t for t, _ in msgs)


def buffer_rows(proxy, table, ids):
	with psycopg.connect(host=proxy.host, port=proxy.port, user="postgres", dbname="postgres",
			autocommit=True) as c:
		for i in ids:
			c.execute("INSERT INTO %s VALUES (%d)" % (table, i))


def table_state(proxy, table):
	with console(proxy) as k:
		for t, p in k.simple("SHOW TABLES"):
			if t == "D" and w.datarow(p)[0] == table.encode():
				row = w.datarow(p)
				return row[4].decode(), int(row[9]), int(row[13])      # state, buffered, held


def test_a_client_that_does_not_read_is_not_read(pg, make_proxy):
	"""A stats user pipelines SHOW CONFIG and reads nothing: pgbatchd stops
	reading it once its answers back up (its sends block), and its memory
	stays bounded; the answers all come once it reads."""
	tables(pg, "ke_m")
	proxy = start(make_proxy, {"ke_m": {}})
	c = console(proxy, user="watcher")
	before = proxy.proc_status("VmRSS")
	blob = w.query(";".join(["SHOW CONFIG"] * 100))
	c.sock.settimeout(5)
	sent = 0
	with pytest.raises(socket.timeout):
		for _ in range(20000):
			c.sock.sendall(blob)
			sent += 1
	grown = proxy.proc_status("VmRSS") - before
	assert sent < 20000, "pgbatchd read every query without the client reading an answer"
	assert grown < 64 * 1024, "pgbatchd grew by %d KB for a client that does not read" % grown
	c.sock.settimeout(60)
	ready = 0
	while ready < sent:
		t, _ = c.read_msg(60)
		ready += t == "Z"
	c.close()


def test_input_behind_a_waiting_flush_is_all_answered(pg, make_proxy):
	"""A FLUSH waits for a locked table; 1.2 MB of queries pipelined behind
	it (past the input cap) are all answered once it is."""
	tables(pg, "ke_s")
	proxy = start(make_proxy, {"ke_s": HUGE})
	buffer_rows(proxy, "ke_s", range(5))
	locker = su.lock_table(pg, "ke_s")
	k = console(proxy)
	n = 70000
	try:
		k.send(w.query("FLUSH ke_s"))
		harness.wait_for(lambda: su.waiting_on_lock(pg) == 1, timeout=30, what="the FLUSH's batch to wait")
		writer = threading.Thread(target=lambda: k.sock.sendall(w.query("SHOW VERSION") * n))
		writer.start()
		harness.wait_for(lambda: proxy.proc_status("VmRSS") > 0, what="pgbatchd")
	finally:
		locker.execute("COMMIT")
		locker.close()
	got = 0
	first = None
	while got < n + 1:
		t, p = k.read_msg(60)
		if first is None:
			first = (t, p)
		got += t == "Z"
	writer.join(60)
	k.close()
	assert first == ("C", b"FLUSH\0")
	assert su.count(pg, "ke_s") == 5


def test_shutdown_between_two_flushes(pg, make_proxy):
	tables(pg, "ke_d")
	proxy = start(make_proxy, {"ke_d": {}})
	k = console(proxy)
	k.send(w.query("FLUSH; SHUTDOWN; FLUSH"))
	got = k.read_until("Z")
	assert su.tags_of(got) == ["FLUSH", "SHUTDOWN", "FLUSH"]
	t, p = k.read_msg(60)
	assert t == "E" and w.fields(p)["C"] == "57P01"
	k.close()
	assert proxy.proc.wait(60) == 0


def test_shutdown_through_the_extended_protocol(pg, make_proxy):
	"""Parse/Bind/Execute SHUTDOWN and Sync: ParseComplete, BindComplete,
	CommandComplete and ReadyForQuery, as PostgreSQL answers a command, then
	the shutdown (57P01)."""
	tables(pg, "ke_x")
	proxy = start(make_proxy, {"ke_x": {}})
	k = console(proxy)
	k.send(w.parse("", "SHUTDOWN") + w.bind("", "") + w.execute("") + w.sync())
	got = k.read_until("Z")
	assert types(got) == "12CZ" and su.tags_of(got) == ["SHUTDOWN"]
	t, p = k.read_msg(60)
	assert t == "E" and w.fields(p)["C"] == "57P01"
	k.close()
	assert proxy.proc.wait(60) == 0


def test_names_and_statements_as_postgresql_reads_them(pg, make_proxy):
	tables(pg, "ke_p1", "ke_p2")
	proxy = start(make_proxy, {"ke_p1": {}, "ke_p2": {}})
	k = console(proxy)

	def err(sql):
		return su.error_of(k.simple(sql))

	e = err('PAUSE ""')
	assert (e["C"], e["M"]) == ("42601", "zero-length delimited identifier")
	assert table_state(proxy, "public.ke_p1")[0] == "writing"
	e = err('FLUSH "ke_p1')
	assert (e["C"], e["M"]) == ("42601", "unterminated quoted identifier")
	e = err('FLUSH "KE_P1"')
	assert (e["C"], e["M"]) == ("42P01", 'table "KE_P1" is not configured')
	e = err('FLUSH "a;b"')
	assert (e["C"], e["M"]) == ("42P01", 'table "a;b" is not configured')
	assert su.tags_of(k.simple('PAUSE "ke_p1" -- a comment; SHOW NOTHING')) == ["PAUSE"]
	assert table_state(proxy, "public.ke_p1")[0] == "paused"
	assert su.tags_of(k.simple("RESUME PUBLIC.KE_P1 /* ; */")) == ["RESUME"]
	assert table_state(proxy, "public.ke_p1")[0] == "writing"
	# a Query of 20,000 bytes
	got = k.simple("SHOW VERSION" + " " * 20000)
	assert su.tags_of(got) == ["SHOW 1"]
	# an embedded NUL
	k.send(w.msg("Q", b"SHOW VERSION\0SHUTDOWN\0"))
	got = k.read_until("Z")
	assert su.error_of(got)["C"] == "08P01"
	# a transaction block that failed
	got = k.simple("BEGIN; SHOW NOTHING")
	assert got[-1] == ("Z", b"E")
	assert su.error_of(k.simple("SHOW VERSION"))["C"] == "25P02"
	got = k.simple("COMMIT")
	assert su.tags_of(got) == ["ROLLBACK"] and got[-1] == ("Z", b"I")
	k.close()


def test_extended_protocol_as_postgresql_answers(pg, make_proxy):
	tables(pg, "ke_e")
	proxy = start(make_proxy, {"ke_e": {}})
	k = console(proxy)
	# Execute's row limit: one row at a time, PortalSuspended between
	k.send(w.parse("", "SHOW HELP") + w.bind("", "") + w.execute("", 1) + w.execute("", 1) + w.sync())
	assert types(k.read_until("Z")) == "12DsDsZ"
	k.send(w.parse("", "SHOW VERSION") + w.bind("", "") + w.execute("", 5) + w.sync())
	assert types(k.read_until("Z")) == "12DCZ"
	# several statements in one Parse
	k.send(w.parse("", "SHOW VERSION; SHUTDOWN") + w.bind("", "") + w.execute("") + w.sync())
	got = k.read_until("Z")
	assert types(got) == "EZ" and w.fields(got[0][1])["C"] == "42601"
	# 40 named statements, then the unnamed one
	k.send(b"".join(w.parse("s%d" % i, "SHOW VERSION") for i in range(40)) + w.sync())
	assert types(k.read_until("Z")) == "1" * 40 + "Z"
	k.send(w.parse("n" * 300, "SHOW VERSION") + w.parse("", "SHOW VERSION") + w.bind("", "") + w.execute("")
		+ w.sync())
	assert types(k.read_until("Z")) == "112DCZ"
	# the unnamed portal ends with its Sync
	k.send(w.execute("") + w.sync())
	got = k.read_until("Z")
	assert types(got) == "EZ" and w.fields(got[0][1])["C"] == "34000"
	# result formats that do not fit the columns
	k.send(w.parse("", "SHOW STATS") + w.bind("", "", result_formats=[1, 1, 1]) + w.execute("") + w.sync())
	got = k.read_until("Z")
	assert types(got) == "12EZ" and w.fields(got[2][1])["C"] == "08P01"
	assert w.fields(got[2][1])["M"].startswith("bind message has 3 result formats but query has ")
	# messages with bytes after their end
	for m in (w.msg("P", b"\0SHOW VERSION\0\0\0junk"), w.msg("C", b"Xname\0"), w.msg("S", b"junk")):
		k.send(m + w.sync())
		got = k.read_until("Z")
		assert types(got) == "EZ" and w.fields(got[0][1])["C"] == "08P01", got
	k.close()


def test_a_paused_table_removed_by_reload_is_written(pg, make_proxy):
	"""PAUSE t, a commit-mode INSERT waits; a RELOAD that removes t's section
	writes what it holds (as a removed table does), the client gets its
	answer, and SHOW TABLES says removed."""
	tables(pg, "ke_r1", "ke_r2")
	proxy = start(make_proxy, {"ke_r1": {}, "ke_r2": {"ackmode": "commit", "batchwritetimeoutms": 20}})
	k = console(proxy)
	assert su.tags_of(k.simple("PAUSE ke_r2")) == ["PAUSE"]
	s = su.Session.to(proxy)
	s.send(w.query("INSERT INTO ke_r2 VALUES (1)"))
	harness.wait_for(lambda: table_state(proxy, "public.ke_r2")[1] == 1, what="the row buffered")
	text = open(proxy.cfg_path).read()
	with open(proxy.cfg_path, "w") as f:
		f.write(re.sub(r"\[table ke_r2\][^\[]*", "", text))
	assert su.tags_of(k.simple("RELOAD")) == ["RELOAD"]
	assert su.tags_of(s.read_until("Z")) == ["INSERT 0 1"]
	assert su.count(pg, "ke_r2") == 1
	assert table_state(proxy, "public.ke_r2")[:2] == ("removed", 0)
	k.close()
	s.close()


def test_flush_of_a_table_paused_while_it_waits(pg, make_proxy):
	"""FLUSH t waits for a locked batch; its later rows are paused by another
	console: the FLUSH fails with 55000 rather than claim they are written."""
	tables(pg, "ke_f")
	proxy = start(make_proxy, {"ke_f": dict(HUGE, batchsize=2)}, backend={"connectionmaxactive": 1})
	buffer_rows(proxy, "ke_f", range(2))            # one batch of 2 (batchsize), written at once
	su.wait_count(pg, "ke_f", 2)
	locker = su.lock_table(pg, "ke_f")
	try:
		buffer_rows(proxy, "ke_f", range(10, 14))   # a batch of 2 waits for the lock, 2 queued behind it
		harness.wait_for(lambda: su.waiting_on_lock(pg) == 1, timeout=30, what="the batch to wait")
		k = console(proxy)
		k.send(w.query("FLUSH ke_f"))
		with console(proxy) as k2:
			assert su.tags_of(k2.simple("PAUSE ke_f")) == ["PAUSE"]
	finally:
		locker.execute("COMMIT")
		locker.close()
	got = k.read_until("Z")
	assert su.error_of(got)["C"] == "55000", got
	assert su.count(pg, "ke_f") == 4                # the batch that waited; the 2 behind it are paused
	assert table_state(proxy, "public.ke_f")[:2] == ("paused", 2)
	assert su.tags_of(k.simple("RESUME")) == ["RESUME"]
	su.wait_count(pg, "ke_f", 6)
	k.close()


def test_held_flushes_count_held_batches(pg, make_proxy):
	"""One held head, then 100 more rows queued behind it: one held flush,
	not one per row."""
	tables(pg, "ke_h")
	proxy = start(make_proxy, {"ke_h": {"ackmode": "immediate", "batchwritetimeoutms": 20}},
		backend={"connectionmaxactive": 1})
	with console(proxy) as k:
		assert su.tags_of(k.simple("PAUSE ke_h")) == ["PAUSE"]
	buffer_rows(proxy, "ke_h", [0])
	harness.wait_for(lambda: table_state(proxy, "public.ke_h")[2] >= 1, what="the flush held")
	buffer_rows(proxy, "ke_h", range(1, 101))
	assert table_state(proxy, "public.ke_h") == ("paused", 101, 1)
	with console(proxy) as k:
		assert su.tags_of(k.simple("RESUME")) == ["RESUME"]
	su.wait_count(pg, "ke_h", 101)


def test_metrics_head_on_a_keep_alive_connection(pg, make_proxy):
	tables(pg, "ke_m2")
	port = harness.free_port()
	start(make_proxy, {"ke_m2": {}}, pgbatchd={"metrics_port": port})
	c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
	try:
		c.request("HEAD", "/metrics")
		r = c.getresponse()
		assert r.status == 200 and r.read() == b""
		assert int(r.headers["Content-Length"]) > 1000
		c.request("GET", "/metrics")
		r = c.getresponse()
		body = r.read()
		assert r.status == 200 and b"pgbatchd_info" in body
	finally:
		c.close()
