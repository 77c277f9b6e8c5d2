"""Malformed and hostile clients, dying backends and connection limits: pgbatchd answers with the right SQLSTATE (or closes), logs a reason, never hangs, leaks no session, and keeps serving others."""

import signal
import socket
import struct
import time

import pytest

import harness
import pgwire as w

MAX_CONN = 3


@pytest.fixture(scope="module")
def mproxy(pg, module_proxy_factory):
	# A small max_client_conn: after every hostile client, MAX_CONN sessions
	# must still fit, so a session the proxy forgot to release fails the test.
	return module_proxy_factory("malformed", max_client_conn=MAX_CONN)


def raw(host, port, data, shut_wr=False, timeout=10.0):
	"""Sends raw bytes on a fresh socket; returns the messages received until
	EOF. A server that neither answers nor closes within `timeout` fails."""
	with w.Conn(host, port) as conn:
		conn.send(data)
		if shut_wr:
			conn.sock.shutdown(socket.SHUT_WR)
		return conn.read_eof_or_error(timeout=timeout), conn.sock.getsockname()[1]


def sqlstates(msgs):
	return [w.fields(p).get("C") for t, p in msgs if t == "E"]


def assert_healthy(proxy):
	"""MAX_CONN sessions at once still work through the proxy."""
	def try_all():
		conns = []
		try:
			for _ in range(MAX_CONN):
				c = w.Conn(proxy.host, proxy.port)
				conns.append(c)
				c.login("postgres", "postgres")
			return all(c.scalar("SELECT 1") == "1" for c in conns)
		except w.ServerError as e:
			if e.sqlstate == "53300":   # a session being torn down right now
				return False
			raise
		finally:
			for c in conns:
				c.close()
	harness.wait_for(try_all, timeout=10, interval=0.2, what="%d sessions through the proxy" % MAX_CONN)

	# and they are let go (a backend lingers until its server session ends):
	# the next test starts with every slot free
	def sessions():
		mark = len(proxy.log())
		proxy.signal(signal.SIGUSR1)
		return int(proxy.wait_log(r"stats: sessions=(\d+)", timeout=10, start=mark).group(1))
	harness.wait_for(lambda: sessions() == 0, timeout=30, what="no session left")


def assert_close_logged(proxy, client_port):
	"""The proxy logged closing this connection, with a reason."""
	rx = r"@127\.0\.0\.1:%d\b.*closing: \S" % client_port
	proxy.wait_log(rx, timeout=10)


def valid_startup():
	return w.startup({"user": "postgres", "database": "postgres"})


