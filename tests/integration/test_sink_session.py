"""Sessions around the sink: replies stay in order in pipelines that mix intercepted INSERTs and other statements, one message larger than batchsize, a client that leaves before its reply (its rows are still written), a configured table created after pgbatchd started, and backpressure at max_buffer_bytes (bounded memory, no stall)."""

import signal
import socket
import threading
import time

import pytest

import harness
import sinkutil as su

DDL = "CREATE TABLE {t} (k int PRIMARY KEY, v text)"


def rows(table, start, n, pad=""):
	return su.insert_sql(table, None, [[str(i), "'%s%d'" % (pad, i)] for i in range(start, start + n)])


@pytest.mark.parametrize("ackmode", ["commit", "immediate"])
def test_pipeline_mixing_inserts_and_reads(pg, make_proxy, ackmode):
	"""Replies come back in the order of the Queries; each read sees the rows sent before it."""
	t = "pl_" + ackmode
	pg.sql(DDL.format(t=t))
	proxy = su.start_sink_proxy(make_proxy, {t: {"ackmode": ackmode, "adaptiveflush": 0, "batchsize": 1000,
		"batchwritetimeoutms": 5000}})
	sqls = [rows(t, 0, 2), "SELECT count(*) FROM %s" % t, rows(t, 2, 1), rows(t, 3, 3),
		"SELECT count(*) FROM %s" % t, "SELECT 1/0", rows(t, 6, 1), "INSERT INTO %s VALUES (7, 'seven')" % t,
		"SELECT count(*), max(k) FROM %s" % t]
	with su.Session.to(proxy) as s:
		got = s.pipeline(sqls)
	with su.Session.to(pg) as d:
		d.ok("CREATE TABLE %s_ref (LIKE %s INCLUDING ALL)" % (t, t))
		want = d.pipeline([q.replace(t, t + "_ref") for q in sqls])
	for i in range(len(sqls)):
		assert got[i] == want[i], "%s\n direct:\n%s\n proxy:\n%s" % (sqls[i], su.show(want[i]), su.show(got[i]))
	assert su.error_of(got[5])["C"] == "22012"
	assert su.dump(pg, t, "k") == su.dump(pg, t + "_ref", "k")


def test_message_larger_than_batchsize(pg, make_proxy):
	"""One INSERT of 2500 rows, batchsize 100: one unit, never split across
	transactions, so its batch exceeds batchsize; answered once, after commit.
	The INSERTs around it keep to batchsize."""
	pg.sql(DDL.format(t="big"))
	proxy = su.start_sink_proxy(make_proxy, {"big": {"batchsize": 100, "ackmode": "commit", "verbose": 1,
		"directwrite": 0}},
		backend={"connectionmaxactive": 3})
	with su.Session.to(proxy) as s:
		s.insert(rows("big", 0, 2500), 2500)
		# the reply came after commit: everything is there without any barrier
		assert su.count(pg, "big") == 2500
		for msgs in s.pipeline([rows("big", 2500 + 3 * i, 3) for i in range(100)]):
			assert msgs == su.insert_reply(3), su.show(msgs)
	fl = su.flushes(proxy, table="big")
	assert fl[0]["rows"] == 2500 and fl[0]["units"] == 1, fl
	assert sum(f["rows"] for f in fl) == 2800 and max(f["rows"] for f in fl[1:]) <= 100, fl


@pytest.mark.parametrize("ackmode", ["commit", "immediate"])
def test_client_leaving_before_its_reply(pg, make_proxy, ackmode):
	"""The rows of a session that ends (even abruptly) are written all the same."""
	t = "gone_" + ackmode
	pg.sql(DDL.format(t=t))
	proxy = su.start_sink_proxy(make_proxy, {t: {"ackmode": ackmode, "adaptiveflush": 0,
		"batchwritetimeoutms": 300}})
	s = su.Session.to(proxy)
	s.send(su.w.query(rows(t, 0, 5)) + su.w.query(rows(t, 5, 5)))
	s.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
	s.close()   # RST, no Terminate
	su.wait_count(pg, t, 10)
	# and the proxy is fine
	with su.Session.to(proxy) as s2:
		s2.insert(rows(t, 10, 1), 1)


def test_table_created_after_start(pg, make_proxy):
	"""A configured table that does not exist yet: INSERTs fail as directly (42P01);
	once it is created (through the proxy), they work."""
	proxy = su.start_sink_proxy(make_proxy, {"later": {}})
	with su.Session.to(proxy) as s:
		err = su.error_of(s.run("INSERT INTO later VALUES (1, 'a')"))
		assert err is not None and err["C"] == "42P01", err
		s.ok(DDL.format(t="later"))
		s.insert("INSERT INTO later VALUES (1, 'a')", 1)
		time.sleep(1.2)   # past any "table missing" re-check interval: now the sink takes it
		s.insert("INSERT INTO later VALUES (2, 'b')", 1)
	assert pg.sql("SELECT k FROM later ORDER BY k") == [(1,), (2,)]
	st = su.stats(proxy)
	assert st.sink["rows_in"] >= 1, st


