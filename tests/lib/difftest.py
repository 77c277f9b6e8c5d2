"""Differential tests: the same client code directly (database "direct") and through pgbatchd (database "postgres", the sink's), on one server. The `dbs` fixture (conftest.py) makes the "direct" database."""

import threading

import sinkutil as su

HANG = 60       # a reply not there by then is a hang (a guard, not a timing assertion)


def both(pg, sql):
	"""Runs sql in both databases."""
	for db in ("postgres", "direct"):
		with pg.connect(dbname=db) as c:
			c.execute(sql)


def same(pg, sql):
	"""The query's rows, equal in both databases."""
	via, direct = pg.sql(sql, dbname="postgres"), pg.sql(sql, dbname="direct")
	assert via == direct, "through pgbatchd %r, directly %r" % (via, direct)
	return via


def sessions(pg, proxy):
	"""A raw simple-protocol session through pgbatchd and one direct."""
	return su.Session.to(proxy, timeout=HANG), su.Session.to(pg, database="direct", timeout=HANG)


def no_hang(fn, *args):
	"""Runs fn in a thread; a hang fails the test instead of stalling it."""
	out = {}

	def run():
		try:
			out["r"] = fn(*args)
		except BaseException as e:  # noqa: BLE001 - handed to the caller
			out["e"] = e

	t = threading.Thread(target=run, daemon=True)
	t.start()
	t.join(HANG)
	assert not t.is_alive(), "the client hung"
	if "e" in out:
		raise out["e"]
	return out.get("r")
