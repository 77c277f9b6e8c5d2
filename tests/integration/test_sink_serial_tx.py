"""Serial equivalence through transaction blocks (issue 16): the random workloads of test_sink_serial.py sent as BEGIN ... COMMIT blocks by concurrent clients, through the simple protocol (staged INSERTs written into the transaction before the next statement) and the extended protocol (Sync groups written at their Sync), for every table shape x conflictmode x writemode. Each transaction must end as the same statements end directly, run with the mode's clause in a transaction of their own: all its rows or none, the same error, and (extended protocol) every reply byte for byte."""

import random

import pytest

import pgwire as w
import sinkutil as su
import test_sink_serial as ser
import test_sink_serial_ext as serx

PG_SETTINGS = {"timezone": "UTC"}
PROTOCOLS = ["simple", "extended"]
CASES = [(sh, c, wm, p) for sh in ser.SHAPES for c in ser.CONFLICTMODES for wm in ser.WRITEMODES
	for p in PROTOCOLS]
TX_PER_CLIENT = 4


def as_sent_is_one_by_one(groups, single):
	"""Messages whose statement, run as sent, ends as its rows run one by one
	(pgbatchd's contract; test_sink_serial.py holds it outside transactions):
	no key twice in one message (as sent, DO UPDATE cannot affect a row
	twice), and one row a message where a row may reference another of the
	same statement (single: a foreign key is checked at its statement's end)."""
	out = []
	for group in groups:
		for m in group:
			seen, rows, keys = set(), [], []
			for r, k in zip(m.rows, m.keys):
				if k not in seen:
					seen.add(k)
					rows.append(r)
					keys.append(k)
			target = m.sql.split(" ", 3)[2]
			explicit = m.sql.split(" VALUES ")[0].rstrip().endswith(")")
			if single:
				out += [ser.Message(target, m.cols, explicit, [r], [k]) for r, k in zip(rows, keys)]
			elif len(rows) != len(m.rows):
				out.append(ser.Message(target, m.cols, explicit, rows, keys))
			else:
				out.append(m)
	return out


def transactions(rnd, table, client, nkeys, cols_all, shape):
	"""TX_PER_CLIENT transactions of 1..6 messages; extended ones in Sync
	groups of 1..3 messages."""
	msgs = as_sent_is_one_by_one(ser.gen_client(rnd, table, client, nkeys, cols_all), shape == "fk")
	txs, i = [], 0
	while i < len(msgs) and len(txs) < TX_PER_CLIENT:
		n = rnd.randint(1, 6)
		body, j = [], 0
		for m in msgs[i:i + n]:
			if j == 0 or rnd.random() < 0.5:
				body.append([m])
			else:
				body[-1].append(m)
			j += 1
		txs.append(body)
		i += n
	return txs


def run_direct(pg, db, txs, mode, cols_all, protocol):
	"""The transactions directly (each statement with the mode's clause):
	every reply, per transaction."""
	with su.Session.to(pg, database=db) as s:
		return [run_tx(s, tx, protocol, lambda m: ser.clause(mode, m.cols, cols_all)) for tx in txs]


def run_tx(s, tx, protocol, clause_of):
	"""BEGIN, the transaction's groups (simple: pipelined Queries; extended:
	one Sync group of Parse/Bind/Execute each), COMMIT: every reply."""
	replies = [s.run("BEGIN")]
	for group in tx:
		if protocol == "simple":
			replies += s.pipeline([m.sql + clause_of(m) for m in group])
		else:
			data = b""
			for m in group:
				sql, params = serx.parameterize(m)
				data += w.parse("", sql + clause_of(m)) + w.bind("", "", params) + w.execute("")
			s.send(data + w.sync())
			replies.append(s.read_until("Z"))
	replies.append(s.run("COMMIT"))
	return replies


def without_position(e):
	e = dict(e)
	e.pop("P", None)
	return e


