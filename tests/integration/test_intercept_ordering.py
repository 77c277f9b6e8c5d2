"""Interception inside mixed pipelines: an INSERT Query behind an extended-protocol group that has no Sync yet must not wait for a ReadyForQuery that cannot come, and one behind a running statement waits for its answer (transaction state) instead of passing through."""

import sinkutil as su

w = su.w


def test_insert_query_inside_unsynced_extended_group(pg, make_proxy):
	pg.sql("CREATE TABLE ug (k int PRIMARY KEY, v text)")
	proxy = su.start_sink_proxy(make_proxy, {"ug": {"ackmode": "commit"}})
	seq = (w.parse("", "SELECT 1") + w.bind("", "") + w.execute("") +
	       w.query("INSERT INTO ug VALUES (1, 'one')") + w.sync())
	results = {}
	for leg, server in (("direct", pg), ("proxy", proxy)):
		pg.sql("TRUNCATE ug")
		with su.Session.to(server) as s:
			s.send(seq)
			msgs = s.read_until("Z", count=2, timeout=20)
			results[leg] = [t for t, _ in msgs]
		results[leg + "_rows"] = pg.sql("SELECT k, v FROM ug ORDER BY k")
	assert results["proxy"] == results["direct"], results
	assert results["proxy_rows"] == results["direct_rows"] == [(1, "one")]
	st = su.stats(proxy)
	assert st.passthrough().get("transaction") == 1, st


def test_insert_behind_begin_in_a_pipeline_is_staged_and_rolled_back(pg, make_proxy):
	"""BEGIN; INSERT pipelined: the INSERT is inside the transaction (decided after
	BEGIN's ReadyForQuery): it is staged, and ROLLBACK drops it as it would directly."""
	pg.sql("CREATE TABLE bp (k int PRIMARY KEY, v text)")
	proxy = su.start_sink_proxy(make_proxy, {"bp": {"ackmode": "commit"}})
	with su.Session.to(proxy) as s:
		got = s.pipeline(["BEGIN", "INSERT INTO bp VALUES (1, 'x')", "ROLLBACK",
				  "INSERT INTO bp VALUES (2, 'y')"])
	assert [su.tags_of(m) for m in got] == [["BEGIN"], ["INSERT 0 1"], ["ROLLBACK"], ["INSERT 0 1"]]
	assert pg.sql("SELECT k FROM bp ORDER BY k") == [(2,)]
	st = su.stats(proxy)
	assert st.intercept["messages"] == 2 and st.sink["rows_written"] == 1, st
	assert st.passthrough().get("transaction") == 0, st
