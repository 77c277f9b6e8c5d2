"""Serial equivalence through the extended protocol: the workloads of test_sink_serial.py, sent as Parse/Bind/Execute with parameters (one Sync group per INSERT, or several INSERTs in one Sync group: one unit), leave every table exactly as the same rows run one by one directly, for every conflictmode and table shape. Transaction blocks: test_sink_serial_tx.py."""

import random

import pytest

import pgwire as w
import sinkutil as su
import test_sink_serial as ser

TRANSPORTS = ["extended", "group"]
CASES = [(sh, c, t) for sh in ser.SHAPES for c in ser.CONFLICTMODES for t in TRANSPORTS]


def to_param(lit):
	"""A literal as a text parameter when it has a plain spelling: (None, value)
	or (literal, None) to keep it in the SQL text."""
	s = lit.strip()
	if s in ("NULL", "null"):
		return None, None
	if s == "DEFAULT" or s[:2] in ("E'", "U&") or s.startswith("$"):
		return lit, None
	if s.startswith("'") and s.endswith("'"):
		return None, s[1:-1].replace("''", "'")
	return None, s


def parameterize(m):
	"""m's SQL with its plain values as $n parameters (literals stay where a
	parameter cannot say the same: DEFAULT, E'', U&'', dollar quotes)."""
	params, rows = [], []
	for row in m.rows:
		out = []
		for v in row:
			keep, val = to_param(v)
			if keep is not None:
				out.append(keep)
			else:
				params.append(val)
				out.append("$%d" % len(params))
		rows.append("(%s)" % ", ".join(out))
	head = m.sql.split(" VALUES ", 1)[0]
	return "%s VALUES %s" % (head, ", ".join(rows)), params


def ext_messages(m):
	sql, params = parameterize(m)
	return [w.parse("", sql, []), w.bind("", "", params), w.execute("")]


def per_statement(msgs):
	"""Replies of a Sync group split per INSERT: each INSERT's notices and tag."""
	out, cur = [], []
	for t, p in msgs:
		if t in ("1", "2", "Z"):
			continue
		cur.append((t, p))
		if t in ("C", "E"):
			out.append(cur)
			cur = []
	return out


def run_client(proxy, groups, replies, transport):
	with su.Session.to(proxy) as s:
		for group in groups:
			if transport == "extended":
				data = b"".join(b"".join(ext_messages(m)) + w.sync() for m in group)
				s.send(data)
				for m in group:
					replies[id(m)] = per_statement(s.read_until("Z"))[0] + [su.READY_IDLE]
			else:
				s.send(b"".join(b"".join(ext_messages(m)) for m in group) + w.sync())
				got = per_statement(s.read_until("Z"))
				assert len(got) == len(group)
				for m, msgs in zip(group, got):
					replies[id(m)] = msgs + [su.READY_IDLE]
		s.ok("SELECT 1")


@pytest.mark.parametrize("shape,mode,transport", CASES, ids=["%s-%s-%s" % c for c in CASES])
def test_serial_equivalence_ext(pg, make_proxy, shape, mode, transport):
	idx = CASES.index((shape, mode, transport))
	cols_all = ser.shape_cols(shape)
	nkeys = ser.STRICT_KEYS_PER_CLIENT if mode == "strict" else ser.KEYS_PER_CLIENT
	writemode = idx % 3
	ackmode = "commit" if idx % 2 == 0 else "immediate"
	table = "sx_%s_%s_%s" % (shape, mode, transport)
	ser.create(pg, shape, table)
	ser.create(pg, shape, table + "_ref")
	rnd = random.Random(5000 + 100 * idx)
	clients = [ser.gen_client(rnd, table, c, nkeys, cols_all) for c in range(ser.CLIENTS)]
	proxy = su.start_sink_proxy(make_proxy, {table: {
		"conflictmode": mode, "writemode": writemode, "ackmode": ackmode,
		"batchsize": [7, 13, 50][idx % 3], "batchwritetimeoutms": [15, 40][idx % 2], "verbose": 1,
	}}, backend={"connectionmaxactive": 3})
	replies = {}
	su.run_parallel(run_client, [(proxy, clients[c], replies, transport) for c in range(ser.CLIENTS)])

	outcomes = ser.build_reference(pg, table + "_ref", mode, clients, cols_all)
	assert su.dump(pg, table, "k") == su.dump(pg, table + "_ref", "k"), \
		"table differs from the serial reference (%s)" % table
	if shape == "trig":
		assert sorted(su.dump(pg, table + "_audit", "1")) == sorted(su.dump(pg, table + "_ref_audit", "1"))
	for groups in clients:
		for group in groups:
			for m in group:
				ser.check_reply(m, replies[id(m)], outcomes[id(m)], ackmode)
	st = su.stats(proxy)
	total_rows = sum(len(m.rows) for groups in clients for g in groups for m in g)
	assert st.intercept["rows"] == total_rows, st
	assert sum(v for k, v in st.sink.items() if k.startswith("passthrough_")) == 0, st
	assert st.sink["rows_failed"] == sum(len(s) for s, _ in outcomes.values()), st
