"""Signals and cancellation: SIGHUP reloads (verbose, max_client_conn, userlist; a broken file keeps the old config), SIGTERM/SIGINT shut down cleanly, and CancelRequest through pgbatchd cancels the right backend's query with 57014."""

import signal
import subprocess
import threading
import time

import psycopg
import pytest

import harness
import pgwire as w


def log_mark(proxy):
	return len(proxy.log())


def reload_and_wait(proxy, **changes):
	mark = log_mark(proxy)
	proxy.reload(**changes)
	proxy.wait_log(r"configuration reloaded", start=mark)


def connect_port(proxy):
	c = w.Conn(proxy.host, proxy.port)
	c.login("postgres", "postgres")
	return c


def test_sighup_changes_verbose(pg, make_proxy):
	proxy = make_proxy(verbose=0)
	with connect_port(proxy) as c:
		quiet_port = c.sock.getsockname()[1]
		assert c.scalar("SELECT 1") == "1"
	proxy.wait_log(r":%d\b.*closing: " % quiet_port)
	assert "DEBUG" not in proxy.log()

	reload_and_wait(proxy, verbose=1)
	mark = log_mark(proxy)
	with connect_port(proxy) as c:
		loud_port = c.sock.getsockname()[1]
		assert c.scalar("SELECT 2") == "2"
	proxy.wait_log(r"DEBUG.*:%d\b" % loud_port, start=mark)


def test_sighup_changes_max_client_conn(pg, make_proxy):
	proxy = make_proxy(max_client_conn=5)
	held = [connect_port(proxy) for _ in range(2)]
	try:
		reload_and_wait(proxy, max_client_conn=2)
		with pytest.raises(w.ServerError) as ei:
			connect_port(proxy)
		assert ei.value.sqlstate == "53300"
		# sessions open before the reload keep working
		assert [c.scalar("SELECT 'still here'") for c in held] == ["still here"] * 2
		reload_and_wait(proxy, max_client_conn=3)
		with connect_port(proxy) as c:
			assert c.scalar("SELECT 3") == "3"
	finally:
		for c in held:
			c.close()


def test_sighup_reloads_userlist(pg, make_proxy):
	proxy = make_proxy(auth_type="md5", users={"postgres": "old-pw"})

	def login(pw):
		with w.Conn(proxy.host, proxy.port) as c:
			try:
				c.login("postgres", "postgres", password=pw)
				return "ok"
			except w.ServerError as e:
				return e.sqlstate

	assert login("old-pw") == "ok"
	reload_and_wait(proxy, users={"postgres": "new-pw"})
	assert login("old-pw") == "28P01"
	assert login("new-pw") == "ok"


def test_sighup_with_broken_config_keeps_old(pg, make_proxy):
	proxy = make_proxy(max_client_conn=7)
	good = proxy.write_config()
	with open(proxy.cfg_path, "a") as f:
		f.write("no_such_key = 1\n")
	mark = log_mark(proxy)
	proxy.signal(signal.SIGHUP)
	proxy.wait_log(r"reload failed.*no_such_key", start=mark)
	assert proxy.alive()
	with connect_port(proxy) as c:
		assert c.scalar("SELECT 'old config serves'") == "old config serves"
	with open(proxy.cfg_path, "w") as f:
		f.write(good)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_shutdown_signal(pg, make_proxy, sig):
	"""Exit code 0, sanitizer-clean (checked by make_proxy's teardown), idle and
	busy clients see an error or EOF, never a hang; new clients are refused."""
	proxy = make_proxy()
	idle = connect_port(proxy)
	busy = connect_port(proxy)
	busy.send(w.query("SELECT pg_sleep(2)"))
	time.sleep(0.2)
	proxy.signal(sig)
	for c in (idle, busy):
		msgs = c.read_eof_or_error(timeout=20)
		for t, p in msgs:
			assert t in ("E", "T", "D", "C", "Z", "N"), w.describe_msg(t, p)
			if t == "E":
				assert w.fields(p).get("S") == "FATAL", w.describe_msg(t, p)
		c.close()
	proxy.proc.wait(timeout=30)
	assert proxy.proc.returncode == 0, proxy.output()[-3000:]
	with pytest.raises(OSError):
		w.Conn(proxy.host, proxy.port, timeout=2).login("postgres", "postgres")
	# the backends the proxy held are gone too
	harness.wait_for(lambda: pg.sql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
		"AND pid <> pg_backend_pid()") == [(0,)], timeout=10, what="backend sessions to end")


# ------------------------------------------------------------ cancellation

def legs(pg, proxy):
	return (("direct", pg.host, pg.port), ("proxy", proxy.host, proxy.port))