@pytest.mark.parametrize("adaptiveflush", [1, 0])
def test_backpressure_bounded_and_no_stall(pg, make_proxy, adaptiveflush):
	"""max_buffer_bytes = 1 MiB, ackmode=immediate, 6 MB then 18 MB of rows pipelined: the
	proxy stops reading while the buffer is full and the sink must drain it (also when
	no other trigger would fire: adaptiveflush 0, huge batchsize and timeout), so every
	row is acknowledged; and memory does not grow with the input."""
	t = "bp_%d" % adaptiveflush
	pg.sql(DDL.format(t=t))
	proxy = su.start_sink_proxy(make_proxy, {t: {"ackmode": "immediate", "adaptiveflush": adaptiveflush,
		"batchsize": su.HUGE_BATCH, "batchwritetimeoutms": su.HUGE_TIMEOUT_MS, "verbose": 1}},
		pgbatchd={"max_buffer_bytes": 1048576},
		# ASan keeps freed memory in a quarantine (256 MB by default) that counts in VmHWM
		asan_options={"quarantine_size_mb": "4", "thread_local_quarantine_size_kb": "64"})
	pad = "x" * 1000
	hwm = [proxy.proc_status("VmHWM")]
	result = {}

	def client():
		try:
			with su.Session.to(proxy, timeout=30) as s:
				start = 0
				for n in (6000, 18000):
					replies = s.pipeline([rows(t, i, 1, pad) for i in range(start, start + n)])
					assert all(r == su.insert_reply(1) for r in replies)
					start += n
					hwm.append(proxy.proc_status("VmHWM"))
				result["count"] = s.rows("SELECT count(*) FROM %s" % t)
		except Exception as e:
			result["error"] = e

	th = threading.Thread(target=client)
	th.start()
	th.join(120)
	assert not th.is_alive(), "client still waiting for acknowledgements: pgbatchd stalled"
	assert "error" not in result, "client failed (pgbatchd stalled?): %r" % result.get("error")
	assert result["count"] == [["24000"]]
	# three times the input after the first round: the peak hardly moves
	assert hwm[2] - hwm[1] < 6 * 1024, "VmHWM %r kB: grows with the input" % hwm
	assert hwm[2] - hwm[0] < 40 * 1024, "VmHWM %r kB" % hwm


def test_shutdown_takes_nothing_more_when_the_sink_has_room_again(pg, make_proxy):
	"""A client stopped because the sink is full (max_buffer_bytes, its table
	locked) when SIGTERM starts the drain: once the lock goes and the sink has
	room again, pgbatchd takes no more of its messages -- neither those still
	in the socket nor those it had read but not taken. The rows that land are
	exactly those taken before the signal (each acknowledged), and pgbatchd
	exits 0."""
	t = "sd_room"
	pg.sql(DDL.format(t=t))
	proxy = su.start_sink_proxy(make_proxy, {t: {"ackmode": "immediate", "batchsize": su.HUGE_BATCH,
		"batchwritetimeoutms": su.HUGE_TIMEOUT_MS}}, backend={"connectionmaxactive": 1},
		pgbatchd={"max_buffer_bytes": 1048576, "shutdown_timeout": 60})
	pad = "x" * 1000
	locker = su.lock_table(pg, t)
	s = su.Session.to(proxy, timeout=60)
	def send_all():
		try:
			s.sock.sendall(b"".join(su.w.query(rows(t, i, 1, pad)) for i in range(4000)))
		except OSError:
			pass        # (pgbatchd closes the session before reading it all)
	sender = threading.Thread(target=send_all, daemon=True)
	try:
		# the first batch waits on the lock, the rest fills the buffer
		with su.Session.to(proxy) as first:
			first.send(su.w.query(rows(t, -1, 1)))
			harness.wait_for(lambda: su.waiting_on_lock(pg) == 1, what="the first batch waiting")
		sender.start()
		harness.wait_for(lambda: su.stats(proxy).sink["buffered_bytes"] > 1048576, what="the sink full")
		taken = su.stats(proxy).intercept["messages"] - 1
		assert 500 < taken < 4000
		proxy.signal(signal.SIGTERM)
		proxy.wait_log(r"shutdown requested")
	finally:
		locker.execute("COMMIT")
		locker.close()
	assert proxy.proc.wait(60) == 0
	acked = 0
	try:
		while True:
			t_, p_ = s.read_msg(timeout=10)
			if t_ == "C":
				acked += 1
			elif t_ == "E":
				assert su.w.fields(p_)["C"] == "57P01"
				break
	except (OSError, su.w.ProtocolError):
		pass
	s.close()
	assert su.count(pg, t) == taken + 1
	assert acked == taken
