"""Replay traces: the wire conversation of a real client with PostgreSQL, one message per line.

Format (docs in tests/replay/README.md):

    # a comment, or a header line `# key: value` before the first message
    F <message>     a message the client sent (frontend)
    B <message>     a message the server sent (backend)

A message is its type and its fields, each field `name=value` where a value
is a number, a quoted string ("..." with \\\\, \\", \\n, \\r, \\t and \\xHH
escapes), a hex string x'0a0b', NULL, or a list [v, v, ...]. Messages this
module does not know field by field are `<type> x'<hex body>'`. Startup-phase
packets have the names startup, ssl, gssenc, cancel; the server's one-byte
answer to ssl/gssenc is `B byte N`.
"""

import struct

# ---------------------------------------------------------------- values

def q(s):
	"""A quoted string from bytes or str."""
	if isinstance(s, str):
		s = s.encode()
	out = ['"']
	for b in s:
		c = chr(b)
		if c == "\\":
			out.append("\\\\")
		elif c == '"':
			out.append('\\"')
		elif c == "\n":
			out.append("\\n")
		elif c == "\r":
			out.append("\\r")
		elif c == "\t":
			out.append("\\t")
		elif 32 <= b < 127:
			out.append(c)
		else:
			out.append("\\x%02x" % b)
	out.append('"')
	return "".join(out)


def hx(b):
	return "x'%s'" % b.hex()


def fmt(v):
	if v is None:
		return "NULL"
	if isinstance(v, bool):
		return "1" if v else "0"
	if isinstance(v, int):
		return str(v)
	if isinstance(v, list):
		return "[" + ", ".join(fmt(x) for x in v) + "]"
	if isinstance(v, Hex):
		return hx(v.b)
	return q(v)


class Hex:
	"""Bytes written as hex (binary parameters, bodies)."""

	def __init__(self, b):
		self.b = bytes(b)

	def __eq__(self, o):
		return isinstance(o, Hex) and o.b == self.b

	def __repr__(self):
		return hx(self.b)


class Reader:
	"""Parses the values of one line."""

	def __init__(self, s):
		self.s = s
		self.i = 0

	def ws(self):
		while self.i < len(self.s) and self.s[self.i] in " \t":
			self.i += 1

	def done(self):
		self.ws()
		return self.i >= len(self.s)

	def word(self):
		self.ws()
		j = self.i
		while self.i < len(self.s) and self.s[self.i] not in " \t=[],":
			self.i += 1
		return self.s[j:self.i]

	def value(self):
		self.ws()
		c = self.s[self.i]
		if c == '"':
			self.i += 1
			out = bytearray()
			while self.s[self.i] != '"':
				c = self.s[self.i]
				if c == "\\":
					n = self.s[self.i + 1]
					if n == "x":
						out.append(int(self.s[self.i + 2:self.i + 4], 16))
						self.i += 4
						continue
					out += {"n": b"\n", "r": b"\r", "t": b"\t"}.get(n, n.encode())
					self.i += 2
					continue
				out += c.encode()
				self.i += 1
			self.i += 1
			return bytes(out)
		if c == "x" and self.s[self.i + 1] == "'":
			j = self.s.index("'", self.i + 2)
			v = Hex(bytes.fromhex(self.s[self.i + 2:j]))
			self.i = j + 1
			return v
		if c == "[":
			self.i += 1
			out = []
			self.ws()
			while self.s[self.i] != "]":
				out.append(self.value())
				self.ws()
				if self.s[self.i] == ",":
					self.i += 1
				self.ws()
			self.i += 1
			return out
		w = self.word()
		if w == "NULL":
			return None
		return int(w)

	def fields(self):
		out = {}
		while not self.done():
			name = self.word()
			self.ws()
			if self.i < len(self.s) and self.s[self.i] == "=":
				self.i += 1
				out[name] = self.value()
			else:
				raise ValueError("expected name=value at %r" % self.s[self.i:])
		return out


# ---------------------------------------------------------------- bytes

def cstr(b):
	i = b.index(b"\0")
	return b[:i], b[i + 1:]


def u16(b):
	return struct.unpack("!H", b[:2])[0], b[2:]


def i16(b):
	return struct.unpack("!h", b[:2])[0], b[2:]


def u32(b):
	return struct.unpack("!I", b[:4])[0], b[4:]


def i32(b):
	return struct.unpack("!i", b[:4])[0], b[4:]


def decode_front(t, body):
	"""Fields of a frontend message, or None (then the body is kept as hex)."""
	try:
		if t == "Q":
			sql, rest = cstr(body)
			return {"sql": sql} if not rest else None
		if t == "P":
			name, b = cstr(body)
			sql, b = cstr(b)
			n, b = u16(b)
			types = []
			for _ in range(n):
				v, b = u32(b)
				types.append(v)
			return {"name": name, "sql": sql, "types": types} if not b else None
		if t == "B":
			portal, b = cstr(body)
			stmt, b = cstr(b)
			n, b = u16(b)
			pf = []
			for _ in range(n):
				v, b = i16(b)
				pf.append(v)
			n, b = u16(b)
			params = []
			for i in range(n):
				ln, b = i32(b)
				if ln < 0:
					params.append(None)
					continue
				raw, b = b[:ln], b[ln:]
				binary = (pf[i] if len(pf) > 1 else pf[0] if pf else 0) == 1
				params.append(Hex(raw) if binary else raw)
			n, b = u16(b)
			rf = []
			for _ in range(n):
				v, b = i16(b)
				rf.append(v)
			return {"portal": portal, "stmt": stmt, "pformats": pf, "params": params, "rformats": rf} if not b else None
		if t == "E":
			portal, b = cstr(body)
			mx, b = i32(b)
			return {"portal": portal, "max": mx} if not b else None
		if t in "DC":
			kind, b = body[:1], body[1:]
			name, b = cstr(b)
			return {"kind": kind, "name": name} if not b else None
		if t in "SHXc" and not body:
			return {}
	except (ValueError, struct.error, IndexError):
		return None
	return None


