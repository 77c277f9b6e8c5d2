"""The seed scenario: test_adbpg_table configured with the seed connector's options (taken from conf/pgbatchd.ini), 1000 datagen-like single-row INSERTs through psql, each answered `INSERT 0 1`, all landing exactly."""

import os
import random
import re

import harness
import sinkutil as su

SAMPLE = os.path.join(harness.REPO, "conf", "pgbatchd.ini")
TABLE = "test_adbpg_table"
ROWS = 1000

# The seed document's connector options (its Flink sink table's WITH clause);
# conf/pgbatchd.ini must carry them.
SEED = {"maxretrytimes": "2", "batchsize": "50000", "connectionmaxactive": "5", "conflictmode": "ignore",
	"targetschema": "public", "exceptionmode": "ignore", "casesensitive": "0", "writemode": "1",
	"retrywaittime": "200"}


def sample_sections():
	"""conf/pgbatchd.ini as {section: {key: value}} (comments dropped)."""
	out, cur = {}, None
	with open(SAMPLE) as f:
		for raw in f:
			line = raw.strip()
			if not line or line[0] in "#;":
				continue
			m = re.match(r"^\[(.+)\]$", line)
			if m:
				cur = m.group(1)
				out[cur] = {}
				continue
			k, v = (x.strip() for x in line.split("=", 1))
			out[cur][k] = v.strip('"')
	return out


def seed_config():
	"""The sample's [backend] connector keys and its [table test_adbpg_table] section, unchanged."""
	sec = sample_sections()
	backend = {k: v for k, v in sec["backend"].items() if k in su.BACKEND_KEYS}
	table = sec["table " + TABLE]
	merged = dict(backend, **table)
	for k, v in SEED.items():
		assert merged.get(k) == v, "conf/pgbatchd.ini: %s = %r, the seed says %r" % (k, merged.get(k), v)
	return backend, table


def datagen_rows(seed=20240501):
	"""Flink datagen's example source: f_sequence 1..1000, f_random in 1..1000, a random 10-character string."""
	rnd = random.Random(seed)
	return [(i, rnd.randint(1, 1000), "%010x" % rnd.getrandbits(40)) for i in range(1, ROWS + 1)]


def test_seed_1000_single_row_inserts_through_psql(pg, make_proxy, tmp_path):
	backend, table = seed_config()
	pg.sql("CREATE TABLE test_adbpg_table (b1 int, b2 int, b3 text, PRIMARY KEY (b1))")
	proxy = su.start_sink_proxy(make_proxy, {TABLE: table}, backend=backend)
	rows = datagen_rows()
	script = tmp_path / "seed.sql"
	script.write_text("".join("INSERT INTO test_adbpg_table VALUES (%d, %d, '%s');\n" % r for r in rows))

	res = harness.psql(proxy.host, proxy.port, ["-v", "ON_ERROR_STOP=1", "-f", str(script)])
	out = res.stdout.decode()
	assert res.returncode == 0, out[-2000:] + res.stderr.decode()
	assert res.stderr == b""
	assert out.splitlines() == ["INSERT 0 1"] * ROWS

	# ackmode=commit: every reply came after its row committed, so all are there now.
	got = pg.sql("SELECT b1, b2, b3 FROM test_adbpg_table ORDER BY b1")
	assert got == rows

	st = su.stats(proxy)
	assert st.intercept["messages"] == ROWS and st.intercept["rows"] == ROWS, st
	assert st.sink["rows_in"] == ROWS and st.sink["rows_written"] == ROWS, st
	assert st.sink["rows_failed"] == 0 and st.sink["errors"] == 0, st
	assert sum(st.passthrough().values()) == 0, st


def test_seed_conflictmode_ignore_keeps_first_row(pg, make_proxy):
	"""The seed's conflictmode=ignore: a second INSERT of an existing key keeps the
	old row, and (ackmode=commit) its client hears how many rows were written,
	as ON CONFLICT DO NOTHING says directly."""
	backend, table = seed_config()
	pg.sql("CREATE TABLE IF NOT EXISTS test_adbpg_table (b1 int, b2 int, b3 text, PRIMARY KEY (b1))")
	pg.sql("TRUNCATE test_adbpg_table")
	proxy = su.start_sink_proxy(make_proxy, {TABLE: table}, backend=backend)
	with su.Session.to(proxy) as s:
		s.insert("INSERT INTO test_adbpg_table VALUES (1, 10, 'first')", 1)
		s.insert("INSERT INTO test_adbpg_table (b1, b2, b3) VALUES (1, 20, 'second'), (2, 30, 'x')", 1)
		s.insert("insert into TEST_ADBPG_TABLE values (2, 40, 'y')", 0)
	assert pg.sql("SELECT * FROM test_adbpg_table ORDER BY b1") == [(1, 10, "first"), (2, 30, "x")]