def check_simple(got, want):
	"""The late-error rule: until the transaction's first error every reply
	is as directly (a staged INSERT's `INSERT 0 n` is its row count); the
	first error the client gets is the one the transaction got directly,
	every field but the position, at the failing statement or at a later one
	(staged INSERTs before it answered `INSERT 0 n`); after it, the replies
	are as directly (25P02, or COMMIT ending the transaction)."""
	errs = lambda ms: [i for i, m in enumerate(ms) if su.error_of(m)]  # noqa: E731
	dw, dg = errs(want), errs(got)
	if not dw:
		assert got == want, "\n".join(su.show(m) + "\n--" for m in got + [[("X", b"")]] + want)
		return
	i, j = dw[0], dg[0] if dg else None
	assert j is not None and j >= i, "error at %r, directly at %d" % (j, i)
	assert without_position(su.error_of(got[j])) == without_position(su.error_of(want[i]))
	for k in range(i):
		assert got[k] == want[k], "%s\n%s" % (su.show(got[k]), su.show(want[k]))
	for k in range(i, j):
		assert su.error_of(got[k]) is None and got[k][-1] == ("Z", b"T"), su.show(got[k])
	for k in range(j + 1, len(got)):
		assert got[k] == want[k], "%s\n%s" % (su.show(got[k]), su.show(want[k]))
	assert got[j][-1] == want[j][-1] or (j == len(got) - 1 and got[j][-1] == ("Z", b"I"))


@pytest.mark.parametrize("shape,mode,writemode,protocol", CASES, ids=["%s-%s-w%d-%s" % c for c in CASES])
def test_serial_equivalence_tx(pg, make_proxy, shape, mode, writemode, protocol):
	idx = CASES.index((shape, mode, writemode, protocol))
	cols_all = ser.shape_cols(shape)
	nkeys = ser.STRICT_KEYS_PER_CLIENT if mode == "strict" else ser.KEYS_PER_CLIENT
	table = "stx_%s_%s_w%d_%s" % (shape, mode, writemode, protocol)
	db = "ref_" + table
	pg.create_database(db)
	ser.create(pg, shape, table)
	with pg.connect(dbname=db) as c:
		extra, ddl, more, _ = ser.SHAPES[shape]
		c.execute(ser.DDL.format(t=table, extra=ddl.format(t=table)))
		if more:
			c.execute(more.format(t=table))
	rnd = random.Random(9000 + 100 * idx)
	clients = [transactions(rnd, table, c, nkeys, cols_all, shape) for c in range(ser.CLIENTS)]
	proxy = su.start_sink_proxy(make_proxy, {table: {
		"conflictmode": mode, "writemode": writemode, "batchsize": [2, 5, 50][idx % 3],
	}})
	replies = {}

	def client(k):
		with su.Session.to(proxy) as s:
			replies[k] = [run_tx(s, tx, protocol, lambda m: "") for tx in clients[k]]

	su.run_parallel(client, [(k,) for k in range(ser.CLIENTS)])
	# clients own disjoint keys: one after another directly gives the same tables
	want = {k: run_direct(pg, db, clients[k], mode, cols_all, protocol) for k in range(ser.CLIENTS)}
	for k in range(ser.CLIENTS):
		for got, exp in zip(replies[k], want[k]):
			if protocol == "extended":
				assert got == exp, "\n".join(su.show(m) + "\n--" for m in got + [[("X", b"")]] + exp)
			else:
				check_simple(got, exp)
	assert su.dump(pg, table, "k") == su.dump(pg, table, "k", dbname=db), "table differs (%s)" % table
	if shape == "trig":
		assert sorted(su.dump(pg, table + "_audit", "1")) == sorted(su.dump(pg, table + "_audit", "1", dbname=db))
	st = su.stats(proxy)
	# batches went into the transactions (simple protocol: not where counts
	# are the database's to tell, and those ran as sent)
	if protocol == "extended" or (mode != "ignore" and shape != "trig"):
		assert st.sink["tx_batches"] > 0, st
	if protocol == "simple" and (mode == "ignore" or shape == "trig"):
		assert st.sink["passthrough_tx_count"] > 0, st
