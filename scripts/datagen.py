#!/usr/bin/python3
"""datagen: single-row INSERTs at a steady rate, in the spirit of Flink's datagen source, from N client connections (psycopg2, autocommit, the simple query protocol).

Each field has a generator, as in Flink's `fields.<name>.kind`:
  NAME=sequence:START:END   START, START+1, ..., END (the run ends when it is used up)
  NAME=random:MIN:MAX       a random integer in [MIN, MAX]
  NAME=string:LENGTH        a random string of LENGTH hex digits (Flink's random STRING)
  NAME=float:MIN:MAX        a random double in [MIN, MAX)
  NAME=bool                 true / false
  NAME=uuid                 a random UUID
  NAME=now                  the client's current timestamp
The default fields are the seed's datagen_source written into test_adbpg_table:
  b1=sequence:1:1000 b2=random:1:1000 b3=string:10

Examples:
  datagen.py --dsn "host=127.0.0.1 port=6432 dbname=postgres user=postgres" --rows-per-second 5
  datagen.py --dsn ... --table events --field id=sequence:1:100000 --field v=random:0:9 \\
      --field note=string:16 --rows-per-second 2000 --clients 8

--rows-per-second is the total rate over all clients (0: as fast as they go).
--rows caps the row count (default: the sequence's length; required without one).
--ack-log FILE writes one JSON line per row whose INSERT was sent: {"ok": true|false,
  "row": [values], "sent": t, "done": t, "error": "..."} (times are Unix seconds), so that
  what landed can be checked against what was acknowledged.
--connect-timeout S keeps trying to connect for S seconds (a stack still starting).
A client whose connection is lost stops; the others go on.
A progress line is redrawn on the terminal (stderr, when it is one); the summary goes to stdout.
Exits 1 if any INSERT failed.

Every option can come from the environment instead (a container's settings):
DATAGEN_DSN, DATAGEN_TABLE, DATAGEN_FIELDS (specs separated by spaces),
DATAGEN_ROWS_PER_SECOND, DATAGEN_ROWS, DATAGEN_CLIENTS, DATAGEN_SEED,
DATAGEN_ACK_LOG, DATAGEN_CONNECT_TIMEOUT; a command-line option wins.
"""

import argparse
import json
import os
import random
import sys
import threading
import time
import uuid

import psycopg2


class Field:
	def __init__(self, spec):
		name, sep, gen = spec.partition("=")
		if not sep or not name:
			raise ValueError("field %r: expected NAME=KIND[:ARGS]" % spec)
		self.name = name
		parts = gen.split(":")
		self.kind, args = parts[0], parts[1:]
		want = {"sequence": 2, "random": 2, "string": 1, "float": 2, "bool": 0, "uuid": 0, "now": 0}
		if self.kind not in want:
			raise ValueError("field %s: unknown kind %r (%s)" % (name, self.kind, ", ".join(want)))
		if len(args) != want[self.kind]:
			raise ValueError("field %s: %s takes %d argument(s)" % (name, self.kind, want[self.kind]))
		if self.kind == "float":
			self.args = [float(a) for a in args]
		else:
			self.args = [int(a) for a in args]
		if self.kind in ("sequence", "random", "float") and self.args[0] > self.args[1]:
			raise ValueError("field %s: %s > %s" % (name, args[0], args[1]))
		if self.kind == "string" and self.args[0] < 1:
			raise ValueError("field %s: length must be at least 1" % name)

	def length(self):
		return self.args[1] - self.args[0] + 1 if self.kind == "sequence" else None

	def value(self, i, rnd):
		"""The value for row number i (0-based) as a Python object psycopg2 quotes."""
		if self.kind == "sequence":
			return self.args[0] + i
		if self.kind == "random":
			return rnd.randint(self.args[0], self.args[1])
		if self.kind == "string":
			return "%0*x" % (self.args[0], rnd.getrandbits(4 * self.args[0]))
		if self.kind == "float":
			return rnd.uniform(self.args[0], self.args[1])
		if self.kind == "bool":
			return rnd.random() < 0.5
		if self.kind == "uuid":
			return str(uuid.UUID(int=rnd.getrandbits(128), version=4))
		return time.strftime("%Y-%m-%d %H:%M:%S")


class Run:
	"""Shared state: the next row number, the pacing clock, counters."""

	def __init__(self, total, rate):
		self.total = total
		self.rate = rate
		self.lock = threading.Lock()
		self.next = 0
		self.done = 0
		self.errors = 0
		self.first_error = None
		self.start = time.monotonic()
		self.stop = False
		self.ack_log = None

	def take(self):
		"""The next row number and when it is due, or None when all are taken."""
		with self.lock:
			if self.stop or (self.total is not None and self.next >= self.total):
				return None
			i = self.next
			self.next += 1
		due = self.start + i / self.rate if self.rate > 0 else 0
		return i, due

	def finished(self, ok, err=None, row=None, sent=None):
		with self.lock:
			if ok:
				self.done += 1
			else:
				self.errors += 1
				if self.first_error is None:
					self.first_error = err
			if self.ack_log is not None and row is not None:
				rec = {"ok": ok, "row": [v if isinstance(v, (int, float, bool)) else str(v) for v in row],
					"sent": sent, "done": time.time()}
				if not ok:
					rec["error"] = err
				self.ack_log.write(json.dumps(rec) + "\n")
				self.ack_log.flush()


