"""A TCP relay in front of PostgreSQL that loses the answer to a COMMIT: it
forwards the client's COMMIT (and, for a Query that also runs COPY FROM STDIN,
the COPY data up to CopyDone) to the server, then closes both sides without
relaying a byte of the reply. The server has the whole transaction and commits
it; the client only sees its connection drop. After `cuts` such drops it
relays everything untouched.

mode="mix" alternates two cuts: the one above (the answer lost), and a cut in
the middle of a batch's COPY: half of its first CopyData message reaches the
server, then both connections close, so the server aborts the transaction and
the client sees its connection drop mid-COPY (a batch without COPY is cut the
first way)."""

import socket
import struct
import threading


def _shut(*pairs):
	"""shutdown(how) on each (socket, how); one shut already is no error."""
	for sock, how in pairs:
		try:
			sock.shutdown(how)
		except OSError:
			pass


class CutRelay:
	def __init__(self, server, cuts, mode="commit"):
		self.target = (server.host, server.port)
		self.mode = mode
		self.mid_copy = 0       # cuts made mid-COPY
		self.left = cuts
		self.done = 0
		self.lock = threading.Lock()
		self.lsock = socket.socket()
		self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
		self.lsock.bind(("127.0.0.1", 0))
		self.lsock.listen(64)
		self.host, self.port = self.lsock.getsockname()
		self.closed = False
		threading.Thread(target=self._accept, daemon=True).start()

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
			try:
				s = socket.create_connection(self.target)
			except OSError:
				# the server is down (a test restarts it): the client sees
				# its connection close, as when it connects to a dead server
				c.close()
				continue
			for x in (c, s):
				x.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
			cut = threading.Event()
			threading.Thread(target=self._down, args=(s, c, cut), daemon=True).start()
			threading.Thread(target=self._up, args=(c, s, cut), daemon=True).start()

	@staticmethod
	def _down(s, c, cut):
		"""Server to client; once cut, the server's answer is read and dropped
		until it closes (closing with unread data would reset the connection,
		and the server might not run the COMMIT it was sent)."""
		try:
			while True:
				data = s.recv(65536)
				if not data:
					break
				if not cut.is_set():
					c.sendall(data)
		except OSError:
			pass
		_shut((c, socket.SHUT_RDWR), (s, socket.SHUT_RDWR))

	@staticmethod
	def _read(sock, n, buf):
		while len(buf) < n:
			data = sock.recv(65536)
			if not data:
				raise EOFError
			buf += data
		return buf

	def _take_cut(self):
		"""The number of this cut (1, 2, ...), or 0 when none is left."""
		with self.lock:
			if self.left <= 0:
				return 0
			self.left -= 1
			self.taken = getattr(self, "taken", 0) + 1
			return self.taken

	def _up(self, c, s, cut):
		buf = b""
		started = False
		armed = None          # the message type after which the connection is cut
		try:
			while True:
				if not started:
					buf = self._read(c, 4, buf)
					n = struct.unpack("!I", buf[:4])[0]
					buf = self._read(c, n, buf)
					code = struct.unpack("!I", buf[4:8])[0]
					s.sendall(buf[:n])
					buf = buf[n:]
					started = code not in (80877103, 80877104)   # SSL/GSSENC requests come first
					continue
				buf = self._read(c, 5, buf)
				t = buf[:1]
				n = struct.unpack("!I", buf[1:5])[0]
				buf = self._read(c, n + 1, buf)
				m, buf = buf[:n + 1], buf[n + 1:]
				nth = self._take_cut() if t == b"Q" and armed is None and b"COMMIT" in m else 0
				if nth:
					armed = b"c" if b"FROM STDIN" in m else b"Q"
					if armed == b"c" and self.mode == "mix" and nth % 2 == 0:
						armed = b"d-half"
				if armed == b"d-half" and t == b"d":
					s.sendall(m[:max(1, len(m) // 2)])
					with self.lock:
						self.done += 1
						self.mid_copy += 1
					_shut((s, socket.SHUT_RDWR), (c, socket.SHUT_RDWR))
					return
				if armed is not None and t == armed:
					cut.set()
					s.sendall(m)
					with self.lock:
						self.done += 1
					# the server reads it all, then EOF; the client sees its
					# connection drop (unless _down, seeing the server close
					# first, has shut both already)
					_shut((s, socket.SHUT_WR), (c, socket.SHUT_RDWR))
					return
				s.sendall(m)
		except (OSError, EOFError):
			pass
		_shut((s, socket.SHUT_RDWR), (c, socket.SHUT_RDWR))
