"""A plain TCP relay in front of PostgreSQL whose connections can be cut one
at a time, as a network fault or a middlebox that dies would cut them: both
sides reset at once, while the server may still be running what it was sent
(a backend waiting for a lock reads nothing until it is done)."""

import socket
import struct
import threading


def _reset(sock):
	"""Closes with a reset (SO_LINGER 0), not an orderly FIN. The pump blocked
	in recv() on it is woken first (SHUT_RD sends nothing): a socket closed
	under a blocked recv() would only really close when that returns."""
	try:
		sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
		sock.shutdown(socket.SHUT_RD)
	except OSError:
		pass


class Relay:
	def __init__(self, server):
		self.target = (server.host, server.port)
		self.pairs = {}         # the server side's local port (its client_port) -> sockets
		self.lock = threading.Lock()
		self.lsock = socket.socket()
		self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
		self.lsock.bind(("127.0.0.1", 0))
		self.lsock.listen(64)
		self.host, self.port = self.lsock.getsockname()
		self.closed = False
		threading.Thread(target=self._accept, daemon=True).start()

	def url(self, db="postgres"):
		return "postgresql://%s:%d/%s" % (self.host, self.port, db)

	def close(self):
		self.closed = True
		try:
			self.lsock.close()
		except OSError:
			pass

	def _accept(self):
		while not self.closed:
			try:
				c, _ = self.lsock.accept()
			except OSError:
				return
			s = socket.create_connection(self.target)
			for x in (c, s):
				x.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
			cut = threading.Event()
			with self.lock:
				self.pairs[s.getsockname()[1]] = (c, s, cut)
			threading.Thread(target=self._pump, args=(c, s, cut), daemon=True).start()
			threading.Thread(target=self._pump, args=(s, c, cut), daemon=True).start()

	@staticmethod
	def _pump(a, b, cut):
		try:
			while True:
				data = a.recv(65536)
				if not data or cut.is_set():
					break
				b.sendall(data)
		except OSError:
			pass
		if cut.is_set():
			a.close()           # (SO_LINGER 0: the reset goes now)
			return
		for x in (a, b):
			try:
				x.shutdown(socket.SHUT_RDWR)
			except OSError:
				pass

	def cut(self, client_port):
		"""Resets both sides of the connection the server sees from client_port."""
		with self.lock:
			c, s, cut = self.pairs.pop(client_port)
		cut.set()
		_reset(c)
		_reset(s)
