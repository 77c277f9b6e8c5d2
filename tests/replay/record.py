#!/usr/bin/python3
"""Records a replay trace: a throwaway PostgreSQL 15, a relay in front of it that writes every message both ways, and a client program run against the relay.

    tests/replay/record.py --name NAME --setup SQL [--setup SQL ...] \\
        --table 'TABLE key=value ...' --expect 'SELECT ...' [--out FILE] -- COMMAND ARGS...

The client finds the relay in PGHOST / PGPORT (also PGUSER=postgres,
PGDATABASE=postgres); a {port} in its arguments is replaced too. The trace
(tests/replay/traces/NAME.trace by default) starts with the header: the setup
statements, the [table] options pgbatchd replays it with, the query whose
rows the table must hold afterwards, and those rows as PostgreSQL left them.
"""

import argparse
import json
import os
import select
import socket
import struct
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)

import harness  # noqa: E402
import trace  # noqa: E402

# The settings of the server a trace is recorded on and replayed against.
PG_SETTINGS = {"timezone": "UTC", "datestyle": "ISO, MDY", "lc_messages": "C"}


class Recorder:
	"""Relays one connection at a time, writing its messages as trace lines."""

	def __init__(self, target):
		self.target = target
		self.lines = []
		self.lock = threading.Lock()
		self.lsock = socket.socket()
		self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
		self.lsock.bind(("127.0.0.1", 0))
		self.lsock.listen(16)
		self.port = self.lsock.getsockname()[1]
		self.closed = False
		self.conns = 0
		threading.Thread(target=self._accept, daemon=True).start()

	def close(self):
		self.closed = True
		self.lsock.close()

	def _accept(self):
		while not self.closed:
			try:
				c, _ = self.lsock.accept()
			except OSError:
				return
			self.conns += 1
			threading.Thread(target=self._relay, args=(c, self.conns), daemon=True).start()

	def add(self, conn, text):
		with self.lock:
			self.lines.append("%s%s" % ("" if conn == 1 else "%d " % conn, text))

	def _relay(self, c, n):
		s = socket.create_connection(self.target)
		fbuf, bbuf = b"", b""
		started = False
		pending_byte = False
		socks = [c, s]
		try:
			while True:
				r, _, _ = select.select(socks, [], [])
				if c in r:
					data = c.recv(65536)
					if not data:
						break
					s.sendall(data)
					fbuf += data
					while True:
						if not started:
							if len(fbuf) < 4:
								break
							ln = struct.unpack("!I", fbuf[:4])[0]
							if len(fbuf) < ln:
								break
							pkt, fbuf = fbuf[:ln], fbuf[ln:]
							self.add(n, trace.startup_line(pkt))
							code = struct.unpack("!I", pkt[4:8])[0]
							if code in (80877103, 80877104):
								pending_byte = True
							elif code != 80877102:
								started = True
							continue
						if len(fbuf) < 5:
							break
						ln = struct.unpack("!I", fbuf[1:5])[0]
						if len(fbuf) < 1 + ln:
							break
						t, body, fbuf = fbuf[:1].decode(), fbuf[5:1 + ln], fbuf[1 + ln:]
						self.add(n, trace.line("F", t, body))
				if s in r:
					data = s.recv(65536)
					if not data:
						break
					c.sendall(data)
					bbuf += data
					while True:
						if pending_byte and bbuf:
							self.add(n, "B byte %s" % bbuf[:1].decode())
							bbuf = bbuf[1:]
							pending_byte = False
							continue
						if len(bbuf) < 5:
							break
						ln = struct.unpack("!I", bbuf[1:5])[0]
						if len(bbuf) < 1 + ln:
							break
						t, body, bbuf = bbuf[:1].decode(), bbuf[5:1 + ln], bbuf[1 + ln:]
						self.add(n, trace.line("B", t, body))
		except OSError:
			pass
		finally:
			c.close()
			s.close()


def main():
	ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
	ap.add_argument("--name", required=True)
	ap.add_argument("--setup", action="append", default=[])
	ap.add_argument("--table", action="append", default=[], help="'TABLE key=value ...' for pgbatchd")
	ap.add_argument("--expect", required=True, help="SELECT whose rows the replay must leave")
	ap.add_argument("--note", default="")
	ap.add_argument("--out")
	ap.add_argument("command", nargs=argparse.REMAINDER)
	a = ap.parse_args()
	cmd = a.command[1:] if a.command and a.command[0] == "--" else a.command
	if not cmd:
		ap.error("a client command is needed after --")
	pg = harness.PgServer(name="record", settings=PG_SETTINGS).start()
	rec = None
	try:
		for sql in a.setup:
			pg.sql(sql)
		rec = Recorder((pg.host, pg.port))
		env = harness.clean_env(PGHOST="127.0.0.1", PGPORT=rec.port, PGUSER="postgres", PGDATABASE="postgres")
		run = subprocess.run([x.replace("{port}", str(rec.port)) for x in cmd], env=env, timeout=600)
		if run.returncode != 0:
			sys.exit("the client failed (exit %d)" % run.returncode)
		rec.close()
		rows = [[None if v is None else str(v) for v in r] for r in pg.sql(a.expect)]
	finally:
		if rec:
			rec.close()
		pg.stop()
	out = a.out or os.path.join(HERE, "traces", a.name + ".trace")
	with open(out, "w", encoding="utf-8") as f:
		f.write("# pgbatchd replay trace 1\n")
		f.write("# name: %s\n" % a.name)
		if a.note:
			f.write("# note: %s\n" % a.note)
		f.write("# client: %s\n" % " ".join(cmd))
		for sql in a.setup:
			f.write("# setup: %s\n" % sql)
		for t in a.table:
			f.write("# table: %s\n" % t)
		f.write("# expect: %s\n" % a.expect)
		f.write("# rows: %s\n" % json.dumps(rows))
		for ln in rec.lines:
			f.write(ln + "\n")
	print("wrote %s (%d messages)" % (out, len(rec.lines)))


if __name__ == "__main__":
	main()
