"""Serial equivalence (DESIGN.md "Semantics"): random INSERT workloads from several concurrent clients through pgbatchd, for every conflictmode x writemode x ackmode (four seeded workloads each), leave the table exactly as the same rows executed one by one, directly, with the mode's single-row clause.

How the reference order is chosen. The proxy promises per-key order (rows of one
key go through one writer, whose batches commit in order) and nothing across
keys. Each client therefore owns a disjoint set of keys (key % CLIENTS ==
client): every row of a key comes from one client, in that client's send order,
and rows of different keys never touch the same table row. So *any*
interleaving of the clients gives the same final table, and the reference runs
client 0's rows in order, then client 1's, and so on. Within a client, Queries
are sometimes pipelined (sent before the previous reply arrives): their order is
still the order on the wire.

Each case is deterministic: workloads come from random.Random(fixed seed). Keys
collide often (4 keys per client; 50 in strict mode, where a collision is a failed row), are spelled differently (5, '5', '05' must be
one key), column lists are partial and shuffled, values include DEFAULT, NULL,
and strings with tabs, newlines, CR, backslashes, quotes, `\\N`, unicode, in
every string spelling ('', E'', $$, U&'').
"""

import random

import pytest

import sinkutil as su

CLIENTS = 3
KEYS_PER_CLIENT = 4
STRICT_KEYS_PER_CLIENT = 50
MESSAGES_PER_CLIENT = 36
ITERATIONS = 4
COLS = ["k", "a", "b", "c", "d", "e"]
NONKEY = COLS[1:]
DDL = ("CREATE TABLE {t} (k int PRIMARY KEY, a int, b text DEFAULT 'dflt', c text, "
	"d bigint DEFAULT 7, e numeric)")

STRINGS = ["", "plain", "tab\there", "new\nline", "cr\rx", "back\\slash", "\\N", "\\.", "null", "NULL",
	"quote'q", 'dq"x', "unicode é ✓ 😀", " spaces ", "comma,semi;", "a\\tb", "$$dollar$$", "\t\n\\\r",
	"x" * 300]

CONFLICTMODES = ["upsert", "update", "ignore", "strict"]
WRITEMODES = [0, 1, 2]
ACKMODES = ["commit", "immediate"]
CASES = [(c, wm, a) for c in CONFLICTMODES for wm in WRITEMODES for a in ACKMODES]


# ---------------------------------------------------------------- literal spellings

def spell_string(s, rnd):
	how = rnd.randrange(4)
	if how == 0:
		return "'" + s.replace("'", "''") + "'"
	if how == 1:
		esc = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
		return "E'" + "".join(esc.get(ch, ch) for ch in s) + "'"
	if how == 2:
		for tag in ("$$", "$q$", "$Z9$"):
			if tag not in s and not s.endswith("$"):
				return tag + s + tag
		return "'" + s.replace("'", "''") + "'"
	out = []
	for ch in s:
		o = ord(ch)
		if 32 <= o < 127 and ch not in "\\'":
			out.append(ch)
		elif o <= 0xFFFF:
			out.append("\\%04x" % o)
		else:
			out.append("\\+%06x" % o)
	return "U&'" + "".join(out) + "'"


def spell_key(k, rnd):
	return rnd.choice([str(k), "'%d'" % k, "'0%d'" % k, " %d" % k])


def value(col, rnd):
	"""A literal for a non-key column (SQL text)."""
	r = rnd.random()
	if r < 0.12:
		return "DEFAULT"
	if r < 0.24:
		return rnd.choice(["NULL", "null"])
	if col == "a":
		return rnd.choice([str(rnd.randint(-5, 5)), "'%d'" % rnd.randint(0, 9), "-2147483648", "2147483647"])
	if col in ("b", "c"):
		return spell_string(rnd.choice(STRINGS), rnd)
	if col == "d":
		return rnd.choice([str(rnd.randint(-99, 99)), "9223372036854775807", "-9223372036854775808", "'12'"])
	return rnd.choice(["1.50", "-0.001", "1e3", "0", "123456789012345678901234567890.000000001", "'2.5'",
		"'-1E-2'", str(rnd.randint(0, 1000))])