def encode_front(t, f):
	if t == "Q":
		body = f["sql"] + b"\0"
	elif t == "P":
		body = f["name"] + b"\0" + f["sql"] + b"\0" + struct.pack("!H", len(f["types"]))
		body += b"".join(struct.pack("!I", v) for v in f["types"])
	elif t == "B":
		body = f["portal"] + b"\0" + f["stmt"] + b"\0" + struct.pack("!H", len(f["pformats"]))
		body += b"".join(struct.pack("!h", v) for v in f["pformats"])
		body += struct.pack("!H", len(f["params"]))
		for p in f["params"]:
			if p is None:
				body += struct.pack("!i", -1)
			else:
				raw = p.b if isinstance(p, Hex) else p
				body += struct.pack("!i", len(raw)) + raw
		body += struct.pack("!H", len(f["rformats"])) + b"".join(struct.pack("!h", v) for v in f["rformats"])
	elif t == "E":
		body = f["portal"] + b"\0" + struct.pack("!i", f["max"])
	elif t in "DC":
		body = f["kind"] + f["name"] + b"\0"
	else:
		body = b""
	return t.encode() + struct.pack("!I", 4 + len(body)) + body


def decode_back(t, body):
	try:
		if t == "Z":
			return {"status": body} if len(body) == 1 else None
		if t == "C":
			tag, rest = cstr(body)
			return {"tag": tag} if not rest else None
		if t == "S":
			name, b = cstr(body)
			val, b = cstr(b)
			return {"name": name, "value": val} if not b else None
		if t == "K":
			pid, b = u32(body)
			key, b = u32(b)
			return {"pid": pid, "key": key} if not b else None
		if t in "EN":
			out = {}
			b = body
			while b and b[:1] != b"\0":
				code = b[:1].decode()
				v, b = cstr(b[1:])
				out[code] = v
			return out if b == b"\0" else None
		if t in "123nIs" and not body:
			return {}
		if t == "R":
			code, b = u32(body)
			return {"code": code, "data": Hex(b)}
		if t == "t":
			n, b = u16(body)
			types = []
			for _ in range(n):
				v, b = u32(b)
				types.append(v)
			return {"types": types} if not b else None
	except (ValueError, struct.error, IndexError):
		return None
	return None


def encode_fields(f):
	return " ".join("%s=%s" % (k, fmt(v)) for k, v in f.items())


def line(direction, t, body):
	"""One trace line for a message."""
	f = decode_front(t, body) if direction == "F" else decode_back(t, body)
	if f is None:
		return "%s %s %s" % (direction, t, hx(body))
	if t in "EN" and direction == "B":
		return "%s %s %s" % (direction, t, " ".join("%s=%s" % (k, q(v)) for k, v in f.items()))
	return ("%s %s %s" % (direction, t, encode_fields(f))).rstrip()


def startup_line(pkt):
	"""The line of a startup-family packet (with its length word)."""
	code = struct.unpack("!I", pkt[4:8])[0]
	if code == 80877103:
		return "F ssl"
	if code == 80877104:
		return "F gssenc"
	if code == 80877102:
		return "F cancel %s" % hx(pkt[8:])
	params, b = [], pkt[8:]
	while b and b[:1] != b"\0":
		k, b = cstr(b)
		v, b = cstr(b)
		params.append("%s=%s" % (k.decode(), q(v)))
	return "F startup protocol=%d %s" % (code, " ".join(params))


def encode_line(text):
	"""Parses a trace line: ("F"/"B", type, fields or Hex body, raw bytes to send)."""
	direction, rest = text[0], text[2:]
	t, _, tail = rest.partition(" ")
	if t == "startup":
		r = Reader(tail)
		f = r.fields()
		body = struct.pack("!I", f.pop("protocol"))
		for k, v in f.items():
			body += k.encode() + b"\0" + v + b"\0"
		body += b"\0"
		return direction, t, f, struct.pack("!I", 4 + len(body)) + body
	if t in ("ssl", "gssenc"):
		return direction, t, {}, struct.pack("!II", 8, 80877103 if t == "ssl" else 80877104)
	if t == "byte":
		return direction, t, {}, tail.strip().encode()
	r = Reader(tail)
	r.ws()
	if tail.strip().startswith("x'"):
		body = r.value().b
		return direction, t, Hex(body), t.encode() + struct.pack("!I", 4 + len(body)) + body
	if direction == "B" and t in "EN":
		return direction, t, {k: v for k, v in r.fields().items()}, None
	f = r.fields()
	return direction, t, f, encode_front(t, f) if direction == "F" else None


def read(path):
	"""(header dict, list of lines) of a trace file."""
	header, lines = {}, []
	with open(path, encoding="utf-8") as fh:
		for raw in fh:
			raw = raw.rstrip("\n")
			if not raw:
				continue
			if raw.startswith("#"):
				if not lines and ": " in raw:
					k, _, v = raw[2:].partition(": ")
					header.setdefault(k.strip(), []).append(v)
				continue
			lines.append(raw)
	return header, lines
