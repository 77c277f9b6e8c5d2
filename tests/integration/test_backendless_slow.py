"""Sessions without a backend when the server is slow to log pgbatchd's
backends in (issue 19): a relay (gaterelay.py) holds back the server's
answers to a backend login until the test releases them, or never answers
one user's logins. What the client sees is then decided by that order, not
by timing."""

import socket
import threading

import pytest

import harness
import pgwire as w
import sinkutil as su
from difftest import HANG
from gaterelay import GateRelay

TABLES = {"sl_t": {}}


@pytest.fixture(scope="module")
def setup(pg):
	pg.sql("CREATE TABLE sl_t (id int, v text)")
	pg.sql("CREATE ROLE sl_stall LOGIN")
	pg.sql("CREATE ROLE sl_lim LOGIN")
	pg.sql("GRANT ALL ON sl_t TO sl_lim")
	return pg


def start(make_proxy, relay, writers, **pgbatchd):
	return make_proxy(backend=relay, extra_pgbatchd=pgbatchd or None,
		extra_sections=su.sink_sections(TABLES, {"connectionmaxactive": writers}))


def login(p, user="postgres", params=None):
	c = w.Conn(p.host, p.port, timeout=HANG)
	c.login(user, "postgres", params=params)
	return c


def test_the_view_question_waits_for_the_end_of_a_message(setup, make_proxy):
	"""A lone session's INSERT opens its backend for direct writes; its next
	message, a Bind of 2 MB, streams into that backend while it logs in. The
	login ends in the middle of the Bind: the view's question pgbatchd asks
	on the new backend goes after the message, not inside it (it broke the
	stream: 22021, then 08P01)."""
	relay = GateRelay(setup)
	try:
		p = start(make_proxy, relay, 4)
		c = login(p)
		relay.hold()
		big = "x" * 2000000
		sender = threading.Thread(target=c.send, args=(w.query("INSERT INTO sl_t (id) VALUES (1)") +
			w.parse("", "SELECT length($1::text)") + w.bind("", "", [big]) + w.execute("") + w.sync(),),
			daemon=True)
		sender.start()
		assert c.read_until("Z") == su.insert_reply(1)      # by the writers
		assert relay.waiting.wait(HANG), "no backend login waiting"
		relay.release()
		got = c.read_until("Z")
		assert [m for m, _ in got] == ["1", "2", "D", "C", "Z"], got
		assert w.datarow(got[2][1]) == [b"2000000"]
		sender.join(HANG)
		c.close()
	finally:
		relay.close()


def test_a_cancel_while_its_backend_logs_in_is_sent_once_it_has(setup, make_proxy):
	"""A session without a backend sends a SELECT, which opens its backend; a
	CancelRequest with its key comes while that backend still logs in. The
	cancel goes to the backend once it has logged in: the SELECT fails with
	57014, as directly."""
	relay = GateRelay(setup)
	try:
		p = start(make_proxy, relay, 1)
		companion = login(p)            # more sessions than writers: no backend for direct writes
		c = login(p)
		relay.hold()
		c.send(w.query("SELECT pg_sleep(600)"))
		assert relay.waiting.wait(HANG), "no backend login waiting"
		k = w.Conn(p.host, p.port)
		k.send(w.cancel_request(c.pid, c.secret))
		k.read_eof_or_error()
		k.close()
		relay.release()
		got = c.read_until("Z")
		errs = [(w.fields(pl)["C"], w.fields(pl)["M"]) for m, pl in got if m == "E"]
		assert errs == [("57014", "canceling statement due to user request")], got
		c.close()
		companion.close()
	finally:
		relay.close()


def test_terminate_while_its_backend_logs_in(setup, make_proxy):
	"""INSERT, SELECT and Terminate in one write; the backend the SELECT opens
	logs in after the Terminate was read: the SELECT is answered, then the
	session ends (PostgreSQL runs what was sent before Terminate)."""
	relay = GateRelay(setup)
	try:
		p = start(make_proxy, relay, 1)
		companion = login(p)
		c = login(p)
		relay.hold()
		c.send(w.query("INSERT INTO sl_t (id) VALUES (7)") + w.query("SELECT 42") + w.terminate())
		assert relay.waiting.wait(HANG), "no backend login waiting"
		relay.release()
		got = c.read_eof_or_error(timeout=HANG)
		assert [m for m, _ in got] == ["C", "Z", "T", "D", "C", "Z"], got
		c.close()
		companion.close()
	finally:
		relay.close()