# ---------------------------------------------------------------- workloads

class Message:
	"""One Query: INSERT INTO <target> [(cols)] VALUES (row), ...; `cols` are the
	named columns (explicit list, or the leading columns a list-less INSERT fills)."""

	def __init__(self, target, cols, explicit, rows, keys):
		self.cols = cols
		self.rows = rows
		self.keys = keys
		collist = " (%s)" % ", ".join(cols) if explicit else ""
		self.sql = "INSERT INTO %s%s VALUES %s" % (target, collist,
			", ".join("(%s)" % ", ".join(r) for r in rows))


def gen_client(rnd, table, client, nkeys):
	keys = [client + CLIENTS * i for i in range(nkeys)]
	targets = [table, "public." + table, table.upper(), '"%s"' % table, 'public."%s"' % table]
	msgs = []
	for _ in range(MESSAGES_PER_CLIENT):
		if rnd.random() < 0.3:
			# no column list: the first m columns, key first
			m = rnd.randint(1, len(COLS))
			cols, explicit = COLS[:m], False
		else:
			cols = rnd.sample(NONKEY, rnd.randint(0, len(NONKEY)))
			cols.insert(rnd.randint(0, len(cols)), "k")
			explicit = True
		nrows = 1 if rnd.random() < 0.65 else rnd.randint(2, 5)
		rows, rkeys = [], []
		for _ in range(nrows):
			k = rnd.choice(keys)
			rkeys.append(k)
			rows.append([spell_key(k, rnd) if c == "k" else value(c, rnd) for c in cols])
		msgs.append(Message(rnd.choice(targets), cols, explicit, rows, rkeys))
	# pipeline groups: 1..4 Queries sent before reading their replies
	groups, i = [], 0
	while i < len(msgs):
		n = rnd.randint(1, 4) if rnd.random() < 0.4 else 1
		groups.append(msgs[i:i + n])
		i += n
	return groups


def clause(mode, cols):
	if mode == "strict":
		return ""
	if mode == "ignore":
		return " ON CONFLICT (k) DO NOTHING"
	named = NONKEY if mode == "upsert" else [c for c in cols if c != "k"]
	if not named:
		return " ON CONFLICT (k) DO NOTHING"
	return " ON CONFLICT (k) DO UPDATE SET " + ", ".join("%s = EXCLUDED.%s" % (c, c) for c in named)


def build_reference(pg, ref, mode, clients):
	"""Runs every row alone, client by client in order; returns {id(message):
	(rows failed, rows written)} (a row DO NOTHING kept out is not written)."""
	import psycopg
	result = {}
	with pg.connect() as conn:
		for groups in clients:
			for group in groups:
				for m in group:
					nfail = written = 0
					for row in m.rows:
						sql = "INSERT INTO %s (%s) VALUES (%s)%s" % (ref, ", ".join(m.cols), ", ".join(row),
							clause(mode, m.cols))
						try:
							written += conn.execute(sql).rowcount
						except psycopg.errors.UniqueViolation:
							assert mode == "strict", sql
							nfail += 1
					result[id(m)] = (nfail, written)
	return result


def check_reply(m, msgs, outcome, mode, ackmode):
	"""The reply PostgreSQL's single-row statements add up to: `INSERT 0
	<rows written>` (ackmode=commit; rows ON CONFLICT DO NOTHING kept out are
	not counted), or `INSERT 0 n` at once (immediate)."""
	n = len(m.rows)
	nfail, written = outcome
	if ackmode == "immediate":
		# acknowledged once buffered, before the database could refuse a row
		assert msgs == su.insert_reply(n), "%s\n%s" % (m.sql, su.show(msgs))
		return
	if nfail == 0:
		assert msgs == su.insert_reply(written), "%s\n%s" % (m.sql, su.show(msgs))
		return
	# strict mode, a row of this message conflicts, ackmode=commit: the client hears
	# of it, either as the error or (exceptionmode=ignore) as a warning with the
	# rows actually written. Never a silent `INSERT 0 n`.
	assert mode == "strict"
	err = su.error_of(msgs)
	if err is not None:
		assert err["C"] == "23505", "%s\n%s" % (m.sql, su.show(msgs))
		assert msgs[-1] == su.READY_IDLE
		return
	notices = [su.w.fields(p) for t, p in msgs if t == "N"]
	assert any(f.get("C") == "23505" for f in notices), "%s\n%s" % (m.sql, su.show(msgs))
	assert su.tags_of(msgs) == ["INSERT 0 %d" % written], su.show(msgs)
	assert msgs[-1] == su.READY_IDLE


