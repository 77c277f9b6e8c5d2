"""Hostile clients: each gets a clean error or a close, pgbatchd's memory stays
bounded, and other clients are unaffected. (Garbage bytes, a 2 GB declared
length and bad startup packets of every kind are in test_malformed.py.)

RSS bound: every case below must leave pgbatchd's resident memory under
RSS_BOUND_MB. Under ASan the proxies here run with a small quarantine
(ASan otherwise keeps up to 256 MB of freed memory resident, which would
measure ASan, not pgbatchd)."""

import socket
import struct
import time

import harness
import pgwire as w
import sinkutil as su

RSS_BOUND_MB = 150
SMALL_QUARANTINE = {"quarantine_size_mb": "4"}


def rss_mb(proxy):
	with open("/proc/%d/status" % proxy.pid) as f:
		for line in f:
			if line.startswith("VmRSS:"):
				return int(line.split()[1]) // 1024
	raise AssertionError("no VmRSS")


def healthy(proxy):
	with su.Session.to(proxy) as s:
		assert s.rows("SELECT 1") == [["1"]]


def closed_by_peer(sock):
	"""True once the peer closed (EOF or reset); False while it is open."""
	sock.setblocking(False)
	try:
		data = sock.recv(65536)
		return data == b""
	except BlockingIOError:
		return False
	except (ConnectionResetError, BrokenPipeError):
		return True
	finally:
		sock.setblocking(True)


def test_slowloris_startup_is_dropped(pg, make_proxy):
	"""One byte of the startup packet at a time: after authentication_timeout the
	connection is closed without a word (as PostgreSQL does), and meanwhile
	other clients are served."""
	proxy = make_proxy(extra_pgbatchd={"authentication_timeout": 1})
	data = w.startup({"user": "postgres", "database": "postgres"})
	s = socket.create_connection((proxy.host, proxy.port))
	try:
		sent = 0

		def dropped():
			nonlocal sent
			if closed_by_peer(s):
				return True
			if sent < len(data) - 1:
				try:
					s.send(data[sent:sent + 1])
					sent += 1
				except (BrokenPipeError, ConnectionResetError):
					return True
			healthy(proxy)
			return False
		harness.wait_for(dropped, timeout=30, interval=0.2, what="the slow client dropped")
	finally:
		s.close()
	proxy.wait_log(r"closing: startup packet not received in time", timeout=5)
	healthy(proxy)


def test_client_that_never_authenticates(pg, make_proxy):
	"""Startup sent, the password request never answered: FATAL 57014
	'canceling authentication due to timeout', as PostgreSQL says it."""
	proxy = make_proxy(auth_type="md5", extra_pgbatchd={"authentication_timeout": 1})
	with w.Conn(proxy.host, proxy.port) as c:
		c.send(w.startup({"user": "postgres", "database": "postgres"}))
		t, p = c.read_msg()
		assert t == "R" and struct.unpack_from("!I", p)[0] == 5
		t, p = c.read_msg()      # waits for the timeout
		assert t == "E", (t, p)
		f = w.fields(p)
		assert (f["S"], f["C"], f["M"]) == ("FATAL", "57014", "canceling authentication due to timeout"), f


def test_huge_startup_packet(pg, make_proxy):
	"""A 100 KB startup packet (declared and sent): closed without a word, as
	PostgreSQL closes on a length over 10000; memory unaffected."""
	proxy = make_proxy(asan_options=SMALL_QUARANTINE)
	body = struct.pack("!I", w.PROTO_V3) + b"user\0" + b"x" * 100000 + b"\0\0"
	s = socket.create_connection((proxy.host, proxy.port))
	try:
		try:
			s.sendall(struct.pack("!I", len(body) + 4) + body)
		except (BrokenPipeError, ConnectionResetError):
			pass
		harness.wait_for(lambda: closed_by_peer(s), timeout=10, what="the connection closed")
	finally:
		s.close()
	healthy(proxy)
	assert rss_mb(proxy) < RSS_BOUND_MB


def test_ten_thousand_connections(pg, make_proxy):
	"""10k connections opened and closed (half of them after a startup packet):
	none is left behind, memory stays bounded, sessions still work."""
	proxy = make_proxy(max_client_conn=100, asan_options=SMALL_QUARANTINE)
	start = w.startup({"user": "postgres", "database": "postgres"})
	for i in range(10000):
		s = socket.create_connection((proxy.host, proxy.port))
		if i % 2:
			s.sendall(start)
		s.close()
	# every one of them is gone: the proxy's own count, from its stats line
	# (the listen backlog holds thousands: they are worked off first)
	def sessions():
		mark = len(proxy.log())
		proxy.signal(__import__("signal").SIGUSR1)
		m = proxy.wait_log(r"stats: sessions=(\d+)", timeout=5, start=mark)
		return int(m.group(1))
	harness.wait_for(lambda: sessions() == 0, timeout=60, what="no session left")
	healthy(proxy)
	assert rss_mb(proxy) < RSS_BOUND_MB


def test_pipelining_client_that_never_reads(pg, make_proxy):
	"""A client sends INSERTs (into a configured table, ackmode=immediate) as
	fast as it can and never reads a reply: pgbatchd stops reading it once its
	replies back up, so the client's sends block; memory stays bounded and
	another client is served meanwhile."""
	pg.sql("DROP TABLE IF EXISTS flood")
	pg.sql("CREATE TABLE flood (k int PRIMARY KEY, v text)")
	proxy = su.start_sink_proxy(make_proxy, {"flood": {"ackmode": "immediate", "batchwritetimeoutms": 20}},
		asan_options=SMALL_QUARANTINE)
	c = su.Session.to(proxy)
	c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
	c.sock.setblocking(False)
	k = 0
	blocked_since = None
	pending = b""
	try:
		def stalled():
			"""Sends until the socket stays full for a while (the proxy stopped reading)."""
			nonlocal k, blocked_since, pending
			for _ in range(2000):
				if not pending:
					pending = w.query("INSERT INTO flood VALUES (%d, '%s')" % (k, "x" * 200))
					k += 1
				try:
					n = c.sock.send(pending)
				except BlockingIOError:
					n = 0
				pending = pending[n:]
				if pending:
					if blocked_since is None:
						blocked_since = time.monotonic()
					return time.monotonic() - blocked_since > 1.0
				blocked_since = None
			return False
		harness.wait_for(stalled, timeout=120, interval=0.05, what="the flooding client stalled")
		assert rss_mb(proxy) < RSS_BOUND_MB
		healthy(proxy)
	finally:
		c.sock.close()
	healthy(proxy)
	assert rss_mb(proxy) < RSS_BOUND_MB