def test_a_check_the_server_never_answers_ends_within_authentication_timeout(setup, make_proxy):
	"""The server never answers sl_stall's logins (a hung authentication): two
	such checks (two application_names) take both check slots. Each ends
	after authentication_timeout (1 s here) with 08006 for the session that
	waited, not kept; a login of another user then goes through."""
	relay = GateRelay(setup, stall_user="sl_stall")
	try:
		p = start(make_proxy, relay, 1, authentication_timeout=1)
		stuck = []
		for app in ("a", "b"):
			k = w.Conn(p.host, p.port, timeout=HANG)
			k.send(w.startup({"user": "sl_stall", "database": "postgres", "application_name": app}))
			stuck.append(k)
		c = login(p)
		assert c.simple("INSERT INTO sl_t (id) VALUES (9)") == su.insert_reply(1)
		c.close()
		for k in stuck:
			got = k.read_eof_or_error(timeout=HANG)
			errs = [w.fields(pl) for m, pl in got if m == "E"]
			assert [(f["S"], f["C"], f["M"], f.get("D")) for f in errs] == \
				[("FATAL", "08006", "could not connect to the backend",
				  "the server did not finish the login within authentication_timeout")], got
			k.close()
	finally:
		relay.close()


@pytest.mark.parametrize("how", ["terminate", "half_close"])
def test_a_session_that_ended_while_its_refused_backend_logged_in_ends(setup, make_proxy, how):
	"""A lone session's INSERT opens its backend for direct writes; the client
	sends Terminate (or half-closes) while that backend logs in, and the
	server then refuses it (CONNECTION LIMIT 0 since the login's check). The
	session ends: the client reads EOF and pgbatchd lets it go (it stayed,
	waiting for a backend that was gone)."""
	pg = setup
	relay = GateRelay(setup)
	try:
		p = start(make_proxy, relay, 2, login_cache_seconds=3600, verbose=2)
		c = login(p, "sl_lim")
		c.close()
		harness.wait_for(lambda: pg.sql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'sl_lim'")[0][0] == 0,
			what="the first session gone")
		pg.sql("ALTER ROLE sl_lim CONNECTION LIMIT 0")
		try:
			c = login(p, "sl_lim")
			relay.hold()
			assert c.simple("INSERT INTO sl_t (id) VALUES (1)") == su.insert_reply(1)
			assert relay.waiting.wait(HANG), "no backend login waiting"
			if how == "terminate":
				c.send(w.terminate())
			else:
				c.sock.shutdown(socket.SHUT_WR)
			p.wait_log(r"sl_lim.*(client sent Terminate|client disconnected): the session ends")
			relay.release()
			assert c.read_eof_or_error(timeout=HANG) == []
			p.wait_log(r"sl_lim@\S+ closing: ")
			c.close()
		finally:
			pg.sql("ALTER ROLE sl_lim CONNECTION LIMIT -1")
	finally:
		relay.close()


def test_a_cancel_with_nothing_to_cancel_cancels_nothing_later(setup, make_proxy):
	"""A lone session's backend for direct writes logs in; a CancelRequest
	comes while nothing of the session runs. The SELECT sent after it is
	not cancelled (directly, a cancel to an idle session does nothing)."""
	relay = GateRelay(setup)
	try:
		p = start(make_proxy, relay, 2)
		c = login(p)
		relay.hold()
		assert c.simple("INSERT INTO sl_t (id) VALUES (2)") == su.insert_reply(1)
		assert relay.waiting.wait(HANG), "no backend login waiting"
		k = w.Conn(p.host, p.port)
		k.send(w.cancel_request(c.pid, c.secret))
		k.read_eof_or_error()
		k.close()
		c.send(w.query("SELECT pg_sleep(0.1), 7"))
		relay.release()
		got = c.read_until("Z")
		assert [m for m, _ in got] == ["T", "D", "C", "Z"], got
		c.close()
	finally:
		relay.close()


def test_a_reload_does_not_hand_an_older_check_to_a_new_session(setup, make_proxy):
	"""A login's check is under way (its server answer held) when SIGHUP
	reloads the configuration: a session of the same login that comes after
	the reload gets a check of its own, not the one started before it (which
	answers only the session that waited for it). Both log in."""
	relay = GateRelay(setup)
	try:
		p = start(make_proxy, relay, 1)
		relay.hold()
		first = w.Conn(p.host, p.port, timeout=HANG)
		first.send(w.startup({"user": "postgres", "database": "postgres", "application_name": "rl"}))
		assert relay.waiting.wait(HANG), "no check waiting"
		mark = len(p.log())
		p.reload()
		p.wait_log(r"configuration reloaded", start=mark)
		second = w.Conn(p.host, p.port, timeout=HANG)
		second.send(w.startup({"user": "postgres", "database": "postgres", "application_name": "rl"}))
		harness.wait_for(lambda: relay.held == 2, timeout=HANG, what="a second check")
		relay.release()
		for c in (first, second):
			got = c.read_until("Z")
			assert [m for m, _ in got][-2:] == ["K", "Z"], got
			assert c.simple("INSERT INTO sl_t (id) VALUES (3)") == su.insert_reply(1)
			c.close()
	finally:
		relay.close()
