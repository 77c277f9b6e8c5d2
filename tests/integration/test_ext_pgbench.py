"""pgbench -M prepared and -M extended with an INSERT script of random keys, 8 clients: no failed transaction, every INSERT taken, and the table equal to the same rows written directly one client after another (pgbench's random streams are fixed by --random-seed)."""

import os

import pytest

import harness
import sinkutil as su

CLIENTS, THREADS, TXNS = 8, 2, 400

SCRIPT = """\\set k random(1, 20000)
\\set v :k * 3
INSERT INTO pbi (k, v) VALUES (:k, :v);
"""


def pgbench(port, db, mode, script, clients=CLIENTS, threads=THREADS):
	res = harness.run([harness.pgbin("pgbench"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
		"-n", "-M", mode, "-c", str(clients), "-j", str(threads), "-t", str(TXNS), "--random-seed=7",
		"-f", script, db], timeout=600)
	out = (res.stdout + res.stderr).decode(errors="replace")
	assert res.returncode == 0, out
	assert "number of failed transactions: 0" in out, out
	assert "number of transactions actually processed: %d/%d" % (clients * TXNS, clients * TXNS) in out, out
	return out


@pytest.mark.parametrize("mode,conflict", [("prepared", "ignore"), ("extended", "upsert"), ("prepared", "update")])
def test_pgbench_insert_script(pg, make_proxy, tmp_path, mode, conflict):
	"""A row's value follows from its key, so a serial replay of the same rows
	in any order gives one table; the direct run with the same seed writes the
	same rows."""
	script = os.path.join(str(tmp_path), "ins.sql")
	with open(script, "w") as f:
		f.write(SCRIPT)
	pg.sql("DROP TABLE IF EXISTS pbi")
	pg.sql("CREATE TABLE pbi (k int PRIMARY KEY, v int NOT NULL)")
	proxy = su.start_sink_proxy(make_proxy, {"pbi": {"conflictmode": conflict}})
	pgbench(proxy.port, "postgres", mode, script)
	st = su.stats(proxy)
	assert st.intercept["rows"] == CLIENTS * TXNS, st
	assert st.sink["rows_in"] == CLIENTS * TXNS and st.sink["rows_failed"] == 0, st
	# directly, each row alone with the conflict clause its table's mode means
	db = "serial_%s_%s" % (mode, conflict)
	pg.create_database(db)
	pg.sql("CREATE TABLE pbi (k int PRIMARY KEY, v int NOT NULL)", dbname=db)
	clause = " ON CONFLICT (k) DO NOTHING" if conflict == "ignore" else " ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v"
	direct_script = os.path.join(str(tmp_path), "direct.sql")
	with open(direct_script, "w") as f:
		f.write(SCRIPT.replace(");\n", ")" + clause + ";\n"))
	pgbench(pg.port, db, mode, direct_script, clients=CLIENTS, threads=THREADS)
	q = "SELECT k, v FROM pbi ORDER BY k"
	via, direct = pg.sql(q), pg.sql(q, dbname=db)
	assert via == direct
	assert all(v == k * 3 for k, v in via) and len(via) > TXNS
