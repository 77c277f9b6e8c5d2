"""Differential wire cases: a case is a list of steps (bytes to send, replies to read up to a message type); run_case runs one on a fresh session and returns every reply, normalized for comparison with PostgreSQL's."""

import pgwire as w


def send(*msgs):
	return ("send", b"".join(msgs))


def until(t="Z", n=1):
	return ("recv", t, n)


def q(sql, n=1):
	"""A simple Query and its replies up to `n` ReadyForQuery."""
	return [send(w.query(sql)), until("Z", n)]


def run_case(host, port, steps):
	"""Runs a case on a fresh session; returns the whole reply as a list of
	(type, payload), startup included, terminated by ('EOF', b'')."""
	with w.Conn(host, port) as conn:
		out = conn.login("postgres", "postgres")
		for step in steps:
			if step[0] == "send":
				conn.send(step[1])
			else:
				out += conn.read_until(step[1], step[2])
		conn.send(w.terminate())
		out += conn.read_eof_or_error(timeout=10)
		out.append(("EOF", b""))
	return w.normalize(out)


def render(msgs):
	return [w.describe_msg(t, p) for t, p in msgs]


def assert_same(through, direct):
	if through != direct:
		assert render(through) == render(direct)
		assert through == direct
