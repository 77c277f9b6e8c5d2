"""The sink's catalog (columns, types, defaults, key) follows DDL that passes through pgbatchd: after ADD / DROP / ALTER COLUMN, RENAME, DROP + CREATE and a new primary key, intercepted INSERTs behave exactly as they do directly (conflictmode = strict and exceptionmode = strict make a plain single-row INSERT the direct equivalent)."""

import pytest

import sinkutil as su

# Run in order on one session through the proxy (database postgres) and on one
# session directly (database ddlref); every reply and the final tables must match.
SCRIPT = [
	"CREATE TABLE t (k int PRIMARY KEY, v int)",
	"INSERT INTO t VALUES (1, 10)",
	"INSERT INTO t VALUES (2, 20)",
	"ALTER TABLE t ADD COLUMN c int DEFAULT 7",
	"INSERT INTO t VALUES (3, 30, 300)",
	"INSERT INTO t (k, c) VALUES (4, 400)",
	"INSERT INTO t (k) VALUES (5)",
	"ALTER TABLE t DROP COLUMN v",
	"INSERT INTO t VALUES (6, 600)",
	"INSERT INTO t (k, c) VALUES (7, 700)",
	"INSERT INTO t (k, v) VALUES (8, 800)",
	"ALTER TABLE t ALTER COLUMN c TYPE text",
	"INSERT INTO t VALUES (9, 'nine')",
	"INSERT INTO t VALUES (10, 1.50)",
	"ALTER TABLE t ALTER COLUMN c SET DEFAULT 'dflt'",
	"INSERT INTO t (k) VALUES (11)",
	"ALTER TABLE t RENAME COLUMN c TO note",
	"INSERT INTO t (k, note) VALUES (12, 'renamed')",
	"INSERT INTO t (k, c) VALUES (13, 'old name')",
	"ALTER TABLE t RENAME TO t_old",
	"INSERT INTO t VALUES (14, 'gone')",
	"CREATE TABLE t (id text PRIMARY KEY, n numeric, flag bool DEFAULT true)",
	"INSERT INTO t VALUES ('a', 1.5)",
	"INSERT INTO t (id, flag) VALUES ('b', false)",
	"DROP TABLE t",
	"INSERT INTO t VALUES ('c', 2)",
	"CREATE TABLE t (a int, b int)",
	"INSERT INTO t VALUES (1, 1)",
	"INSERT INTO t VALUES (1, 1)",
	"DELETE FROM t",
	"ALTER TABLE t ADD PRIMARY KEY (a)",
	"INSERT INTO t VALUES (1, 1)",
	"INSERT INTO t VALUES (1, 2)",
	"SELECT * FROM t_old ORDER BY k",
	"SELECT * FROM t ORDER BY a",
]


def summary(msgs):
	out = []
	for t, p in msgs:
		if t == "E":
			out.append(("E", su.w.fields(p).get("C")))
		elif t == "D":
			out.append(("D", su.w.datarow(p)))
		elif t in ("C", "Z"):
			out.append((t, p))
	return out


@pytest.mark.parametrize("writemode", [0, 1, 2])
def test_catalog_follows_ddl_through_the_proxy(pg, make_proxy, writemode):
	db = "ddl_w%d" % writemode
	pg.create_database(db)
	pg.create_database(db + "_ref")
	proxy = su.start_sink_proxy(make_proxy, {"t": {"conflictmode": "strict", "exceptionmode": "strict",
		"writemode": writemode, "ackmode": "commit"}}, backend_url="postgresql://127.0.0.1:%d/%s" % (pg.port, db))
	diffs = []
	with su.Session.to(proxy, database=db) as s, su.Session.to(pg, database=db + "_ref") as d:
		for sql in SCRIPT:
			want, got = summary(d.run(sql)), summary(s.run(sql))
			if got != want:
				diffs.append("%s\n direct: %r\n proxy:  %r" % (sql, want, got))
	assert not diffs, "\n".join(diffs)
	st = su.stats(proxy)
	assert st.sink["rows_in"] > 0, st
