"""A raw PostgreSQL v3 wire-protocol client for tests: message builders, a framed reader, login (trust, cleartext, md5, SCRAM-SHA-256)."""

import base64
import hashlib
import hmac
import os
import socket
import struct
import time

PROTO_V3 = 196608
SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102


class ProtocolError(Exception):
	pass


# ---------------------------------------------------------------- builders

def msg(t, payload=b""):
	"""One typed message: type byte, int32 length (incl. itself), payload."""
	if isinstance(t, str):
		t = t.encode()
	return t + struct.pack("!I", len(payload) + 4) + payload


def cstr(s):
	if isinstance(s, str):
		s = s.encode()
	return s + b"\0"


def startup(params, version=PROTO_V3):
	body = struct.pack("!I", version)
	for k, v in params.items():
		body += cstr(k) + cstr(v)
	body += b"\0"
	return struct.pack("!I", len(body) + 4) + body


def ssl_request():
	return struct.pack("!II", 8, SSL_REQUEST)


def gssenc_request():
	return struct.pack("!II", 8, GSSENC_REQUEST)


def cancel_request(pid, secret):
	return struct.pack("!IIII", 16, CANCEL_REQUEST, pid, secret)


def query(sql):
	return msg("Q", cstr(sql))


def parse(name, sql, types=()):
	return msg("P", cstr(name) + cstr(sql) + struct.pack("!H", len(types)) +
		b"".join(struct.pack("!I", t) for t in types))


def bind(portal, stmt, params=(), param_formats=(), result_formats=()):
	body = cstr(portal) + cstr(stmt)
	body += struct.pack("!H", len(param_formats))
	body += b"".join(struct.pack("!H", f) for f in param_formats)
	body += struct.pack("!H", len(params))
	for p in params:
		if p is None:
			body += struct.pack("!i", -1)
		else:
			if isinstance(p, str):
				p = p.encode()
			body += struct.pack("!i", len(p)) + p
	body += struct.pack("!H", len(result_formats))
	body += b"".join(struct.pack("!H", f) for f in result_formats)
	return msg("B", body)


def describe(kind, name):
	return msg("D", kind.encode() + cstr(name))


def execute(portal, maxrows=0):
	return msg("E", cstr(portal) + struct.pack("!I", maxrows))


def close(kind, name):
	return msg("C", kind.encode() + cstr(name))


def sync():
	return msg("S")


def flush():
	return msg("H")


def terminate():
	return msg("X")


def copy_data(data):
	return msg("d", data)


def copy_done():
	return msg("c")


def copy_fail(reason):
	return msg("f", cstr(reason))


def function_call(oid, args=(), result_format=0):
	body = struct.pack("!IH", oid, 1) + struct.pack("!H", 0)
	body += struct.pack("!H", len(args))
	for a in args:
		if isinstance(a, str):
			a = a.encode()
		body += struct.pack("!i", len(a)) + a
	body += struct.pack("!H", result_format)
	return msg("F", body)


# ---------------------------------------------------------------- decoding

def fields(payload):
	"""ErrorResponse / NoticeResponse payload -> {field code: text}."""
	out = {}
	i = 0
	while i < len(payload) and payload[i] != 0:
		code = chr(payload[i])
		end = payload.index(b"\0", i + 1)
		out[code] = payload[i + 1:end].decode("utf-8", "replace")
		i = end + 1
	return out


def datarow(payload):
	n = struct.unpack_from("!H", payload, 0)[0]
	off = 2
	cols = []
	for _ in range(n):
		ln = struct.unpack_from("!i", payload, off)[0]
		off += 4
		if ln < 0:
			cols.append(None)
		else:
			cols.append(payload[off:off + ln])
			off += ln
	return cols


def normalize(messages):
	"""Zeroes what legitimately differs between two connections to the same
	server: BackendKeyData (pid, secret) and the sender PID of notifications."""
	out = []
	for t, p in messages:
		if t == "K" and len(p) == 8:
			p = b"\0" * 8
		elif t == "A" and len(p) >= 4:
			p = b"\0\0\0\0" + p[4:]
		out.append((t, p))
	return out


def describe_msg(t, p):
	"""A readable one-line rendering of a message for assertion diffs."""
	if t in ("E", "N"):
		f = fields(p)
		return "%s %s %s: %s" % (t, f.get("S"), f.get("C"), f.get("M"))
	if t == "D":
		cols = datarow(p)
		short = [c if c is None or len(c) <= 40 else c[:20] + b"...(%d)" % len(c) for c in cols]
		return "D %r" % (short,)
	if t in ("C", "S"):
		return "%s %r" % (t, p)
	if t == "Z":
		return "Z %r" % (p,)
	if len(p) > 60:
		return "%s <%d bytes> %r..." % (t, len(p), p[:40])
	return "%s %r" % (t, p)


# ---------------------------------------------------------------- connection

