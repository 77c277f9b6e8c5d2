"""Helpers for the sink's integration tests: [table] config sections, raw simple-protocol sessions, exact INSERT replies, stats and per-batch log lines."""

import re
import signal
import struct
import threading

import harness
import pgwire as w

# The [backend] keys; everything else a test passes per table goes in [table NAME].
BACKEND_KEYS = ("connectionmaxactive", "maxretrytimes", "retrywaittime", "ledgertable")
HUGE_TIMEOUT_MS = 86400000      # the largest batchwritetimeoutms: never reached in a test
HUGE_BATCH = 10000000           # the largest batchsize


# ---------------------------------------------------------------- configuration

def table_section(name, **opts):
	"""One `[table NAME]` section. Values are written as they are; None drops the key."""
	lines = ["[table %s]" % name]
	for k, v in opts.items():
		if v is None:
			continue
		if isinstance(v, bool):
			v = int(v)
		lines.append("%s = %s" % (k, v))
	return "\n".join(lines) + "\n\n"


def sink_sections(tables, backend=None):
	"""The text appended after the harness's own [backend] lines: first more
	[backend] keys (they land in that section because no header precedes them),
	then one section per table. `tables` maps name -> options (dict), or is a
	list of (name, options)."""
	text = ""
	for k, v in (backend or {}).items():
		assert k in BACKEND_KEYS or k in ("verbose",), k
		text += "%s = %s\n" % (k, v)
	text += "\n"
	items = tables.items() if isinstance(tables, dict) else tables
	for name, opts in items:
		text += table_section(name, **opts)
	return text


def start_sink_proxy(make_proxy, tables, backend=None, pgbatchd=None, **kw):
	"""A pgbatchd (from the make_proxy / module_proxy_factory fixture) with these
	[table] sections; `pgbatchd` adds [pgbatchd] keys (readyourwrites, ...)."""
	extra = dict(kw.pop("extra_pgbatchd", None) or {})
	extra.update(pgbatchd or {})
	return make_proxy(extra_sections=sink_sections(tables, backend), extra_pgbatchd=extra or None, **kw)


# ---------------------------------------------------------------- sessions

def command_complete(tag):
	return ("C", tag.encode() + b"\0")


READY_IDLE = ("Z", b"I")


def insert_reply(n):
	"""The exact reply PostgreSQL gives a successful INSERT of n rows outside a transaction."""
	return [command_complete("INSERT 0 %d" % n), READY_IDLE]


def show(msgs):
	return "\n".join("  " + w.describe_msg(t, p) for t, p in msgs)


class Session(w.Conn):
	"""A raw simple-query session (the wire is ours: every INSERT is a Query message)."""

	def __init__(self, host, port, user="postgres", database="postgres", params=None, timeout=60.0):
		super().__init__(host, port, timeout=timeout)
		self.login(user, database, password=None, params=params)

	@classmethod
	def to(cls, server, **kw):
		"""A session to a harness.Proxy or harness.PgServer (TCP)."""
		return cls(server.host, server.port, **kw)

	def run(self, sql):
		"""Sends one Query; returns every message up to ReadyForQuery."""
		if isinstance(sql, str):
			sql = sql.encode()
		self.send(w.msg("Q", sql + b"\0"))
		return self.read_until("Z")

	def ok(self, sql):
		"""Runs sql; fails on an ErrorResponse; returns the messages."""
		msgs = self.run(sql)
		errs = [w.fields(p) for t, p in msgs if t == "E"]
		assert not errs, "%s\n-> %r" % (sql if isinstance(sql, str) else sql[:300], errs)
		return msgs

	def insert(self, sql, n):
		"""Runs an INSERT and asserts the exact reply `INSERT 0 n` + ReadyForQuery(I)."""
		msgs = self.run(sql)
		assert msgs == insert_reply(n), "reply to %r:\n%s" % (sql[:300], show(msgs))
		return msgs

	def rows(self, sql):
		"""Runs a SELECT; returns its DataRows as lists of str/None."""
		out = []
		for t, p in self.ok(sql):
			if t == "D":
				out.append([None if v is None else v.decode() for v in w.datarow(p)])
		return out

	def pipeline(self, sqls):
		"""Sends every Query before reading any reply; returns one message list per Query."""
		data = b"".join(w.msg("Q", (s.encode() if isinstance(s, str) else s) + b"\0") for s in sqls)
		self.send(data)
		return [self.read_until("Z") for _ in sqls]


