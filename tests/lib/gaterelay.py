"""A TCP relay in front of a PgServer that can hold back the server's answers
to pgbatchd's own backend logins (not the sink's writers), so that a test
decides when such a login ends; or never answer the logins of one user."""

import socket
import struct
import threading


class GateRelay:
	def __init__(self, server, stall_user=None):
		self.target = (server.host, server.port)
		self.stall = b"user\0" + stall_user.encode() + b"\0" if stall_user else None
		self.gate = threading.Event()
		self.gate.set()                 # open: everything flows
		self.waiting = threading.Event()    # a held login is waiting for the gate
		self.held = 0                       # logins held so far
		self.socks = []
		self.lsock = socket.socket()
		self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
		self.lsock.bind(("127.0.0.1", 0))
		self.lsock.listen(256)
		self.host, self.port = self.lsock.getsockname()
		self.closed = False
		threading.Thread(target=self._accept, daemon=True).start()

	def url(self, db="postgres"):
		return "postgresql://%s:%d/%s" % (self.host, self.port, db)

	def hold(self):
		"""From now on, answers to new logins of pgbatchd's sessions wait for release()."""
		self.waiting.clear()
		self.gate.clear()

	def release(self):
		self.gate.set()

	def close(self):
		self.closed = True
		self.gate.set()
		for s in [self.lsock] + self.socks:
			try:
				s.close()
			except OSError:
				pass

	def _accept(self):
		while not self.closed:
			try:
				c, _ = self.lsock.accept()
			except OSError:
				return
			self.socks.append(c)
			threading.Thread(target=self._serve, args=(c,), daemon=True).start()

	@staticmethod
	def _read_startup(c):
		data = b""
		while len(data) < 4 or len(data) < struct.unpack("!I", data[:4])[0]:
			d = c.recv(65536)
			if not d:
				return None
			data += d
		return data

	def _serve(self, c):
		s = None
		try:
			first = self._read_startup(c)
			if first is None:
				return
			if first == struct.pack("!II", 8, 80877103):
				# an SSLRequest (libpq's, and pgbatchd's own with
				# server_tls_sslmode = prefer): relayed with its answer, then
				# the StartupMessage after an 'N' is looked at as before
				s = socket.create_connection(self.target)
				self.socks.append(s)
				s.sendall(first)
				answer = s.recv(1)
				c.sendall(answer)
				if answer != b"N":
					first = b""     # (TLS: nothing to look at, nothing gated)
				else:
					first = self._read_startup(c)
					if first is None:
						return
			if self.stall and self.stall in first:
				return                  # never answered (the socket stays open)
			if s is None:
				s = socket.create_connection(self.target)
				self.socks.append(s)
			s.sendall(first)
		except OSError:
			return
		# pgbatchd's own login (a session's backend), not the sink's
		gated = first[4:8] == struct.pack("!I", 196608) and b"pgbatchd-sink" not in first and \
			not self.gate.is_set()
		threading.Thread(target=self._pump, args=(c, s, False), daemon=True).start()
		threading.Thread(target=self._pump, args=(s, c, gated), daemon=True).start()

	def _pump(self, a, b, gated):
		try:
			while True:
				d = a.recv(65536)
				if not d:
					break
				if gated:
					self.held += 1
					self.waiting.set()
					self.gate.wait()
					gated = False
				b.sendall(d)
		except OSError:
			pass
		try:
			b.shutdown(socket.SHUT_WR)
		except OSError:
			pass
