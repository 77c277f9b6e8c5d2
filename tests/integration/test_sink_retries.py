"""Transient errors (classified by SQLSTATE: here 40001, raised by a trigger on
every attempt) make the whole batch be tried again exactly maxretrytimes
times, waiting retrywaittime ms doubled each time (plus up to 50% jitter);
then an ackmode=commit client gets the error and its rows are never written.
[backend] sets the default, [table] overrides it. The attempts are counted by
the database itself (a sequence, which a rollback does not undo) and the waits
read from the proxy's log."""

import re

import pytest

import sinkutil as su

RETRY_RX = re.compile(r"batch (\d+) \(1 rows\) failed \(40001: [^)]*\); retry (\d+) of (\d+) in (\d+) ms")


def failing_table(pg, t):
	pg.sql("DROP TABLE IF EXISTS %s" % t)
	pg.sql("DROP SEQUENCE IF EXISTS %s_calls" % t)
	pg.sql("CREATE TABLE %s (k int PRIMARY KEY, v text)" % t)
	pg.sql("CREATE SEQUENCE %s_calls" % t)
	pg.sql("""CREATE FUNCTION %s_fail() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN PERFORM nextval('%s_calls');
		RAISE EXCEPTION 'always a serialization failure' USING ERRCODE = '40001'; END $$""" % (t, t))
	pg.sql("CREATE TRIGGER %s_t BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION %s_fail()" % (t, t, t))


def attempts(pg, t):
	return pg.sql("SELECT coalesce(last_value, 0) FROM pg_sequences WHERE sequencename = '%s_calls'" % t)[0][0]


@pytest.mark.parametrize("where", ["backend", "table"])
def test_exact_retries_and_growing_waits(pg, make_proxy, where):
	t = "retry_" + where
	failing_table(pg, t)
	if where == "backend":
		limit, base = 2, 40
		conf, backend = {}, {"maxretrytimes": limit, "retrywaittime": base}
	else:
		limit, base = 4, 15
		conf = {"maxretrytimes": limit, "retrywaittime": base}
		backend = {"maxretrytimes": 1, "retrywaittime": 500}
	conf.update({"ackmode": "commit", "exceptionmode": "strict", "verbose": 1, "directwrite": 0})
	proxy = su.start_sink_proxy(make_proxy, {t: conf}, backend=backend)
	mark = len(proxy.log())
	with su.Session.to(proxy) as s:
		msgs = s.run("INSERT INTO %s VALUES (1, 'never')" % t)
		err = su.error_of(msgs)
		assert err is not None and err["C"] == "40001", su.show(msgs)
		assert msgs[-1] == su.READY_IDLE
	# the first attempt and exactly `limit` retries, each reaching the trigger
	assert attempts(pg, t) == limit + 1
	assert su.count(pg, t) == 0
	log = proxy.log()[mark:]
	retries = [(int(n), int(m), int(ms)) for _, n, m, ms in RETRY_RX.findall(log)]
	assert [(n, m) for n, m, _ in retries] == [(i, limit) for i in range(1, limit + 1)], log
	for n, _, ms in retries:
		wait = base << (n - 1)
		assert wait <= ms <= wait + wait // 2, (n, ms, wait)
	assert ("after %d retries" % limit) in log
	assert "retry %d of %d" % (limit + 1, limit) not in log