def run_parallel(fn, args_list, timeout=120):
	"""Runs fn(*args) for each args in a thread of its own and waits for all;
	fails if one hangs, re-raises the first exception one raised."""
	errors = []

	def wrap(args):
		try:
			fn(*args)
		except BaseException as e:  # noqa: BLE001 - re-raised below
			errors.append(e)

	threads = [threading.Thread(target=wrap, args=(a,)) for a in args_list]
	for t in threads:
		t.start()
	for t in threads:
		t.join(timeout)
	assert not any(t.is_alive() for t in threads), "a client hung"
	if errors:
		raise errors[0]


def error_of(msgs):
	"""The fields of the first ErrorResponse in msgs, or None."""
	for t, p in msgs:
		if t == "E":
			return w.fields(p)
	return None


def tags_of(msgs):
	return [p.rstrip(b"\0").decode() for t, p in msgs if t == "C"]


# ---------------------------------------------------------------- direct access

def direct(pg, sql, params=None, dbname="postgres"):
	"""Runs a statement directly on the server (Unix socket); returns rows or None."""
	return pg.sql(sql, params, dbname=dbname)


def dump(pg, table, order_by, dbname="postgres"):
	"""Every row of `table` as its text form, ordered: the exact-content comparison."""
	return [r[0] for r in pg.sql("SELECT t::text FROM %s t ORDER BY %s" % (table, order_by), dbname=dbname)]


def dump_json(pg, table, order_by, dbname="postgres"):
	return [r[0] for r in pg.sql("SELECT row_to_json(t)::text FROM %s t ORDER BY %s" % (table, order_by),
		dbname=dbname)]


def twin_tables(pg, t, ddl):
	"""t and its direct twin t_ref, made anew by ddl ({t} stands for the name)."""
	for name in (t, t + "_ref"):
		pg.sql("DROP TABLE IF EXISTS %s" % name)
		pg.sql(ddl.format(t=name))


def direct_ok(pg, sql):
	"""sql as one Query of a new direct session; fails on an error."""
	with Session.to(pg) as d:
		d.ok(sql)


def count(pg, table, dbname="postgres"):
	return pg.sql("SELECT count(*) FROM %s" % table, dbname=dbname)[0][0]


def waiting_on_lock(pg):
	"""How many of pgbatchd's writer connections wait for a lock."""
	return pg.sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgbatchd-sink' "
		"AND wait_event_type = 'Lock'")[0][0]


def lock_table(pg, table):
	"""A direct connection holding an EXCLUSIVE lock on table (writers' INSERTs
	wait for it) until its COMMIT."""
	conn = pg.connect()
	conn.execute("BEGIN")
	conn.execute("LOCK TABLE %s IN EXCLUSIVE MODE" % table)
	return conn


def one_batch(pg, proxy, table, blocker, send, nqueued):
	"""Makes the units `send()` submits share one batch: with one writer, a lock
	holds the blocker's batch (a session of its own, ackmode either) in flight;
	once `nqueued` rows wait in the queue behind it the lock goes, and they all
	leave in the next batch. Returns the blocker's session (its reply unread)."""
	locker = lock_table(pg, table)
	try:
		b = Session.to(proxy)
		b.send(w.msg("Q", blocker.encode() + b"\0"))
		harness.wait_for(lambda: waiting_on_lock(pg) == 1, what="the blocker's batch waiting")
		send()
		harness.wait_for(lambda: stats(proxy).sink["queued_rows"] == nqueued,
			what="%d rows queued behind the blocker" % nqueued)
	finally:
		locker.execute("COMMIT")
		locker.close()
	return b


# ---------------------------------------------------------------- the proxy's log

NUM_RX = re.compile(r"([A-Za-z_]+)=(-?\d+)")
FLUSH_RX = re.compile(r"flush table=(?P<table>\S+) writer=(?P<writer>\d+) reason=(?P<reason>[a-z]+) "
	r"rows=(?P<rows>\d+) ms=(?P<ms>\d+)(?P<rest>.*)$")


class Stats:
	"""Counters from one SIGUSR1: `intercept` (messages, rows, and one count per
	pass-through reason: expression, returning, ..., transaction, sink) and
	`sink` (tickets, rows_in, ..., flush_<reason>, passthrough_<reason>)."""

	def __init__(self, intercept_line, sink_line):
		self.intercept_line = intercept_line
		self.sink_line = sink_line
		self.intercept = {k: int(v) for k, v in NUM_RX.findall(intercept_line)}
		self.sink = {k: int(v) for k, v in NUM_RX.findall(sink_line or "")}

	def passthrough(self):
		"""The intercept line's pass-through counts by reason (everything after `passthrough:`)."""
		tail = self.intercept_line.split("passthrough:", 1)[-1]
		return {k: int(v) for k, v in NUM_RX.findall(tail)}

	def __repr__(self):
		return "Stats(%s | %s)" % (self.intercept_line, self.sink_line)