def connect(dsn, timeout):
	"""psycopg2.connect, tried again for up to timeout seconds."""
	deadline = time.monotonic() + timeout
	while True:
		try:
			return psycopg2.connect(dsn)
		except psycopg2.OperationalError:
			if time.monotonic() >= deadline:
				raise
			time.sleep(0.5)


def client(run, args, fields, seed, cid):
	rnd = random.Random(seed * 1000003 + cid)
	cols = ", ".join('"%s"' % f.name.replace('"', '""') for f in fields)
	sql = "INSERT INTO %s (%s) VALUES (%s)" % (args.table, cols, ", ".join(["%s"] * len(fields)))
	try:
		conn = connect(args.dsn, args.connect_timeout)
	except psycopg2.Error as e:
		run.finished(False, "client %d: connect: %s" % (cid, str(e).strip()))
		run.stop = True
		return
	conn.autocommit = True
	cur = conn.cursor()
	try:
		while True:
			t = run.take()
			if t is None:
				break
			i, due = t
			wait = due - time.monotonic()
			if wait > 0:
				time.sleep(wait)
			row = [f.value(i, rnd) for f in fields]
			sent = time.time()
			try:
				# psycopg2 interpolates on the client: one Query message with literal values
				cur.execute(sql, row)
				run.finished(True, row=row, sent=sent)
			except psycopg2.Error as e:
				run.finished(False, "%s: %s" % (e.pgcode, str(e).strip()), row=row, sent=sent)
				if conn.closed:
					break     # the connection is gone: this client is done
	finally:
		conn.close()


def progress(run, final=False):
	el = time.monotonic() - run.start
	total = "/%d" % run.total if run.total is not None else ""
	line = "\r%d%s rows  %.1f rows/s  %d errors  %.1fs" % (run.done, total, run.done / el if el > 0 else 0.0,
		run.errors, el)
	sys.stderr.write(line + ("\n" if final else ""))
	sys.stderr.flush()


def main(argv=None):
	ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
		formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n", 2)[2])
	env = os.environ.get

	def env_num(name, conv, default):
		v = env(name)
		if v is None or v == "":
			return default
		try:
			return conv(v)
		except ValueError:
			ap.error("%s=%r is not a number" % (name, v))

	ap.add_argument("--dsn", required=env("DATAGEN_DSN") is None, default=env("DATAGEN_DSN"),
		help="libpq connection string (pgbatchd's address)")
	ap.add_argument("--table", default=env("DATAGEN_TABLE", "test_adbpg_table"))
	ap.add_argument("--field", action="append", default=[], metavar="NAME=KIND[:ARGS]")
	ap.add_argument("--rows-per-second", type=float, default=env_num("DATAGEN_ROWS_PER_SECOND", float, 5.0),
		help="total rate; 0 = unthrottled (default 5)")
	ap.add_argument("--rows", type=int, default=env_num("DATAGEN_ROWS", int, None),
		help="rows to send (default: the sequence's length)")
	ap.add_argument("--clients", type=int, default=env_num("DATAGEN_CLIENTS", int, 1),
		help="client connections (default 1)")
	ap.add_argument("--seed", type=int, default=env_num("DATAGEN_SEED", int, 1), help="random seed (default 1)")
	ap.add_argument("--ack-log", default=env("DATAGEN_ACK_LOG") or None, metavar="FILE",
		help="one JSON line per row sent: acknowledged or not")
	ap.add_argument("--connect-timeout", type=float, default=env_num("DATAGEN_CONNECT_TIMEOUT", float, 0.0),
		metavar="S", help="keep trying to connect for S seconds (default 0)")
	ap.add_argument("--quiet", action="store_true", help="no progress line")
	args = ap.parse_args(argv)
	if not args.field and env("DATAGEN_FIELDS"):
		args.field = env("DATAGEN_FIELDS").split()

	try:
		fields = [Field(s) for s in (args.field or ["b1=sequence:1:1000", "b2=random:1:1000", "b3=string:10"])]
	except ValueError as e:
		ap.error(str(e))
	seq = [f.length() for f in fields if f.length() is not None]
	total = args.rows
	if seq:
		total = min(seq) if total is None else min(total, min(seq))
	if total is None:
		ap.error("--rows is required when no field is a sequence")
	if args.clients < 1 or args.rows_per_second < 0:
		ap.error("--clients must be >= 1 and --rows-per-second >= 0")

	run = Run(total, args.rows_per_second)
	if args.ack_log:
		run.ack_log = open(args.ack_log, "w")
	threads = [threading.Thread(target=client, args=(run, args, fields, args.seed, c), daemon=True)
		for c in range(args.clients)]
	for t in threads:
		t.start()
	live = not args.quiet and sys.stderr.isatty()
	try:
		while any(t.is_alive() for t in threads):
			if live:
				progress(run)
			time.sleep(0.2)
	except KeyboardInterrupt:
		run.stop = True
		for t in threads:
			t.join(5)
	if live:
		progress(run, final=True)
	el = time.monotonic() - run.start
	print("datagen: %d rows inserted into %s by %d client(s) in %.2fs (%.1f rows/s), %d errors" % (
		run.done, args.table, args.clients, el, run.done / el if el > 0 else 0.0, run.errors))
	if run.first_error:
		print("datagen: first error: %s" % run.first_error)
	sys.stdout.flush()
	if run.ack_log is not None:
		run.ack_log.close()
	return 1 if run.errors else 0


if __name__ == "__main__":
	sys.exit(main())
