"""Strict mode through Citus (issue 22, acceptance 2): a few bad rows among many (a duplicate key, a CHECK, a NOT NULL), exceptionmode = strict, each writemode. Every client gets, for each INSERT, the reply a direct single-row INSERT through the coordinator gives (the same ErrorResponse, field by field), and the table ends the same.

Citus re-raises a worker's error inside COPY (writemode 1) and inside the
COPY behind an INSERT ... SELECT (writemode 2) as XX000 with the worker's
message; before pgbatchd isolated such failures every row of the batch got
that XX000 "duplicate key" error, new keys included.

The same Queries run twice on the same distributed table: through pgbatchd
(clients in parallel, pipelined groups, so that batches form), then, after a
TRUNCATE, directly, one client after another. Clients own disjoint keys, so
the order between clients changes nothing.
"""

import random

import pytest

import pgwire as w
import sinkutil as su

CLIENTS = 4
ROWS = 500              # per client
BAD_EVERY = 125         # about one bad row in this many (at least one per 1000; each fault a third of them)
GROUP = 25              # Queries pipelined before their replies are read
DDL = ("CREATE TABLE {t} (k int PRIMARY KEY, a int CHECK (a >= 0), b text NOT NULL, "
	"c text DEFAULT 'dflt')")


def workload(client, seed):
	"""Single-row INSERTs of one client's keys (k % CLIENTS == client); about
	one in BAD_EVERY is bad: a key it sent before, a negative a, a NULL b."""
	rnd = random.Random(seed)
	sent, out = [], []
	for i in range(ROWS):
		k = client + CLIENTS * i
		a, b = rnd.randint(0, 99), "'v%d'" % i
		if i > 0 and rnd.random() < 1.0 / BAD_EVERY:
			fault = rnd.choice(["dup", "check", "notnull"])
			if fault == "dup":
				k = rnd.choice(sent)
			elif fault == "check":
				a = -1
			else:
				b = "NULL"
		sent.append(k)
		out.append("INSERT INTO {t} (k, a, b) VALUES (%d, %d, %s)" % (k, a, b))
	return out


def reply_fields(msgs):
	"""A reply as comparable data: CommandComplete tags, and each error's fields."""
	out = []
	for t, p in msgs:
		if t == "E":
			out.append(("E", sorted(w.fields(p).items())))
		elif t in ("C", "Z"):
			out.append((t, p))
		else:
			out.append((t, None))
	return out


def run_client(server, sqls, replies, key):
	with su.Session.to(server) as s:
		got = []
		for i in range(0, len(sqls), GROUP):
			got += s.pipeline(sqls[i:i + GROUP])
		replies[key] = got


@pytest.mark.parametrize("writemode", [0, 1, 2])
def test_strict_errors_as_direct(pg, make_proxy, writemode):
	t = "strict_w%d" % writemode
	pg.sql(DDL.format(t=t))
	pg.sql("SELECT create_distributed_table('%s', 'k')" % t)
	work = [[q.format(t=t) for q in workload(c, 100 * writemode + c)] for c in range(CLIENTS)]
	proxy = su.start_sink_proxy(make_proxy, {t: {
		"conflictmode": "strict", "exceptionmode": "strict", "writemode": writemode,
		"batchsize": 200, "batchwritetimeoutms": 20}}, backend={"connectionmaxactive": 4})
	via = {}
	su.run_parallel(run_client, [(proxy, work[c], via, c) for c in range(CLIENTS)])
	through = su.dump(pg, t, "k")
	st = su.stats(proxy)

	pg.sql("TRUNCATE %s" % t)
	direct = {}
	for c in range(CLIENTS):
		run_client(pg, work[c], direct, c)
	assert su.dump(pg, t, "k") == through, "the table differs from the direct run"

	errors = 0
	for c in range(CLIENTS):
		for sql, a, b in zip(work[c], via[c], direct[c]):
			assert reply_fields(a) == reply_fields(b), "%s\nthrough pgbatchd:\n%s\ndirectly:\n%s" % (
				sql, su.show(a), su.show(b))
			errors += any(m[0] == "E" for m in b)
	assert errors >= CLIENTS * ROWS // 1000, errors
	# the rows went in batches (not each on its client's own connection)
	assert st.sink["batches"] >= 10 and st.sink["rows_in"] == CLIENTS * ROWS, st
	assert "XX000" not in proxy.log()