def stats(proxy, timeout=10.0):
	"""Sends SIGUSR1 and returns the Stats it logs."""
	mark = len(proxy.log())
	proxy.signal(signal.SIGUSR1)
	rx_i = re.compile(r"stats: (intercepted .*)$", re.M)
	rx_s = re.compile(r"stats: (sink .*)$", re.M)

	def both():
		text = proxy.log()[mark:]
		i, s = rx_i.search(text), rx_s.search(text)
		return (i.group(1), s.group(1)) if i and s else None

	i, s = harness.wait_for(both, timeout, what="stats lines after SIGUSR1")
	return Stats(i, s)


def flushes(proxy, start=0, table=None):
	"""Per-batch log lines (table verbose = 1) from byte offset `start`, as dicts."""
	out = []
	for line in proxy.log()[start:].splitlines():
		m = FLUSH_RX.search(line)
		if not m:
			continue
		d = m.groupdict()
		for k in ("writer", "rows", "ms"):
			d[k] = int(d[k])
		d.update({k: int(v) for k, v in NUM_RX.findall(d.pop("rest"))})
		if table is None or d["table"] == table or d["table"].endswith("." + table):
			out.append(d)
	return out


def wait_flushes(proxy, pred, start=0, table=None, timeout=15.0, what="flush lines"):
	"""Waits until pred(list of flush dicts) is true; returns the list."""
	def check():
		fl = flushes(proxy, start, table)
		return fl if pred(fl) else None
	return harness.wait_for(check, timeout, what=what)


def wait_count(pg, table, n, timeout=15.0, dbname="postgres"):
	harness.wait_for(lambda: count(pg, table, dbname) == n, timeout,
		what="%d rows in %s" % (n, table))


# ---------------------------------------------------------------- SQL literals

def lit(v):
	"""A SQL literal for a Python value: None -> NULL, int -> digits, str -> '...'
	(standard_conforming_strings: only quotes are doubled)."""
	if v is None:
		return "NULL"
	if isinstance(v, bool):
		return "TRUE" if v else "FALSE"
	if isinstance(v, int):
		return str(v)
	return "'" + str(v).replace("'", "''") + "'"


def qident(s):
	return '"' + s.replace('"', '""') + '"'


def u32(b):
	return struct.unpack("!I", b)[0]


# ---------------------------------------------------------------- serial references

def insert_sql(table, cols, rows):
	"""INSERT INTO table [(cols)] VALUES (...), ...; cols None = no column list; rows are lists of literal SQL."""
	collist = " (%s)" % ", ".join(cols) if cols is not None else ""
	return "INSERT INTO %s%s VALUES %s" % (table, collist, ", ".join("(%s)" % ", ".join(r) for r in rows))


def mode_clause(mode, key, nonkey, named):
	"""The single-row equivalent's clause (DESIGN.md): `key` and `nonkey` are the
	table's key and non-key columns, `named` the columns the INSERT named, all
	spelled as they are written in SQL. No key: append-only, no clause."""
	if not key or mode == "strict":
		return ""
	target = "(%s)" % ", ".join(key)
	if mode == "ignore":
		return " ON CONFLICT %s DO NOTHING" % target
	cols = list(nonkey) if mode == "upsert" else [c for c in named if c not in key]
	if not cols:
		return " ON CONFLICT %s DO NOTHING" % target
	return " ON CONFLICT %s DO UPDATE SET %s" % (target, ", ".join("%s = EXCLUDED.%s" % (c, c) for c in cols))


def serial_reference(pg, ref, mode, key, nonkey, stmts, dbname="postgres"):
	"""Runs every row of stmts ((cols, rows) pairs, cols never None) alone, in
	order, directly into `ref` with the mode's clause. Returns the rows that
	failed (strict mode conflicts), as (statement index, row index)."""
	import psycopg
	failed = []
	with pg.connect(dbname=dbname) as conn:
		for i, (cols, rows) in enumerate(stmts):
			for j, row in enumerate(rows):
				sql = insert_sql(ref, cols, [row]) + mode_clause(mode, key, nonkey, cols)
				try:
					conn.execute(sql)
				except psycopg.errors.UniqueViolation:
					assert mode == "strict", sql
					failed.append((i, j))
	return failed


def send_all(proxy, sqls, **session_kw):
	"""Pipelines every INSERT through one session, asserts each reply is `INSERT 0 n`
	(n = its rows), then runs a SELECT on the same session: with readyourwrites
	it passes through only once all the session's rows are committed."""
	with Session.to(proxy, **session_kw) as s:
		for sql, msgs in zip(sqls, s.pipeline(sqls)):
			n = sql.count("), (") + 1
			assert msgs == insert_reply(n), "%s\n%s" % (sql, show(msgs))
		s.ok("SELECT 1")
