"""Serial equivalence (DESIGN.md "Semantics"): random INSERT workloads from several concurrent clients through pgbatchd, for every table shape x conflictmode x writemode x ackmode (seeded workloads each), leave the table exactly as the same rows executed one by one, directly, with the mode's single-row clause.

Table shapes: "plain" (a key and independent columns); "fk" (a column
referencing the table's own key: chains of rows, some whose parent is not there
yet, which PostgreSQL rejects); "uniq" (a second unique column, claimed by
several keys of a client); "trig" (a BEFORE ROW trigger changing a value, an
AFTER ROW trigger writing an audit table, compared too). Rejected rows are
reported to their client as a WARNING with the first one's SQLSTATE beside
`INSERT 0 <rows written>` (exceptionmode=ignore, the default).

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
BASE_COLS = ["k", "a", "b", "c", "d", "e"]
DDL = ("CREATE TABLE {t} (k int PRIMARY KEY, a int, b text DEFAULT 'dflt', c text, "
	"d bigint DEFAULT 7, e numeric{extra})")
SHAPES = {
	# shape: (extra columns, their DDL, more DDL, workloads per case)
	"plain": ([], "", "", 4),
	"fk": (["p"], ", p int REFERENCES {t} (k)", "", 2),
	"uniq": (["u"], ", u int UNIQUE", "", 2),
	"trig": ([], "", """
