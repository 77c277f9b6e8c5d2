"""Protocol replay: each recorded conversation of a real client with PostgreSQL (tests/replay/traces) is sent to pgbatchd, every reply message must be the one PostgreSQL sent, and the table must end as it did."""

import glob
import os
import sys

import pytest

import harness
import sinkutil as su

REPLAY = os.path.join(harness.REPO, "tests", "replay")
sys.path.insert(0, REPLAY)

import record  # noqa: E402
import replay  # noqa: E402

TRACES = sorted(glob.glob(os.path.join(REPLAY, "traces", "*.trace")))
PG_SETTINGS = record.PG_SETTINGS


def table_options(spec):
	"""'TABLE key=value ...' -> (name, {key: value})."""
	name, *opts = spec.split()
	return name, dict(o.split("=", 1) for o in opts)


def test_every_client_is_recorded():
	names = {os.path.basename(t)[:-len(".trace")] for t in TRACES}
	for need in ("jdbc_update", "jdbc_batch", "jdbc_rewrite", "jdbc_txcommit", "jdbc_txrollback",
			"psycopg3_executemany", "psycopg3_pipeline", "psycopg2_tx", "node_pool",
			"asyncpg_executemany", "pgbench_prepared"):
		assert need in names


@pytest.mark.parametrize("path", TRACES, ids=[os.path.basename(t)[:-6] for t in TRACES])
def test_replay(pg, make_proxy, path):
	header, _ = replay.trace.read(path)
	pg.sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
	for sql in header.get("setup", []):
		pg.sql(sql)
	tables = [table_options(t) for t in header.get("table", [])]
	proxy = su.start_sink_proxy(make_proxy, dict(tables))
	_, problems = replay.replay(path, proxy.host, proxy.port, timeout=60)
	assert problems == [], "\n".join(problems)
	rows = [[None if v is None else str(v) for v in r] for r in pg.sql(header["expect"][0])]
	assert rows == replay.json.loads(header["rows"][0])
	st = su.stats(proxy)
	assert st.intercept["rows"] > 0, st      # the trace's INSERTs went through the sink
