#!/usr/bin/python3
"""Replays a trace against a server (pgbatchd): sends the client's messages of each connection as the client did, and checks every reply message against the one PostgreSQL sent when the trace was recorded.

    tests/replay/replay.py TRACE HOST PORT

A client waits for answers only after a message that asks for them (Sync,
Flush, Query, a startup packet, CopyDone): before sending the message that
follows such a one, the replayer waits until every reply the trace shows
before that message has come. Messages a client pipelined go out at once.
Each connection of a trace (lines prefixed "N ") is replayed by a thread of
its own. What is normalized: BackendKeyData, the values of ParameterStatus
messages that vary by machine, notification PIDs.
"""

import json  # noqa: F401  (callers read the header's rows with it)
import os
import socket
import struct
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import trace  # noqa: E402

# frontend messages after which a client waits for the server
WAITS_AFTER = {"S", "H", "Q", "startup", "ssl", "gssenc", "c", "f", "p", "F"}
# ParameterStatus values that depend on the machine or the build
VARYING = {"server_version", "application_name"}


def normalize(text):
	"""A backend line as compared: what may differ between runs is blanked."""
	d, _, rest = text.partition(" ")
	t, _, fields = rest.partition(" ")
	if t == "K":
		return "B K"
	if t == "S":
		name = fields.split('" ', 1)[0] + '"'
		if any(('name="%s"' % v) == name for v in VARYING):
			return "B S %s" % name
	if t == "A":
		return "B A " + fields.split(" ", 1)[-1]
	return text


def split_connections(lines):
	conns = {}
	for ln in lines:
		n = 1
		head = ln.split(" ", 1)[0]
		if head.isdigit():
			n, ln = int(head), ln.split(" ", 1)[1]
		conns.setdefault(n, []).append(ln)
	return conns


class Replay:
	"""One connection's replay."""

	def __init__(self, host, port, lines, timeout):
		self.host, self.port, self.lines, self.timeout = host, port, lines, timeout
		self.expected = [normalize(ln) for ln in lines if ln.startswith("B ")]
		self.received = []
		self.cond = threading.Condition()
		self.error = None
		self.eof = False

	def _reader(self, sock):
		buf = b""
		first_byte = any(ln.startswith("F ssl") or ln.startswith("F gssenc") for ln in self.lines[:1])
		try:
			while True:
				data = sock.recv(65536)
				if not data:
					break
				buf += data
				while True:
					if first_byte:
						if not buf:
							break
						self._got("B byte %s" % buf[:1].decode(errors="replace"))
						buf, first_byte = buf[1:], False
						continue
					if len(buf) < 5:
						break
					ln = struct.unpack("!I", buf[1:5])[0]
					if len(buf) < 1 + ln:
						break
					t, body, buf = buf[:1].decode(), buf[5:1 + ln], buf[1 + ln:]
					self._got(trace.line("B", t, body))
		except OSError as e:
			self.error = "read: %s" % e
		with self.cond:
			self.eof = True
			self.cond.notify_all()

	def _got(self, text):
		with self.cond:
			self.received.append(normalize(text))
			self.cond.notify_all()

	def _wait_for(self, n):
		deadline = time.monotonic() + self.timeout
		with self.cond:
			while len(self.received) < n and not self.eof:
				left = deadline - time.monotonic()
				if left <= 0:
					return False
				self.cond.wait(left)
			return len(self.received) >= n

	def run(self):
		sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
		sock.settimeout(None)
		reader = threading.Thread(target=self._reader, args=(sock,), daemon=True)
		reader.start()
		seen_b = 0
		last = None
		try:
			for ln in self.lines:
				if ln.startswith("B "):
					seen_b += 1
					continue
				_, t, _, raw = trace.encode_line(ln)
				if last in WAITS_AFTER and not self._wait_for(seen_b):
					self.error = "timed out waiting for reply %d before %r" % (len(self.received) + 1, ln[:120])
					break
				sock.sendall(raw)
				last = t
			if self.error is None and not self._wait_for(len(self.expected)):
				self.error = "timed out waiting for reply %d of %d" % (len(self.received) + 1, len(self.expected))
		finally:
			try:
				sock.shutdown(socket.SHUT_WR)
			except OSError:
				pass
			reader.join(self.timeout)
			sock.close()

	def mismatches(self):
		out = []
		for i, exp in enumerate(self.expected):
			got = self.received[i] if i < len(self.received) else "(nothing)"
			if got != exp:
				out.append("reply %d: expected %s\n            got %s" % (i + 1, exp[:300], got[:300]))
				break
		if len(self.received) > len(self.expected):
			out.append("%d replies more than recorded, first %s" % (len(self.received) - len(self.expected),
				self.received[len(self.expected)][:300]))
		if self.error:
			out.append(self.error)
		return out


def replay(path, host, port, timeout=60.0):
	"""Replays every connection of the trace; returns (header, problems)."""
	header, lines = trace.read(path)
	conns = split_connections(lines)
	reps = {n: Replay(host, port, ls, timeout) for n, ls in conns.items()}
	threads = [threading.Thread(target=r.run, daemon=True) for r in reps.values()]
	for t in threads:
		t.start()
	for t in threads:
		t.join(timeout * 4)
	problems = []
	for n, r in sorted(reps.items()):
		for p in r.mismatches():
			problems.append("connection %d: %s" % (n, p))
	return header, problems


def main():
	if len(sys.argv) != 4:
		sys.exit(__doc__.split("\n")[0])
	_, problems = replay(sys.argv[1], sys.argv[2], int(sys.argv[3]))
	for p in problems:
		print(p)
	sys.exit(1 if problems else 0)


if __name__ == "__main__":
	main()