class Conn:
	"""A blocking socket with a framed reader. Every read has a timeout so a
	proxy that hangs fails the test instead of stalling it."""

	def __init__(self, host, port, timeout=30.0):
		self.sock = socket.create_connection((host, port), timeout=timeout)
		self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
		self.timeout = timeout
		self.buf = bytearray()
		self.pid = None
		self.secret = None
		self.params = {}

	def close(self):
		try:
			self.sock.close()
		except OSError:
			pass

	def __enter__(self):
		return self

	def __exit__(self, *exc):
		self.close()

	def send(self, data):
		self.sock.sendall(data)

	def _fill(self, deadline):
		remaining = deadline - time.monotonic()
		if remaining <= 0:
			raise socket.timeout("timed out waiting for the server")
		self.sock.settimeout(remaining)
		chunk = self.sock.recv(1 << 20)
		if not chunk:
			raise EOFError("connection closed by the server")
		self.buf += chunk

	def read_byte(self, timeout=None):
		deadline = time.monotonic() + (timeout or self.timeout)
		while not self.buf:
			self._fill(deadline)
		b = bytes(self.buf[:1])
		del self.buf[:1]
		return b

	def read_msg(self, timeout=None):
		"""Returns (type char, payload bytes). Raises EOFError on a clean EOF."""
		deadline = time.monotonic() + (timeout or self.timeout)
		while len(self.buf) < 5:
			self._fill(deadline)
		t = chr(self.buf[0])
		ln = struct.unpack_from("!I", self.buf, 1)[0]
		if ln < 4:
			raise ProtocolError("bad length %d for message %r" % (ln, t))
		while len(self.buf) < 1 + ln:
			self._fill(deadline)
		p = bytes(self.buf[5:1 + ln])
		del self.buf[:1 + ln]
		return t, p

	def read_until(self, t_stop="Z", count=1, timeout=None):
		"""Reads messages until `count` messages of type t_stop were read."""
		out = []
		seen = 0
		while seen < count:
			t, p = self.read_msg(timeout)
			out.append((t, p))
			if t == t_stop:
				seen += 1
		return out

	def read_eof_or_error(self, timeout=10.0):
		"""For a server expected to end the session: returns the messages read
		until EOF (possibly none). Raises on timeout (that is a hang)."""
		out = []
		while True:
			try:
				out.append(self.read_msg(timeout))
			except (EOFError, ConnectionResetError):
				return out

	# -- login

	def login(self, user, database=None, password=None, params=None, ssl_probe=False):
		"""Runs the startup exchange up to the first ReadyForQuery. Returns all
		messages received. An ErrorResponse raises ServerError."""
		if ssl_probe:
			self.send(ssl_request())
			if self.read_byte() != b"N":
				raise ProtocolError("SSLRequest not answered with N")
		p = {"user": user}
		if database:
			p["database"] = database
		if params:
			p.update(params)
		self.send(startup(p))
		out = []
		scram = None
		while True:
			t, pl = self.read_msg()
			out.append((t, pl))
			if t == "E":
				raise ServerError(fields(pl), out)
			if t == "R":
				code = struct.unpack_from("!I", pl)[0]
				if code == 0:
					continue
				if code == 3:
					self.send(msg("p", cstr(password or "")))
				elif code == 5:
					self.send(msg("p", cstr(md5_response(user, password or "", pl[4:8]))))
				elif code == 10:
					mechs = pl[4:].split(b"\0")
					if b"SCRAM-SHA-256" not in mechs:
						raise ProtocolError("no SCRAM-SHA-256 in %r" % mechs)
					scram = ScramClient(password or "")
					first = scram.client_first()
					self.send(msg("p", cstr("SCRAM-SHA-256") + struct.pack("!I", len(first)) + first))
				elif code == 11:
					self.send(msg("p", scram.client_final(pl[4:])))
				elif code == 12:
					scram.verify_server_final(pl[4:])
				else:
					raise ProtocolError("unsupported auth request %d" % code)
			elif t == "K":
				self.pid, self.secret = struct.unpack("!II", pl)
			elif t == "S":
				k, v = pl.split(b"\0")[:2]
				self.params[k.decode()] = v.decode()
			elif t == "Z":
				return out

	def simple(self, sql):
		"""Sends one Query, returns messages up to ReadyForQuery."""
		self.send(query(sql))
		return self.read_until("Z")

	def scalar(self, sql):
		for t, p in self.simple(sql):
			if t == "E":
				raise ServerError(fields(p), [])
			if t == "D":
				v = datarow(p)[0]
				return None if v is None else v.decode()
		return None


class ServerError(Exception):
	def __init__(self, flds, messages):
		super().__init__("%s %s: %s" % (flds.get("S"), flds.get("C"), flds.get("M")))
		self.fields = flds
		self.sqlstate = flds.get("C")
		self.messages = messages


def md5_response(user, password, salt):
	inner = hashlib.md5(password.encode() + user.encode()).hexdigest()
	return "md5" + hashlib.md5(inner.encode() + salt).hexdigest()


class ScramClient:
	"""Client side of SCRAM-SHA-256 (RFC 5802/7677), no channel binding."""

	def __init__(self, password):
		self.password = password.encode()
		self.nonce = base64.b64encode(os.urandom(18)).decode()
		self.first_bare = "n=,r=" + self.nonce
		self.server_sig = None

	def client_first(self):
		return ("n,," + self.first_bare).encode()

	def client_final(self, server_first):
		sf = server_first.decode()
		attrs = dict(kv.split("=", 1) for kv in sf.split(","))
		if not attrs["r"].startswith(self.nonce):
			raise ProtocolError("server nonce does not extend ours")
		salt = base64.b64decode(attrs["s"])
		iters = int(attrs["i"])
		salted = hashlib.pbkdf2_hmac("sha256", self.password, salt, iters)
		client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
		stored_key = hashlib.sha256(client_key).digest()
		final_wo_proof = "c=biws,r=" + attrs["r"]
		auth_msg = (self.first_bare + "," + sf + "," + final_wo_proof).encode()
		client_sig = hmac.new(stored_key, auth_msg, hashlib.sha256).digest()
		proof = bytes(a ^ b for a, b in zip(client_key, client_sig))
		server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
		self.server_sig = hmac.new(server_key, auth_msg, hashlib.sha256).digest()
		return (final_wo_proof + ",p=" + base64.b64encode(proof).decode()).encode()

	def verify_server_final(self, data):
		attrs = dict(kv.split("=", 1) for kv in data.decode().split(","))
		if base64.b64decode(attrs["v"]) != self.server_sig:
			raise ProtocolError("bad SCRAM server signature")