def run_client(proxy, groups, replies):
	with su.Session.to(proxy) as s:
		for group in groups:
			if len(group) == 1:
				replies[id(group[0])] = s.run(group[0].sql)
			else:
				for m, msgs in zip(group, s.pipeline([m.sql for m in group])):
					replies[id(m)] = msgs
		# readyourwrites: this statement passes through only after every row
		# this session sent is committed
		s.ok("SELECT 1")


@pytest.mark.parametrize("mode,writemode,ackmode", CASES,
	ids=["%s-w%d-%s" % c for c in CASES])
def test_serial_equivalence(pg, make_proxy, mode, writemode, ackmode):
	"""ITERATIONS random workloads (own seed, table and flush settings each)
	through one pgbatchd, one after another."""
	idx = CASES.index((mode, writemode, ackmode))
	# strict: a wider key range, so that rows both succeed and fail
	nkeys = STRICT_KEYS_PER_CLIENT if mode == "strict" else KEYS_PER_CLIENT
	runs, tables = [], {}
	for it in range(ITERATIONS):
		v = idx + it
		table = "ser_%s_w%d_%s_%d" % (mode, writemode, ackmode, it)
		pg.sql(DDL.format(t=table))
		pg.sql(DDL.format(t=table + "_ref"))
		rnd = random.Random(1000 + 100 * idx + it)
		runs.append((table, [gen_client(rnd, table, c, nkeys) for c in range(CLIENTS)]))
		tables[table] = {
			"conflictmode": mode, "writemode": writemode, "ackmode": ackmode,
			"batchsize": [7, 13, 50][v % 3],
			"batchwritetimeoutms": [15, 40][v % 2],
			"adaptiveflush": (v // 2) % 2,
			"verbose": 1,
			# writemode 1, keyed: every other iteration sends every batch through
			# the staging table; the others' short runs skip it (the default)
			"copystageminrows": 1 if v % 2 == 0 else None,
		}
	proxy = su.start_sink_proxy(make_proxy, tables, backend={"connectionmaxactive": 3})

	total_msgs = total_rows = total_failed = 0
	for table, clients in runs:
		replies = {}
		su.run_parallel(run_client, [(proxy, clients[c], replies) for c in range(CLIENTS)])

		outcomes = build_reference(pg, table + "_ref", mode, clients)
		got, want = su.dump(pg, table, "k"), su.dump(pg, table + "_ref", "k")
		assert got == want, "table differs from the serial reference (%s)" % table

		for groups in clients:
			for group in groups:
				for m in group:
					check_reply(m, replies[id(m)], outcomes[id(m)], mode, ackmode)
		total_msgs += sum(len(g) for groups in clients for g in groups)
		total_rows += sum(len(m.rows) for groups in clients for g in groups for m in g)
		total_failed += sum(f for f, _ in outcomes.values())

	st = su.stats(proxy)
	assert st.intercept["messages"] == total_msgs and st.intercept["rows"] == total_rows, st
	assert st.sink["rows_in"] == total_rows, st
	assert sum(v for k, v in st.sink.items() if k.startswith("passthrough_")) == 0, st
	# many batches really happened, so batch boundaries were crossed
	assert st.sink["batches"] > 3 * ITERATIONS, st
	assert st.sink["rows_failed"] == total_failed, st
	if mode != "strict":
		assert total_failed == 0