CREATE TABLE {t}_audit (op text, k int, a int, c text);
CREATE FUNCTION {t}_before() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.c := coalesce(NEW.c, '') || '#'; RETURN NEW; END $$;
CREATE FUNCTION {t}_after() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO {t}_audit VALUES (TG_OP, NEW.k, NEW.a, NEW.c); RETURN NULL; END $$;
CREATE TRIGGER {t}_b BEFORE INSERT OR UPDATE ON {t} FOR EACH ROW EXECUTE FUNCTION {t}_before();
CREATE TRIGGER {t}_a AFTER INSERT OR UPDATE ON {t} FOR EACH ROW EXECUTE FUNCTION {t}_after();
""", 2),
}


def shape_cols(shape):
	return BASE_COLS + SHAPES[shape][0]


def create(pg, shape, t):
	extra, ddl, more, _ = SHAPES[shape]
	pg.sql(DDL.format(t=t, extra=ddl.format(t=t)))
	if more:
		with pg.connect() as c:
			c.execute(more.format(t=t))

STRINGS = ["", "plain", "tab\there", "new\nline", "cr\rx", "back\\slash", "\\N", "\\.", "null", "NULL",
	"quote'q", 'dq"x', "unicode é ✓ 😀", " spaces ", "comma,semi;", "a\\tb", "$$dollar$$", "\t\n\\\r",
	"x" * 300]

CONFLICTMODES = ["upsert", "update", "ignore", "strict"]
WRITEMODES = [0, 1, 2]
ACKMODES = ["commit", "immediate"]
CASES = [(sh, c, wm, a) for sh in SHAPES for c in CONFLICTMODES for wm in WRITEMODES for a in ACKMODES]


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


def value(col, rnd, client, keys):
	"""A literal for a non-key column (SQL text)."""
	if col == "p":
		# a parent among the client's own keys, maybe not there yet
		return "NULL" if rnd.random() < 0.3 else str(rnd.choice(keys))
	if col == "u":
		# claimed by several of the client's keys
		return str(client + CLIENTS * rnd.randint(0, 3))
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


def gen_client(rnd, table, client, nkeys, cols_all):
	keys = [client + CLIENTS * i for i in range(nkeys)]
	nonkey = cols_all[1:]
	targets = [table, "public." + table, table.upper(), '"%s"' % table, 'public."%s"' % table]
	msgs = []
	for _ in range(MESSAGES_PER_CLIENT):
		if rnd.random() < 0.3:
			# no column list: the first m columns, key first
			m = rnd.randint(1, len(cols_all))
			cols, explicit = cols_all[:m], False
		else:
			cols = rnd.sample(nonkey, rnd.randint(0, len(nonkey)))
			cols.insert(rnd.randint(0, len(cols)), "k")
			explicit = True
		nrows = 1 if rnd.random() < 0.65 else rnd.randint(2, 5)
		rows, rkeys = [], []
		for _ in range(nrows):
			k = rnd.choice(keys)
			rkeys.append(k)
			rows.append([spell_key(k, rnd) if c == "k" else value(c, rnd, client, keys) for c in cols])
		msgs.append(Message(rnd.choice(targets), cols, explicit, rows, rkeys))
	# pipeline groups: 1..4 Queries sent before reading their replies
	groups, i = [], 0
	while i < len(msgs):
		n = rnd.randint(1, 4) if rnd.random() < 0.4 else 1
		groups.append(msgs[i:i + n])
		i += n
	return groups


def clause(mode, cols, cols_all):
	if mode == "strict":
		return ""
	if mode == "ignore":
		return " ON CONFLICT (k) DO NOTHING"
	named = cols_all[1:] if mode == "upsert" else [c for c in cols if c != "k"]
	if not named:
		return " ON CONFLICT (k) DO NOTHING"
	return " ON CONFLICT (k) DO UPDATE SET " + ", ".join("%s = EXCLUDED.%s" % (c, c) for c in named)


def build_reference(pg, ref, mode, clients, cols_all):
	"""Runs every row alone, client by client in order; returns {id(message):
	(SQLSTATEs of the rows rejected, rows written)} (a row DO NOTHING kept out
	is not written)."""
	import psycopg
	result = {}
	with pg.connect() as conn:
		for groups in clients:
			for group in groups:
				for m in group:
					states, written = [], 0
					for row in m.rows:
						sql = "INSERT INTO %s (%s) VALUES (%s)%s" % (ref, ", ".join(m.cols), ", ".join(row),
							clause(mode, m.cols, cols_all))
						try:
							written += conn.execute(sql).rowcount
						except psycopg.errors.IntegrityError as e:
							states.append(e.sqlstate)
					result[id(m)] = (states, written)
	return result


def check_reply(m, msgs, outcome, ackmode):
	"""The reply PostgreSQL's single-row statements add up to: `INSERT 0
	<rows written>` (ackmode=commit; rows ON CONFLICT DO NOTHING kept out are
	not counted), after a WARNING when rows were rejected; or `INSERT 0 n` at
	once (immediate)."""
	n = len(m.rows)
	states, written = outcome
	if ackmode == "immediate":
		# acknowledged once buffered, before the database could refuse a row
		assert msgs == su.insert_reply(n), "%s\n%s" % (m.sql, su.show(msgs))
		return
	if not states:
		assert msgs == su.insert_reply(written), "%s\n%s" % (m.sql, su.show(msgs))
		return
	# exceptionmode=ignore: the rows written, and a warning naming the first rejection
	notices = [su.w.fields(p) for t, p in msgs if t == "N"]
	assert len(notices) == 1 and notices[0]["C"] == states[0] and notices[0]["S"] == "WARNING", \
		"%s\n%s" % (m.sql, su.show(msgs))
	assert su.tags_of(msgs) == ["INSERT 0 %d" % written], "%s\n%s" % (m.sql, su.show(msgs))
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


@pytest.mark.parametrize("shape,mode,writemode,ackmode", CASES, ids=["%s-%s-w%d-%s" % c for c in CASES])
def test_serial_equivalence(pg, make_proxy, shape, mode, writemode, ackmode):
	"""Seeded random workloads (own seed, table and flush settings each)
	through one pgbatchd, one after another."""
	idx = CASES.index((shape, mode, writemode, ackmode))
	cols_all = shape_cols(shape)
	# strict: a wider key range, so that rows both succeed and fail
	nkeys = STRICT_KEYS_PER_CLIENT if mode == "strict" else KEYS_PER_CLIENT
	runs, tables = [], {}
	for it in range(SHAPES[shape][3]):
		v = idx + it
		table = "ser_%s_%s_w%d_%s_%d" % (shape, mode, writemode, ackmode, it)
		create(pg, shape, table)
		create(pg, shape, table + "_ref")
		rnd = random.Random(1000 + 100 * idx + it)
		runs.append((table, [gen_client(rnd, table, c, nkeys, cols_all) for c in range(CLIENTS)]))
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

		outcomes = build_reference(pg, table + "_ref", mode, clients, cols_all)
		got, want = su.dump(pg, table, "k"), su.dump(pg, table + "_ref", "k")
		assert got == want, "table differs from the serial reference (%s)" % table
		if shape == "trig":
			# every row the triggers saw, as they saw it (clients interleave: as a multiset)
			assert su.dump(pg, table + "_audit", "1") and sorted(su.dump(pg, table + "_audit", "1")) == \
				sorted(su.dump(pg, table + "_ref_audit", "1"))

		for groups in clients:
			for group in groups:
				for m in group:
					check_reply(m, replies[id(m)], outcomes[id(m)], ackmode)
		total_msgs += sum(len(g) for groups in clients for g in groups)
		total_rows += sum(len(m.rows) for groups in clients for g in groups for m in g)
		total_failed += sum(len(st) for st, _ in outcomes.values())

	st = su.stats(proxy)
	assert st.intercept["messages"] == total_msgs and st.intercept["rows"] == total_rows, st
	assert st.sink["rows_in"] == total_rows, st
	assert sum(v for k, v in st.sink.items() if k.startswith("passthrough_")) == 0, st
	# many batches really happened, so batch boundaries were crossed
	assert st.sink["batches"] > 3 * len(runs), st
	assert st.sink["rows_failed"] == total_failed, st
	if mode != "strict" and shape in ("plain", "trig"):
		assert total_failed == 0