def test_raw_cancel_request(pg, proxy):
	"""CancelRequest carrying the BackendKeyData the client got cancels its query."""
	for leg, host, port in legs(pg, proxy):
		with w.Conn(host, port) as c:
			c.login("postgres", "postgres", params={"application_name": "cancel_" + leg})
			assert int(c.scalar("SELECT pg_backend_pid()")) == c.pid
			c.send(w.query("SELECT pg_sleep(30)"))
			harness.wait_for(lambda: pg.sql("SELECT 1 FROM pg_stat_activity WHERE application_name = %s "
				"AND state = 'active'", ("cancel_" + leg,)), what="query running")
			t0 = time.monotonic()
			with w.Conn(host, port) as k:
				k.send(w.cancel_request(c.pid, c.secret))
				assert k.read_eof_or_error(timeout=10) == []
			msgs = c.read_until("Z", timeout=20)
			errs = [w.fields(p) for t, p in msgs if t == "E"]
			assert [(e["S"], e["C"], e["M"]) for e in errs] == [
				("ERROR", "57014", "canceling statement due to user request")], leg
			assert time.monotonic() - t0 < 20
			assert c.scalar("SELECT 'usable after cancel'") == "usable after cancel"


def test_cancel_reaches_only_its_own_backend(pg, proxy):
	"""Two sessions sleeping: the cancel with A's key stops A only."""
	with w.Conn(proxy.host, proxy.port) as a, w.Conn(proxy.host, proxy.port) as b:
		a.login("postgres", "postgres", params={"application_name": "cancel_a"})
		b.login("postgres", "postgres", params={"application_name": "cancel_b"})
		assert a.pid != b.pid
		b.send(w.query("SELECT pg_sleep(1.5), 'b finished'"))
		a.send(w.query("SELECT pg_sleep(30)"))
		harness.wait_for(lambda: pg.sql("SELECT count(*) FROM pg_stat_activity WHERE application_name IN "
			"('cancel_a', 'cancel_b') AND state = 'active'") == [(2,)], what="both queries running")
		with w.Conn(proxy.host, proxy.port) as k:
			k.send(w.cancel_request(a.pid, a.secret))
			k.read_eof_or_error(timeout=10)
		a_msgs = a.read_until("Z", timeout=20)
		assert [w.fields(p)["C"] for t, p in a_msgs if t == "E"] == ["57014"]
		b_msgs = b.read_until("Z", timeout=20)
		assert [t for t, _ in b_msgs if t == "E"] == []
		assert [w.datarow(p)[1] for t, p in b_msgs if t == "D"] == [b"b finished"]


def test_cancel_with_wrong_key_does_nothing(pg, proxy):
	with w.Conn(proxy.host, proxy.port) as c:
		c.login("postgres", "postgres")
		c.send(w.query("SELECT pg_sleep(1.0), 'finished'"))
		time.sleep(0.2)
		with w.Conn(proxy.host, proxy.port) as k:
			k.send(w.cancel_request(c.pid, (c.secret + 1) & 0xFFFFFFFF))
			k.read_eof_or_error(timeout=10)
		msgs = c.read_until("Z", timeout=20)
		assert [t for t, _ in msgs if t == "E"] == []
		assert [w.datarow(p)[1] for t, p in msgs if t == "D"] == [b"finished"]


def test_psycopg_cancel(pg, proxy):
	for leg, host, port in legs(pg, proxy):
		with psycopg.connect(host=host, port=port, user="postgres", dbname="postgres", autocommit=True) as conn:
			def cancel_when_running():
				harness.wait_for(lambda: pg.sql("SELECT 1 FROM pg_stat_activity WHERE state = 'active' "
					"AND query = 'SELECT pg_sleep(30) -- %s'" % leg), what="query running")
				conn.cancel()
			canceller = threading.Thread(target=cancel_when_running)
			canceller.start()
			with pytest.raises(psycopg.errors.QueryCanceled) as ei:
				conn.execute("SELECT pg_sleep(30) -- %s" % leg)
			canceller.join()
			assert ei.value.sqlstate == "57014", leg
			assert conn.execute("SELECT 'ok'").fetchone() == ("ok",)


def test_psql_cancel_on_sigint(pg, proxy):
	outputs = {}
	for leg, host, port in legs(pg, proxy):
		env = harness.clean_env(PGHOST=host, PGPORT=port, PGUSER="postgres", PGDATABASE="postgres",
			PGAPPNAME="psql_cancel_" + leg)
		p = subprocess.Popen([harness.pgbin("psql"), "-X", "-c", "SELECT pg_sleep(30)"], env=env,
			stdout=subprocess.PIPE, stderr=subprocess.PIPE)
		try:
			harness.wait_for(lambda: pg.sql("SELECT 1 FROM pg_stat_activity WHERE application_name = %s "
				"AND state = 'active'", ("psql_cancel_" + leg,)), what="psql query running")
			p.send_signal(signal.SIGINT)
			out, err = p.communicate(timeout=20)
		finally:
			if p.poll() is None:
				p.kill()
				p.wait()
		outputs[leg] = (p.returncode, out, err)
	assert outputs["direct"][0] == 1
	assert b"canceling statement due to user request" in outputs["direct"][2]
	assert outputs["proxy"] == outputs["direct"]