# (id, bytes): PostgreSQL's ProcessStartupPacket closes without a word on a bad
# length word (it only logs it), answers protocol 2 in the pre-3.0 format and
# the rest with a v3 FATAL; pgbatchd answers each the same way.
PRE_LOGIN = [
	("truncated_startup_then_close", valid_startup()[:6]),
	("startup_length_0", struct.pack("!II", 0, w.PROTO_V3)),
	("startup_length_4", struct.pack("!I", 4)),
	("startup_length_7", struct.pack("!II", 7, w.PROTO_V3)),
	("startup_length_2gb", struct.pack("!II", 0x7FFFFFFF, w.PROTO_V3) + b"user\0x\0"),
	("startup_length_negative", struct.pack("!II", 0xFFFFFFF0, w.PROTO_V3)),
	("startup_length_over_10000", struct.pack("!II", 100000, w.PROTO_V3) + b"user\0postgres\0"),
	("terminate_before_startup", w.msg("X", b"")),     # node-postgres: connect(); end()
	("protocol_version_4", w.startup({"user": "postgres"}, version=4 << 16)),
	("protocol_version_999_1", w.startup({"user": "postgres"}, version=(999 << 16) | 1)),
	("protocol_version_2", w.startup({"user": "postgres"}, version=2 << 16)),
	("startup_without_user", w.startup({"database": "postgres"})),
	("startup_params_unterminated", struct.pack("!II", 8 + 9, w.PROTO_V3) + b"user\0bob\0"),
	("garbage_http", b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"),
	("garbage_binary", bytes(range(256)) * 4),
	("cancel_request_short", struct.pack("!II", 12, w.CANCEL_REQUEST) + b"\0\0\0\1"),
	("cancel_request_unknown_key", w.cancel_request(12345, 67890)),
	("ssl_request_with_body", struct.pack("!III", 12, w.SSL_REQUEST, 7)),
	("ssl_request_then_startup_at_once", struct.pack("!II", 8, w.SSL_REQUEST) + valid_startup()),
]


def raw_bytes(host, port, data, timeout=10.0):
	"""Sends raw bytes on a fresh socket, then ends its writing; returns every
	byte received until EOF, and the local port."""
	s = socket.create_connection((host, port), timeout=timeout)
	try:
		s.sendall(data)
		s.shutdown(socket.SHUT_WR)
		out = b""
		while True:
			try:
				chunk = s.recv(65536)
			except ConnectionResetError:
				break
			if not chunk:
				break
			out += chunk
		return out, s.getsockname()[1]
	finally:
		s.close()


def answer(data):
	"""An answer in comparable form: the SSL 'N', then each v3 message's type
	and fields but the source location (F, L, R: pgbatchd is not PostgreSQL's
	source); a pre-3.0 error as its bytes."""
	out = []
	if data[:1] == b"N":
		out.append("N")
		data = data[1:]
	if data[:1] == b"E" and data[1:6] == b"FATAL":
		return out + [data]
	while len(data) >= 5:
		t, n = data[:1].decode(), struct.unpack("!I", data[1:5])[0]
		body, data = data[5:1 + n], data[1 + n:]
		out.append((t, {k: v for k, v in w.fields(body).items() if k not in "FLR"} if t in "EN" else body))
	return out + ([data] if data else [])


@pytest.mark.parametrize("data", [c[1] for c in PRE_LOGIN], ids=[c[0] for c in PRE_LOGIN])
def test_bad_startup_as_postgres(pg, mproxy, data):
	want, _ = raw_bytes(pg.host, pg.port, data)
	got, client_port = raw_bytes(mproxy.host, mproxy.port, data)
	assert answer(got) == answer(want), "pgbatchd: %r\nPostgreSQL: %r" % (got, want)
	assert_close_logged(mproxy, client_port)
	assert_healthy(mproxy)


def logged_in(host, port, **params):
	c = w.Conn(host, port)
	c.login("postgres", "postgres", params=params or None)
	return c


# (id, bytes after login, allowed: None = silent close, else the SQLSTATE of one FATAL)
POST_LOGIN = [
	("message_length_2gb", b"Q" + struct.pack("!I", 0x7FFFFFF0) + b"SELECT 1", [None, "08P01"]),
	("message_length_below_4", b"Q" + struct.pack("!I", 2), [None, "08P01"]),
	("unknown_message_type", w.msg("z", b"what"), ["08P01"]),
	("sync_with_10k_body", b"S" + struct.pack("!I", 4 + 10001) + b"\0" * 10001, [None, "08P01"]),
	("flush_with_body_then_close", b"H" + struct.pack("!I", 4 + 20000) + b"\0" * 100, [None, "08P01"]),
	("startup_packet_after_login", valid_startup(), [None, "08P01"]),
]


@pytest.mark.parametrize("data,allowed", [c[1:] for c in POST_LOGIN], ids=[c[0] for c in POST_LOGIN])
def test_bad_message_after_login(pg, mproxy, data, allowed):
	for leg, (host, port) in (("direct", (pg.host, pg.port)), ("proxy", (mproxy.host, mproxy.port))):
		with logged_in(host, port) as c:
			client_port = c.sock.getsockname()[1]
			c.send(data)
			if data[:1] == b"H":
				c.sock.shutdown(socket.SHUT_WR)
			msgs = c.read_eof_or_error(timeout=10)
		states = sqlstates(msgs)
		assert len(states) <= 1 and len(msgs) == len(states), (leg, [w.describe_msg(*m) for m in msgs])
		if leg == "direct":
			direct_states = states
			continue
		if states:
			assert states[0] in allowed, w.describe_msg(*msgs[0])
			if direct_states:
				assert states == direct_states
		else:
			assert None in allowed
		assert_close_logged(mproxy, client_port)
	assert_healthy(mproxy)


def backend_gone(pg, appname, timeout=15):
	harness.wait_for(lambda: not pg.sql("SELECT pid FROM pg_stat_activity WHERE application_name = %s",
		(appname,)), timeout=timeout, interval=0.1, what="backend of %s to go away" % appname)


def wait_active(pg, appname):
	harness.wait_for(lambda: pg.sql("SELECT pid FROM pg_stat_activity WHERE application_name = %s "
		"AND state = 'active' AND query LIKE '%%pg_sleep%%'", (appname,)), timeout=10,
		what="%s running pg_sleep" % appname)


@pytest.mark.parametrize("leg", ["direct", "proxy"])
def test_client_disconnects_mid_query(pg, mproxy, leg):
	"""The backend session of a vanished client goes away, its query with it,
	when the client set client_connection_check_interval: PostgreSQL notices
	its client left. Through pgbatchd the same setting works, as the backend
	connection is half-closed once the client left (pgbatchd does not cancel
	the query: directly, a query whose client left runs on, and an INSERT
	commits -- test_session_end)."""
	appname = "gone_mid_query_%s" % leg
	host, port = (pg.host, pg.port) if leg == "direct" else (mproxy.host, mproxy.port)
	c = logged_in(host, port, application_name=appname)
	c.simple("SET client_connection_check_interval = '100ms'")
	c.send(w.query("SELECT pg_sleep(60)"))
	wait_active(pg, appname)
	client_port = c.sock.getsockname()[1]
	c.close()
	backend_gone(pg, appname)
	if leg == "proxy":
		assert_close_logged(mproxy, client_port)
		assert_healthy(mproxy)


@pytest.mark.parametrize("idle", [True, False], ids=["idle", "mid_query"])
def test_backend_terminated(pg, mproxy, idle):
	"""pg_terminate_backend on the session's backend: the client gets the
	backend's own FATAL 57P01 (as it would directly), then EOF; no hang."""
	results = {}
	for leg, (host, port) in (("direct", (pg.host, pg.port)), ("proxy", (mproxy.host, mproxy.port))):
		appname = "terminated_%s_%s" % (leg, idle)
		with logged_in(host, port, application_name=appname) as c:
			pid = int(c.scalar("SELECT pg_backend_pid()"))
			assert pid == c.pid, "BackendKeyData must carry the backend's own pid"
			if not idle:
				c.send(w.query("SELECT pg_sleep(60)"))
				wait_active(pg, appname)
			assert pg.sql("SELECT pg_terminate_backend(%s)", (pid,)) == [(True,)]
			msgs = c.read_eof_or_error(timeout=15)
			if idle and not msgs:
				# nothing arrived yet: the next query must fail, not hang
				try:
					c.send(w.query("SELECT 1"))
				except OSError:
					pass
				msgs = c.read_eof_or_error(timeout=15)
			results[leg] = [(t, w.fields(p).get("C")) for t, p in msgs if t in ("E", "Z")]
		if leg == "proxy":
			assert_healthy(mproxy)
	assert results["direct"] == [("E", "57P01")]
	assert results["proxy"] == results["direct"]


def test_max_client_conn(pg, make_proxy):
	proxy = make_proxy(max_client_conn=2)
	a = logged_in(proxy.host, proxy.port)
	b = logged_in(proxy.host, proxy.port)
	with w.Conn(proxy.host, proxy.port) as c:
		with pytest.raises(w.ServerError) as ei:
			c.login("postgres", "postgres")
		assert ei.value.sqlstate == "53300"
		assert ei.value.fields.get("S") == "FATAL"
		client_port = c.sock.getsockname()[1]
	assert_close_logged(proxy, client_port)
	# a connection that has not logged in yet does not count against the limit
	idle = w.Conn(proxy.host, proxy.port)
	assert a.scalar("SELECT 'a'") == "a" and b.scalar("SELECT 'b'") == "b"
	a.close()

	def third_fits():
		try:
			with logged_in(proxy.host, proxy.port) as c2:
				return c2.scalar("SELECT 3") == "3"
		except w.ServerError as e:
			assert e.sqlstate == "53300"
			return False
	harness.wait_for(third_fits, timeout=10, interval=0.1, what="a freed slot")
	idle.close()
	b.close()


def test_many_clients_open_and_vanish(pg, mproxy):
	"""Clients that vanish at every step of the startup leave nothing behind."""
	data = valid_startup()
	for cut in (1, 4, 8, 12, len(data) - 1):
		with w.Conn(mproxy.host, mproxy.port) as c:
			c.send(data[:cut])
	for _ in range(5):
		# a server session of a client that left counts until it ends (as
		# directly against max_connections): a slot comes back once it has
		c = harness.wait_for(lambda: login_or_none(mproxy), timeout=10, interval=0.05, what="a free session slot")
		c.send(w.query("SELECT g FROM generate_series(1, 100000) g"))
		time.sleep(0.01)
		c.close()
	assert_healthy(mproxy)


def login_or_none(proxy):
	c = w.Conn(proxy.host, proxy.port)
	try:
		c.login("postgres", "postgres")
		return c
	except w.ServerError as e:
		c.close()
		if e.sqlstate == "53300":
			return None
		raise
