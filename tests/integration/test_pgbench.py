"""pgbench through pgbatchd: initialization (COPY), then TPC-B-like runs in simple, extended and prepared mode with no failed transaction and consistent balances."""

import re

import pytest

import harness

CLIENTS, THREADS, TXNS = 4, 2, 500


def pgbench(host, port, args, dbname):
	res = harness.run([harness.pgbin("pgbench"), "-h", host, "-p", str(port), "-U", "postgres"] + args + [dbname],
		timeout=600)
	out = (res.stdout + res.stderr).decode(errors="replace")
	assert res.returncode == 0, out
	return out


def parse_run(out):
	processed = re.search(r"number of transactions actually processed: (\d+)/(\d+)", out)
	failed = re.search(r"number of failed transactions: (\d+)", out)
	assert processed and failed, out
	return int(processed.group(1)), int(processed.group(2)), int(failed.group(1))


def consistency(pg, dbname):
	"""Every transaction added its delta to one account, teller and branch and
	logged it once in history: the sums must agree."""
	return pg.sql("""SELECT (SELECT sum(abalance) FROM pgbench_accounts),
		(SELECT sum(tbalance) FROM pgbench_tellers), (SELECT sum(bbalance) FROM pgbench_branches),
		(SELECT sum(delta) FROM pgbench_history), (SELECT count(*) FROM pgbench_history)""", dbname=dbname)[0]


@pytest.fixture(scope="module")
def bench_dbs(pg, proxy):
	"""pgbench -i directly into one database and through the proxy into another;
	both must hold the same initial data."""
	for leg, (host, port) in (("direct", (pg.host, pg.port)), ("proxy", (proxy.host, proxy.port))):
		db = "bench_" + leg
		pg.create_database(db)
		out = pgbench(host, port, ["-i", "-s", "1", "-q"], db)
		assert "done in" in out
	for db in ("bench_direct", "bench_proxy"):
		assert pg.sql("SELECT count(*), sum(aid), sum(abalance) FROM pgbench_accounts", dbname=db) == [(100000, 5000050000, 0)]
		assert pg.sql("SELECT count(*) FROM pgbench_tellers", dbname=db) == [(10,)]
	return {"direct": "bench_direct", "proxy": "bench_proxy"}


@pytest.mark.parametrize("mode", ["simple", "extended", "prepared"])
def test_pgbench_mode(pg, proxy, bench_dbs, mode):
	before = consistency(pg, bench_dbs["proxy"])[4]
	out = pgbench(proxy.host, proxy.port, ["-M", mode, "-c", str(CLIENTS), "-j", str(THREADS),
		"-t", str(TXNS), "-n"], bench_dbs["proxy"])
	assert parse_run(out) == (CLIENTS * TXNS, CLIENTS * TXNS, 0), out
	accounts, tellers, branches, history, count = consistency(pg, bench_dbs["proxy"])
	assert count - before == CLIENTS * TXNS
	assert accounts == tellers == branches == history


def test_pgbench_direct_reference(pg, bench_dbs):
	"""The same run directly: same shape of result."""
	out = pgbench(pg.host, pg.port, ["-M", "prepared", "-c", str(CLIENTS), "-j", str(THREADS), "-t", "100", "-n"],
		bench_dbs["direct"])
	assert parse_run(out) == (CLIENTS * 100, CLIENTS * 100, 0)
	accounts, tellers, branches, history, count = consistency(pg, bench_dbs["direct"])
	assert accounts == tellers == branches == history and count == CLIENTS * 100


@pytest.mark.parametrize("mode", ["extended", "prepared"])
def test_pgbench_pipeline_script(pg, proxy, bench_dbs, tmp_path, mode):
	"""pgbench's \\startpipeline: libpq pipeline mode, many Bind/Execute per Sync."""
	script = tmp_path / "pipe.sql"
	script.write_text("\\set aid random(1, 100000)\n\\startpipeline\n"
		"SELECT abalance FROM pgbench_accounts WHERE aid = :aid;\n"
		"UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = :aid;\n"
		"UPDATE pgbench_accounts SET abalance = abalance - 1 WHERE aid = :aid;\n"
		"SELECT count(*) FROM pgbench_branches;\n\\endpipeline\n")
	before = pg.sql("SELECT sum(abalance) FROM pgbench_accounts", dbname=bench_dbs["proxy"])
	out = pgbench(proxy.host, proxy.port, ["-f", str(script), "-c", "2", "-t", "300", "-n", "-M", mode],
		bench_dbs["proxy"])
	assert parse_run(out) == (600, 600, 0)
	assert pg.sql("SELECT sum(abalance) FROM pgbench_accounts", dbname=bench_dbs["proxy"]) == before
